//! The error type of semantic search.

use std::path::PathBuf;

use crate::search::embedder::EncoderIdentity;

/// What went wrong indexing, searching, saving or loading a search index.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The sentence encoder failed.
    #[error(transparent)]
    Lm(#[from] loam_lm::LmError),
    /// A file could not be read or written, or holds something unusable.
    #[error("{}: {msg}", .path.display())]
    File {
        /// The file or folder.
        path: PathBuf,
        /// What was wrong.
        msg: String,
    },
    /// The index was built with another encoder than the one given to search it.
    #[error(
        "{}: the index was built with {stored}, but the encoder given is {given}; \
         search it with the model it was built with, or rebuild it",
        .path.display()
    )]
    ModelMismatch {
        /// The index file.
        path: PathBuf,
        /// The encoder recorded in the file.
        stored: Box<EncoderIdentity>,
        /// The encoder given.
        given: Box<EncoderIdentity>,
    },
    /// A document, query or setting that cannot be used (empty text, duplicate id, ...).
    #[error("{0}")]
    Invalid(String),
}

impl SearchError {
    /// A [`SearchError::File`] for `path`.
    pub fn file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        SearchError::File { path: path.into(), msg: msg.into() }
    }
}

/// The result type of semantic search.
pub type Result<T> = std::result::Result<T, SearchError>;
