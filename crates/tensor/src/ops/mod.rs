//! The differentiable operations, one concept per file, each with its backward beside it.

pub mod amx;
#[cfg(target_arch = "x86_64")]
mod amx_bf16;
pub mod amx_f32;
#[cfg(target_arch = "x86_64")]
mod amx_f32_kernel;
mod amx_int8;
#[cfg(target_arch = "x86_64")]
mod amx_q4;
#[cfg(target_arch = "x86_64")]
pub(crate) mod bf16_gemm;
pub mod bf16_matmul;
pub mod bf16_native;
pub(crate) mod adamw;
pub(crate) mod attention;
mod causal_softmax;
mod binary;
mod concat;
mod cross_entropy;
mod dropout;
pub(crate) mod gemv;
mod indexing;
pub mod kv_attention;
pub(crate) mod kv_store;
mod layer_norm;
mod layout;
pub mod mask;
mod matmul;
mod prompt_attention;
pub mod quant_input;
pub mod quant_matmul;
pub mod quant_matrix;
mod quant_q8;
mod reduce;
mod rms_norm;
mod rope;
pub(crate) mod row_blocks;
mod silu_mul;
pub(crate) mod skinny;
pub(crate) mod small_gemm;
pub(crate) mod transposed_rhs;
#[cfg(target_arch = "x86_64")]
mod transpose16;
mod softmax;
mod unary;
pub mod vnni;
