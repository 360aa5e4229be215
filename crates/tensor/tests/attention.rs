//! `Tensor::scaled_dot_product_attention` on the CPU: values against a direct f64
//! computation (1e-5), gradients against finite differences, shapes and errors.

use loam_tensor::gradcheck::{check, randn};
use loam_tensor::{Tensor, TensorError};

/// softmax(q·kᵀ·scale)·v in f64, one (batch, head) at a time; causal hides j > i + (Tk − Tq).
fn reference(q: &Tensor, k: &Tensor, v: &Tensor, causal: bool, scale: f32) -> Vec<f64> {
    let (qs, ks) = (q.shape(), k.shape());
    let (bh, tq, tk, d) = (qs[0] * qs[1], qs[2], ks[2], qs[3]);
    let (q, k, v) = (q.to_vec(), k.to_vec(), v.to_vec());
    let mut out = vec![0.0; bh * tq * d];
    for h in 0..bh {
        for i in 0..tq {
            let visible = |j: usize| !causal || j <= i + (tk - tq);
            let s: Vec<f64> = (0..tk)
                .map(|j| {
                    let dot: f64 = (0..d)
                        .map(|e| q[(h * tq + i) * d + e] as f64 * k[(h * tk + j) * d + e] as f64)
                        .sum();
                    if visible(j) {
                        dot * scale as f64
                    } else {
                        f64::NEG_INFINITY
                    }
                })
                .collect();
            let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = s.iter().map(|&x| (x - m).exp()).sum();
            for j in 0..tk {
                let p = (s[j] - m).exp() / z;
                for e in 0..d {
                    out[(h * tq + i) * d + e] += p * v[(h * tk + j) * d + e] as f64;
                }
            }
        }
    }
    out
}

#[test]
fn matches_a_direct_computation() {
    for (causal, tq, tk) in [(false, 5, 7), (true, 6, 6), (true, 3, 8), (false, 1, 1)] {
        let (b, h, d) = (2, 3, 8);
        let q = randn(&[b, h, tq, d], 1);
        let k = randn(&[b, h, tk, d], 2);
        let v = randn(&[b, h, tk, d], 3);
        let scale = 1.0 / (d as f32).sqrt();
        let y = q
            .scaled_dot_product_attention(&k, &v, causal, scale)
            .unwrap();
        assert_eq!(y.shape(), &[b, h, tq, d]);
        for (i, (&got, want)) in y
            .to_vec()
            .iter()
            .zip(reference(&q, &k, &v, causal, scale))
            .enumerate()
        {
            assert!(
                (got as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "causal {causal}, Tq {tq}, Tk {tk}: element {i}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn causal_queries_do_not_see_later_keys() {
    let (q, k, v) = (
        randn(&[1, 2, 4, 8], 4),
        randn(&[1, 2, 4, 8], 5),
        randn(&[1, 2, 4, 8], 6),
    );
    let y = q
        .scaled_dot_product_attention(&k, &v, true, 0.3)
        .unwrap()
        .to_vec();
    // change the last key and value: rows 0..3 must not move, row 3 must
    let mut kv = k.to_vec();
    let mut vv = v.to_vec();
    for h in 0..2 {
        for e in 0..8 {
            kv[(h * 4 + 3) * 8 + e] += 1.0;
            vv[(h * 4 + 3) * 8 + e] -= 2.0;
        }
    }
    let (k2, v2) = (
        Tensor::from_vec(kv, &[1, 2, 4, 8]).unwrap(),
        Tensor::from_vec(vv, &[1, 2, 4, 8]).unwrap(),
    );
    let y2 = q
        .scaled_dot_product_attention(&k2, &v2, true, 0.3)
        .unwrap()
        .to_vec();
    for h in 0..2 {
        let rows = |y: &[f32], i: usize| y[(h * 4 + i) * 8..(h * 4 + i + 1) * 8].to_vec();
        for i in 0..3 {
            assert_eq!(rows(&y, i), rows(&y2, i), "head {h}: query {i} saw key 3");
        }
        assert_ne!(rows(&y, 3), rows(&y2, 3), "head {h}: query 3 ignored key 3");
    }
}

#[test]
fn gradients_match_finite_differences() {
    for (causal, tq, tk) in [(false, 3, 4), (true, 4, 4), (true, 2, 5)] {
        let q = randn(&[2, 2, tq, 4], 7);
        let k = randn(&[2, 2, tk, 4], 8);
        let v = randn(&[2, 2, tk, 4], 9);
        check(
            &format!("sdpa causal {causal} {tq}x{tk}"),
            &[q, k, v],
            |x| x[0].scaled_dot_product_attention(&x[1], &x[2], causal, 0.5),
        );
    }
}

#[test]
fn bad_shapes_are_errors_that_name_the_op() {
    let q = randn(&[1, 2, 3, 4], 1);
    let k = randn(&[1, 2, 5, 4], 2);
    let cases = [
        (randn(&[2, 3, 4], 1), k.clone(), k.clone(), false),
        (
            q.clone(),
            randn(&[1, 2, 5, 3], 2),
            randn(&[1, 2, 5, 3], 3),
            false,
        ),
        (q.clone(), k.clone(), randn(&[1, 2, 4, 4], 3), false),
        (randn(&[1, 2, 6, 4], 1), k.clone(), k.clone(), true),
        (
            q.clone(),
            randn(&[1, 2, 0, 4], 2),
            randn(&[1, 2, 0, 4], 3),
            false,
        ),
    ];
    for (i, (q, k, v, causal)) in cases.into_iter().enumerate() {
        let err = q
            .scaled_dot_product_attention(&k, &v, causal, 1.0)
            .unwrap_err();
        assert!(
            matches!(
                err,
                TensorError::ShapeMismatch { .. } | TensorError::Invalid { .. }
            ),
            "case {i}: {err}"
        );
        assert!(
            err.to_string().contains("scaled_dot_product_attention"),
            "case {i}: {err}"
        );
    }
}
