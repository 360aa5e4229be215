//! `loam_tensor::adamw_step` on the CPU: the update against AdamW's formula computed in f64
//! (1e-6), several parameters in one call, and checks that leave everything unchanged. The
//! bit-for-bit match with `loam_nn::AdamW` is tested in loam-nn (`tests/fused_parity.rs`).

use loam_tensor::gradcheck::randn;
use loam_tensor::{AdamWStep, Tensor, adamw_step};

const STEP: AdamWStep = AdamWStep {
    lr: 1e-2,
    beta1: 0.9,
    beta2: 0.99,
    eps: 1e-8,
    weight_decay: 0.1,
    step: 1,
};

/// One AdamW step of one element in f64: (p, m, v).
fn reference(p: f64, g: f64, m: f64, v: f64, s: &AdamWStep) -> (f64, f64, f64) {
    let (lr, b1, b2, t) = (s.lr as f64, s.beta1 as f64, s.beta2 as f64, s.step as f64);
    let p = p * (1.0 - lr * s.weight_decay as f64);
    let m = b1 * m + (1.0 - b1) * g;
    let v = b2 * v + (1.0 - b2) * g * g;
    let denom = (v / (1.0 - b2.powf(t))).sqrt() + s.eps as f64;
    (p - lr / (1.0 - b1.powf(t)) * m / denom, m, v)
}

/// The tensors of `v` as the slice of references `adamw_step` takes.
fn refs(v: &[Tensor]) -> Vec<&Tensor> {
    v.iter().collect()
}

fn moments(shape: &[usize]) -> (Tensor, Tensor) {
    (Tensor::zeros(shape).to_var(), Tensor::zeros(shape).to_var())
}

#[test]
fn three_steps_follow_the_formula_for_every_parameter() {
    let shapes: [&[usize]; 3] = [&[3, 5], &[7], &[40_000]]; // the last one takes the parallel path
    let params: Vec<Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| randn(s, i as u64).to_var())
        .collect();
    let states: Vec<(Tensor, Tensor)> = shapes.iter().map(|s| moments(s)).collect();
    let mut want: Vec<Vec<(f64, f64, f64)>> = params
        .iter()
        .map(|p| p.to_vec().iter().map(|&x| (x as f64, 0.0, 0.0)).collect())
        .collect();
    for step in 1..=3u64 {
        let grads: Vec<Tensor> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| randn(s, 100 * step + i as u64))
            .collect();
        let s = AdamWStep { step, ..STEP };
        let (ms, vs): (Vec<Tensor>, Vec<Tensor>) = states.iter().cloned().unzip();
        adamw_step(&refs(&params), &refs(&grads), &refs(&ms), &refs(&vs), &s).unwrap();
        for (w, g) in want.iter_mut().zip(&grads) {
            for (e, &g) in w.iter_mut().zip(&g.to_vec()) {
                *e = reference(e.0, g as f64, e.1, e.2, &s);
            }
        }
    }
    for (i, (p, w)) in params.iter().zip(&want).enumerate() {
        let (m, v) = (states[i].0.to_vec(), states[i].1.to_vec());
        for (j, &got) in p.to_vec().iter().enumerate() {
            let (wp, wm, wv) = w[j];
            assert!(
                (got as f64 - wp).abs() < 1e-6,
                "param {i}[{j}]: {got} vs {wp}"
            );
            assert!(
                (m[j] as f64 - wm).abs() < 1e-6,
                "exp_avg {i}[{j}]: {} vs {wm}",
                m[j]
            );
            assert!(
                (v[j] as f64 - wv).abs() < 1e-6 * (1.0 + wv),
                "exp_avg_sq {i}[{j}]: {} vs {wv}",
                v[j]
            );
        }
    }
}

/// One call of `adamw_step` that must fail, and a word its error must contain.
struct BadCall<'a> {
    lists: [Vec<&'a Tensor>; 4],
    step: AdamWStep,
    want: &'static str,
}

#[test]
fn a_bad_call_changes_nothing() {
    let a = randn(&[4], 1).to_var();
    let b = randn(&[2, 2], 2).to_var();
    let (ma, va) = moments(&[4]);
    let (mb, vb) = moments(&[2, 2]);
    let ga = randn(&[4], 3);
    let before = (a.to_vec(), b.to_vec());
    let bad_grad = randn(&[4], 4);
    let constant = randn(&[2, 2], 5);
    let call = |lists, step, want| BadCall { lists, step, want };
    let cases = [
        call(
            [
                vec![&a, &b],
                vec![&ga, &bad_grad],
                vec![&ma, &mb],
                vec![&va, &vb],
            ],
            STEP,
            "shape",
        ),
        call(
            [vec![&a, &b], vec![&ga], vec![&ma, &mb], vec![&va, &vb]],
            STEP,
            "gradients",
        ),
        call(
            [
                vec![&a, &constant],
                vec![&ga, &constant],
                vec![&ma, &mb],
                vec![&va, &vb],
            ],
            STEP,
            "not a variable",
        ),
        call(
            [
                vec![&a, &b],
                vec![&ga, &constant],
                vec![&ma, &mb],
                vec![&va, &mb],
            ],
            STEP,
            "three tensors",
        ),
        call(
            [vec![&a], vec![&ga], vec![&ma], vec![&va]],
            AdamWStep { step: 0, ..STEP },
            "step counts from 1",
        ),
        call(
            [vec![&a], vec![&ga], vec![&ma], vec![&va]],
            AdamWStep { beta2: 1.0, ..STEP },
            "hyperparameters",
        ),
    ];
    for BadCall {
        lists: [p, g, m, v],
        step,
        want,
    } in cases
    {
        let err = adamw_step(&p, &g, &m, &v, &step).unwrap_err().to_string();
        assert!(
            err.contains("adamw_step") && err.contains(want),
            "expected `{want}` in: {err}"
        );
        assert_eq!(
            (a.to_vec(), b.to_vec()),
            before,
            "a failed call changed a parameter ({want})"
        );
        assert!(
            ma.to_vec().iter().chain(&mb.to_vec()).all(|&x| x == 0.0),
            "a failed call changed a moment ({want})"
        );
    }
}
