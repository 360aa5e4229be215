//! AdamW (Loshchilov & Hutter): Adam with weight decay decoupled from the gradient, computed as
//! PyTorch's `torch.optim.AdamW` computes it, op for op. CPU parameters are updated here; GPU
//! parameters keep their moments on the device and are updated by [`loam_tensor::adamw_step`],
//! all those that share a weight decay and step count in one launch, with the same arithmetic.

use std::path::Path;

use loam_tensor::{AdamWStep, GradStore, Tensor, adamw_step};

use crate::error::{NnError, Result};
use crate::optim::group::{self, Buffers, ParamGroup, Slot};
use crate::optim::state;

/// AdamW's hyperparameters besides weight decay (which belongs to the [`ParamGroup`]s); the
/// defaults are PyTorch's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// The learning rate (default 1e-3).
    pub lr: f32,
    /// The decay rate of the first moment (default 0.9).
    pub beta1: f32,
    /// The decay rate of the second moment (default 0.999).
    pub beta2: f32,
    /// Added to the root of the bias-corrected second moment (default 1e-8).
    pub eps: f32,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
    }
}

impl AdamWConfig {
    fn check(&self) -> Result<()> {
        let ok = self.lr.is_finite()
            && self.lr >= 0.0
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2)
            && self.eps.is_finite()
            && self.eps >= 0.0;
        if ok { Ok(()) } else { Err(NnError::Config(format!("invalid AdamW hyperparameters {self:?}"))) }
    }
}

/// The AdamW optimizer: per parameter, moments `m` and `v` (its shape) and a step count `t`.
#[derive(Debug)]
pub struct AdamW {
    config: AdamWConfig,
    slots: Vec<Slot>,
    steps: u64,
}

/// The state file's kind, and its buffer names: tensors `m.<param>` and `v.<param>`.
const KIND: &str = "adamw";
const BUFFERS: &[&str] = &["m", "v"];

impl AdamW {
    /// An optimizer for `groups`, each parameter decayed by its group's weight decay.
    pub fn new(groups: Vec<ParamGroup>, config: AdamWConfig) -> Result<Self> {
        config.check()?;
        Ok(AdamW { config, slots: group::slots(groups, 2)?, steps: 0 })
    }

    /// An optimizer that decays only parameters of rank ≥ 2 (the GPT recipe), by `weight_decay`.
    pub fn no_decay_1d(params: Vec<(String, Tensor)>, weight_decay: f32, config: AdamWConfig) -> Result<Self> {
        AdamW::new(ParamGroup::no_decay_1d(params, weight_decay), config)
    }

    /// The hyperparameters.
    pub fn config(&self) -> AdamWConfig {
        self.config
    }

    /// The learning rate of the next step.
    pub fn lr(&self) -> f32 {
        self.config.lr
    }

    /// Sets the learning rate of the next steps (a schedule calls this before each step).
    pub fn set_lr(&mut self, lr: f32) {
        self.config.lr = lr;
    }

    /// The number of steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Updates every parameter that has a gradient in `grads`, in place; the others (and
    /// their step counts) are left alone, as in PyTorch. A gradient of the wrong shape is an
    /// error naming the parameter, and then nothing is updated.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let gs = group::gather_grads(&self.slots, grads)?;
        let AdamWConfig { lr, beta1, beta2, eps } = self.config;
        // GPU slots to update, by (weight decay, step count): one launch for each
        let mut launches: Vec<(f32, u64, Vec<usize>)> = Vec::new();
        for (i, (slot, grad)) in self.slots.iter_mut().zip(&gs).enumerate() {
            let Some(grad) = grad else { continue };
            slot.steps += 1;
            let buffers = match &mut slot.buffers {
                Buffers::Host(buffers) => buffers,
                Buffers::Device(_) => {
                    match launches.iter_mut().find(|(wd, t, _)| *wd == slot.weight_decay && *t == slot.steps) {
                        Some((_, _, slots)) => slots.push(i),
                        None => launches.push((slot.weight_decay, slot.steps, vec![i])),
                    }
                    continue;
                }
            };
            // Scalars as PyTorch forms them: in f64 (Python floats), then rounded to f32.
            let t = slot.steps as f64;
            let (lr, b1, b2) = (lr as f64, beta1 as f64, beta2 as f64);
            let decay = (1.0 - lr * slot.weight_decay as f64) as f32;
            let w1 = (1.0 - b1) as f32;
            let w2 = (1.0 - b2) as f32;
            let neg_step_size = (-(lr / (1.0 - b1.powf(t)))) as f32;
            let bc2_sqrt = (1.0 - b2.powf(t)).powf(0.5) as f32;
            let [m, v] = &mut buffers[..] else { unreachable!("AdamW slots hold two buffers") };
            let buffers = [m.as_mut_slice(), v.as_mut_slice()];
            group::with_values(grad, |g| group::update_param(&slot.param, g, buffers, |p, g, [m, v]| {
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                    *p *= decay; // p ← p·(1 − lr·wd)
                    *m = lerp(*m, g, w1); // m ← m + (1 − β1)(g − m)
                    *v = *v * beta2 + w2 * g * g; // v ← β2·v + (1 − β2)·g²
                    let denom = v.sqrt() / bc2_sqrt + eps; // √v̂ + ε, v̂ = v / (1 − β2ᵗ)
                    *p += neg_step_size * *m / denom; // p ← p − lr/(1 − β1ᵗ) · m / denom
                }
            }))?;
        }
        for (weight_decay, step, slots) in launches {
            let (mut params, mut gradients, mut exp_avg, mut exp_avg_sq) = (vec![], vec![], vec![], vec![]);
            for i in slots {
                let (slot, Some(grad)) = (&self.slots[i], gs[i]) else { continue };
                let Buffers::Device(moments) = &slot.buffers else { continue };
                let [m, v] = &moments[..] else { unreachable!("AdamW slots hold two buffers") };
                params.push(&slot.param);
                gradients.push(grad);
                exp_avg.push(m);
                exp_avg_sq.push(v);
            }
            let hyper = AdamWStep { lr, beta1, beta2, eps, weight_decay, step };
            adamw_step(&params, &gradients, &exp_avg, &exp_avg_sq, &hyper)?;
        }
        self.steps += 1;
        Ok(())
    }

    /// Saves the state (moments, step counts, hyperparameters, weight decays) to a safetensors
    /// file, atomically; the parameters themselves are saved by [`crate::ParamStore::save`].
    pub fn save_state(&self, path: &Path) -> Result<()> {
        let c = self.config;
        let hyper = [("lr", c.lr), ("beta1", c.beta1), ("beta2", c.beta2), ("eps", c.eps)];
        state::save(path, KIND, BUFFERS, &self.slots, self.steps, &hyper.map(|(k, v)| (k, v.to_string())))
    }

    /// The optimizer saved in `path`, resumed for `params`: every parameter's state must be in
    /// the file with its shape (an error names the tensor otherwise); state in the file for
    /// other parameters is ignored.
    pub fn load_state(path: &Path, params: &[(String, Tensor)]) -> Result<Self> {
        let file = state::open(path, KIND)?;
        let config =
            AdamWConfig { lr: file.get("lr")?, beta1: file.get("beta1")?, beta2: file.get("beta2")?, eps: file.get("eps")? };
        config.check()?;
        Ok(AdamW { config, steps: file.steps, slots: file.slots(params, BUFFERS)? })
    }
}

/// PyTorch's `lerp`: `a + w(b − a)`, written from the nearer end for accuracy.
#[inline(always)]
fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w.abs() < 0.5 { a + w * (b - a) } else { b - (b - a) * (1.0 - w) }
}
