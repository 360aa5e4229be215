//! The training loop: data, model, AdamW with warmup + cosine, clipping, accumulation,
//! periodic validation, checkpoints, metrics, a progress bar, the loss plot and a summary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use loam_nn::optim::{AdamW, AdamWConfig, GradAccumulator, Schedule, clip_grad_norm};
use loam_nn::{Ctx, ParamStore};
use loam_tensor::{GradStore, Rng, Tensor, no_grad};
use loam_text::{CleanConfig, DatasetConfig, Normalization, Split, TokenDataset, TokenSplit, Tokenizer, TokenizerSpec, build_dataset, load_tokenizer};
use serde::Serialize;

use crate::checkpoint::{self, TrainState};
use crate::default_corpus::default_corpus;
use crate::error::{LmError, Result};
use crate::generate::generate;
use crate::gpt::Gpt;
use crate::metrics::{Metric, MetricsLog};
use crate::perplexity::perplexity;
use crate::plot::plot_losses;
use crate::sampling::GenerationConfig;
use crate::train_config::TrainConfig;

/// How a run is driven from outside.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Output folder: dataset, checkpoints, metrics, plots.
    pub out: PathBuf,
    /// Continue from the newest checkpoint in `out`.
    pub resume: bool,
    /// Show a progress bar and evaluation lines on stderr.
    pub progress: bool,
    /// Set (e.g. by Ctrl-C) to stop after the current step with a checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
}

/// What a finished (or interrupted) run reports.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    /// Steps done.
    pub steps: usize,
    /// The last training loss.
    pub train_loss: f32,
    /// Mean cross-entropy over every non-overlapping window of the validation split.
    pub val_loss_full: f32,
    /// exp(val_loss_full), per token.
    pub val_ppl: f32,
    /// Training tokens per second (this session).
    pub tokens_per_s: f64,
    /// Milliseconds per step (median of this session).
    pub ms_per_iter: f64,
    /// Wall time of the session.
    pub wall_s: f64,
    /// Peak resident memory of the process.
    pub peak_rss_mb: f64,
    /// Samples from the final model.
    pub samples: Vec<String>,
    /// The last checkpoint written.
    pub checkpoint: PathBuf,
    /// The checkpoint with the best validation loss.
    pub best: PathBuf,
    /// Whether the run stopped early on request.
    pub interrupted: bool,
}

/// Peak resident memory in MB (Linux `VmHWM`; 0 elsewhere).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Builds (or reuses, when resuming) the token dataset in `out/data`.
fn prepare_data(config: &TrainConfig, out: &Path, reuse: bool) -> Result<PathBuf> {
    let data_dir = out.join("data");
    if reuse && data_dir.join("meta.json").is_file() {
        return Ok(data_dir);
    }
    let (corpus, clean) = match &config.data.corpus {
        Some(p) => (p.clone(), CleanConfig::default()),
        None => {
            let src = out.join("default-corpus.txt");
            std::fs::create_dir_all(out).map_err(|e| LmError::file(out, format!("cannot create: {e}")))?;
            loam_nn::safetensors_io::write_atomic(&src, default_corpus(config.run.seed, 400_000).as_bytes())?;
            let clean = CleanConfig {
                normalization: Some(Normalization::Nfc),
                remove_control: true,
                normalize_whitespace: true,
                ..CleanConfig::default()
            };
            (src, clean)
        }
    };
    let spec: TokenizerSpec = config.data.tokenizer.parse()?;
    let mut dc = DatasetConfig::new(corpus, &data_dir, spec);
    dc.clean = clean;
    dc.val_fraction = config.data.val_fraction;
    build_dataset(&dc)?;
    Ok(data_dir)
}

/// A batch of `b` random windows: inputs and targets, `b × block` each.
fn random_batch(split: &TokenSplit, b: usize, block: usize, rng: &mut Rng) -> Result<(Vec<usize>, Vec<usize>)> {
    let (mut x, mut y) = (Vec::with_capacity(b * block), Vec::with_capacity(b * block));
    for _ in 0..b {
        let start = rng.below((split.len() - block) as u64) as usize;
        let w = split.tokens(start, block + 1)?;
        x.extend(w[..block].iter().map(|&t| t as usize));
        y.extend(w[1..].iter().map(|&t| t as usize));
    }
    Ok((x, y))
}

