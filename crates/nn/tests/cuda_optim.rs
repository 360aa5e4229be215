//! Parameters and optimizers on a GPU against the CPU: a store copied to the device, AdamW
//! (its moments on the device, one launch per group) over several steps, clipping, and
//! optimizer state saved from the GPU and resumed on the CPU. The GPU tests print
//! "skipped: no CUDA device" and return where no GPU is visible.

use loam_nn::ParamStore;
use loam_nn::optim::{AdamW, AdamWConfig, ParamGroup, Sgd, SgdConfig, clip_grad_norm};
use loam_tensor::{Device, GradStore, Rng, Tensor, cuda_device_count};

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

/// A store with a matrix, a vector and a scalar-like parameter drawn from `seed`.
fn store(seed: u64) -> ParamStore {
    let s = ParamStore::new(seed);
    let mut rng = Rng::new(seed);
    s.insert("w", &Tensor::randn(&[8, 5], 0.0, 1.0, &mut rng));
    s.insert("b", &Tensor::randn(&[5], 0.0, 1.0, &mut rng));
    s.insert("g", &Tensor::randn(&[3, 2, 2], 0.0, 1.0, &mut rng));
    s
}

/// Gradients of step `k` for `params` (the same values on every device).
fn grads(params: &[(String, Tensor)], k: u64) -> GradStore {
    let mut g = GradStore::default();
    let mut rng = Rng::new(100 + k);
    for (_, p) in params {
        let host = Tensor::randn(p.shape(), 0.0, 0.5, &mut rng);
        g.insert(p, host.to_device(p.device()).unwrap());
    }
    g
}

fn host_values(store: &ParamStore) -> Vec<Vec<f32>> {
    store
        .params()
        .iter()
        .map(|(_, p)| p.to_device(Device::Cpu).unwrap().to_vec())
        .collect()
}

#[test]
fn a_store_moved_to_its_own_device_is_itself() {
    let s = store(1);
    let same = s.to_device(Device::Cpu).unwrap();
    assert_eq!(same.device(), Device::Cpu);
    for ((_, a), (_, b)) in s.params().iter().zip(same.params()) {
        assert_eq!(a.id(), b.id());
    }
}

#[test]
fn adamw_on_cuda_matches_the_cpu_over_three_steps() {
    let Some(dev) = gpu("adamw_on_cuda_matches_the_cpu_over_three_steps") else {
        return;
    };
    let cpu = store(2);
    let cuda = cpu.to_device(dev).unwrap();
    assert!(
        cuda.params()
            .iter()
            .all(|(_, p)| p.device() == dev && p.is_var())
    );
    let config = AdamWConfig {
        lr: 1e-2,
        beta1: 0.9,
        beta2: 0.99,
        eps: 1e-8,
    };
    let mut opts = [cpu.clone(), cuda.clone()]
        .map(|s| AdamW::no_decay_1d(s.trainable(), 0.1, config).unwrap());
    for k in 0..3 {
        for (opt, s) in opts.iter_mut().zip([&cpu, &cuda]) {
            opt.step(&grads(&s.trainable(), k)).unwrap();
        }
    }
    for (c, g) in host_values(&cpu).iter().zip(host_values(&cuda)) {
        let worst = c
            .iter()
            .zip(&g)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-6, "parameters differ by {worst}");
    }
}

#[test]
fn clipping_on_cuda_matches_the_cpu() {
    let Some(dev) = gpu("clipping_on_cuda_matches_the_cpu") else {
        return;
    };
    let cpu = store(3);
    let cuda = cpu.to_device(dev).unwrap();
    let (mut gc, mut gg) = (grads(&cpu.trainable(), 0), grads(&cuda.trainable(), 0));
    let nc = clip_grad_norm(&mut gc, cpu.trainable().iter().map(|(_, p)| p), 0.5).unwrap();
    let ng = clip_grad_norm(&mut gg, cuda.trainable().iter().map(|(_, p)| p), 0.5).unwrap();
    assert!((nc - ng).abs() <= 1e-5 * nc, "norm {nc} vs {ng}");
    for ((_, pc), (_, pg)) in cpu.trainable().iter().zip(cuda.trainable()) {
        let (a, b) = (
            gc.get(pc).unwrap().to_vec(),
            gg.get(&pg)
                .unwrap()
                .to_device(Device::Cpu)
                .unwrap()
                .to_vec(),
        );
        assert!(
            a.iter().zip(&b).all(|(x, y)| (x - y).abs() <= 1e-6),
            "clipped gradients differ"
        );
    }
}

#[test]
fn adamw_state_saved_on_cuda_resumes_on_the_cpu() {
    let Some(dev) = gpu("adamw_state_saved_on_cuda_resumes_on_the_cpu") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("loam-cuda-adamw-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cpu = store(4);
    let cuda = cpu.to_device(dev).unwrap();
    let config = AdamWConfig::default();
    let (mut a, mut b) = (
        AdamW::no_decay_1d(cpu.trainable(), 0.1, config).unwrap(),
        AdamW::no_decay_1d(cuda.trainable(), 0.1, config).unwrap(),
    );
    a.step(&grads(&cpu.trainable(), 0)).unwrap();
    b.step(&grads(&cuda.trainable(), 0)).unwrap();
    b.save_state(&dir.join("opt.safetensors")).unwrap();
    cuda.save(&dir.join("model.safetensors"), None).unwrap();
    // the GPU run's weights and moments, resumed on the CPU, step as the CPU run does
    let resumed = store(99);
    resumed.load(&dir.join("model.safetensors")).unwrap();
    let mut c = AdamW::load_state(&dir.join("opt.safetensors"), &resumed.trainable()).unwrap();
    a.step(&grads(&cpu.trainable(), 1)).unwrap();
    c.step(&grads(&resumed.trainable(), 1)).unwrap();
    for (x, y) in host_values(&cpu).iter().zip(host_values(&resumed)) {
        assert!(
            x.iter().zip(&y).all(|(p, q)| (p - q).abs() <= 1e-6),
            "resumed parameters differ"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sgd_refuses_cuda_parameters_by_name() {
    let Some(dev) = gpu("sgd_refuses_cuda_parameters_by_name") else {
        return;
    };
    let cuda = store(5).to_device(dev).unwrap();
    let err = Sgd::new(
        vec![ParamGroup::new(cuda.trainable(), 0.0)],
        SgdConfig::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("CPU only") && err.contains("`b`"), "{err}");
}
