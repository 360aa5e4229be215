//! The product-copy writer: product descriptions and ad copy from a product's attributes, through
//! prompt templates and a [`Provider`](crate::provider::Provider), with every output checked
//! against constraints (attributes mentioned, length, banned words, no unsupported claims) and
//! bounded retries.
//!
//! ```
//! use loam_apps::writer::{Product, Writer, WriterConfig};
//! # use loam_apps::provider::{ChatMessage, Completion, FinishReason, GenParams, OnText, Provider, Result};
//! # struct Echo;
//! # impl Provider for Echo {
//! #     fn model_id(&self) -> String { "echo".into() }
//! #     fn embedding_model_id(&self) -> Result<String> { Ok("echo".into()) }
//! #     fn embedding_dim(&self) -> Result<usize> { Ok(0) }
//! #     fn embed(&self, _: &[&str]) -> Result<Vec<Vec<f32>>> { Ok(vec![]) }
//! #     fn complete_stream(&self, _: &str, _: &GenParams, _: OnText<'_>) -> Result<Completion> { unimplemented!() }
//! #     fn chat_stream(&self, _: &[ChatMessage], _: &GenParams, _: OnText<'_>) -> Result<Completion> {
//! #         Ok(Completion { text: "The Trail Mug keeps coffee hot on the trail.".into(), finish_reason: FinishReason::Stop, usage: None })
//! #     }
//! # }
//! # let provider = Echo;
//! let product = Product { name: "Trail Mug".into(), features: vec!["keeps coffee hot".into()], ..Product::default() };
//! let writer = Writer::new(&provider, WriterConfig::default()).unwrap();
//! let outcome = writer.write(&product).unwrap();
//! // the copy mentions everything but is shorter than a description's 50 words
//! assert!(!outcome.passed);
//! assert_eq!(outcome.violations[0].to_string(), "too short: 9 words, at least 50 wanted");
//! ```

mod constraints;
mod error;
mod kind;
mod product;
mod prompt;
mod write;

pub use constraints::{Constraints, SUPERLATIVES, Violation, WordBounds, numbers, stem, words};
pub use error::{Result, WriterError};
pub use kind::Kind;
pub use product::{Length, PRODUCT_FIELDS, Product, read_csv, read_jsonl, read_products};
pub use prompt::Prompts;
pub use write::{Attempt, WriteOutcome, Writer, WriterConfig};
