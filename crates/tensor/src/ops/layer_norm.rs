//! Fused layer normalization over the last axis, with optional weight and bias.

use ndarray::{ArrayD, Axis, IxDyn};
use rayon::prelude::*;

use crate::backprop::BackwardOp;
use crate::error::{Result, TensorError};
use crate::kernel::{PAR_MIN, dot, lanes, standard, sum, sum_map, to_standard, wide};
use crate::tensor::{Array, Tensor};

struct LayerNorm {
    /// (…, C) normalized input x̂ = (x − μ)·rstd
    xhat: Array,
    /// (…, 1) reciprocal standard deviation per lane
    rstd: ArrayD<f32>,
    /// (C) weight, when there is one
    weight: Option<Array>,
}

// x: one lane of C values → x̂ (same lane), returns rstd
#[inline(always)]
fn normalize_lane(x: &[f32], xhat: &mut [f32], eps: f32) -> f32 {
    let c = x.len() as f32;
    let mean = sum(x) / c;
    let var = sum_map(x, |v| (v - mean) * (v - mean)) / c;
    let rstd = 1.0 / (var + eps).sqrt();
    for (o, v) in xhat.iter_mut().zip(x) {
        *o = (v - mean) * rstd;
    }
    rstd
}

impl BackwardOp for LayerNorm {
    // dx̂ = g⊙w;  dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂⊙x̂));  dw = Σ g⊙x̂;  db = Σ g
    fn backward(&self, g: &ArrayD<f32>, needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let r = g.ndim();
        let c = g.shape()[r - 1];
        let dxhat = match &self.weight {
            Some(w) => g * w,
            None => g.clone(),
        };
        let rstd = self.rstd.broadcast(g.shape()).expect("rstd is (…, 1)");
        let dx = needs[0].then(|| {
            lanes([dxhat.view(), self.xhat.view(), rstd], r - 1, #[inline(always)] move |[d, xh, rs], dx| {
                let mean_d = sum(d) / c as f32;
                let mean_dx = dot(d, xh) / c as f32;
                for i in 0..c {
                    dx[i] = rs[i] * (d[i] - mean_d - xh[i] * mean_dx);
                }
            })
        });
        let rows = g.len() / c.max(1);
        let column_sum = |a: ArrayD<f32>| {
            to_standard(a.view()).into_shape_with_order(IxDyn(&[rows, c])).expect("(rows, C)").sum_axis(Axis(0))
        };
        let mut out = vec![dx];
        if let Some(&need_w) = needs.get(1) {
            out.push(need_w.then(|| column_sum(g * &self.xhat)));
        }
        if let Some(&need_b) = needs.get(2) {
            out.push(need_b.then(|| column_sum(g.clone())));
        }
        Ok(out)
    }
}

impl Tensor {
    /// Normalizes each lane of the last axis to mean 0 and variance 1 (biased variance, `eps`
    /// inside the square root), then scales by `weight` and shifts by `bias` (each `[C]`).
    /// A bias needs a weight.
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
        let x = self.arr();
        let xs = standard(x.view());
        let rows = xs.len() / c;
        let mut xhat = vec![0.0f32; xs.len()];
        let mut rstd = vec![0.0f32; rows];
        let lane = |((x, o), rs): ((&[f32], &mut [f32]), &mut f32)| *rs = wide(#[inline(always)] || normalize_lane(x, o, eps));
        if xs.len() >= PAR_MIN {
            xs.par_chunks(c).zip(xhat.par_chunks_mut(c)).zip(rstd.par_iter_mut()).for_each(lane);
        } else {
            xs.chunks(c).zip(xhat.chunks_mut(c)).zip(rstd.iter_mut()).for_each(lane);
        }
        let xhat: Array = ArrayD::from_shape_vec(IxDyn(self.shape()), xhat).expect("same length").into();
        let mut kept = self.shape().to_vec();
        kept[r - 1] = 1;
        let rstd = ArrayD::from_shape_vec(IxDyn(&kept), rstd).expect("one per lane");
        let (w, b) = (weight.map(|t| t.arr()), bias.map(|t| t.arr()));
        // without a weight the output is x̂ itself: shared with the saved copy, not copied
        let y: Array = match &w {
            Some(w) => {
                // y = x̂·w (+ b), row by row over slices (a broadcast Zip is several times slower)
                let (ws, bs) = (standard(w.view()), b.as_ref().map(|b| standard(b.view())));
                let xh = xhat.as_slice().expect("x̂ is row-major");
                let mut y = vec![0.0f32; xh.len()];
                let row = |(y, x): (&mut [f32], &[f32])| {
                    wide(
                        #[inline(always)]
                        || match &bs {
                            Some(bs) => {
                                for (((y, &x), &w), &b) in y.iter_mut().zip(x).zip(ws.iter()).zip(bs.iter()) {
                                    *y = x * w + b;
                                }
                            }
                            None => {
                                for ((y, &x), &w) in y.iter_mut().zip(x).zip(ws.iter()) {
                                    *y = x * w;
                                }
                            }
                        },
                    )
                };
                if xh.len() >= PAR_MIN {
                    y.par_chunks_mut(c).zip(xh.par_chunks(c)).for_each(row);
                } else {
                    y.chunks_mut(c).zip(xh.chunks(c)).for_each(row);
                }
                ArrayD::from_shape_vec(IxDyn(self.shape()), y).expect("same length").into()
            }
            None => xhat.clone(),
        };
        let mut inputs = vec![self];
        inputs.extend(weight);
        inputs.extend(bias);
        Ok(Tensor::from_op(y, &inputs, || Box::new(LayerNorm { xhat, rstd, weight: w })))
    }
}
