//! The beam-search flags of `cargo xtask generate`, for decoder-only and encoder–decoder
//! models alike (`transformers`' `num_beams`, `length_penalty`, `early_stopping`,
//! `num_return_sequences`, `min_new_tokens`).

use anyhow::{Result, bail};
use loam_lm::{BeamConfig, EarlyStopping};

/// Beam-search flags; one beam (the default) is greedy or sampled decoding.
#[derive(clap::Args)]
pub struct BeamArgs {
    /// Beams kept at each step (1: no beam search).
    #[arg(long, default_value_t = 1)]
    num_beams: usize,
    /// Finished beams score Σ log p / length^penalty (> 0 favours longer outputs).
    #[arg(long, default_value_t = 1.0)]
    length_penalty: f32,
    /// When beam search stops: true (num_beams finished), false (no beam can improve at the
    /// current length) or never (none can at the longest length).
    #[arg(long, default_value = "false")]
    early_stopping: String,
    /// Hypotheses printed, best first (at most --num-beams).
    #[arg(long, default_value_t = 1)]
    num_return_sequences: usize,
    /// The end-of-sequence token is banned until this many new tokens.
    #[arg(long, default_value_t = 0)]
    min_new_tokens: usize,
}

impl BeamArgs {
    /// The beam settings, or `None` for one beam; out-of-range values are refused. With
    /// sampling on, the beams are sampled (`transformers`' beam sampling).
    pub fn config(&self) -> Result<Option<BeamConfig>> {
        let beam = BeamConfig {
            num_beams: self.num_beams,
            length_penalty: self.length_penalty,
            early_stopping: self.early_stopping.parse::<EarlyStopping>()?,
            num_return_sequences: self.num_return_sequences,
            min_new_tokens: self.min_new_tokens,
        };
        beam.validate()?;
        if self.num_beams == 1 {
            if self.min_new_tokens > 0 {
                bail!("--min-new-tokens applies to beam search (--num-beams > 1)");
            }
            return Ok(None);
        }
        Ok(Some(beam))
    }
}
