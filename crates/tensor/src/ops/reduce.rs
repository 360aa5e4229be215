//! Sum, mean and max over axes (with or without keeping them) and over all elements.

use ndarray::{ArrayD, Axis, IxDyn};

use crate::backprop::BackwardOp;
use crate::error::Result;
use crate::kernel::{map2, to_standard};
use crate::shape::norm_axes;
use crate::tensor::{Array, Tensor};

/// The shape of a reduction over `axes` with the reduced axes kept as size 1.
fn kept_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape.iter().enumerate().map(|(i, &d)| if axes.contains(&i) { 1 } else { d }).collect()
}

fn out_shape(shape: &[usize], axes: &[usize], keepdim: bool) -> Vec<usize> {
    if keepdim {
        kept_shape(shape, axes)
    } else {
        shape.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
    }
}

/// Folds `x` over `axes` (kept as size 1) with `f`, starting from `init`.
fn fold_axes(x: &Array, axes: &[usize], init: f32, f: impl Fn(f32, f32) -> f32 + Copy) -> ArrayD<f32> {
    let Some((&first, rest)) = axes.split_first() else { return x.to_owned() };
    let mut acc = x.fold_axis(Axis(first), init, |&a, &b| f(a, b)).insert_axis(Axis(first));
    for &ax in rest {
        acc = acc.fold_axis(Axis(ax), init, |&a, &b| f(a, b)).insert_axis(Axis(ax));
    }
    acc
}

struct Sum {
    in_shape: Vec<usize>,
    kept: Vec<usize>,
}

// x: (D…) → out: D with `axes` removed (or set to 1 when keepdim)
fn sum_forward(t: &Tensor, axes: &[usize], keepdim: bool) -> Tensor {
    #[cfg(feature = "cuda")]
    if let Some(x) = t.cuda_buffer() {
        return crate::cuda::reduce::forward(t, &x, axes, out_shape(t.shape(), axes, keepdim), false);
    }
    let x = t.arr();
    let kept = kept_shape(t.shape(), axes);
    let out = fold_axes(&x, axes, 0.0, |a, b| a + b)
        .into_shape_with_order(IxDyn(&out_shape(t.shape(), axes, keepdim)))
        .expect("same element count");
    Tensor::from_op(out, &[t], || Box::new(Sum { in_shape: t.shape().to_vec(), kept }))
}

impl BackwardOp for Sum {
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let g = g.view().into_shape_with_order(IxDyn(&self.kept)).expect("gradient has the output's size");
        Ok(vec![Some(to_standard(g.broadcast(self.in_shape.as_slice()).expect("kept axes broadcast")))])
    }
}

struct Max {
    x: Array,
    max: ArrayD<f32>,
}

// x: (D…) → out: D with `axes` removed (or set to 1 when keepdim)
fn max_forward(t: &Tensor, axes: &[usize], keepdim: bool) -> Tensor {
    #[cfg(feature = "cuda")]
    if let Some(x) = t.cuda_buffer() {
        return crate::cuda::reduce::forward(t, &x, axes, out_shape(t.shape(), axes, keepdim), true);
    }
    let x = t.arr();
    let max = fold_axes(&x, axes, f32::NEG_INFINITY, f32::max);
    let out = max
        .clone()
        .into_shape_with_order(IxDyn(&out_shape(t.shape(), axes, keepdim)))
        .expect("same element count");
    Tensor::from_op(out, &[t], move || Box::new(Max { x, max }))
}

impl BackwardOp for Max {
    /// The gradient goes to the maximal elements, shared equally among ties.
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let shape = self.x.shape();
        let max = self.max.broadcast(shape).expect("kept axes broadcast");
        let hits = map2(self.x.view(), max.view(), |x, m| if x == m { 1.0 } else { 0.0 });
        let axes: Vec<usize> = (0..shape.len()).filter(|&i| self.max.shape()[i] == 1 && shape[i] != 1).collect();
        let counts = fold_axes(&hits.clone().into_shared(), &axes, 0.0, |a, b| a + b);
        let g = g.view().into_shape_with_order(IxDyn(self.max.shape())).expect("gradient has the output's size");
        let share = map2(g, counts.view(), |g, c| g / c);
        let share = share.broadcast(shape).expect("kept axes broadcast");
        Ok(vec![Some(map2(hits.view(), share.view(), |h, s| h * s))])
    }
}

impl Tensor {
    /// Sum over `axes` (negative counts from the end); `keepdim` keeps them as size 1.
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let axes = norm_axes("sum", axes, self.shape())?;
        Ok(sum_forward(self, &axes, keepdim))
    }

    /// Mean over `axes`.
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let axes = norm_axes("mean", axes, self.shape())?;
        let n: usize = axes.iter().map(|&a| self.shape()[a]).product();
        Ok(sum_forward(self, &axes, keepdim).mul_scalar(1.0 / n as f32))
    }

    /// Maximum over `axes`; the gradient flows to the maximal elements.
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        let axes = norm_axes("max", axes, self.shape())?;
        Ok(max_forward(self, &axes, keepdim))
    }

    /// Sum of all elements, as a rank-0 tensor.
    pub fn sum_all(&self) -> Tensor {
        let axes: Vec<usize> = (0..self.rank()).collect();
        sum_forward(self, &axes, false)
    }

    /// Mean of all elements, as a rank-0 tensor.
    pub fn mean_all(&self) -> Tensor {
        self.sum_all().mul_scalar(1.0 / self.elem_count().max(1) as f32)
    }

    /// Maximum of all elements, as a rank-0 tensor.
    pub fn max_all(&self) -> Tensor {
        let axes: Vec<usize> = (0..self.rank()).collect();
        max_forward(self, &axes, false)
    }
}
