//! Fused layer normalization over the last axis, with optional weight and bias.

use ndarray::{ArrayD, Axis, IxDyn};

use crate::backprop::BackwardOp;
use crate::error::{Result, TensorError};
use crate::kernel::{dot, init, into_standard, lanes, rows, standard, sum, sum_map};
use crate::tensor::{Array, Tensor};

struct LayerNorm {
    /// (…, C) the input, shared with the input tensor
    x: Array,
    /// (rows) mean and reciprocal standard deviation of each lane
    stats: Vec<(f32, f32)>,
    /// (C) weight, when there is one
    weight: Option<Array>,
}

// x: one lane of C values → (mean, rstd)
#[inline(always)]
fn lane_stats(x: &[f32], eps: f32) -> (f32, f32) {
    let c = x.len() as f32;
    let mean = sum(x) / c;
    let var = sum_map(x, |v| (v - mean) * (v - mean)) / c;
    (mean, 1.0 / (var + eps).sqrt())
}

impl Tensor {
    /// Normalizes each lane of the last axis to mean 0 and variance 1 (biased variance, `eps`
    /// inside the square root), then scales by `weight` and shifts by `bias` (each `[C]`).
    /// A bias needs a weight.
    // x: (…, C), weight: (C), bias: (C) → (…, C)
    pub fn layer_norm(&self, weight: Option<&Tensor>, bias: Option<&Tensor>, eps: f32) -> Result<Tensor> {
        let r = self.rank();
        if r == 0 || self.shape()[r - 1] == 0 {
            return Err(TensorError::invalid("layer_norm", format!("needs a non-empty last axis, got shape {:?}", self.shape())));
        }
        if weight.is_none() && bias.is_some() {
            return Err(TensorError::invalid("layer_norm", "a bias needs a weight (pass ones)"));
        }
        let c = self.shape()[r - 1];
        for p in [weight, bias].into_iter().flatten() {
            if p.shape() != [c] {
                return Err(TensorError::ShapeMismatch {
                    op: "layer_norm",
                    lhs: self.shape().to_vec(),
                    rhs: p.shape().to_vec(),
                    detail: format!("weight and bias must be [{c}]"),
                });
            }
        }
        #[cfg(feature = "cuda")]
        if [Some(self), weight, bias].into_iter().flatten().any(|t| t.device().is_cuda()) {
            return crate::cuda::fused_norm::layer_norm(self, weight, bias, eps);
        }
        let x = self.arr();
        let xs = standard(x.view());
        let (w, b) = (weight.map(|t| t.arr()), bias.map(|t| t.arr()));
        let (ws, bs) = (w.as_ref().map(|w| standard(w.view())), b.as_ref().map(|b| standard(b.view())));
        // one pass per lane, in cache: statistics, then y = x̂·w + b written directly
        let (y, stats) = rows(xs.len() / c, c, #[inline(always)] |i, y| {
            let x = &xs[i * c..(i + 1) * c];
            let (mean, rstd) = lane_stats(x, eps);
            match (&ws, &bs) {
                (Some(ws), Some(bs)) => init(y, x.iter().zip(ws.iter()).zip(bs.iter()).map(|((&v, &w), &b)| (v - mean) * rstd * w + b)),
                (Some(ws), None) => init(y, x.iter().zip(ws.iter()).map(|(&v, &w)| (v - mean) * rstd * w)),
                _ => init(y, x.iter().map(|&v| (v - mean) * rstd)),
            };
            (mean, rstd)
        });
        let y: Array = ArrayD::from_shape_vec(IxDyn(self.shape()), y).expect("same length").into();
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        Ok(Tensor::from_op(y, &inputs, || Box::new(LayerNorm { x: x.clone(), stats, weight: w })))
    }
}

impl LayerNorm {
    /// (…, C) x̂ = (x − μ)·rstd, rebuilt from the saved input: the same bits as the forward's.
    fn xhat(&self) -> ArrayD<f32> {
        let shape = self.x.shape();
        let c = shape[shape.len() - 1];
        let x = standard(self.x.view());
        let (xhat, _) = rows(self.stats.len(), c, #[inline(always)] |i, o| {
            let (mean, rstd) = self.stats[i];
            init(o, x[i * c..(i + 1) * c].iter().map(|&v| (v - mean) * rstd));
        });
        ArrayD::from_shape_vec(IxDyn(shape), xhat).expect("same length")
    }
}

impl BackwardOp for LayerNorm {
    // dx̂ = g⊙w;  dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂⊙x̂));  dw = Σ g⊙x̂;  db = Σ g
    fn backward(&self, g: ArrayD<f32>, needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let r = g.ndim();
        let c = g.shape()[r - 1];
        let xhat = self.xhat();
        let dxhat = match &self.weight {
            Some(w) => &g * w,
            None => g.clone(),
        };
        let mut kept = g.shape().to_vec();
        kept[r - 1] = 1;
        let rstd = ArrayD::from_shape_vec(IxDyn(&kept), self.stats.iter().map(|s| s.1).collect()).expect("one per lane");
        let rstd = rstd.broadcast(g.shape()).expect("rstd is (…, 1)");
        let dx = needs[0].then(|| {
            lanes([dxhat.view(), xhat.view(), rstd], r - 1, #[inline(always)] move |[d, xh, rs], dx| {
                let mean_d = sum(d) / c as f32;
                let mean_dx = dot(d, xh) / c as f32;
                init(dx, d.iter().zip(xh).zip(rs).map(|((&d, &xh), &rs)| rs * (d - mean_d - xh * mean_dx)));
            })
        });
        let rows = g.len() / c.max(1);
        let column_sum = |a: ArrayD<f32>| {
            into_standard(a).into_shape_with_order(IxDyn(&[rows, c])).expect("(rows, C)").sum_axis(Axis(0))
        };
        let mut out = vec![dx];
        if let Some(&need_w) = needs.get(1) {
            out.push(need_w.then(|| column_sum(&g * &xhat)));
        }
        if let Some(&need_b) = needs.get(2) {
            out.push(need_b.then(|| column_sum(g)));
        }
        Ok(out)
    }
}
