//! Text generation with any [`CausalLm`] (GPT, GPT-2, the Llama family): greedy or sampled, with a KV cache, streaming, stop tokens and
//! stop strings, and batches of prompts of different lengths (left padding).

use loam_nn::{Ctx, KvCache};
use loam_tensor::{Rng, Tensor, no_grad};
use loam_text::Tokenizer;
use serde::Serialize;

use crate::causal_lm::CausalLm;
use crate::error::{LmError, Result};
use crate::sampling::{GenerationConfig, choose};
use crate::text_stream::TextStream;

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// `max_new_tokens` were produced.
    Length,
    /// An end-of-sequence token or a stop string came.
    Stop,
}

/// The result of generating from one prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generated {
    /// The new text (cut before a stop string).
    pub text: String,
    /// The new token ids (without the end-of-sequence token).
    pub ids: Vec<u32>,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
}

/// The last row of logits `[B, T, V]` for each sequence, as `B` vectors.
fn last_rows(logits: &loam_tensor::Tensor) -> Vec<Vec<f32>> {
    let (b, t, v) = (logits.shape()[0], logits.shape()[1], logits.shape()[2]);
    let all = logits.narrow(1, t - 1, 1).map(|l| l.to_vec()).unwrap_or_default();
    (0..b).map(|r| all[r * v..(r + 1) * v].to_vec()).collect()
}

/// Generates token ids after `prompt`, with settings checked by [`GenerationConfig::validate`].
/// `on_token` sees each new id and may stop generation by returning false. With `use_cache`
/// each step feeds only the new token; past the block size the context is cropped to the last
/// `block_size` tokens and recomputed, so the tokens are the same with and without the cache.
pub fn generate_ids(
    model: &dyn CausalLm,
    prompt: &[usize],
    cfg: &GenerationConfig,
    use_cache: bool,
    on_token: &mut dyn FnMut(usize) -> bool,
) -> Result<(Vec<usize>, FinishReason)> {
    cfg.validate()?;
    if prompt.is_empty() {
        return Err(LmError::Config("generation needs a prompt of at least one token".into()));
    }
    if let Some(&bad) = prompt.iter().find(|&&t| t >= model.vocab_size()) {
        return Err(LmError::Config(format!("prompt token {bad} is outside the vocabulary of {}", model.vocab_size())));
    }
    let _g = no_grad();
    let block = model.max_positions();
    let mut rng = Rng::new(cfg.seed);
    let mut ctx = Ctx::eval();
    let mut seq = prompt.to_vec();
    let mut cache = model.new_cache();
    let mut fed = 0; // tokens of `seq` already in the cache
    let mut out = Vec::new();
    // plain greedy: no penalty or sampling, so only the argmax of the logits matters
    let plain_greedy =
        (!cfg.do_sample || cfg.temperature == 0.0) && cfg.repetition_penalty == 1.0 && cfg.no_repeat_ngram_size == 0;
    while out.len() < cfg.max_new_tokens {
        let next = if plain_greedy && use_cache && seq.len() <= block {
            let new = &seq[fed..];
            let next = model.next_greedy(new, &mut cache, &mut ctx)?;
            fed = seq.len();
            next
        } else {
            let logits = next_logits(model, &seq, block, use_cache, &mut fed, &mut cache, &mut ctx)?;
            choose(&last_rows(&logits)[0], &seq, cfg, &mut rng)
        };
        if cfg.eos_ids.contains(&(next as u32)) {
            return Ok((out, FinishReason::Stop));
        }
        seq.push(next);
        out.push(next);
        if !on_token(next) {
            return Ok((out, FinishReason::Stop));
        }
    }
    Ok((out, FinishReason::Length))
}

/// The last position's logits after `seq`, `fed` of whose tokens are in `cache`: only the new
/// ones through the cache while the context fits the model, otherwise the last `block` tokens
/// afresh (with a new cache when caching).
fn next_logits(
    model: &dyn CausalLm,
    seq: &[usize],
    block: usize,
    use_cache: bool,
    fed: &mut usize,
    cache: &mut Vec<KvCache>,
    ctx: &mut Ctx,
) -> Result<Tensor> {
    let logits = if use_cache && seq.len() <= block {
        let new = &seq[*fed..];
        model.forward_last(new, 1, new.len(), None, Some(cache), ctx)?
    } else {
        let window = &seq[seq.len().saturating_sub(block)..];
        *cache = model.new_cache();
        model.forward_last(window, 1, window.len(), None, use_cache.then_some(cache), ctx)?
    };
    *fed = seq.len();
    Ok(logits)
}

