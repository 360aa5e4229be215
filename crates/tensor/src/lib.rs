//! `loam-tensor`: n-dimensional `f32` tensors on the CPU or an NVIDIA GPU, with reverse-mode
//! autograd.
//!
//! A [`Tensor`] is a cheap-to-clone handle on storage on a [`Device`]: an ndarray on the CPU,
//! or (cargo feature `cuda`) a GPU buffer computed by NVRTC-compiled kernels and cuBLAS; see
//! [`Tensor::to_device`] and [`cuda_device_count`]. When an input tracks gradients
//! (a variable, made with [`Tensor::to_var`], or a result computed from one), each op records
//! itself on its output; [`Tensor::backward`] on a scalar walks that graph once, frees it, and
//! returns a [`GradStore`] keyed by tensor id. Fallible ops return [`Result`] with a
//! [`TensorError`] that names the op and the shapes.
//!
//! ```
//! use loam_tensor::{Rng, Tensor};
//!
//! # fn main() -> loam_tensor::Result<()> {
//! let mut rng = Rng::new(1337);
//! let w = Tensor::randn(&[4, 3], 0.0, 0.02, &mut rng).to_var(); // trainable
//! let x = Tensor::randn(&[2, 4], 0.0, 1.0, &mut rng);
//! let logits = x.matmul(&w)?;                                  // [2, 3]
//! let loss = logits.cross_entropy(&[0, 2], None)?;             // scalar
//! let grads = loss.backward()?;
//! assert_eq!(grads.get(&w).unwrap().shape(), &[4, 3]);
//! # Ok(())
//! # }
//! ```

mod autocast;
mod backprop;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod gradcheck;
mod device;
mod device_tests;
mod error;
mod fork;
mod kernel;
mod ops;
mod rng;
mod send_ptr;
mod shape;
mod storage;
mod tensor;
mod workers;

pub use autocast::{AutocastGuard, autocast_bf16, autocast_enabled};
pub use backprop::{GradStore, NoGradGuard, no_grad};
pub use device::{DType, Device, cuda_device_count};
pub use error::{Result, TensorError};
pub use kernel::{KernelPath, force_portable, kernel_path, wide_available};
pub use ops::adamw::{AdamWStep, adamw_step};
pub use ops::gemv::gemv_calls;
pub use ops::row_blocks::row_block_calls;
pub use ops::small_gemm::small_gemm_calls;
pub use ops::transposed_rhs::transposed_rhs_calls;
pub use ops::amx::{amx_available, amx_calls, amx_int8_activations, amx_kernels};
pub use ops::amx_f32::{amx_f32_calls, amx_f32_products};
pub use ops::bf16_matmul::Bf16Matrix;
pub use ops::bf16_native::native_bf16;
pub use ops::kv_attention::KvBuffer;
pub use ops::kv_store::KvPrecision;
pub use ops::mask::Mask;
pub use ops::quant_input::{
    Q8_SPAN, QuantActivations, QuantActivationsGuard, quant_activations, quant_activations_scope, set_quant_activations,
};
pub use ops::quant_matmul::{GEMM_MIN_ROWS, VNNI_MAX_ROWS, quant_gemv_calls};
pub use ops::quant_matrix::{Q4_BLOCK_BYTES, Q4_BLOCK_GROUPS, Q4_GROUP, Q4_LAYOUT, QuantFormat, QuantMatrix, QuantParts};
pub use ops::vnni::vnni_available;
pub use rng::{Rng, RngState};
pub use tensor::{Tensor, TensorId};
pub use workers::map_on_workers;
