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
/// `sign` −1 applies the inverse rotation (the backward). When each row of `x` is contiguous
/// (a permuted view of a projection `[B, T, H·D]`, as attention passes it), the rows are read
/// where they lie instead of from a row-major copy.
fn rotate(x: &Array, cos: &Array, sin: &Array, sign: f32) -> ArrayD<f32> {
    let s = x.shape();
    let (b, h, t, d) = (s[0], s[1], s[2], s[3]);
    let half = d / 2;
    let per_batch = cos.shape()[0] == b && b > 1;
    let (cs, ss) = (standard(cos.view()), standard(sin.view()));
    let copy;
    // the first value of row (0, 0, 0) and the strides of B, H and T, in values
    let (first, strides) = if x.strides()[3] == 1 || d <= 1 {
        (x.as_ptr(), [x.strides()[0], x.strides()[1], x.strides()[2]])
    } else {
        copy = standard(x.view());
        (copy.as_ptr(), [(h * t * d) as isize, (t * d) as isize, d as isize])
    };
    // as an address, so that the row closure may run on other threads
    let first = first as usize;
    let (y, _) = rows(b * h * t, d, #[inline(always)] |i, y| {
        let (bi, hi, ti) = (i / (h * t), i / t % h, i % t);
        let at = bi as isize * strides[0] + hi as isize * strides[1] + ti as isize * strides[2];
        // SAFETY: row (bi, hi, ti) of x (or of its copy) holds d contiguous values at that
        // offset, and x outlives this call.
        let row = unsafe { std::slice::from_raw_parts((first as *const f32).offset(at), d) };
        let at = (if per_batch { bi * t } else { 0 } + ti) * half;
        let (c, sn) = (&cs[at..at + half], &ss[at..at + half]);
        let (lo, hi) = y.split_at_mut(half);
        init(lo, (0..half).map(|j| row[j] * c[j] - row[j + half] * sign * sn[j]));
        init(hi, (0..d - half).map(|j| row[j + half] * c[j] + row[j] * sign * sn[j]));
    });
    ArrayD::from_shape_vec(IxDyn(s), y).expect("same length")
}

struct Rope {
    cos: Array,
    sin: Array,
}

impl BackwardOp for Rope {
    // the rotation is orthogonal: dx = Rᵀ·g, the rotation by the opposite angle
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
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
