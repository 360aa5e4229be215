//! Elementwise loops shared by the ops: sequential for small tensors, rayon for large ones.
//! Each output element is computed independently, so results do not depend on the thread count.

use ndarray::{ArrayD, ArrayViewD, Zip};

/// Below this many elements, the work is done on the calling thread.
pub(crate) const PAR_MIN: usize = 1 << 15;

/// `f` applied to every element.
pub(crate) fn map(a: ArrayViewD<'_, f32>, f: impl Fn(f32) -> f32 + Sync + Send) -> ArrayD<f32> {
    let z = Zip::from(a);
    if z.size() >= PAR_MIN { z.par_map_collect(|&x| f(x)) } else { z.map_collect(|&x| f(x)) }
}

/// `f` applied to pairs of elements of two arrays of the same shape.
pub(crate) fn map2(
    a: ArrayViewD<'_, f32>,
    b: ArrayViewD<'_, f32>,
    f: impl Fn(f32, f32) -> f32 + Sync + Send,
) -> ArrayD<f32> {
    let z = Zip::from(a).and(b);
    if z.size() >= PAR_MIN { z.par_map_collect(|&x, &y| f(x, y)) } else { z.map_collect(|&x, &y| f(x, y)) }
}

/// `f` applied to triples of elements of three arrays of the same shape.
pub(crate) fn map3(
    a: ArrayViewD<'_, f32>,
    b: ArrayViewD<'_, f32>,
    c: ArrayViewD<'_, f32>,
    f: impl Fn(f32, f32, f32) -> f32 + Sync + Send,
) -> ArrayD<f32> {
    let z = Zip::from(a).and(b).and(c);
    if z.size() >= PAR_MIN {
        z.par_map_collect(|&x, &y, &w| f(x, y, w))
    } else {
        z.map_collect(|&x, &y, &w| f(x, y, w))
    }
}

/// A row-major copy of `a` (no copy when it already is one).
pub(crate) fn standard(a: ArrayViewD<'_, f32>) -> std::borrow::Cow<'_, [f32]> {
    match a.to_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
}

/// Applies `f` to every lane along `axis` of same-shaped inputs: `f(input lanes, output lane)`.
/// Lanes run in parallel for large tensors; each lane is computed by one thread in a fixed
/// order, so results do not depend on the thread count.
pub(crate) fn lanes<const N: usize>(
    inputs: [ArrayViewD<'_, f32>; N],
    axis: usize,
    f: impl Fn([&[f32]; N], &mut [f32]) + Sync + Send,
) -> ArrayD<f32> {
    use rayon::prelude::*;
    let shape = inputs[0].shape().to_vec();
    let rank = shape.len();
    let mut order: Vec<usize> = (0..rank).filter(|&i| i != axis).collect();
    order.push(axis);
    let moved: Vec<_> = inputs.iter().map(|x| standard(x.clone().permuted_axes(order.clone()))).collect();
    let n = shape[axis];
    let total: usize = shape.iter().product();
    let mut out = vec![0.0f32; total];
    if n > 0 {
        let run = |(i, o): (usize, &mut [f32])| {
            let ins: [&[f32]; N] = std::array::from_fn(|k| &moved[k][i * n..(i + 1) * n]);
            f(ins, o);
        };
        if total >= PAR_MIN {
            out.par_chunks_mut(n).enumerate().for_each(run);
        } else {
            out.chunks_mut(n).enumerate().for_each(run);
        }
    }
    let moved_shape: Vec<usize> = order.iter().map(|&i| shape[i]).collect();
    let mut inverse = vec![0; rank];
    for (i, &a) in order.iter().enumerate() {
        inverse[a] = i;
    }
    ArrayD::from_shape_vec(moved_shape, out).expect("length matches shape").permuted_axes(inverse)
}
