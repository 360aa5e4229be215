//! An OpenAI-compatible HTTP server over loam's models (axum on tokio): `POST
//! /v1/chat/completions` (whole or streamed as server-sent events), `/v1/completions`,
//! `/v1/embeddings`, `GET /v1/models`, loam's own `/v1/search` and `/v1/summarize`, `GET
//! /health`, `/ready`, `/metrics` (Prometheus), and a chat page at `/`.
//!
//! Every request is checked before any model runs: body size, JSON shape and types, prompt
//! length, `max_tokens`, the model's name, the API key and the client's rate limit, each
//! answered with a 4xx in OpenAI's error shape. Inference runs on a bounded
//! [`WorkerPool`](pool::WorkerPool), never on the async runtime's threads; a full queue is a
//! 503, and a client that disconnects mid-stream stops its generation and frees its worker.
//!
//! ```no_run
//! use loam_apps::server::{Server, ServerConfig, ServedModel, shutdown_signal};
//!
//! # async fn start() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::new(ServerConfig::default()).with_model(ServedModel::load("gpt2")?)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! server.serve(listener, shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```

mod api;
mod args;
mod auth;
mod background;
mod body;
mod error;
mod metrics;
mod models;
pub mod pool;
mod routes;
mod serving;
mod state;
mod stream;
mod web;

pub use args::{ServeArgs, run};
pub use auth::{ApiKeys, RateLimit, RateLimiter};
pub use background::Background;
pub use body::parse_json;
pub use error::ApiError;
pub use metrics::Metrics;
pub use models::ServedModel;
pub use serving::{Server, ServerConfig, shutdown_signal};
pub use state::{Limits, ServedIndex};

/// The model name under which the customer-service assistant answers.
pub const ASSISTANT_MODEL: &str = "loam-assistant";
