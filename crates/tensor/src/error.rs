//! The error type of tensor operations: each variant names the operation and the shapes.

/// What went wrong in a tensor operation, with the operation's name and the shapes involved.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorError {
    /// Two shapes that had to agree (or broadcast) did not.
    #[error("{op}: shapes {lhs:?} and {rhs:?} are incompatible: {detail}")]
    ShapeMismatch {
        /// The operation.
        op: &'static str,
        /// The left (or first) shape.
        lhs: Vec<usize>,
        /// The right (or second) shape.
        rhs: Vec<usize>,
        /// Why they do not fit.
        detail: String,
    },
    /// An axis outside `-rank..rank`.
    #[error("{op}: axis {axis} is out of range for a tensor of shape {shape:?}")]
    BadAxis {
        /// The operation.
        op: &'static str,
        /// The axis asked for.
        axis: isize,
        /// The tensor's shape.
        shape: Vec<usize>,
    },
    /// An index outside the size of the axis it indexes.
    #[error("{op}: index {index} is out of range for an axis of size {size}")]
    IndexOutOfRange {
        /// The operation.
        op: &'static str,
        /// The offending index.
        index: i64,
        /// The size of the indexed axis.
        size: usize,
    },
    /// A data buffer whose length does not match the shape asked for.
    #[error("{op}: {len} elements do not fill shape {shape:?} ({expected} elements)")]
    ElementCount {
        /// The operation.
        op: &'static str,
        /// The number of elements given.
        len: usize,
        /// The shape asked for.
        shape: Vec<usize>,
        /// The number of elements that shape holds.
        expected: usize,
    },
    /// An op whose inputs live on different devices.
    #[error("{op}: inputs on different devices ({lhs} and {rhs}); move them with `to_device` first")]
    DeviceMismatch {
        /// The operation.
        op: &'static str,
        /// The device of the first input.
        lhs: crate::Device,
        /// The device of the other input.
        rhs: crate::Device,
    },
    /// A CUDA driver, NVRTC or cuBLAS failure (out of memory included), or CUDA asked of a
    /// build or machine without it.
    #[error("{op}: CUDA: {msg}")]
    Cuda {
        /// The operation.
        op: &'static str,
        /// What the driver (or loam) said.
        msg: String,
    },
    /// Any other invalid argument, described in words.
    #[error("{op}: {msg}")]
    Invalid {
        /// The operation.
        op: &'static str,
        /// What was wrong.
        msg: String,
    },
}

/// The result type of fallible tensor operations.
pub type Result<T> = std::result::Result<T, TensorError>;

impl TensorError {
    /// Shorthand for [`TensorError::Invalid`].
    pub fn invalid(op: &'static str, msg: impl Into<String>) -> Self {
        TensorError::Invalid { op, msg: msg.into() }
    }

    /// Shorthand for [`TensorError::Cuda`].
    pub fn cuda(op: &'static str, msg: impl Into<String>) -> Self {
        TensorError::Cuda { op, msg: msg.into() }
    }
}
