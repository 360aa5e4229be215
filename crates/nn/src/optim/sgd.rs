//! Stochastic gradient descent with momentum, dampening, Nesterov momentum and (coupled)
//! weight decay, computed as PyTorch's `torch.optim.SGD` computes it. It updates parameters
//! on the CPU; a GPU parameter is refused when the optimizer is made (AdamW runs on both).

use std::path::Path;

use loam_tensor::{Device, GradStore, Tensor};

use crate::error::{NnError, Result};
use crate::optim::group::{self, Buffers, ParamGroup, Slot};
use crate::optim::state;

/// SGD's hyperparameters besides weight decay (which belongs to the [`ParamGroup`]s).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// The learning rate (default 1e-3).
    pub lr: f32,
    /// The momentum factor; 0 (the default) is plain SGD.
    pub momentum: f32,
    /// The share of the gradient held back from the momentum buffer (default 0).
    pub dampening: f32,
    /// Whether to step along the Nesterov look-ahead `g + μ·buf` (default false).
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 1e-3, momentum: 0.0, dampening: 0.0, nesterov: false }
    }
}

impl SgdConfig {
    fn check(&self) -> Result<()> {
        let finite = [self.lr, self.momentum, self.dampening].iter().all(|x| x.is_finite() && *x >= 0.0);
        if !finite {
            return Err(NnError::Config(format!("invalid SGD hyperparameters {self:?}")));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(NnError::Config("Nesterov momentum needs a momentum > 0 and zero dampening".into()));
        }
        Ok(())
    }

    /// The buffers this configuration keeps: a momentum buffer only when momentum is on.
    fn buffers(&self) -> &'static [&'static str] {
        if self.momentum != 0.0 { &["momentum_buffer"] } else { &[] }
    }
}

/// The SGD optimizer: per parameter, a momentum buffer (its shape) when momentum is on.
#[derive(Debug)]
pub struct Sgd {
    config: SgdConfig,
    slots: Vec<Slot>,
    steps: u64,
}

/// The state file's kind; its tensors are `momentum_buffer.<param>`.
const KIND: &str = "sgd";

impl Sgd {
    /// An optimizer for `groups`, each parameter decayed by its group's weight decay.
    pub fn new(groups: Vec<ParamGroup>, config: SgdConfig) -> Result<Self> {
        config.check()?;
        Ok(Sgd { config, slots: cpu_only(group::slots(groups, config.buffers().len())?)?, steps: 0 })
    }

    /// The hyperparameters.
    pub fn config(&self) -> SgdConfig {
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

    /// Updates every parameter that has a gradient in `grads`, in place; the others are left
    /// alone, as in PyTorch. A gradient of the wrong shape is an error naming the parameter,
    /// and then nothing is updated.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        let gs = group::gather_grads(&self.slots, grads)?;
        let SgdConfig { lr, momentum, dampening, nesterov } = self.config;
        let neg_lr = -lr;
        let keep = (1.0 - dampening as f64) as f32;
        for (slot, grad) in self.slots.iter_mut().zip(gs) {
            let Some(grad) = grad else { continue };
            let first = slot.steps == 0;
            slot.steps += 1;
            let wd = slot.weight_decay;
            let param = &slot.param;
            let Buffers::Host(buffers) = &mut slot.buffers else { unreachable!("SGD holds CPU parameters only") };
            group::with_values(grad, |g| match &mut buffers[..] {
                [] => group::update_param(param, g, [], |p, g, []| {
                    for (p, &g) in p.iter_mut().zip(g) {
                        let d = if wd != 0.0 { g + wd * *p } else { g }; // d ← g + wd·p
                        *p += neg_lr * d; // p ← p − lr·d
                    }
                }),
                [buf] => group::update_param(param, g, [buf.as_mut_slice()], |p, g, [buf]| {
                    for ((p, &g), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
                        let d = if wd != 0.0 { g + wd * *p } else { g }; // d ← g + wd·p
                        // b ← d on the first step, then b ← μ·b + (1 − dampening)·d
                        *b = if first { d } else { *b * momentum + keep * d };
                        let d = if nesterov { d + momentum * *b } else { *b }; // d + μ·b or b
                        *p += neg_lr * d; // p ← p − lr·d
                    }
                }),
                _ => unreachable!("SGD slots hold at most one buffer"),
            })?;
        }
        self.steps += 1;
        Ok(())
    }

    /// Saves the state (momentum buffers, step counts, hyperparameters, weight decays) to a
    /// safetensors file, atomically; the parameters are saved by [`crate::ParamStore::save`].
    pub fn save_state(&self, path: &Path) -> Result<()> {
        let c = self.config;
        let hyper = [
            ("lr", c.lr.to_string()),
            ("momentum", c.momentum.to_string()),
            ("dampening", c.dampening.to_string()),
            ("nesterov", c.nesterov.to_string()),
        ];
        state::save(path, KIND, c.buffers(), &self.slots, self.steps, &hyper)
    }

    /// The optimizer saved in `path`, resumed for `params`: every parameter's state must be in
    /// the file with its shape (an error names the tensor otherwise); state in the file for
    /// other parameters is ignored.
    pub fn load_state(path: &Path, params: &[(String, Tensor)]) -> Result<Self> {
        let file = state::open(path, KIND)?;
        let config = SgdConfig {
            lr: file.get("lr")?,
            momentum: file.get("momentum")?,
            dampening: file.get("dampening")?,
            nesterov: file.get("nesterov")?,
        };
        config.check()?;
        Ok(Sgd { config, steps: file.steps, slots: cpu_only(file.slots(params, config.buffers())?)? })
    }
}

/// `slots`, when every parameter is on the CPU; else an error naming the first that is not.
fn cpu_only(slots: Vec<Slot>) -> Result<Vec<Slot>> {
    match slots.iter().find(|s| s.param.device() != Device::Cpu) {
        Some(s) => Err(NnError::Config(format!(
            "SGD updates parameters on the CPU only, and `{}` is on {}; use AdamW there",
            s.name,
            s.param.device()
        ))),
        None => Ok(slots),
    }
}
