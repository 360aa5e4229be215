//! Dropout as a layer: active only in training contexts.

use loam_tensor::Tensor;

use crate::ctx::Ctx;
use crate::error::Result;

/// Zeroes elements with probability `p` during training (inverted scaling).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// The drop probability, in `[0, 1)`.
    pub p: f32,
}

impl Dropout {
    /// A dropout layer with probability `p`.
    pub fn new(p: f32) -> Dropout {
        Dropout { p }
    }

    /// `x` unchanged in evaluation; masked and rescaled in training.
    // x: (D…) → (D…)
    pub fn forward_t(&self, x: &Tensor, ctx: &mut Ctx) -> Result<Tensor> {
        if !ctx.train || self.p == 0.0 {
            return Ok(x.clone());
        }
        Ok(x.dropout(self.p, &mut ctx.rng)?)
    }
}
