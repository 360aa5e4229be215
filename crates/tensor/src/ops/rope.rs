//! Rotary position embedding in the `rotate_half` form of Llama and GPT-NeoX: each head's
//! vector is split into a first and a second half, and the pair (x[i], x[i + D/2]) is rotated
//! by the angle of position t and frequency i. The cos/sin tables are inputs (precomputed from
//! the frequencies and positions by the model), so any frequency scaling and any per-row
//! positions (left padding) go through the same op.

use ndarray::{ArrayD, IxDyn};

use crate::backprop::BackwardOp;
use crate::error::{Result, TensorError};
use crate::kernel::{init, rows, standard};
use crate::tensor::{Array, Tensor};

/// y = x·cos + rotate_half(x)·(sign·sin) on rows of `[B, H, T, D]`, tables `[B or 1, T, D/2]`.
/// `sign` −1 applies the inverse rotation (the backward).
fn rotate(x: &Array, cos: &Array, sin: &Array, sign: f32) -> ArrayD<f32> {
    let s = x.shape();
    let (b, h, t, d) = (s[0], s[1], s[2], s[3]);
    let half = d / 2;
    let per_batch = cos.shape()[0] == b && b > 1;
    let (xs, cs, ss) = (standard(x.view()), standard(cos.view()), standard(sin.view()));
    // row i of x: batch i / (H·T), position i % T
    let (y, _) = rows(b * h * t, d, #[inline(always)] |i, y| {
        let row = &xs[i * d..(i + 1) * d];
        let at = (if per_batch { i / (h * t) * t } else { 0 } + i % t) * half;
        let (c, sn) = (&cs[at..at + half], &ss[at..at + half]);
        init(y, (0..d).map(|j| {
            if j < half {
                row[j] * c[j] - row[j + half] * sign * sn[j]
            } else {
                row[j] * c[j - half] + row[j - half] * sign * sn[j - half]
            }
        }));
    });
    ArrayD::from_shape_vec(IxDyn(s), y).expect("same length")
}

struct Rope {
    cos: Array,
    sin: Array,
}

impl BackwardOp for Rope {
    // the rotation is orthogonal: dx = Rᵀ·g, the rotation by the opposite angle
    fn backward(&self, g: &ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        Ok(vec![Some(rotate(&g.view().to_shared(), &self.cos, &self.sin, -1.0))])
    }
}

impl Tensor {
    /// Rotary position embedding of `self` `[B, H, T, D]` (D even): for i < D/2,
    /// y[i] = x[i]·cos[t, i] − x[i + D/2]·sin[t, i] and y[i + D/2] = x[i + D/2]·cos[t, i] +
    /// x[i]·sin[t, i]. `cos` and `sin` are `[B, T, D/2]` (one table per row) or `[1, T, D/2]`
    /// (shared); they are constants: no gradient flows to them.
    pub fn rope(&self, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let s = self.shape();
        if s.len() != 4 || !s[3].is_multiple_of(2) {
            return Err(TensorError::invalid("rope", format!("needs [B, H, T, D] with D even, got shape {s:?}")));
        }
        let want = [s[0], s[2], s[3] / 2];
        for table in [cos, sin] {
            let ts = table.shape();
            if ts.len() != 3 || (ts[0] != s[0] && ts[0] != 1) || ts[1..] != want[1..] {
                return Err(TensorError::ShapeMismatch {
                    op: "rope",
                    lhs: s.to_vec(),
                    rhs: ts.to_vec(),
                    detail: format!("cos and sin must be {want:?} or [1, {}, {}]", want[1], want[2]),
                });
            }
        }
        #[cfg(feature = "cuda")]
        if [self, cos, sin].iter().any(|t| t.device().is_cuda()) {
            return crate::cuda::fused_rope::rope(self, cos, sin);
        }
        let (cos, sin) = (cos.arr(), sin.arr());
        let y = rotate(&self.arr(), &cos, &sin, 1.0);
        Ok(Tensor::from_op(y, &[self], || Box::new(Rope { cos, sin })))
    }
}
