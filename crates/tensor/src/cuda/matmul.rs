//! Matrix products on the GPU through cuBLAS (`cublasGemmStridedBatchedEx`): batched, with
//! transposed operands read in place (no copies), broadcasting batch axes by a zero stride.
//!
//! Under [`crate::autocast_bf16`] the product uses `CUBLAS_COMPUTE_32F_FAST_16BF`: cuBLAS
//! rounds the f32 operands to bf16 inside the kernel and runs bf16 tensor cores with f32
//! accumulation, so no bf16 copies of weights or activations exist in memory. Otherwise
//! `CUBLAS_COMPUTE_32F` (exact f32; cuBLAS may still use TF32 only if asked, which loam never
//! does).

use std::ffi::{c_int, c_longlong, c_void};

use cudarc::cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType};

use super::{Buffer, output};
use crate::backprop::DeviceBackward;
use crate::error::{Result, TensorError};
use crate::shape::broadcast_shapes;
use crate::storage::{Storage, common_device};
use crate::tensor::Tensor;

/// An operand as the product reads it: its last two axes swapped or not.
#[derive(Clone, Copy)]
struct Operand<'a> {
    t: &'a Tensor,
    transposed: bool,
}

impl Operand<'_> {
    /// (rows, cols) of the operand as the product sees it.
    fn dims(&self) -> (usize, usize) {
        let s = self.t.shape();
        let (r, c) = (s[s.len() - 2], s[s.len() - 1]);
        if self.transposed { (c, r) } else { (r, c) }
    }

    fn batch(&self) -> &[usize] {
        &self.t.shape()[..self.t.rank() - 2]
    }
}

fn int(op: &'static str, v: usize) -> Result<c_int> {
    c_int::try_from(v)
        .map_err(|_| TensorError::invalid(op, format!("dimension {v} is too large for cuBLAS")))
}

/// The operand's buffer and its batch stride for the batch shape `batch` (0 when it has one
/// matrix for all; a broadcast copy when its batch axes broadcast otherwise).
fn batched(op: &'static str, x: Operand<'_>, batch: &[usize]) -> Result<(Buffer, i64)> {
    let nb: usize = batch.iter().product();
    let own: usize = x.batch().iter().product();
    let (r, c) = (x.t.shape()[x.t.rank() - 2], x.t.shape()[x.t.rank() - 1]);
    let padded_equal =
        x.batch().len() <= batch.len() && x.batch() == &batch[batch.len() - x.batch().len()..];
    if own == 1 {
        Ok((super::buffer(op, x.t)?, 0))
    } else if own == nb && padded_equal {
        Ok((super::buffer(op, x.t)?, (r * c) as i64))
    } else {
        let mut shape = batch.to_vec();
        shape.extend([r, c]);
        let full = x.t.detach().broadcast_as(&shape)?;
        Ok((super::buffer(op, &full)?, (r * c) as i64))
    }
}

/// `op(a) @ op(b)` over broadcast batch axes, row-major `(…, m, n)`, as a constant.
fn product(op: &'static str, a: Operand<'_>, b: Operand<'_>, bf16: bool) -> Result<Tensor> {
    common_device(op, &[a.t, b.t])?;
    let ((m, k), (k2, n)) = (a.dims(), b.dims());
    if k != k2 {
        return Err(TensorError::ShapeMismatch {
            op,
            lhs: a.t.shape().to_vec(),
            rhs: b.t.shape().to_vec(),
            detail: format!("inner dimensions {k} and {k2} differ"),
        });
    }
    let batch = broadcast_shapes(op, a.batch(), b.batch())?;
    let nb: usize = batch.iter().product();
    let mut shape = batch.clone();
    shape.extend([m, n]);
    let (ab, sa) = batched(op, a, &batch)?;
    let (bb, sb) = batched(op, b, &batch)?;
    let len = nb * m * n;
    let out = output(op, ab.ordinal(), len, |g, out| {
        if len == 0 {
            return Ok(());
        }
        if k == 0 {
            return super::layout::fill(op, g, out, 0.0, len);
        }
        let (ma, na, ka, batches) = (int(op, m)?, int(op, n)?, int(op, k)?, int(op, nb)?);
        // row-major C = A·B is column-major Cᵀ = Bᵀ·Aᵀ: cuBLAS's first operand is B
        let (trans_b, ldb) = if b.transposed {
            (cublasOperation_t::CUBLAS_OP_T, ka)
        } else {
            (cublasOperation_t::CUBLAS_OP_N, na)
        };
        let (trans_a, lda) = if a.transposed {
            (cublasOperation_t::CUBLAS_OP_T, ma)
        } else {
            (cublasOperation_t::CUBLAS_OP_N, ka)
        };
        let compute = if bf16 {
            cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_16BF
        } else {
            cublasComputeType_t::CUBLAS_COMPUTE_32F
        };
        let (alpha, beta) = (1.0f32, 0.0f32);
        let (pa, pb) = (ab.slice()?, bb.slice()?);
        g.with_blas(op, |blas| {
            use cudarc::driver::{DevicePtr, DevicePtrMut};
            let (pb_ptr, _rb) = pb.device_ptr(&g.stream);
            let (pa_ptr, _ra) = pa.device_ptr(&g.stream);
            let (po_ptr, _wo) = out.device_ptr_mut(&g.stream);
            // SAFETY: the pointers hold the matrices the dimensions, leading dimensions and
            // batch strides describe (checked shapes above); cuBLAS runs on this GPU's stream.
            unsafe {
                cudarc::cublas::result::gemm_strided_batched_ex(
                    *blas.handle(),
                    trans_b,
                    trans_a,
                    na,
                    ma,
                    ka,
                    (&alpha as *const f32).cast::<c_void>(),
                    pb_ptr as *const c_void,
                    cudaDataType::CUDA_R_32F,
                    ldb,
                    sb as c_longlong,
                    pa_ptr as *const c_void,
                    cudaDataType::CUDA_R_32F,
                    lda,
                    sa as c_longlong,
                    (&beta as *const f32).cast::<c_void>(),
                    po_ptr as *mut c_void,
                    cudaDataType::CUDA_R_32F,
                    na,
                    (m * n) as c_longlong,
                    batches,
                    compute,
                    cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
                )
            }
            .map_err(|e| TensorError::cuda(op, format!("cuBLAS {e:?}")))
        })
    })?;
    Ok(super::tensor(out, &shape))
}

