//! Attention over the growing host cache (`KvBuffer`): against a naive f64 reference with left
//! padding and causality (also with grouped-query heads), prompts in blocks of queries, the
//! same bits for a sequence alone and inside a batch, both kernel paths, both precisions (the
//! reference reads an f16 cache's keys and values rounded to nearest even), and bad shapes
//! and values beyond f16's range refused.

use std::sync::Mutex;

use loam_tensor::{KvBuffer, KvPrecision, Rng, Tensor, force_portable, small_gemm_calls, wide_available};

/// Held by the tests that compare bits or switch the kernel path (a process-wide switch), so
/// that no comparison straddles a switch: the two paths round differently.
static PATH: Mutex<()> = Mutex::new(());

/// One head's output for query `i` of sequence `r`: softmax over keys `pad..=last` in f64.
fn naive(q: &[f32], k: &[f32], v: &[f32], d: usize, pad: usize, last: usize) -> Vec<f64> {
    let scores: Vec<f64> = (pad..=last)
        .map(|j| (0..d).map(|c| q[c] as f64 * k[j * d + c] as f64).sum::<f64>() / (d as f64).sqrt())
        .collect();
    let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let z: f64 = scores.iter().map(|s| (s - m).exp()).sum();
    let mut out = vec![0.0; d];
    for (n, s) in scores.iter().enumerate() {
        for c in 0..d {
            out[c] += (s - m).exp() / z * v[(pad + n) * d + c] as f64;
        }
    }
    out
}

/// The values a cache in `precision` keeps of `x`: f16 rounds to nearest even.
fn stored(x: &[f32], precision: KvPrecision) -> Vec<f32> {
    x.iter().map(|&v| if precision == KvPrecision::F16 { half::f16::from_f32(v).to_f32() } else { v }).collect()
}

/// `[B, H, T, D]` values from `rng`.
fn randn(shape: &[usize], rng: &mut Rng) -> Tensor {
    Tensor::randn(shape, 0.0, 1.0, rng)
}

/// A left-padded batch: a prompt of 6 positions appended at once (causal), then 3 single
/// steps; every query's output against [`naive`], on the current kernel path, with `g` query
/// heads to a key/value head (grouped-query attention when above 1) of width `d`, the cache
/// in `precision`. An f16 cache must also be off the unrounded reference (it rounds).
fn padded_batch_matches_naive(g: usize, d: usize, precision: KvPrecision) {
    let (b, kv) = (3, 2);
    let h = g * kv;
    let pad = [0, 2, 5];
    let mut rng = Rng::new(7);
    let mut buf = KvBuffer::new(b, kv, d, precision);
    let mut keys = Vec::new();
    let mut values = Vec::new();
    for t in [6, 1, 1, 1] {
        let (q, k, v) =
            (randn(&[b, h, t, d], &mut rng), randn(&[b, kv, t, d], &mut rng), randn(&[b, kv, t, d], &mut rng));
        buf.append(&k, &v).unwrap();
        keys.push(k);
        values.push(v);
        let y = buf.attend(&q, Some(&pad), true).unwrap();
        assert_eq!(y.shape(), &[b, t, h * d]);
        let (ka, va) = (Tensor::cat(&keys, 2).unwrap().to_vec(), Tensor::cat(&values, 2).unwrap().to_vec());
        let (ks, vs) = (stored(&ka, precision), stored(&va, precision));
        let (len, qs, ys) = (buf.len(), q.to_vec(), y.to_vec());
        let mut off_unrounded = 0.0f64;
        for r in 0..b {
            for head in 0..h {
                // query head `head` reads key/value head head / g
                let blk = (r * kv + head / g) * len * d;
                for i in 0..t {
                    let last = len - t + i;
                    let got = &ys[((r * t + i) * h + head) * d..][..d];
                    let query = &qs[((r * h + head) * t + i) * d..][..d];
                    let want = |ka: &[f32], va: &[f32]| -> Vec<f64> {
                        if pad[r] <= last {
                            naive(query, &ka[blk..blk + len * d], &va[blk..blk + len * d], d, pad[r], last)
                        } else {
                            // a padding query sees no key: all keys weigh the same
                            let mean =
                                |c: usize| (0..len).map(|j| va[blk + j * d + c] as f64).sum::<f64>() / len as f64;
                            (0..d).map(mean).collect()
                        }
                    };
                    for (y, w) in got.iter().zip(&want(&ks, &vs)) {
                        let at = format!("{precision:?} row {r} head {head} query {i}");
                        assert!((*y as f64 - w).abs() < 1e-5, "{at}: {y} vs {w}");
                    }
                    for (y, w) in got.iter().zip(&want(&ka, &va)) {
                        off_unrounded = off_unrounded.max((*y as f64 - w).abs());
                    }
                }
            }
        }
        if precision == KvPrecision::F16 {
            assert!(off_unrounded > 1e-4, "an f16 cache gave the f32 cache's outputs ({off_unrounded:e} off)");
        }
    }
}

