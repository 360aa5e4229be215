//! Boolean masks and the ops that read them: `masked_fill` and `where_cond`. Masks broadcast
//! against the tensors they select in.

use ndarray::{ArcArray, ArrayD, ArrayViewD, Dimension, IxDyn, Zip};

use crate::backprop::BackwardOp;
use crate::error::{Result, TensorError};
use crate::shape::{broadcast_shapes, sum_to_shape};
use crate::tensor::Tensor;

/// An n-dimensional boolean tensor (no gradient), e.g. a causal or padding mask.
#[derive(Debug, Clone, PartialEq)]
pub struct Mask {
    data: ArcArray<bool, IxDyn>,
}

impl Mask {
    /// A mask from row-major values; errors when the length does not fill the shape.
    pub fn from_vec(data: Vec<bool>, shape: &[usize]) -> Result<Mask> {
        let expected: usize = shape.iter().product();
        if data.len() != expected {
            return Err(TensorError::ElementCount { op: "Mask::from_vec", len: data.len(), shape: shape.to_vec(), expected });
        }
        Ok(Mask { data: ArrayD::from_shape_vec(IxDyn(shape), data).expect("length checked").into_shared() })
    }

    /// A mask whose element at each index is `f(index)`.
    pub fn from_fn(shape: &[usize], f: impl Fn(&[usize]) -> bool) -> Mask {
        Mask { data: ArrayD::from_shape_fn(IxDyn(shape), |ix| f(ix.slice())).into_shared() }
    }

    /// `[t, t]`, true above the diagonal: the future positions a causal attention must hide.
    pub fn causal(t: usize) -> Mask {
        Mask::from_fn(&[t, t], |ix| ix[1] > ix[0])
    }

