//! Products of many rows by a right operand that fits in L2 (`ops/row_blocks.rs`) against a
//! naive product and the portable path (the gemm crate), with tails in every direction, from
//! inside and outside rayon's pool, and the same bits on one thread as on two. The path switch
//! is process-wide, so this file holds a single test.

mod common;

use loam_tensor::{Rng, Tensor, row_block_calls};

/// `[m, k] × [k, n]` shapes: the built-in GPT's attention input over a training batch, row
/// counts around the 6-row tiles and the 48-row blocks, widths around the 16-lane vectors and
/// the 64-column panels, k not a multiple of the unrolling (4), the largest right operand taken
/// (k·n = 2¹⁷) and the longest k (256).
const SHAPES: [(usize, usize, usize); 7] =
    [(768, 128, 384), (97, 5, 1000), (100, 255, 70), (203, 129, 129), (96, 256, 512), (130, 64, 33), (1000, 7, 64)];

/// How many of the products [`products`] makes are the kernel's: each shape with both operands
/// plain (a transposed operand goes to the gemm crate).
const TAKEN: u64 = SHAPES.len() as u64;

/// Every shape with each operand plain or a transposed view, checked against the reference;
/// returns the outputs in order.
fn products(in_pool: bool) -> Vec<Vec<f32>> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let mut rng = Rng::new(8);
    let mut outs = Vec::new();
    for (m, k, n) in SHAPES {
        let a = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[k, n], 0.0, 1.0, &mut rng);
        let want = common::naive_product(&a.to_vec(), &b.to_vec(), 1, m, k, n);
        for (a_t, b_t) in [(false, false), (false, true), (true, false)] {
            // the same values, held transposed and viewed back (strides of a transpose)
            let view = |x: &Tensor, t: bool| {
                if t { x.transpose(0, 1).unwrap().contiguous().transpose(0, 1).unwrap() } else { x.clone() }
            };
            let (lhs, rhs) = (view(&a, a_t), view(&b, b_t));
            let y = if in_pool { pool.install(|| lhs.matmul(&rhs)) } else { lhs.matmul(&rhs) }.unwrap();
            assert_eq!(y.shape(), &[m, n]);
            let y = y.to_vec();
            common::assert_near_naive(&format!("[{m}, {k}]×[{k}, {n}], transposed {a_t}/{b_t}"), &y, &want, k);
            outs.push(y);
        }
    }
    outs
}

#[test]
fn row_block_products_match_a_naive_product_on_both_paths_and_any_thread_count() {
    common::on_both_paths("row_blocks", row_block_calls, |runs| runs == TAKEN, products);
    // each output's sum runs in the same order however the blocks fall to the threads
    let mut rng = Rng::new(9);
    for (m, k, n) in SHAPES {
        let a = Tensor::randn(&[m, k], 0.0, 1.0, &mut rng);
        let b = Tensor::randn(&[k, n], 0.0, 1.0, &mut rng);
        let on = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| a.matmul(&b)).unwrap().to_vec()
        };
        // 24 threads: more blocks than the 17 tiles of 100 rows
        let one = on(1);
        for threads in [2, 3, 24] {
            assert!(on(threads) == one, "[{m}, {k}]×[{k}, {n}]: the bits differ on {threads} threads");
        }
    }
}
