//! The [`Server`]: its models and settings, the router, and serving with a graceful shutdown.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::assistant::Assistant;
use crate::provider::Provider;
use crate::safety::Safety;
use crate::store::Store;

use super::auth::{self, ApiKeys, RateLimit, RateLimiter};
use super::metrics::{self, Metrics};
use super::models::ServedModel;
use super::pool::WorkerPool;
use super::routes::{chat, embeddings, info, search, summarize, tickets};
use super::state::{AppState, Limits, ServedIndex};
use super::web;

/// How a server runs: limits, workers, keys, rate limits, shutdown.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The request limits.
    pub limits: Limits,
    /// Inference worker threads.
    pub workers: usize,
    /// Inference jobs that may wait for a worker before requests are refused with 503.
    pub queue: usize,
    /// Accepted API keys (none: no key is asked for).
    pub api_keys: Vec<String>,
    /// Per-client rate limit, when one is set.
    pub rate_limit: Option<RateLimit>,
    /// How long a shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    /// The default limits, 2 workers, a queue of 64, no keys, no rate limit, 30 s grace.
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            workers: 2,
            queue: 64,
            api_keys: Vec::new(),
            rate_limit: None,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// An HTTP server over loam's models: OpenAI-compatible routes, loam's own, and the web page.
pub struct Server {
    config: ServerConfig,
    models: Vec<ServedModel>,
    embedder: Option<(String, Arc<dyn Provider>)>,
    index: Option<ServedIndex>,
    store: Option<Store>,
    database: Option<String>,
    assistant: Option<Arc<Assistant>>,
    safety: Option<Arc<Safety>>,
}

impl Server {
    /// A server with `config` and no models yet.
    pub fn new(config: ServerConfig) -> Self {
        Server {
            config,
            models: Vec::new(),
            embedder: None,
            index: None,
            store: None,
            database: None,
            assistant: None,
            safety: None,
        }
    }

    /// Serves a generative model under its name.
    pub fn with_model(mut self, model: ServedModel) -> crate::Result<Self> {
        if model.name == super::ASSISTANT_MODEL || self.models.iter().any(|m| m.name == model.name)
        {
            return Err(crate::AppsError::Config(format!(
                "two models would be served as {:?}",
                model.name
            )));
        }
        self.models.push(model);
        Ok(self)
    }

    /// Serves `/v1/embeddings` with `provider`'s sentence encoder under `name`.
    pub fn with_embedder(mut self, name: impl Into<String>, provider: Arc<dyn Provider>) -> Self {
        self.embedder = Some((name.into(), provider));
        self
    }

    /// Serves `/v1/search` over `index`.
    pub fn with_index(mut self, index: ServedIndex) -> Self {
        self.index = Some(index);
        self
    }

    /// Serves the customer-service assistant as `loam-assistant` (it needs a database).
    pub fn with_assistant(mut self, assistant: Arc<Assistant>) -> Self {
        self.assistant = Some(assistant);
        self
    }

    /// Masks personal data in the turns stored with `safety` when the assistant has no safety
    /// layer of its own (`AssistantConfig::safety` off); the assistant's own layer, which
    /// allows its knowledge base's contacts, is used otherwise.
    pub fn with_safety(mut self, safety: Arc<Safety>) -> Self {
        self.safety = Some(safety);
        self
    }

    /// Keeps conversations, tickets and feedback in `store`.
    pub fn with_store(mut self, store: Store) -> Self {
        self.store = Some(store);
        self
    }

    /// Keeps conversations, tickets and feedback in the database at `url` (`postgres://…`,
    /// `sqlite://FILE` or a file path), opened, and migrated, when serving starts.
    pub fn with_database(mut self, url: impl Into<String>) -> Self {
        self.database = Some(url.into());
        self
    }

    /// The shared state and the router; the worker pool starts here.
    fn build(self) -> std::io::Result<(AppState, Router)> {
        let state = AppState {
            models: Arc::new(self.models),
            embedder: self.embedder,
            index: self.index.map(Arc::new),
            pool: Arc::new(WorkerPool::new(self.config.workers, self.config.queue)?),
            limits: self.config.limits,
            api_keys: Arc::new(ApiKeys::new(self.config.api_keys)),
            rate_limiter: self
                .config
                .rate_limit
                .map(|l| Arc::new(RateLimiter::new(l))),
            metrics: Arc::new(Metrics::default()),
            store: self.store,
            assistant: self.assistant,
            safety: self.safety,
        };
        let v1 = Router::new()
            .route("/v1/chat/completions", post(chat::chat_completions))
            .route("/v1/completions", post(chat::completions))
            .route("/v1/embeddings", post(embeddings::embeddings))
            .route("/v1/models", get(info::models))
            .route("/v1/search", post(search::search))
            .route("/v1/summarize", post(summarize::summarize))
            .route("/v1/tickets", get(tickets::list))
            .route("/v1/tickets/{id}", get(tickets::get))
            .route("/v1/conversations/{id}", get(tickets::conversation))
            .route("/v1/conversations/{id}/feedback", post(tickets::feedback))
            .route_layer(from_fn_with_state(state.clone(), auth::guard));
        let router = Router::new()
            .route("/", get(web::index))
            .route("/app.js", get(web::script))
            .route("/style.css", get(web::style))
            .route("/health", get(info::health))
            .route("/ready", get(info::ready))
            .route("/metrics", get(info::metrics))
            .merge(v1)
            .fallback(info::not_found)
            .method_not_allowed_fallback(info::method_not_allowed)
            .route_layer(from_fn_with_state(state.clone(), metrics::track))
            .with_state(state.clone());
        Ok((state, router))
    }

    /// Serves on `listener` until `shutdown` completes, then stops taking connections and lets
    /// in-flight requests finish, for at most the configured grace; then lets the workers
    /// finish their jobs.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let grace = self.config.shutdown_grace;
        let mut server = self;
        if let Some(url) = server.database.take() {
            let store = Store::connect(&url).await.map_err(std::io::Error::other)?;
            eprintln!("database: {store:?}");
            server.store = Some(store);
        }
        let (state, router) = server.build()?;
        let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            let _ = fired_tx.send(());
        };
        let serving = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(signal);
        let deadline = async move {
            match fired_rx.await {
                Ok(()) => tokio::time::sleep(grace).await,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            served = serving.into_future() => served?,
            () = deadline => eprintln!("shutdown: requests still running after {}s were cut off", grace.as_secs()),
        }
        let pool = Arc::clone(&state.pool);
        let store = state.store.clone();
        drop(state);
        tokio::task::spawn_blocking(move || pool.shutdown())
            .await
            .map_err(std::io::Error::other)?;
        if let Some(store) = store {
            store.close().await;
        }
        Ok(())
    }
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
