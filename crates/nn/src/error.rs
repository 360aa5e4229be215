//! The error type of `loam-nn`.

use std::path::PathBuf;

use loam_tensor::TensorError;

/// What went wrong building, running, saving or loading a layer or optimizer.
#[derive(Debug, thiserror::Error)]
pub enum NnError {
    /// A tensor operation failed (shapes, axes, indices).
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// A parameter exists with another shape than the one asked for.
    #[error("parameter `{name}` has shape {found:?}, expected {expected:?}")]
    ParamShape {
        /// The parameter's full path.
        name: String,
        /// The shape asked for.
        expected: Vec<usize>,
        /// The shape held.
        found: Vec<usize>,
    },
    /// A parameter the model needs is not in the file or store.
    #[error("parameter `{name}` is missing{}", in_file(.file))]
    MissingParam {
        /// The parameter's full path.
        name: String,
        /// The file it was looked for in, if any.
        file: Option<PathBuf>,
    },
    /// A safetensors file could not be read or written, or holds something unusable.
    #[error("{}: {msg}", .path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        msg: String,
    },
    /// An invalid configuration or argument.
    #[error("{0}")]
    Config(String),
}

fn in_file(file: &Option<PathBuf>) -> String {
    file.as_ref().map(|f| format!(" in {}", f.display())).unwrap_or_default()
}

/// The result type of `loam-nn`.
pub type Result<T> = std::result::Result<T, NnError>;
