//! The likeliest token of a large output projection (a language model's head) at about half
//! the memory traffic, exactly.
//!
//! Greedy decoding of a small model is bound by reading weights, and the head is the largest
//! of them (flan-t5-small: 512 × 32128 floats, 66 MB, read again for every token). A
//! [`ScreenedHead`] keeps a bfloat16 copy of the head (half the bytes) and the Euclidean norm
//! of each output column. For a hidden row `x` it computes every logit from the copy, then
//! bounds the error of each: a bf16 weight is within 2⁻⁹ of the f32 one relatively, so
//! `|x·w − x·w̃| ≤ 2⁻⁹ Σ|xᵢ wᵢ| ≤ 2⁻⁹ ‖x‖ ‖w‖` (Cauchy–Schwarz), and [`ERROR_FACTOR`] takes
//! 2⁻⁷ to cover the rounding of the sums (and of `x`, should a product round it) with room
//! to spare. Only the tokens whose upper bound reaches the best lower bound can be the f32
//! argmax; their logits are recomputed from the f32 weights and the largest wins (the first
//! of ties, as [`crate::sampling::argmax`]). When more than [`MAX_CANDIDATES`] tokens survive
//! (a near-uniform head, or a NaN), the whole f32 product decides instead.
//!
//! The result is the argmax of the f32 logits; the recomputed logits differ from the full
//! product's only by the order of the f32 sums, as any two f32 kernels do.

use std::sync::{Arc, Mutex};

use loam_nn::{Linear, WeightLayout};
use loam_tensor::{Bf16Matrix, Tensor, TensorId, no_grad};

use crate::error::{LmError, Result};
use crate::sampling::argmax;

/// Bound on the relative error of a bf16 logit: `|logit − logit̃| ≤ ERROR_FACTOR · ‖x‖ ‖w‖`.
pub const ERROR_FACTOR: f32 = 1.0 / 128.0;

/// Past this many surviving tokens, the whole f32 product is computed instead.
pub const MAX_CANDIDATES: usize = 256;

/// A head (f32, `[C, V]` or `[V, C]`) with its bf16 screen.
#[derive(Debug, Clone)]
pub struct ScreenedHead {
    /// The f32 weights as given: `[C, V]`, or `[V, C]` when `out_in`.
    exact: Tensor,
    /// Whether `exact` is `[V, C]` (`[out, in]`, as PyTorch's `Linear` stores it).
    out_in: bool,
    /// The weights `[V, C]` in bfloat16.
    screen: Bf16Matrix,
    /// `‖W[:, j]‖₂` for every output `j`.
    norms: Vec<f32>,
    /// The identity and version of the weights it was made from.
    source: (TensorId, u64),
}

impl ScreenedHead {
    /// The screen of `w` `[C, V]` (f32, `[in, out]`, as an inference `Linear` stores it).
    pub fn new(w: &Tensor) -> Result<ScreenedHead> {
        ScreenedHead::build(w, false)
    }

    /// The screen of `w` `[V, C]` (f32, `[out, in]`, as PyTorch's `Linear` stores it).
    pub fn from_out_in(w: &Tensor) -> Result<ScreenedHead> {
        ScreenedHead::build(w, true)
    }

    fn build(w: &Tensor, out_in: bool) -> Result<ScreenedHead> {
        let _g = no_grad();
        if w.shape().len() != 2 {
            return Err(LmError::Config(format!("a screened head needs a matrix, not {:?}", w.shape())));
        }
        let exact = w.detach().contiguous();
        // [V, C]
        let rows = if out_in { exact.clone() } else { exact.transpose(0, 1)?.contiguous() };
        let c = rows.shape()[1];
        let norms =
            rows.with_slice(|s| s.chunks(c.max(1)).map(|row| row.iter().map(|v| v * v).sum::<f32>().sqrt()).collect());
        let source = (w.id(), w.version());
        Ok(ScreenedHead { screen: Bf16Matrix::from_tensor(&rows)?, exact, out_in, norms, source })
    }

    /// Input width `C`.
    pub fn d_in(&self) -> usize {
        self.exact.shape()[usize::from(self.out_in)]
    }

    /// Output width `V`.
    pub fn d_out(&self) -> usize {
        self.exact.shape()[usize::from(!self.out_in)]
    }

    /// The index of the largest of `x · W` for one hidden row `x` (`C` values): the tokens the
    /// bf16 screen cannot rule out, rescored in f32.
    pub fn argmax(&self, x: &[f32]) -> Result<usize> {
        let (c, v) = (self.d_in(), self.d_out());
        if x.len() != c {
            return Err(LmError::Config(format!(
                "a hidden row of {} values does not fit a head of {c} inputs",
                x.len()
            )));
        }
        let _g = no_grad();
        // approx: [1, V]
        let approx = Tensor::from_slice(x, &[1, c])?.matmul_bf16(&self.screen)?.to_vec();
        let radius = ERROR_FACTOR * x.iter().map(|a| a * a).sum::<f32>().sqrt();
        let floor = approx.iter().zip(&self.norms).map(|(a, n)| a - radius * n).fold(f32::NEG_INFINITY, f32::max);
        let candidates: Vec<usize> =
            (0..v).filter(|&j| approx[j] + radius * self.norms[j] >= floor).take(MAX_CANDIDATES + 1).collect();
        if candidates.is_empty() || candidates.len() > MAX_CANDIDATES {
            let w = if self.out_in { self.exact.transpose(0, 1)? } else { self.exact.clone() };
            // full: [1, V]
            let full = Tensor::from_slice(x, &[1, c])?.matmul(&w)?;
            return Ok(argmax(&full.to_vec()));
        }
        Ok(self.exact.with_slice(|w| {
            let mut best = (candidates[0], f32::NEG_INFINITY);
            for &j in &candidates {
                let logit: f32 = if self.out_in {
                    x.iter().zip(&w[j * c..(j + 1) * c]).map(|(a, b)| a * b).sum()
                } else {
                    x.iter().enumerate().map(|(i, a)| a * w[i * v + j]).sum()
                };
                if logit > best.1 {
                    best = (j, logit);
                }
            }
            best.0
        }))
    }
}

