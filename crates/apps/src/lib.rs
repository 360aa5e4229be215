//! `loam-apps`: the applications built on loam's models, each taking its models through one
//! [`provider::Provider`] interface (a local loam model or an OpenAI-compatible endpoint):
//! semantic search ([`search`]: dense, BM25 and hybrid over one index), an extractive
//! summarizer ([`summarize`]), a product-copy writer ([`writer`]), the safety layer of the
//! support assistant ([`safety`]: abuse, prompt injection, other customers' data, PII
//! masking) and the store of conversations, handoff tickets and feedback on SQLite or
//! PostgreSQL ([`store`]); the customer-service assistant ([`assistant`]) over them, and the
//! OpenAI-compatible HTTP server ([`server`], the `loam-server` binary) that serves it all.
//!
//! ```
//! use loam_apps::summarize::{Length, Summarizer};
//!
//! let text = "The shop will close early on Friday. Staff training starts at four. \
//!             Orders placed online still ship on Friday. The shop reopens on Saturday at nine.";
//! let summary = Summarizer::tfidf().summarize(text, Length::Ratio(0.5))?;
//! assert_eq!(summary.sentences.len(), 2);
//! println!("{}", summary.text());
//! # Ok::<(), loam_apps::AppsError>(())
//! ```

pub mod assistant;
mod error;
pub mod provider;
pub mod safety;
pub mod search;
pub mod server;
pub mod store;
pub mod summarize;
pub mod writer;

pub use error::{AppsError, Result};
