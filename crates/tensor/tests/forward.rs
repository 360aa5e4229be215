//! Forward values against known results.

use loam_tensor::gradcheck::randn;
use loam_tensor::{Mask, Rng, Tensor, no_grad};

fn close(a: f32, b: f32, tol: f32) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn softmax_rows_sum_to_one() {
    let y = randn(&[7, 13], 1).mul_scalar(5.0).softmax(-1).unwrap();
    for row in y.to_vec().chunks(13) {
        assert!(close(row.iter().sum(), 1.0, 1e-6), "{row:?}");
        assert!(row.iter().all(|&p| p > 0.0));
    }
    // over axis 0 too
    let y0 = randn(&[7, 13], 2).softmax(0).unwrap().sum(&[0], false).unwrap();
    assert!(y0.to_vec().iter().all(|&s| close(s, 1.0, 1e-6)));
}

#[test]
fn log_softmax_is_finite_for_huge_logits() {
    let x = Tensor::from_vec(vec![1e4, -1e4, 0.0, 1e4], &[1, 4]).unwrap();
    let y = x.log_softmax(-1).unwrap().to_vec();
    assert!(y.iter().all(|v| v.is_finite()), "{y:?}");
    assert!(close(y[0], -(2f32).ln(), 1e-5));
    assert!(close(y[1], -2e4 - (2f32).ln(), 1.0));
    let s = x.softmax(-1).unwrap().to_vec();
    assert_eq!(s, vec![0.5, 0.0, 0.0, 0.5]);
}

#[test]
fn layer_norm_gives_mean_zero_variance_one() {
    let x = randn(&[5, 64], 3).mul_scalar(4.0).add_scalar(10.0);
    let y = x.layer_norm(None, None, 1e-5).unwrap();
    for row in y.to_vec().chunks(64) {
        let mean = row.iter().sum::<f32>() / 64.0;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / 64.0;
        assert!(close(mean, 0.0, 1e-5), "mean {mean}");
        assert!(close(var, 1.0, 1e-3), "var {var}");
    }
    let w = Tensor::full(&[64], 2.0);
    let b = Tensor::full(&[64], -1.0);
    let z = x.layer_norm(Some(&w), Some(&b), 1e-5).unwrap().to_vec();
    for (z, y) in z.iter().zip(y.to_vec()) {
        assert!(close(*z, 2.0 * y - 1.0, 1e-5));
    }
}

#[test]
fn cross_entropy_is_minus_log_softmax_at_target_and_skips_ignored() {
    let x = randn(&[4, 6], 4);
    let logp = x.log_softmax(-1).unwrap().to_vec();
    let targets = [2i64, -100, 5, 0];
    let loss = x.cross_entropy(&targets, Some(-100)).unwrap().to_scalar().unwrap();
    let expected = -(logp[2] + logp[2 * 6 + 5] + logp[3 * 6]) / 3.0;
    assert!(close(loss, expected, 1e-6), "{loss} vs {expected}");
    // the ignored row gets no gradient
    let v = x.to_var();
    let g = v.cross_entropy(&targets, Some(-100)).unwrap().backward().unwrap();
    let g = g.get(&v).unwrap().to_vec();
    assert!(g[6..12].iter().all(|&d| d == 0.0));
    // every target ignored: the loss is 0, not NaN
    let none = x.cross_entropy(&[-100; 4], Some(-100)).unwrap().to_scalar().unwrap();
    assert_eq!(none, 0.0);
}

#[test]
fn gradients_of_a_diamond_graph_add() {
    // y = a·b + a·c with a used twice: dy/da = b + c
    let a = Tensor::from_vec(vec![1.0, 2.0], &[2]).unwrap().to_var();
    let b = Tensor::from_vec(vec![3.0, 4.0], &[2]).unwrap();
    let c = Tensor::from_vec(vec![5.0, 7.0], &[2]).unwrap();
    let left = a.mul(&b).unwrap();
    let right = a.mul(&c).unwrap();
    let y = left.add(&right).unwrap().sum_all();
    let g = y.backward().unwrap();
    assert_eq!(g.get(&a).unwrap().to_vec(), vec![8.0, 11.0]);
}

