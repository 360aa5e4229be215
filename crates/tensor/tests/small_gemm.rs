//! Small and batched products (attention's heads) against a naive product, with plain and
//! transposed operands, tails in every direction, on the wide path (the register-blocked kernel
//! of `ops/small_gemm.rs`) and the portable one (the gemm crate), from inside and outside
//! rayon's pool. The path switch is process-wide, so this file holds a single test.

use loam_tensor::{Rng, Tensor, force_portable, small_gemm_calls, wide_available};

/// `a · b` for `a` `[nb, m, k]` and `b` `[nb, k, n]` (row-major values), summed in f64.
fn reference(a: &[f32], b: &[f32], nb: usize, m: usize, k: usize, n: usize) -> Vec<f64> {
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

/// `[nb, m, k] × [nb, k, n]` shapes: the heads of the block bench and GPT-2, row counts around
/// the 6-row tiles, widths around the 16-lane vectors and the 64-column tiles, k of 1.
const SHAPES: [(usize, usize, usize, usize); 12] = [
    (48, 64, 32, 64),
    (48, 64, 64, 32),
    (12, 64, 64, 64),
    (3, 7, 5, 9),
    (2, 13, 33, 100),
    (4, 6, 16, 16),
    (5, 11, 1, 17),
    (2, 1, 40, 65),
    (3, 19, 64, 130),
    (1, 50, 20, 15),
    (2, 12, 128, 128),
    (6, 64, 32, 64),
];

/// Every shape with each operand plain or a transposed view, checked against the reference;
/// returns the outputs in order.
fn products(in_pool: bool) -> Vec<Vec<f32>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let mut rng = Rng::new(21);
    let mut outs = Vec::new();
    for (nb, m, k, n) in SHAPES {
        let a = Tensor::randn(&[nb, m, k], 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[nb, k, n], 0.0, 1.0, &mut rng);
        let want = reference(&a.to_vec(), &b.to_vec(), nb, m, k, n);
        for (a_t, b_t) in [(false, false), (false, true), (true, false), (true, true)] {
            // the same values, held transposed and viewed back (strides of a transpose)
            let view = |x: &Tensor, t: bool| {
                if t { x.transpose(1, 2).unwrap().contiguous().transpose(1, 2).unwrap() } else { x.clone() }
            };
            let (lhs, rhs) = (view(&a, a_t), view(&b, b_t));
            let y = if in_pool { pool.install(|| lhs.matmul(&rhs)) } else { lhs.matmul(&rhs) }.unwrap();
            assert_eq!(y.shape(), &[nb, m, n]);
            let y = y.to_vec();
            for (e, (&got, &want)) in y.iter().zip(&want).enumerate() {
                let tolerance = 1e-5 * (k as f64).sqrt() * (1.0 + want.abs());
                assert!(
                    (f64::from(got) - want).abs() <= tolerance,
                    "{nb}×[{m}, {k}]×[{k}, {n}], transposed {a_t}/{b_t}: y[{e}] = {got}, want {want}"
                );
            }
            outs.push(y);
        }
    }
    outs
}

#[test]
fn small_products_match_a_naive_product_on_both_paths() {
    force_portable(true);
    let before = small_gemm_calls();
    let portable = products(false);
    assert_eq!(small_gemm_calls(), before, "the small-product kernel ran with the portable path forced");
    force_portable(false);
    if !wide_available() {
        use std::io::Write;
        let _ = std::io::stderr()
            .write_all(b"small_gemm: wide path not tested: this CPU lacks AVX-512 (portable path tested)\n");
        return;
    }
    for in_pool in [false, true] {
        let before = small_gemm_calls();
        let wide = products(in_pool);
        // every batch element of the shapes not taken by the vector kernel (m = 1) or the
        // skinny one (2 to 48 rows with contiguous left rows)
        assert!(
            small_gemm_calls() - before >= 48 * 4,
            "the small-product kernel ran {} times",
            small_gemm_calls() - before
        );
        for (w, p) in wide.iter().zip(&portable) {
            for (&x, &y) in w.iter().zip(p) {
                assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "wide {x} vs portable {y}");
            }
        }
    }
}
