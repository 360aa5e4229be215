//! The command line of `loam-server` and `cargo xtask serve` (one [`ServeArgs`] for both), and
//! [`run`], which loads what the flags name and serves until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::assistant::{Assistant, AssistantConfig, KnowledgeBase};
use crate::provider::LocalProvider;
use crate::search::{Embedder, EncoderEmbedder, HashingEmbedder, SearchIndex};
use crate::{AppsError, Result};

use super::auth::RateLimit;
use super::models::ServedModel;
use super::serving::{Server, ServerConfig, shutdown_signal};
use super::state::{Limits, ServedIndex};

/// The model name the search command records for word-hashing indexes.
const HASHING: &str = "word-hashing";

/// Flags of the HTTP server.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The port (0: any free port, printed at start).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// A generative model to serve, by its folder's last component: a loam run folder, a
    /// Hugging Face folder or a hub id (repeatable).
    #[arg(long = "model")]
    pub models: Vec<String>,
    /// The sentence encoder of /v1/embeddings (default: LOAM_MINILM_DIR, else
    /// all-MiniLM-L6-v2 fetched into loam's cache).
    #[arg(long)]
    pub embed_model: Option<PathBuf>,
    /// Serve no embedding model.
    #[arg(long, conflicts_with = "embed_model")]
    pub no_embed: bool,
    /// The assistant's knowledge base: a TOML, JSON or Markdown file (default: the example
    /// shop's).
    #[arg(long)]
    pub kb: Option<PathBuf>,
    /// Serve no assistant.
    #[arg(long, conflicts_with = "kb")]
    pub no_assistant: bool,
    /// A search index (from `cargo xtask search index`) for /v1/search.
    #[arg(long)]
    pub index: Option<PathBuf>,
    /// Inference worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Inference jobs that may wait for a worker; beyond them requests get 503.
    #[arg(long, default_value_t = 64)]
    pub queue: usize,
    /// The largest request body in bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// The longest prompt in tokens.
    #[arg(long, default_value_t = Limits::default().max_prompt_tokens)]
    pub max_prompt_tokens: usize,
    /// The largest max_tokens a request may ask for.
    #[arg(long, default_value_t = Limits::default().max_tokens)]
    pub max_tokens: usize,
    /// An accepted API key (repeatable); with none, no key is asked for.
    #[arg(long = "api-key")]
    pub api_keys: Vec<String>,
    /// A file of accepted API keys, one a line (`#` starts a comment).
    #[arg(long)]
    pub api_key_file: Option<PathBuf>,
    /// Requests per second each client (API key, or address without keys) may make.
    #[arg(long)]
    pub rate_limit: Option<f64>,
    /// Requests a client may make at once after a quiet spell (default: 2 × the rate, ≥ 1).
    #[arg(long, requires = "rate_limit")]
    pub rate_burst: Option<f64>,
    /// The database of conversations, tickets and feedback: `postgres://…`, `sqlite://FILE` or
    /// a file path (default: `loam.db` in --data-dir, created on first start).
    #[arg(long)]
    pub database: Option<String>,
    /// The folder of the default SQLite database.
    #[arg(long, default_value = "loam-data")]
    pub data_dir: PathBuf,
    /// Seconds a shutdown waits for in-flight requests.
    #[arg(long, default_value_t = 30)]
    pub shutdown_grace: u64,
}

