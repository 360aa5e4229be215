//! The training loop end to end on small models: overfitting, falling loss on the built-in
//! corpus, bit-exact resume that really restores, the refusals that protect a run folder,
//! divergence and checkpoint errors.

mod train_common;

use train_common::{assert_resumed_like_uninterrupted, opts, tmp, train_losses};

use std::path::{Path, PathBuf};

use loam_lm::{GptConfig, LmError, Metric, RunOptions, TrainConfig, load_model, train};
use loam_nn::optim::{AdamW, AdamWConfig};

fn tiny(corpus: Option<PathBuf>, iters: usize) -> TrainConfig {
    let mut c = TrainConfig::default();
    c.model = GptConfig { n_layer: 2, n_head: 2, n_embd: 32, block_size: 16, vocab_size: 0, bias: false, activation: "gelu".into(), ..GptConfig::default() }.into();
    c.data.corpus = corpus;
    c.optim.iters = iters;
    c.optim.batch_size = 8;
    c.optim.warmup = 5;
    c.run.log_interval = 1;
    c.run.eval_interval = iters;
    c.run.eval_batches = 2;
    c.run.checkpoint_interval = iters;
    c.sample.max_new_tokens = 20;
    c
}

/// The raw lines of `metrics.jsonl` for steps ≤ `through`.
fn metric_lines(out: &Path, through: usize) -> Vec<String> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| match serde_json::from_str::<Metric>(l).unwrap() {
            Metric::Train { step, .. } | Metric::Eval { step, .. } => step <= through,
        })
        .map(String::from)
        .collect()
}

/// A run of 12 steps with a checkpoint at 6, cut back to that checkpoint (as after kill -9).
fn run_cut_at_6(c: &TrainConfig, out: &Path) -> PathBuf {
    train(c, &opts(out)).unwrap();
    std::fs::remove_dir_all(out.join("checkpoints/step-000012")).unwrap();
    out.join("checkpoints/step-000006")
}

