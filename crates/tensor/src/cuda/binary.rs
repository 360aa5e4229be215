//! Elementwise add, sub, mul, div (and the internal equality test) with broadcasting on the
//! GPU (`kernels/binary.cu`); backward sums the gradient over the broadcast axes.

use cudarc::driver::PushKernelArg;

use super::context::driver_error;
use super::launch::{self, Layout, broadcast_strides};
use super::{Buffer, output};
use crate::backprop::DeviceBackward;
use crate::error::Result;
use crate::shape::broadcast_shapes;
use crate::storage::{Storage, common_device};
use crate::tensor::Tensor;

/// `B_*` of `kernels/binary.cu`.
pub(crate) const ADD: i32 = 0;
/// Subtraction.
pub(crate) const SUB: i32 = 1;
/// Multiplication.
pub(crate) const MUL: i32 = 2;
/// Division.
pub(crate) const DIV: i32 = 3;
/// 1 where equal, else 0 (no gradient; the max backward's tie mask).
pub(crate) const EQ: i32 = 4;

/// `a kind b` broadcast to `shape`.
fn values(op: &'static str, kind: i32, a: &Tensor, b: &Tensor, shape: &[usize]) -> Result<Buffer> {
    let (ab, bb) = (super::buffer(op, a)?, super::buffer(op, b)?);
    let n: usize = shape.iter().product();
    output(op, ab.ordinal(), n, |g, out| {
        let (xs, ys, n64) = (ab.slice()?, bb.slice()?, n as i64);
        let cfg = launch::elementwise(n);
        if a.shape() == b.shape() {
            let f = g.function(op, "binary", "binary_same")?;
            let mut l = g.stream.launch_builder(&f);
            l.arg(&kind).arg(xs).arg(ys).arg(out).arg(&n64);
            // SAFETY: the signature matches `binary_same`; all buffers hold n elements.
            unsafe { l.launch(cfg) }.map(drop).map_err(driver_error(op))
        } else {
            let (sa, sb) = (
                broadcast_strides(a.shape(), shape),
                broadcast_strides(b.shape(), shape),
            );
            let layout = Layout::new(op, shape, &[(&sa, 0), (&sb, 0)])?;
            let f = g.function(op, "binary", "binary_strided")?;
            let mut l = g.stream.launch_builder(&f);
            l.arg(&kind).arg(&layout).arg(xs).arg(ys).arg(out).arg(&n64);
            // SAFETY: the signature matches `binary_strided`; the layout stays inside a and b.
            unsafe { l.launch(cfg) }.map(drop).map_err(driver_error(op))
        }
    })
}

/// A constant `a kind b` (no graph), for backward passes.
pub(crate) fn apply(op: &'static str, kind: i32, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    common_device(op, &[a, b])?;
    let shape = broadcast_shapes(op, a.shape(), b.shape())?;
    Ok(super::tensor(values(op, kind, a, b, &shape)?, &shape))
}

struct Binary {
    kind: i32,
    a: Tensor,
    b: Tensor,
}

// a: (A…), b: (B…) → out: broadcast(A, B)
pub(crate) fn forward(op: &'static str, kind: i32, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    common_device(op, &[a, b])?;
    let shape = broadcast_shapes(op, a.shape(), b.shape())?;
    let out = values(op, kind, a, b, &shape)?;
    let (ad, bd) = (a.detach(), b.detach());
    Ok(Tensor::from_device_op(
        Storage::Cuda(out),
        shape,
        &[a, b],
        move || Box::new(Binary { kind, a: ad, b: bd }),
    ))
}

impl DeviceBackward for Binary {
    // add: (g, g); sub: (g, −g); mul: (g·b, g·a); div: (g/b, −g·a/b²); each summed to its input's shape
    fn backward(&self, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (&self.a, &self.b);
        let ga = match (needs[0], self.kind) {
            (false, _) => None,
            (true, ADD | SUB) => Some(g.clone()),
            (true, MUL) => Some(g.mul(b)?),
            (true, _) => Some(g.div(b)?),
        };
        let gb = match (needs[1], self.kind) {
            (false, _) => None,
            (true, ADD) => Some(g.clone()),
            (true, SUB) => Some(g.neg()),
            (true, MUL) => Some(g.mul(a)?),
            (true, _) => Some(g.mul(a)?.div(b)?.div(b)?.neg()),
        };
        Ok(vec![
            ga.map(|t| super::reduce::sum_to(&t, a.shape()))
                .transpose()?,
            gb.map(|t| super::reduce::sum_to(&t, b.shape()))
                .transpose()?,
        ])
    }
}
