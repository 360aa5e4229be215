//! The error type of `loam-apps`.

/// What went wrong in an application.
#[derive(Debug, thiserror::Error)]
pub enum AppsError {
    /// A model failed to load or run.
    #[error(transparent)]
    Lm(#[from] loam_lm::LmError),
    /// The input is not something the application can work on (empty, binary, …).
    #[error("{0}")]
    Input(String),
    /// The model provider failed (HTTP status, timeout, malformed answer, model error).
    #[error(transparent)]
    Provider(#[from] crate::provider::ProviderError),
    /// An invalid option or argument.
    #[error("{0}")]
    Config(String),
}

/// The result type of `loam-apps`.
pub type Result<T> = std::result::Result<T, AppsError>;
