//! `index_select` and `gather` on the GPU (`kernels/indexing.cu`); both backward as an atomic
//! scatter-add, so repeated indices accumulate.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, PushKernelArg};

use super::context::{Gpu, driver_error};
use super::{Buffer, launch, output};
use crate::backprop::DeviceBackward;
use crate::error::Result;
use crate::storage::Storage;
use crate::tensor::Tensor;

/// (outer, d, inner) of `shape` around `axis`.
fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// Indices copied to the GPU (at least one element is allocated).
fn upload(op: &'static str, g: &Gpu, ids: &[usize]) -> Result<Arc<CudaSlice<i64>>> {
    let mut v: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    if v.is_empty() {
        v.push(0);
    }
    Ok(Arc::new(g.stream.clone_htod(&v).map_err(driver_error(op))?))
}

/// Runs kernel `name` of `indexing.cu` over `count` = outer·m·inner elements.
#[allow(clippy::too_many_arguments)]
fn run(
    op: &'static str,
    g: &Gpu,
    name: &'static str,
    src: &CudaSlice<f32>,
    ids: &CudaSlice<i64>,
    dst: &mut CudaSlice<f32>,
    dims: [usize; 4],
) -> Result<()> {
    let count = dims[0] * dims[2] * dims[3];
    if count == 0 {
        return Ok(());
    }
    let f = g.function(op, "indexing", name)?;
    let [o, d, m, i] = dims.map(|x| x as i64);
    let mut l = g.stream.launch_builder(&f);
    l.arg(src).arg(ids).arg(dst).arg(&o).arg(&d).arg(&m).arg(&i);
    // SAFETY: the signature matches the kernel; every index was checked against d.
    unsafe { l.launch(launch::elementwise(count)) }
        .map(drop)
        .map_err(driver_error(op))
}

/// Selection (`index_select` when the indices are per slice, `gather` when per element).
struct Select {
    in_shape: Vec<usize>,
    axis: usize,
    ids: Arc<CudaSlice<i64>>,
    per_element: bool,
}

fn select(
    op: &'static str,
    t: &Tensor,
    x: &Buffer,
    axis: usize,
    ids: &[usize],
    out_shape: Vec<usize>,
    per_element: bool,
) -> Result<Tensor> {
    let g = x.gpu(op)?;
    let (outer, d, inner) = split(t.shape(), axis);
    let m = out_shape[axis];
    let dev_ids = upload(op, g, ids)?;
    let n: usize = out_shape.iter().product();
    let name = if per_element {
        "gather"
    } else {
        "index_select"
    };
    let out = output(op, x.ordinal(), n, |g, out| {
        run(op, g, name, x.slice()?, &dev_ids, out, [outer, d, m, inner])
    })?;
    let in_shape = t.shape().to_vec();
    Ok(Tensor::from_device_op(
        Storage::Cuda(out),
        out_shape,
        &[t],
        move || {
            Box::new(Select {
                in_shape,
                axis,
                ids: dev_ids,
                per_element,
            })
        },
    ))
}

// x: (…, n, …) → (…, ids.len(), …) along `axis`
pub(crate) fn index_select(t: &Tensor, x: &Buffer, axis: usize, ids: &[usize]) -> Result<Tensor> {
    let mut shape = t.shape().to_vec();
    shape[axis] = ids.len();
    select("index_select", t, x, axis, ids, shape, false)
}

// x: (…, n, …), index: (…, m, …) → (…, m, …)
pub(crate) fn gather(
    t: &Tensor,
    x: &Buffer,
    axis: usize,
    index: &[usize],
    index_shape: &[usize],
) -> Result<Tensor> {
    select("gather", t, x, axis, index, index_shape.to_vec(), true)
}

impl DeviceBackward for Select {
    fn backward(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let op = "index backward";
        let gb = super::buffer(op, grad)?;
        let (outer, d, inner) = split(&self.in_shape, self.axis);
        let m = grad.shape()[self.axis];
        let n: usize = self.in_shape.iter().product();
        let name = if self.per_element {
            "scatter_add"
        } else {
            "index_add"
        };
        let dx = output(op, gb.ordinal(), n, |g, dx| {
            super::layout::fill(op, g, dx, 0.0, n)?;
            run(
                op,
                g,
                name,
                gb.slice()?,
                &self.ids,
                dx,
                [outer, d, m, inner],
            )
        })?;
        Ok(vec![Some(super::tensor(dx, &self.in_shape))])
    }
}
