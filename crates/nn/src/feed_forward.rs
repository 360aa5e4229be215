//! The position-wise feed-forward block: Linear → activation → Linear.

use loam_tensor::Tensor;

use crate::activation::Activation;
use crate::error::Result;
use crate::linear::Linear;
use crate::module::Module;
use crate::store::Builder;

/// up-projection, activation, down-projection (`d → hidden → d`).
#[derive(Debug, Clone)]
pub struct FeedForward {
    /// `d → hidden`.
    pub up: Linear,
    /// `hidden → d`.
    pub down: Linear,
    /// The activation between them.
    pub act: Activation,
}

impl FeedForward {
    /// A block of width `d` and inner width `hidden` (commonly 4·d), parameters `fc1`/`fc2`.
    pub fn new(d: usize, hidden: usize, act: Activation, bias: bool, vb: Builder) -> Result<FeedForward> {
        Ok(FeedForward {
            up: Linear::new(d, hidden, bias, vb.pp("fc1"))?,
            down: Linear::new(hidden, d, bias, vb.pp("fc2"))?,
            act,
        })
    }
}

impl Module for FeedForward {
    // x: (…, d) → (…, d)
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.act.forward(&self.up.forward(x)?);
        self.down.forward(&h)
    }
}
