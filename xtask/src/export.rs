//! `cargo xtask export --model RUN --format hf --out DIR [--overwrite]`: a loam run (its
//! `best/` model) or one of its checkpoints written in Hugging Face's layout, which
//! `transformers` and loam's own BART loader read as they are: a loam encoder–decoder as
//! BART (`BartForConditionalGeneration`).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use loam_lm::{LoadedModel, RunFolder, TrainedModel, load_model};

/// Arguments of `cargo xtask export`.
#[derive(clap::Args)]
pub struct Args {
    /// A loam run folder (its `best/` model is exported) or a checkpoint folder.
    #[arg(long)]
    model: PathBuf,
    /// The layout to write: `hf` (Hugging Face's BART layout).
    #[arg(long, default_value = "hf")]
    format: String,
    /// The folder to write (an existing non-empty one needs --overwrite).
    #[arg(long)]
    out: PathBuf,
    /// Replace `--out` when it exists and is not empty.
    #[arg(long)]
    overwrite: bool,
}

/// The folder holding the model of `model`: itself when it is a checkpoint (it has the run's
/// `config.toml`), else its `best/` model.
fn model_dir(model: &Path) -> Result<PathBuf> {
    if model.join("config.toml").is_file() {
        return Ok(model.to_path_buf());
    }
    let best = RunFolder::new(model).best();
    if best.join("config.toml").is_file() {
        return Ok(best);
    }
    bail!(
        "{}: neither a loam checkpoint (no config.toml) nor a run folder with a best/ model",
        model.display()
    )
}

/// Exports the model and prints what was written.
pub fn run(args: &Args) -> Result<()> {
    if args.format != "hf" {
        bail!(
            "--format {}: the only export format is hf (Hugging Face)",
            args.format
        );
    }
    let non_empty = std::fs::read_dir(&args.out).is_ok_and(|mut d| d.next().is_some());
    if non_empty && !args.overwrite {
        bail!(
            "{} exists and is not empty (pass --overwrite to replace it)",
            args.out.display()
        );
    }
    let dir = model_dir(&args.model)?;
    let LoadedModel { model, store, .. } = load_model(&dir)?;
    let TrainedModel::Seq2Seq(m) = &model else {
        bail!(
            "{}: export writes loam encoder–decoders (as BART); this run is a {}",
            dir.display(),
            model_name(&model)
        );
    };
    loam_lm::seq2seq::export_bart(m, &store, &dir.join("tokenizer.json"), &args.out)?;
    println!(
        "export: {} → {} as BART (BartForConditionalGeneration)",
        dir.display(),
        args.out.display()
    );
    Ok(())
}

/// The run's architecture for messages.
fn model_name(model: &TrainedModel) -> &'static str {
    match model {
        TrainedModel::Gpt(_) => "GPT",
        TrainedModel::Llama(_) => "Llama",
        TrainedModel::Bert(_) => "BERT",
        TrainedModel::Seq2Seq(_) => "encoder–decoder",
    }
}
