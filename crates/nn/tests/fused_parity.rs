//! loam-tensor's fused ops against the nn compositions they replace, on the CPU:
//! `loam_tensor::adamw_step` has the bits of [`AdamW::step`], and
//! `Tensor::scaled_dot_product_attention` the bits of nn's attention with a causal mask.

use loam_nn::optim::{AdamW, AdamWConfig, ParamGroup};
use loam_nn::{Ctx, Dropout, scaled_dot_product_attention};
use loam_tensor::gradcheck::randn;
use loam_tensor::{AdamWStep, GradStore, Mask, Tensor, adamw_step};

/// The tensors of `v` at `idx`.
fn sel<'a>(v: &'a [Tensor], idx: &[usize]) -> Vec<&'a Tensor> {
    idx.iter().map(|&i| &v[i]).collect()
}

#[test]
fn adamw_step_has_the_bits_of_nn_adamw() {
    let config = AdamWConfig {
        lr: 3e-3,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
    };
    let shapes: [&[usize]; 4] = [&[16, 8], &[8], &[50_000], &[3]]; // matrices decayed, vectors not
    let init: Vec<Tensor> = shapes
        .iter()
        .enumerate()
        .map(|(i, s)| randn(s, i as u64))
        .collect();
    let (ours, theirs): (Vec<Tensor>, Vec<Tensor>) =
        init.iter().map(|t| (t.to_var(), t.to_var())).unzip();
    let named = theirs
        .iter()
        .enumerate()
        .map(|(i, t)| (format!("p{i}"), t.clone()))
        .collect();
    let mut nn_opt = AdamW::new(ParamGroup::no_decay_1d(named, 0.1), config).unwrap();
    let exp_avg: Vec<Tensor> = shapes.iter().map(|s| Tensor::zeros(s).to_var()).collect();
    let exp_avg_sq: Vec<Tensor> = shapes.iter().map(|s| Tensor::zeros(s).to_var()).collect();
    for step in 1..=4u64 {
        let grads: Vec<Tensor> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| randn(s, 10 * step + i as u64))
            .collect();
        let mut store = GradStore::default();
        for (p, g) in theirs.iter().zip(&grads) {
            store.insert(p, g.clone());
        }
        nn_opt.step(&store).unwrap();
        // one call per weight decay, as a trainer calls it per parameter group
        for (decayed, wd) in [(true, 0.1), (false, 0.0)] {
            let pick: Vec<usize> = (0..shapes.len())
                .filter(|&i| (shapes[i].len() >= 2) == decayed)
                .collect();
            let s = AdamWStep {
                lr: config.lr,
                beta1: config.beta1,
                beta2: config.beta2,
                eps: config.eps,
                weight_decay: wd,
                step,
            };
            adamw_step(
                &sel(&ours, &pick),
                &sel(&grads, &pick),
                &sel(&exp_avg, &pick),
                &sel(&exp_avg_sq, &pick),
                &s,
            )
            .unwrap();
        }
    }
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        let (a, b) = (a.to_vec(), b.to_vec());
        let diff = a
            .iter()
            .zip(&b)
            .position(|(x, y)| x.to_bits() != y.to_bits());
        assert!(
            diff.is_none(),
            "parameter {i} differs at {diff:?}: {:?} vs {:?}",
            diff.map(|j| a[j]),
            diff.map(|j| b[j])
        );
    }
}

#[test]
fn attention_op_has_the_bits_of_nn_attention() {
    for (causal, tq, tk) in [(true, 6, 6), (true, 2, 7), (false, 4, 5)] {
        let (b, h, d) = (2, 3, 16);
        let q = randn(&[b, h, tq, d], 1);
        let k = randn(&[b, h, tk, d], 2);
        let v = randn(&[b, h, tk, d], 3);
        let mask = causal.then(|| Mask::from_fn(&[tq, tk], |ix| ix[1] > (tk - tq) + ix[0]));
        let want = scaled_dot_product_attention(
            &q,
            &k,
            &v,
            mask.as_ref(),
            Dropout::new(0.0),
            &mut Ctx::eval(),
        )
        .unwrap();
        let got = q
            .scaled_dot_product_attention(&k, &v, causal, 1.0 / (d as f32).sqrt())
            .unwrap();
        assert_eq!(
            got.to_vec(),
            want.to_vec(),
            "causal {causal}, Tq {tq}, Tk {tk}"
        );
    }
}
