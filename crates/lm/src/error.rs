//! The error type of `loam-lm`.

use std::path::PathBuf;

/// What went wrong building, training, evaluating or running a language model.
#[derive(Debug, thiserror::Error)]
pub enum LmError {
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] loam_tensor::TensorError),
    /// A layer, parameter or optimizer failed.
    #[error(transparent)]
    Nn(#[from] loam_nn::NnError),
    /// Reading or tokenizing text failed.
    #[error(transparent)]
    Text(#[from] loam_text::TextError),
    /// A file could not be read or written, or holds something unusable.
    #[error("{}: {msg}", .path.display())]
    File {
        /// The file or folder.
        path: PathBuf,
        /// What was wrong.
        msg: String,
    },
    /// An invalid configuration or argument.
    #[error("{0}")]
    Config(String),
    /// The loss became NaN or infinite.
    #[error("training diverged at step {step}: loss is {loss}; the last good checkpoint is kept")]
    Diverged {
        /// The step whose loss was not finite.
        step: usize,
        /// The loss.
        loss: f32,
    },
}

impl LmError {
    /// A [`LmError::File`] for `path`.
    pub fn file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        LmError::File { path: path.into(), msg: msg.into() }
    }
}

/// The result type of `loam-lm`.
pub type Result<T> = std::result::Result<T, LmError>;
