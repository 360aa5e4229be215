//! The training loop: data, model, AdamW with warmup + cosine, clipping, accumulation,
//! periodic validation, checkpoints, metrics, a progress bar, the loss plot and a summary.
//! On a GPU (`[run] device`), the parameters are made or loaded on the host, copied to the
//! device once, and trained there; checkpoints go through host memory.
//! [`train`] reads top to bottom; each part (resume, data, one step, progress, evaluation,
//! checkpoints, summary) is a function or a small type of its own below it. What is trained
//! (batches, loss, validation figures, samples) is the run's [`Objective`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use loam_nn::optim::{AdamW, AdamWConfig, GradAccumulator, Schedule, clip_grad_norm};
use std::collections::BTreeMap;

use loam_nn::{Ctx, ParamStore};
use loam_tensor::{Device, GradStore, Rng, Tensor, autocast_bf16};
use serde::Serialize;

use crate::clm::Clm;
use crate::device::select_device;
use crate::error::{LmError, Result};
use crate::hf::{LlamaOptions, load_llama};
use crate::measure::peak_rss_mb;
use crate::metrics::{Metric, MetricsLog};
use crate::mlm::Mlm;
use crate::objective::{Objective, Validation};
use crate::plot::plot_losses;
use crate::run_checkpoint::{self, TrainState};
use crate::run_data::TrainData;
use crate::seq2seq_objective::Seq2SeqTask;
use crate::run_folder::RunFolder;
use crate::train_config::{OptimConfig, TrainConfig};
use crate::trained_model::TrainedModel;

/// How a run is driven from outside: where it writes, whether it continues or replaces an
/// earlier run, whether it shows progress, and how it is asked to stop.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Output folder: dataset, checkpoints, metrics, plots.
    pub out: PathBuf,
    /// Continue from the newest checkpoint in `out`.
    pub resume: bool,
    /// Start afresh in an `out` that holds an earlier run, removing what that run wrote.
    pub overwrite: bool,
    /// Show a progress bar and evaluation lines on stderr.
    pub progress: bool,
    /// Set (e.g. by Ctrl-C) to stop after the current step with a checkpoint.
    pub stop: Option<Arc<AtomicBool>>,
}

/// What a finished (or interrupted) run reports.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    /// The step this session started at: 0, or the checkpoint's step when resuming.
    pub start_step: usize,
    /// Steps done.
    pub steps: usize,
    /// The last training loss (NaN when this session trained no step).
    pub train_loss: f32,
    /// Mean cross-entropy over every non-overlapping window of the validation split.
    pub val_loss_full: f32,
    /// exp(val_loss_full), per token.
    pub val_ppl: f32,
    /// The objective's other figures on the whole validation split (none for `clm`).
    pub val_metrics: BTreeMap<String, f64>,
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

