//! Optimizers, learning-rate schedules, gradient clipping and accumulation.
//!
//! Optimizers take [`ParamGroup`]s (parameters sharing a weight decay), update the variables in
//! place from a [`loam_tensor::GradStore`], and save their state to safetensors so that
//! training resumes bit for bit. Each follows PyTorch's algorithm and order of operations.
//!
//! ```
//! use loam_nn::ParamStore;
//! use loam_nn::optim::{AdamW, AdamWConfig, Schedule, clip_grad_norm};
//! use loam_tensor::Tensor;
//!
//! # fn main() -> loam_nn::Result<()> {
//! let store = ParamStore::new(0);
//! let w = store.insert("fc.weight", &Tensor::ones(&[2, 3]));
//! let b = store.insert("fc.bias", &Tensor::zeros(&[3]));
//! let params = store.trainable();
//! let mut opt = AdamW::no_decay_1d(params.clone(), 0.1, AdamWConfig { lr: 6e-4, ..Default::default() })?;
//! let schedule = Schedule::WarmupCosine { lr: 6e-4, min_lr: 6e-5, warmup: 10, total: 100 };
//! for step in 0..3 {
//!     let x = Tensor::ones(&[4, 2]);
//!     let loss = x.matmul(&w)?.add(&b)?.powf(2.0).mean_all();
//!     let mut grads = loss.backward()?;
//!     let _norm = clip_grad_norm(&mut grads, params.iter().map(|(_, t)| t), 1.0)?;
//!     opt.set_lr(schedule.lr(step));
//!     opt.step(&grads)?;
//! }
//! assert_eq!(opt.steps(), 3);
//! # Ok(())
//! # }
//! ```

mod accumulate;
mod adamw;
mod clip;
mod group;
mod schedule;
mod sgd;
mod state;

pub use accumulate::GradAccumulator;
pub use adamw::{AdamW, AdamWConfig};
pub use clip::clip_grad_norm;
pub use group::ParamGroup;
pub use schedule::Schedule;
pub use sgd::{Sgd, SgdConfig};
