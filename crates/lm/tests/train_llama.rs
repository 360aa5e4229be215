//! Training a Llama (`architecture = "llama"`): the loss falls, the run folder loads back
//! through `load_model` and `AutoModel` and generates, and a resumed run follows the
//! uninterrupted one to the bit.

use std::path::{Path, PathBuf};

use loam_lm::{Architecture, AutoModel, Metric, ModelArchitecture, RunOptions, TrainConfig, TrainedModel, load_model, train};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-lm-llama-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A 2-layer, 32-wide Llama with 4 query heads over 2 k/v heads on the built-in corpus.
fn tiny_llama(iters: usize) -> TrainConfig {
    let text = "[model]\narchitecture = \"llama\"\nn_layer = 2\nn_head = 4\nn_kv_head = 2\nn_embd = 32\nblock_size = 16\n";
    let mut c = TrainConfig::from_toml(text, Path::new("tiny-llama.toml")).unwrap();
    c.optim.iters = iters;
    c.optim.batch_size = 8;
    c.optim.warmup = 5;
    c.optim.lr = 3e-3;
    c.run.log_interval = 1;
    c.run.eval_interval = iters;
    c.run.eval_batches = 2;
    c.run.checkpoint_interval = iters;
    c.sample.max_new_tokens = 20;
    c
}

fn opts(out: &Path) -> RunOptions {
    RunOptions { out: out.to_path_buf(), ..RunOptions::default() }
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
fn a_tiny_llama_learns_and_its_run_folder_loads_and_generates() {
    let dir = tmp("learns");
    let s = train(&tiny_llama(60), &opts(&dir)).unwrap();
    let losses = train_losses(&dir);
    let first = losses[..5].iter().map(|l| l.1).sum::<f32>() / 5.0;
    let last = losses[losses.len() - 5..].iter().map(|l| l.1).sum::<f32>() / 5.0;
    assert!(first > 3.0, "starts near ln(vocab): {first}");
    assert!(last < first - 0.5, "loss fell from {first} to {last}");
    let saved = std::fs::read_to_string(s.best.join("config.toml")).unwrap();
    assert!(saved.contains("architecture = \"llama\""), "{saved}");
    let m = load_model(&s.best).unwrap();
    let TrainedModel::Llama(llama) = &m.model else { panic!("a llama run loads as a Llama") };
    assert_eq!((llama.config.n_kv_head, llama.config.intermediate_size), (2, 128), "128 = 64·⌈(8/3·32)/64⌉");
    let cfg = loam_lm::GenerationConfig { max_new_tokens: 12, ..Default::default() };
    let out = loam_lm::generate(m.model.causal_lm(), &m.tokenizer, "Customer (", &cfg, &mut |_| ()).unwrap();
    assert_eq!(out.ids.len(), 12);
    let auto = AutoModel::from_dir(&s.best).unwrap();
    assert!(matches!(auto.architecture, Architecture::LoamRun { .. }));
    assert_eq!(auto.model_type(), "loam llama");
    let again = loam_lm::generate(auto.causal_lm().unwrap(), &auto.tokenizer, "Customer (", &cfg, &mut |_| ()).unwrap();
    assert_eq!(again.text, out.text, "both loaders give the same model");
    assert_eq!(m.config.model.architecture, ModelArchitecture::Llama);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_resumed_llama_run_matches_the_uninterrupted_one_to_the_bit() {
    let dir = tmp("resume");
    let mut c = tiny_llama(12);
    c.optim.grad_accum = 2;
    c.run.checkpoint_interval = 6;
    let whole = dir.join("whole");
    let a = train(&c, &opts(&whole)).unwrap();
    let split = dir.join("split");
    train(&c, &opts(&split)).unwrap();
    std::fs::remove_dir_all(split.join("checkpoints/step-000012")).unwrap();
    let b = train(&c, &RunOptions { resume: true, ..opts(&split) }).unwrap();
    assert_eq!(b.start_step, 6);
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
