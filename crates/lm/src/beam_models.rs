//! Beam search with a model: the entry points for decoder-only ([`CausalLm`]) and
//! encoder–decoder ([`Seq2SeqLm`]) models around the search of [`crate::beam_search`], the
//! beams decoded as one batch with the KV cache reordered as beams are kept, and stop strings
//! decoded with the tokenizer when given.

use loam_nn::Ctx;
use loam_tensor::no_grad;
use loam_text::Tokenizer;

use crate::beam_search::{BeamConfig, Hypothesis, Search, StopCheck};
use crate::causal_lm::CausalLm;
use crate::error::{LmError, Result};
use crate::sampling::GenerationConfig;
use crate::seq2seq_lm::{Seq2SeqLm, reorder_caches};
use crate::stop_strings::text_until_stop;

/// The `n` rows of a `[n, T, V]` logits tensor's last position.
fn last_rows(logits: &loam_tensor::Tensor) -> Result<Vec<Vec<f32>>> {
    let (n, t, v) = (logits.shape()[0], logits.shape()[1], logits.shape()[2]);
    let all = logits.narrow(1, t - 1, 1)?.to_vec();
    Ok((0..n).map(|r| all[r * v..(r + 1) * v].to_vec()).collect())
}

/// Checks the configs and that the ids fit the vocabulary.
fn check(cfg: &GenerationConfig, beam: &BeamConfig, ids: &[usize], vocab: usize) -> Result<()> {
    cfg.validate()?;
    beam.validate()?;
    if ids.is_empty() {
        return Err(LmError::Config(
            "beam search needs a prompt of at least one token".into(),
        ));
    }
    if let Some(&bad) = ids.iter().find(|&&t| t >= vocab) {
        return Err(LmError::Config(format!(
            "token {bad} is outside the vocabulary of {vocab}"
        )));
    }
    Ok(())
}

/// The stop-string test of `cfg` with `tokenizer`, or an error when stop strings are set and
/// no tokenizer is given to decode them.
fn stop_check<'a>(
    cfg: &'a GenerationConfig,
    tokenizer: Option<&'a dyn Tokenizer>,
) -> Result<Option<Box<StopCheck<'a>>>> {
    if cfg.stop_strings.is_empty() {
        return Ok(None);
    }
    let Some(tok) = tokenizer else {
        return Err(LmError::Config(
            "beam search with stop strings needs the tokenizer: call beam_search_stopping or beam_search_seq2seq_stopping".into(),
        ));
    };
    let stops = &cfg.stop_strings;
    Ok(Some(Box::new(move |ids: &[usize]| {
        Ok(text_until_stop(tok, ids, stops)?.1)
    })))
}

/// Beam search after `prompt` with a decoder-only model: the best `num_return_sequences`
/// hypotheses, best first. The prompt and the new tokens must fit the model's context.
/// `cfg.stop_strings` must be empty (they need the tokenizer: [`beam_search_stopping`]).
pub fn beam_search(
    model: &dyn CausalLm,
    prompt: &[usize],
    cfg: &GenerationConfig,
    beam: &BeamConfig,
) -> Result<Vec<Hypothesis>> {
    causal_search(model, prompt, cfg, beam, None)
}

/// [`beam_search`] where a hypothesis whose new text (decoded with `tokenizer`) holds one of
/// `cfg.stop_strings` ends as at an EOS token; its ids keep the tokens up to the stop string,
/// and [`crate::text_until_stop`] gives its text cut there.
pub fn beam_search_stopping(
    model: &dyn CausalLm,
    prompt: &[usize],
    cfg: &GenerationConfig,
    beam: &BeamConfig,
    tokenizer: &dyn Tokenizer,
) -> Result<Vec<Hypothesis>> {
    causal_search(model, prompt, cfg, beam, Some(tokenizer))
}

