//! The causal-language-modelling objective (`objective = "clm"`): random windows of the token
//! stream, each position predicting the next token; validated by the mean loss over fixed
//! windows (or every window of the validation split); samples continue the configured prompts.

use loam_nn::Ctx;
use loam_tensor::{Rng, Tensor, no_grad};
use loam_text::{TokenSplit, Tokenizer};

use crate::error::Result;
use crate::objective::{Objective, Validation};
use crate::run_data::RunData;
use crate::train_config::TrainConfig;
use crate::trainable::TrainableModel;

/// A batch of windows: inputs and targets, `rows × block` each, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Windows {
    /// Input ids.
    pub x: Vec<usize>,
    /// Target ids: the inputs shifted by one.
    pub y: Vec<usize>,
    /// Windows.
    pub rows: usize,
    /// Positions per window.
    pub block: usize,
}

/// Causal LM training of a decoder (GPT, Llama) on a run's token data.
pub(crate) struct Clm<'a> {
    model: &'a dyn TrainableModel,
    data: &'a RunData,
    config: &'a TrainConfig,
}

impl<'a> Clm<'a> {
    /// The objective of `model` on `data`, with the evaluation and sample settings of `config`.
    pub fn new(model: &'a dyn TrainableModel, data: &'a RunData, config: &'a TrainConfig) -> Clm<'a> {
        Clm { model, data, config }
    }
}

/// `rows` random windows of `block` tokens from `split`, with their targets.
fn random_windows(split: &TokenSplit, rows: usize, block: usize, rng: &mut Rng) -> Result<Windows> {
    let (mut x, mut y) = (Vec::with_capacity(rows * block), Vec::with_capacity(rows * block));
    for _ in 0..rows {
        let start = rng.below((split.len() - block) as u64) as usize;
        let w = split.tokens(start, block + 1)?;
        x.extend(w[..block].iter().map(|&t| t as usize));
        y.extend(w[1..].iter().map(|&t| t as usize));
    }
    Ok(Windows { x, y, rows, block })
}

impl Objective for Clm<'_> {
    type Batch = Windows;

    fn draw(&self, rows: usize, rng: &mut Rng) -> Result<Windows> {
        random_windows(&self.data.train, rows, self.model.block_size(), rng)
    }

    fn tokens(&self, batch: &Windows) -> usize {
        batch.rows * batch.block
    }

    fn loss(&self, batch: &Windows, ctx: &mut Ctx) -> Result<Tensor> {
        self.model.loss(&batch.x, &batch.y, batch.rows, batch.block, ctx)
    }

    /// Mean loss over `eval_batches` batches of windows drawn from a fixed seed (the same
    /// windows at every evaluation); with `full` or `eval_batches` 0, over every
    /// non-overlapping window of the validation split.
    fn validate(&self, full: bool) -> Result<Validation> {
        let (batches, batch_size, seed) = (self.config.run.eval_batches, self.config.optim.batch_size, self.config.run.seed);
        if full || batches == 0 {
            return Ok(Validation::loss(self.model.full_loss(&self.data.val_tokens)?));
        }
        let _g = no_grad();
        let mut rng = Rng::new(seed ^ 0xe7a1);
        let mut total = 0.0f32;
        for _ in 0..batches {
            let w = random_windows(&self.data.val, batch_size, self.model.block_size(), &mut rng)?;
            total += self.loss(&w, &mut Ctx::eval())?.to_scalar()?;
        }
        Ok(Validation::loss(f64::from(total / batches as f32)))
    }

    /// Continuations of up to `max_new_tokens` tokens of each configured prompt; a prompt the
    /// vocabulary cannot spell is replaced by the data's fallback.
    fn samples(&self, max_new_tokens: usize) -> Result<Vec<String>> {
        let (config, data) = (self.config, self.data);
        let cfg = config.sample.generation(max_new_tokens, config.run.seed);
        config
            .sample
            .prompts
            .iter()
            .map(|p| {
                let p = if data.tokenizer.encode(p, false).is_ok_and(|ids| !ids.is_empty()) { p.as_str() } else { &data.fallback };
                Ok(format!("{p}{}", self.model.sample(&data.tokenizer, p, &cfg)?))
            })
            .collect()
    }
}