/// A model's screen of its head: made on first use, and again when the head's weights have
/// changed since (a fine-tuning step between two generations), so a screen never answers for
/// other weights. Clones share the screen made so far.
#[derive(Debug, Default)]
pub(crate) struct ScreenCache(Mutex<Option<Arc<ScreenedHead>>>);

impl Clone for ScreenCache {
    fn clone(&self) -> Self {
        ScreenCache(Mutex::new(self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()))
    }
}

impl ScreenCache {
    /// The screen of `w` (`[V, C]` when `out_in`, else `[C, V]`), made if there is none for
    /// these weights at their current version.
    pub(crate) fn get(&self, w: &Tensor, out_in: bool) -> Result<Arc<ScreenedHead>> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(screen) = slot.as_ref().filter(|s| s.source == (w.id(), w.version())) {
            return Ok(Arc::clone(screen));
        }
        let screen = Arc::new(ScreenedHead::build(w, out_in)?);
        *slot = Some(Arc::clone(&screen));
        Ok(screen)
    }

    /// The likeliest token for the one position `x` (the head's input, `C` values): through
    /// the screen of the head's f32 `weights` (as [`ScreenCache::get`] takes them) when there
    /// are some, otherwise the argmax of `logits()`, the head computed in full.
    pub(crate) fn argmax(
        &self,
        weights: Option<(&Tensor, bool)>,
        x: &[f32],
        logits: impl FnOnce() -> Result<Tensor>,
    ) -> Result<usize> {
        match weights {
            Some((w, out_in)) => self.get(w, out_in)?.argmax(x),
            None => Ok(argmax(&logits()?.to_vec())),
        }
    }
}

/// The f32 weight of a head that is a `Linear` without bias, and whether it is stored `[V, C]`
/// (as [`ScreenCache::get`] takes them); `None` for a biased or quantized one, whose logits
/// are computed in full.
pub(crate) fn linear_weights(head: &Linear) -> Option<(&Tensor, bool)> {
    if head.bias.is_some() {
        return None;
    }
    head.weight.f32().ok().map(|w| (w, head.layout == WeightLayout::OutIn))
}

#[cfg(test)]
mod tests {
    use loam_tensor::Rng;

    use super::*;

    fn random(rng: &mut Rng, n: usize, std: f32) -> Vec<f32> {
        (0..n).map(|_| rng.normal() * std).collect()
    }

    #[test]
    fn picks_the_f32_argmax_of_random_heads() {
        let mut rng = Rng::new(7);
        let (c, v) = (64, 3000);
        let w = Tensor::from_vec(random(&mut rng, c * v, 1.0), &[c, v]).unwrap();
        let head = ScreenedHead::new(&w).unwrap();
        let flipped = ScreenedHead::from_out_in(&w.transpose(0, 1).unwrap().contiguous()).unwrap();
        assert_eq!((flipped.d_in(), flipped.d_out()), (c, v));
        for _ in 0..50 {
            let x = random(&mut rng, c, 1.0);
            let full = argmax(&Tensor::from_slice(&x, &[1, c]).unwrap().matmul(&w).unwrap().to_vec());
            assert_eq!(head.argmax(&x).unwrap(), full);
            assert_eq!(flipped.argmax(&x).unwrap(), full);
        }
    }

    #[test]
    fn finds_a_winner_the_bf16_copy_alone_would_miss() {
        // two columns equal in bf16 but not in f32: only the f32 rescoring tells them apart
        let c = 8;
        let mut w = vec![0.0f32; c * 4];
        for i in 0..c {
            w[i * 4 + 1] = 1.0;
            w[i * 4 + 2] = 1.0 + 1e-4;
        }
        let head = ScreenedHead::new(&Tensor::from_vec(w, &[c, 4]).unwrap()).unwrap();
        assert_eq!(head.argmax(&[1.0; 8]).unwrap(), 2);
        assert_eq!(head.argmax(&[-1.0; 8]).unwrap(), 0);
    }

    #[test]
    fn falls_back_to_the_full_product_when_everything_ties() {
        let (c, v) = (4, MAX_CANDIDATES + 10);
        let head = ScreenedHead::new(&Tensor::from_vec(vec![0.5; c * v], &[c, v]).unwrap()).unwrap();
        assert_eq!(head.argmax(&[1.0; 4]).unwrap(), 0);
        assert_eq!(head.argmax(&[f32::NAN; 4]).unwrap(), 0);
    }

    #[test]
    fn refuses_a_row_of_the_wrong_width() {
        let head = ScreenedHead::new(&Tensor::from_vec(vec![1.0; 6], &[2, 3]).unwrap()).unwrap();
        let err = head.argmax(&[1.0; 3]).unwrap_err().to_string();
        assert!(err.contains("3 values") && err.contains("2 inputs"), "{err}");
    }
}
