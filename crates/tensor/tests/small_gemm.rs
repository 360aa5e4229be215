//! Small and batched products (attention's heads) against a naive product, with plain and
//! transposed operands, tails in every direction, on the wide path (the register-blocked kernel
//! of `ops/small_gemm.rs`) and the portable one (the gemm crate), from inside and outside
//! rayon's pool. The path switch is process-wide, so this file holds a single test.

mod common;

use loam_tensor::{Rng, Tensor, small_gemm_calls};

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
        let want = common::naive_product(&a.to_vec(), &b.to_vec(), nb, m, k, n);
        for (a_t, b_t) in [(false, false), (false, true), (true, false), (true, true)] {
            // the same values, held transposed and viewed back (strides of a transpose)
            let view = |x: &Tensor, t: bool| {
                if t { x.transpose(1, 2).unwrap().contiguous().transpose(1, 2).unwrap() } else { x.clone() }
            };
            let (lhs, rhs) = (view(&a, a_t), view(&b, b_t));
            let y = if in_pool { pool.install(|| lhs.matmul(&rhs)) } else { lhs.matmul(&rhs) }.unwrap();
            assert_eq!(y.shape(), &[nb, m, n]);
            let y = y.to_vec();
            common::assert_near_naive(&format!("{nb}×[{m}, {k}]×[{k}, {n}], transposed {a_t}/{b_t}"), &y, &want, k);
            outs.push(y);
        }
    }
    outs
}

#[test]
fn small_products_match_a_naive_product_on_both_paths() {
    // every batch element of the shapes not taken by the vector kernel (m = 1) or the skinny
    // one (2 to 48 rows with contiguous left rows)
    common::on_both_paths("small_gemm", small_gemm_calls, |runs| runs >= 48 * 4, products);
}
