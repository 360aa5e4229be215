//! Concatenation on the GPU: each piece is copied into its slice of the output by the strided
//! copy kernel; backward narrows the gradient back into pieces.

use super::launch::contiguous_strides;
use super::output;
use crate::backprop::DeviceBackward;
use crate::error::Result;
use crate::storage::{Storage, common_device};
use crate::tensor::Tensor;

struct Cat {
    axis: usize,
    sizes: Vec<usize>,
}

// tensors: (…, Dᵢ, …) along `axis` → (…, ΣDᵢ, …); shapes checked by the caller
pub(crate) fn cat(tensors: &[Tensor], axis: usize) -> Result<Tensor> {
    let inputs: Vec<&Tensor> = tensors.iter().collect();
    common_device("cat", &inputs)?;
    let buffers = tensors
        .iter()
        .map(|t| super::buffer("cat", t))
        .collect::<Result<Vec<_>>>()?;
    let sizes: Vec<usize> = tensors.iter().map(|t| t.shape()[axis]).collect();
    let mut shape = tensors[0].shape().to_vec();
    shape[axis] = sizes.iter().sum();
    let out_strides = contiguous_strides(&shape);
    let n: usize = shape.iter().product();
    let out = output("cat", buffers[0].ordinal(), n, |g, out| {
        let mut start = 0;
        for (t, b) in tensors.iter().zip(&buffers) {
            let at = start as i64 * out_strides[axis];
            super::layout::copy(
                "cat",
                g,
                t.shape(),
                b.slice()?,
                (&contiguous_strides(t.shape()), 0),
                out,
                (&out_strides, at),
            )?;
            start += t.shape()[axis];
        }
        Ok(())
    })?;
    Ok(Tensor::from_device_op(
        Storage::Cuda(out),
        shape,
        &inputs,
        move || Box::new(Cat { axis, sizes }),
    ))
}

impl DeviceBackward for Cat {
    fn backward(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let mut start = 0;
        let mut grads = Vec::with_capacity(self.sizes.len());
        for (&len, &need) in self.sizes.iter().zip(needs) {
            grads.push(if need {
                Some(g.narrow(self.axis as isize, start, len)?)
            } else {
                None
            });
            start += len;
        }
        Ok(grads)
    }
}
