//! Selection by integer indices: `index_select` (the embedding lookup) and `gather`; both
//! backward as a scatter-add, so repeated indices accumulate.

use ndarray::{ArrayD, Axis, Dimension, IxDyn};

use crate::backprop::BackwardOp;
use crate::error::{Result, TensorError};
use crate::shape::norm_axis;
use crate::tensor::Tensor;

fn check_indices(op: &'static str, ids: &[usize], size: usize) -> Result<()> {
    match ids.iter().find(|&&i| i >= size) {
        Some(&i) => Err(TensorError::IndexOutOfRange { op, index: i as i64, size }),
        None => Ok(()),
    }
}

struct IndexSelect {
    in_shape: Vec<usize>,
    axis: usize,
    ids: Vec<usize>,
}

struct Gather {
    in_shape: Vec<usize>,
    axis: usize,
    index: ArrayD<usize>,
}

impl Tensor {
    /// The slices `ids` along `axis`, in that order: `(…, n, …) → (…, ids.len(), …)`.
    /// With `axis = 0` on a `[vocab, dim]` table this is the embedding lookup.
    pub fn index_select(&self, axis: isize, ids: &[usize]) -> Result<Tensor> {
        let a = norm_axis("index_select", axis, self.shape())?;
        check_indices("index_select", ids, self.shape()[a])?;
        #[cfg(feature = "cuda")]
        if let Some(x) = self.cuda_buffer() {
            return crate::cuda::indexing::index_select(self, &x, a, ids);
        }
        let out = self.arr().select(Axis(a), ids);
        let ids = ids.to_vec();
        Ok(Tensor::from_op(out, &[self], || Box::new(IndexSelect { in_shape: self.shape().to_vec(), axis: a, ids })))
    }

    /// PyTorch's `gather`: `out[…, j, …] = self[…, index[…, j, …], …]` along `axis`. `index`
    /// is row-major with shape `index_shape`, which equals `self`'s shape except along `axis`.
    pub fn gather(&self, axis: isize, index: &[usize], index_shape: &[usize]) -> Result<Tensor> {
        let a = norm_axis("gather", axis, self.shape())?;
        let fits = index_shape.len() == self.rank()
            && index_shape.iter().zip(self.shape()).enumerate().all(|(i, (x, y))| i == a || x == y);
        if !fits {
            return Err(TensorError::ShapeMismatch {
                op: "gather",
                lhs: self.shape().to_vec(),
                rhs: index_shape.to_vec(),
                detail: format!("the index shape must equal the input's except along axis {a}"),
            });
        }
        let expected: usize = index_shape.iter().product();
        if expected != index.len() {
            return Err(TensorError::ElementCount { op: "gather", len: index.len(), shape: index_shape.to_vec(), expected });
        }
        check_indices("gather", index, self.shape()[a])?;
        #[cfg(feature = "cuda")]
        if let Some(x) = self.cuda_buffer() {
            return crate::cuda::indexing::gather(self, &x, a, index, index_shape);
        }
        let index = ArrayD::from_shape_vec(IxDyn(index_shape), index.to_vec()).expect("length checked");
        let x = self.arr();
        let mut src = IxDyn(&vec![0; self.rank()]);
        let values = index
            .indexed_iter()
            .map(|(pos, &i)| {
                src.slice_mut().copy_from_slice(pos.slice());
                src[a] = i;
                x[&src]
            })
            .collect();
        let out = ArrayD::from_shape_vec(IxDyn(index_shape), values).expect("one value per index");
        Ok(Tensor::from_op(out, &[self], || Box::new(Gather { in_shape: self.shape().to_vec(), axis: a, index })))
    }
}

impl BackwardOp for IndexSelect {
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let mut full = ArrayD::zeros(IxDyn(&self.in_shape));
        for (j, &id) in self.ids.iter().enumerate() {
            let mut dst = full.index_axis_mut(Axis(self.axis), id);
            dst += &g.index_axis(Axis(self.axis), j);
        }
        Ok(vec![Some(full)])
    }
}

impl BackwardOp for Gather {
    fn backward(&self, g: ArrayD<f32>, _needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let mut full = ArrayD::<f32>::zeros(IxDyn(&self.in_shape));
        let mut src = IxDyn(&vec![0; self.in_shape.len()]);
        for ((pos, &i), &gv) in self.index.indexed_iter().zip(g.iter()) {
            src.slice_mut().copy_from_slice(pos.slice());
            src[self.axis] = i;
            full[&src] += gv;
        }
        Ok(vec![Some(full)])
    }
}