#[test]
fn a_padded_batch_matches_the_naive_attention_on_both_paths() {
    let _path = PATH.lock().unwrap_or_else(|e| e.into_inner());
    // widths 64 and 128 have their own AVX-512 kernel
    for (g, d) in [(1, 20), (3, 20), (1, 64), (3, 64), (2, 128)] {
        for precision in [KvPrecision::F32, KvPrecision::F16] {
            padded_batch_matches_naive(g, d, precision);
            force_portable(true);
            padded_batch_matches_naive(g, d, precision);
            force_portable(false);
        }
    }
}

/// A prompt of `t` positions appended after `past` cached ones and attended at once (the
/// blocked path on the wide kernels), every query against [`naive`], the cache in
/// `precision`; true when the small-product kernel ran.
fn prompt_matches_naive(
    g: usize,
    d: usize,
    past: usize,
    t: usize,
    pad: Option<&[usize]>,
    precision: KvPrecision,
) -> bool {
    let (b, kv) = (2, 2);
    let h = g * kv;
    let mut rng = Rng::new(13);
    let mut buf = KvBuffer::new(b, kv, d, precision);
    let (k0, v0) = (randn(&[b, kv, past, d], &mut rng), randn(&[b, kv, past, d], &mut rng));
    if past > 0 {
        buf.append(&k0, &v0).unwrap();
    }
    let (q, k, v) = (randn(&[b, h, t, d], &mut rng), randn(&[b, kv, t, d], &mut rng), randn(&[b, kv, t, d], &mut rng));
    buf.append(&k, &v).unwrap();
    let before = small_gemm_calls();
    let y = buf.attend(&q, pad, true).unwrap();
    let blocked = small_gemm_calls() > before;
    assert_eq!(y.shape(), &[b, t, h * d]);
    let (ka, va) = (Tensor::cat(&[k0, k], 2).unwrap().to_vec(), Tensor::cat(&[v0, v], 2).unwrap().to_vec());
    let (ka, va) = (stored(&ka, precision), stored(&va, precision));
    let (len, qs, ys) = (past + t, q.to_vec(), y.to_vec());
    for r in 0..b {
        for head in 0..h {
            let blk = (r * kv + head / g) * len * d;
            for i in 0..t {
                let got = &ys[((r * t + i) * h + head) * d..][..d];
                let query = &qs[((r * h + head) * t + i) * d..][..d];
                let want = naive(query, &ka[blk..blk + len * d], &va[blk..blk + len * d], d, 0, past + i);
                for (y, w) in got.iter().zip(&want) {
                    let at = format!("{precision:?} g {g} d {d} past {past}: row {r} head {head} query {i}");
                    assert!((*y as f64 - w).abs() < 1e-5, "{at}: {y} vs {w}");
                }
            }
        }
    }
    blocked
}

#[test]
fn prompts_attend_in_blocks_as_the_naive_attention_on_both_paths() {
    let _path = PATH.lock().unwrap_or_else(|e| e.into_inner());
    // a block of 32 queries and a partial one, grouped heads, positions cached before (the
    // cache's room then exceeds its length), widths with and without their own kernel
    for (g, d, past, t) in [(1, 20, 0, 16), (3, 64, 0, 70), (3, 64, 9, 33), (2, 128, 5, 100), (1, 64, 70, 40)] {
        let zeros = [0, 0];
        let cases =
            [None, Some(&zeros[..])].into_iter().flat_map(|pad| [(pad, KvPrecision::F32), (pad, KvPrecision::F16)]);
        for (pad, p) in cases {
            assert_eq!(prompt_matches_naive(g, d, past, t, pad, p), wide_available(), "which path ran");
            force_portable(true);
            assert!(!prompt_matches_naive(g, d, past, t, pad, p), "the portable path ran the AVX-512 kernel");
            force_portable(false);
        }
    }
}

#[test]
fn a_sequence_gets_the_same_bits_alone_and_in_a_padded_batch() {
    let _path = PATH.lock().unwrap_or_else(|e| e.into_inner());
    for precision in [KvPrecision::F32, KvPrecision::F16] {
        same_bits_alone_and_in_a_batch(precision);
    }
}

