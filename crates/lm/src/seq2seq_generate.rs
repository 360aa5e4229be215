//! Greedy and sampled generation with any [`Seq2SeqLm`] (T5, BART): the source is encoded
//! once, the target starts from the decoder start token and grows one token at a time with the
//! self- and cross-attention caches; the model's forced first and last tokens apply, as in
//! `transformers`' `generate`. [`generate_seq2seq_text`] decodes the target and stops at the
//! config's stop strings; [`generate_seq2seq_until`] streams it.

use loam_nn::Ctx;
use loam_tensor::{Rng, no_grad};
use loam_text::Tokenizer;

use crate::error::{LmError, Result};
use crate::generate::{FinishReason, Generated};
use crate::sampling::{GenerationConfig, choose};
use crate::seq2seq_lm::Seq2SeqLm;
use crate::text_stream::TextStream;

/// Generates the target of `source` (token ids, the EOS the tokenizer appends included):
/// the new ids (without the decoder start token and the EOS) and why generation ended.
/// `on_token` sees each new id and may stop generation by returning false.
pub fn generate_seq2seq(
    model: &dyn Seq2SeqLm,
    source: &[usize],
    cfg: &GenerationConfig,
    on_token: &mut dyn FnMut(usize) -> bool,
) -> Result<(Vec<usize>, FinishReason)> {
    cfg.validate()?;
    if source.is_empty() {
        return Err(LmError::Config(
            "generation needs a source of at least one token".into(),
        ));
    }
    if let Some(limit) = model
        .max_target_positions()
        .filter(|&l| cfg.max_new_tokens + 1 > l)
    {
        return Err(LmError::Config(format!(
            "{} new tokens exceed the decoder's limit of {limit} positions",
            cfg.max_new_tokens
        )));
    }
    let _g = no_grad();
    let mut ctx = Ctx::eval();
    let encoded = model.encode(source, 1, source.len(), &[source.len()], &mut ctx)?;
    let mut cache = model.new_cache(&encoded);
    let mut rng = Rng::new(cfg.seed);
    let mut seq = vec![model.decoder_start_token_id()];
    let max_len = 1 + cfg.max_new_tokens;
    // plain greedy: no penalty or sampling, so only the argmax of the logits matters
    let plain_greedy = (!cfg.do_sample || cfg.temperature == 0.0)
        && cfg.repetition_penalty == 1.0
        && cfg.no_repeat_ngram_size == 0;
    while seq.len() < max_len {
        let last = seq[seq.len() - 1];
        let forced = match (model.forced_bos_token_id(), model.forced_eos_token_id()) {
            (Some(bos), _) if seq.len() == 1 => Some(bos),
            (_, Some(eos)) if seq.len() + 1 == max_len => Some(eos),
            _ => None,
        };
        let next = if plain_greedy && forced.is_none() {
            model.next_greedy(last, &encoded, &mut cache, &mut ctx)?
        } else {
            let logits = model.decode(&[last], 1, 1, &encoded, Some(&mut cache), &mut ctx)?;
            let mut row = logits.to_vec();
            if let Some(t) = forced.filter(|&t| t < row.len()) {
                row.iter_mut().for_each(|x| *x = f32::NEG_INFINITY);
                row[t] = 0.0;
            }
            choose(&row, &seq, cfg, &mut rng)
        };
        if cfg.eos_ids.contains(&(next as u32)) {
            return Ok((seq.split_off(1), FinishReason::Stop));
        }
        seq.push(next);
        if !on_token(next) {
            return Ok((seq.split_off(1), FinishReason::Stop));
        }
    }
    Ok((seq.split_off(1), FinishReason::Length))
}

/// [`generate_seq2seq`] with the target decoded by `tokenizer`: generation stops as soon as the
/// text holds one of `cfg.stop_strings` (the text is cut before it, the ids keep the token that
/// completed it, the finish reason is [`FinishReason::Stop`]).
pub fn generate_seq2seq_text(
    model: &dyn Seq2SeqLm,
    tokenizer: &dyn Tokenizer,
    source: &[usize],
    cfg: &GenerationConfig,
) -> Result<Generated> {
    generate_seq2seq_until(model, tokenizer, source, cfg, &mut |_| true)
}

/// [`generate_seq2seq_text`], streaming each new piece of the target's text to `on_text` as
/// soon as it decodes to whole characters (as [`crate::generate_until`] does for a
/// continuation); `on_text` may stop generation by returning false.
pub fn generate_seq2seq_until(
    model: &dyn Seq2SeqLm,
    tokenizer: &dyn Tokenizer,
    source: &[usize],
    cfg: &GenerationConfig,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<Generated> {
    let mut stream = TextStream::new(tokenizer, &cfg.stop_strings, on_text);
    let (_, reason) = generate_seq2seq(model, source, cfg, &mut |id| stream.push(id))?;
    stream.finish(reason, source.len())
}