    /// `[b, t]`, true at padding: position `j` of sequence `i` is padding when `j ≥ lengths[i]`.
    pub fn padding(lengths: &[usize], t: usize) -> Mask {
        Mask::from_fn(&[lengths.len(), t], |ix| ix[1] >= lengths[ix[0]])
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// The same values in a new shape (row-major order).
    pub fn reshape(&self, shape: &[usize]) -> Result<Mask> {
        Mask::from_vec(self.to_vec(), shape)
    }

    /// Elementwise or, broadcasting: combines masks (e.g. causal and padding).
    pub fn or(&self, other: &Mask) -> Result<Mask> {
        let shape = broadcast_shapes("Mask::or", self.shape(), other.shape())?;
        let a = self.data.broadcast(shape.as_slice()).expect("broadcast shape");
        let b = other.data.broadcast(shape.as_slice()).expect("broadcast shape");
        Ok(Mask { data: Zip::from(a).and(b).map_collect(|&x, &y| x || y).into_shared() })
    }

    /// Elementwise not.
    pub fn not(&self) -> Mask {
        Mask { data: self.data.map(|&x| !x).into_shared() }
    }

    /// The values in row-major order.
    pub fn to_vec(&self) -> Vec<bool> {
        self.data.iter().copied().collect()
    }

    /// One mask row per row (last axis) of a row-major tensor of `shape`, when the mask's last
    /// axis is its own (not broadcast) and contiguous: causal `[T, T]` and key-padding
    /// `[B, 1, 1, T]` masks over `[B, H, T, T]` scores. The rows are then selected with slice
    /// loops instead of a broadcast walk.
    fn rows_for(&self, shape: &[usize]) -> Option<Vec<&[bool]>> {
        let data = self.data.as_slice()?;
        let last = shape.len().checked_sub(1)?;
        let m = self.data.broadcast(shape)?;
        let (t, strides) = (shape[last], m.strides());
        if t == 0 || strides[last] != 1 {
            return None;
        }
        // row-major walk over the leading axes; a broadcast axis has stride 0
        let n_rows: usize = shape[..last].iter().product();
        let mut rows = Vec::with_capacity(n_rows);
        let mut idx = vec![0usize; last];
        for _ in 0..n_rows {
            let at: isize = idx.iter().zip(strides).map(|(&i, &s)| i as isize * s).sum();
            rows.push(data.get(at as usize..at as usize + t)?);
            for d in (0..last).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Some(rows)
    }

    /// `f(value, mask bit)` for every element of `x`, the mask broadcast to `x`'s shape (the
    /// caller has checked that it broadcasts): over row slices when [`Self::rows_for`] gives
    /// them and `x` is row-major, else by a broadcast walk.
    fn map_with(&self, x: ArrayViewD<'_, f32>, f: impl Fn(f32, bool) -> f32) -> ArrayD<f32> {
        match (self.rows_for(x.shape()), x.as_slice()) {
            (Some(rows), Some(xs)) => {
                let t = x.shape().last().copied().unwrap_or(1).max(1);
                let mut out = Vec::with_capacity(xs.len());
                for (x, mask) in xs.chunks(t).zip(rows) {
                    out.extend(x.iter().zip(mask).map(|(&x, &b)| f(x, b)));
                }
                ArrayD::from_shape_vec(x.raw_dim(), out).expect("same length")
            }
            _ => {
                let m = self.data.broadcast(x.shape()).expect("the caller checked the broadcast");
                Zip::from(x).and(m).map_collect(|&x, &b| f(x, b))
            }
        }
    }

    fn broadcast_to(&self, op: &'static str, shape: &[usize]) -> Result<ndarray::ArrayViewD<'_, bool>> {
        self.data.broadcast(shape).ok_or_else(|| TensorError::ShapeMismatch {
            op,
            lhs: shape.to_vec(),
            rhs: self.shape().to_vec(),
            detail: "the mask does not broadcast to the tensor".into(),
        })
    }
}

/// Gradient of `where_cond` (and `masked_fill`): `g` where the mask picks the input, else 0.
struct Select {
    mask: Mask,
    shapes: [Vec<usize>; 2],
}

impl Tensor {
    /// `value` where `mask` is true, `self` elsewhere. The mask broadcasts to `self`'s shape.
    // x: (D…), mask: broadcasts to (D…) → (D…)
    pub fn masked_fill(&self, mask: &Mask, value: f32) -> Result<Tensor> {
        mask.broadcast_to("masked_fill", self.shape())?;
        #[cfg(feature = "cuda")]
        if self.device().is_cuda() {
            return crate::cuda::mask::masked_fill(self, mask, value);
        }
        let out = mask.map_with(self.arr().view(), |x, b| if b { value } else { x });
        Ok(Tensor::from_op(out, &[self], || {
            Box::new(Select { mask: mask.not(), shapes: [self.shape().to_vec(), Vec::new()] })
        }))
    }

    /// `on_true` where `mask` is true, `on_false` elsewhere; all three broadcast together.
    // mask, on_true, on_false: broadcast together to (D…) → (D…)
    pub fn where_cond(mask: &Mask, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
        let shape = broadcast_shapes("where_cond", on_true.shape(), on_false.shape())?;
        let shape = broadcast_shapes("where_cond", &shape, mask.shape())?;
        #[cfg(feature = "cuda")]
        if on_true.device().is_cuda() || on_false.device().is_cuda() {
            return crate::cuda::mask::where_cond(mask, on_true, on_false);
        }
        let (t, f) = (on_true.arr(), on_false.arr());
        let m = mask.broadcast_to("where_cond", &shape)?;
        let tv = t.broadcast(shape.as_slice()).expect("broadcast shape");
        let fv = f.broadcast(shape.as_slice()).expect("broadcast shape");
        let out = Zip::from(m).and(tv).and(fv).map_collect(|&b, &x, &y| if b { x } else { y });
        let op = Select { mask: mask.clone(), shapes: [on_true.shape().to_vec(), on_false.shape().to_vec()] };
        Ok(Tensor::from_op(out, &[on_true, on_false], || Box::new(op)))
    }
}

impl BackwardOp for Select {
    fn backward(&self, g: ArrayD<f32>, needs: &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> {
        let pick = |when: bool, shape: &[usize]| {
            // the mask broadcast to g's shape in the forward pass
            sum_to_shape(self.mask.map_with(g.view(), |g, b| if b == when { g } else { 0.0 }), shape)
        };
        let mut out = vec![needs[0].then(|| pick(true, &self.shapes[0]))];
        if let Some(&need) = needs.get(1) {
            out.push(need.then(|| pick(false, &self.shapes[1])));
        }
        Ok(out)
    }
}
