//! Shared by the tests: the CPU/device parity check of the per-device op tests, and the run of
//! a kernel's products on the wide and the portable path.

#![allow(dead_code)]

use loam_tensor::gradcheck::randn;
use loam_tensor::{Device, Result, Tensor};

/// Relative tolerance of f32 results against the CPU.
pub const RTOL: f32 = 1e-5;
/// Relative tolerance of bf16-autocast results against the CPU's f32.
pub const RTOL_BF16: f32 = 2e-2;
/// Absolute tolerance added to the relative one.
pub const ATOL: f32 = 1e-6;

/// Asserts `got` matches `want` elementwise within `rtol` relative (+ [`ATOL`]), relative to
/// the largest magnitude of `want` when `scale_by_max` (products in bf16 round their inputs,
/// so their error scales with the row, not the element).
pub fn close_within(what: &str, want: &[f32], got: &[f32], rtol: f32, scale_by_max: bool) {
    assert_eq!(want.len(), got.len(), "{what}: lengths");
    let max = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (i, (&w, &g)) in want.iter().zip(got).enumerate() {
        let scale = if scale_by_max {
            max
        } else {
            w.abs().max(g.abs())
        };
        assert!(
            (w - g).abs() <= ATOL + rtol * scale,
            "{what}[{i}]: cpu {w}, device {g}"
        );
    }
}

/// [`parity_within`] at the f32 tolerance.
pub fn parity(
    dev: Device,
    name: &str,
    inputs: Vec<Tensor>,
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
) -> Result<()> {
    parity_within(dev, name, RTOL, inputs, f)
}

/// Runs `f` on the CPU and on `dev` with the same inputs (as variables) and compares the
/// outputs and the gradients of a weighted sum of the output within `rtol` (relative to the
/// largest value when `rtol` is the bf16 one).
pub fn parity_within(
    dev: Device,
    name: &str,
    rtol: f32,
    inputs: Vec<Tensor>,
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
) -> Result<()> {
    let by_max = rtol >= RTOL_BF16;
    let cpu: Vec<Tensor> = inputs.iter().map(Tensor::to_var).collect();
    let on_dev = inputs
        .iter()
        .map(|t| Ok(t.to_device(dev)?.to_var()))
        .collect::<Result<Vec<_>>>()?;
    let (yc, yd) = (f(&cpu)?, f(&on_dev)?);
    assert_eq!(yd.device(), dev, "{name}: output device");
    assert_eq!(yc.shape(), yd.shape(), "{name}: output shape");
    close_within(name, &yc.to_vec(), &yd.try_to_vec()?, rtol, by_max);
    let w = randn(yc.shape(), 7);
    let (gc, gd) = (
        yc.mul(&w)?.sum_all().backward()?,
        yd.mul(&w.to_device(dev)?)?.sum_all().backward()?,
    );
    for (i, (c, d)) in cpu.iter().zip(&on_dev).enumerate() {
        match (gc.get(c), gd.get(d)) {
            (Some(a), Some(b)) => {
                assert_eq!(b.device(), dev, "{name}: gradient {i} device");
                close_within(
                    &format!("{name} gradient {i}"),
                    &a.to_vec(),
                    &b.try_to_vec()?,
                    rtol,
                    by_max,
                );
            }
            (None, None) => {}
            _ => panic!("{name}: input {i} has a gradient on one device only"),
        }
    }
    Ok(())
}

/// Runs `products` (given whether to run inside a two-thread rayon pool) on the portable path,
/// asserting that the kernel counted by `calls` did not run, and then, where the CPU has
/// AVX-512, on the wide path outside and inside the pool, asserting that the kernel ran
/// `expected(runs)`-many times and that both paths agree within 1e-4 (relative). `name`
/// labels the messages.
pub fn on_both_paths(
    name: &str,
    calls: fn() -> u64,
    expected: impl Fn(u64) -> bool,
    products: impl Fn(bool) -> Vec<Vec<f32>>,
) {
    loam_tensor::force_portable(true);
    let before = calls();
    let portable = products(false);
    assert_eq!(calls(), before, "{name}: the kernel ran with the portable path forced");
    loam_tensor::force_portable(false);
    if !loam_tensor::wide_available() {
        use std::io::Write;
        let line = format!("{name}: wide path not tested: this CPU lacks AVX-512 (portable path tested)\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
        return;
    }
    for in_pool in [false, true] {
        let before = calls();
        let wide = products(in_pool);
        let runs = calls() - before;
        assert!(expected(runs), "{name}: the kernel ran {runs} times (in the pool: {in_pool})");
        for (w, p) in wide.iter().zip(&portable) {
            for (&x, &y) in w.iter().zip(p) {
                assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{name}: wide {x} vs portable {y}");
            }
        }
    }
}

/// `a · b` for `a` `[nb, m, k]` and `b` `[nb, k, n]` (row-major values), summed in f64.
pub fn naive_product(a: &[f32], b: &[f32], nb: usize, m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut out = vec![0.0; nb * m * n];
    for e in 0..nb {
        for i in 0..m {
            for j in 0..n {
                out[(e * m + i) * n + j] =
                    (0..k).map(|p| f64::from(a[(e * m + i) * k + p]) * f64::from(b[(e * k + p) * n + j])).sum();
            }
        }
    }
    out
}

/// Asserts that `got` (a product over `k` terms) matches [`naive_product`]'s `want` within
/// 1e-5 · √k, relative; `what` names the product in the message.
pub fn assert_near_naive(what: &str, got: &[f32], want: &[f64], k: usize) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (e, (&got, &want)) in got.iter().zip(want).enumerate() {
        let tolerance = 1e-5 * (k as f64).sqrt() * (1.0 + want.abs());
        assert!((f64::from(got) - want).abs() <= tolerance, "{what}: y[{e}] = {got}, want {want}");
    }
}
