//! What generation needs of a decoder-only language model, so that one set of decoding loops
//! (greedy, sampling, batches, streaming) serves every model family loam runs.

use loam_nn::{Ctx, KvCache};
use loam_tensor::{Device, Tensor};

use crate::error::Result;

/// A decoder-only language model: next-token logits with a per-layer KV cache.
pub trait CausalLm: Send + Sync {
    /// Number of token ids the model knows.
    fn vocab_size(&self) -> usize;

    /// The longest context the model takes (positions).
    fn max_positions(&self) -> usize;

    /// Empty caches, one per layer.
    fn new_cache(&self) -> Vec<KvCache>;

    /// The device the model computes on: the CPU unless the model says otherwise. Work on a
    /// GPU model runs on the calling thread, not split over CPU workers.
    fn device(&self) -> Device {
        Device::Cpu
    }

    /// Logits `[B, T, vocab]` of `ids` (`B × T`, row-major). Row `r` may start with
    /// `left_pad[r]` padding tokens, which no position attends to and which do not count as
    /// positions. With a cache, `ids` holds only the new positions.
    fn forward_padded(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        left_pad: Option<&[usize]>,
        cache: Option<&mut Vec<KvCache>>,
        ctx: &mut Ctx,
    ) -> Result<Tensor>;

    /// Logits `[B, 1, vocab]` of the last position of each row only, as
    /// [`CausalLm::forward_padded`] computes them: what a generation step reads. Models may skip
    /// the output head for the other positions; the default computes them all and keeps the last.
    fn forward_last(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        left_pad: Option<&[usize]>,
        cache: Option<&mut Vec<KvCache>>,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        let logits = self.forward_padded(ids, b, t, left_pad, cache, ctx)?;
        Ok(logits.narrow(1, t.saturating_sub(1), 1)?)
    }

    /// The likeliest next token after `ids` (one row: the positions not yet in `cache`, which
    /// takes them): the argmax of [`CausalLm::forward_last`]'s logits (the first of ties),
    /// which a model may find without computing every logit (Llama and GPT-2 screen an f32
    /// head in bf16, exactly).
    fn next_greedy(&self, ids: &[usize], cache: &mut Vec<KvCache>, ctx: &mut Ctx) -> Result<usize> {
        let logits = self.forward_last(ids, 1, ids.len(), None, Some(cache), ctx)?;
        Ok(crate::sampling::argmax(&logits.to_vec()))
    }

    /// Logits `[B, T, vocab]` of `ids` (`B × T`, row-major), continuing the cache when given.
    fn forward(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        cache: Option<&mut Vec<KvCache>>,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        self.forward_padded(ids, b, t, None, cache, ctx)
    }
}