#[test]
fn a_small_model_overfits_a_tiny_corpus() {
    let dir = tmp("overfit");
    let corpus = dir.join("tiny.txt");
    std::fs::write(&corpus, "the cat sat on the mat. ".repeat(40)).unwrap();
    let mut c = tiny(Some(corpus), 150);
    c.optim.lr = 3e-3;
    c.optim.min_lr = 3e-3;
    let s = train(&c, &opts(&dir.join("run"))).unwrap();
    assert!(s.train_loss < 0.15, "train loss {}", s.train_loss);
    assert!(s.val_loss_full < 0.3, "the validation tail repeats the same sentence: {}", s.val_loss_full);
    assert!(dir.join("run/loss.png").is_file() && dir.join("run/loss.svg").is_file());
    assert!(dir.join("run/best/model.safetensors").is_file());
    // the saved model reproduces the sentence
    let m = load_model(&s.best).unwrap();
    let out = loam_lm::generate(m.model.causal_lm().unwrap(), &m.tokenizer, "the cat ", &loam_lm::GenerationConfig { max_new_tokens: 14, ..Default::default() }, &mut |_| ()).unwrap();
    assert_eq!(out.text, "sat on the mat");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn loss_falls_on_the_built_in_corpus() {
    let dir = tmp("falls");
    train(&tiny(None, 60), &opts(&dir)).unwrap();
    let losses = train_losses(&dir);
    let first = losses[..5].iter().map(|l| l.1).sum::<f32>() / 5.0;
    let last = losses[losses.len() - 5..].iter().map(|l| l.1).sum::<f32>() / 5.0;
    assert!(first > 3.0, "starts near ln(vocab): {first}");
    assert!(last < first - 0.5, "loss fell from {first} to {last}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_gives_the_same_losses_to_the_bit() {
    let dir = tmp("resume");
    let mut c = tiny(None, 12);
    c.model.dropout = 0.1; // dropout masks must resume too
    c.optim.grad_accum = 2;
    c.run.checkpoint_interval = 6;
    let whole = dir.join("whole");
    let a = train(&c, &opts(&whole)).unwrap();
    // the same run, stopped after 6 steps: remove what came later and resume
    let split = dir.join("split");
    train(&c, &opts(&split)).unwrap();
    std::fs::remove_dir_all(split.join("checkpoints/step-000012")).unwrap();
    let before = metric_lines(&split, 6);
    let b = train(&c, &RunOptions { resume: true, ..opts(&split) }).unwrap();
    assert_eq!(b.start_step, 6, "the resumed session starts at the checkpoint's step");
    // the lines of steps 1..6 are the first session's, tokens/s and all, not rewritten
    assert_eq!(metric_lines(&split, 6), before);
    assert_resumed_like_uninterrupted(&whole, &a, &split, &b);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// On two threads each step's batch is split into two shards, each with forward and backward
/// on its own thread; their mean gradient is the whole batch's, so the losses follow the
/// one-thread run (to rounding: the sums are taken in another order).
#[test]
fn sharded_steps_follow_the_one_thread_run() {
    let dir = tmp("shards");
    let c = tiny(None, 8);
    let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().unwrap();
    pool(1).install(|| train(&c, &opts(&dir.join("one")))).unwrap();
    pool(2).install(|| train(&c, &opts(&dir.join("two")))).unwrap();
    let (one, two) = (train_losses(&dir.join("one")), train_losses(&dir.join("two")));
    assert_eq!(one.len(), 8);
    for ((step, a), (_, b)) in one.iter().zip(&two) {
        assert!((a - b).abs() < 1e-4, "step {step}: one thread {a}, two shards {b}");
    }
    // and not by accident: a different seed moves the losses by far more than that
    let mut other = c.clone();
    other.run.seed += 1;
    pool(1).install(|| train(&other, &opts(&dir.join("other")))).unwrap();
    let moved = train_losses(&dir.join("other")).iter().zip(&one).map(|((_, a), (_, b))| (a - b).abs()).fold(0.0, f32::max);
    assert!(moved > 1e-3, "another seed moved the losses by only {moved}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn divergence_stops_with_the_step_and_keeps_the_last_good_checkpoint() {
    let dir = tmp("nan");
    let mut c = tiny(None, 20);
    c.optim.lr = 1e30;
    c.optim.min_lr = 1e30;
    c.optim.warmup = 0;
    c.optim.grad_clip = 0.0;
    c.run.checkpoint_interval = 1;
    let err = train(&c, &opts(&dir)).unwrap_err();
    let LmError::Diverged { step, .. } = err else { panic!("{err}") };
    assert!(step >= 2, "{err}");
    assert!(err.to_string().contains(&format!("step {step}")));
    let good = dir.join(format!("checkpoints/step-{:06}", step - 1));
    assert!(load_model(&good).is_ok(), "{} is loadable", good.display());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_and_corrupt_checkpoints_are_clear_errors() {
    let dir = tmp("corrupt");
    let err = train(&tiny(None, 2), &RunOptions { resume: true, ..opts(&dir) }).err().unwrap();
    assert!(err.to_string().contains("no checkpoint to resume from"), "{err}");
    let err = load_model(&dir).err().unwrap();
    assert!(err.to_string().contains("config.toml` is missing"), "{err}");
    let s = train(&tiny(None, 2), &opts(&dir)).unwrap();
    let weights = s.checkpoint.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_model(&s.checkpoint).err().unwrap();
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    std::fs::remove_file(&weights).unwrap();
    let err = load_model(&s.checkpoint).err().unwrap();
    assert!(err.to_string().contains("model.safetensors` is missing"), "{err}");
    std::fs::write(s.checkpoint.join("config.toml"), "[model]\nn_layers = 3\n").unwrap();
    let err = load_model(&s.checkpoint).err().unwrap();
    assert!(err.to_string().contains("config.toml") && err.to_string().contains("n_layers"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_stop_request_saves_a_checkpoint_that_resumes() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let dir = tmp("stop");
    let c = tiny(None, 4);
    let stop = Arc::new(AtomicBool::new(true)); // as if Ctrl-C came before the first step
    let s = train(&c, &RunOptions { stop: Some(stop), ..opts(&dir) }).unwrap();
    assert!(s.interrupted);
    assert_eq!(s.steps, 0);
    assert!(s.checkpoint.ends_with("step-000000"), "{}", s.checkpoint.display());
    let done = train(&c, &RunOptions { resume: true, ..opts(&dir) }).unwrap();
    assert!(!done.interrupted);
    assert_eq!(done.steps, 4);
    // to the bit what an uninterrupted run gives
    let whole = dir.join("whole");
    train(&c, &opts(&whole)).unwrap();
    let (a, b) = (train_losses(&whole), train_losses(&dir));
    assert_eq!(a.iter().map(|l| (l.0, l.1.to_bits())).collect::<Vec<_>>(), b.iter().map(|l| (l.0, l.1.to_bits())).collect::<Vec<_>>());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Resuming restores the optimizer moments and the data position: change either in the
/// checkpoint and the resumed losses leave the uninterrupted run's.
#[test]
fn resume_uses_the_saved_moments_and_data_position() {
    let dir = tmp("restore");
    let mut c = tiny(None, 12);
    c.run.checkpoint_interval = 6;
    train(&c, &opts(&dir.join("whole"))).unwrap();
    let whole = train_losses(&dir.join("whole"));
    let differs = |out: &Path| {
        let b = train(&c, &RunOptions { resume: true, ..opts(out) }).unwrap();
        assert_eq!(b.start_step, 6);
        let got = train_losses(out);
        assert_eq!(got[..6], whole[..6]);
        got[6..].iter().zip(&whole[6..]).any(|(a, b)| a.1.to_bits() != b.1.to_bits())
    };
    // the moments zeroed (a fresh optimizer's state in place of the saved one)
    let zeroed = dir.join("zeroed");
    let ckpt = run_cut_at_6(&c, &zeroed);
    let m = load_model(&ckpt).unwrap();
    let adam = AdamWConfig { lr: c.optim.lr, beta1: c.optim.beta1, beta2: c.optim.beta2, ..AdamWConfig::default() };
    let fresh = AdamW::no_decay_1d(m.store.trainable(), c.optim.weight_decay, adam).unwrap();
    fresh.save_state(&ckpt.join("optimizer.safetensors")).unwrap();
    assert!(differs(&zeroed), "a resume with zeroed moments trained as if it had the saved ones");
    // the data-order generator moved back to its start
    let moved = dir.join("moved");
    let ckpt = run_cut_at_6(&c, &moved);
    let state_file = ckpt.join("state.json");
    let mut state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    assert_ne!(state["data_rng_pos"], "0");
    state["data_rng_pos"] = "0".into();
    std::fs::write(&state_file, state.to_string()).unwrap();
    assert!(differs(&moved), "a resume from another data position drew the same batches");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_refuses_a_finished_run_and_a_changed_config() {
    let dir = tmp("resume-refusals");
    let c = tiny(None, 4);
    train(&c, &opts(&dir)).unwrap();
    let resume = RunOptions { resume: true, ..opts(&dir) };
    let err = train(&c, &resume).unwrap_err().to_string();
    assert!(err.contains("at step 4") && err.contains("--iters above 4"), "{err}");
    let mut changed = c.clone();
    changed.model.dropout = 0.1;
    changed.data.corpus = Some(dir.join("other.txt"));
    changed.optim.iters = 6;
    let err = train(&changed, &resume).unwrap_err().to_string();
    assert!(err.contains("model.dropout: 0.0 → 0.1") && err.contains("data.corpus: (none) → "), "{err}");
    assert!(!err.contains("iters"), "iters may change on resume: {err}");
    // more iters continue the run from where it stopped
    let more = TrainConfig { optim: loam_lm::OptimConfig { iters: 6, ..c.optim.clone() }, ..c.clone() };
    let s = train(&more, &resume).unwrap();
    assert_eq!((s.start_step, s.steps), (4, 6));
    assert!(s.train_loss.is_finite());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_new_run_never_overwrites_an_earlier_one_and_overwrite_removes_only_what_loam_wrote() {
    let dir = tmp("refuse");
    let out = dir.join("run");
    let c = tiny(None, 2);
    train(&c, &opts(&out)).unwrap();
    let metrics = std::fs::read(out.join("metrics.jsonl")).unwrap();
    let err = train(&c, &opts(&out)).unwrap_err().to_string();
    assert!(err.contains("--resume") && err.contains("--overwrite"), "{err}");
    assert_eq!(std::fs::read(out.join("metrics.jsonl")).unwrap(), metrics, "the refused run changed the earlier one");
    // files loam did not write, some with names like its own
    let mine = [out.join("notes.txt"), out.join("checkpoints/step-999999/mine.txt"), out.join("data/mine.txt")];
    for f in &mine {
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, "mine").unwrap();
    }
    let three = tiny(None, 3);
    let s = train(&three, &RunOptions { overwrite: true, ..opts(&out) }).unwrap();
    assert_eq!((s.start_step, s.steps), (0, 3));
    for f in &mine {
        assert_eq!(std::fs::read_to_string(f).unwrap(), "mine", "{}", f.display());
    }
    assert_eq!(train_losses(&out).iter().map(|l| l.0).collect::<Vec<_>>(), vec![1, 2, 3], "only the new run's metrics");
    assert!(!out.join("checkpoints/step-000002").exists(), "the earlier run's checkpoint was removed");
    // and the new run resumes from its own checkpoint, not the look-alike
    let five = TrainConfig { optim: loam_lm::OptimConfig { iters: 5, ..three.optim.clone() }, ..three };
    let s = train(&five, &RunOptions { resume: true, ..opts(&out) }).unwrap();
    assert_eq!((s.start_step, s.steps), (3, 5));
    // a folder with anything in it is refused, naming what is there
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("thesis.tex"), "mine").unwrap();
    let err = train(&c, &opts(&other)).unwrap_err().to_string();
    assert!(err.contains("thesis.tex"), "{err}");
    // and --overwrite neither removes nor writes over a file that only shares a name with loam's
    std::fs::write(other.join("loss.png"), "my plot").unwrap();
    let err = train(&c, &RunOptions { overwrite: true, ..opts(&other) }).unwrap_err().to_string();
    assert!(err.contains("loss.png") && err.contains("would write over"), "{err}");
    assert_eq!(std::fs::read_to_string(other.join("loss.png")).unwrap(), "my plot");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A config that sets only `dropout` in `[model]` trains the built-in model with that dropout,
/// and its vocabulary comes from the tokenizer.
#[test]
fn a_partial_model_section_trains_the_built_in_model() {
    let dir = tmp("partial");
    let text = "[model]\ndropout = 0.1\n[optim]\niters = 1\n[run]\neval_batches = 1\n[sample]\nmax_new_tokens = 4\n";
    let c = TrainConfig::from_toml(text, Path::new("c.toml")).unwrap();
    let built_in = TrainConfig::default().model;
    assert_eq!((c.model.n_layer, c.model.n_embd, c.model.vocab_size), (built_in.n_layer, built_in.n_embd, 0));
    let s = train(&c, &opts(&dir)).unwrap();
    let m = load_model(&s.checkpoint).unwrap();
    assert_eq!((m.config.model.n_layer, m.config.model.n_embd), (built_in.n_layer, built_in.n_embd));
    assert_eq!(m.config.model.dropout, 0.1);
    assert_eq!(m.config.model.vocab_size, loam_text::Tokenizer::vocab_size(&m.tokenizer));
    std::fs::remove_dir_all(&dir).unwrap();
}
