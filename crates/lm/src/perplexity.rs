//! Perplexity: mean negative log-likelihood over a token sequence, as non-overlapping windows
//! of the block size, or as a strided sliding window where each scored token sees up to a full
//! block of context.

use loam_nn::Ctx;
use loam_tensor::{Device, no_grad};
use serde::Serialize;

use crate::error::{LmError, Result};
use crate::causal_lm::CausalLm;

/// Evaluation figures. Perplexity = exp(mean NLL) = 2^(bits per token).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Perplexity {
    /// Tokens scored.
    pub tokens: usize,
    /// Characters those tokens spell.
    pub chars: usize,
    /// Mean negative log-likelihood per token (nats).
    pub mean_nll: f64,
    /// exp(mean_nll).
    pub perplexity: f64,
    /// mean_nll / ln 2.
    pub bits_per_token: f64,
    /// Total bits over the characters spelled.
    pub bits_per_char: f64,
}

impl Perplexity {
    /// Figures from a total NLL (nats) over `tokens` tokens spelling `chars` characters.
    pub fn from_total(total_nll: f64, tokens: usize, chars: usize) -> Perplexity {
        let mean = total_nll / tokens.max(1) as f64;
        Perplexity {
            tokens,
            chars,
            mean_nll: mean,
            perplexity: mean.exp(),
            bits_per_token: mean / std::f64::consts::LN_2,
            bits_per_char: total_nll / std::f64::consts::LN_2 / chars.max(1) as f64,
        }
    }
}

/// A window to score: context `tokens[start..start + len]`, predicting the next token at each
/// position, counting only positions `skip..len`.
struct Window {
    start: usize,
    len: usize,
    skip: usize,
}

fn windows(n: usize, block: usize, stride: Option<usize>) -> Vec<Window> {
    match stride {
        None => (0..(n - 1) / block).map(|i| Window { start: i * block, len: block, skip: 0 }).collect(),
        Some(s) => {
            // each window ends `s` targets after the previous one and scores only those
            let mut out = Vec::new();
            let mut scored = 0; // targets scored so far: positions 1..=scored
            while scored < n - 1 {
                let end = (scored + s).min(n - 1); // last target index (exclusive of input)
                let start = end.saturating_sub(block);
                out.push(Window { start, len: end - start, skip: scored - start });
                scored = end;
            }
            out
        }
    }
}

/// Evaluates `model` on `tokens`: non-overlapping windows of the block size (the tail that
/// does not fill a window is left out), or with `stride`, sliding windows that score every
/// token after the first. `chars_of` counts the characters a run of tokens spells.
pub fn perplexity(
    model: &dyn CausalLm,
    tokens: &[usize],
    stride: Option<usize>,
    batch: usize,
    chars_of: &dyn Fn(&[usize]) -> usize,
) -> Result<Perplexity> {
    let block = model.max_positions();
    if tokens.len() < 2 || (stride.is_none() && tokens.len() <= block) {
        return Err(LmError::Config(format!(
            "evaluation needs more than {} tokens (one window and its next token), got {}",
            if stride.is_none() { block } else { 1 },
            tokens.len()
        )));
    }
    if stride == Some(0) || stride.is_some_and(|s| s > block) {
        return Err(LmError::Config(format!("stride must be in 1..={block}")));
    }
    let v = model.vocab_size();
    let all = windows(tokens.len(), block, stride);
    // windows of one length go together in a batch
    let mut groups: Vec<&[Window]> = Vec::new();
    let mut i = 0;
    while i < all.len() {
        let len = all[i].len;
        let n = all[i..].iter().take(batch.max(1)).take_while(|w| w.len == len).count();
        groups.push(&all[i..i + n]);
        i += n;
    }
    // whole batches per thread (on a GPU, one after another here); each returns its summed
    // negative log-likelihood and count
    let score = |g: usize| -> Result<(f64, usize)> {
        let _inference = no_grad();
        let (group, len) = (groups[g], groups[g][0].len);
        let x: Vec<usize> = group.iter().flat_map(|w| tokens[w.start..w.start + len].iter().copied()).collect();
        let logp = model.forward(&x, group.len(), len, None, &mut Ctx::eval())?.log_softmax(-1)?.to_vec();
        let (mut total, mut count) = (0.0f64, 0usize);
        for (r, w) in group.iter().enumerate() {
            for p in w.skip..len {
                let target = tokens[w.start + p + 1];
                total -= logp[(r * len + p) * v + target] as f64;
                count += 1;
            }
        }
        Ok((total, count))
    };
    let scored = match model.device() {
        Device::Cpu => loam_tensor::map_on_workers(groups.len(), score),
        _ => (0..groups.len()).map(score).collect(),
    };
    let (mut total, mut count) = (0.0f64, 0usize);
    for s in scored {
        let (t, c) = s?;
        total += t;
        count += c;
    }
    let chars = all.iter().map(|w| chars_of(&tokens[w.start + w.skip + 1..w.start + w.len + 1])).sum();
    Ok(Perplexity::from_total(total, count, chars))
}
