//! The masked-language-modelling objective (`objective = "mlm"`, BERT's pretraining): random
//! windows of the token stream as `[CLS] window [SEP]`, about 15% of the tokens (or whole
//! words) chosen and masked 80/10/10 by loam-text's collator, the loss the cross-entropy at
//! the chosen positions. Validation reports the MLM perplexity and the masked-token accuracy
//! on windows masked with a fixed seed, beside the unigram baseline ([`unigram_baseline`]),
//! the accuracy a model that ignores the context would reach; samples fill a mask in each
//! prompt.

use std::collections::BTreeMap;

use loam_nn::Ctx;
use loam_tensor::{Rng, Tensor};
use loam_text::{MlmConfig, TokenSplit, Tokenizer};

use crate::error::Result;
use crate::fill_mask::fill_mask_ids;
use crate::hf::BertForMaskedLM;
use crate::masking::{MaskedBatch, Masker};
use crate::mlm_score::{MlmScoreOptions, MlmTally, mlm_score};
use crate::objective::{Objective, Validation};
use crate::run_data::RunData;
use crate::train_config::TrainConfig;

/// Candidates shown for a sample's mask.
const SAMPLE_CANDIDATES: usize = 3;

/// Masked-LM training of a BERT on a run's token data.
pub(crate) struct Mlm<'a> {
    model: &'a BertForMaskedLM,
    data: &'a RunData,
    config: &'a TrainConfig,
    masker: Masker,
    /// The masked accuracy of the context-blind model on the validation split.
    baseline: f64,
}

/// Tokens of the training split read at once when counting them.
const COUNT_CHUNK: usize = 1 << 16;

/// The masked-token accuracy of a model that ignores the context: at a masked or replaced
/// position it answers the training split's commonest token, at a kept one it copies the
/// input (a kept token is right), so it scores `(1 − keep) · share + keep`, `share` being that
/// token's share of `val` and `keep` the collator's chance (10%) that a chosen token stays.
/// (It cannot tell a replaced token from an unchosen one, so this is an upper bound on it.)
/// Returns the token and the accuracy.
pub(crate) fn unigram_baseline(train: &TokenSplit, val: &[usize], vocab: usize) -> Result<(usize, f64)> {
    let mut counts = vec![0u64; vocab];
    let mut buf = vec![0u32; COUNT_CHUNK];
    let mut start = 0;
    while start < train.len() {
        let n = COUNT_CHUNK.min(train.len() - start);
        train.read_into(start, &mut buf[..n])?;
        for &t in &buf[..n] {
            if let Some(c) = counts.get_mut(t as usize) {
                *c += 1;
            }
        }
        start += n;
    }
    let top = crate::sampling::argmax(&counts.iter().map(|&c| c as f32).collect::<Vec<_>>());
    let share = val.iter().filter(|&&t| t == top).count() as f64 / val.len().max(1) as f64;
    let c = MlmConfig::default();
    let keep = 1.0 - c.mask_token_prob - c.random_token_prob;
    Ok((top, (1.0 - keep) * share + keep))
}

impl<'a> Mlm<'a> {
    /// The objective of `model` on `data` with the masking, evaluation and sample settings of
    /// `config`; the tokenizer must have `[MASK]`, `[CLS]` and `[SEP]`.
    pub fn new(model: &'a BertForMaskedLM, data: &'a RunData, config: &'a TrainConfig) -> Result<Mlm<'a>> {
        let masker = Masker::new(&data.tokenizer, config.data.mask_prob, config.data.whole_word_mask)?;
        let (_, baseline) = unigram_baseline(&data.train, &data.val_tokens, data.tokenizer.vocab_size())?;
        Ok(Mlm { model, data, config, masker, baseline })
    }

    /// Tokens of a window between `[CLS]` and `[SEP]`.
    fn inner(&self) -> usize {
        self.config.model.block_size - 2
    }

    /// `rows` random windows of `split`, then a masking seed, all drawn from `rng`.
    fn random_batch(&self, split: &TokenSplit, rows: usize, rng: &mut Rng) -> Result<MaskedBatch> {
        let inner = self.inner();
        let windows = (0..rows)
            .map(|_| split.tokens(rng.below((split.len() - inner) as u64) as usize, inner))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        self.masker.mask(&windows, rng.next_u64())
    }

    fn figures(&self, loss: f64, accuracy: f64) -> Validation {
        Validation {
            loss,
            metrics: BTreeMap::from([
                ("masked_accuracy".to_string(), accuracy),
                ("unigram_baseline".to_string(), self.baseline),
            ]),
        }
    }
}

impl Objective for Mlm<'_> {
    type Batch = MaskedBatch;

