//! Optimizers against PyTorch, schedules at their key steps, clipping, accumulation, and
//! bit-exact resume from saved state.

use std::path::PathBuf;

use loam_nn::optim::{AdamW, AdamWConfig, GradAccumulator, ParamGroup, Schedule, Sgd, SgdConfig, clip_grad_norm};
use loam_nn::{NnError, ParamStore};
use loam_tensor::{GradStore, Rng, Tensor};

// ---- Reference values -------------------------------------------------------------------
// Printed by `python3 crates/nn/tests/data/optim_reference.py` (PyTorch's torch.optim.AdamW,
// torch.optim.SGD and torch.nn.utils.clip_grad_norm_, CPU, foreach=False); the setup below
// (initial values, gradients, skipped gradient, learning-rate change) mirrors that script.
// Recorded with torch 2.15.0+cu132 by crates/nn/tests/data/optim_reference.py.
const ADAMW_STEP1_W: [f32; 12] = [-0.989, 0.24975, -1.25875, 0.01, 1.23875, -0.23975, 0.989, -0.5095, 0.75925, -0.75925, 0.5095, -1.0090001];
const ADAMW_STEP1_B: [f32; 4] = [-0.74, 0.49, -1.01, 0.26];
const ADAMW_STEP5_W: [f32; 12] = [-0.9852936, 0.2672811, -1.2728221, 0.022013485, 1.2324817, -0.24356446, 0.9988969, -0.52523863, 0.76481014, -0.76575005, 0.49849167, -1.0010983];
const ADAMW_STEP5_B: [f32; 4] = [-0.7331399, 0.49549007, -1.0161893, 0.2494015];
const SGD_PLAIN_W: [f32; 12] = [-0.9125001, 0.32500002, -1.4, 0.049999997, 1.2875, -0.225, 1.0124999, -0.5, 0.73749995, -0.775, 0.4625, -1.0500001];
const SGD_PLAIN_B: [f32; 4] = [-0.63750005, 0.475, -0.95000005, 0.16250001];
const SGD_MOMENTUM_W: [f32; 12] = [-0.8448537, 0.56170005, -1.6846586, 0.22872874, 1.3082451, -0.25915504, 1.1473987, -0.88645995, 0.8144275, -0.85605633, 0.3265438, -1.0169024];
const SGD_MOMENTUM_B: [f32; 4] = [-0.50745004, 0.5266375, -1.1489, 0.040100012];
const SGD_DAMPENING_W: [f32; 12] = [-0.79406005, 0.48377496, -1.6655742, 0.20993811, 1.2424951, -0.18008314, 1.0977519, -0.89222246, 0.82391495, -0.89352816, 0.43389374, -1.0382712];
const SGD_DAMPENING_B: [f32; 4] = [-0.50360626, 0.50923127, -1.19765, 0.11406875];
const SGD_NESTEROV_W: [f32; 12] = [-0.7728684, 0.60553, -1.7911929, 0.25585586, 1.3399204, -0.23323953, 1.1451588, -0.84781396, 0.7954848, -0.8704506, 0.30638936, -1.0652122];
const SGD_NESTEROV_B: [f32; 4] = [-0.41920504, 0.49897373, -1.08401, -0.02640998];
const SGD_DECAY_W: [f32; 12] = [-0.8324951, 0.55765307, -1.6665376, 0.22760567, 1.2924216, -0.2562439, 1.1339043, -0.8777865, 0.80385685, -0.8452663, 0.32000723, -1.0037836];
const SGD_DECAY_B: [f32; 4] = [-0.50745004, 0.5266375, -1.1489, 0.040100012];
const CLIP_NORM: f32 = 2.4590394;

/// Initial parameter value i: ((5i + salt) mod 11 − 5)/4, as in the script.
fn init(n: usize, salt: usize) -> Vec<f32> {
    (0..n).map(|i| ((5 * i + salt) % 11) as f32 / 4.0 - 1.25).collect()
}

/// Gradient value i at step t: ((7i + 13t + salt) mod 17 − 8)/8, as in the script.
fn grad_values(n: usize, t: usize, salt: usize) -> Vec<f32> {
    (0..n).map(|i| ((7 * i + 13 * t + salt) % 17) as f32 / 8.0 - 1.0).collect()
}