/// Beam search with a decoder-only model, stop strings decoded with `tokenizer`.
fn causal_search(
    model: &dyn CausalLm,
    prompt: &[usize],
    cfg: &GenerationConfig,
    beam: &BeamConfig,
    tokenizer: Option<&dyn Tokenizer>,
) -> Result<Vec<Hypothesis>> {
    check(cfg, beam, prompt, model.vocab_size())?;
    let stop = stop_check(cfg, tokenizer)?;
    let max_len = prompt.len() + cfg.max_new_tokens;
    if max_len > model.max_positions() {
        return Err(LmError::Config(format!(
            "beam search keeps every beam in one window: {} prompt + {} new tokens exceed the context of {}",
            prompt.len(),
            cfg.max_new_tokens,
            model.max_positions()
        )));
    }
    let _g = no_grad();
    let search = Search {
        cfg,
        beam,
        vocab: model.vocab_size(),
        prompt_len: prompt.len(),
        max_len,
        forced_bos: None,
        forced_eos: None,
        stop: stop.as_deref(),
    };
    let nb = beam.num_beams;
    let mut ctx = Ctx::eval();
    let mut cache = model.new_cache();
    search.run(prompt, &mut |origins, last| {
        let logits = match origins {
            None => {
                let l = model.forward(last, 1, last.len(), Some(&mut cache), &mut ctx)?;
                reorder_caches(&mut cache, &vec![0; nb])?;
                return Ok(vec![last_rows(&l)?.remove(0); nb]);
            }
            Some(o) => {
                reorder_caches(&mut cache, o)?;
                model.forward(last, nb, 1, Some(&mut cache), &mut ctx)?
            }
        };
        last_rows(&logits)
    })
}

/// Beam search for the target of `source` with an encoder–decoder model, starting from its
/// decoder start token, with its forced first and last tokens: the best
/// `num_return_sequences` hypotheses, best first. `cfg.stop_strings` must be empty (they need
/// the tokenizer: [`beam_search_seq2seq_stopping`]).
pub fn beam_search_seq2seq(
    model: &dyn Seq2SeqLm,
    source: &[usize],
    cfg: &GenerationConfig,
    beam: &BeamConfig,
) -> Result<Vec<Hypothesis>> {
    seq2seq_search(model, source, cfg, beam, None)
}

/// [`beam_search_seq2seq`] where a hypothesis whose text (decoded with `tokenizer`) holds one
/// of `cfg.stop_strings` ends as at an EOS token (see [`beam_search_stopping`]).
pub fn beam_search_seq2seq_stopping(
    model: &dyn Seq2SeqLm,
    source: &[usize],
    cfg: &GenerationConfig,
    beam: &BeamConfig,
    tokenizer: &dyn Tokenizer,
) -> Result<Vec<Hypothesis>> {
    seq2seq_search(model, source, cfg, beam, Some(tokenizer))
}

/// Beam search with an encoder–decoder, stop strings decoded with `tokenizer`.
fn seq2seq_search(
    model: &dyn Seq2SeqLm,
    source: &[usize],
    cfg: &GenerationConfig,
    beam: &BeamConfig,
    tokenizer: Option<&dyn Tokenizer>,
) -> Result<Vec<Hypothesis>> {
    check(cfg, beam, source, model.vocab_size())?;
    let stop = stop_check(cfg, tokenizer)?;
    let _g = no_grad();
    let mut ctx = Ctx::eval();
    let nb = beam.num_beams;
    let encoded = model.encode(source, 1, source.len(), &[source.len()], &mut ctx)?;
    let beams = encoded.select_rows(&vec![0; nb])?;
    let mut cache = model.new_cache(&encoded);
    let max_len = 1 + cfg.max_new_tokens;
    if let Some(limit) = model.max_target_positions().filter(|&l| max_len > l) {
        return Err(LmError::Config(format!(
            "{max_len} target positions exceed the decoder's limit of {limit}"
        )));
    }
    let search = Search {
        cfg,
        beam,
        vocab: model.vocab_size(),
        prompt_len: 1,
        max_len,
        forced_bos: model.forced_bos_token_id(),
        forced_eos: model.forced_eos_token_id(),
        stop: stop.as_deref(),
    };
    search.run(&[model.decoder_start_token_id()], &mut |origins, last| {
        let logits = match origins {
            None => {
                let l = model.decode(last, 1, 1, &encoded, Some(&mut cache), &mut ctx)?;
                cache.reorder(&vec![0; nb])?;
                return Ok(vec![last_rows(&l)?.remove(0); nb]);
            }
            Some(o) => {
                cache.reorder(o)?;
                model.decode(last, nb, 1, &beams, Some(&mut cache), &mut ctx)?
            }
        };
        last_rows(&logits)
    })
}
