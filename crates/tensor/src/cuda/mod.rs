//! The CUDA backend (cargo feature `cuda`): tensors on NVIDIA GPUs through `cudarc`, loaded
//! at run time, so a build with the feature runs (on the CPU) where CUDA is absent.
//!
//! ```
//! use loam_tensor::{Device, Tensor};
//!
//! # fn main() -> loam_tensor::Result<()> {
//! let dev = Device::cuda_if_available(0); // the CPU where there is no GPU
//! let w = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3, 1])?.to_device(dev)?.to_var();
//! let x = Tensor::from_vec(vec![1.0, 0.0, -1.0], &[1, 3])?.to_device(dev)?;
//! let loss = x.matmul(&w)?.exp().sum_all(); // e^(1 − 3)
//! let grads = loss.backward()?;
//! assert_eq!(grads.get(&w).unwrap().device(), dev);
//! assert!((loss.to_scalar()? - (-2f32).exp()).abs() < 1e-6);
//! # Ok(())
//! # }
//! ```
//!
//! - **Storage.** A GPU tensor is a contiguous row-major `f32` buffer (`cuda/buffer.rs`); views
//!   (transpose, permute, narrow, broadcast) are materialised by a strided copy kernel, so
//!   every kernel reads plain rows and cuBLAS gets leading dimensions it can use. Reshapes
//!   share the buffer.
//! - **Contexts.** One per GPU, made on first use and kept for the process (`cuda/context.rs`): the
//!   primary context, one stream that orders all of that GPU's work (cudarc's per-buffer events
//!   are off), a cuBLAS handle on that stream, and the device's default memory pool as the
//!   caching allocator: buffers come from `cuMemAllocAsync` and go back with `cuMemFreeAsync`,
//!   and the pool's release threshold is set to `u64::MAX`, so freed blocks stay in the pool and
//!   a training step after the first allocates nothing from the driver.
//! - **Kernels.** CUDA C files in `src/cuda/kernels/`, embedded with `include_str!` and compiled
//!   with NVRTC on first use for the device's compute capability (`compute_XY` PTX, which the
//!   driver finishes for the exact GPU); each module is compiled once per process and GPU
//!   ([`compile`]). `kernels/prelude.cuh` is prepended to each.
//! - **Autograd.** GPU ops record a `DeviceBackward` whose gradients are GPU
//!   tensors, mostly written with the GPU's own forward ops.
//! - **Errors.** Driver, NVRTC and cuBLAS failures (out of memory included) are
//!   [`crate::TensorError::Cuda`] naming the op; an op whose signature cannot fail keeps the
//!   error in its output, and the next fallible use returns it.

pub(crate) mod binary;
pub(crate) mod buffer;
pub mod compile;
pub(crate) mod concat;
pub(crate) mod context;
pub(crate) mod dropout;
pub(crate) mod fused_adamw;
pub(crate) mod fused_attention;
pub(crate) mod fused_norm;
pub(crate) mod fused_rope;
pub(crate) mod fused_softmax;
pub(crate) mod indexing;
pub(crate) mod launch;
pub(crate) mod layout;
pub(crate) mod mask;
pub(crate) mod matmul;
pub(crate) mod reduce;
pub(crate) mod unary;

pub(crate) use buffer::Buffer;
pub(crate) use context::device_count;
pub use context::reserved_bytes;

use cudarc::driver::CudaSlice;

use crate::error::{Result, TensorError};
use crate::storage::Storage;
use crate::tensor::Tensor;
use context::Gpu;

/// The GPU buffer of `t`; an error naming `op` when `t` is on the CPU.
pub(crate) fn buffer(op: &'static str, t: &Tensor) -> Result<Buffer> {
    match t.storage() {
        Storage::Cuda(b) => Ok(b),
        Storage::Cpu(_) => Err(TensorError::DeviceMismatch {
            op,
            lhs: crate::Device::Cuda(0),
            rhs: crate::Device::Cpu,
        }),
    }
}

/// A new buffer of `len` elements on GPU `ordinal`, filled by `fill` (which receives the GPU
/// and the uninitialised slice and must write all of it).
pub(crate) fn output(
    op: &'static str,
    ordinal: usize,
    len: usize,
    fill: impl FnOnce(&'static Gpu, &mut CudaSlice<f32>) -> Result<()>,
) -> Result<Buffer> {
    let g = context::gpu(op, ordinal)?;
    let mut out = buffer::alloc(op, g, len)?;
    fill(g, &mut out)?;
    Ok(Buffer::new(ordinal, len, out))
}

/// A constant GPU tensor of `shape` on `data`.
pub(crate) fn tensor(data: Buffer, shape: &[usize]) -> Tensor {
    Tensor::from_storage(Storage::Cuda(data), shape.to_vec())
}
