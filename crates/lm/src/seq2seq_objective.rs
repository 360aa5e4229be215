//! The sequence-to-sequence objective (`objective = "seq2seq"`): batches of random training
//! pairs, the label-smoothed cross-entropy of the target given the source, validation by the
//! teacher-forced loss, the exact match and the BLEU of greedy outputs on held-out pairs, and
//! samples that show a few held-out sources with what the model writes for them.

use std::collections::BTreeMap;

use loam_nn::Ctx;
use loam_tensor::{Rng, Tensor};
use loam_text::Tokenizer;

use crate::error::Result;
use crate::objective::{Objective, Validation};
use crate::pair_data::PairData;
use crate::pairs::{EncodedPair, make_batch};
use crate::seq2seq::{Seq2Seq, Seq2SeqBatch, evaluate};
use crate::train_config::TrainConfig;

/// Held-out pairs shown as samples.
const SAMPLES: usize = 3;

/// Training of loam's encoder–decoder on a run's pairs.
pub(crate) struct Seq2SeqTask<'a> {
    model: &'a Seq2Seq,
    data: &'a PairData,
    config: &'a TrainConfig,
}

impl<'a> Seq2SeqTask<'a> {
    /// The objective of `model` on `data` with the loss and evaluation settings of `config`.
    pub fn new(model: &'a Seq2Seq, data: &'a PairData, config: &'a TrainConfig) -> Seq2SeqTask<'a> {
        Seq2SeqTask {
            model,
            data,
            config,
        }
    }

    /// A padded batch of `pairs`.
    fn batch(&self, pairs: &[&EncodedPair]) -> Seq2SeqBatch {
        let c = &self.model.config;
        make_batch(pairs, c.pad_id, c.bos_id, c.eos_id)
    }
}

impl Objective for Seq2SeqTask<'_> {
    type Batch = Seq2SeqBatch;

    /// `rows` training pairs drawn uniformly (with replacement) with `rng`.
    fn draw(&self, rows: usize, rng: &mut Rng) -> Result<Seq2SeqBatch> {
        let train = &self.data.train;
        let pairs: Vec<&EncodedPair> = (0..rows)
            .map(|_| &train[rng.below(train.len() as u64) as usize])
            .collect();
        Ok(self.batch(&pairs))
    }

    /// The scored target tokens (end ids included).
    fn tokens(&self, batch: &Seq2SeqBatch) -> usize {
        batch.labels.iter().filter(|&&l| l >= 0).count()
    }

    fn loss(&self, batch: &Seq2SeqBatch, ctx: &mut Ctx) -> Result<Tensor> {
        self.model
            .loss(batch, self.config.data.label_smoothing, ctx)
    }

    /// The teacher-forced loss (without label smoothing), the exact match in percent
    /// (`exact_match_pct`, 0–100, on BLEU's scale so that one plot panel reads both) and the
    /// BLEU (0–100) of greedy outputs on the first `eval_batches` × `batch_size` held-out pairs (the
    /// same at every evaluation); with `full` or `eval_batches` 0, on every held-out pair.
    fn validate(&self, full: bool) -> Result<Validation> {
        let (batches, batch_size) = (self.config.run.eval_batches, self.config.optim.batch_size);
        let valid = &self.data.valid;
        let n = if full || batches == 0 {
            valid.len()
        } else {
            valid.len().min(batches * batch_size)
        };
        let s = evaluate(self.model, &self.data.tokenizer, &valid[..n], batch_size)?;
        let metrics = BTreeMap::from([
            ("exact_match_pct".to_string(), 100.0 * s.exact_match),
            ("bleu".to_string(), s.bleu),
        ]);
        Ok(Validation {
            loss: s.loss,
            metrics,
        })
    }

    /// The first held-out sources with the model's greedy outputs (at most `max_new_tokens`
    /// tokens, and at most the target positions) and the expected targets.
    fn samples(&self, max_new_tokens: usize) -> Result<Vec<String>> {
        let n = SAMPLES.min(self.data.valid.len());
        let pairs: Vec<&EncodedPair> = self.data.valid[..n].iter().collect();
        let limit = max_new_tokens.min(self.model.config.block_size - 1);
        let outputs = self.model.greedy(&self.batch(&pairs), limit)?;
        outputs
            .iter()
            .zip(&self.data.valid_text)
            .map(|(out, pair)| {
                let ids: Vec<u32> = out.iter().map(|&id| id as u32).collect();
                let written = self.data.tokenizer.decode(&ids, true)?;
                Ok(format!(
                    "{} → {written} (expected {})",
                    pair.source, pair.target
                ))
            })
            .collect()
    }
}
