//! The error type of the product-copy writer.

use crate::provider::ProviderError;

/// What stopped the writer (copy that fails its constraints is not an error: see
/// [`super::WriteOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// A product file or record is unusable.
    #[error("{at}: {msg}")]
    Product {
        /// The file, and the line when known (`products.csv:3`).
        at: String,
        /// What was wrong.
        msg: String,
    },
    /// A prompt template failed to render.
    #[error("prompt template {template}: {msg}")]
    Template {
        /// The template's name.
        template: String,
        /// What failed.
        msg: String,
    },
    /// The model provider failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// An invalid writer setting.
    #[error("{0}")]
    Config(String),
}

/// The result type of the writer.
pub type Result<T> = std::result::Result<T, WriterError>;
