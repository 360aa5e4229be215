//! One AdamW step over many parameters at once, in place: on the CPU the arithmetic of
//! `loam_nn`'s AdamW (PyTorch's, op for op); on CUDA one kernel launch for all parameters.

use ndarray::ArrayViewMutD;
use rayon::prelude::*;

use crate::error::{Result, TensorError};
use crate::tensor::Tensor;

/// The hyperparameters of one AdamW step, shared by every parameter it updates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWStep {
    /// The learning rate.
    pub lr: f32,
    /// The decay rate of the first moment.
    pub beta1: f32,
    /// The decay rate of the second moment.
    pub beta2: f32,
    /// Added to the root of the bias-corrected second moment.
    pub eps: f32,
    /// Decoupled weight decay: parameters shrink by `lr·weight_decay` before the update.
    pub weight_decay: f32,
    /// The step number of these parameters, counting from 1 (it sets the bias corrections).
    pub step: u64,
}

/// The per-element constants of a step, formed as PyTorch forms them: in f64 (Python floats),
/// then rounded to f32.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AdamWScalars {
    /// 1 − lr·wd
    pub(crate) decay: f32,
    /// 1 − β1, the lerp weight of the first moment
    pub(crate) w1: f32,
    /// β2
    pub(crate) beta2: f32,
    /// 1 − β2
    pub(crate) w2: f32,
    /// −lr / (1 − β1ᵗ)
    pub(crate) neg_step_size: f32,
    /// √(1 − β2ᵗ)
    pub(crate) bc2_sqrt: f32,
    /// ε
    pub(crate) eps: f32,
}

impl AdamWStep {
    /// Checks the hyperparameters and forms the step's constants.
    pub(crate) fn scalars(&self) -> Result<AdamWScalars> {
        let ok = self.lr.is_finite()
            && self.lr >= 0.0
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2)
            && self.eps.is_finite()
            && self.eps >= 0.0
            && self.weight_decay.is_finite()
            && self.weight_decay >= 0.0
            && self.step >= 1;
        if !ok {
            return Err(TensorError::invalid(
                "adamw_step",
                format!("invalid hyperparameters {self:?} (step counts from 1)"),
            ));
        }
        let t = self.step as f64;
        let (lr, b1, b2) = (self.lr as f64, self.beta1 as f64, self.beta2 as f64);
        Ok(AdamWScalars {
            decay: (1.0 - lr * self.weight_decay as f64) as f32,
            w1: (1.0 - b1) as f32,
            beta2: self.beta2,
            w2: (1.0 - b2) as f32,
            neg_step_size: (-(lr / (1.0 - b1.powf(t)))) as f32,
            bc2_sqrt: (1.0 - b2.powf(t)).powf(0.5) as f32,
            eps: self.eps,
        })
    }
}

/// PyTorch's `lerp`: `a + w(b − a)`, written from the nearer end for accuracy.
#[inline(always)]
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w.abs() < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

/// Below this many elements a parameter is updated on the calling thread.
const PAR_MIN: usize = 1 << 15;
/// Elements per rayon task; elements are independent, so the bits do not depend on threads.
const CHUNK: usize = 1 << 13;

/// p, m, v ← one AdamW step with gradient g, elementwise.
fn update_slices(s: &AdamWScalars, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
    for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
        *p *= s.decay; // p ← p·(1 − lr·wd)
        *m = lerp(*m, g, s.w1); // m ← m + (1 − β1)(g − m)
        *v = *v * s.beta2 + s.w2 * g * g; // v ← β2·v + (1 − β2)·g²
        let denom = v.sqrt() / s.bc2_sqrt + s.eps; // √v̂ + ε, v̂ = v / (1 − β2ᵗ)
        *p += s.neg_step_size * *m / denom; // p ← p − lr/(1 − β1ᵗ) · m / denom
    }
}

/// A variable's values as a mutable row-major slice (variables are stored row-major).
fn slice_of<'a>(
    view: &'a mut ArrayViewMutD<'_, f32>,
    what: &str,
    i: usize,
) -> Result<&'a mut [f32]> {
    view.as_slice_mut()
        .ok_or_else(|| TensorError::invalid("adamw_step", format!("{what} {i} is not row-major")))
}

