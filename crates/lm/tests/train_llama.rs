//! Training a Llama (`architecture = "llama"`): the loss falls, the run folder loads back
//! through `load_model` and `AutoModel` and generates, and a resumed run follows the
//! uninterrupted one to the bit; a run with `init_from` starts from a pretrained Llama.

mod hf_common;
mod train_common;

use train_common::{assert_resumed_like_uninterrupted, opts, tmp, train_losses};

use std::path::Path;

use loam_lm::hf::{LlamaOptions, load_llama};
use loam_lm::{
    Architecture, AutoModel, ModelArchitecture, RunOptions, TrainConfig, TrainedModel, load_model, train,
};
use loam_nn::Ctx;
use loam_tensor::Rng;
use loam_text::{Split, TokenDataset};

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
    let out = loam_lm::generate(m.model.causal_lm().unwrap(), &m.tokenizer, "Customer (", &cfg, &mut |_| ()).unwrap();
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
    assert_resumed_like_uninterrupted(&whole, &a, &split, &b);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Full fine-tuning of the tiny-llama fixture on the built-in corpus, with its tokenizer.
fn fine_tune(fixture: &Path, iters: usize) -> TrainConfig {
    let text = format!("[model]\ninit_from = {:?}\nblock_size = 32\n", fixture.display().to_string());
    let mut c = TrainConfig::from_toml(&text, Path::new("fine-tune.toml")).unwrap();
    c.optim.iters = iters;
    c.optim.batch_size = 8;
    c.optim.warmup = 0;
    c.optim.lr = 1e-3;
    c.optim.min_lr = 1e-3;
    c.run.log_interval = 1;
    c.run.eval_interval = iters;
    c.run.eval_batches = 2;
    c.run.checkpoint_interval = iters;
    c.sample.max_new_tokens = 8;
    c
}

#[test]
fn a_run_from_init_from_starts_at_the_pretrained_loss_and_fine_tunes_it() {
    let Some(fixtures) = hf_common::fixtures("fine-tune tiny-llama") else { return };
    let fixture = fixtures.join("tiny-llama");
    let dir = tmp("fine-tune");
    let c = fine_tune(&fixture, 20);
    let s = train(&c, &opts(&dir)).unwrap();
    let losses = train_losses(&dir);
    // the first batch, drawn as the trainer draws it, through the model as loaded
    let pretrained = load_llama(&fixture, LlamaOptions::default()).unwrap();
    let split = TokenDataset::open(&dir.join("data")).unwrap().split(Split::Train).unwrap();
    let (b, t) = (c.optim.batch_size, 32);
    let mut rng = Rng::new(c.run.seed ^ 0xda7a);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..b {
        let start = rng.below((split.len() - t) as u64) as usize;
        let w = split.tokens(start, t + 1).unwrap();
        x.extend(w[..t].iter().map(|&v| v as usize));
        y.extend(w[1..].iter().map(|&v| v as usize));
    }
    let expected = pretrained.model.loss(&x, &y, b, t, &mut Ctx::eval()).unwrap().to_scalar().unwrap();
    assert!((losses[0].1 - expected).abs() < 1e-4, "first loss {} vs the pretrained model's {expected}", losses[0].1);
    let last = losses[losses.len() - 3..].iter().map(|l| l.1).sum::<f32>() / 3.0;
    assert!(last < losses[0].1 - 0.2, "fine-tuning lowered the loss from {} to {last}", losses[0].1);
    // after 20 AdamW steps of lr 1e-3 a weight moved at most about 20·lr from the pretrained one
    let tuned = load_model(&s.checkpoint).unwrap();
    let name = "model.embed_tokens.weight";
    let (a, p) = (tuned.store.get(name).unwrap().to_vec(), pretrained.store.unwrap().get(name).unwrap().to_vec());
    let moved = a.iter().zip(&p).map(|(a, p)| (a - p).abs()).fold(0.0f32, f32::max);
    assert!(moved > 0.0 && moved < 0.03, "{name} moved by at most {moved}");
    assert_eq!(tuned.config.model.init_from.as_deref(), Some(fixture.as_path()));
    assert_eq!(tuned.config.model.n_embd, 64, "the shape is the pretrained model's");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn init_from_refuses_a_shape_key_or_tokenizer_that_disagrees() {
    let Some(fixtures) = hf_common::fixtures("fine-tune refusals") else { return };
    let dir = tmp("fine-tune-refused");
    let mut c = fine_tune(&fixtures.join("tiny-llama"), 2);
    c.model.n_layer = 3;
    let err = train(&c, &opts(&dir.join("a"))).unwrap_err().to_string();
    assert!(err.contains("`n_layer`") && err.contains("config.json") && !err.contains('\n'), "{err}");
    let mut c = fine_tune(&fixtures.join("tiny-llama"), 2);
    c.data.tokenizer = "bpe:300".into();
    let err = train(&c, &opts(&dir.join("b"))).unwrap_err().to_string();
    assert!(err.contains("`tokenizer`") && err.contains("tokenizer.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_resumed_fine_tuning_run_matches_the_uninterrupted_one_to_the_bit() {
    let Some(fixtures) = hf_common::fixtures("fine-tune resume") else { return };
    let dir = tmp("fine-tune-resume");
    let mut c = fine_tune(&fixtures.join("tiny-llama"), 6);
    c.run.checkpoint_interval = 3;
    let whole = dir.join("whole");
    let a = train(&c, &opts(&whole)).unwrap();
    let split = dir.join("split");
    train(&c, &opts(&split)).unwrap();
    std::fs::remove_dir_all(split.join("checkpoints/step-000006")).unwrap();
    let b = train(&c, &RunOptions { resume: true, ..opts(&split) }).unwrap();
    assert_eq!(b.start_step, 3);
    assert_eq!(train_losses(&whole), train_losses(&split), "losses of steps 4..6 after resuming at 3");
    assert_eq!(a.val_loss_full.to_bits(), b.val_loss_full.to_bits());
    std::fs::remove_dir_all(&dir).unwrap();
}
