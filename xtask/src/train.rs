//! `cargo xtask train`: trains a GPT, a Llama or a BERT (masked LM), as the config says. Without arguments, a small character model on the
//! built-in corpus (a few minutes on 2 cores); `--config` and the other options override.
//! A run stopped by Ctrl-C saves its checkpoint and exits with status 130.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use loam_lm::{RunOptions, TrainConfig, saved_config, train};

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
    /// Continue from the newest checkpoint in the output folder, bit-exactly, with the config
    /// it was started with (a different --config or --corpus is refused; --iters may grow).
    #[arg(long)]
    resume: bool,
    /// Start afresh in an output folder that holds an earlier run, removing what that run
    /// wrote (checkpoints, best, dataset, metrics, plots); other files stay.
    #[arg(long, conflicts_with = "resume")]
    overwrite: bool,
    /// Replace invalid UTF-8 in the corpus with U+FFFD (and count it) instead of failing.
    #[arg(long)]
    lossy_utf8: bool,
    /// Device: `cpu`, `cuda` (GPU 0) or `cuda:N`; a GPU needs loam built with `--features
    /// cuda`. Overrides the config's `[run] device`.
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

/// A run stopped on request (Ctrl-C) after saving its checkpoint; the command exits with 130.
#[derive(Debug)]
pub struct Interrupted {
    /// The step the run stopped at.
    pub step: usize,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stopped at step {}; continue with --resume", self.step)
    }
}

impl std::error::Error for Interrupted {}

/// Trains, printing progress, evaluations and a summary.
pub fn run(args: &Args) -> Result<()> {
    let name = args.config.as_ref().and_then(|p| p.file_stem()).map_or("default".into(), |s| s.to_string_lossy().into_owned());
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("runs").join(name));
    let mut config = match &args.config {
        Some(path) => TrainConfig::load(path)?,
        // a resumed run continues with its saved config unless one is given (and must match)
        None if args.resume => saved_config(&out)?,
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
    if args.lossy_utf8 {
        config.data.lossy_utf8 = true;
    }
    // a GPU that is not there is refused before anything is read or written
    let device = loam_lm::select_device(&config.run.device)?;
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
    let corpus = match (&config.data.corpus, &config.data.train) {
        (_, Some(pairs)) => format!("the pairs of {}", pairs.display()),
        (Some(p), None) => p.display().to_string(),
        (None, None) => "the built-in customer-service corpus".into(),
    };
    eprintln!(
        "training a {}-layer, {}-wide {} on {corpus} for {} steps on {} → {}",
        config.model.n_layer,
        config.model.n_embd,
        match config.model.architecture {
            loam_lm::ModelArchitecture::Gpt => "GPT",
            loam_lm::ModelArchitecture::Llama => "Llama",
            loam_lm::ModelArchitecture::Bert => "BERT (masked LM)",
            loam_lm::ModelArchitecture::Seq2seq => "encoder–decoder",
        },
        config.optim.iters,
        match device {
            loam_tensor::Device::Cpu => format!("{} threads", rayon::current_num_threads()),
            gpu => gpu.to_string(),
        },
        out.display()
    );
    let opts = RunOptions { out: out.clone(), resume: args.resume, overwrite: args.overwrite, progress: true, stop: Some(stop) };
    let s = train(&config, &opts)?;
    println!("steps            {}", s.steps);
    println!("train loss       {:.4}", s.train_loss);
    println!("val loss (full)  {:.4}   perplexity {:.3} per token", s.val_loss_full, s.val_ppl);
    for (name, value) in &s.val_metrics {
        match name.strip_suffix("_pct") {
            Some(stem) => println!("{:<16} {value:.2} %", stem.replace('_', " ")),
            None => println!("{:<16} {value:.4}", name.replace('_', " ")),
        }
    }
    println!("speed            {:.0} tokens/s, {:.1} ms/step (median)", s.tokens_per_s, s.ms_per_iter);
    println!("wall time        {:.1} s", s.wall_s);
    println!("peak memory      {:.0} MB", s.peak_rss_mb);
    println!("checkpoint       {}", s.checkpoint.display());
    println!("best model       {}", s.best.display());
    println!("metrics, plot    {}, {}", out.join("metrics.jsonl").display(), out.join("loss.png").display());
    for sample in &s.samples {
        println!("--- sample ---\n{sample}");
    }
    if s.interrupted {
        return Err(Interrupted { step: s.steps }.into());
    }
    Ok(())
}