/// The script's two parameters: `w` [3, 4] and `b` [4].
fn model() -> (ParamStore, Tensor, Tensor) {
    let store = ParamStore::new(0);
    let w = store.insert("w", &Tensor::from_vec(init(12, 1), &[3, 4]).unwrap());
    let b = store.insert("b", &Tensor::from_vec(init(4, 2), &[4]).unwrap());
    (store, w, b)
}

/// The script's gradients at step `t`; `b` has none at step 1.
fn grads(w: &Tensor, b: &Tensor, t: usize) -> GradStore {
    let mut g = GradStore::default();
    g.insert(w, Tensor::from_vec(grad_values(12, t, 1), &[3, 4]).unwrap());
    if t != 1 {
        g.insert(b, Tensor::from_vec(grad_values(4, t, 2), &[4]).unwrap());
    }
    g
}

/// Asserts |actual − expected| ≤ 1e-6·|expected| elementwise (1e-7 absolute near zero).
fn assert_close(what: &str, actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let tol = (1e-6 * e.abs()).max(1e-7);
        assert!((a - e).abs() <= tol, "{what}[{i}]: {a} vs PyTorch {e} (tolerance {tol})");
    }
}

/// Asserts that `actual` has the bits of `expected` (values PyTorch printed as the shortest
/// decimals that round-trip an f32).
fn assert_bits(what: &str, actual: &[f32], expected: &[f32]) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(a.to_bits(), e.to_bits(), "{what}[{i}]: {a} vs PyTorch {e}");
    }
}

fn adamw_config() -> AdamWConfig {
    AdamWConfig { lr: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8 }
}

#[test]
fn adamw_matches_pytorch() {
    let (store, w, b) = model();
    // Decay on `w` (rank 2) only: the script's two groups.
    let mut opt = AdamW::no_decay_1d(store.trainable(), 0.1, adamw_config()).unwrap();
    for t in 0..5 {
        if t == 3 {
            opt.set_lr(5e-3);
        }
        opt.step(&grads(&w, &b, t)).unwrap();
        if t == 0 {
            assert_bits("AdamW step 1 w", &w.to_vec(), &ADAMW_STEP1_W);
            assert_bits("AdamW step 1 b", &b.to_vec(), &ADAMW_STEP1_B);
        }
    }
    assert_eq!(opt.steps(), 5);
    assert_bits("AdamW step 5 w", &w.to_vec(), &ADAMW_STEP5_W);
    assert_bits("AdamW step 5 b", &b.to_vec(), &ADAMW_STEP5_B);
}

/// Runs the script's five SGD steps with `config`, decaying `w` by `wd`; returns (w, b).
fn run_sgd(config: SgdConfig, wd: f32) -> (Vec<f32>, Vec<f32>) {
    let (_, w, b) = model();
    let groups = vec![
        ParamGroup::new(vec![("w".into(), w.clone())], wd),
        ParamGroup::new(vec![("b".into(), b.clone())], 0.0),
    ];
    let mut opt = Sgd::new(groups, config).unwrap();
    for t in 0..5 {
        opt.step(&grads(&w, &b, t)).unwrap();
    }
    (w.to_vec(), b.to_vec())
}

#[test]
fn sgd_matches_pytorch() {
    let base = SgdConfig { lr: 0.1, ..Default::default() };
    let momentum = SgdConfig { momentum: 0.9, ..base };
    let cases = [
        ("plain", base, 0.0, &SGD_PLAIN_W, &SGD_PLAIN_B),
        ("momentum", momentum, 0.0, &SGD_MOMENTUM_W, &SGD_MOMENTUM_B),
        ("dampening", SgdConfig { dampening: 0.25, ..momentum }, 0.0, &SGD_DAMPENING_W, &SGD_DAMPENING_B),
        ("nesterov", SgdConfig { nesterov: true, ..momentum }, 0.0, &SGD_NESTEROV_W, &SGD_NESTEROV_B),
        ("weight decay", momentum, 0.01, &SGD_DECAY_W, &SGD_DECAY_B),
    ];
    for (name, config, wd, ew, eb) in cases {
        let (w, b) = run_sgd(config, wd);
        assert_close(&format!("SGD {name} w"), &w, ew);
        assert_close(&format!("SGD {name} b"), &b, eb);
    }
}