#[test]
fn matmul_matches_naive_product_including_transposed_views() {
    let (m, k, n) = (37, 53, 29);
    let a = randn(&[m, k], 5);
    let bt = randn(&[n, k], 6);
    let b = bt.transpose(0, 1).unwrap();
    assert!(!b.is_contiguous());
    let c = a.matmul(&b).unwrap().to_vec();
    let (av, btv) = (a.to_vec(), bt.to_vec());
    for i in 0..m {
        for j in 0..n {
            let want: f64 = (0..k).map(|p| av[i * k + p] as f64 * btv[j * k + p] as f64).sum();
            assert!((c[i * n + j] as f64 - want).abs() < 1e-4, "({i},{j})");
        }
    }
    // a batch broadcast against a single matrix
    let batch = randn(&[3, m, k], 7);
    let out = batch.matmul(&b).unwrap();
    assert_eq!(out.shape(), &[3, m, n]);
    let first = batch.narrow(0, 1, 1).unwrap().squeeze(0).unwrap().matmul(&b).unwrap();
    assert_eq!(out.narrow(0, 1, 1).unwrap().squeeze(0).unwrap().to_vec(), first.to_vec());
}

#[test]
fn creation_functions() {
    assert_eq!(Tensor::arange(0.0, 5.0, 2.0).unwrap().to_vec(), vec![0.0, 2.0, 4.0]);
    assert_eq!(Tensor::eye(2).to_vec(), vec![1.0, 0.0, 0.0, 1.0]);
    assert_eq!(Tensor::full(&[2], 3.5).to_vec(), vec![3.5, 3.5]);
    let a = Tensor::randn(&[100], 0.0, 1.0, &mut Rng::new(9));
    let b = Tensor::randn(&[100], 0.0, 1.0, &mut Rng::new(9));
    assert_eq!(a.to_vec(), b.to_vec(), "same seed, same values");
    let u = Tensor::uniform(&[1000], -2.0, 3.0, &mut Rng::new(1)).to_vec();
    assert!(u.iter().all(|&v| (-2.0..3.0).contains(&v)));
}

#[test]
fn masks_select_and_combine() {
    let causal = Mask::causal(3);
    assert_eq!(causal.to_vec(), vec![false, true, true, false, false, true, false, false, false]);
    let pad = Mask::padding(&[3, 1], 3).reshape(&[2, 1, 3]).unwrap();
    let both = causal.or(&pad).unwrap();
    assert_eq!(both.shape(), &[2, 3, 3]);
    // sequence 1 has one real token: every query sees key 0 only
    let scores = Tensor::zeros(&[2, 3, 3]).masked_fill(&both, f32::NEG_INFINITY).unwrap();
    let p = scores.softmax(-1).unwrap().to_vec();
    assert_eq!(&p[9..], &[1., 0., 0., 1., 0., 0., 1., 0., 0.]);
    assert_eq!(&p[3..6], &[0.5, 0.5, 0.0]);
    let picked = Tensor::where_cond(&causal, &Tensor::ones(&[3, 3]), &Tensor::zeros(&[1])).unwrap();
    assert_eq!(picked.sum_all().to_scalar().unwrap(), 3.0);
    // a broadcast padding mask, the same mask materialized, and a non-contiguous input (the
    // general broadcast walk rather than row slices) select the same
    let x = randn(&[2, 3, 3], 41);
    let full_pad = pad.or(&Mask::from_vec(vec![false; 9], &[3, 3]).unwrap()).unwrap();
    assert_eq!(full_pad.shape(), &[2, 3, 3]);
    let general = x.masked_fill(&pad, -7.0).unwrap().to_vec();
    assert_eq!(x.masked_fill(&full_pad, -7.0).unwrap().to_vec(), general);
    let xt = x.transpose(1, 2).unwrap().contiguous().transpose(1, 2).unwrap();
    assert!(!xt.is_contiguous());
    assert_eq!(xt.masked_fill(&full_pad, -7.0).unwrap().to_vec(), general);
}

