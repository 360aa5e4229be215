//! Scaled dot-product attention as one op: softmax(q·kᵀ·scale + causal mask)·v over
//! `[B, H, T, D]`. On the CPU it is the composition nn's attention has always used (so the
//! numbers are the same); on CUDA a flash-style tiled kernel that never holds the `Tq × Tk`
//! weights in memory.

use crate::error::{Result, TensorError};
use crate::ops::mask::Mask;
use crate::tensor::Tensor;

/// Checks q `[B, H, Tq, D]`, k and v `[B, H, Tk, D]` (and `Tq ≤ Tk` when causal); returns
/// `(B, H, Tq, Tk, D)`.
pub(crate) fn check_shapes(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool) -> Result<[usize; 5]> {
    const OP: &str = "scaled_dot_product_attention";
    if q.rank() != 4 || k.rank() != 4 || v.rank() != 4 {
        return Err(TensorError::invalid(
            OP,
            format!(
                "q, k and v must be [B, H, T, D], got {:?}, {:?} and {:?}",
                q.shape(),
                k.shape(),
                v.shape()
            ),
        ));
    }
    let (qs, ks) = (q.shape(), k.shape());
    if ks != v.shape() || qs[0] != ks[0] || qs[1] != ks[1] || qs[3] != ks[3] {
        return Err(TensorError::ShapeMismatch {
            op: OP,
            lhs: qs.to_vec(),
            rhs: ks.to_vec(),
            detail: format!(
                "k and v must be [B, H, Tk, D] with q's B, H and D (v is {:?})",
                v.shape()
            ),
        });
    }
    let [b, h, tq, d] = [qs[0], qs[1], qs[2], qs[3]];
    let tk = ks[2];
    if tk == 0 || d == 0 {
        return Err(TensorError::invalid(
            OP,
            format!("needs at least one key and D > 0, got k {ks:?}"),
        ));
    }
    if causal && tq > tk {
        return Err(TensorError::invalid(
            OP,
            format!(
                "causal attention puts the {tq} queries at the last positions of the {tk} keys, so needs Tq ≤ Tk"
            ),
        ));
    }
    Ok([b, h, tq, tk, d])
}

/// `[Tq, Tk]`, true where key j is hidden from query i: j > i + (Tk − Tq).
pub(crate) fn causal_mask(tq: usize, tk: usize) -> Mask {
    let offset = tk - tq;
    Mask::from_fn(&[tq, tk], |ix| ix[1] > ix[0] + offset)
}

impl Tensor {
    /// softmax(q·kᵀ·`scale`)·v for q = `self` `[B, H, Tq, D]`, `k` and `v` `[B, H, Tk, D]`
    /// → `[B, H, Tq, D]`. With `causal`, query i sees keys j ≤ i + (Tk − Tq): the queries are
    /// the last Tq positions (Tq ≤ Tk), as with a KV cache. Differentiable in q, k and v.
    /// On CUDA, inside [`crate::autocast_bf16`], q, k, v are rounded to bf16 (f32 accumulation).
    // q: (B, H, Tq, D), k: (B, H, Tk, D), v: (B, H, Tk, D) → (B, H, Tq, D)
    pub fn scaled_dot_product_attention(
        &self,
        k: &Tensor,
        v: &Tensor,
        causal: bool,
        scale: f32,
    ) -> Result<Tensor> {
        let [_, _, tq, tk, _] = check_shapes(self, k, v, causal)?;
        #[cfg(feature = "cuda")]
        if [self, k, v].iter().any(|t| t.device().is_cuda()) {
            crate::storage::common_device("scaled_dot_product_attention", &[self, k, v])?;
            // the kernel holds a head's vector in registers; wider heads (and empty inputs) compose
            if self.shape()[3] <= crate::cuda::fused_attention::MAX_HEAD_DIM
                && self.elem_count() > 0
            {
                return crate::cuda::fused_attention::attention(
                    self,
                    k,
                    v,
                    causal,
                    scale,
                    crate::autocast_enabled(),
                );
            }
        }
        // (B, H, Tq, Tk) scores; hidden ones at f32::MIN so that they weigh exactly 0
        let scores = self.matmul(&k.transpose(-2, -1)?)?.mul_scalar(scale);
        let scores = if causal {
            scores.masked_fill(&causal_mask(tq, tk), f32::MIN)?
        } else {
            scores
        };
        scores.softmax(-1)?.matmul(v)
    }
}
