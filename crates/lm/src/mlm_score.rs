//! Masked-LM evaluation: masked-token accuracy and MLM perplexity (exp of the mean
//! cross-entropy over the masked positions), on windows masked with a fixed seed so that a
//! score repeats.

use loam_nn::Ctx;
use loam_tensor::no_grad;
use loam_text::Tokenizer;
use serde::Serialize;

use crate::error::{LmError, Result};
use crate::hf::BertForMaskedLM;
use crate::masking::{MaskedBatch, Masker};

/// What a masked-LM evaluation measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MlmScore {
    /// Windows scored.
    pub windows: usize,
    /// Masked positions scored (each chosen position: masked, replaced or kept).
    pub masked: usize,
    /// Mean cross-entropy over the masked positions (nats).
    pub mean_nll: f64,
    /// exp(mean_nll): the MLM perplexity.
    pub perplexity: f64,
    /// Share of masked positions whose most likely token is the original one.
    pub accuracy: f64,
}

/// How [`mlm_score`] cuts and masks the text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MlmScoreOptions {
    /// Tokens per example, `[CLS]` and `[SEP]` included (at most the model's positions).
    pub block: usize,
    /// Windows per forward pass.
    pub batch: usize,
    /// Fixes the masking.
    pub seed: u64,
    /// Chance that a token (or word) is chosen.
    pub mask_prob: f64,
    /// Choose whole words (a token and its `##` pieces) rather than tokens.
    pub whole_word: bool,
}

/// Running sums of a masked-LM evaluation.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MlmTally {
    windows: usize,
    masked: usize,
    correct: usize,
    nll: f64,
}

impl MlmTally {
    /// Adds the masked positions of `mb` as `model` predicts them.
    pub fn add(&mut self, model: &BertForMaskedLM, mb: &MaskedBatch) -> Result<()> {
        let _g = no_grad();
        let logits = model.logits_at(&mb.batch, &mb.positions, &mut Ctx::eval())?.to_vec();
        let v = model.vocab_size();
        for (row, &label) in logits.chunks(v).zip(&mb.labels) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = f64::from(max) + row.iter().map(|&x| f64::from(x - max).exp()).sum::<f64>().ln();
            let target = row.get(label as usize).ok_or_else(|| {
                LmError::Config(format!("token id {label} is outside the model's vocabulary of {v}"))
            })?;
            self.nll += lse - f64::from(*target);
            let best = row.iter().enumerate().fold(0, |b, (i, &x)| if x > row[b] { i } else { b });
            self.correct += usize::from(best == label as usize);
        }
        self.masked += mb.labels.len();
        self.windows += mb.batch.batch;
        Ok(())
    }

    /// The figures of what was added.
    pub fn score(&self) -> MlmScore {
        let mean_nll = self.nll / self.masked.max(1) as f64;
        MlmScore {
            windows: self.windows,
            masked: self.masked,
            mean_nll,
            perplexity: mean_nll.exp(),
            accuracy: self.correct as f64 / self.masked.max(1) as f64,
        }
    }
}

/// Scores `model` on `tokens` (ids without special tokens): every non-overlapping window of
/// `block − 2` tokens (the tail that does not fill one is left out; a text shorter than one
/// window is one window), each wrapped in `[CLS] … [SEP]`, masked with a seed derived from
/// `options.seed` and its batch, so the same call gives the same figures.
pub fn mlm_score(model: &BertForMaskedLM, tokenizer: &dyn Tokenizer, tokens: &[u32], options: &MlmScoreOptions) -> Result<MlmScore> {
    let masker = Masker::new(tokenizer, options.mask_prob, options.whole_word)?;
    let positions = model.bert.config.max_position_embeddings;
    if options.block < 3 || options.block > positions || options.batch == 0 {
        return Err(LmError::Config(format!(
            "masked-LM scoring needs 3 ≤ block ≤ {positions} (the model's positions) and batch ≥ 1, got block {} and batch {}",
            options.block, options.batch
        )));
    }
    if tokens.is_empty() {
        return Err(LmError::Config("no tokens to score".into()));
    }
    let inner = options.block - 2;
    let windows: Vec<Vec<u32>> = if tokens.len() < inner { vec![tokens.to_vec()] } else { tokens.chunks_exact(inner).map(<[u32]>::to_vec).collect() };
    let mut tally = MlmTally::default();
    for (i, group) in windows.chunks(options.batch).enumerate() {
        tally.add(model, &masker.mask(group, batch_seed(options.seed, i))?)?;
    }
    Ok(tally.score())
}

/// The masking seed of batch `i` of an evaluation seeded with `seed`.
fn batch_seed(seed: u64, i: usize) -> u64 {
    seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}
