//! A tensor's version counts the changes of its values in place, which caches derived from
//! the values (a model's screened head) compare to know whether they are still current.

use loam_tensor::{AdamWStep, Tensor, adamw_step};

#[test]
fn in_place_changes_bump_the_version_and_reads_do_not() {
    let w = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]).unwrap().to_var();
    assert_eq!(w.version(), 0);
    let _ = (w.to_vec(), w.mul_scalar(2.0), w.detach());
    assert_eq!(w.version(), 0, "reads, ops and detached copies change nothing");
    w.assign(&Tensor::zeros(&[3])).unwrap();
    assert_eq!(w.version(), 1);
    w.update(|mut v| v.fill(4.0)).unwrap();
    assert_eq!(w.version(), 2);
    let (g, m, v) = (Tensor::ones(&[3]), Tensor::zeros(&[3]).to_var(), Tensor::zeros(&[3]).to_var());
    let step = AdamWStep { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0, step: 1 };
    adamw_step(&[&w], &[&g], &[&m], &[&v], &step).unwrap();
    assert!(w.version() > 2, "an optimizer step is a change");
    let copy = w.clone();
    assert_eq!(copy.version(), w.version(), "clones are the same tensor");
}
