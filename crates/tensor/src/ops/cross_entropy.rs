//! Fused softmax + cross-entropy over logits with integer targets, an optional ignore index
//! and mean reduction over the targets that count.

use ndarray::{ArrayD, IxDyn};
use rayon::prelude::*;

use crate::backprop::BackwardOp;
use crate::error::{Result, TensorError};
use crate::kernel::{PAR_MIN, exp_nonpositive, init, max, rows, standard, sum_map, wide};
use crate::tensor::{Array, Tensor};

struct CrossEntropy {
    /// (…, V) logits
    logits: Array,
    /// (max, log Σ exp(x − max)) per row
    lse: Vec<(f32, f32)>,
    /// one target per row; `None` when ignored
    targets: Vec<Option<usize>>,
    /// number of rows that count
    count: usize,
}

// x: one row of V logits → (max, log Σ exp(x − max)); log Σ exp(x) is their sum
#[inline(always)]
fn logsumexp(x: &[f32]) -> (f32, f32) {
    let m = max(x);
    (m, sum_map(x, |v| exp_nonpositive(v - m)).ln())
}

impl Tensor {
    /// Mean cross-entropy of logits `(…, V)` against one target class per row (`targets` in
    /// row-major order of the leading axes). Rows whose target equals `ignore_index` do not
    /// count; when none counts the loss is 0. A target outside `0..V` is an error.
    // logits: (…, V), targets: one per row of (…) → scalar ()
    pub fn cross_entropy(&self, targets: &[i64], ignore_index: Option<i64>) -> Result<Tensor> {
        let r = self.rank();
        if r == 0 || self.shape()[r - 1] == 0 {
            return Err(TensorError::invalid("cross_entropy", format!("needs logits (…, V) with V > 0, got {:?}", self.shape())));
        }
        let v = self.shape()[r - 1];
        let rows = self.elem_count() / v;
        if targets.len() != rows {
            return Err(TensorError::ShapeMismatch {
                op: "cross_entropy",
                lhs: self.shape().to_vec(),
                rhs: vec![targets.len()],
                detail: format!("{rows} rows of logits need {rows} targets"),
            });
        }
        let targets = targets
            .iter()
            .map(|&t| match t {
                t if Some(t) == ignore_index => Ok(None),
                t if t >= 0 && (t as usize) < v => Ok(Some(t as usize)),
                t => Err(TensorError::IndexOutOfRange { op: "cross_entropy", index: t, size: v }),
            })
            .collect::<Result<Vec<_>>>()?;
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            return crate::cuda::fused_softmax::cross_entropy(self, &targets);
        }
        let logits = self.arr();
        let x = standard(logits.view());
        let lse: Vec<(f32, f32)> = if x.len() >= PAR_MIN {
            x.par_chunks(v).map(|x| wide(#[inline(always)] || logsumexp(x))).collect()
        } else {
            x.chunks(v).map(|x| wide(#[inline(always)] || logsumexp(x))).collect()
        };
        let mut total = 0.0f64;
        let mut count = 0;
        for (i, t) in targets.iter().enumerate() {
            if let Some(t) = *t {
                let (m, log_sum) = lse[i];
                total += (log_sum - (x[i * v + t] - m)) as f64;
                count += 1;
            }
        }
        drop(x);
        let loss = if count == 0 { 0.0 } else { (total / count as f64) as f32 };
        let out = ArrayD::from_elem(IxDyn(&[]), loss);
        Ok(Tensor::from_op(out, &[self], || Box::new(CrossEntropy { logits, lse, targets, count })))
    }
}

impl BackwardOp for CrossEntropy {
    // d logits = g/count · (softmax(x) − onehot(t)) on counted rows, 0 on ignored rows
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let shape = self.logits.shape().to_vec();
        let v = shape[shape.len() - 1];
        let scale = g.iter().next().copied().unwrap_or(0.0) / self.count.max(1) as f32;
        let x = standard(self.logits.view());
        let (dx, _) = rows(self.targets.len(), v, #[inline(always)] |i, d| {
            let (m, log_sum) = self.lse[i];
            match self.targets[i] {
                Some(t) => init(d, x[i * v..(i + 1) * v].iter().map(|&x| scale * exp_nonpositive((x - m) - log_sum)))[t] -= scale,
                None => {
                    init(d, std::iter::repeat_n(0.0, v));
                }
            }
        });
        Ok(vec![Some(ArrayD::from_shape_vec(IxDyn(&shape), dx).expect("same length"))])
    }
}
