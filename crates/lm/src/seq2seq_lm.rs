//! What decoding needs of an encoder–decoder language model (T5, BART, loam's own
//! Transformer), so that one set of decoding loops (greedy, sampling, beam search) serves every
//! such model, as [`crate::CausalLm`] does for decoder-only ones.
//!
//! Decoding runs in two phases: the source batch is encoded once ([`Seq2SeqLm::encode`]), then
//! the decoder is called for new target positions ([`Seq2SeqLm::decode`]) with a
//! [`Seq2SeqCache`]: per-layer self-attention keys/values that grow by the positions fed, and
//! per-layer cross-attention keys/values projected from the encoder output on the first call
//! and reused after. Beam search reorders the rows of the cache ([`Seq2SeqCache::reorder`]) and
//! of the encoder output ([`EncoderOutput::select_rows`]) as beams are kept and dropped.

use loam_nn::{Ctx, KvCache};
use loam_tensor::Tensor;

use crate::error::{LmError, Result};

/// The encoder's output for a right-padded source batch.
#[derive(Debug, Clone)]
pub struct EncoderOutput {
    /// `[B, S, C]` final hidden states; positions past a row's length are padding.
    pub hidden: Tensor,
    /// The number of real (unpadded) source tokens of each row, `B` values.
    pub lengths: Vec<usize>,
}

impl EncoderOutput {
    /// The number of rows `B`.
    pub fn batch(&self) -> usize {
        self.lengths.len()
    }

    /// The rows `rows` (indices into this batch, repeats allowed) as a new batch: row `i` of
    /// the result is row `rows[i]` of this one. Beam search calls it with each source row
    /// repeated `num_beams` times.
    pub fn select_rows(&self, rows: &[usize]) -> Result<EncoderOutput> {
        check_rows(rows, self.batch())?;
        Ok(EncoderOutput {
            // [B, S, C] → [rows.len(), S, C]
            hidden: self.hidden.index_select(0, rows)?,
            lengths: rows.iter().map(|&r| self.lengths[r]).collect(),
        })
    }
}

/// The decoder's state while generating: a self-attention cache and a cross-attention cache
/// per layer, and which source row each decoder row reads.
#[derive(Debug, Clone)]
pub struct Seq2SeqCache {
    /// Per layer, the keys/values `[B, H, T, D]` of the target positions decoded so far.
    pub self_attn: Vec<KvCache>,
    /// Per layer, the keys/values `[B, H, S, D]` projected from the encoder output; empty
    /// until the first [`Seq2SeqLm::decode`] fills them.
    pub cross_attn: Vec<KvCache>,
    /// For each decoder row, the row of the encoder output it was created from; rows that
    /// share a source share cross-attention keys/values, so a reorder that keeps every row on
    /// its source leaves them in place.
    pub source_rows: Vec<usize>,
}

impl Seq2SeqCache {
    /// Empty caches for `layers` decoder layers over an encoder output of `batch` rows.
    pub fn new(layers: usize, batch: usize) -> Seq2SeqCache {
        Seq2SeqCache {
            self_attn: vec![KvCache::new(); layers],
            cross_attn: vec![KvCache::new(); layers],
            source_rows: (0..batch).collect(),
        }
    }

    /// The number of target positions decoded so far.
    pub fn len(&self) -> usize {
        self.self_attn.first().map_or(0, KvCache::len)
    }

    /// Whether no target position has been decoded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps rows `rows` of the batch, in that order (repeats allowed): row `i` becomes old
    /// row `rows[i]`. Cross-attention keys/values move only when some row changes source, and
    /// nothing moves when every row stays in place.
    pub fn reorder(&mut self, rows: &[usize]) -> Result<()> {
        check_rows(rows, self.source_rows.len())?;
        if is_identity(rows, self.source_rows.len()) {
            return Ok(());
        }
        reorder_caches(&mut self.self_attn, rows)?;
        let sources: Vec<usize> = rows.iter().map(|&r| self.source_rows[r]).collect();
        if sources != self.source_rows {
            reorder_caches(&mut self.cross_attn, rows)?;
            self.source_rows = sources;
        }
        Ok(())
    }
}

/// Whether `rows` keeps a batch of `batch` rows as it is.
fn is_identity(rows: &[usize], batch: usize) -> bool {
    rows.len() == batch && rows.iter().enumerate().all(|(i, &r)| i == r)
}

/// Reorders the batch axis of each cache: row `i` becomes old row `rows[i]` (empty caches stay
/// empty, and a cache is left as it is when every row stays in place). Beam search uses it for
/// decoder-only models' caches too.
pub fn reorder_caches(caches: &mut [KvCache], rows: &[usize]) -> Result<()> {
    for cache in caches.iter_mut() {
        if let Some(batch) = cache.batch() {
            check_rows(rows, batch)?;
            if is_identity(rows, batch) {
                continue;
            }
            // [B, H, T, D] → [rows.len(), H, T, D]
            cache.select_rows(rows)?;
        }
    }
    Ok(())
}

/// Fails when a row index is outside a batch of `batch` rows.
fn check_rows(rows: &[usize], batch: usize) -> Result<()> {
    match rows.iter().find(|&&r| r >= batch) {
        Some(r) => Err(LmError::Config(format!(
            "row {r} is outside a batch of {batch} rows"
        ))),
        None => Ok(()),
    }
}