#[test]
fn gather_and_index_select_pick_elements() {
    let x = Tensor::from_vec((0..6).map(|v| v as f32).collect(), &[2, 3]).unwrap();
    assert_eq!(x.index_select(0, &[1, 0, 1]).unwrap().to_vec(), vec![3., 4., 5., 0., 1., 2., 3., 4., 5.]);
    assert_eq!(x.gather(1, &[2, 0, 1, 1], &[2, 2]).unwrap().to_vec(), vec![2., 0., 4., 4.]);
    // repeated ids accumulate their gradients (scatter-add)
    let v = x.to_var();
    let g = v.index_select(0, &[1, 1, 0]).unwrap().sum_all().backward().unwrap();
    assert_eq!(g.get(&v).unwrap().to_vec(), vec![1., 1., 1., 2., 2., 2.]);
}

#[test]
fn dropout_keeps_expectation_and_is_seeded() {
    let x = Tensor::ones(&[100_000]);
    let y = x.dropout(0.25, &mut Rng::new(3)).unwrap().to_vec();
    let zeros = y.iter().filter(|&&v| v == 0.0).count() as f64 / y.len() as f64;
    assert!((zeros - 0.25).abs() < 0.01, "dropped fraction {zeros}");
    assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
    let mean = y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64;
    assert!((mean - 1.0).abs() < 0.01);
    assert_eq!(y, x.dropout(0.25, &mut Rng::new(3)).unwrap().to_vec());
}

#[test]
fn no_grad_scope_and_detach_record_nothing() {
    let w = randn(&[3], 1).to_var();
    {
        let _g = no_grad();
        assert!(!w.mul_scalar(2.0).tracks_grad());
    }
    assert!(w.mul_scalar(2.0).tracks_grad());
    assert!(!w.detach().mul_scalar(2.0).tracks_grad());
}

#[test]
fn variables_update_in_place() {
    let w = Tensor::zeros(&[2]).to_var();
    let alias = w.clone();
    w.update(|mut v| v += 1.5).unwrap();
    assert_eq!(alias.to_vec(), vec![1.5, 1.5]);
    w.assign(&Tensor::from_vec(vec![4.0, 5.0], &[2]).unwrap()).unwrap();
    assert_eq!(alias.to_vec(), vec![4.0, 5.0]);
    assert!(Tensor::zeros(&[2]).update(|_| ()).is_err(), "constants are not updatable");
}

/// Small products (attention heads on short sequences) against a naive f64 product, for each
/// operand layout: row-major, a transposed right operand (q·kᵀ), and a transposed left
/// operand too.
#[test]
fn small_products_match_naive_product_for_every_layout() {
    for (m, k, n) in [(1, 1, 1), (3, 5, 2), (12, 32, 12), (12, 12, 32), (17, 9, 33)] {
        let a = randn(&[m, k], 31);
        let at = randn(&[k, m], 32);
        let b = randn(&[k, n], 33);
        let bt = randn(&[n, k], 34);
        let (av, atv, bv, btv) = (a.to_vec(), at.to_vec(), b.to_vec(), bt.to_vec());
        let cases = [
            (a.clone(), b.clone(), "a·b"),
            (a.clone(), bt.transpose(0, 1).unwrap(), "a·btᵀ"),
            (at.transpose(0, 1).unwrap(), bt.transpose(0, 1).unwrap(), "atᵀ·btᵀ"),
        ];
        for (x, y, name) in cases {
            let c = x.matmul(&y).unwrap();
            assert_eq!(c.shape(), &[m, n]);
            let c = c.to_vec();
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|p| {
                            let l = if name == "atᵀ·btᵀ" { atv[p * m + i] } else { av[i * k + p] };
                            let r = if name == "a·b" { bv[p * n + j] } else { btv[j * k + p] };
                            l as f64 * r as f64
                        })
                        .sum();
                    assert!((c[i * n + j] as f64 - want).abs() < 1e-4, "{name} {m}x{k}x{n} ({i},{j})");
                }
            }
        }
    }
}

