//! Shared helpers of the server tests: a server on a loopback port in its own runtime, the
//! tiny Llama fixture served as `tiny-llama`, and a provider that slows a model down.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use loam_apps::provider::{ChatMessage, Completion, FinishReason, GenParams, OnText, Provider};
use loam_apps::server::{Background, ServedModel, Server};
use loam_lm::AutoModel;

/// A server running on `127.0.0.1:<free port>` in the background.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    running: Option<Background>,
}

impl TestServer {
    /// Starts `server` on a free loopback port.
    pub fn start(server: Server) -> TestServer {
        let running = Background::start(server, "127.0.0.1:0", 2).expect("the server starts");
        TestServer {
            base: running.base_url(),
            addr: running.addr(),
            running: Some(running),
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Asks the server to shut down (as SIGTERM does) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(r) = self.running.as_mut() {
            r.begin_stop();
        }
    }

    /// Shuts down and waits for the server; its result.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        self.running.take().expect("stopped once").stop()
    }
}

/// The tiny Llama fixture served as `tiny-llama`.
pub fn tiny_llama(dir: &Path) -> ServedModel {
    ServedModel::from_auto(
        "tiny-llama",
        AutoModel::from_dir(dir).expect("tiny-llama loads"),
    )
    .expect("tiny-llama serves")
}

/// A provider that waits `delay` before passing on each piece of text, and records how each
/// generation ended: a real model made slow enough to observe a busy worker.
pub struct Throttled {
    inner: Arc<dyn Provider>,
    delay: Duration,
    /// How each generation ended, in order.
    pub endings: Arc<Mutex<Vec<FinishReason>>>,
}

impl Throttled {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Provider>, delay: Duration) -> Self {
        Throttled {
            inner,
            delay,
            endings: Arc::default(),
        }
    }

    fn record(
        &self,
        c: loam_apps::provider::Result<Completion>,
    ) -> loam_apps::provider::Result<Completion> {
        if let Ok(c) = &c {
            self.endings.lock().unwrap().push(c.finish_reason.clone());
        }
        c
    }
}

impl Provider for Throttled {
    fn model_id(&self) -> String {
        self.inner.model_id()
    }
    fn embedding_model_id(&self) -> loam_apps::provider::Result<String> {
        self.inner.embedding_model_id()
    }
    fn embedding_dim(&self) -> loam_apps::provider::Result<usize> {
        self.inner.embedding_dim()
    }
    fn embed(&self, texts: &[&str]) -> loam_apps::provider::Result<Vec<Vec<f32>>> {
        self.inner.embed(texts)
    }
    fn complete_stream(
        &self,
        prompt: &str,
        params: &GenParams,
        on_text: OnText<'_>,
    ) -> loam_apps::provider::Result<Completion> {
        let c = self.inner.complete_stream(prompt, params, &mut |p| {
            std::thread::sleep(self.delay);
            on_text(p)
        });
        self.record(c)
    }
    fn chat_stream(
        &self,
        messages: &[ChatMessage],
        params: &GenParams,
        on_text: OnText<'_>,
    ) -> loam_apps::provider::Result<Completion> {
        let c = self.inner.chat_stream(messages, params, &mut |p| {
            std::thread::sleep(self.delay);
            on_text(p)
        });
        self.record(c)
    }
}

/// A server with the assistant on the example knowledge base (all-MiniLM-L6-v2), the safety
/// layer, and an SQLite database in a fresh temporary folder; `None` (said on stderr) without
/// the model where it is not required.
pub fn assistant_server(test: &str) -> Option<TestServer> {
    Some(TestServer::start(assistant(test, &temp_db(test))?))
}

/// The assistant server of [`assistant_server`] on the database `database`, not started.
pub fn assistant(test: &str, database: &str) -> Option<Server> {
    use loam_apps::assistant::{Assistant, AssistantConfig, KnowledgeBase};
    use loam_apps::safety::{Safety, SafetyConfig};
    use loam_apps::search::EncoderEmbedder;
    let minilm = super::common::minilm_dir(test)?;
    let embedder = Arc::new(EncoderEmbedder::from_dir(&minilm).expect("MiniLM loads"));
    let assistant = Assistant::new(
        KnowledgeBase::example(),
        embedder,
        AssistantConfig::default(),
    )
    .expect("the assistant builds");
    let safety = Safety::new(SafetyConfig::default()).expect("the safety layer builds");
    Some(
        Server::new(loam_apps::server::ServerConfig::default())
            .with_assistant(Arc::new(assistant))
            .with_safety(Arc::new(safety))
            .with_database(database),
    )
}

/// An SQLite file in a fresh temporary folder named after `test`.
pub fn temp_db(test: &str) -> String {
    let dir = std::env::temp_dir().join(format!("loam-server-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir.join("loam.db").to_string_lossy().into_owned()
}
