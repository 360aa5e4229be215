//! The training loop end to end on small models: overfitting, falling loss on the built-in
//! corpus, bit-exact resume, divergence and checkpoint errors.

use std::path::{Path, PathBuf};

use loam_lm::{GptConfig, LmError, Metric, TrainConfig, TrainOptions, load_model, train};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-lm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tiny(corpus: Option<PathBuf>, iters: usize) -> TrainConfig {
    let mut c = TrainConfig::default();
    c.model = GptConfig { n_layer: 2, n_head: 2, n_embd: 32, block_size: 16, vocab_size: 0, bias: false, activation: "gelu".into(), ..GptConfig::default() };
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

fn opts(out: &Path) -> TrainOptions {
    TrainOptions { out: out.to_path_buf(), ..TrainOptions::default() }
}

fn train_losses(out: &Path) -> Vec<(usize, f32)> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| match serde_json::from_str::<Metric>(l).unwrap() {
            Metric::Train { step, loss, .. } => Some((step, loss)),
            Metric::Eval { .. } => None,
        })
        .collect()
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
    let out = loam_lm::generate(&m.gpt, &m.tokenizer, "the cat ", &loam_lm::GenerationConfig { max_new_tokens: 14, ..Default::default() }, &mut |_| ()).unwrap();
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
    let b = train(&c, &TrainOptions { resume: true, ..opts(&split) }).unwrap();
    let (la, lb) = (train_losses(&whole), train_losses(&split));
    assert_eq!(la.len(), 12);
    assert_eq!(la, lb, "losses of steps 7..12 after resuming at 6");
    assert_eq!(a.val_loss_full.to_bits(), b.val_loss_full.to_bits());
    let (ma, mb) = (load_model(&a.checkpoint).unwrap(), load_model(&b.checkpoint).unwrap());
    for ((n, x), (_, y)) in ma.store.params().iter().zip(mb.store.params()) {
        assert_eq!(x.to_vec(), y.to_vec(), "{n}");
    }
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
    let err = train(&tiny(None, 2), &TrainOptions { resume: true, ..opts(&dir) }).err().unwrap();
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
    let s = train(&c, &TrainOptions { stop: Some(stop), ..opts(&dir) }).unwrap();
    assert!(s.interrupted);
    assert_eq!(s.steps, 0);
    assert!(s.checkpoint.ends_with("step-000000"), "{}", s.checkpoint.display());
    let done = train(&c, &TrainOptions { resume: true, ..opts(&dir) }).unwrap();
    assert!(!done.interrupted);
    assert_eq!(done.steps, 4);
    std::fs::remove_dir_all(&dir).unwrap();
}
