//! The masked-language-modelling objective (`objective = "mlm"`, BERT's pretraining): random
//! windows of the token stream as `[CLS] window [SEP]`, about 15% of the tokens (or whole
//! words) chosen and masked 80/10/10 by loam-text's collator, the loss the cross-entropy at
//! the chosen positions. Validation reports the MLM perplexity and the masked-token accuracy
//! on windows masked with a fixed seed; samples fill a mask in each prompt.

use std::collections::BTreeMap;

use loam_nn::Ctx;
use loam_tensor::{Rng, Tensor};
use loam_text::{TokenSplit, Tokenizer};

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
}

impl<'a> Mlm<'a> {
    /// The objective of `model` on `data` with the masking, evaluation and sample settings of
    /// `config`; the tokenizer must have `[MASK]`, `[CLS]` and `[SEP]`.
    pub fn new(model: &'a BertForMaskedLM, data: &'a RunData, config: &'a TrainConfig) -> Result<Mlm<'a>> {
        let masker = Masker::new(&data.tokenizer, config.data.mask_prob, config.data.whole_word_mask)?;
        Ok(Mlm { model, data, config, masker })
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

    fn figures(loss: f64, accuracy: f64) -> Validation {
        Validation { loss, metrics: BTreeMap::from([("masked_accuracy".to_string(), accuracy)]) }
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
            return Ok(Mlm::figures(s.mean_nll, s.accuracy));
        }
        let mut rng = Rng::new(seed ^ 0xe7a1);
        let mut tally = MlmTally::default();
        for _ in 0..batches {
            tally.add(self.model, &self.random_batch(&self.data.val, batch_size, &mut rng)?)?;
        }
        let s = tally.score();
        Ok(Mlm::figures(s.mean_nll, s.accuracy))
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