/// A product whose right operand is one matrix: the left operand's batch axes fold into its
/// rows, one GEMM for all (`x @ W` of a linear layer).
fn folded(op: &'static str, a: &Tensor, b: Operand<'_>, bf16: bool) -> Result<Tensor> {
    let s = a.shape();
    let (m, k) = (s[..s.len() - 1].iter().product::<usize>(), s[s.len() - 1]);
    let y = product(
        op,
        Operand {
            t: &a.detach().reshape(&[m, k])?,
            transposed: false,
        },
        b,
        bf16,
    )?;
    let mut shape = s[..s.len() - 1].to_vec();
    shape.push(y.shape()[1]);
    y.reshape(&shape)
}

struct Matmul {
    a: Tensor,
    b: Tensor,
    bf16: bool,
}

// a: (…, m, k), b: (…, k, n) → (…, m, n)
pub(crate) fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let bf16 = crate::autocast::autocast_enabled();
    let rhs = Operand {
        t: b,
        transposed: false,
    };
    let y = if b.rank() == 2 && a.rank() > 2 {
        folded("matmul", a, rhs, bf16)?
    } else {
        product(
            "matmul",
            Operand {
                t: a,
                transposed: false,
            },
            rhs,
            bf16,
        )?
    };
    let (ad, bd) = (a.detach(), b.detach());
    let out = match y.storage() {
        Storage::Cuda(buf) => buf,
        Storage::Cpu(_) => return Err(TensorError::cuda("matmul", "product left the GPU")),
    };
    Ok(Tensor::from_device_op(
        Storage::Cuda(out),
        y.shape().to_vec(),
        &[a, b],
        move || Box::new(Matmul { a: ad, b: bd, bf16 }),
    ))
}

impl DeviceBackward for Matmul {
    // g: (…, m, n); dA = g @ Bᵀ: (…, m, k); dB = Aᵀ @ g: (…, k, n); summed over broadcast batches
    fn backward(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (a, b, bf16) = (&self.a, &self.b, self.bf16);
        let ga = if !needs[0] {
            None
        } else if b.rank() == 2 && g.rank() > 2 {
            Some(folded(
                "matmul backward",
                g,
                Operand {
                    t: b,
                    transposed: true,
                },
                bf16,
            )?)
        } else {
            let full = product(
                "matmul backward",
                Operand {
                    t: g,
                    transposed: false,
                },
                Operand {
                    t: b,
                    transposed: true,
                },
                bf16,
            )?;
            Some(super::reduce::sum_to(&full, a.shape())?)
        };
        let gb = if !needs[1] {
            None
        } else if b.rank() == 2 && a.rank() > 2 {
            // Σ over the batch of Aᵀ·g is one product of the folded matrices
            let k = a.shape()[a.rank() - 1];
            let n = g.shape()[g.rank() - 1];
            let a2 = a.reshape(&[a.elem_count() / k.max(1), k])?;
            let g2 = g.reshape(&[g.elem_count() / n.max(1), n])?;
            Some(product(
                "matmul backward",
                Operand {
                    t: &a2,
                    transposed: true,
                },
                Operand {
                    t: &g2,
                    transposed: false,
                },
                bf16,
            )?)
        } else {
            let full = product(
                "matmul backward",
                Operand {
                    t: a,
                    transposed: true,
                },
                Operand {
                    t: g,
                    transposed: false,
                },
                bf16,
            )?;
            Some(super::reduce::sum_to(&full, b.shape())?)
        };
        Ok(vec![ga, gb])
    }
}
