//! Softmax and log-softmax over one axis, computed from the maximum for stability.

use std::mem::MaybeUninit;

use ndarray::ArrayD;

use crate::backprop::BackwardOp;
use crate::error::Result;
use crate::kernel::{dot, exp_nonpositive, init, lanes, max, sum, sum_map};
use crate::shape::norm_axis;
use crate::tensor::{Array, Tensor};

// x: lane of n logits → y: softmax(x)
#[inline(always)]
fn softmax_lane(x: &[f32], y: &mut [MaybeUninit<f32>]) {
    let m = max(x);
    let y = init(y, x.iter().map(|&v| exp_nonpositive(v - m)));
    let inv = 1.0 / sum(y);
    y.iter_mut().for_each(|o| *o *= inv);
}

// x: lane of n logits → y: (x − max) − log Σ exp(x − max), exact for logits of any size
#[inline(always)]
fn log_softmax_lane(x: &[f32], y: &mut [MaybeUninit<f32>]) {
    let m = max(x);
    let log_sum = sum_map(x, |v| exp_nonpositive(v - m)).ln();
    init(y, x.iter().map(|&v| (v - m) - log_sum));
}

struct Softmax {
    y: Array,
    axis: usize,
    log: bool,
}

// x: (…, n, …) → (…, n, …), normalized along `axis`
fn forward(t: &Tensor, axis: isize, log: bool) -> Result<Tensor> {
    let op = if log { "log_softmax" } else { "softmax" };
    let a = norm_axis(op, axis, t.shape())?;
    #[cfg(feature = "cuda")]
    if t.device().is_cuda() {
        return crate::cuda::fused_softmax::softmax(t, a, log);
    }
    let x = t.arr();
    // a branch, not a function pointer: the lane kernels inline into the wide copy of `lanes`
    let y: Array = lanes([x.view()], a, #[inline(always)] |[x], y| if log { log_softmax_lane(x, y) } else { softmax_lane(x, y) }).into();
    Ok(Tensor::from_op(y.clone(), &[t], || Box::new(Softmax { y, axis: a, log })))
}

impl Tensor {
    /// Softmax along `axis` (negative counts from the end).
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        forward(self, axis, false)
    }

    /// Log-softmax along `axis`, finite even for logits of ±1e4.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        forward(self, axis, true)
    }
}

impl BackwardOp for Softmax {
    // softmax: dx = y ⊙ (g − Σ g⊙y);  log_softmax: dx = g − exp(y) Σ g
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let log = self.log;
        let dx = lanes([self.y.view(), g.view()], self.axis, #[inline(always)] move |[y, g], dx| {
            if log {
                let s = sum(g);
                init(dx, y.iter().zip(g).map(|(&y, &g)| g - y.exp() * s));
            } else {
                let dot = dot(g, y);
                init(dx, y.iter().zip(g).map(|(&y, &g)| y * (g - dot)));
            }
        });
        Ok(vec![Some(dx)])
    }
}
