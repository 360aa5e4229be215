//! `cargo xtask train`: trains a GPT. Without arguments, a small character model on the
//! built-in corpus (a few minutes on 2 cores); `--config` and the other options override.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use loam_lm::{TrainConfig, TrainOptions, train};

/// Arguments of `cargo xtask train`.
#[derive(clap::Args)]
pub struct Args {
    /// A TOML training config (e.g. configs/shakespeare-char.toml); the built-in run otherwise.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Train on this text file or folder instead of the config's corpus.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Output folder (dataset, checkpoints, metrics, plots); runs/<config name> by default.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue from the newest checkpoint in the output folder, bit-exactly.
    #[arg(long)]
    resume: bool,
    /// Device: `cpu`.
    #[arg(long)]
    device: Option<String>,
    /// Override the number of optimizer steps.
    #[arg(long)]
    iters: Option<usize>,
}

/// Sets rayon's global pool to `threads` threads (0: one per core).
pub fn set_threads(threads: usize) -> Result<()> {
    if threads > 0 {
        rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().context("setting the thread count")?;
    }
    Ok(())
}

/// Trains, printing progress, evaluations and a summary.
pub fn run(args: &Args) -> Result<()> {
    let mut config = match &args.config {
        Some(path) => TrainConfig::load(path)?,
        None => TrainConfig::default(),
    };
    if let Some(c) = &args.corpus {
        config.data.corpus = Some(c.clone());
    }
    if let Some(d) = &args.device {
        config.run.device = d.clone();
    }
    if let Some(n) = args.iters {
        config.optim.iters = n;
    }
    let name = args.config.as_ref().and_then(|p| p.file_stem()).map_or("default".into(), |s| s.to_string_lossy().into_owned());
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(name));
    set_threads(config.run.threads)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: saving a checkpoint after this step (Ctrl-C again to quit at once)");
    })
    .context("installing the Ctrl-C handler")?;
    let corpus = config.data.corpus.as_ref().map_or("the built-in customer-service corpus".into(), |p| p.display().to_string());
    eprintln!(
        "training a {}-layer, {}-wide GPT on {corpus} for {} steps on {} threads → {}",
        config.model.n_layer,
        config.model.n_embd,
        config.optim.iters,
        rayon::current_num_threads(),
        out.display()
    );
    let s = train(&config, &TrainOptions { out: out.clone(), resume: args.resume, progress: true, stop: Some(stop) })?;
    if s.interrupted {
        eprintln!("stopped at step {}; continue with --resume", s.steps);
    }
    println!("steps            {}", s.steps);
    println!("train loss       {:.4}", s.train_loss);
    println!("val loss (full)  {:.4}   perplexity {:.3} per token", s.val_loss_full, s.val_ppl);
    println!("speed            {:.0} tokens/s, {:.1} ms/step (median)", s.tokens_per_s, s.ms_per_iter);
    println!("wall time        {:.1} s", s.wall_s);
    println!("peak memory      {:.0} MB", s.peak_rss_mb);
    println!("checkpoint       {}", s.checkpoint.display());
    println!("best model       {}", s.best.display());
    println!("metrics, plot    {}, {}", out.join("metrics.jsonl").display(), out.join("loss.png").display());
    for sample in &s.samples {
        println!("--- sample ---\n{sample}");
    }
    Ok(())
}
