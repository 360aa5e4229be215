//! AdamW over many parameters in one launch (`kernels/adamw.cu`): a table of device
//! addresses (parameter, gradient, two moments) and lengths, and a table of blocks, each
//! updating one chunk of one tensor.

use cudarc::driver::{DevicePtr, DevicePtrMut, LaunchConfig, PushKernelArg};

use super::buffer;
use super::context::{Gpu, driver_error};
use crate::error::Result;
use crate::ops::adamw::AdamWScalars;
use crate::tensor::Tensor;

/// Elements one block updates.
const CHUNK: usize = 4096;
/// Threads per block.
const THREADS: u32 = 256;

/// The device address of a variable's buffer, unshared first so the kernel may write it.
fn writable(op: &'static str, g: &Gpu, t: &Tensor) -> Result<u64> {
    t.update_cuda(op, |b| Ok(b.make_mut(op)?.device_ptr_mut(&g.stream).0))
}

/// One AdamW step for every (param, grad, exp_avg, exp_avg_sq), all on GPU `ordinal`; the
/// caller has checked shapes, devices and that the parameters and moments are variables.
pub(crate) fn adamw_step(
    ordinal: usize,
    params: &[&Tensor],
    grads: &[&Tensor],
    exp_avg: &[&Tensor],
    exp_avg_sq: &[&Tensor],
    s: &AdamWScalars,
) -> Result<()> {
    const OP: &str = "adamw_step";
    let g = super::context::gpu(OP, ordinal)?;
    let mut ptrs = Vec::with_capacity(4 * params.len());
    let mut lens = Vec::with_capacity(params.len());
    let (mut block_tensor, mut block_start) = (Vec::new(), Vec::new());
    for (i, p) in params.iter().enumerate() {
        let n = p.elem_count();
        if n == 0 {
            continue;
        }
        let grad = buffer(OP, grads[i])?;
        ptrs.extend([
            writable(OP, g, p)?,
            grad.slice()?.device_ptr(&g.stream).0,
            writable(OP, g, exp_avg[i])?,
            writable(OP, g, exp_avg_sq[i])?,
        ]);
        for start in (0..n).step_by(CHUNK) {
            block_tensor.push(lens.len() as i32);
            block_start.push(start as i64);
        }
        lens.push(n as i64);
    }
    if block_tensor.is_empty() {
        return Ok(());
    }
    let upload = |e| driver_error(OP)(e);
    let (ptrs, lens) = (
        g.stream.clone_htod(&ptrs).map_err(upload)?,
        g.stream.clone_htod(&lens).map_err(upload)?,
    );
    let (tensors, starts) = (
        g.stream.clone_htod(&block_tensor).map_err(upload)?,
        g.stream.clone_htod(&block_start).map_err(upload)?,
    );
    let f = g.function(OP, "adamw", "adamw_multi")?;
    let chunk = CHUNK as i64;
    let mut l = g.stream.launch_builder(&f);
    l.arg(&ptrs)
        .arg(&lens)
        .arg(&tensors)
        .arg(&starts)
        .arg(&chunk);
    l.arg(&s.decay)
        .arg(&s.w1)
        .arg(&s.beta2)
        .arg(&s.w2)
        .arg(&s.neg_step_size)
        .arg(&s.bc2_sqrt)
        .arg(&s.eps);
    let cfg = LaunchConfig {
        grid_dim: (block_tensor.len() as u32, 1, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    // SAFETY: the signature matches `adamw_multi`; every address points at `lens[i]` floats
    // that live while the caller's tensors do, and each block stays inside its tensor.
    unsafe { l.launch(cfg) }.map(drop).map_err(driver_error(OP))
}
