//! `cargo xtask write`: product descriptions or ad copy for each product of a CSV or JSON-lines
//! file, through a local model or an OpenAI-compatible endpoint, with every output checked.

use std::path::PathBuf;

use anyhow::{Result, bail};
use loam_apps::provider::GenParams;
use loam_apps::writer::{Kind, Writer, WriterConfig, read_products};

use crate::provider_arg::ProviderArgs;

/// Arguments of `cargo xtask write`.
#[derive(clap::Args)]
pub struct Args {
    /// The products: CSV (header: name, category, features, audience, tone, length, language;
    /// features separated by `;`) or JSON lines (`.jsonl`).
    #[arg(long)]
    product: PathBuf,
    /// What to write.
    #[arg(long, default_value = "description", value_parser = ["description", "ad"])]
    kind: String,
    /// Print one JSON object per product (with every try) instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    provider: ProviderArgs,
    /// The seed of the first try (try i uses seed + i).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Tries per product at most.
    #[arg(long, default_value_t = 3)]
    max_tries: usize,
    /// A word or phrase the copy must not use (repeatable).
    #[arg(long)]
    ban: Vec<String>,
    /// New tokens per try at most.
    #[arg(long, default_value_t = 300)]
    max_tokens: usize,
    /// Sampling temperature (0: greedy).
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
}

/// Writes copy for every product and prints it with what it fails, if anything.
pub fn run(args: &Args) -> Result<()> {
    let products = read_products(&args.product)?;
    let Some(provider) = args.provider.provider()? else {
        bail!("give a model: --model DIR, or --openai-base URL --openai-model NAME");
    };
    let config = WriterConfig {
        kind: Kind::parse(&args.kind).unwrap_or_default(),
        max_tries: args.max_tries,
        seed: args.seed,
        banned: args.ban.clone(),
        bounds: None,
        params: GenParams { max_tokens: args.max_tokens, temperature: args.temperature, ..GenParams::default() },
    };
    let writer = Writer::new(provider.as_ref(), config)?;
    for product in &products {
        let outcome = writer.write(product)?;
        if args.json {
            println!("{}", serde_json::to_string(&outcome)?);
            continue;
        }
        let tries = outcome.attempts.len();
        if outcome.passed {
            println!("== {} ({}): passed on try {tries} of {}", outcome.product, args.kind, args.max_tries);
        } else {
            println!("== {} ({}): constraints not met after {tries} tries; the best try fails:", outcome.product, args.kind);
            for v in &outcome.violations {
                println!("  - {v}");
            }
        }
        println!("{}\n", outcome.text);
    }
    Ok(())
}
