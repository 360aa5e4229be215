//! Bad input returns a `TensorError` naming the op and the shapes; nothing panics.

use loam_tensor::{Mask, Rng, Tensor, TensorError};

fn t(shape: &[usize]) -> Tensor {
    Tensor::zeros(shape)
}

#[test]
fn shape_mismatches_are_errors() {
    let e = t(&[2, 3]).add(&t(&[4])).unwrap_err();
    assert!(matches!(&e, TensorError::ShapeMismatch { op: "add", .. }), "{e}");
    assert!(e.to_string().contains("[2, 3]") && e.to_string().contains("[4]"), "{e}");
    let e = t(&[2, 3]).matmul(&t(&[4, 5])).unwrap_err();
    assert!(e.to_string().contains("matmul") && e.to_string().contains("inner dimensions 3 and 4"), "{e}");
    assert!(t(&[3]).matmul(&t(&[3, 1])).is_err());
    assert!(t(&[2, 3, 4]).matmul(&t(&[3, 4, 5])).is_err(), "batch 2 vs 3");
    let e = t(&[2, 3]).matmul_bias(&t(&[3, 5]), &t(&[4])).unwrap_err();
    assert!(e.to_string().contains("matmul_bias") && e.to_string().contains("the bias must be [5]"), "{e}");
    assert!(t(&[2, 3]).matmul_bias(&t(&[4, 5]), &t(&[5])).is_err(), "inner 3 vs 4");
    assert!(t(&[1, 2, 3]).matmul_bias(&t(&[3, 5]), &t(&[5])).is_err(), "a batch is not a matrix");
    assert!(Tensor::cat(&[t(&[2, 3]), t(&[3, 3])], 1).is_err());
    assert!(Tensor::cat(&[], 0).is_err());
    assert!(Tensor::stack(&[t(&[2]), t(&[3])], 0).is_err());
    assert!(t(&[2, 3]).layer_norm(Some(&t(&[2])), None, 1e-5).is_err());
    assert!(t(&[2, 3]).layer_norm(None, Some(&t(&[3])), 1e-5).is_err());
    assert!(t(&[2, 3]).cross_entropy(&[0], None).is_err());
    assert!(t(&[2, 3]).gather(1, &[0, 0], &[1, 2]).is_err());
    assert!(t(&[2, 3]).broadcast_as(&[3, 3]).is_err());
    assert!(Tensor::where_cond(&Mask::causal(4), &t(&[3, 3]), &t(&[3, 3])).is_err());
    assert!(t(&[2, 3]).masked_fill(&Mask::causal(2), 0.0).is_err());
}

#[test]
fn bad_axes_are_errors() {
    let e = t(&[2, 3]).softmax(2).unwrap_err();
    assert!(matches!(e, TensorError::BadAxis { op: "softmax", axis: 2, .. }), "{e}");
    assert!(t(&[2, 3]).sum(&[-3], false).is_err());
    assert!(t(&[2, 3]).sum(&[0, 0], false).is_err());
    assert!(t(&[2, 3]).transpose(0, 5).is_err());
    assert!(t(&[2, 3]).permute(&[0, 0]).is_err());
    assert!(t(&[2, 3]).squeeze(0).is_err());
}

#[test]
fn out_of_range_indices_are_errors() {
    let e = t(&[4, 2]).index_select(0, &[1, 4]).unwrap_err();
    assert!(matches!(e, TensorError::IndexOutOfRange { op: "index_select", index: 4, size: 4 }), "{e}");
    assert!(t(&[2, 3]).narrow(1, 2, 2).is_err());
    assert!(t(&[2, 3]).narrow(1, usize::MAX, 2).is_err());
    assert!(t(&[2, 3]).cross_entropy(&[0, 3], None).is_err());
    assert!(t(&[2, 3]).cross_entropy(&[0, -1], Some(-100)).is_err());
    assert!(t(&[2, 3]).gather(1, &[0, 3, 0, 0, 0, 0], &[2, 3]).is_err());
}

#[test]
fn bad_arguments_are_errors() {
    assert!(Tensor::from_vec(vec![1.0; 5], &[2, 3]).is_err());
    assert!(t(&[2, 3]).reshape(&[4]).is_err());
    assert!(Tensor::arange(0.0, 1.0, 0.0).is_err());
    assert!(t(&[2]).dropout(1.0, &mut Rng::new(0)).is_err());
    assert!(t(&[2]).dropout(-0.1, &mut Rng::new(0)).is_err());
    assert!(t(&[2]).to_scalar().is_err());
    assert!(t(&[2]).to_var().backward().is_err(), "backward needs a scalar");
    assert!(t(&[2]).to_var().assign(&t(&[3])).is_err());
    assert!(Mask::from_vec(vec![true], &[2]).is_err());
}