/// Trains a model with its objective as `config` says, writing everything under `opts.out`. A new run refuses an
/// `out` that holds anything unless `opts.overwrite`; a resumed run continues from the newest
/// checkpoint and refuses a `config` that differs from the saved one except in
/// `optim.iters`, which must be above the saved step. With `model.init_from`, a new run starts
/// from that Hugging Face folder's weights and tokenizer ([`TrainConfig::with_pretrained`]).
pub fn train(config: &TrainConfig, opts: &RunOptions) -> Result<TrainSummary> {
    let config = &config.with_pretrained()?;
    config.validate()?;
    let device = select_device(&config.run.device)?;
    let started = Instant::now();
    let folder = RunFolder::new(&opts.out);
    let resumed = if opts.resume {
        Some(Resume::open(&folder, config)?)
    } else {
        folder.start_fresh(opts.overwrite, config.optim.iters)?;
        None
    };
    let config = resumed.as_ref().map_or_else(|| config.clone(), |r| r.config.clone());
    let data = TrainData::open(&config, &folder, resumed.is_some())?;
    let config = data.fit(config)?;
    // the parameters are drawn or loaded on the host, then copied to the device once
    let host = ParamStore::new(config.run.seed);
    let host_model = TrainedModel::new(&config.model, &host)?;
    match &resumed {
        Some(r) => r.restore_weights(&host)?,
        None => {
            if let Some(dir) = &config.model.init_from {
                init_from_pretrained(dir, &host)?;
            }
        }
    }
    let store = host.to_device(device)?;
    let model = if device == Device::Cpu { host_model } else { TrainedModel::new(&config.model, &store)? };
    let (opt, state) = match &resumed {
        Some(r) => r.restore_optimizer(&store)?,
        // the data order has its own stream, apart from the init drawn from the same seed
        None => (new_optimizer(&config.optim, &store)?, TrainState::new(0, Rng::new(config.run.seed ^ 0xda7a).state(), None, 0)),
    };
    let ckpts = Checkpoints {
        folder: &folder,
        store: &store,
        config: &config,
        tokenizer_file: data.tokenizer_path(),
        last: resumed.as_ref().map(|r| r.dir.clone()).unwrap_or_default(),
        saved_step: resumed.as_ref().map(|_| state.step),
    };
    let session = Session::new(&config, opts, &folder, &store, opt, state, ckpts)?;
    match (&model, &data) {
        (TrainedModel::Gpt(m), TrainData::Tokens(d)) => session.train(&Clm::new(m, d, &config), started),
        (TrainedModel::Llama(m), TrainData::Tokens(d)) => session.train(&Clm::new(m, d, &config), started),
        (TrainedModel::Bert(m), TrainData::Tokens(d)) => session.train(&Mlm::new(m, d, &config)?, started),
        (TrainedModel::Seq2Seq(m), TrainData::Pairs(d)) => session.train(&Seq2SeqTask::new(m, d, &config), started),
        // the model config ties each architecture to its objective, and the objective picks the data
        _ => Err(LmError::Config(format!(
            "architecture = \"{}\" does not train on the data of objective = \"{}\"",
            config.model.architecture.name(),
            config.model.objective.name()
        ))),
    }
}

/// The saved config of the newest checkpoint in `out`: what `--resume` continues with.
pub fn saved_config(out: &Path) -> Result<TrainConfig> {
    let dir = newest_checkpoint(&RunFolder::new(out))?;
    TrainConfig::load(&dir.join(run_checkpoint::CONFIG_FILE))
}

fn newest_checkpoint(folder: &RunFolder) -> Result<PathBuf> {
    let dir = folder.checkpoints();
    run_checkpoint::list_checkpoints(&dir)?
        .pop()
        .map(|(_, p)| p)
        .ok_or_else(|| LmError::file(&dir, "--resume: no checkpoint to resume from"))
}

/// A run to continue: its newest checkpoint, its config, and the step it reached.
struct Resume {
    dir: PathBuf,
    config: TrainConfig,
}

impl Resume {
    /// The newest checkpoint of `folder`, checked against the `given` config: it must be the
    /// saved one but for `optim.iters` (and a `vocab_size` 0, which means "the tokenizer's"),
    /// and there must be steps left to train.
    fn open(folder: &RunFolder, given: &TrainConfig) -> Result<Resume> {
        let dir = newest_checkpoint(folder)?;
        let saved = TrainConfig::load(&dir.join(run_checkpoint::CONFIG_FILE))?;
        let step = run_checkpoint::load_state(&dir)?.step;
        let mut comparable = given.clone();
        comparable.optim.iters = saved.optim.iters;
        if comparable.model.vocab_size == 0 {
            comparable.model.vocab_size = saved.model.vocab_size;
        }
        let differences = saved.differences(&comparable);
        if !differences.is_empty() {
            return Err(LmError::Config(format!(
                "--resume: the config differs from the one {} was started with (saved → given: {}); resume with the saved config (leave out --config and --corpus), or start a new run in another --out",
                folder.root.display(),
                differences.join("; ")
            )));
        }
        if step >= given.optim.iters {
            return Err(LmError::Config(format!(
                "--resume: the run in {} is at step {step} and iters is {}, so there is nothing to train; pass --iters above {step} to train further",
                folder.root.display(),
                given.optim.iters
            )));
        }
        let mut config = saved;
        config.optim.iters = given.optim.iters;
        Ok(Resume { dir, config })
    }

    /// The weights of the checkpoint, into `store` (on the host).
    fn restore_weights(&self, store: &ParamStore) -> Result<()> {
        store.load(&self.dir.join(run_checkpoint::MODEL_FILE))?;
        Ok(())
    }

    /// The optimizer (for the parameters of `store`, on their device) and loop state of the
    /// checkpoint.
    fn restore_optimizer(&self, store: &ParamStore) -> Result<(AdamW, TrainState)> {
        let opt = AdamW::load_state(&self.dir.join(run_checkpoint::OPTIMIZER_FILE), &store.trainable())?;
        Ok((opt, run_checkpoint::load_state(&self.dir)?))
    }
}