#[test]
fn invalid_optimizers_are_refused() {
    let (store, w, _) = model();
    let constant = ParamGroup::new(vec![("c".into(), Tensor::ones(&[2]))], 0.0);
    let err = AdamW::new(vec![constant], AdamWConfig::default()).unwrap_err();
    assert!(err.to_string().contains("`c`"), "{err}");
    let twice = ParamGroup::new(vec![("w".into(), w.clone()), ("w".into(), w.clone())], 0.0);
    let err = AdamW::new(vec![twice], AdamWConfig::default()).unwrap_err();
    assert!(err.to_string().contains("`w`"), "{err}");
    let bad_beta = AdamWConfig { beta1: 1.0, ..Default::default() };
    assert!(AdamW::new(vec![ParamGroup::new(store.trainable(), 0.0)], bad_beta).is_err());
    let nesterov = SgdConfig { nesterov: true, ..Default::default() };
    assert!(Sgd::new(vec![ParamGroup::new(store.trainable(), 0.0)], nesterov).is_err());
    assert!(Sgd::new(vec![ParamGroup::new(store.trainable(), -1.0)], SgdConfig::default()).is_err());
}

#[test]
fn a_misshaped_gradient_is_an_error_naming_it_and_nothing_moves() {
    let (store, w, b) = model();
    let before = (w.to_vec(), b.to_vec());
    let mut opt = AdamW::new(vec![ParamGroup::new(store.trainable(), 0.0)], AdamWConfig::default()).unwrap();
    let mut g = grads(&w, &b, 0);
    g.insert(&w, Tensor::zeros(&[4, 3]));
    match opt.step(&g) {
        Err(NnError::ParamShape { name, .. }) => assert!(name.contains('w'), "{name}"),
        other => panic!("expected a shape error, got {other:?}"),
    }
    assert_eq!((w.to_vec(), b.to_vec()), before);
    assert_eq!(opt.steps(), 0);
}

