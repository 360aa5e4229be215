//! Fused root-mean-square normalization over the last axis with a weight (Llama's RMSNorm):
//! y = x·rstd·w, rstd = 1/√(mean(x²) + eps). One pass per lane instead of the five ops the
//! composed form takes.

use ndarray::{ArrayD, Axis, IxDyn};

use crate::backprop::BackwardOp;
use crate::error::{Result, TensorError};
use crate::kernel::{dot, init, into_standard, lanes, rows, standard, sum_map};
use crate::tensor::{Array, Tensor};

// x: one lane of C values → 1/√(mean(x²) + eps)
#[inline(always)]
fn lane_rstd(x: &[f32], eps: f32) -> f32 {
    1.0 / (sum_map(x, |v| v * v) / x.len() as f32 + eps).sqrt()
}

struct RmsNorm {
    /// (…, C) the input, shared with the input tensor
    x: Array,
    /// (rows) reciprocal root mean square of each lane
    rstd: Vec<f32>,
    /// (C) the weight
    weight: Array,
}

impl BackwardOp for RmsNorm {
    // x̂ = x·rstd;  dx̂ = g⊙w;  dx = rstd·(dx̂ − x̂·mean(dx̂⊙x̂));  dw = Σ g⊙x̂
    fn backward(&self, g: ArrayD<f32>, needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let r = g.ndim();
        let c = g.shape()[r - 1];
        let mut kept = g.shape().to_vec();
        kept[r - 1] = 1;
        let rstd = ArrayD::from_shape_vec(IxDyn(&kept), self.rstd.clone()).expect("one per lane");
        let rstd = rstd.broadcast(g.shape()).expect("rstd is (…, 1)");
        let xhat = &self.x * &rstd;
        let dxhat = &g * &self.weight;
        let dx = needs[0].then(|| {
            lanes([dxhat.view(), xhat.view(), rstd], r - 1, #[inline(always)] move |[d, xh, rs], dx| {
                let mean_dx = dot(d, xh) / c as f32;
                init(dx, d.iter().zip(xh).zip(rs).map(|((&d, &xh), &rs)| rs * (d - xh * mean_dx)));
            })
        });
        let dw = needs[1].then(|| {
            let rows = g.len() / c.max(1);
            into_standard(&g * &xhat).into_shape_with_order(IxDyn(&[rows, c])).expect("(rows, C)").sum_axis(Axis(0))
        });
        Ok(vec![dx, dw])
    }
}

impl Tensor {
    /// Divides each lane of the last axis by its root mean square (`eps` added to the mean
    /// square) and scales it by `weight` `[C]`.
    pub fn rms_norm(&self, weight: &Tensor, eps: f32) -> Result<Tensor> {
        let r = self.rank();
        if r == 0 || self.shape()[r - 1] == 0 {
            return Err(TensorError::invalid("rms_norm", format!("needs a non-empty last axis, got shape {:?}", self.shape())));
        }
        let c = self.shape()[r - 1];
        if weight.shape() != [c] {
            return Err(TensorError::ShapeMismatch {
                op: "rms_norm",
                lhs: self.shape().to_vec(),
                rhs: weight.shape().to_vec(),
                detail: format!("the weight must be [{c}]"),
            });
        }
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() || weight.device().is_cuda() {
            return crate::cuda::fused_norm::rms_norm(self, weight, eps);
        }
        let x = self.arr();
        let xs = standard(x.view());
        let w = weight.arr();
        let ws = standard(w.view());
        // x: (rows, C) → y: (rows, C), one lane in cache at a time
        let (y, rstd) = rows(xs.len() / c, c, #[inline(always)] |i, y| {
            let x = &xs[i * c..(i + 1) * c];
            let rstd = lane_rstd(x, eps);
            init(y, x.iter().zip(ws.iter()).map(|(&v, &w)| v * rstd * w));
            rstd
        });
        let y: Array = ArrayD::from_shape_vec(IxDyn(self.shape()), y).expect("same length").into();
        Ok(Tensor::from_op(y, &[self, weight], || Box::new(RmsNorm { x: x.clone(), rstd, weight: w })))
    }
}
