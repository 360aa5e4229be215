//! [`Seq2SeqLm`] for loam's encoder–decoder, so the shared decoding loops (greedy, sampling,
//! beam search) and `cargo xtask generate` run it as they run T5 and BART.

use loam_nn::{Ctx, DecoderCache};
use loam_tensor::Tensor;

use crate::error::{LmError, Result};
use crate::seq2seq::model::Seq2Seq;
use crate::seq2seq_lm::{EncoderOutput, Seq2SeqCache, Seq2SeqLm};

impl Seq2SeqLm for Seq2Seq {
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    fn max_source_positions(&self) -> Option<usize> {
        Some(self.config.block_size)
    }

    fn max_target_positions(&self) -> Option<usize> {
        // learned and sinusoidal tables alike hold block_size positions
        Some(self.config.block_size)
    }

    fn decoder_start_token_id(&self) -> usize {
        self.config.bos_id
    }

    fn eos_token_ids(&self) -> Vec<u32> {
        vec![self.config.eos_id as u32]
    }

    fn pad_token_id(&self) -> usize {
        self.config.pad_id
    }

    fn decoder_layers(&self) -> usize {
        self.config.decoder_layers()
    }

    fn encode(
        &self,
        ids: &[usize],
        b: usize,
        s: usize,
        lengths: &[usize],
        ctx: &mut Ctx,
    ) -> Result<EncoderOutput> {
        Ok(EncoderOutput {
            hidden: Seq2Seq::encode(self, ids, b, s, lengths, ctx)?,
            lengths: lengths.to_vec(),
        })
    }

    fn decode(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        encoded: &EncoderOutput,
        cache: Option<&mut Seq2SeqCache>,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        let Some(cache) = cache else {
            return Seq2Seq::decode(
                self,
                ids,
                b,
                t,
                &encoded.hidden,
                &encoded.lengths,
                None,
                ctx,
            );
        };
        let layers = self.config.decoder_layers();
        if cache.self_attn.len() != layers || cache.cross_attn.len() != layers {
            return Err(LmError::Config(format!(
                "a cache of {} layers for a decoder of {layers}",
                cache.self_attn.len()
            )));
        }
        // the layers' caches move into the per-layer form the decoder layers take, and back
        let mut layer_caches: Vec<DecoderCache> = cache
            .self_attn
            .iter_mut()
            .zip(cache.cross_attn.iter_mut())
            .map(|(s, c)| DecoderCache {
                self_attn: std::mem::take(s),
                cross_attn: std::mem::take(c),
            })
            .collect();
        let logits = Seq2Seq::decode(
            self,
            ids,
            b,
            t,
            &encoded.hidden,
            &encoded.lengths,
            Some(&mut layer_caches),
            ctx,
        );
        for ((s, c), layer) in cache
            .self_attn
            .iter_mut()
            .zip(cache.cross_attn.iter_mut())
            .zip(layer_caches)
        {
            (*s, *c) = (layer.self_attn, layer.cross_attn);
        }
        logits
    }
}
