//! Clipping gradients by their global L2 norm, as PyTorch's `clip_grad_norm_`.

use std::collections::HashSet;

use loam_tensor::{Device, GradStore, Tensor};
use rayon::prelude::*;

use crate::error::{NnError, Result};
use crate::optim::group;

/// Elements per partial sum: fixed chunks keep the norm identical whatever the thread count.
const CHUNK: usize = 1 << 14;

/// The sum of squares of `values`, in f64, over fixed chunks (deterministic).
fn sum_sq(values: &[f32]) -> f64 {
    let partial: Vec<f64> =
        values.par_chunks(CHUNK).map(|c| c.iter().map(|&x| x as f64 * x as f64).sum::<f64>()).collect();
    partial.iter().sum()
}

/// The sum of squares of `grads`: of host gradients in f64 over fixed chunks; of GPU gradients
/// in f32 on their device, added up there, so that one scalar comes back.
fn grads_sum_sq<'a>(grads: impl Iterator<Item = &'a Tensor>) -> Result<f64> {
    let (mut host, mut device) = (0.0f64, None::<Tensor>);
    for g in grads {
        if g.device() == Device::Cpu {
            host += group::with_values(g, sum_sq);
        } else {
            let s = g.mul(g)?.sum_all(); // Σ g², a scalar on g's device
            device = Some(match device.take() {
                Some(d) => d.add(&s)?,
                None => s,
            });
        }
    }
    Ok(host + device.map(|d| d.to_scalar()).transpose()?.map_or(0.0, f64::from))
}

/// Scales the gradients of `params` in `grads` by `max_norm/(norm + 1e-6)` when that is below 1,
/// where `norm` is the L2 norm of all of them together (computed in f64; a GPU gradient's
/// sum of squares in f32 on its device); returns `norm`, from before clipping. Parameters without a gradient are skipped, one listed twice counts once.
/// A non-finite norm is returned as is and the gradients are left unchanged, so the caller can
/// skip the step.
pub fn clip_grad_norm<'a>(
    grads: &mut GradStore,
    params: impl IntoIterator<Item = &'a Tensor>,
    max_norm: f32,
) -> Result<f32> {
    if !(max_norm.is_finite() && max_norm >= 0.0) {
        return Err(NnError::Config(format!("max_norm must be finite and non-negative, got {max_norm}")));
    }
    let mut seen = HashSet::new();
    let params: Vec<&Tensor> = params.into_iter().filter(|p| seen.insert(p.id()) && grads.get(p).is_some()).collect();
    // ‖g‖ = √(Σ_params Σ_i g_i²)
    let norm = grads_sum_sq(params.iter().filter_map(|p| grads.get(p)))?.sqrt();
    let coef = max_norm as f64 / (norm + 1e-6);
    if norm.is_finite() && coef < 1.0 {
        for p in params {
            if let Some(g) = grads.get(p) {
                let scaled = g.mul_scalar(coef as f32);
                grads.insert(p, scaled);
            }
        }
    }
    Ok(norm as f32)
}
