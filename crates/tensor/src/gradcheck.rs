//! Numerical gradient checking (like `torch.autograd.gradcheck`): the analytic gradients of a
//! function of tensors against central finite differences. Used by the tests of every crate
//! that defines a differentiable op or layer.

use crate::{Result, Rng, Tensor, no_grad};

/// Step of the central difference. With f32 arithmetic, 1e-2 balances truncation error
/// (O(h⁴) after Richardson extrapolation) against rounding error (O(ε/h)).
pub const H: f64 = 1e-2;

/// Absolute tolerance: |numeric − analytic| ≤ ATOL + RTOL·|numeric|. A wrong backward formula
/// is off by O(1); f32 central differences with H = 1e-2 agree to about 1e-4, which is the
/// bound this tolerance leaves room for: every check of `loam-tensor` and `loam-nn` passes at
/// 1e-3 (`cargo test -p loam-tensor --test grad`, `-p loam-nn --test layers --test attention`),
/// and some fail at 1e-4 (`non_contiguous_inputs`).
pub const ATOL: f64 = 1e-3;
/// Relative tolerance (see [`ATOL`]).
pub const RTOL: f64 = 1e-3;

/// At most this many elements of each input are perturbed (chosen evenly), to bound run time.
const MAX_PROBES: usize = 48;

/// Normal values of the given shape from a seed.
pub fn randn(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, &mut Rng::new(seed))
}

/// Uniform values in [lo, hi).
pub fn uniform(shape: &[usize], lo: f32, hi: f32, seed: u64) -> Tensor {
    Tensor::uniform(shape, lo, hi, &mut Rng::new(seed))
}

/// Σ out ⊙ r in f64, the scalar whose gradient is checked.
fn project(out: &Tensor, r: &[f32]) -> f64 {
    out.to_vec().iter().zip(r).map(|(&o, &w)| o as f64 * w as f64).sum()
}

/// Checks the gradients of `f` with respect to every input against central differences of
/// the scalar Σ f(inputs) ⊙ R, R a fixed random tensor. Panics with the op name, input,
/// element and both values when they disagree.
pub fn check(name: &str, inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Result<Tensor>) {
    let vars: Vec<Tensor> = inputs.iter().map(|t| t.to_var()).collect();
    let out = f(&vars).unwrap_or_else(|e| panic!("{name}: forward failed: {e}"));
    let r = Tensor::uniform(out.shape(), -1.0, 1.0, &mut Rng::new(99)).to_vec();
    let loss = out.mul(&Tensor::from_vec(r.clone(), out.shape()).unwrap()).unwrap().sum_all();
    let grads = loss.backward().unwrap();
    let _g = no_grad();
    for (i, var) in vars.iter().enumerate() {
        let n = var.elem_count();
        let analytic = grads.get(var).map(|g| g.to_vec()).unwrap_or_else(|| vec![0.0; n]);
        assert_eq!(analytic.len(), n, "{name}: gradient of input {i} has the wrong size");
        let base = inputs[i].to_vec();
        let step = n.div_ceil(MAX_PROBES).max(1);
        for j in (0..n).step_by(step) {
            let eval = |delta: f64| {
                let mut v = base.clone();
                v[j] = (v[j] as f64 + delta) as f32;
                let mut args: Vec<Tensor> = inputs.to_vec();
                args[i] = Tensor::from_vec(v, inputs[i].shape()).unwrap();
                project(&f(&args).unwrap(), &r)
            };
            // Richardson: (4·D(h/2) − D(h)) / 3 cancels the h² term of the central difference.
            let central = |h: f64| (eval(h) - eval(-h)) / (2.0 * h);
            let numeric = (4.0 * central(H / 2.0) - central(H)) / 3.0;
            let a = analytic[j] as f64;
            assert!(
                (numeric - a).abs() <= ATOL + RTOL * numeric.abs(),
                "{name}: d/d input{i}[{j}] (shape {:?}): numeric {numeric}, analytic {a}",
                inputs[i].shape()
            );
        }
    }
}

/// Checks the gradients of a closure's output with respect to variables it reads (a layer's
/// parameters, say), perturbing each variable in place and restoring it afterwards.
pub fn check_vars(name: &str, vars: &[(&str, &Tensor)], f: impl Fn() -> Result<Tensor>) {
    let out = f().unwrap_or_else(|e| panic!("{name}: forward failed: {e}"));
    let r = Tensor::uniform(out.shape(), -1.0, 1.0, &mut Rng::new(99)).to_vec();
    let loss = out.mul(&Tensor::from_vec(r.clone(), out.shape()).unwrap()).unwrap().sum_all();
    let grads = loss.backward().unwrap();
    let _g = no_grad();
    for (var_name, var) in vars {
        let n = var.elem_count();
        let analytic = grads.get(var).map(|g| g.to_vec()).unwrap_or_else(|| vec![0.0; n]);
        let step = n.div_ceil(MAX_PROBES).max(1);
        for j in (0..n).step_by(step) {
            let eval = |delta: f64| {
                let nudge = |d: f64| var.update(|mut v| {
                    let x = v.iter_mut().nth(j).expect("probe inside the variable");
                    *x = (*x as f64 + d) as f32;
                });
                let saved = var.to_array();
                nudge(delta).unwrap();
                let value = project(&f().unwrap(), &r);
                var.update(|mut v| v.assign(&saved)).unwrap();
                value
            };
            let central = |h: f64| (eval(h) - eval(-h)) / (2.0 * h);
            let numeric = (4.0 * central(H / 2.0) - central(H)) / 3.0;
            let a = analytic[j] as f64;
            assert!(
                (numeric - a).abs() <= ATOL + RTOL * numeric.abs(),
                "{name}: d/d {var_name}[{j}] (shape {:?}): numeric {numeric}, analytic {a}",
                var.shape()
            );
        }
    }
}

/// Values pushed at least `gap` away from zero (for kinks such as relu).
pub fn away_from_zero(t: &Tensor, gap: f32) -> Tensor {
    let v = t.to_vec().into_iter().map(|x| if x >= 0.0 { x + gap } else { x - gap }).collect();
    Tensor::from_vec(v, t.shape()).unwrap()
}

/// Distinct values spaced 0.1 apart in a seeded random order (no ties for max).
pub fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut rng = Rng::new(seed);
    let mut v: Vec<f32> = (0..n).map(|i| (i as f32 - n as f32 / 2.0) * 0.1).collect();
    for i in (1..n).rev() {
        v.swap(i, rng.below(i as u64 + 1) as usize);
    }
    Tensor::from_vec(v, shape).unwrap()
}
