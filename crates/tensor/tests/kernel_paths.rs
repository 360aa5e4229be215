//! The wide (AVX-512) and portable copies of the kernels, both run on this machine: the
//! portable path is forced with `force_portable`, and each test asserts which path ran
//! (`kernel_path`, and `gemv_calls` for vector × matrix products). On a CPU without AVX-512
//! the wide half is skipped with one line on stderr. The switch is process-wide, so this file
//! holds a single test that walks both paths in turn.

use loam_tensor::{KernelPath, Rng, Tensor, force_portable, gemv_calls, kernel_path, wide_available};

/// `x · w` for `x`: [1, k], `w`: [k, n] (or its transpose), summed in f64.
fn reference(x: &[f32], w: &[f32], k: usize, n: usize, transposed: bool) -> Vec<f64> {
    (0..n)
        .map(|j| (0..k).map(|p| f64::from(x[p]) * f64::from(if transposed { w[j * k + p] } else { w[p * n + j] })).sum())
        .collect()
}

/// Runs the vector × matrix products on the current path: both weight layouts, sizes with
/// tails, one large enough to be split over threads. Returns the products' values and checks
/// them against the f64 reference.
fn gemv_products() -> Vec<Vec<f32>> {
    let mut rng = Rng::new(7);
    let mut outs = Vec::new();
    for (k, n) in [(5, 3), (37, 21), (256, 1000)] {
        let x = Tensor::randn(&[1, k], 0.0, 1.0, &mut rng);
        for transposed in [false, true] {
            let w = if transposed { Tensor::randn(&[n, k], 0.0, 1.0, &mut rng) } else { Tensor::randn(&[k, n], 0.0, 1.0, &mut rng) };
            let rhs = if transposed { w.transpose(0, 1).unwrap() } else { w.clone() };
            let y = x.matmul(&rhs).unwrap().to_vec();
            let want = reference(&x.to_vec(), &w.to_vec(), k, n, transposed);
            for (j, (&got, &want)) in y.iter().zip(&want).enumerate() {
                assert!((f64::from(got) - want).abs() <= 1e-4 * (1.0 + want.abs()), "[{k}, {n}] transposed {transposed}: y[{j}] = {got}, want {want}");
            }
            outs.push(y);
        }
    }
    outs
}

/// Products of a few rows (a beam search's beams) by a row-major matrix, against the f64
/// reference; on the wide path each row equals that row's vector × matrix product bit for bit.
fn few_row_products(wide: bool) {
    let mut rng = Rng::new(11);
    for (m, k, n) in [(2, 5, 3), (3, 37, 21), (4, 256, 1000), (4, 1, 40)] {
        let x = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
        let w = Tensor::randn(&[k, n], 0.0, 1.0, &mut rng);
        let before = gemv_calls();
        let y = x.matmul(&w).unwrap().to_vec();
        assert_eq!(gemv_calls().0 - before.0, u64::from(wide), "[{m}, {k}] × [{k}, {n}]: one wide product on the wide path, none otherwise");
        for i in 0..m {
            let row = x.narrow(0, i, 1).unwrap();
            let want = reference(&row.to_vec(), &w.to_vec(), k, n, false);
            for (j, (&got, &want)) in y[i * n..(i + 1) * n].iter().zip(&want).enumerate() {
                assert!((f64::from(got) - want).abs() <= 1e-4 * (1.0 + want.abs()), "[{m}, {k}, {n}] y[{i}, {j}] = {got}, want {want}");
            }
            if wide {
                assert_eq!(row.matmul(&w).unwrap().to_vec(), y[i * n..(i + 1) * n].to_vec(), "row {i} of [{m}, {k}, {n}]");
            }
        }
    }
}

/// Elementwise and row kernels (above the parallel threshold) on the current path.
fn elementwise() -> Vec<Vec<f32>> {
    let x = Tensor::randn(&[64, 1024], 0.0, 2.0, &mut Rng::new(3));
    vec![x.gelu().to_vec(), x.exp().to_vec(), x.softmax(-1).unwrap().to_vec(), x.layer_norm(None, None, 1e-5).unwrap().to_vec()]
}

#[test]
fn wide_and_portable_paths_compute_the_same_and_say_which_ran() {
    force_portable(true);
    assert_eq!(kernel_path(), KernelPath::Portable);
    let before = gemv_calls();
    let portable_gemv = gemv_products();
    let after = gemv_calls();
    assert_eq!(after.0, before.0, "a wide gemv kernel ran with the portable path forced");
    assert!(after.1 >= before.1 + 6, "the portable path took {} products, expected 6 or more", after.1 - before.1);
    let portable_elementwise = elementwise();
    few_row_products(false);

    force_portable(false);
    if !wide_available() {
        use std::io::Write;
        let line = "kernel_paths: wide path not tested: this CPU lacks AVX-512 (portable path tested)\n";
        let _ = std::io::stderr().write_all(line.as_bytes());
        assert_eq!(kernel_path(), KernelPath::Portable);
        return;
    }
    assert_eq!(kernel_path(), KernelPath::Wide);
    let before = gemv_calls();
    let wide_gemv = gemv_products();
    let after = gemv_calls();
    assert!(after.0 >= before.0 + 6, "the wide kernels took {} products, expected 6 or more", after.0 - before.0);
    assert_eq!(after.1, before.1, "a product left the wide path on an AVX-512 CPU");
    assert_eq!(portable_gemv.len(), wide_gemv.len());
    few_row_products(true);
    // both elementwise copies are compiled from the same code and give the same bits
    assert!(elementwise() == portable_elementwise, "wide and portable elementwise results differ");
}
