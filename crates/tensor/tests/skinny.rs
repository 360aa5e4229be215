//! Skinny products (a few rows times a large matrix: batched decoding, beam search) against a
//! naive product, on odd shapes, both weight layouts, 1, 2 and 3 threads, on the portable path
//! (the general GEMM) and the wide one (the streaming kernels of `ops/skinny.rs`). The path
//! switch is process-wide, so this file holds a single test that walks both paths in turn.

use loam_tensor::{Rng, Tensor, force_portable, gemv_calls, wide_available};

/// `x · w` for `x`: [m, k], `w`: [k, n] (or `[n, k]` read transposed), summed in f64.
fn reference(x: &[f32], w: &[f32], m: usize, k: usize, n: usize, transposed: bool) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k)
                .map(|p| {
                    f64::from(x[i * k + p])
                        * f64::from(if transposed {
                            w[j * k + p]
                        } else {
                            w[p * n + j]
                        })
                })
                .sum();
        }
    }
    out
}

/// Shapes `(m, k, n)`: every row count from 1 to 40 and a few past the skinny range, with `k`
/// and `n` that are not multiples of 16 (tails in both directions), one large enough to be
/// split over threads.
fn shapes() -> Vec<(usize, usize, usize)> {
    let mut s: Vec<_> = (1..=40).map(|m| (m, 37 + m % 5, 53 + 3 * m)).collect();
    s.extend([
        (2, 1, 40),
        (8, 300, 1000),
        (32, 129, 531),
        (47, 70, 33),
        (48, 64, 100),
        (49, 64, 100),
        (64, 33, 17),
    ]);
    s
}

/// Every product of [`shapes`] in both layouts on `threads` threads (in a pool of that many),
/// or, with `None`, called from outside any pool (on two cores: the caller and the helper
/// thread of `fork.rs`), checked against the f64 reference; returns the results in order.
fn products(threads: Option<usize>) -> Vec<Vec<f32>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(1))
        .build()
        .unwrap();
    let mut rng = Rng::new(5);
    let mut outs = Vec::new();
    for (m, k, n) in shapes() {
        let x = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
        for transposed in [false, true] {
            let w = if transposed {
                Tensor::randn(&[n, k], 0.0, 1.0, &mut rng)
            } else {
                Tensor::randn(&[k, n], 0.0, 1.0, &mut rng)
            };
            let rhs = if transposed {
                w.transpose(0, 1).unwrap()
            } else {
                w.clone()
            };
            let y = if threads.is_some() {
                pool.install(|| x.matmul(&rhs))
            } else {
                x.matmul(&rhs)
            }
            .unwrap()
            .to_vec();
            let want = reference(&x.to_vec(), &w.to_vec(), m, k, n, transposed);
            for (e, (&got, &want)) in y.iter().zip(&want).enumerate() {
                let tolerance = 1e-5 * (k as f64).sqrt() * (1.0 + want.abs());
                assert!(
                    (f64::from(got) - want).abs() <= tolerance,
                    "[{m}, {k}] × [{k}, {n}] transposed {transposed}, {threads:?} threads: y[{}, {}] = {got}, want {want}",
                    e / n,
                    e % n
                );
            }
            outs.push(y);
        }
    }
    outs
}

/// On the wide path each row of a skinny product is that row's vector × matrix product, bit
/// for bit, and the product is counted as a wide one.
fn rows_match_vector_products() {
    let mut rng = Rng::new(9);
    for (m, k, n, transposed) in [
        (5, 77, 130, false),
        (13, 40, 49, true),
        (32, 129, 531, false),
        (40, 17, 35, true),
    ] {
        let x = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
        let w = if transposed {
            Tensor::randn(&[n, k], 0.0, 1.0, &mut rng)
                .transpose(0, 1)
                .unwrap()
        } else {
            Tensor::randn(&[k, n], 0.0, 1.0, &mut rng)
        };
        let before = gemv_calls();
        let y = x.matmul(&w).unwrap().to_vec();
        assert_eq!(
            gemv_calls().0 - before.0,
            1,
            "[{m}, {k}] × [{k}, {n}] transposed {transposed}: one wide product"
        );
        for i in 0..m {
            let row = x.narrow(0, i, 1).unwrap().matmul(&w).unwrap().to_vec();
            assert_eq!(
                row,
                y[i * n..(i + 1) * n].to_vec(),
                "row {i} of [{m}, {k}] × [{k}, {n}] transposed {transposed}"
            );
        }
    }
}

#[test]
fn skinny_products_match_a_naive_product_on_both_paths_and_any_thread_count() {
    force_portable(true);
    let portable = products(Some(2));
    force_portable(false);
    if !wide_available() {
        use std::io::Write;
        let _ = std::io::stderr().write_all(
            b"skinny: wide path not tested: this CPU lacks AVX-512 (portable path tested)\n",
        );
        return;
    }
    let before = gemv_calls();
    let wide: Vec<_> = [Some(1), Some(2), Some(3), None]
        .into_iter()
        .map(products)
        .collect();
    let taken = gemv_calls().0 - before.0;
    // each run: the 40 listed row counts and the 5 extras of 48 rows or fewer (one row: the
    // vector × matrix kernels, 2 to 48: the skinny ones), in both layouts
    assert_eq!(taken, 4 * 2 * 45, "products taken by the wide kernels");
    // the same bits on any thread count
    assert!(
        wide.iter().all(|w| *w == wide[0]),
        "skinny products differ across thread counts"
    );
    assert_eq!(portable.len(), wide[0].len());
    rows_match_vector_products();
}
