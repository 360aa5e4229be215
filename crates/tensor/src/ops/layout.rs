//! Ops that move or view data without arithmetic: permute/transpose, reshape, narrow,
//! broadcast and contiguous copies. Views share storage; backward undoes the move.

use ndarray::{ArrayD, Axis, IxDyn, Slice};

use crate::backprop::BackwardOp;
use crate::error::{Result, TensorError};
use crate::kernel::{into_standard, to_standard};
use crate::shape::{norm_axis, sum_to_shape};
use crate::tensor::Tensor;

/// Restores the input's shape: reshape, squeeze, unsqueeze and contiguous.
struct Reshape {
    in_shape: Vec<usize>,
}

struct Permute {
    inverse: Vec<usize>,
}

struct Narrow {
    in_shape: Vec<usize>,
    axis: usize,
    start: usize,
}

struct Broadcast {
    in_shape: Vec<usize>,
}

impl Tensor {
    /// The same elements in a new shape (row-major order); copies only when the storage is
    /// not contiguous.
    // x: (D…) → (shape…), the same element count
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let expected: usize = shape.iter().product();
        if expected != self.elem_count() {
            return Err(TensorError::ElementCount { op: "reshape", len: self.elem_count(), shape: shape.to_vec(), expected });
        }
        #[cfg(feature = "cuda")]
        if let Some(x) = self.cuda_buffer() {
            return Ok(crate::cuda::layout::reshape(self, x, shape));
        }
        let x = self.arr();
        let x = if x.is_standard_layout() { x } else { to_standard(x.view()).into_shared() };
        let out = x.into_shape_with_order(IxDyn(shape)).expect("contiguous with the same element count");
        Ok(Tensor::from_op(out, &[self], || Box::new(Reshape { in_shape: self.shape().to_vec() })))
    }

    /// Inserts an axis of size 1 at `axis` (in `-(rank+1)..=rank`).
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let mut probe = self.shape().to_vec();
        probe.push(1);
        let a = norm_axis("unsqueeze", axis, &probe)?;
        let mut shape = self.shape().to_vec();
        shape.insert(a, 1);
        self.reshape(&shape)
    }

    /// Removes the axis `axis`, which must have size 1.
    // x: (…, 1, …) → (…, …)
    pub fn squeeze(&self, axis: isize) -> Result<Tensor> {
        let a = norm_axis("squeeze", axis, self.shape())?;
        if self.shape()[a] != 1 {
            return Err(TensorError::invalid("squeeze", format!("axis {axis} of shape {:?} is not of size 1", self.shape())));
        }
        let mut shape = self.shape().to_vec();
        shape.remove(a);
        self.reshape(&shape)
    }

    /// Reorders the axes: output axis `i` is input axis `axes[i]`. A view, no copy.
    pub fn permute(&self, axes: &[usize]) -> Result<Tensor> {
        let rank = self.rank();
        let mut seen = vec![false; rank];
        if axes.len() != rank || axes.iter().any(|&a| a >= rank || std::mem::replace(&mut seen[a], true)) {
            return Err(TensorError::invalid("permute", format!("{axes:?} is not a permutation of the axes of {:?}", self.shape())));
        }
        let mut inverse = vec![0; rank];
        for (i, &a) in axes.iter().enumerate() {
            inverse[a] = i;
        }
        #[cfg(feature = "cuda")]
        if let Some(x) = self.cuda_buffer() {
            return crate::cuda::layout::permute(self, &x, axes, inverse);
        }
        let out = self.arr().permuted_axes(IxDyn(axes));
        Ok(Tensor::from_op(out, &[self], || Box::new(Permute { inverse })))
    }

    /// Swaps two axes. A view, no copy.
    pub fn transpose(&self, a0: isize, a1: isize) -> Result<Tensor> {
        let (a0, a1) = (norm_axis("transpose", a0, self.shape())?, norm_axis("transpose", a1, self.shape())?);
        let mut axes: Vec<usize> = (0..self.rank()).collect();
        axes.swap(a0, a1);
        self.permute(&axes)
    }

    /// `len` elements of `axis` from `start`. A view, no copy.
    // x: (…, D, …) → (…, len, …) along `axis`
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        let a = norm_axis("narrow", axis, self.shape())?;
        let size = self.shape()[a];
        if start.checked_add(len).is_none_or(|end| end > size) {
            return Err(TensorError::IndexOutOfRange { op: "narrow", index: start.saturating_add(len) as i64, size });
        }
        #[cfg(feature = "cuda")]
        if let Some(x) = self.cuda_buffer() {
            return crate::cuda::layout::narrow(self, &x, a, start, len);
        }
        let mut out = self.arr();
        out.slice_axis_inplace(Axis(a), Slice::from(start..start + len));
        Ok(Tensor::from_op(out, &[self], || Box::new(Narrow { in_shape: self.shape().to_vec(), axis: a, start })))
    }

    /// Expands axes of size 1 (and new leading axes) to `shape`, as in NumPy (a materialized copy).
    pub fn broadcast_as(&self, shape: &[usize]) -> Result<Tensor> {
        let mismatch = || TensorError::ShapeMismatch {
            op: "broadcast_as",
            lhs: self.shape().to_vec(),
            rhs: shape.to_vec(),
            detail: "the first does not broadcast to the second".into(),
        };
        #[cfg(feature = "cuda")]
        if let Some(x) = self.cuda_buffer() {
            if crate::shape::broadcast_shapes("broadcast_as", self.shape(), shape).ok().as_deref() != Some(shape) {
                return Err(mismatch());
            }
            return crate::cuda::layout::broadcast_as(self, &x, shape);
        }
        let x = self.arr();
        let out = x.broadcast(shape).ok_or_else(mismatch)?;
        let out = to_standard(out).into_shared();
        Ok(Tensor::from_op(out, &[self], || Box::new(Broadcast { in_shape: self.shape().to_vec() })))
    }

    /// A row-major copy (or the same storage when it already is one).
    pub fn contiguous(&self) -> Tensor {
        #[cfg(feature = "cuda")]
        if let Some(x) = self.cuda_buffer() {
            return crate::cuda::layout::reshape(self, x, self.shape());
        }
        let x = self.arr();
        let out = if x.is_standard_layout() { x } else { to_standard(x.view()).into_shared() };
        Tensor::from_op(out, &[self], || Box::new(Reshape { in_shape: self.shape().to_vec() }))
    }
}

impl BackwardOp for Reshape {
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        Ok(vec![Some(into_standard(g).into_shape_with_order(IxDyn(&self.in_shape)).expect("same element count"))])
    }
}

impl BackwardOp for Permute {
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        Ok(vec![Some(g.permuted_axes(IxDyn(&self.inverse)))])
    }
}

impl BackwardOp for Narrow {
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let mut full = ArrayD::zeros(IxDyn(&self.in_shape));
        let len = g.shape()[self.axis];
        full.slice_axis_mut(Axis(self.axis), Slice::from(self.start..self.start + len)).assign(&g);
        Ok(vec![Some(full)])
    }
}

impl BackwardOp for Broadcast {
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        Ok(vec![Some(sum_to_shape(g, &self.in_shape))])
    }
}
