//! The forward context: training or evaluation, and the random stream dropout draws from.

use loam_tensor::Rng;

/// Whether a forward pass trains (dropout active) and the generator its dropout masks come
/// from. A trainer makes one per step from (seed, step), so a resumed run draws the same masks.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Dropout is applied only when true.
    pub train: bool,
    /// The generator dropout masks are drawn from.
    pub rng: Rng,
}

impl Ctx {
    /// Evaluation: no dropout.
    pub fn eval() -> Self {
        Ctx { train: false, rng: Rng::new(0) }
    }

    /// Training with masks drawn from `seed`.
    pub fn train(seed: u64) -> Self {
        Ctx { train: true, rng: Rng::new(seed) }
    }
}
