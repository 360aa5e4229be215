//! The training configuration, read from TOML: model, data, optimizer, schedule, batch,
//! evaluation, checkpoints, seed, threads and device. Every field has a default, so a config
//! file names only what it changes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{LmError, Result};
use crate::gpt::GptConfig;

/// Where the training text comes from and how it is tokenized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// A text file or folder; `None` trains on the built-in corpus.
    pub corpus: Option<PathBuf>,
    /// Tokenizer spec of loam-text: `char`, `bpe:VOCAB`, `wordpiece:VOCAB`, `unigram:VOCAB` or
    /// a path to a `tokenizer.json`.
    pub tokenizer: String,
    /// Fraction of the tokens held out for validation (the contiguous tail).
    pub val_fraction: f64,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig { corpus: None, tokenizer: "char".into(), val_fraction: 0.1 }
    }
}

/// Optimizer, schedule and loop settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Optimizer steps.
    pub iters: usize,
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Micro-batches whose gradients are averaged into one step.
    pub grad_accum: usize,
    /// Peak learning rate.
    pub lr: f32,
    /// Learning rate at the end of the cosine decay.
    pub min_lr: f32,
    /// Linear warmup steps: lr·(it+1)/(warmup+1).
    pub warmup: usize,
    /// AdamW β₁.
    pub beta1: f32,
    /// AdamW β₂.
    pub beta2: f32,
    /// Decoupled weight decay, on matrices only (not on 1-D parameters).
    pub weight_decay: f32,
    /// Clip gradients to this global norm (0: no clipping).
    pub grad_clip: f32,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            iters: 2000,
            batch_size: 12,
            grad_accum: 1,
            lr: 1e-3,
            min_lr: 1e-4,
            warmup: 100,
            beta1: 0.9,
            beta2: 0.99,
            weight_decay: 0.1,
            grad_clip: 1.0,
        }
    }
}

/// Logging, evaluation, checkpoints and the machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Steps between metrics lines.
    pub log_interval: usize,
    /// Steps between validation runs.
    pub eval_interval: usize,
    /// Batches of a validation run (0: every window of the validation split).
    pub eval_batches: usize,
    /// Steps between checkpoints.
    pub checkpoint_interval: usize,
    /// Checkpoints kept besides the best one.
    pub keep_last: usize,
    /// Fixes init, data order, dropout and sampling.
    pub seed: u64,
    /// Worker threads (0: one per core).
    pub threads: usize,
    /// `cpu` (CUDA is not built yet).
    pub device: String,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            log_interval: 10,
            eval_interval: 250,
            eval_batches: 20,
            checkpoint_interval: 500,
            keep_last: 2,
            seed: 1337,
            threads: 0,
            device: "cpu".into(),
        }
    }
}

/// Samples shown during and after training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SampleConfig {
    /// Prompts to continue.
    pub prompts: Vec<String>,
    /// Tokens per sample.
    pub max_new_tokens: usize,
    /// Sampling temperature (0: greedy).
    pub temperature: f32,
    /// Top-k filter (0: off).
    pub top_k: usize,
}

impl Default for SampleConfig {
    fn default() -> Self {
        SampleConfig { prompts: vec!["\n".into()], max_new_tokens: 200, temperature: 0.8, top_k: 40 }
    }
}

/// A whole training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The model (its `vocab_size` 0 is taken from the tokenizer).
    pub model: GptConfig,
    /// The data.
    pub data: DataConfig,
    /// The optimizer and schedule.
    pub optim: OptimConfig,
    /// Logging, evaluation, checkpoints, machine.
    pub run: RunConfig,
    /// Samples.
    pub sample: SampleConfig,
}

impl Default for TrainConfig {
    /// The built-in run: a 4-layer, 128-wide character GPT on the built-in corpus, 600 steps.
    fn default() -> Self {
        TrainConfig {
            model: GptConfig {
                n_layer: 4,
                n_head: 4,
                n_embd: 128,
                block_size: 64,
                vocab_size: 0,
                dropout: 0.0,
                bias: false,
                tie_embeddings: true,
                activation: "gelu".into(),
                layer_norm_eps: 1e-5,
            },
            data: DataConfig::default(),
            optim: OptimConfig { iters: 600, warmup: 50, ..OptimConfig::default() },
            run: RunConfig { eval_interval: 100, checkpoint_interval: 200, ..RunConfig::default() },
            sample: SampleConfig { prompts: vec!["Customer (".into()], max_new_tokens: 240, ..SampleConfig::default() },
        }
    }
}

impl TrainConfig {
    /// Parses a TOML config; unknown keys are errors.
    pub fn from_toml(text: &str, origin: &Path) -> Result<TrainConfig> {
        toml::from_str(text).map_err(|e| LmError::file(origin, format!("invalid training config: {e}")))
    }

    /// Reads a TOML config file.
    pub fn load(path: &Path) -> Result<TrainConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| LmError::file(path, format!("cannot read: {e}")))?;
        TrainConfig::from_toml(&text, path)
    }

    /// The config as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the config serializes")
    }

    /// Checks the loop settings (the model is checked once its vocabulary is known).
    pub fn validate(&self) -> Result<()> {
        let o = &self.optim;
        let bad = |m: &str| Err(LmError::Config(format!("training config: {m}")));
        if o.iters == 0 || o.batch_size == 0 || o.grad_accum == 0 {
            return bad("iters, batch_size and grad_accum must be positive");
        }
        if !(o.lr > 0.0 && o.min_lr >= 0.0 && o.min_lr <= o.lr) {
            return bad("need 0 ≤ min_lr ≤ lr and lr > 0");
        }
        if self.run.log_interval == 0 || self.run.eval_interval == 0 || self.run.checkpoint_interval == 0 {
            return bad("log_interval, eval_interval and checkpoint_interval must be positive");
        }
        if self.run.device != "cpu" {
            return Err(LmError::Config(format!(
                "device `{}` is not available: this build of loam trains on the CPU only (`cpu`)",
                self.run.device
            )));
        }
        Ok(())
    }
}
