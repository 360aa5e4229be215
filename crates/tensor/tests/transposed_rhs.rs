//! Products by a transposed right operand whose rows are a multiple of 1 KB apart (`x · Wᵀ` with
//! `W` stored `[out, in]`), which the wide path computes through a block-wise transpose
//! (`ops/transposed_rhs.rs`), against a naive product in f64 and against the portable path
//! (the gemm crate on the strided view): several blocks of k (the second one accumulating),
//! columns and k that are not multiples of the 16 × 16 tiles, a narrowed weight (rows 1024
//! apart, 900 used), a batch, a transposed left operand, inside and outside rayon's pool. The
//! path switch is process-wide, so this file holds a single test.

mod common;

use loam_tensor::{Rng, Tensor, transposed_rhs_calls};

/// One case: `nb` products `[m, k] × [k, n]`, the right operand `Wᵀ` for `W` `[n, stride]`
/// narrowed to its first `k` columns, the left operand held transposed when `a_t`.
struct Case {
    nb: usize,
    m: usize,
    k: usize,
    n: usize,
    stride: usize,
    a_t: bool,
}

const CASES: [Case; 5] = [
    // two column blocks (256 + 94), k in two blocks (512 + 256)
    Case { nb: 1, m: 70, k: 768, n: 350, stride: 768, a_t: false },
    // rows 1024 apart, 900 of them used: k blocks of 512 + 388 (tiles with an edge of 4)
    Case { nb: 1, m: 50, k: 900, n: 300, stride: 1024, a_t: false },
    // SmolLM2's down_proj at a short prompt
    Case { nb: 1, m: 64, k: 2560, n: 960, stride: 2560, a_t: false },
    // a batch of two, 520 columns (an edge of 8)
    Case { nb: 2, m: 64, k: 512, n: 520, stride: 512, a_t: false },
    // the left operand a transposed view
    Case { nb: 1, m: 60, k: 512, n: 600, stride: 512, a_t: true },
];

/// Every case's product, checked against the reference; the outputs in order.
fn products(in_pool: bool) -> Vec<Vec<f32>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let mut rng = Rng::new(7);
    let mut outs = Vec::new();
    for &Case { nb, m, k, n, stride, a_t } in &CASES {
        let a = Tensor::randn(&[nb, m, k], 0.0, 1.0, &mut rng);
        let w = Tensor::randn(&[nb, n, stride], 0.0, 1.0, &mut rng);
        let lhs = if a_t { a.transpose(1, 2).unwrap().contiguous().transpose(1, 2).unwrap() } else { a.clone() };
        let rhs = w.narrow(2, 0, k).unwrap().transpose(1, 2).unwrap();
        let y = if in_pool { pool.install(|| lhs.matmul(&rhs)) } else { lhs.matmul(&rhs) }.unwrap();
        assert_eq!(y.shape(), &[nb, m, n]);
        let y = y.to_vec();
        let want = common::naive_product(&a.to_vec(), &rhs.contiguous().to_vec(), nb, m, k, n);
        let what = format!("{nb}×[{m}, {k}]×[{k}, {n}], rows {stride} apart, a transposed {a_t}");
        common::assert_near_naive(&what, &y, &want, k);
        outs.push(y);
    }
    outs
}

#[test]
fn transposed_weights_match_a_naive_product_on_both_paths() {
    // one call per product: the batch of two counts twice
    common::on_both_paths("transposed_rhs", transposed_rhs_calls, |runs| runs == 6, products);
}
