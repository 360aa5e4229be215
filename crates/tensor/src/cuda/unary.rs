//! Elementwise functions on the GPU (`kernels/unary.cu`): the kinds of `ops/unary.rs`, with
//! the same arithmetic.

use cudarc::driver::PushKernelArg;

use super::context::driver_error;
use super::{Buffer, launch, output};
use crate::backprop::DeviceBackward;
use crate::error::Result;
use crate::storage::Storage;
use crate::tensor::Tensor;

/// A unary function as the kernel knows it: its `K_*` number and scalar parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Code {
    /// The `K_*` constant of `kernels/unary.cu`.
    pub(crate) kind: i32,
    /// The scalar of `add_scalar`, `mul_scalar` and `powf` (else unused).
    pub(crate) c: f32,
}

/// y = f(x) on the GPU.
fn values(code: Code, x: &Buffer) -> Result<Buffer> {
    let n = x.len();
    output("unary", x.ordinal(), n, |g, y| {
        let f = g.function("unary", "unary", "unary_forward")?;
        let (xs, n64) = (x.slice()?, n as i64);
        let mut b = g.stream.launch_builder(&f);
        b.arg(&code.kind).arg(&code.c).arg(xs).arg(y).arg(&n64);
        // SAFETY: the signature matches `unary_forward`; x and y hold n elements.
        unsafe { b.launch(launch::elementwise(n)) }
            .map(drop)
            .map_err(driver_error("unary"))
    })
}

struct Unary {
    code: Code,
    x: Buffer,
    y: Buffer,
}

// x: (D…) → (D…)
pub(crate) fn forward(code: Code, t: &Tensor, x: &Buffer) -> Tensor {
    let y = Buffer::or_failed(x.ordinal(), x.len(), values(code, x));
    let (xc, yc) = (x.clone(), y.clone());
    Tensor::from_device_op(Storage::Cuda(y), t.shape().to_vec(), &[t], move || {
        Box::new(Unary { code, x: xc, y: yc })
    })
}

impl DeviceBackward for Unary {
    fn backward(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let gb = super::buffer("unary backward", grad)?;
        let n = gb.len();
        let dx = output("unary backward", gb.ordinal(), n, |g, dx| {
            let f = g.function("unary backward", "unary", "unary_backward")?;
            let (gs, xs, ys, n64) = (gb.slice()?, self.x.slice()?, self.y.slice()?, n as i64);
            let mut b = g.stream.launch_builder(&f);
            b.arg(&self.code.kind)
                .arg(&self.code.c)
                .arg(gs)
                .arg(xs)
                .arg(ys)
                .arg(dx)
                .arg(&n64);
            // SAFETY: the signature matches `unary_backward`; all buffers hold n elements.
            unsafe { b.launch(launch::elementwise(n)) }
                .map(drop)
                .map_err(driver_error("unary backward"))
        })?;
        Ok(vec![Some(super::tensor(dx, grad.shape()))])
    }
}