#[test]
fn large_parameters_update_in_parallel_exactly_as_small_ones() {
    // One [256, 256] parameter (chunked over rayon) against 256 rows of [256] (sequential).
    let mut rng = Rng::new(7);
    let init = Tensor::randn(&[256, 256], 0.0, 1.0, &mut rng);
    let big = init.to_var();
    let rows: Vec<Tensor> = (0..256).map(|r| init.narrow(0, r, 1).unwrap().reshape(&[256]).unwrap().to_var()).collect();
    let mut big_opt = AdamW::new(vec![ParamGroup::new(vec![("big".into(), big.clone())], 0.1)], adamw_config()).unwrap();
    let named = rows.iter().enumerate().map(|(r, t)| (format!("row{r}"), t.clone())).collect();
    let mut row_opt = AdamW::new(vec![ParamGroup::new(named, 0.1)], adamw_config()).unwrap();
    for _ in 0..3 {
        let g = Tensor::randn(&[256, 256], 0.0, 1.0, &mut rng);
        let mut big_grads = GradStore::default();
        big_grads.insert(&big, g.clone());
        let mut row_grads = GradStore::default();
        for (r, t) in rows.iter().enumerate() {
            row_grads.insert(t, g.narrow(0, r, 1).unwrap().reshape(&[256]).unwrap().contiguous());
        }
        big_opt.step(&big_grads).unwrap();
        row_opt.step(&row_grads).unwrap();
    }
    let joined: Vec<f32> = rows.iter().flat_map(|t| t.to_vec()).collect();
    assert!(big.to_vec().iter().zip(&joined).all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn schedules_at_key_steps() {
    let close = |a: f32, e: f64| assert!((a as f64 - e).abs() <= 1e-7 * e.abs().max(1e-3), "{a} vs {e}");
    let lr = 6e-4_f32;
    let (lr64, min64) = (lr as f64, 6e-5_f32 as f64);
    assert_eq!(Schedule::Constant { lr }.lr(12345), lr);

    let warm = Schedule::LinearWarmup { lr, warmup: 100 };
    close(warm.lr(0), lr64 / 101.0);
    close(warm.lr(99), lr64 * 100.0 / 101.0);
    assert_eq!(warm.lr(100), lr);
    assert_eq!(Schedule::LinearWarmup { lr, warmup: 0 }.lr(0), lr);

    let cosine = Schedule::WarmupCosine { lr, min_lr: 6e-5, warmup: 100, total: 1000 };
    close(cosine.lr(0), lr64 / 101.0);
    close(cosine.lr(99), lr64 * 100.0 / 101.0);
    close(cosine.lr(100), lr64);
    close(cosine.lr(550), (lr64 + min64) / 2.0);
    close(cosine.lr(1000), min64);
    close(cosine.lr(5000), min64);
    close(Schedule::WarmupCosine { lr, min_lr: 6e-5, warmup: 0, total: 1000 }.lr(0), lr64);

    let linear = Schedule::LinearDecay { lr, end_lr: 0.0, warmup: 100, total: 1000 };
    close(linear.lr(99), lr64 * 100.0 / 101.0);
    close(linear.lr(100), lr64);
    close(linear.lr(550), lr64 / 2.0);
    assert_eq!(linear.lr(1000), 0.0);
    assert_eq!(linear.lr(5000), 0.0);
}

/// The L2 norm of the gradients of `params`, in f64.
fn norm(grads: &GradStore, params: &[&Tensor]) -> f64 {
    params.iter().flat_map(|p| grads.get(p).unwrap().to_vec()).map(|x| x as f64 * x as f64).sum::<f64>().sqrt()
}

#[test]
fn clipping_returns_the_norm_before_and_leaves_max_norm() {
    let (_, w, b) = model();
    let mut g = grads(&w, &b, 0);
    let before = norm(&g, &[&w, &b]);
    // Listed twice, `w` counts once.
    let returned = clip_grad_norm(&mut g, [&w, &b, &w], 1.0).unwrap();
    assert_close("clip norm", &[returned], &[CLIP_NORM]);
    assert_eq!(returned, before as f32);
    let after = norm(&g, &[&w, &b]);
    assert!((after - 1.0).abs() < 1e-6, "post-clip norm {after}");

    // Below the threshold, the gradients stay as they are, bit for bit.
    let mut g = grads(&w, &b, 0);
    let untouched = g.get(&w).unwrap().to_vec();
    clip_grad_norm(&mut g, [&w, &b], 10.0).unwrap();
    assert_eq!(g.get(&w).unwrap().to_vec(), untouched);

    // A parameter without a gradient is skipped; a bad max_norm is refused.
    let mut g = grads(&w, &b, 1);
    let only_w = norm(&g, &[&w]);
    assert_eq!(clip_grad_norm(&mut g, [&w, &b], 10.0).unwrap(), only_w as f32);
    assert!(clip_grad_norm(&mut g, [&w], f32::NAN).is_err());
}

#[test]
fn accumulated_micro_batches_equal_the_big_batch() {
    let mut rng = Rng::new(3);
    let w = Tensor::randn(&[5, 3], 0.0, 1.0, &mut rng).to_var();
    let b = Tensor::randn(&[3], 0.0, 1.0, &mut rng).to_var();
    let x = Tensor::randn(&[8, 5], 0.0, 1.0, &mut rng);
    let y = Tensor::randn(&[8, 3], 0.0, 1.0, &mut rng);
    // loss = mean((x·w + b − y)²) over the batch
    let loss = |x: &Tensor, y: &Tensor| x.matmul(&w).unwrap().add(&b).unwrap().sub(y).unwrap().powf(2.0).mean_all();
    let big = loss(&x, &y).backward().unwrap();
    let mut acc = GradAccumulator::new([&w, &b]);
    for k in 0..4 {
        let (xs, ys) = (x.narrow(0, 2 * k, 2).unwrap(), y.narrow(0, 2 * k, 2).unwrap());
        acc.add(&loss(&xs, &ys).backward().unwrap()).unwrap();
    }
    assert_eq!(acc.count(), 4);
    let mean = acc.finish().unwrap();
    for p in [&w, &b] {
        let (m, e) = (mean.get(p).unwrap().to_vec(), big.get(p).unwrap().to_vec());
        for (a, e) in m.iter().zip(&e) {
            assert!((a - e).abs() <= 1e-6 * e.abs().max(1.0), "{a} vs {e}");
        }
    }
    assert_eq!(acc.count(), 0);
    assert!(acc.finish().is_err());
}

/// A fresh path in the temporary folder.
fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("loam-optim-{}-{name}", std::process::id()))
}

/// Runs steps `from..to` of the script's gradients through `step`.
fn run(from: usize, to: usize, w: &Tensor, b: &Tensor, mut step: impl FnMut(&GradStore)) {
    (from..to).for_each(|t| step(&grads(w, b, t)));
}

