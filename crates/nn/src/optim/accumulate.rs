//! Gradient accumulation: a batch too large for one pass is split into micro-batches whose
//! gradients are summed and then averaged.

use loam_tensor::{GradStore, Tensor};

use crate::error::{NnError, Result};

/// Sums the gradients of a fixed list of parameters over micro-batches; [`Self::finish`] hands
/// back their mean. With equal micro-batches and a mean loss, that is the big batch's gradient.
#[derive(Debug)]
pub struct GradAccumulator {
    params: Vec<Tensor>,
    sums: Vec<Option<Tensor>>,
    count: usize,
}

impl GradAccumulator {
    /// An empty accumulator for `params`.
    pub fn new<'a>(params: impl IntoIterator<Item = &'a Tensor>) -> Self {
        let params: Vec<Tensor> = params.into_iter().cloned().collect();
        let sums = vec![None; params.len()];
        GradAccumulator { params, sums, count: 0 }
    }

    /// The number of micro-batches added since the last [`Self::finish`].
    pub fn count(&self) -> usize {
        self.count
    }

    /// Adds one micro-batch's gradients; parameters without a gradient in `grads` add nothing.
    pub fn add(&mut self, grads: &GradStore) -> Result<()> {
        for (p, sum) in self.params.iter().zip(&mut self.sums) {
            let Some(g) = grads.get(p) else { continue };
            *sum = Some(match sum.take() {
                None => g.clone(),
                Some(s) => s.add(g)?, // Σ g, shape of p
            });
        }
        self.count += 1;
        Ok(())
    }

    /// The mean gradient, `Σ g · (1/n)` over the `n` micro-batches added, and a reset; an error
    /// when none was added.
    pub fn finish(&mut self) -> Result<GradStore> {
        if self.count == 0 {
            return Err(NnError::Config("no micro-batch was accumulated".into()));
        }
        let scale = 1.0 / self.count as f32;
        let mut out = GradStore::default();
        for (p, sum) in self.params.iter().zip(&mut self.sums) {
            if let Some(s) = sum.take() {
                out.insert(p, s.mul_scalar(scale));
            }
        }
        self.count = 0;
        Ok(out)
    }
}
