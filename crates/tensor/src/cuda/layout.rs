//! Layout ops on the GPU: reshape shares the buffer; permute, narrow and broadcast
//! materialise a contiguous copy with `kernels/layout.cu`'s strided copy; backward undoes the
//! move.

use cudarc::driver::{CudaSlice, PushKernelArg};

use super::context::{Gpu, driver_error};
use super::launch::{self, Layout, broadcast_strides, contiguous_strides};
use super::{Buffer, output};
use crate::backprop::DeviceBackward;
use crate::error::Result;
use crate::storage::Storage;
use crate::tensor::Tensor;

/// Copies the index space `shape` from `src` (read with `src_strides` from `src_offset`) to
/// `dst` (written with `dst_strides` from `dst_offset`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn copy(
    op: &'static str,
    g: &Gpu,
    shape: &[usize],
    src: &CudaSlice<f32>,
    src_view: (&[i64], i64),
    dst: &mut CudaSlice<f32>,
    dst_view: (&[i64], i64),
) -> Result<()> {
    let n: usize = shape.iter().product();
    if n == 0 {
        return Ok(());
    }
    let layout = Layout::new(op, shape, &[src_view, dst_view])?;
    let f = g.function(op, "layout", "strided_copy")?;
    let n64 = n as i64;
    let mut l = g.stream.launch_builder(&f);
    l.arg(&layout).arg(src).arg(dst).arg(&n64);
    // SAFETY: the signature matches `strided_copy`; both views stay inside their buffers.
    unsafe { l.launch(launch::elementwise(n)) }
        .map(drop)
        .map_err(driver_error(op))
}

/// Sets `n` elements of `dst` to `value`.
pub(crate) fn fill(
    op: &'static str,
    g: &Gpu,
    dst: &mut CudaSlice<f32>,
    value: f32,
    n: usize,
) -> Result<()> {
    let f = g.function(op, "layout", "fill")?;
    let n64 = n as i64;
    let mut l = g.stream.launch_builder(&f);
    l.arg(&value).arg(dst).arg(&n64);
    // SAFETY: the signature matches `fill`; dst holds n elements.
    unsafe { l.launch(launch::elementwise(n)) }
        .map(drop)
        .map_err(driver_error(op))
}

/// A contiguous copy of the view `shape` of `x` with `strides` from `offset`.
pub(crate) fn gather_view(
    op: &'static str,
    x: &Buffer,
    shape: &[usize],
    strides: &[i64],
    offset: i64,
) -> Result<Buffer> {
    let n: usize = shape.iter().product();
    output(op, x.ordinal(), n, |g, out| {
        copy(
            op,
            g,
            shape,
            x.slice()?,
            (strides, offset),
            out,
            (&contiguous_strides(shape), 0),
        )
    })
}

/// A GPU tensor of `shape` filled with `value` on GPU `ordinal`.
pub(crate) fn full(
    op: &'static str,
    ordinal: usize,
    shape: &[usize],
    value: f32,
) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let b = output(op, ordinal, n, |g, out| fill(op, g, out, value, n))?;
    Ok(super::tensor(b, shape))
}

/// Undoes a reshape (and squeeze, unsqueeze, contiguous).
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

// x: (D…) → (shape…), the same buffer
pub(crate) fn reshape(t: &Tensor, x: Buffer, shape: &[usize]) -> Tensor {
    let in_shape = t.shape().to_vec();
    Tensor::from_device_op(Storage::Cuda(x), shape.to_vec(), &[t], move || {
        Box::new(Reshape { in_shape })
    })
}

// x: (D…) → (D[axes[0]], D[axes[1]], …)
pub(crate) fn permute(
    t: &Tensor,
    x: &Buffer,
    axes: &[usize],
    inverse: Vec<usize>,
) -> Result<Tensor> {
    let own = contiguous_strides(t.shape());
    let shape: Vec<usize> = axes.iter().map(|&a| t.shape()[a]).collect();
    let strides: Vec<i64> = axes.iter().map(|&a| own[a]).collect();
    let out = gather_view("permute", x, &shape, &strides, 0)?;
    Ok(Tensor::from_device_op(
        Storage::Cuda(out),
        shape,
        &[t],
        move || Box::new(Permute { inverse }),
    ))
}

// x: (…, D, …) → (…, len, …) along `axis`
pub(crate) fn narrow(
    t: &Tensor,
    x: &Buffer,
    axis: usize,
    start: usize,
    len: usize,
) -> Result<Tensor> {
    let strides = contiguous_strides(t.shape());
    let mut shape = t.shape().to_vec();
    shape[axis] = len;
    let out = gather_view("narrow", x, &shape, &strides, start as i64 * strides[axis])?;
    let in_shape = t.shape().to_vec();
    Ok(Tensor::from_device_op(
        Storage::Cuda(out),
        shape,
        &[t],
        move || {
            Box::new(Narrow {
                in_shape,
                axis,
                start,
            })
        },
    ))
}

// x: (D…) → (shape…), broadcast
pub(crate) fn broadcast_as(t: &Tensor, x: &Buffer, shape: &[usize]) -> Result<Tensor> {
    let out = gather_view(
        "broadcast_as",
        x,
        shape,
        &broadcast_strides(t.shape(), shape),
        0,
    )?;
    let in_shape = t.shape().to_vec();
    Ok(Tensor::from_device_op(
        Storage::Cuda(out),
        shape.to_vec(),
        &[t],
        move || Box::new(Broadcast { in_shape }),
    ))
}

impl DeviceBackward for Reshape {
    fn backward(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.reshape(&self.in_shape)?)])
    }
}

impl DeviceBackward for Permute {
    fn backward(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.permute(&self.inverse)?)])
    }
}

impl DeviceBackward for Narrow {
    // g: (…, len, …) → zeros (…, D, …) with g written at start..start+len
    fn backward(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let gb = super::buffer("narrow backward", g)?;
        let n: usize = self.in_shape.iter().product();
        let full_strides = contiguous_strides(&self.in_shape);
        let offset = self.start as i64 * full_strides[self.axis];
        let out = output("narrow backward", gb.ordinal(), n, |gpu, out| {
            fill("narrow backward", gpu, out, 0.0, n)?;
            copy(
                "narrow backward",
                gpu,
                g.shape(),
                gb.slice()?,
                (&contiguous_strides(g.shape()), 0),
                out,
                (&full_strides, offset),
            )
        })?;
        Ok(vec![Some(super::tensor(out, &self.in_shape))])
    }
}

impl DeviceBackward for Broadcast {
    fn backward(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(super::reduce::sum_to(g, &self.in_shape)?)])
    }
}