#[test]
fn adamw_resumes_bit_exactly_from_saved_state() {
    let (store, w, b) = model();
    let mut opt = AdamW::no_decay_1d(store.trainable(), 0.1, adamw_config()).unwrap();
    run(0, 6, &w, &b, |g| opt.step(g).unwrap());
    let uninterrupted = (w.to_vec(), b.to_vec());

    let (store, w, b) = model();
    let mut opt = AdamW::no_decay_1d(store.trainable(), 0.1, adamw_config()).unwrap();
    run(0, 3, &w, &b, |g| opt.step(g).unwrap());
    let (params_path, state_path) = (temp("adamw-params.safetensors"), temp("adamw-state.safetensors"));
    store.save(&params_path, None).unwrap();
    opt.save_state(&state_path).unwrap();

    let (fresh, w, b) = model();
    fresh.load(&params_path).unwrap();
    let mut opt = AdamW::load_state(&state_path, &fresh.trainable()).unwrap();
    assert_eq!((opt.steps(), opt.config()), (3, adamw_config()));
    run(3, 6, &w, &b, |g| opt.step(g).unwrap());
    let resumed = (w.to_vec(), b.to_vec());
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&resumed.0), bits(&uninterrupted.0));
    assert_eq!(bits(&resumed.1), bits(&uninterrupted.1));
    let _ = (std::fs::remove_file(params_path), std::fs::remove_file(state_path));
}

#[test]
fn sgd_resumes_bit_exactly_from_saved_state() {
    let config = SgdConfig { lr: 0.1, momentum: 0.9, nesterov: true, ..Default::default() };
    let new = |store: &ParamStore| Sgd::new(ParamGroup::no_decay_1d(store.trainable(), 0.01), config).unwrap();
    let (store, w, b) = model();
    let mut opt = new(&store);
    run(0, 4, &w, &b, |g| opt.step(g).unwrap());
    let uninterrupted = (w.to_vec(), b.to_vec());

    let (store, w, b) = model();
    let mut opt = new(&store);
    run(0, 2, &w, &b, |g| opt.step(g).unwrap());
    let path = temp("sgd-state.safetensors");
    opt.save_state(&path).unwrap();
    let mut opt = Sgd::load_state(&path, &store.trainable()).unwrap();
    assert_eq!(opt.config(), config);
    run(2, 4, &w, &b, |g| opt.step(g).unwrap());
    assert_eq!((w.to_vec(), b.to_vec()), uninterrupted);

    // Plain SGD keeps no buffers; its file holds only metadata.
    let plain = Sgd::new(vec![ParamGroup::new(store.trainable(), 0.0)], SgdConfig::default()).unwrap();
    plain.save_state(&path).unwrap();
    assert_eq!(Sgd::load_state(&path, &store.trainable()).unwrap().config(), SgdConfig::default());
    let _ = std::fs::remove_file(path);
}

#[test]
fn loading_state_with_a_missing_or_misshaped_moment_names_it() {
    let (store, w, b) = model();
    let mut opt = AdamW::no_decay_1d(store.trainable(), 0.1, adamw_config()).unwrap();
    run(0, 2, &w, &b, |g| opt.step(g).unwrap());
    let path = temp("adamw-broken.safetensors");
    opt.save_state(&path).unwrap();

    // Another shape for `w`: its first moment is named.
    let other = vec![("w".to_string(), Tensor::zeros(&[4, 3]).to_var()), ("b".to_string(), b.clone())];
    match AdamW::load_state(&path, &other) {
        Err(NnError::ParamShape { name, expected, found }) => {
            assert_eq!((name.as_str(), expected, found), ("m.w", vec![4, 3], vec![3, 4]));
        }
        other => panic!("expected a shape error, got {other:?}"),
    }

    // The file read by the wrong optimizer.
    let err = Sgd::load_state(&path, &store.trainable()).unwrap_err();
    assert!(err.to_string().contains("adamw"), "{err}");

    // Without `v.b`.
    let mut loaded = loam_nn::safetensors_io::load(&path).unwrap();
    loaded.tensors.remove("v.b");
    let mut tensors: Vec<(String, Tensor)> = loaded.tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    loam_nn::safetensors_io::save(&path, &tensors, Some(loaded.metadata)).unwrap();
    match AdamW::load_state(&path, &store.trainable()) {
        Err(err @ NnError::MissingParam { .. }) => assert!(err.to_string().contains("`v.b`"), "{err}"),
        other => panic!("expected a missing-tensor error, got {other:?}"),
    }
    let _ = std::fs::remove_file(path);
}
