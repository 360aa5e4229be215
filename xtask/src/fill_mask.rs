//! `cargo xtask fill-mask --model DIR "the [MASK] sat on the mat" [--top-k 5] [--json]`: the
//! likeliest tokens at each `[MASK]` of a text, with a loam MLM run or a Hugging Face
//! `BertForMaskedLM` folder; one list per mask.

use anyhow::{Result, bail};
use loam_lm::fill_mask;

use crate::model_arg::{self, MODEL_HELP};

/// Arguments of `cargo xtask fill-mask`.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, help = MODEL_HELP)]
    model: String,
    /// The text, with `[MASK]` where tokens are to be predicted.
    text: String,
    /// Candidates per mask.
    #[arg(long, default_value_t = 5)]
    top_k: usize,
    /// Print one JSON object: `{"masks":[{"position":…,"candidates":[{"id","token","score"}…]}…]}`.
    #[arg(long)]
    json: bool,
}

/// Prints the candidates of each mask, most likely first.
pub fn run(args: &Args) -> Result<()> {
    if args.top_k == 0 {
        bail!("--top-k must be at least 1");
    }
    let m = model_arg::load(&args.model)?;
    let fills = fill_mask(m.masked_lm()?, &m.tokenizer, &args.text, args.top_k)?;
    if args.json {
        println!("{}", serde_json::json!({ "model": m.model_type(), "masks": fills }));
        return Ok(());
    }
    for (i, f) in fills.iter().enumerate() {
        println!("mask {} (token {}):", i + 1, f.position);
        for c in &f.candidates {
            println!("  {:>7.4}  {:<16} id {}", c.score, c.token, c.id);
        }
    }
    Ok(())
}