/// Sets every parameter of `store` to the same-named weight of the Hugging Face Llama in
/// `dir` (a tied head is the embedding, as in the model).
fn init_from_pretrained(dir: &Path, store: &ParamStore) -> Result<()> {
    let pretrained = load_llama(dir, LlamaOptions::default())?;
    let weights = pretrained.store.ok_or_else(|| LmError::file(dir, "the pretrained weights were not kept in f32"))?;
    let tensors: std::collections::HashMap<String, Tensor> = weights.params().into_iter().collect();
    store.assign_from(&tensors, Some(dir))?;
    Ok(())
}

fn new_optimizer(o: &OptimConfig, store: &ParamStore) -> Result<AdamW> {
    let adam = AdamWConfig { lr: o.lr, beta1: o.beta1, beta2: o.beta2, ..AdamWConfig::default() };
    Ok(AdamW::no_decay_1d(store.trainable(), o.weight_decay, adam)?)
}

/// Into how many equal shards a batch of `batch` rows is split, one per thread: the most, up to
/// `threads`, that divide it. Each shard runs forward and backward on its own thread (whole
/// small models parallelize far better this way than op by op), and their mean gradient is
/// the batch's. The split depends only on the batch size and thread count, so runs are
/// reproducible for a given thread count.
fn batch_shards(batch: usize, threads: usize) -> usize {
    (1..=threads.min(batch).max(1)).rev().find(|s| batch % s == 0).unwrap_or(1)
}

/// A per-step seed for dropout masks, so a resumed run draws the same masks.
fn step_seed(seed: u64, step: usize, micro: usize) -> u64 {
    seed ^ (step as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (micro as u64).wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
}

/// The progress bar and the evaluation lines on stderr.
struct Progress {
    bar: ProgressBar,
    show: bool,
}

impl Progress {
    fn new(show: bool, iters: usize, step: usize) -> Progress {
        let bar = if show { ProgressBar::new(iters as u64) } else { ProgressBar::hidden() };
        bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg} [{elapsed} < {eta}]").expect("valid template"));
        bar.set_position(step as u64);
        Progress { bar, show }
    }

    fn step(&self, step: usize) {
        self.bar.set_position(step as u64);
    }

    fn train_line(&self, loss: f32, lr: f32, tokens_per_s: f64) {
        self.bar.set_message(format!("loss {loss:.4} lr {lr:.2e} {:.1}k tok/s", tokens_per_s / 1e3));
    }

    /// A line above the bar (on plain stderr when it is not a terminal).
    fn line(&self, line: String) {
        if !self.bar.is_hidden() {
            self.bar.println(line);
        } else if self.show {
            eprintln!("{line}");
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Writes the checkpoints of a run: step-numbered ones (only the newest `keep_last` stay) and
/// a copy of the best.
struct Checkpoints<'a> {
    folder: &'a RunFolder,
    store: &'a ParamStore,
    config: &'a TrainConfig,
    tokenizer_file: PathBuf,
    /// The last checkpoint written (or resumed from).
    last: PathBuf,
    /// Its step.
    saved_step: Option<usize>,
}

impl Checkpoints<'_> {
    /// A checkpoint of the current step, copied to `best/` when it is the best so far; then
    /// only the newest `keep_last` step checkpoints are kept.
    fn save(&mut self, state: &TrainState, data_rng: &Rng, opt: &AdamW, is_best: bool) -> Result<()> {
        let s = TrainState::new(state.step, data_rng.state(), state.best_val_loss, state.tokens_seen);
        let dir = self.folder.checkpoints();
        let name = format!("step-{:06}", state.step);
        self.last = run_checkpoint::save_checkpoint(&dir, &name, self.store, opt, &s, self.config, &self.tokenizer_file)?;
        self.saved_step = Some(state.step);
        run_checkpoint::prune_checkpoints(&dir, self.config.run.keep_last.max(1))?;
        if is_best {
            run_checkpoint::copy_checkpoint(&self.last, &self.folder.best())?;
        }
        Ok(())
    }
}

/// What one optimizer step reports.
struct StepReport {
    loss: f32,
    lr: f32,
    grad_norm: f32,
    /// Tokens trained on.
    tokens: usize,
}

/// The loop's state and everything it writes to, for one session of a run.
struct Session<'a> {
    config: &'a TrainConfig,
    opts: &'a RunOptions,
    folder: &'a RunFolder,
    params: Vec<Tensor>,
    /// Where the parameters live: on a GPU a step runs as one shard on this thread.
    device: Device,
    opt: AdamW,
    state: TrainState,
    data_rng: Rng,
    start_step: usize,
    metrics: MetricsLog,
    progress: Progress,
    ckpts: Checkpoints<'a>,
    step_times: Vec<f64>,
    step_tokens: Vec<usize>,
    last_loss: f32,
    interrupted: bool,
}

