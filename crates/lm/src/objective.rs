//! What a run trains its model to do, as the training loop sees it. The loop (schedule,
//! gradient accumulation, shards over threads, clipping, checkpoints, resume, metrics, plots,
//! progress) is the same for every objective; an [`Objective`] brings the rest: its batches,
//! its loss on one, its validation figures and its samples.
//!
//! An objective is chosen in the config (`[model] objective`, [`ObjectiveKind`]). To add one:
//! a variant there, a type implementing [`Objective`] over the model and data it needs, and
//! the arm in `trainer::train` that builds it.

use std::collections::BTreeMap;

use loam_nn::Ctx;
use loam_tensor::{Rng, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Which objective a run trains (`[model] objective`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectiveKind {
    /// Causal language modelling: predict each next token of a window (GPT, Llama).
    #[default]
    Clm,
    /// Masked language modelling: predict the tokens hidden in a window (BERT).
    Mlm,
    /// Sequence to sequence: write the target of each (source, target) pair (loam's
    /// encoder–decoder).
    Seq2seq,
}

impl ObjectiveKind {
    /// The name in a config (`clm`, `mlm`, `seq2seq`).
    pub fn name(self) -> &'static str {
        match self {
            ObjectiveKind::Clm => "clm",
            ObjectiveKind::Mlm => "mlm",
            ObjectiveKind::Seq2seq => "seq2seq",
        }
    }
}

/// One objective's side of the training loop.
pub trait Objective: Sync {
    /// What the loss is computed on: a batch of examples.
    type Batch: Send + Sync;

    /// `rows` training examples drawn with `rng`, the run's data-order generator. Every
    /// checkpoint saves that generator, so a resumed run draws what the uninterrupted one
    /// would have; an objective draws all its randomness (masking included) from it.
    fn draw(&self, rows: usize, rng: &mut Rng) -> Result<Self::Batch>;

    /// Tokens `batch` trains on (for tokens/s and the tokens seen).
    fn tokens(&self, batch: &Self::Batch) -> usize;

    /// Mean loss of `batch`; `ctx` says train or eval and seeds dropout.
    fn loss(&self, batch: &Self::Batch, ctx: &mut Ctx) -> Result<Tensor>;

    /// Validation on held-out data: the configured evaluation batches (the same at every
    /// evaluation), or with `full` the whole validation split.
    fn validate(&self, full: bool) -> Result<Validation>;

    /// What the model does now, shown during and after training (continuations of the
    /// sample prompts, predictions for masks…), each up to `max_new_tokens` tokens long.
    fn samples(&self, max_new_tokens: usize) -> Result<Vec<String>>;
}

/// The figures of one validation run.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Validation {
    /// Mean validation loss (nats per scored token); the lowest picks the best checkpoint.
    pub loss: f64,
    /// Other named figures (`masked_accuracy` 0–1, `bleu` 0–100, `exact_match_pct`
    /// 0–100…: a name ending in `_pct` is in percent), written to `metrics.jsonl` and plotted.
    pub metrics: BTreeMap<String, f64>,
}

impl Validation {
    /// A validation with a loss only.
    pub fn loss(loss: f64) -> Validation {
        Validation { loss, metrics: BTreeMap::new() }
    }
}
