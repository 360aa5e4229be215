//! Matrix products with bfloat16 weights on both paths: the native AVX512-BF16 kernel (asked
//! for with `native_bf16`), which rounds the activations to bf16 too, and the default one
//! (also what `force_portable` forces), which widens the weights and keeps the activations in
//! f32. Each is checked against an f64
//! sum of the operands it uses, on ragged shapes (rows, columns and k not multiples of the
//! kernel's tiles, k odd, k longer than one packed block). The switch is process-wide, so this
//! file holds a single test. On a CPU without AVX512-BF16 the native half is skipped with one
//! line on stderr.

use loam_tensor::{Bf16Matrix, Rng, Tensor, force_portable, native_bf16};

/// Shapes `(m, k, n)`: m ≥ 4 (matrix products), tails everywhere, k = 1 and k > 512.
const SHAPES: [(usize, usize, usize); 8] =
    [(4, 1, 1), (5, 33, 31), (8, 2, 32), (9, 64, 33), (17, 257, 65), (40, 96, 513), (13, 1101, 100), (64, 960, 130)];

/// `x` rounded to bfloat16 (nearest even), as values.
fn rounded(x: &Tensor) -> Tensor {
    Bf16Matrix::from_tensor(x).unwrap().to_tensor()
}

/// Runs every shape on the current path; checks `x · wᵀ` against the f64 product of
/// `round(x)` (when `rounds`) or `x`, and the bf16 weight. Tolerance: the f32 sum of k terms
/// is within k·2⁻²⁴·Σ|terms| of the exact one; 1e-5·Σ|terms| covers k ≤ 168 at the bound and
/// every k here in practice (the error grows as √k). Returns the products.
fn products(rounds: bool) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(11);
    let mut outs = Vec::new();
    for (m, k, n) in SHAPES {
        let w = Bf16Matrix::from_tensor(&Tensor::randn(&[n, k], 0.0, 1.0, &mut rng)).unwrap();
        let x = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
        let got = x.matmul_bf16(&w).unwrap().to_vec();
        let xs = if rounds { rounded(&x) } else { x.clone() }.to_vec();
        let ws = w.to_tensor().to_vec();
        for i in 0..m {
            for j in 0..n {
                let terms = (0..k).map(|p| f64::from(xs[i * k + p]) * f64::from(ws[j * k + p]));
                let (want, size) = terms.fold((0.0, 0.0), |(s, a), t| (s + t, a + t.abs()));
                let g = f64::from(got[i * n + j]);
                assert!((g - want).abs() <= 1e-5 * size, "rounds {rounds}, m {m} k {k} n {n}: y[{i}, {j}] = {g}, want {want} (Σ|terms| {size})");
            }
        }
        outs.push(got);
    }
    outs
}

/// Whether this CPU runs the native kernel (AVX512-BF16 and the wide path's features).
fn native_cpu() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512bf16") && loam_tensor::wide_available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[test]
fn native_and_portable_bf16_products_match_their_references() {
    // the AMX kernel (16 rows or more) takes precedence over the native one: tests/amx.rs
    loam_tensor::amx_kernels(false);
    native_bf16(true);
    force_portable(true);
    let portable = products(false);
    force_portable(false);
    if !native_cpu() {
        use std::io::Write;
        let _ = std::io::stderr().write_all(b"bf16_gemm: native path not tested: this CPU lacks AVX512-BF16 (portable path tested)\n");
        return;
    }
    let native = products(true);
    // asked off again, the default path runs and keeps the activations in f32
    native_bf16(false);
    assert!(products(false) == portable, "the default path differs from the portable one");
    // the native path rounds the activations, so its products differ from the portable ones
    for ((a, b), (m, k, n)) in native.iter().zip(&portable).zip(SHAPES) {
        if k > 1 {
            assert!(a != b, "m {m} k {k} n {n}: the native path gave the portable path's values (did it run?)");
        }
    }
}
