//! `masked_fill` and `where_cond` on the GPU (`kernels/mask.cu`): the host mask is copied to
//! the GPU as bytes and read with broadcast strides.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, PushKernelArg};

use super::context::driver_error;
use super::launch::{self, Layout, broadcast_strides};
use super::output;
use crate::backprop::DeviceBackward;
use crate::error::Result;
use crate::ops::mask::Mask;
use crate::shape::broadcast_shapes;
use crate::storage::{Storage, common_device};
use crate::tensor::Tensor;

/// A mask on a GPU: its bytes and shape.
#[derive(Clone)]
struct DeviceMask {
    bytes: Arc<CudaSlice<u8>>,
    shape: Vec<usize>,
}

fn upload(op: &'static str, mask: &Mask, ordinal: usize) -> Result<DeviceMask> {
    let g = super::context::gpu(op, ordinal)?;
    let mut bytes: Vec<u8> = mask.to_vec().into_iter().map(u8::from).collect();
    if bytes.is_empty() {
        bytes.push(0);
    }
    let bytes = Arc::new(g.stream.clone_htod(&bytes).map_err(driver_error(op))?);
    Ok(DeviceMask {
        bytes,
        shape: mask.shape().to_vec(),
    })
}

/// `mask ? on_true : on_false` broadcast to `shape`, as a constant.
fn select(
    op: &'static str,
    mask: &DeviceMask,
    on_true: &Tensor,
    on_false: &Tensor,
    shape: &[usize],
) -> Result<Tensor> {
    let (tb, fb) = (super::buffer(op, on_true)?, super::buffer(op, on_false)?);
    let (sm, st, sf) = (
        broadcast_strides(&mask.shape, shape),
        broadcast_strides(on_true.shape(), shape),
        broadcast_strides(on_false.shape(), shape),
    );
    let layout = Layout::new(op, shape, &[(&sm, 0), (&st, 0), (&sf, 0)])?;
    let n: usize = shape.iter().product();
    let out = output(op, tb.ordinal(), n, |g, out| {
        if n == 0 {
            return Ok(());
        }
        let f = g.function(op, "mask", "where_select")?;
        let (ts, fs, n64) = (tb.slice()?, fb.slice()?, n as i64);
        let mut l = g.stream.launch_builder(&f);
        l.arg(&layout)
            .arg(mask.bytes.as_ref())
            .arg(ts)
            .arg(fs)
            .arg(out)
            .arg(&n64);
        // SAFETY: the signature matches `where_select`; the layout stays inside each operand.
        unsafe { l.launch(launch::elementwise(n)) }
            .map(drop)
            .map_err(driver_error(op))
    })?;
    Ok(super::tensor(out, shape))
}

/// The gradient of a selection: `g` where the mask picks an input, summed to its shape.
struct Select {
    mask: DeviceMask,
    /// The shapes of (on_true, on_false); `None` for `masked_fill`'s constant.
    shapes: [Option<Vec<usize>>; 2],
}

// x: (D…), mask: broadcasts to (D…) → (D…)
pub(crate) fn masked_fill(t: &Tensor, mask: &Mask, value: f32) -> Result<Tensor> {
    let op = "masked_fill";
    let x = super::buffer(op, t)?;
    let mask = upload(op, mask, x.ordinal())?;
    let fill = super::layout::full(op, x.ordinal(), &[], value)?;
    let out = select(op, &mask, &fill, t, t.shape())?;
    let data = super::buffer(op, &out)?;
    let shapes = [None, Some(t.shape().to_vec())];
    Ok(Tensor::from_device_op(
        Storage::Cuda(data),
        t.shape().to_vec(),
        &[t],
        move || Box::new(Select { mask, shapes }),
    ))
}

// mask, on_true, on_false: broadcast together to (D…) → (D…)
pub(crate) fn where_cond(mask: &Mask, on_true: &Tensor, on_false: &Tensor) -> Result<Tensor> {
    let op = "where_cond";
    let ordinal = match common_device(op, &[on_true, on_false])? {
        crate::Device::Cuda(n) => n,
        _ => 0,
    };
    let shape = broadcast_shapes(op, on_true.shape(), on_false.shape())?;
    let shape = broadcast_shapes(op, &shape, mask.shape())?;
    let dm = upload(op, mask, ordinal)?;
    let out = super::buffer(op, &select(op, &dm, on_true, on_false, &shape)?)?;
    let shapes = [
        Some(on_true.shape().to_vec()),
        Some(on_false.shape().to_vec()),
    ];
    Ok(Tensor::from_device_op(
        Storage::Cuda(out),
        shape,
        &[on_true, on_false],
        move || Box::new(Select { mask: dm, shapes }),
    ))
}

impl DeviceBackward for Select {
    fn backward(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let op = "mask backward";
        let zero = super::layout::full(op, super::buffer(op, g)?.ordinal(), &[], 0.0)?;
        let mut grads = Vec::new();
        // masked_fill records one input (on_false); where_cond two
        let inputs = self
            .shapes
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i == 0, s)));
        for ((picks_true, shape), &need) in inputs.zip(needs) {
            grads.push(if need {
                let full = if picks_true {
                    select(op, &self.mask, g, &zero, g.shape())?
                } else {
                    select(op, &self.mask, &zero, g, g.shape())?
                };
                Some(super::reduce::sum_to(&full, shape)?)
            } else {
                None
            });
        }
        Ok(grads)
    }
}