/// p, m, v ← one AdamW step on the CPU, in chunks on rayon when large.
fn update_cpu(
    s: &AdamWScalars,
    p: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    i: usize,
) -> Result<()> {
    g.with_slice(|g| {
        p.update(|mut pv| {
            m.update(|mut mv| {
                v.update(|mut vv| {
                    let (p, m, v) = (
                        slice_of(&mut pv, "parameter", i)?,
                        slice_of(&mut mv, "exp_avg", i)?,
                        slice_of(&mut vv, "exp_avg_sq", i)?,
                    );
                    if p.len() < PAR_MIN {
                        update_slices(s, p, g, m, v);
                    } else {
                        p.par_chunks_mut(CHUNK)
                            .zip(g.par_chunks(CHUNK))
                            .zip(m.par_chunks_mut(CHUNK))
                            .zip(v.par_chunks_mut(CHUNK))
                            .for_each(|(((p, g), m), v)| update_slices(s, p, g, m, v));
                    }
                    Ok(())
                })?
            })?
        })?
    })
}

/// Checks that the four lists line up: one gradient and two moments per parameter, each of
/// the parameter's shape, the parameter and its moments distinct variables on one device.
fn check(
    params: &[&Tensor],
    grads: &[&Tensor],
    exp_avg: &[&Tensor],
    exp_avg_sq: &[&Tensor],
) -> Result<()> {
    let n = params.len();
    if grads.len() != n || exp_avg.len() != n || exp_avg_sq.len() != n {
        return Err(TensorError::invalid(
            "adamw_step",
            format!(
                "{n} parameters need as many gradients and moments, got {}, {} and {}",
                grads.len(),
                exp_avg.len(),
                exp_avg_sq.len()
            ),
        ));
    }
    let device = params.first().map(|p| p.device());
    for i in 0..n {
        let (p, g, m, v) = (params[i], grads[i], exp_avg[i], exp_avg_sq[i]);
        for (what, t) in [("gradient", g), ("exp_avg", m), ("exp_avg_sq", v)] {
            if t.shape() != p.shape() {
                return Err(TensorError::ShapeMismatch {
                    op: "adamw_step",
                    lhs: p.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                    detail: format!("the {what} of parameter {i} must have its shape"),
                });
            }
        }
        for (what, t) in [
            ("parameter", p),
            ("gradient", g),
            ("exp_avg", m),
            ("exp_avg_sq", v),
        ] {
            if Some(t.device()) != device {
                return Err(TensorError::invalid(
                    "adamw_step",
                    format!(
                        "the {what} of parameter {i} is on {:?}, the first parameter on {:?}",
                        t.device(),
                        device
                    ),
                ));
            }
        }
        for (what, t) in [("parameter", p), ("exp_avg", m), ("exp_avg_sq", v)] {
            if !t.is_var() {
                return Err(TensorError::invalid(
                    "adamw_step",
                    format!("{what} {i} is not a variable, so it cannot change in place"),
                ));
            }
        }
        if p.id() == m.id() || p.id() == v.id() || m.id() == v.id() {
            return Err(TensorError::invalid(
                "adamw_step",
                format!("parameter {i} and its two moments must be three tensors"),
            ));
        }
    }
    Ok(())
}

/// One AdamW step (decoupled weight decay, bias-corrected moments) for every parameter, in
/// place: `params[i]` moves along `grads[i]`, `exp_avg[i]` and `exp_avg_sq[i]` (variables of
/// its shape, zeros before the first step) are its moments. Everything is checked before
/// anything changes. On the CPU the result has the bits of `loam_nn::AdamW`'s step; on CUDA
/// all parameters are updated in one launch with the same arithmetic.
pub fn adamw_step(
    params: &[&Tensor],
    grads: &[&Tensor],
    exp_avg: &[&Tensor],
    exp_avg_sq: &[&Tensor],
    step: &AdamWStep,
) -> Result<()> {
    let scalars = step.scalars()?;
    check(params, grads, exp_avg, exp_avg_sq)?;
    #[cfg(feature = "cuda")]
    if let Some(crate::Device::Cuda(ordinal)) = params.first().map(|p| p.device()) {
        return crate::cuda::fused_adamw::adamw_step(
            ordinal, params, grads, exp_avg, exp_avg_sq, &scalars,
        );
    }
    for i in 0..params.len() {
        update_cpu(&scalars, params[i], grads[i], exp_avg[i], exp_avg_sq[i], i)?;
    }
    Ok(())
}