impl<'a> Session<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        config: &'a TrainConfig,
        opts: &'a RunOptions,
        folder: &'a RunFolder,
        store: &ParamStore,
        opt: AdamW,
        state: TrainState,
        ckpts: Checkpoints<'a>,
    ) -> Result<Session<'a>> {
        let data_rng = Rng::from_state(state.data_rng(&folder.checkpoints())?);
        Ok(Session {
            config,
            opts,
            folder,
            params: store.trainable().into_iter().map(|(_, t)| t).collect(),
            device: store.device(),
            opt,
            data_rng,
            start_step: state.step,
            // a resumed run keeps the lines of the steps it resumes from
            metrics: MetricsLog::open(&folder.metrics(), state.step)?,
            progress: Progress::new(opts.progress, config.optim.iters, state.step),
            state,
            ckpts,
            step_times: Vec::new(),
            step_tokens: Vec::new(),
            last_loss: f32::NAN,
            interrupted: false,
        })
    }

    /// Trains with `objective` until done or stopped, then reports.
    fn train<O: Objective>(mut self, objective: &O, started: Instant) -> Result<TrainSummary> {
        self.run(objective)?;
        self.finish(objective, started)
    }

    /// Steps until `iters` or a stop request, with metrics, evaluations and checkpoints.
    fn run<O: Objective>(&mut self, objective: &O) -> Result<()> {
        let config = self.config;
        let (o, r) = (&config.optim, &config.run);
        let schedule = Schedule::WarmupCosine { lr: o.lr, min_lr: o.min_lr, warmup: o.warmup, total: o.iters };
        let (mut window_tokens, mut window_start) = (0usize, Instant::now());
        while self.state.step < o.iters {
            if self.opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                self.interrupted = true;
                break;
            }
            let t0 = Instant::now();
            let report = self.train_step(objective, schedule.lr(self.state.step))?;
            self.step_times.push(t0.elapsed().as_secs_f64());
            self.step_tokens.push(report.tokens);
            self.last_loss = report.loss;
            self.state.step += 1;
            self.state.tokens_seen += report.tokens as u64;
            window_tokens += report.tokens;
            let (step, done) = (self.state.step, self.state.step == o.iters);
            if step % r.log_interval == 0 || done {
                let tokens_per_s = window_tokens as f64 / window_start.elapsed().as_secs_f64();
                let StepReport { loss, lr, grad_norm, .. } = report;
                self.metrics.log(Metric::Train { step, loss, lr, grad_norm, tokens_per_s })?;
                self.progress.train_line(loss, lr, tokens_per_s);
                (window_tokens, window_start) = (0, Instant::now());
            }
            self.progress.step(step);
            let is_best = if step % r.eval_interval == 0 || done { self.evaluation(objective)? } else { false };
            if is_best || step % r.checkpoint_interval == 0 || done {
                self.ckpts.save(&self.state, &self.data_rng, &self.opt, is_best)?;
            }
        }
        self.progress.finish();
        if self.interrupted && self.ckpts.saved_step != Some(self.state.step) {
            self.ckpts.save(&self.state, &self.data_rng, &self.opt, false)?;
        }
        Ok(())
    }

    /// One optimizer step at learning rate `lr`: `grad_accum` micro-batches, each split into
    /// equal shards that run forward and backward on their own threads (on a GPU, one shard
    /// here, under bf16 autocast when the config asks for it).
    fn train_step<O: Objective>(&mut self, objective: &O, lr: f32) -> Result<StepReport> {
        let config = self.config;
        let (o, seed, step, bf16) = (&config.optim, config.run.seed, self.state.step, config.run.bf16);
        let on_cpu = self.device == Device::Cpu;
        let shards = if on_cpu { batch_shards(o.batch_size, rayon::current_num_threads()) } else { 1 };
        let rows = o.batch_size / shards;
        self.opt.set_lr(lr);
        let mut acc = GradAccumulator::new(self.params.iter());
        let (mut loss_sum, mut tokens) = (0.0, 0);
        for micro in 0..o.grad_accum {
            // the batch of the micro-step, drawn in order as `shards` parts of `rows` rows
            let parts = (0..shards).map(|_| objective.draw(rows, &mut self.data_rng)).collect::<Result<Vec<O::Batch>>>()?;
            tokens += parts.iter().map(|p| objective.tokens(p)).sum::<usize>();
            let shard = |s: usize| -> Result<(f32, GradStore)> {
                let _autocast = bf16.then(autocast_bf16);
                let mut ctx = Ctx::train(step_seed(seed, step, micro * shards + s));
                let loss = objective.loss(&parts[s], &mut ctx)?;
                let l = loss.to_scalar()?;
                if !l.is_finite() {
                    return Err(LmError::Diverged { step: step + 1, loss: l });
                }
                Ok((l, loss.backward()?))
            };
            let shard_grads = if on_cpu { loam_tensor::map_on_workers(shards, shard) } else { vec![shard(0)] };
            for shard in shard_grads {
                let (l, grads) = shard?;
                loss_sum += l / shards as f32;
                acc.add(&grads)?;
            }
        }
        let mut grads = acc.finish()?;
        let clip = if o.grad_clip > 0.0 { o.grad_clip } else { f32::MAX };
        let grad_norm = clip_grad_norm(&mut grads, self.params.iter(), clip)?;
        if !grad_norm.is_finite() {
            return Err(LmError::Diverged { step: step + 1, loss: grad_norm });
        }
        self.opt.step(&grads)?;
        Ok(StepReport { loss: loss_sum / o.grad_accum as f32, lr, grad_norm, tokens })
    }

    /// Validates, logs and shows the result with a sample; true when it is the best so far.
    fn evaluation<O: Objective>(&mut self, objective: &O) -> Result<bool> {
        let Validation { loss, metrics } = {
            let _autocast = self.config.run.bf16.then(autocast_bf16);
            objective.validate(false)?
        };
        let (step, val) = (self.state.step, loss as f32);
        let named: String = metrics.iter().map(|(k, v)| format!("  {k} {v:.4}")).collect();
        self.metrics.log(Metric::Eval { step, val_loss: val, val_ppl: val.exp(), metrics })?;
        let sample = objective.samples(80)?;
        let first = sample.first().map(String::as_str).unwrap_or("");
        self.progress.line(format!("step {step:>6}  train {:.4}  val {val:.4}{named}  sample: {first:?}", self.last_loss));
        let is_best = self.state.best_val_loss.is_none_or(|b| val < b);
        if is_best {
            self.state.best_val_loss = Some(val);
        }
        Ok(is_best)
    }

    /// The loss plot, the full validation loss, the final samples and the figures.
    fn finish<O: Objective>(mut self, objective: &O, started: Instant) -> Result<TrainSummary> {
        let [png, svg] = self.folder.plots();
        // a plot that cannot be drawn (no font, say) does not fail a finished run
        let _ = plot_losses(&self.metrics.history, &png, &svg);
        let Validation { loss: full, metrics: val_metrics } = {
            let _autocast = self.config.run.bf16.then(autocast_bf16);
            objective.validate(true)?
        };
        let samples = objective.samples(self.config.sample.max_new_tokens)?;
        let tokens_per_step = self.step_tokens.iter().sum::<usize>() as f64 / self.step_tokens.len().max(1) as f64;
        self.step_times.sort_by(f64::total_cmp);
        let med = self.step_times.get(self.step_times.len() / 2).copied().unwrap_or(f64::NAN);
        Ok(TrainSummary {
            start_step: self.start_step,
            steps: self.state.step,
            train_loss: self.last_loss,
            val_loss_full: full as f32,
            val_ppl: full.exp() as f32,
            val_metrics,
            tokens_per_s: tokens_per_step / med,
            ms_per_iter: med * 1e3,
            wall_s: started.elapsed().as_secs_f64(),
            peak_rss_mb: peak_rss_mb(),
            samples,
            checkpoint: self.ckpts.last,
            best: self.folder.best(),
            interrupted: self.interrupted,
        })
    }
}