/// Products computed in blocks of output columns (a right operand of 1 MiB or more) against a
/// naive f64 product, on one, two and three threads, for transposed operands and for widths
/// that do not divide into the blocks; the same values on one thread as on two and three,
/// within float rounding.
#[test]
fn column_blocked_products_match_naive_product() {
    for (m, k, n) in [(9, 512, 1024), (5, 300, 1000), (3, 260, 2111)] {
        let a = randn(&[m, k], 41);
        let b = randn(&[k, n], 42);
        let bt = randn(&[n, k], 43);
        let (av, bv, btv) = (a.to_vec(), b.to_vec(), bt.to_vec());
        let tol = 1e-5 * k as f64;
        for (y, transposed) in [(b.clone(), false), (bt.transpose(0, 1).unwrap(), true)] {
            let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
            let reference = one.install(|| a.matmul(&y).unwrap().to_vec());
            for threads in [2, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let c = pool.install(|| a.matmul(&y).unwrap());
                assert_eq!(c.shape(), &[m, n]);
                let c = c.to_vec();
                for i in 0..m {
                    for j in 0..n {
                        let want: f64 = (0..k)
                            .map(|p| av[i * k + p] as f64 * if transposed { btv[j * k + p] } else { bv[p * n + j] } as f64)
                            .sum();
                        let at = i * n + j;
                        assert!((c[at] as f64 - want).abs() < tol, "{m}x{k}x{n} transposed={transposed} threads={threads} ({i},{j})");
                        assert!((c[at] - reference[at]).abs() < 1e-3, "{m}x{k}x{n}: {threads} threads against one");
                    }
                }
            }
        }
    }
}

/// Vector × matrix (the decoding shape, served by the streaming kernels) against a naive f64
/// product, for a row-major matrix and a transposed view, with tails of every width; and the
/// same bits on one thread as on several.
#[test]
fn vector_matrix_products_match_naive_product_for_both_layouts() {
    for (k, n) in [(1, 5), (37, 29), (300, 1001), (17, 4099), (768, 131)] {
        let x = randn(&[1, k], 21);
        let rowmajor = randn(&[k, n], 22);
        let colmajor = randn(&[n, k], 23);
        let xv = x.to_vec();
        for (b, at) in [(rowmajor.clone(), 0), (colmajor.transpose(0, 1).unwrap(), 1)] {
            let bv = if at == 0 { rowmajor.to_vec() } else { colmajor.to_vec() };
            let y = x.matmul(&b).unwrap();
            assert_eq!(y.shape(), &[1, n]);
            let y = y.to_vec();
            // f32 sums of k products of N(0,1) values: error well under 1e-5·k
            let tol = 1e-5 * k as f64 + 1e-6;
            for j in 0..n {
                let want: f64 = (0..k)
                    .map(|p| xv[p] as f64 * if at == 0 { bv[p * n + j] } else { bv[j * k + p] } as f64)
                    .sum();
                assert!((y[j] as f64 - want).abs() < tol, "k={k} n={n} layout {at} column {j}: {} vs {want}", y[j]);
            }
            let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
            assert!(one.install(|| x.matmul(&b).unwrap().to_vec()) == y, "k={k} n={n}: thread count changed bits");
        }
    }
}

#[test]
fn results_are_bit_identical_across_runs() {
    let a = randn(&[300, 200], 11);
    let b = randn(&[200, 250], 12);
    let run = || {
        let c = a.matmul(&b).unwrap();
        let s = c.softmax(-1).unwrap();
        let l = c.layer_norm(None, None, 1e-5).unwrap();
        (c.to_vec(), s.to_vec(), l.sum_all().to_scalar().unwrap())
    };
    let first = run();
    for _ in 0..3 {
        assert!(run() == first);
    }
}

#[test]
fn backward_frees_the_graph_it_walked() {
    let w = randn(&[3, 3], 2).to_var();
    let loss = w.matmul(&w).unwrap().sum_all();
    assert_eq!(loss.backward().unwrap().len(), 1);
    // the nodes and their saved buffers were released by the first walk, even though `loss`
    // is still alive: a second walk finds no path to the variable
    assert!(loss.backward().unwrap().is_empty());
}