/// An encoder–decoder language model: encode a source batch once, then next-token logits of
/// the decoder with a [`Seq2SeqCache`].
pub trait Seq2SeqLm: Send + Sync {
    /// Number of token ids the decoder predicts.
    fn vocab_size(&self) -> usize;

    /// The longest source the encoder takes, if it has a limit (learned positions).
    fn max_source_positions(&self) -> Option<usize>;

    /// The longest target the decoder takes, if it has a limit (learned positions).
    fn max_target_positions(&self) -> Option<usize>;

    /// The token every target starts with (T5: the pad id; BART: `</s>`).
    fn decoder_start_token_id(&self) -> usize;

    /// The ids that end a target.
    fn eos_token_ids(&self) -> Vec<u32>;

    /// The padding id (fills finished rows and the source's padding).
    fn pad_token_id(&self) -> usize;

    /// The token forced as the first generated one (BART's `forced_bos_token_id`), if any.
    fn forced_bos_token_id(&self) -> Option<usize> {
        None
    }

    /// The token forced when the target reaches its maximum length (BART's
    /// `forced_eos_token_id`), if any.
    fn forced_eos_token_id(&self) -> Option<usize> {
        None
    }

    /// Number of decoder layers (the length of a cache's layer lists).
    fn decoder_layers(&self) -> usize;

    /// Encodes `ids` (`B × S`, row-major, right-padded): row `r` holds `lengths[r]` real
    /// tokens followed by padding that no position attends to.
    fn encode(
        &self,
        ids: &[usize],
        b: usize,
        s: usize,
        lengths: &[usize],
        ctx: &mut Ctx,
    ) -> Result<EncoderOutput>;

    /// Decoder logits `[B, T, vocab]` of the target ids `ids` (`B × T`, row-major) attending
    /// to `encoded`. With a cache, `ids` holds only the new positions, which follow the
    /// cached ones; the first call fills its cross-attention keys/values from `encoded`.
    fn decode(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        encoded: &EncoderOutput,
        cache: Option<&mut Seq2SeqCache>,
        ctx: &mut Ctx,
    ) -> Result<Tensor>;

    /// The likeliest next token after `last`, the newest target id of a one-row batch decoded
    /// with `cache`: the argmax of [`Seq2SeqLm::decode`]'s logits (the first of ties), which a
    /// model may find without computing every logit (T5 screens its head in bf16, exactly).
    fn next_greedy(
        &self,
        last: usize,
        encoded: &EncoderOutput,
        cache: &mut Seq2SeqCache,
        ctx: &mut Ctx,
    ) -> Result<usize> {
        let logits = self.decode(&[last], 1, 1, encoded, Some(cache), ctx)?;
        Ok(crate::sampling::argmax(&logits.to_vec()))
    }

    /// An empty cache for decoding over `encoded`.
    fn new_cache(&self, encoded: &EncoderOutput) -> Seq2SeqCache {
        Seq2SeqCache::new(self.decoder_layers(), encoded.batch())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache_of(rows: &[f32]) -> KvCache {
        // [B, 1, 1, 1]: one value per row
        let t = Tensor::from_vec(rows.to_vec(), &[rows.len(), 1, 1, 1]).expect("shape");
        let mut c = KvCache::new();
        c.set(t.clone(), t);
        c
    }

    fn rows_of(c: &KvCache) -> Vec<f32> {
        c.get().expect("readable cache").map(|(k, _)| k.to_vec()).unwrap_or_default()
    }

    #[test]
    fn reorder_moves_self_attention_and_keeps_cross_attention_of_the_same_source() {
        let mut cache = Seq2SeqCache {
            self_attn: vec![cache_of(&[0.0, 1.0, 2.0, 3.0])],
            cross_attn: vec![cache_of(&[10.0, 10.0, 20.0, 20.0])],
            source_rows: vec![0, 0, 1, 1],
        };
        cache.reorder(&[1, 1, 3, 2]).expect("in range");
        assert_eq!(rows_of(&cache.self_attn[0]), vec![1.0, 1.0, 3.0, 2.0]);
        assert_eq!(rows_of(&cache.cross_attn[0]), vec![10.0, 10.0, 20.0, 20.0]);
        // a row taken from the other source moves its cross-attention too
        cache.reorder(&[2, 0]).expect("in range");
        assert_eq!(rows_of(&cache.self_attn[0]), vec![3.0, 1.0]);
        assert_eq!(rows_of(&cache.cross_attn[0]), vec![20.0, 10.0]);
        assert_eq!(cache.source_rows, vec![1, 0]);
        assert!(
            cache
                .reorder(&[2])
                .unwrap_err()
                .to_string()
                .contains("row 2 is outside a batch of 2")
        );
    }

    #[test]
    fn encoder_rows_are_selected_with_their_lengths() {
        let hidden = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2, 1]).expect("shape");
        let out = EncoderOutput {
            hidden,
            lengths: vec![2, 1],
        };
        let picked = out.select_rows(&[1, 1, 0]).expect("in range");
        assert_eq!(picked.hidden.to_vec(), vec![3.0, 4.0, 3.0, 4.0, 1.0, 2.0]);
        assert_eq!(picked.lengths, vec![1, 1, 2]);
        assert!(out.select_rows(&[5]).is_err());
    }
}
