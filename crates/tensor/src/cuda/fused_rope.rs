//! Rotary position embedding on the GPU (`kernels/rope.cu`): one thread per element; the
//! backward is the same kernel rotating by the opposite angle.

use cudarc::driver::PushKernelArg;

use super::context::driver_error;
use super::launch::elementwise;
use super::{Buffer, buffer, output, tensor};
use crate::backprop::DeviceBackward;
use crate::error::Result;
use crate::storage::{Storage, common_device};
use crate::tensor::Tensor;

/// y = rotation of x `[B, H, T, D]` by the tables `[B or 1, T, D/2]`, by `sign` times the angle.
fn rotate(
    op: &'static str,
    x: &Buffer,
    shape: &[usize],
    cos: &Buffer,
    sin: &Buffer,
    per_batch: bool,
    sign: f32,
) -> Result<Buffer> {
    let n: usize = shape.iter().product();
    output(op, x.ordinal(), n, |g, out| {
        let f = g.function(op, "rope", "rope")?;
        let [b, h, t, d] = [
            shape[0] as i32,
            shape[1] as i32,
            shape[2] as i32,
            shape[3] as i32,
        ];
        let per_batch = per_batch as i32;
        let mut l = g.stream.launch_builder(&f);
        l.arg(x.slice()?)
            .arg(cos.slice()?)
            .arg(sin.slice()?)
            .arg(out);
        l.arg(&b).arg(&h).arg(&t).arg(&d).arg(&per_batch).arg(&sign);
        // SAFETY: the signature matches `rope`; x and out hold B·H·T·D values, the tables (B or 1)·T·D/2.
        unsafe { l.launch(elementwise(n)) }
            .map(drop)
            .map_err(driver_error(op))
    })
}

struct Rope {
    shape: Vec<usize>,
    cos: Buffer,
    sin: Buffer,
    per_batch: bool,
}

// x: (B, H, T, D), cos and sin: (B or 1, T, D/2) → (B, H, T, D); shapes and devices checked
pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    const OP: &str = "rope";
    common_device(OP, &[x, cos, sin])?;
    let (xb, cb, sb) = (buffer(OP, x)?, buffer(OP, cos)?, buffer(OP, sin)?);
    let shape = x.shape().to_vec();
    let per_batch = cos.shape()[0] == shape[0] && shape[0] > 1;
    let y = rotate(OP, &xb, &shape, &cb, &sb, per_batch, 1.0)?;
    Ok(Tensor::from_device_op(
        Storage::Cuda(y),
        shape.clone(),
        &[x],
        move || {
            Box::new(Rope {
                shape,
                cos: cb,
                sin: sb,
                per_batch,
            })
        },
    ))
}

impl DeviceBackward for Rope {
    // the rotation is orthogonal: dx = Rᵀ·g, the rotation by the opposite angle
    fn backward(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "rope backward";
        let dx = rotate(
            OP,
            &buffer(OP, grad)?,
            &self.shape,
            &self.cos,
            &self.sin,
            self.per_batch,
            -1.0,
        )?;
        Ok(vec![Some(tensor(dx, &self.shape))])
    }
}
