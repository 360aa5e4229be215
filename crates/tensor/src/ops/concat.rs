//! Concatenation along an existing axis (`cat`) or a new one (`stack`); backward slices the
//! gradient back into pieces.

use ndarray::{ArrayD, ArrayViewD, Axis, Slice};

use crate::backprop::BackwardOp;
use crate::error::{Result, TensorError};
use crate::kernel::to_standard;
use crate::shape::norm_axis;
use crate::tensor::Tensor;

struct Cat {
    axis: usize,
    sizes: Vec<usize>,
}

impl Tensor {
    /// Joins tensors along `axis`; all other dimensions must agree.
    // tensors: (…, Dᵢ, …) along `axis` → (…, ΣDᵢ, …)
    pub fn cat(tensors: &[Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| TensorError::invalid("cat", "needs at least one tensor"))?;
        let a = norm_axis("cat", axis, first.shape())?;
        for t in &tensors[1..] {
            let same_rest = t.rank() == first.rank()
                && t.shape().iter().zip(first.shape()).enumerate().all(|(i, (x, y))| i == a || x == y);
            if !same_rest {
                return Err(TensorError::ShapeMismatch {
                    op: "cat",
                    lhs: first.shape().to_vec(),
                    rhs: t.shape().to_vec(),
                    detail: format!("only axis {a} may differ"),
                });
            }
        }
        #[cfg(feature = "cuda")]
        if tensors.iter().any(|t| t.device().is_cuda()) {
            return crate::cuda::concat::cat(tensors, a);
        }
        let arrays: Vec<_> = tensors.iter().map(|t| t.arr()).collect();
        let views: Vec<ArrayViewD<'_, f32>> = arrays.iter().map(|x| x.view()).collect();
        let out = ndarray::concatenate(Axis(a), &views).map_err(|e| TensorError::invalid("cat", e.to_string()))?;
        let inputs: Vec<&Tensor> = tensors.iter().collect();
        let sizes = tensors.iter().map(|t| t.shape()[a]).collect();
        Ok(Tensor::from_op(out, &inputs, || Box::new(Cat { axis: a, sizes })))
    }

    /// Joins tensors of one shape along a new axis `axis` (in `-(rank+1)..=rank`).
    // tensors: n × (D…) → (D… with n inserted at `axis`)
    pub fn stack(tensors: &[Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors.first().ok_or_else(|| TensorError::invalid("stack", "needs at least one tensor"))?;
        if let Some(t) = tensors.iter().find(|t| t.shape() != first.shape()) {
            return Err(TensorError::ShapeMismatch {
                op: "stack",
                lhs: first.shape().to_vec(),
                rhs: t.shape().to_vec(),
                detail: "stacked tensors need one shape".into(),
            });
        }
        let expanded = tensors.iter().map(|t| t.unsqueeze(axis)).collect::<Result<Vec<_>>>()?;
        Tensor::cat(&expanded, axis)
    }
}

impl BackwardOp for Cat {
    fn backward(&self, g: ArrayD<f32>, needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let mut start = 0;
        Ok(self
            .sizes
            .iter()
            .zip(needs)
            .map(|(&len, &need)| {
                let piece = need.then(|| to_standard(g.slice_axis(Axis(self.axis), Slice::from(start..start + len))));
                start += len;
                piece
            })
            .collect())
    }
}
