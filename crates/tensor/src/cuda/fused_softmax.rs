//! Softmax, log-softmax and softmax + cross-entropy on the GPU (`kernels/softmax.cu`,
//! `kernels/cross_entropy.cu`): one block per lane (row), max then sum of exponentials.

use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};

use super::buffer::alloc;
use super::context::driver_error;
use super::fused_norm::{per_row, row_threads};
use super::{Buffer, buffer, output, tensor};
use crate::backprop::DeviceBackward;
use crate::error::Result;
use crate::storage::Storage;
use crate::tensor::Tensor;

/// (lanes, n, inner) of a row-major `shape` normalized along `axis`.
fn lanes(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let n = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    (outer * inner, n, inner)
}

struct Softmax {
    y: Buffer,
    shape: Vec<usize>,
    axis: usize,
    log: bool,
}

// x: (…, n, …) → (…, n, …), normalized along `axis` (already checked)
pub(crate) fn softmax(x: &Tensor, axis: usize, log: bool) -> Result<Tensor> {
    let op = if log { "log_softmax" } else { "softmax" };
    let shape = x.shape().to_vec();
    let (lanes, n, inner) = lanes(&shape, axis);
    let xb = buffer(op, x)?;
    let y = output(op, xb.ordinal(), x.elem_count(), |g, out| {
        let f = g.function(op, "softmax", "softmax_fwd")?;
        let (l32, n32, i32_, log32) = (lanes as i32, n as i32, inner as i32, log as i32);
        let mut l = g.stream.launch_builder(&f);
        l.arg(xb.slice()?)
            .arg(out)
            .arg(&l32)
            .arg(&n32)
            .arg(&i32_)
            .arg(&log32);
        // SAFETY: the signature matches `softmax_fwd`; x and out hold lanes·n values.
        unsafe { l.launch(per_row(lanes, row_threads(n))) }
            .map(drop)
            .map_err(driver_error(op))
    })?;
    let saved = y.clone();
    Ok(Tensor::from_device_op(
        Storage::Cuda(y),
        shape.clone(),
        &[x],
        move || {
            Box::new(Softmax {
                y: saved,
                shape,
                axis,
                log,
            })
        },
    ))
}

impl DeviceBackward for Softmax {
    // softmax: dx = y ⊙ (g − Σ g⊙y);  log_softmax: dx = g − exp(y) Σ g
    fn backward(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let op = if self.log {
            "log_softmax backward"
        } else {
            "softmax backward"
        };
        let (lanes, n, inner) = lanes(&self.shape, self.axis);
        let gb = buffer(op, grad)?;
        let dx = output(op, gb.ordinal(), lanes * n, |g, dx| {
            let f = g.function(op, "softmax", "softmax_bwd")?;
            let (l32, n32, i32_, log32) = (lanes as i32, n as i32, inner as i32, self.log as i32);
            let mut l = g.stream.launch_builder(&f);
            l.arg(self.y.slice()?)
                .arg(gb.slice()?)
                .arg(dx)
                .arg(&l32)
                .arg(&n32)
                .arg(&i32_)
                .arg(&log32);
            // SAFETY: the signature matches `softmax_bwd`; y, g and dx hold lanes·n values.
            unsafe { l.launch(per_row(lanes, row_threads(n))) }
                .map(drop)
                .map_err(driver_error(op))
        })?;
        Ok(vec![Some(tensor(dx, &self.shape))])
    }
}

struct CrossEntropy {
    logits: Tensor,
    targets: CudaSlice<i32>,
    stats: CudaSlice<f32>,
    inv_count: f32,
}

// logits: (…, V), targets: one per row, checked, `None` ignored → scalar ()
pub(crate) fn cross_entropy(logits: &Tensor, targets: &[Option<usize>]) -> Result<Tensor> {
    const OP: &str = "cross_entropy";
    let v = logits.shape()[logits.rank() - 1];
    let rows = targets.len();
    let count = targets.iter().flatten().count();
    let inv_count = if count == 0 { 0.0 } else { 1.0 / count as f64 };
    let xb = buffer(OP, logits)?;
    let g = xb.gpu(OP)?;
    // −1 marks an ignored row; one entry at least, as the driver allocates nothing smaller
    let mut host: Vec<i32> = targets.iter().map(|t| t.map_or(-1, |t| t as i32)).collect();
    if host.is_empty() {
        host.push(-1);
    }
    let t = g.stream.clone_htod(&host).map_err(driver_error(OP))?;
    let mut stats = alloc(OP, g, 2 * rows)?;
    let mut row_loss = alloc(OP, g, rows)?;
    let (rows32, v32) = (rows as i32, v as i32);
    let f = g.function(OP, "cross_entropy", "cross_entropy_fwd")?;
    let mut l = g.stream.launch_builder(&f);
    l.arg(xb.slice()?)
        .arg(&t)
        .arg(&mut stats)
        .arg(&mut row_loss)
        .arg(&rows32)
        .arg(&v32);
    // SAFETY: the signature matches `cross_entropy_fwd`; x holds rows·V values, t rows targets
    // in 0..V or −1, stats 2·rows, row_loss rows.
    unsafe { l.launch(per_row(rows, row_threads(v))) }.map_err(driver_error(OP))?;
    let loss = output(OP, xb.ordinal(), 1, |g, out| {
        let f = g.function(OP, "cross_entropy", "cross_entropy_mean")?;
        let mut l = g.stream.launch_builder(&f);
        l.arg(&row_loss).arg(out).arg(&rows32).arg(&inv_count);
        let cfg = LaunchConfig {
            grid_dim: (1, 1, 1),
            block_dim: (1024, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the signature matches `cross_entropy_mean`; one block of 1024 (a power of two).
        unsafe { l.launch(cfg) }.map(drop).map_err(driver_error(OP))
    })?;
    let x = logits.detach();
    let inv_count = inv_count as f32;
    Ok(Tensor::from_device_op(
        Storage::Cuda(loss),
        Vec::new(),
        &[logits],
        move || {
            Box::new(CrossEntropy {
                logits: x,
                targets: t,
                stats,
                inv_count,
            })
        },
    ))
}

impl DeviceBackward for CrossEntropy {
    // d logits = g/count · (softmax(x) − onehot(t)) on counted rows, 0 on ignored rows
    fn backward(&self, grad: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "cross_entropy backward";
        let shape = self.logits.shape();
        let v = shape[shape.len() - 1];
        let rows = self.logits.elem_count() / v;
        let (xb, gb) = (buffer(OP, &self.logits)?, buffer(OP, grad)?);
        let dx = output(OP, xb.ordinal(), rows * v, |g, dx| {
            let f = g.function(OP, "cross_entropy", "cross_entropy_bwd")?;
            let (rows32, v32) = (rows as i32, v as i32);
            let mut l = g.stream.launch_builder(&f);
            l.arg(xb.slice()?)
                .arg(&self.targets)
                .arg(&self.stats)
                .arg(gb.slice()?)
                .arg(dx)
                .arg(&rows32)
                .arg(&v32)
                .arg(&self.inv_count);
            // SAFETY: the signature matches `cross_entropy_bwd`; g is the loss's one-element gradient.
            unsafe { l.launch(per_row(rows, row_threads(v))) }
                .map(drop)
                .map_err(driver_error(OP))
        })?;
        Ok(vec![Some(tensor(dx, shape))])
    }
}