/// One sequence's attention alone and as row 1 of a padded batch of 3, the caches in
/// `precision`: the same bits.
fn same_bits_alone_and_in_a_batch(precision: KvPrecision) {
    let (h, d, n) = (4, 64, 150);
    let mut rng = Rng::new(11);
    let (k, v, q) = (randn(&[1, h, n, d], &mut rng), randn(&[1, h, n, d], &mut rng), randn(&[1, h, 1, d], &mut rng));
    let mut alone = KvBuffer::new(1, h, d, precision);
    alone.append(&k, &v).unwrap();
    let want = alone.attend(&q, None, true).unwrap().to_vec();
    // row 1 of a batch of 3, behind 7 positions of padding (random values, to be ignored);
    // big enough to run on two threads
    let other = |rng: &mut Rng| randn(&[1, h, n + 7, d], rng);
    let padded = |x: &Tensor, rng: &mut Rng| Tensor::cat(&[randn(&[1, h, 7, d], rng), x.clone()], 2).unwrap();
    let kb = Tensor::cat(&[other(&mut rng), padded(&k, &mut rng), other(&mut rng)], 0).unwrap();
    let vb = Tensor::cat(&[other(&mut rng), padded(&v, &mut rng), other(&mut rng)], 0).unwrap();
    let qb = Tensor::cat(&[randn(&[1, h, 1, d], &mut rng), q, randn(&[1, h, 1, d], &mut rng)], 0).unwrap();
    let batch = KvBuffer::with_room(&kb, &vb, 0, precision).unwrap();
    let got = batch.attend(&qb, Some(&[0, 7, 0]), true).unwrap();
    assert_eq!(got.narrow(0, 1, 1).unwrap().to_vec(), want);
}

#[test]
fn bad_shapes_are_errors() {
    let mut buf = KvBuffer::new(2, 2, 4, KvPrecision::F16);
    let x = Tensor::zeros(&[2, 2, 3, 4]);
    let big = Tensor::from_vec((0..48).map(|i| if i == 29 { 1e5 } else { 1.0 }).collect(), &[2, 2, 3, 4]).unwrap();
    let err = buf.append(&x, &big).unwrap_err().to_string();
    assert!(err.contains("100000") && err.contains("f16"), "{err}");
    assert_eq!(buf.len(), 0, "a refused append adds no position");
    assert!(buf.attend(&Tensor::zeros(&[2, 2, 1, 4]), None, true).is_err(), "no key cached yet");
    buf.append(&x, &x).unwrap();
    assert!(buf.append(&Tensor::zeros(&[2, 2, 3, 5]), &Tensor::zeros(&[2, 2, 3, 5])).is_err());
    assert!(buf.append(&x, &Tensor::zeros(&[2, 2, 2, 4])).is_err());
    assert!(buf.attend(&Tensor::zeros(&[2, 2, 4, 4]), None, true).is_err(), "more queries than positions");
    assert!(buf.attend(&Tensor::zeros(&[2, 2, 1, 4]), Some(&[0]), true).is_err(), "one padding per sequence");
    assert!(buf.attend(&Tensor::zeros(&[2, 2, 1]), None, true).is_err());
    assert!(buf.attend(&Tensor::zeros(&[2, 3, 1, 4]), None, true).is_err(), "3 query heads over 2 key/value heads");
    let grouped = buf.attend(&Tensor::zeros(&[2, 4, 1, 4]), None, true).unwrap();
    assert_eq!(grouped.shape(), &[2, 1, 16], "2 query heads a key/value head");
    assert_eq!(buf.len(), 3);
}

#[test]
fn selecting_rows_reorders_the_sequences_and_keeps_growing() {
    let mut rng = Rng::new(5);
    let (k, v) = (randn(&[3, 2, 5, 4], &mut rng), randn(&[3, 2, 5, 4], &mut rng));
    let buf = KvBuffer::from_tensors(&k, &v).unwrap();
    let rows = [2, 0, 0, 1];
    let mut picked = buf.select_rows(&rows).unwrap();
    let (pk, pv) = picked.to_tensors().unwrap();
    assert_eq!(pk.to_vec(), k.index_select(0, &rows).unwrap().to_vec());
    assert_eq!(pv.to_vec(), v.index_select(0, &rows).unwrap().to_vec());
    let step = randn(&[4, 2, 1, 4], &mut rng);
    picked.append(&step, &step).unwrap();
    assert_eq!(picked.len(), 6);
    assert!(buf.select_rows(&[3]).is_err(), "row outside the batch");
}
