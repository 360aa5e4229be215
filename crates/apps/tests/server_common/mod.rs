//! Shared helpers of the server tests: a server on a loopback port in its own runtime, the
//! tiny Llama fixture served as `tiny-llama`, and a provider that slows a model down.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use loam_apps::provider::{ChatMessage, Completion, FinishReason, GenParams, OnText, Provider};
use loam_apps::server::{ServedModel, Server};
use loam_lm::AutoModel;

/// A server running on `127.0.0.1:<free port>` in a thread of its own.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Starts `server` on a free loopback port.
    pub fn start(server: Server) -> TestServer {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                addr_tx.send(listener.local_addr()?).map_err(std::io::Error::other)?;
                server
                    .serve(listener, async move {
                        let _ = stop_rx.await;
                    })
                    .await
            })
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(30)).expect("the server did not start");
        TestServer { base: format!("http://{addr}"), addr, stop: Some(stop), thread: Some(thread) }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Asks the server to shut down (as SIGTERM does) without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts down and waits for the server thread; its result.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        self.begin_shutdown();
        self.thread.take().expect("joined once").join().expect("the server thread panicked")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.begin_shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The tiny Llama fixture served as `tiny-llama`.
pub fn tiny_llama(dir: &Path) -> ServedModel {
    ServedModel::from_auto("tiny-llama", AutoModel::from_dir(dir).expect("tiny-llama loads")).expect("tiny-llama serves")
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
        Throttled { inner, delay, endings: Arc::default() }
    }

    fn record(&self, c: loam_apps::provider::Result<Completion>) -> loam_apps::provider::Result<Completion> {
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
    fn complete_stream(&self, prompt: &str, params: &GenParams, on_text: OnText<'_>) -> loam_apps::provider::Result<Completion> {
        let c = self.inner.complete_stream(prompt, params, &mut |p| {
            std::thread::sleep(self.delay);
            on_text(p)
        });
        self.record(c)
    }
    fn chat_stream(&self, messages: &[ChatMessage], params: &GenParams, on_text: OnText<'_>) -> loam_apps::provider::Result<Completion> {
        let c = self.inner.chat_stream(messages, params, &mut |p| {
            std::thread::sleep(self.delay);
            on_text(p)
        });
        self.record(c)
    }
}