    fn draw(&self, rows: usize, rng: &mut Rng) -> Result<MaskedBatch> {
        self.random_batch(&self.data.train, rows, rng)
    }

    fn tokens(&self, batch: &MaskedBatch) -> usize {
        batch.batch.batch * batch.batch.seq_len
    }

    fn loss(&self, batch: &MaskedBatch, ctx: &mut Ctx) -> Result<Tensor> {
        // logits: [masked, vocab]
        let logits = self.model.logits_at(&batch.batch, &batch.positions, ctx)?;
        Ok(logits.cross_entropy(&batch.labels, None)?)
    }

    /// Mean cross-entropy over the masked positions and the masked-token accuracy of
    /// `eval_batches` batches of windows drawn and masked from a fixed seed (the same at every
    /// evaluation); with `full` or `eval_batches` 0, over every non-overlapping window of the
    /// validation split.
    fn validate(&self, full: bool) -> Result<Validation> {
        let (batches, batch_size, seed) = (self.config.run.eval_batches, self.config.optim.batch_size, self.config.run.seed);
        if full || batches == 0 {
            let val: Vec<u32> = self.data.val_tokens.iter().map(|&t| t as u32).collect();
            let options = MlmScoreOptions {
                block: self.config.model.block_size,
                batch: batch_size,
                seed,
                mask_prob: self.config.data.mask_prob,
                whole_word: self.config.data.whole_word_mask,
            };
            let s = mlm_score(self.model, &self.data.tokenizer, &val, &options)?;
            return Ok(self.figures(s.mean_nll, s.accuracy));
        }
        let mut rng = Rng::new(seed ^ 0xe7a1);
        let mut tally = MlmTally::default();
        for _ in 0..batches {
            tally.add(self.model, &self.random_batch(&self.data.val, batch_size, &mut rng)?)?;
        }
        let s = tally.score();
        Ok(self.figures(s.mean_nll, s.accuracy))
    }

    /// For each configured prompt (or, when the vocabulary cannot spell it, the start of the
    /// validation split), the prompt with a mask — its own `[MASK]`s, or its middle token
    /// masked — and the likeliest tokens there. `max_new_tokens` does not apply.
    fn samples(&self, _max_new_tokens: usize) -> Result<Vec<String>> {
        let tokenizer = &self.data.tokenizer;
        let mask = self.masker.mask_id();
        let limit = self.inner();
        self.config
            .sample
            .prompts
            .iter()
            .map(|p| {
                let mut ids = tokenizer.encode(p, false)?;
                if ids.is_empty() {
                    ids = self.data.val_tokens.iter().take(limit.min(12)).map(|&t| t as u32).collect();
                }
                ids.truncate(limit);
                if !ids.contains(&mask) {
                    let middle = ids.len() / 2;
                    ids[middle] = mask;
                }
                let mut row = tokenizer.encode("", true)?;
                let at = row.len().min(1);
                row.splice(at..at, ids.iter().copied());
                let fills = fill_mask_ids(self.model, tokenizer, &row, SAMPLE_CANDIDATES)?;
                let guesses: Vec<String> = fills
                    .iter()
                    .map(|f| f.candidates.iter().map(|c| format!("{} {:.2}", c.token, c.score)).collect::<Vec<_>>().join(" | "))
                    .collect();
                Ok(format!("{} → {}", tokenizer.decode(&ids, false)?, guesses.join(" ; ")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_is_the_commonest_training_token_on_validation() {
        // token 3 is the commonest in training (3 of 6) and half of validation
        let train = TokenSplit::from_tokens(vec![3, 1, 3, 2, 3, 1]);
        let (top, acc) = unigram_baseline(&train, &[3, 2, 3, 1], 5).unwrap();
        assert_eq!(top, 3);
        assert!((acc - (0.9 * 0.5 + 0.1)).abs() < 1e-12, "{acc}");
        // a token no validation position holds leaves the kept 10%
        let (_, acc) = unigram_baseline(&train, &[1, 2], 5).unwrap();
        assert!((acc - 0.1).abs() < 1e-12, "{acc}");
    }
}
