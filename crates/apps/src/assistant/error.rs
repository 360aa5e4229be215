//! The error type of the assistant.

use std::path::PathBuf;

/// What went wrong loading a knowledge base or answering a message.
#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    /// A knowledge-base or evaluation file could not be read, or holds something unusable; the
    /// message names the line or the entry.
    #[error("{}: {msg}", .path.display())]
    File {
        /// The file or folder.
        path: PathBuf,
        /// What was wrong, and where in the file.
        msg: String,
    },
    /// A message, entry or setting that cannot be used (empty message, duplicate id, …).
    #[error("{0}")]
    Invalid(String),
    /// The sentence embedder failed.
    #[error(transparent)]
    Search(#[from] crate::search::SearchError),
    /// The phrasing model failed.
    #[error(transparent)]
    Provider(#[from] crate::provider::ProviderError),
}

impl AssistantError {
    /// An [`AssistantError::File`] for `path`.
    pub fn file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        AssistantError::File {
            path: path.into(),
            msg: msg.into(),
        }
    }
}

/// The result type of the assistant.
pub type Result<T> = std::result::Result<T, AssistantError>;
