//! A tensor's storage on its device: an ndarray on the host, or a CUDA buffer.

use crate::device::Device;
use crate::error::{Result, TensorError};
use crate::tensor::Array;

/// The elements of a tensor where they live. Cloning is cheap (a reference count).
#[derive(Clone)]
pub(crate) enum Storage {
    /// Host memory: a reference-counted, possibly strided ndarray.
    Cpu(Array),
    /// GPU memory: a contiguous row-major `f32` buffer.
    #[cfg(feature = "cuda")]
    Cuda(crate::cuda::Buffer),
}

impl Storage {
    /// The device holding the elements.
    pub(crate) fn device(&self) -> Device {
        match self {
            Storage::Cpu(_) => Device::Cpu,
            #[cfg(feature = "cuda")]
            Storage::Cuda(b) => Device::Cuda(b.ordinal()),
        }
    }
}

/// The error for asking a build without the `cuda` feature for a GPU.
#[cfg_attr(feature = "cuda", allow(dead_code))]
pub(crate) fn no_cuda_feature(op: &'static str) -> TensorError {
    TensorError::cuda(op, "loam was built without the `cuda` feature")
}

/// The one device all `inputs` live on; a [`TensorError::DeviceMismatch`] naming `op` and
/// the first two that differ otherwise.
pub(crate) fn common_device(op: &'static str, inputs: &[&crate::Tensor]) -> Result<Device> {
    let first = inputs.first().map_or(Device::Cpu, |t| t.device());
    match inputs.iter().map(|t| t.device()).find(|&d| d != first) {
        Some(other) => Err(TensorError::DeviceMismatch {
            op,
            lhs: first,
            rhs: other,
        }),
        None => Ok(first),
    }
}
