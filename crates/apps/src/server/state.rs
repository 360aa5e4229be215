//! What every route handler shares: the models, the worker pool, the limits, the keys, the
//! metrics.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::assistant::Assistant;
use crate::provider::Provider;
use crate::safety::Safety;
use crate::search::{Embedder, SearchIndex};
use crate::store::Store;

use super::auth::{ApiKeys, RateLimiter};
use super::error::{ApiError, ApiResult};
use super::metrics::Metrics;
use super::models::ServedModel;
use super::pool::WorkerPool;

/// The request limits, answered with 4xx errors when crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// The longest prompt, in the model's tokens (the rendered chat for chat requests).
    pub max_prompt_tokens: usize,
    /// The largest `max_tokens` a request may ask for.
    pub max_tokens: usize,
    /// `max_tokens` when a request gives none.
    pub default_max_tokens: usize,
    /// The most texts in one embeddings request.
    pub max_inputs: usize,
}

impl Default for Limits {
    /// 1 MiB bodies, 2048-token prompts, 1024 new tokens at most (256 by default), 256 texts.
    fn default() -> Self {
        Limits {
            max_body_bytes: 1 << 20,
            max_prompt_tokens: 2048,
            max_tokens: 1024,
            default_max_tokens: 256,
            max_inputs: 256,
        }
    }
}

/// A search index with the embedder it was built with.
pub struct ServedIndex {
    /// The index.
    pub index: SearchIndex,
    /// The embedder it was built with.
    pub embedder: Box<dyn Embedder + Send + Sync>,
}

/// The state shared by the handlers (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// Generative models by name.
    pub models: Arc<Vec<ServedModel>>,
    /// The sentence encoder of `/v1/embeddings`, with its model name.
    pub embedder: Option<(String, Arc<dyn Provider>)>,
    /// The index of `/v1/search`.
    pub index: Option<Arc<ServedIndex>>,
    /// The inference workers.
    pub pool: Arc<WorkerPool>,
    /// The request limits.
    pub limits: Limits,
    /// The accepted API keys.
    pub api_keys: Arc<ApiKeys>,
    /// Per-client token buckets, when rate limits are on.
    pub rate_limiter: Option<Arc<RateLimiter>>,
    /// The counters of `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Conversations, tickets and feedback, when the server has a database.
    pub store: Option<Store>,
    /// The customer-service assistant (`loam-assistant`), when it is served.
    pub assistant: Option<Arc<Assistant>>,
    /// The safety layer on the assistant's messages and replies.
    pub safety: Option<Arc<Safety>>,
}

/// What a 503 asks a client to wait before retrying.
const RETRY_WHEN_BUSY: Duration = Duration::from_secs(1);

impl AppState {
    /// The generative model named `name`, or a 404 listing the loaded ones.
    pub fn model(&self, name: &str) -> ApiResult<&ServedModel> {
        self.models
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| ApiError::unknown_model(name, &self.model_names()))
    }

    /// Every model a client may name: the generative ones and the embedding model.
    pub fn model_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .assistant
            .iter()
            .map(|_| super::ASSISTANT_MODEL.to_string())
            .collect();
        names.extend(self.models.iter().map(|m| m.name.clone()));
        names.extend(self.embedder.as_ref().map(|(n, _)| n.clone()));
        names
    }

    /// Runs `job` on a worker and waits for its result; 503 when the queue is full.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<T> {
        let (tx, rx) = oneshot::channel();
        self.submit(move || {
            let _ = tx.send(job());
        })?;
        rx.await
            .map_err(|_| ApiError::internal("the worker failed before answering"))?
    }

    /// The database, or a 503 when the server runs without one.
    pub fn store(&self) -> ApiResult<&Store> {
        self.store
            .as_ref()
            .ok_or_else(|| ApiError::unavailable("this server runs without a database"))
    }

    /// Queues `job` on a worker without waiting for it; 503 when the queue is full.
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) -> ApiResult<()> {
        self.pool
            .try_submit(job)
            .map_err(|_| ApiError::overloaded(RETRY_WHEN_BUSY))
    }
}
