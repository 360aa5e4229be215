//! Shape arithmetic shared by the ops: axis normalization, NumPy broadcasting, and the
//! reduction of a broadcast gradient back to its input's shape.

use ndarray::{ArrayD, Axis, IxDyn};

use crate::error::{Result, TensorError};

/// Turns an axis in `-rank..rank` into `0..rank`.
pub(crate) fn norm_axis(op: &'static str, axis: isize, shape: &[usize]) -> Result<usize> {
    let rank = shape.len() as isize;
    let a = if axis < 0 { axis + rank } else { axis };
    if a < 0 || a >= rank {
        return Err(TensorError::BadAxis { op, axis, shape: shape.to_vec() });
    }
    Ok(a as usize)
}

/// Normalizes a list of axes, rejecting duplicates; sorted ascending.
pub(crate) fn norm_axes(op: &'static str, axes: &[isize], shape: &[usize]) -> Result<Vec<usize>> {
    let mut out = axes.iter().map(|&a| norm_axis(op, a, shape)).collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    if out.windows(2).any(|w| w[0] == w[1]) {
        return Err(TensorError::invalid(op, format!("axes {axes:?} repeat an axis")));
    }
    Ok(out)
}

/// The NumPy broadcast of two shapes.
pub(crate) fn broadcast_shapes(op: &'static str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => {
                return Err(TensorError::ShapeMismatch {
                    op,
                    lhs: a.to_vec(),
                    rhs: b.to_vec(),
                    detail: format!("dimension {i} of the broadcast is {da} vs {db}"),
                });
            }
        };
    }
    Ok(out)
}

/// Sums a gradient of a broadcast result down to the shape of the input that was broadcast.
pub(crate) fn sum_to_shape(grad: ArrayD<f32>, shape: &[usize]) -> ArrayD<f32> {
    if grad.shape() == shape {
        return grad;
    }
    let extra = grad.ndim() - shape.len();
    let mut g = grad;
    for _ in 0..extra {
        g = g.sum_axis(Axis(0));
    }
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[i] != 1 {
            g = g.sum_axis(Axis(i)).insert_axis(Axis(i));
        }
    }
    g.into_shape_with_order(IxDyn(shape)).expect("reduced gradient has the input's shape")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes("t", &[3, 1, 5], &[4, 1]).unwrap(), vec![3, 4, 5]);
        assert_eq!(broadcast_shapes("t", &[], &[2, 3]).unwrap(), vec![2, 3]);
        assert!(broadcast_shapes("t", &[3, 2], &[3]).is_err());
    }

    #[test]
    fn axes_normalize_and_reject_bad_input() {
        assert_eq!(norm_axis("t", -1, &[2, 3, 4]).unwrap(), 2);
        assert!(matches!(norm_axis("t", 3, &[2, 3, 4]), Err(TensorError::BadAxis { axis: 3, .. })));
        assert!(norm_axes("t", &[0, -3], &[2, 3, 4]).is_err());
    }

    #[test]
    fn sum_to_shape_reduces_broadcast_axes() {
        let g = ArrayD::ones(IxDyn(&[2, 3, 4]));
        let r = sum_to_shape(g, &[3, 1]);
        assert_eq!(r.shape(), &[3, 1]);
        assert!(r.iter().all(|&v| v == 8.0));
    }
}