/// Into how many equal shards a batch of `batch` rows is split, one per thread: the most, up to
/// `threads`, that divide it. Each shard runs forward and backward on its own thread (whole
/// small models parallelize far better this way than op by op), and their mean gradient is
/// the batch's. The split depends only on the batch size and thread count, so runs are
/// reproducible for a given thread count.
fn batch_shards(batch: usize, threads: usize) -> usize {
    (1..=threads.min(batch).max(1)).rev().find(|s| batch % s == 0).unwrap_or(1)
}

/// Mean loss over `batches` batches of windows drawn from a fixed seed (the same windows at
/// every evaluation).
fn eval_loss(gpt: &Gpt, split: &TokenSplit, batches: usize, batch_size: usize, seed: u64) -> Result<f32> {
    let _g = no_grad();
    let block = gpt.config.block_size;
    let mut rng = Rng::new(seed ^ 0xe7a1);
    let mut total = 0.0;
    for _ in 0..batches {
        let (x, y) = random_batch(split, batch_size, block, &mut rng)?;
        total += gpt.loss(&x, &y, batch_size, block, &mut Ctx::eval())?.to_scalar()?;
    }
    Ok(total / batches as f32)
}

/// Samples of up to `max_new_tokens` tokens from the model for each configured prompt; a
/// prompt the vocabulary cannot spell is replaced by `fallback`.
fn samples(gpt: &Gpt, tokenizer: &dyn Tokenizer, config: &TrainConfig, max_new_tokens: usize, fallback: &str) -> Result<Vec<String>> {
    let s = &config.sample;
    let cfg = GenerationConfig {
        max_new_tokens,
        do_sample: s.temperature > 0.0,
        temperature: s.temperature,
        top_k: (s.top_k > 0).then_some(s.top_k),
        seed: config.run.seed,
        ..GenerationConfig::default()
    };
    s.prompts
        .iter()
        .map(|p| {
            let p = if tokenizer.encode(p, false).is_ok_and(|ids| !ids.is_empty()) { p.as_str() } else { fallback };
            Ok(format!("{p}{}", generate(gpt, tokenizer, p, &cfg, &mut |_| ())?.text))
        })
        .collect()
}

