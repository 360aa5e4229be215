//! The error type of the model providers.

use std::time::Duration;

/// What failed when a provider was asked for embeddings or text, and where.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The endpoint answered with an error status.
    #[error("{url}: HTTP {status}: {message}")]
    Http {
        /// The URL requested.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The error message of OpenAI's error JSON when present, else the start of the body.
        message: String,
    },
    /// No complete answer came within the timeout.
    #[error("{url}: no complete answer within {}s", .after.as_secs_f64())]
    Timeout {
        /// The URL requested.
        url: String,
        /// The timeout.
        after: Duration,
    },
    /// The request could not be sent or its answer not read (connection refused, reset, TLS…).
    #[error("{url}: {message}")]
    Transport {
        /// The URL requested.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The answer was not the JSON (or event stream) an OpenAI-compatible endpoint sends.
    #[error("{url}: malformed answer: {message}; the answer began: {excerpt:?}")]
    Malformed {
        /// The URL requested.
        url: String,
        /// What was wrong with it.
        message: String,
        /// The start of the offending text.
        excerpt: String,
    },
    /// A streamed answer reported an error part way through.
    #[error("{url}: the stream reported an error: {message}")]
    Stream {
        /// The URL requested.
        url: String,
        /// The error message in the stream.
        message: String,
    },
    /// A local model failed to load or to run.
    #[error("local model: {0}")]
    Model(#[from] loam_lm::LmError),
    /// The provider cannot do what was asked (e.g. embeddings without an encoder).
    #[error("{provider}: {what}")]
    Unsupported {
        /// The provider's model id.
        provider: String,
        /// What it cannot do.
        what: String,
    },
    /// The provider's configuration is unusable.
    #[error("provider configuration: {0}")]
    Config(String),
}

/// Up to 200 characters of `text`, for error messages.
pub(crate) fn excerpt(text: &str) -> String {
    const MAX: usize = 200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// The result type of the providers.
pub type Result<T> = std::result::Result<T, ProviderError>;