impl ServeArgs {
    /// The server's settings from the flags (reads the key file).
    pub fn config(&self) -> Result<ServerConfig> {
        let mut api_keys = self.api_keys.clone();
        if let Some(path) = &self.api_key_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| AppsError::Config(format!("{}: {e}", path.display())))?;
            api_keys.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(String::from),
            );
        }
        let rate_limit = match self.rate_limit {
            Some(r) if !(r.is_finite() && r > 0.0) => {
                return Err(AppsError::Config(format!(
                    "--rate-limit must be > 0, got {r}"
                )));
            }
            Some(per_second) => Some(RateLimit {
                per_second,
                burst: self.rate_burst.unwrap_or((2.0 * per_second).max(1.0)),
            }),
            None => None,
        };
        if self.workers == 0 {
            return Err(AppsError::Config("--workers must be at least 1".into()));
        }
        Ok(ServerConfig {
            limits: Limits {
                max_body_bytes: self.max_body_bytes,
                max_prompt_tokens: self.max_prompt_tokens,
                max_tokens: self.max_tokens,
                default_max_tokens: Limits::default().default_max_tokens.min(self.max_tokens),
                max_inputs: Limits::default().max_inputs,
            },
            workers: self.workers,
            queue: self.queue,
            api_keys,
            rate_limit,
            shutdown_grace: Duration::from_secs(self.shutdown_grace),
        })
    }

    /// The server with every model, encoder and index the flags name loaded, and its
    /// database (opened when it starts serving).
    pub fn server(&self) -> Result<Server> {
        let mut server = Server::new(self.config()?).with_database(self.database_url()?);
        for model in &self.models {
            eprintln!("loading {model}");
            server = server.with_model(ServedModel::load(model)?)?;
        }
        let encoder_dir = || -> Result<PathBuf> {
            match &self.embed_model {
                Some(dir) => Ok(dir.clone()),
                None => Ok(loam_lm::hf::minilm_dir()?),
            }
        };
        if !self.no_assistant {
            let kb = match &self.kb {
                Some(path) => {
                    KnowledgeBase::load(path).map_err(|e| AppsError::Config(e.to_string()))?
                }
                None => KnowledgeBase::example(),
            };
            eprintln!("assistant: {} knowledge-base entries", kb.len());
            let embedder = EncoderEmbedder::from_dir(&encoder_dir()?)
                .map_err(|e| AppsError::Config(e.to_string()))?;
            let assistant = Assistant::new(kb, Arc::new(embedder), AssistantConfig::default())
                .map_err(|e| AppsError::Config(e.to_string()))?;
            server = server.with_assistant(Arc::new(assistant));
        }
        if !self.no_embed {
            let dir = encoder_dir()?;
            let provider = LocalProvider::encoder_only(&dir)?;
            let name = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "embeddings".into());
            server = server.with_embedder(name, Arc::new(provider));
        }
        if let Some(path) = &self.index {
            let stored =
                SearchIndex::read_identity(path).map_err(|e| AppsError::Config(e.to_string()))?;
            let embedder: Box<dyn Embedder + Send + Sync> = if stored.model == HASHING {
                Box::new(HashingEmbedder::new(stored.dim))
            } else {
                let dir = self
                    .embed_model
                    .clone()
                    .map_or_else(loam_lm::hf::minilm_dir, Ok)?;
                Box::new(
                    EncoderEmbedder::from_dir(&dir)
                        .map_err(|e| AppsError::Config(e.to_string()))?,
                )
            };
            let index = SearchIndex::load(path, &embedder.identity())
                .map_err(|e| AppsError::Config(e.to_string()))?;
            server = server.with_index(ServedIndex { index, embedder });
        }
        Ok(server)
    }

    /// The database the flags name: `--database`, else `loam.db` in `--data-dir` (created).
    pub fn database_url(&self) -> Result<String> {
        if let Some(url) = &self.database {
            return Ok(url.clone());
        }
        std::fs::create_dir_all(&self.data_dir)
            .map_err(|e| AppsError::Config(format!("{}: {e}", self.data_dir.display())))?;
        Ok(self.data_dir.join("loam.db").to_string_lossy().into_owned())
    }
}

/// Loads what `args` name, listens, prints the address, and serves until Ctrl-C or SIGTERM.
pub fn run(args: &ServeArgs) -> Result<()> {
    let server = args.server()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| AppsError::Config(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        let address = format!("{}:{}", args.host, args.port);
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|e| AppsError::Config(format!("cannot listen on {address}: {e}")))?;
        let local: SocketAddr = listener
            .local_addr()
            .map_err(|e| AppsError::Config(e.to_string()))?;
        eprintln!("loam-server listening on http://{local}");
        server
            .serve(listener, shutdown_signal())
            .await
            .map_err(|e| AppsError::Config(format!("serving on {local}: {e}")))?;
        eprintln!("loam-server stopped");
        Ok(())
    })
}
