//! `--model` of every command that runs a model: a loam run folder, a Hugging Face folder or
//! a hub id (`gpt2`, `HuggingFaceTB/SmolLM2-135M-Instruct`), fetched into loam's cache on
//! first use; and the sampling flags the generating commands share.

use anyhow::Result;
use loam_lm::{AutoModel, GenerationConfig};

/// The help of `--model`.
pub const MODEL_HELP: &str = "A loam run folder (config.toml), a Hugging Face folder (config.json) or a hub id \
                              (gpt2, HuggingFaceTB/SmolLM2-135M-Instruct[@revision]); an existing folder wins";

/// Loads `model`, saying on standard error what is fetched.
pub fn load(model: &str) -> Result<AutoModel> {
    Ok(AutoModel::load(model, &mut |line| eprintln!("fetch: {line}"))?)
}

/// Sampling flags; each one given overrides the model's default (`generation_config.json`
/// for a Hugging Face model: greedy unless it says `do_sample`).
#[derive(clap::Args)]
pub struct SamplingArgs {
    /// Sample from the distribution (the model's default otherwise).
    #[arg(long, conflicts_with = "greedy")]
    sample: bool,
    /// Take the most likely token each step.
    #[arg(long)]
    greedy: bool,
    /// Sampling temperature, ≥ 0 (0 is greedy; implies --sample unless --greedy).
    #[arg(long)]
    temperature: Option<f32>,
    /// Keep the k most likely tokens.
    #[arg(long)]
    top_k: Option<usize>,
    /// Keep the smallest set with probability ≥ p, p in (0, 1].
    #[arg(long)]
    top_p: Option<f32>,
    /// Keep tokens with probability ≥ min_p × the largest, min_p in [0, 1].
    #[arg(long)]
    min_p: Option<f32>,
    /// Penalty on tokens already present, > 0 (1: off).
    #[arg(long)]
    repetition_penalty: Option<f32>,
    /// Seed of the sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl SamplingArgs {
    /// `model`'s generation config with the flags given applied; out-of-range values are an
    /// error.
    pub fn config(&self, model: &AutoModel) -> Result<GenerationConfig> {
        self.apply(model.generation_config())
    }

    /// Refuses out-of-range flags before any model is read.
    pub fn check(&self) -> Result<()> {
        self.apply(GenerationConfig::default()).map(drop)
    }

    fn apply(&self, mut cfg: GenerationConfig) -> Result<GenerationConfig> {
        if self.sample || self.temperature.is_some() {
            cfg.do_sample = true;
        }
        if self.greedy {
            cfg.do_sample = false;
        }
        cfg.temperature = self.temperature.unwrap_or(cfg.temperature);
        cfg.top_k = self.top_k.or(cfg.top_k);
        cfg.top_p = self.top_p.or(cfg.top_p);
        cfg.min_p = self.min_p.or(cfg.min_p);
        cfg.repetition_penalty = self.repetition_penalty.unwrap_or(cfg.repetition_penalty);
        cfg.seed = self.seed;
        cfg.validate()?;
        Ok(cfg)
    }
}
