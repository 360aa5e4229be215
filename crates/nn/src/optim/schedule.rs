//! Learning-rate schedules: the learning rate as a function of the step (counted from 0).

use std::f64::consts::PI;

/// A learning-rate schedule; [`Schedule::lr`] gives the rate of a step. The warmup, where
/// there is one, is `lr·(step + 1)/(warmup + 1)` for `step < warmup` (nanoGPT's), and the decay
/// runs over the steps `warmup..total`, holding its final value after `total`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// The same rate at every step.
    Constant {
        /// The rate.
        lr: f32,
    },
    /// A linear warmup to `lr`, then `lr`.
    LinearWarmup {
        /// The rate after the warmup.
        lr: f32,
        /// The number of warmup steps.
        warmup: usize,
    },
    /// A linear warmup to `lr`, then a half cosine down to `min_lr` at step `total` (GPT).
    WarmupCosine {
        /// The peak rate.
        lr: f32,
        /// The floor reached at `total`.
        min_lr: f32,
        /// The number of warmup steps.
        warmup: usize,
        /// The step at which the floor is reached.
        total: usize,
    },
    /// A linear warmup to `lr`, then a straight line down to `end_lr` at step `total` (BERT).
    LinearDecay {
        /// The peak rate.
        lr: f32,
        /// The rate reached at `total`.
        end_lr: f32,
        /// The number of warmup steps.
        warmup: usize,
        /// The step at which `end_lr` is reached.
        total: usize,
    },
}

/// During the warmup, `lr·(step + 1)/(warmup + 1)`.
fn warmup(lr: f32, step: usize, warmup: usize) -> Option<f64> {
    (step < warmup).then(|| lr as f64 * (step + 1) as f64 / (warmup + 1) as f64)
}

/// The share of the decay done at `step`: `r = (step − warmup)/max(1, total − warmup)` in [0, 1].
fn progress(step: usize, warmup: usize, total: usize) -> f64 {
    let span = total.saturating_sub(warmup).max(1);
    (step.saturating_sub(warmup) as f64 / span as f64).min(1.0)
}

impl Schedule {
    /// The learning rate of step `step` (the first step is 0), computed in f64.
    pub fn lr(&self, step: usize) -> f32 {
        let lr = match *self {
            Schedule::Constant { lr } => lr as f64,
            Schedule::LinearWarmup { lr, warmup: w } => warmup(lr, step, w).unwrap_or(lr as f64),
            Schedule::WarmupCosine { lr, min_lr, warmup: w, total } => warmup(lr, step, w).unwrap_or_else(|| {
                // min + ½(1 + cos πr)(lr − min)
                let coeff = 0.5 * (1.0 + (PI * progress(step, w, total)).cos());
                min_lr as f64 + coeff * (lr as f64 - min_lr as f64)
            }),
            Schedule::LinearDecay { lr, end_lr, warmup: w, total } => warmup(lr, step, w).unwrap_or_else(|| {
                // lr + r(end − lr)
                lr as f64 + progress(step, w, total) * (end_lr as f64 - lr as f64)
            }),
        };
        lr as f32
    }
}
