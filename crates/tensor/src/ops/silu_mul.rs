//! SwiGLU's gate for inference in one pass: `silu(gate) ⊙ up`, which the composed form runs
//! as two ops (two passes over memory, two new buffers), with the vectorizable exponential
//! of the softmax instead of libm's. There is no backward: training keeps `silu().mul()`.

use crate::backprop::grad_enabled;
use crate::error::{Result, TensorError};
use crate::kernel::{exp_nonpositive, map2};
use crate::tensor::Tensor;

const OP: &str = "silu_mul";

/// silu(g)·u = g·σ(g)·u, σ from e^(−|g|) ≤ 1 on both sides of 0 (no overflow).
#[inline(always)]
fn silu_mul(g: f32, u: f32) -> f32 {
    let e = exp_nonpositive(-g.abs());
    let sigma = if g >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
    g * sigma * u
}

impl Tensor {
    /// `silu(self) ⊙ up` (SwiGLU's gate times its up projection), both of the same shape.
    /// Inference only: an input that tracks gradients is an error unless gradients are off.
    // gate: (…), up: (…) → (…)
    pub fn silu_mul(&self, up: &Tensor) -> Result<Tensor> {
        self.cpu_only(OP)?;
        up.cpu_only(OP)?;
        if self.shape() != up.shape() {
            return Err(TensorError::ShapeMismatch {
                op: OP,
                lhs: self.shape().to_vec(),
                rhs: up.shape().to_vec(),
                detail: "the gate and the up projection must have the same shape".into(),
            });
        }
        if grad_enabled() && (self.tracks_grad() || up.tracks_grad()) {
            return Err(TensorError::invalid(OP, "has no backward: train with silu().mul() (or under no_grad)"));
        }
        let (g, u) = (self.arr(), up.arr());
        Ok(Tensor::from_array(map2(g.view(), u.view(), silu_mul)))
    }
}

#[cfg(test)]
mod tests {
    use crate::{Rng, Tensor, no_grad};

    #[test]
    fn matches_silu_then_mul() {
        let mut rng = Rng::new(8);
        let g = Tensor::randn(&[3, 70_000], 0.0, 4.0, &mut rng);
        let u = Tensor::randn(&[3, 70_000], 0.0, 1.0, &mut rng);
        let want = g.silu().mul(&u).unwrap().to_vec();
        let got = g.silu_mul(&u).unwrap().to_vec();
        for (a, b) in want.iter().zip(&got) {
            assert!((a - b).abs() <= 1e-6 * (1.0 + a.abs()), "{a} vs {b}");
        }
        assert_eq!(
            Tensor::from_vec(vec![-200.0, 0.0, 200.0], &[3]).unwrap().silu_mul(&Tensor::ones(&[3])).unwrap().to_vec(),
            vec![0.0, 0.0, 200.0]
        );
    }

    #[test]
    fn mismatched_shapes_and_tracked_inputs_are_errors() {
        let (g, u) = (Tensor::ones(&[2, 3]), Tensor::ones(&[3, 2]));
        assert!(g.silu_mul(&u).unwrap_err().to_string().contains("same shape"));
        let v = Tensor::ones(&[2, 3]).to_var();
        assert!(v.silu_mul(&g).unwrap_err().to_string().contains("no backward"));
        let _n = no_grad();
        assert!(v.silu_mul(&g).is_ok());
    }
}