/// A per-step seed for dropout masks, so a resumed run draws the same masks.
fn step_seed(seed: u64, step: usize, micro: usize) -> u64 {
    seed ^ (step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (micro as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
}

/// Trains a GPT as `config` says, writing everything under `opts.out`.
pub fn train(config: &TrainConfig, opts: &TrainOptions) -> Result<TrainSummary> {
    config.validate()?;
    let started = Instant::now();
    let ckpt_dir = opts.out.join("checkpoints");
    let best_dir = opts.out.join("best");
    let resume_from = if opts.resume {
        Some(checkpoint::list_checkpoints(&ckpt_dir)?.pop().map(|(_, p)| p).ok_or_else(|| {
            LmError::file(&ckpt_dir, "--resume: no checkpoint to resume from")
        })?)
    } else {
        None
    };
    // a resumed run continues with the config it was started with
    let mut config = match &resume_from {
        Some(dir) => TrainConfig::load(&dir.join(checkpoint::CONFIG_FILE))?,
        None => config.clone(),
    };
    let data_dir = prepare_data(&config, &opts.out, resume_from.is_some())?;
    let dataset = TokenDataset::open(&data_dir)?;
    let tokenizer_file = dataset.tokenizer_path();
    let tokenizer = load_tokenizer(&tokenizer_file)?;
    let (train_split, val_split) = (dataset.split(Split::Train)?, dataset.split(Split::Val)?);
    if config.model.vocab_size == 0 {
        config.model.vocab_size = tokenizer.vocab_size();
    }
    if config.model.vocab_size < tokenizer.vocab_size() {
        return Err(LmError::Config(format!(
            "model vocab_size {} is smaller than the tokenizer's {}",
            config.model.vocab_size,
            tokenizer.vocab_size()
        )));
    }
    let block = config.model.block_size;
    for (name, split) in [("training", &train_split), ("validation", &val_split)] {
        if split.len() <= block + 1 {
            return Err(LmError::Config(format!("the {name} split has {} tokens, too few for windows of {block}", split.len())));
        }
    }
    let (o, r) = (config.optim.clone(), config.run.clone());
    let store = ParamStore::new(r.seed);
    let gpt = Gpt::new(&config.model, &store)?;
    let adam = AdamWConfig { lr: o.lr, beta1: o.beta1, beta2: o.beta2, ..AdamWConfig::default() };
    let mut opt = AdamW::no_decay_1d(store.trainable(), o.weight_decay, adam)?;
    // the data order has its own stream, apart from the init drawn from the same seed
    let mut state = TrainState::new(0, Rng::new(r.seed ^ 0xda7a).state(), None, 0);
    if let Some(dir) = &resume_from {
        store.load(&dir.join(checkpoint::MODEL_FILE))?;
        opt = AdamW::load_state(&dir.join(checkpoint::OPTIMIZER_FILE), &store.trainable())?;
        state = checkpoint::load_state(dir)?;
    }
    let mut data_rng = Rng::from_state(state.data_rng(&ckpt_dir)?);
    let schedule = Schedule::WarmupCosine { lr: o.lr, min_lr: o.min_lr, warmup: o.warmup, total: o.iters };
    let val_tokens: Vec<usize> = val_split.tokens(0, val_split.len())?.iter().map(|&t| t as usize).collect();
    let fallback = tokenizer.decode(&[val_tokens[0] as u32], true)?;
    let params: Vec<Tensor> = store.trainable().into_iter().map(|(_, t)| t).collect();
    let mut metrics = MetricsLog::open(&opts.out.join("metrics.jsonl"), state.step)?;
    let bar = if opts.progress { ProgressBar::new(o.iters as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed} < {eta}]").expect("valid template"),
    );
    bar.set_position(state.step as u64);
    let tokens_per_step = o.batch_size * o.grad_accum * block;
    let shards = batch_shards(o.batch_size, rayon::current_num_threads());
    let mut step_times = Vec::new();
    let (mut last_loss, mut window_tokens, mut window_start) = (f32::NAN, 0usize, Instant::now());
    let mut last_ckpt = resume_from.clone().unwrap_or_default();
    let mut saved_step = resume_from.as_ref().map(|_| state.step);
    let mut interrupted = false;
    // a checkpoint of the current step, then only the newest `keep_last` are kept
    let save = |state: &TrainState, data_rng: &Rng, opt: &AdamW| -> Result<PathBuf> {
        let s = TrainState::new(state.step, data_rng.state(), state.best_val_loss, state.tokens_seen);
        let name = format!("step-{:06}", state.step);
        let dir = checkpoint::save_checkpoint(&ckpt_dir, &name, &store, opt, &s, &config, &tokenizer_file)?;
        checkpoint::prune_checkpoints(&ckpt_dir, r.keep_last.max(1))?;
        Ok(dir)
    };
    while state.step < o.iters {
        if opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
            interrupted = true;
            break;
        }
        let t0 = Instant::now();
        let step = state.step;
        let lr = schedule.lr(step);
        opt.set_lr(lr);
        let mut acc = GradAccumulator::new(params.iter());
        let mut loss_sum = 0.0;
        for micro in 0..o.grad_accum {
            let (x, y) = random_batch(&train_split, o.batch_size, block, &mut data_rng)?;
            // equal shards of the batch, one per thread, each a micro-batch of its own
            let rows = o.batch_size / shards;
            let shard_grads = loam_tensor::map_on_workers(shards, |s| -> Result<(f32, GradStore)> {
                let span = s * rows * block..(s + 1) * rows * block;
                let mut ctx = Ctx::train(step_seed(r.seed, step, micro * shards + s));
                let loss = gpt.loss(&x[span.clone()], &y[span], rows, block, &mut ctx)?;
                let l = loss.to_scalar()?;
                if !l.is_finite() {
                    return Err(LmError::Diverged { step: step + 1, loss: l });
                }
                Ok((l, loss.backward()?))
            });
            for shard in shard_grads {
                let (l, grads) = shard?;
                loss_sum += l / shards as f32;
                acc.add(&grads)?;
            }
        }
        let mut grads = acc.finish()?;
        let grad_norm = clip_grad_norm(&mut grads, params.iter(), if o.grad_clip > 0.0 { o.grad_clip } else { f32::MAX })?;
        if !grad_norm.is_finite() {
            return Err(LmError::Diverged { step: step + 1, loss: grad_norm });
        }
        opt.step(&grads)?;
        drop(grads);
        step_times.push(t0.elapsed().as_secs_f64());
        last_loss = loss_sum / o.grad_accum as f32;
        state.step += 1;
        state.tokens_seen += tokens_per_step as u64;
        window_tokens += tokens_per_step;
        let done = state.step == o.iters;
        if state.step % r.log_interval == 0 || done {
            let tps = window_tokens as f64 / window_start.elapsed().as_secs_f64();
            metrics.log(Metric::Train { step: state.step, loss: last_loss, lr, grad_norm, tokens_per_s: tps })?;
            bar.set_message(format!("loss {last_loss:.4} lr {lr:.2e} {:.1}k tok/s", tps / 1e3));
            (window_tokens, window_start) = (0, Instant::now());
        }
        bar.set_position(state.step as u64);
        let mut is_best = false;
        if state.step % r.eval_interval == 0 || done {
            let val = match r.eval_batches {
                0 => perplexity(&gpt, &val_tokens, None, 64, &|t| t.len())?.mean_nll as f32,
                n => eval_loss(&gpt, &val_split, n, o.batch_size, r.seed)?,
            };
            metrics.log(Metric::Eval { step: state.step, val_loss: val, val_ppl: val.exp() })?;
            let sample = samples(&gpt, &tokenizer, &config, 80, &fallback)?;
            let line = format!("step {:>6}  train {last_loss:.4}  val {val:.4}  sample: {:?}", state.step, sample.first().map(String::as_str).unwrap_or(""));
            if bar.is_hidden() {
                if opts.progress {
                    eprintln!("{line}");
                }
            } else {
                bar.println(line);
            }
            is_best = state.best_val_loss.is_none_or(|b| val < b);
            if is_best {
                state.best_val_loss = Some(val);
            }
        }
        if is_best || state.step % r.checkpoint_interval == 0 || done {
            last_ckpt = save(&state, &data_rng, &opt)?;
            saved_step = Some(state.step);
            if is_best {
                checkpoint::copy_checkpoint(&last_ckpt, &best_dir)?;
            }
        }
    }
    bar.finish_and_clear();
    if interrupted && saved_step != Some(state.step) {
        last_ckpt = save(&state, &data_rng, &opt)?;
    }
    let _ = plot_losses(&metrics.history, &opts.out.join("loss.png"), &opts.out.join("loss.svg"));
    let full = perplexity(&gpt, &val_tokens, None, 64, &|t| t.len())?;
    let samples = samples(&gpt, &tokenizer, &config, config.sample.max_new_tokens, &fallback)?;
    let wall = started.elapsed().as_secs_f64();
    step_times.sort_by(f64::total_cmp);
    let med = step_times.get(step_times.len() / 2).copied().unwrap_or(f64::NAN);
    Ok(TrainSummary {
        steps: state.step,
        train_loss: last_loss,
        val_loss_full: full.mean_nll as f32,
        val_ppl: full.perplexity as f32,
        tokens_per_s: tokens_per_step as f64 / med,
        ms_per_iter: med * 1e3,
        wall_s: wall,
        peak_rss_mb: peak_rss_mb(),
        samples,
        checkpoint: last_ckpt,
        best: best_dir,
        interrupted,
    })
}
