//! The GPT on a GPU against the same GPT on the CPU: a whole training step (loss, gradient
//! norm, every parameter after one AdamW step), greedy generation ids, and a short run of the
//! training loop with a checkpoint that loads back on the CPU. Each test prints
//! "skipped: no CUDA device" and returns where no GPU is visible (or loam was built without
//! the `cuda` feature); the CPU halves run everywhere through the other tests.

use loam_lm::{
    GenerationConfig, Gpt, GptConfig, RunOptions, TrainConfig, generate_ids, load_model, train,
};
use loam_nn::optim::{AdamW, AdamWConfig, clip_grad_norm};
use loam_nn::{Ctx, ParamStore};
use loam_tensor::{Device, Rng, cuda_device_count};

/// GPU 0, or `None` after printing why the test does not run.
fn gpu(test: &str) -> Option<Device> {
    if cuda_device_count() == 0 {
        // straight to stderr, past the harness's capture: the skip shows in every log
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{test}: skipped: no CUDA device");
        return None;
    }
    Some(Device::Cuda(0))
}

fn tiny() -> GptConfig {
    GptConfig {
        n_layer: 2,
        n_head: 2,
        n_embd: 32,
        block_size: 16,
        vocab_size: 64,
        ..GptConfig::default()
    }
}

/// `b × t` random ids below `vocab` and their next-token targets.
fn batch(b: usize, t: usize, vocab: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let ids: Vec<usize> = (0..b * (t + 1))
        .map(|_| rng.below(vocab as u64) as usize)
        .collect();
    (0..b)
        .flat_map(|r| (0..t).map(move |p| (r * (t + 1) + p, r * (t + 1) + p + 1)))
        .map(|(i, j)| (ids[i], ids[j]))
        .unzip()
}

/// Loss, gradient norm and the parameters after one clipped AdamW step, by name.
fn one_step(
    gpt: &Gpt,
    store: &ParamStore,
    x: &[usize],
    y: &[usize],
) -> (f32, f32, Vec<(String, Vec<f32>)>) {
    let params = store.trainable();
    let adam = AdamWConfig {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
    };
    let mut opt = AdamW::no_decay_1d(params.clone(), 0.1, adam).unwrap();
    let loss = gpt.loss(x, y, 4, 16, &mut Ctx::eval()).unwrap();
    let l = loss.to_scalar().unwrap();
    let mut grads = loss.backward().unwrap();
    let norm = clip_grad_norm(&mut grads, params.iter().map(|(_, p)| p), 0.5).unwrap();
    opt.step(&grads).unwrap();
    let values = params
        .iter()
        .map(|(n, p)| (n.clone(), p.to_device(Device::Cpu).unwrap().to_vec()))
        .collect();
    (l, norm, values)
}

#[test]
fn a_training_step_on_cuda_matches_the_cpu() {
    let Some(dev) = gpu("a_training_step_on_cuda_matches_the_cpu") else {
        return;
    };
    let config = tiny();
    let (x, y) = batch(4, 16, config.vocab_size, 7);
    let host = ParamStore::new(3);
    let cpu_model = Gpt::new(&config, &host).unwrap();
    // the GPU copy is made before the CPU model steps, from the same initial values
    let (gpu_model, gpu_store) = cpu_model.to_device(&host, dev).unwrap();
    assert_eq!(gpu_model.device(), dev);
    let (cpu_loss, cpu_norm, cpu_params) = one_step(&cpu_model, &host, &x, &y);
    let (gpu_loss, gpu_norm, gpu_params) = one_step(&gpu_model, &gpu_store, &x, &y);
    // f32 on both sides, different summation orders: 1e-5 relative on the loss and norm
    assert!(
        (cpu_loss - gpu_loss).abs() <= 1e-5 * cpu_loss.abs(),
        "loss {cpu_loss} vs {gpu_loss}"
    );
    assert!(
        (cpu_norm - gpu_norm).abs() <= 1e-4 * cpu_norm,
        "grad norm {cpu_norm} vs {gpu_norm}"
    );
    // one AdamW step moves each weight by about lr·sign(g); 1e-5 absolute is 1% of that
    for ((name, c), (_, g)) in cpu_params.iter().zip(&gpu_params) {
        let worst = c
            .iter()
            .zip(g)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= 1e-5,
            "{name}: parameters differ by {worst} after one step"
        );
    }
}

#[test]
fn greedy_ids_are_the_same_on_cuda_and_the_cpu() {
    let Some(dev) = gpu("greedy_ids_are_the_same_on_cuda_and_the_cpu") else {
        return;
    };
    let config = tiny();
    let host = ParamStore::new(11);
    let cpu_model = Gpt::new(&config, &host).unwrap();
    let (gpu_model, _store) = cpu_model.to_device(&host, dev).unwrap();
    let cfg = GenerationConfig {
        max_new_tokens: 12,
        ..GenerationConfig::default()
    };
    let prompt = [1, 5, 9, 2];
    let (cpu_ids, _) = generate_ids(&cpu_model, &prompt, &cfg, true, &mut |_| true).unwrap();
    let (gpu_ids, _) = generate_ids(&gpu_model, &prompt, &cfg, true, &mut |_| true).unwrap();
    assert_eq!(cpu_ids.len(), 12);
    assert_eq!(cpu_ids, gpu_ids);
}

#[test]
fn the_training_loop_runs_on_cuda_and_its_checkpoint_loads_on_the_cpu() {
    let Some(dev) = gpu("the_training_loop_runs_on_cuda_and_its_checkpoint_loads_on_the_cpu")
    else {
        return;
    };
    let out = std::env::temp_dir().join(format!("loam-cuda-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut c = TrainConfig {
        model: GptConfig {
            vocab_size: 0,
            ..tiny()
        }
        .into(),
        ..TrainConfig::default()
    };
    c.optim.iters = 30;
    c.optim.batch_size = 8;
    c.optim.warmup = 5;
    c.run.eval_interval = 30;
    c.run.eval_batches = 2;
    c.run.checkpoint_interval = 30;
    c.run.device = dev.to_string();
    c.sample.max_new_tokens = 10;
    let s = train(
        &c,
        &RunOptions {
            out: out.clone(),
            ..RunOptions::default()
        },
    )
    .unwrap();
    assert_eq!(s.steps, 30);
    assert!(s.train_loss.is_finite() && s.val_loss_full.is_finite());
    // saved through host memory: the checkpoint loads and scores on the CPU alike
    let m = load_model(&s.checkpoint).unwrap();
    assert_eq!(m.config.run.device, dev.to_string());
    assert!(
        m.store
            .params()
            .iter()
            .all(|(_, p)| p.device() == Device::Cpu && p.to_vec().iter().all(|v| v.is_finite()))
    );
    let _ = std::fs::remove_dir_all(&out);
}
