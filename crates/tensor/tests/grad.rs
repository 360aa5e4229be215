//! Every differentiable op against central finite differences, on shapes and values drawn by
//! proptest (fixed seed, so CI is reproducible). Tolerances: `loam_tensor::gradcheck::{ATOL, RTOL}`.

use loam_tensor::gradcheck::{away_from_zero, check, distinct, randn, uniform};
use loam_tensor::{Mask, Rng, Tensor};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config() -> Config {
    Config { cases: 32, rng_seed: RngSeed::Fixed(0x10a4), failure_persistence: None, ..Config::default() }
}

/// A shape of rank 1..=3 with dims 1..=4.
fn shape() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=4, 1..=3)
}

/// A shape of rank 2..=3 with dims 1..=4.
fn shape2() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=4, 2..=3)
}

/// A shape and a second shape that broadcasts against it (some dims set to 1, some leading
/// dims dropped).
fn broadcast_pair() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape().prop_flat_map(|s| {
        let n = s.len();
        (Just(s), prop::collection::vec(any::<bool>(), n), 0..n).prop_map(|(s, ones, drop)| {
            let b: Vec<usize> = s.iter().zip(&ones).map(|(&d, &o)| if o { 1 } else { d }).skip(drop).collect();
            (s, b)
        })
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn binary_ops_broadcast((sa, sb) in broadcast_pair(), seed in any::<u64>(), swap in any::<bool>()) {
        let (sa, sb) = if swap { (sb, sa) } else { (sa, sb) };
        let a = randn(&sa, seed);
        let b = randn(&sb, seed ^ 1);
        let pos = uniform(&sb, 0.5, 2.0, seed ^ 2);
        check("add", &[a.clone(), b.clone()], |x| x[0].add(&x[1]));
        check("sub", &[a.clone(), b.clone()], |x| x[0].sub(&x[1]));
        check("mul", &[a.clone(), b.clone()], |x| x[0].mul(&x[1]));
        check("div", &[a.clone(), pos], |x| x[0].div(&x[1]));
        check("same input twice", &[a.clone()], |x| x[0].mul(&x[0]));
        // the backward hands g's own buffer to one input of an add or sub: both inputs the same
        // tensor, and an add after another add of the same tensor
        check("add of one input twice", &[a.clone()], |x| x[0].add(&x[0]));
        check("sub of one input twice", &[a.clone()], |x| x[0].sub(&x[0])?.add(&x[0].mul_scalar(0.5)));
        check("add chain", &[a], |x| x[0].add(&x[0])?.add_scalar(1.0).add(&x[0]));
    }

    #[test]
    fn unary_ops(s in shape(), seed in any::<u64>()) {
        let x = randn(&s, seed);
        let pos = uniform(&s, 0.5, 3.0, seed);
        let kinked = away_from_zero(&x, 0.05);
        check("neg", &[x.clone()], |x| Ok(x[0].neg()));
        check("add_scalar", &[x.clone()], |x| Ok(x[0].add_scalar(0.7)));
        check("sub_scalar", &[x.clone()], |x| Ok(x[0].sub_scalar(0.7)));
        check("mul_scalar", &[x.clone()], |x| Ok(x[0].mul_scalar(-1.3)));
        check("div_scalar", &[x.clone()], |x| Ok(x[0].div_scalar(2.5)));
        check("powf", &[pos.clone()], |x| Ok(x[0].powf(1.7)));
        check("sqrt", &[pos.clone()], |x| Ok(x[0].sqrt()));
        check("log", &[pos], |x| Ok(x[0].log()));
        check("exp", &[x.clone()], |x| Ok(x[0].exp()));
        check("tanh", &[x.clone()], |x| Ok(x[0].tanh()));
        check("relu", &[kinked], |x| Ok(x[0].relu()));
        check("gelu", &[x.clone()], |x| Ok(x[0].gelu()));
        check("gelu_tanh", &[x.clone()], |x| Ok(x[0].gelu_tanh()));
        check("silu", &[x.clone()], |x| Ok(x[0].silu()));
        check("sigmoid", &[x], |x| Ok(x[0].sigmoid()));
    }

    #[test]
    fn reductions(s in shape(), seed in any::<u64>(), keep in any::<bool>(), pick in any::<u8>()) {
        let x = randn(&s, seed);
        let rank = s.len() as isize;
        let axis = pick as isize % rank - rank;
        let axes: Vec<isize> = (0..rank).filter(|a| (pick >> a) & 1 == 1 || *a == axis + rank).collect();
        check("sum", &[x.clone()], |x| x[0].sum(&axes, keep));
        check("mean", &[x.clone()], |x| x[0].mean(&[axis], keep));
        check("mean over several axes", &[x.clone()], |x| x[0].mean(&axes, keep));
        if rank >= 2 {
            check("mean over the first and last axes", &[x.clone()], |x| x[0].mean(&[0, -1], keep));
        }
        check("sum_all", &[x.clone()], |x| Ok(x[0].sum_all()));
        check("mean_all", &[x], |x| Ok(x[0].mean_all()));
        let d = distinct(&s, seed);
        check("max", &[d.clone()], |x| x[0].max(&axes, keep));
        check("max_all", &[d], |x| Ok(x[0].max_all()));
    }

    #[test]
    fn matmul_batched_and_broadcast(m in 1usize..5, k in 1usize..5, n in 1usize..5, batch in prop::collection::vec(1usize..4, 0..3), bcast in any::<bool>(), seed in any::<u64>()) {
        let mut sa = batch.clone();
        sa.extend([m, k]);
        // rhs either shares the batch or has fewer leading axes / ones (broadcast)
        let mut sb: Vec<usize> = if bcast { batch.iter().skip(1).map(|_| 1).collect() } else { batch.clone() };
        sb.extend([k, n]);
        check("matmul", &[randn(&sa, seed), randn(&sb, seed ^ 5)], |x| x[0].matmul(&x[1]));
    }

    #[test]
    fn matmul_bias_as_a_linear_layer(m in 1usize..6, k in 1usize..6, n in 1usize..6, transposed in any::<bool>(), seed in any::<u64>()) {
        // the weight either row-major (k, n) or a transposed (n, k), as nn.Linear stores it
        let w = if transposed { randn(&[n, k], seed ^ 7) } else { randn(&[k, n], seed ^ 7) };
        check("matmul_bias", &[randn(&[m, k], seed), w, randn(&[n], seed ^ 9)], |x| {
            let w = if transposed { x[1].transpose(0, 1)? } else { x[1].clone() };
            x[0].matmul_bias(&w, &x[2])
        });
    }

    #[test]
    fn non_contiguous_inputs(s in shape2(), seed in any::<u64>()) {
        // through a transposed view
        let x = randn(&s, seed);
        let w = randn(&[s[0], 3], seed ^ 3);
        check("transpose→matmul", &[x.clone(), w], |x| x[0].transpose(0, -1)?.matmul(&x[1]));
        check("transpose→softmax", &[x.clone()], |x| x[0].transpose(0, 1)?.softmax(-1));
        check("transpose→gelu", &[x.clone()], |x| Ok(x[0].transpose(0, -1)?.gelu()));
        check("transpose→layer_norm", &[x.mul_scalar(3.0)], |x| x[0].transpose(0, -1)?.layer_norm(None, None, 1e-5));
        check("transpose→reshape", &[x.clone()], |x| x[0].transpose(0, 1)?.reshape(&[x[0].elem_count()]));
        check("transpose→contiguous", &[x.clone()], |x| Ok(x[0].transpose(0, 1)?.contiguous()));
        // through a narrowed view
        let len = s[0].div_ceil(2);
        check("narrow→mul", &[x.clone(), x.clone()], |x| x[0].narrow(0, s[0] - len, len)?.mul(&x[1].narrow(0, 0, len)?));
        check("narrow→sum", &[x], |x| x[0].narrow(-1, 0, 1)?.sum(&[0], false));
    }

    #[test]
    fn layout_ops(s in shape2(), seed in any::<u64>()) {
        let x = randn(&s, seed);
        let r = s.len();
        let perm: Vec<usize> = (0..r).rev().collect();
        check("permute", &[x.clone()], |x| x[0].permute(&perm));
        // the backward of reshape and permute hands on the gradient's buffer: one reshaped or
        // permuted tensor that two ops read, and a permuted gradient that a reshape takes
        check("reshaped twice-read", &[x.clone()], |x| {
            let flat = x[0].reshape(&[x[0].elem_count()])?;
            flat.mul(&flat)?.add(&flat)
        });
        check("permuted then reshaped", &[x.clone()], |x| {
            let p = x[0].permute(&perm)?;
            p.contiguous().reshape(&[p.elem_count()])?.mul_scalar(3.0).add(&p.reshape(&[p.elem_count()])?)
        });
        check("unsqueeze/squeeze", &[x.clone()], |x| x[0].unsqueeze(1)?.mul_scalar(2.0).squeeze(1));
        check("broadcast_as", &[randn(&s[1..], seed)], |x| x[0].broadcast_as(&s));
        let other = randn(&s, seed ^ 9);
        check("cat", &[x.clone(), other.clone()], |x| Tensor::cat(&[x[0].clone(), x[1].clone()], -1));
        check("stack", &[x, other], |x| Tensor::stack(&[x[0].clone(), x[1].clone()], 1));
    }

    #[test]
    fn indexing(v in 1usize..6, c in 1usize..4, n in 1usize..8, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let table = randn(&[v, c], seed);
        let ids: Vec<usize> = (0..n).map(|_| rng.below(v as u64) as usize).collect();
        check("index_select (embedding)", &[table.clone()], |x| x[0].index_select(0, &ids));
        let cols: Vec<usize> = (0..v * n).map(|_| rng.below(c as u64) as usize).collect();
        check("gather", &[table], |x| x[0].gather(1, &cols[..v * n.min(3)], &[v, n.min(3)]));
    }

    #[test]
    fn masks(s in shape2(), seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let mshape = &s[s.len() - 2..];
        let bits: Vec<bool> = (0..mshape.iter().product()).map(|_| rng.uniform() < 0.5).collect();
        let mask = Mask::from_vec(bits, mshape).unwrap();
        let (a, b) = (randn(&s, seed), randn(&s[1..], seed ^ 4));
        check("masked_fill", &[a.clone()], |x| x[0].masked_fill(&mask, -3.0));
        check("where_cond", &[a, b], |x| Tensor::where_cond(&mask, &x[0], &x[1]));
    }

    #[test]
    fn softmax_family(s in shape(), seed in any::<u64>(), pick in any::<u8>()) {
        let x = randn(&s, seed).mul_scalar(2.0);
        let axis = (pick as usize % s.len()) as isize;
        check("softmax", &[x.clone()], |x| x[0].softmax(axis));
        check("log_softmax", &[x], |x| x[0].log_softmax(axis));
    }

    #[test]
    fn causal_softmax(b in 1usize..3, g in 1usize..3, t in 1usize..5, past in 0usize..3, seed in any::<u64>()) {
        // [B, G·t, past + t]: G query heads of t new queries after `past` cached keys
        let x = randn(&[b, g * t, past + t], seed).mul_scalar(2.0);
        check("causal_softmax", &[x], |x| x[0].causal_softmax(0.7, t, past));
    }

    #[test]
    fn layer_norm(s in shape(), seed in any::<u64>()) {
        // C ≥ 3 and spread-out values: with C = 2 the output is ±1 and the finite difference
        // measures curvature, not the gradient
        let mut s = s;
        *s.last_mut().unwrap() += 2;
        let c = *s.last().unwrap();
        let x = randn(&s, seed).mul_scalar(3.0);
        let (w, b) = (randn(&[c], seed ^ 1), randn(&[c], seed ^ 2));
        check("layer_norm affine", &[x.clone(), w.clone(), b], |x| x[0].layer_norm(Some(&x[1]), Some(&x[2]), 1e-5));
        check("layer_norm weight only", &[x.clone(), w], |x| x[0].layer_norm(Some(&x[1]), None, 1e-5));
        check("layer_norm plain", &[x], |x| x[0].layer_norm(None, None, 1e-5));
    }

    #[test]
    fn cross_entropy(rows in 1usize..6, v in 2usize..7, seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let x = randn(&[rows, v], seed).mul_scalar(2.0);
        let targets: Vec<i64> = (0..rows).map(|i| if i % 3 == 2 { -100 } else { rng.below(v as u64) as i64 }).collect();
        check("cross_entropy", &[x], |x| x[0].cross_entropy(&targets, Some(-100)));
    }

    #[test]
    fn dropout(s in shape(), seed in any::<u64>()) {
        // the same seed gives the same mask on every call, so the function is deterministic
        check("dropout", &[randn(&s, seed)], |x| x[0].dropout(0.3, &mut Rng::new(seed)));
    }
}

/// A product whose right operand has k·n ≥ 2^18 elements is computed in column blocks
/// (`ops/matmul.rs`, `column_blocks`), and one with a smaller right operand and enough rows in
/// row parts, one per thread; the proptest shapes above reach neither. One deterministic case,
/// in a two-thread pool so that those paths are taken whatever the machine's thread count: the
/// forward `[64, 512] × [512, 512]` and the backward's `g · bᵀ` (same shape) run in column
/// blocks, `aᵀ · g` (`[512, 64] × [64, 512]`) in row parts. (64 rows: fewer go to the skinny
/// kernels on an AVX-512 CPU.)
#[test]
fn matmul_in_column_blocks_and_row_parts() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let (a, b) = (randn(&[64, 512], 11), randn(&[512, 512], 12).mul_scalar(0.1));
    pool.install(|| check("matmul (column blocks, row parts)", &[a, b], |x| x[0].matmul(&x[1])));
}