/// Generates text after `prompt`, streaming each new piece of text to `on_text` as soon as it
/// decodes to whole characters, and stopping at a stop string (which is not emitted).
pub fn generate(
    model: &dyn CausalLm,
    tokenizer: &dyn Tokenizer,
    prompt: &str,
    cfg: &GenerationConfig,
    on_text: &mut dyn FnMut(&str),
) -> Result<Generated> {
    generate_until(model, tokenizer, prompt, cfg, &mut |piece| {
        on_text(piece);
        true
    })
}

/// [`generate`], where `on_text` may stop generation by returning false (a client that went
/// away): no further token is computed, and the text generated so far is returned with
/// [`FinishReason::Stop`].
pub fn generate_until(
    model: &dyn CausalLm,
    tokenizer: &dyn Tokenizer,
    prompt: &str,
    cfg: &GenerationConfig,
    on_text: &mut dyn FnMut(&str) -> bool,
) -> Result<Generated> {
    let prompt_ids: Vec<usize> = tokenizer.encode(prompt, false)?.into_iter().map(|i| i as usize).collect();
    let mut stream = TextStream::new(tokenizer, &cfg.stop_strings, on_text);
    let (_, reason) = generate_ids(model, &prompt_ids, cfg, true, &mut |id| stream.push(id))?;
    stream.finish(reason, prompt_ids.len())
}

/// Generates for several prompts at once: prompts are left-padded to one length, padding is
/// hidden from attention and does not count as positions, and each row stops on its own.
/// Greedy rows give the same tokens as [`generate_ids`] on each prompt alone.
pub fn generate_batch(
    model: &dyn CausalLm,
    prompts: &[Vec<usize>],
    cfg: &GenerationConfig,
) -> Result<Vec<(Vec<usize>, FinishReason)>> {
    cfg.validate()?;
    if prompts.is_empty() || prompts.iter().any(Vec::is_empty) {
        return Err(LmError::Config("batch generation needs non-empty prompts".into()));
    }
    let _g = no_grad();
    let b = prompts.len();
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    if longest + cfg.max_new_tokens > model.max_positions() {
        return Err(LmError::Config(format!(
            "batch generation keeps every row in one window: {longest} prompt + {} new tokens exceed block size {}",
            cfg.max_new_tokens,
            model.max_positions()
        )));
    }
    let pad: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
    let mut ids: Vec<usize> =
        prompts.iter().flat_map(|p| std::iter::repeat_n(0, longest - p.len()).chain(p.iter().copied())).collect();
    let mut histories: Vec<Vec<usize>> = prompts.to_vec();
    let mut outs: Vec<Vec<usize>> = vec![Vec::new(); b];
    let mut done: Vec<Option<FinishReason>> = vec![None; b];
    let mut rngs: Vec<Rng> = (0..b).map(|i| Rng::new(cfg.seed.wrapping_add(i as u64))).collect();
    let mut cache = model.new_cache();
    let mut ctx = Ctx::eval();
    let mut t = longest;
    for _ in 0..cfg.max_new_tokens {
        let logits = model.forward_last(&ids, b, t, Some(&pad), Some(&mut cache), &mut ctx)?;
        let rows = last_rows(&logits);
        ids.clear();
        for r in 0..b {
            let next = choose(&rows[r], &histories[r], cfg, &mut rngs[r]);
            ids.push(next);
            if done[r].is_some() {
                continue;
            }
            if cfg.eos_ids.contains(&(next as u32)) {
                done[r] = Some(FinishReason::Stop);
            } else {
                histories[r].push(next);
                outs[r].push(next);
            }
        }
        t = 1;
        if done.iter().all(Option::is_some) {
            break;
        }
    }
    Ok(outs.into_iter().zip(done).map(|(o, d)| (o, d.unwrap_or(FinishReason::Length))).collect())
}
