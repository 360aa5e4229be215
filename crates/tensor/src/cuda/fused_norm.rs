//! Layer norm and RMS norm on the GPU (`kernels/layer_norm.cu`, `kernels/rms_norm.cu`): one
//! block per row for the forward and for dx; dw and db as per-chunk column sums, then a sum
//! over the chunks (no atomics, so the same bits on every run).

use cudarc::driver::{CudaSlice, DevicePtr, LaunchConfig, PushKernelArg};

use super::buffer::alloc;
use super::context::{Gpu, driver_error};
use super::{Buffer, buffer, output, tensor};
use crate::backprop::DeviceBackward;
use crate::error::Result;
use crate::storage::{Storage, common_device};
use crate::tensor::Tensor;

/// The fewest rows one block of the column-sum stage sums.
const MIN_ROWS_PER_CHUNK: usize = 32;

/// Rows per chunk of the column sums: about √rows, so that both stages have work for many
/// blocks and neither loops long.
fn rows_per_chunk(rows: usize) -> usize {
    ((rows as f64).sqrt().ceil() as usize).max(MIN_ROWS_PER_CHUNK)
}
/// Threads (columns) per block of the column-sum stage.
const COLUMN_THREADS: u32 = 256;

/// One block of `threads` per row, for `rows` rows.
pub(crate) fn per_row(rows: usize, threads: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (rows.max(1) as u32, 1, 1),
        block_dim: (threads, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Threads per row block: a warp per 128 values of the row, 64 to 1024.
pub(crate) fn row_threads(c: usize) -> u32 {
    (c.div_ceil(128) * 32).next_power_of_two().clamp(64, 1024) as u32
}

/// The device address of an optional buffer, 0 (null) when absent.
fn address(g: &Gpu, b: Option<&Buffer>) -> Result<u64> {
    Ok(match b {
        Some(b) => b.slice()?.device_ptr(&g.stream).0,
        None => 0,
    })
}

/// Column sums (C) of an (rows, C) product computed by `partial` into (chunks, C) partials.
/// `partial` receives the launch grid and the partial buffers it must write.
fn column_sums(
    op: &'static str,
    g: &'static Gpu,
    module: &'static str,
    rows: usize,
    c: usize,
    outputs: usize,
    partial: impl FnOnce(LaunchConfig, &[CudaSlice<f32>]) -> Result<()>,
) -> Result<Vec<CudaSlice<f32>>> {
    let chunks = rows.div_ceil(rows_per_chunk(rows)).max(1);
    let parts: Vec<CudaSlice<f32>> = (0..outputs)
        .map(|_| alloc(op, g, chunks * c))
        .collect::<Result<_>>()?;
    let grid = (c.div_ceil(COLUMN_THREADS as usize) as u32, chunks as u32, 1);
    let cfg = LaunchConfig {
        grid_dim: grid,
        block_dim: (COLUMN_THREADS, 1, 1),
        shared_mem_bytes: 0,
    };
    partial(cfg, &parts)?;
    let sum = g.function(
        op,
        module,
        if module == "layer_norm" {
            "layer_norm_column_sum"
        } else {
            "rms_norm_column_sum"
        },
    )?;
    parts
        .iter()
        .map(|part| {
            let mut out = alloc(op, g, c)?;
            let (chunks, c32) = (chunks as i32, c as i32);
            let cfg = LaunchConfig {
                grid_dim: (grid.0, 1, 1),
                block_dim: (COLUMN_THREADS, 1, 1),
                shared_mem_bytes: 0,
            };
            let mut l = g.stream.launch_builder(&sum);
            l.arg(part).arg(&mut out).arg(&chunks).arg(&c32);
            // SAFETY: the signature matches `*_column_sum`; part holds chunks·C values, out C.
            unsafe { l.launch(cfg) }.map_err(driver_error(op))?;
            Ok(out)
        })
        .collect()
}

struct LayerNorm {
    x: Tensor,
    weight: Option<Tensor>,
    mean: Buffer,
    rstd: Buffer,
}

// x: (…, C), weight: (C), bias: (C) → (…, C); the caller has checked shapes and devices
pub(crate) fn layer_norm(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f32,
) -> Result<Tensor> {
    const OP: &str = "layer_norm";
    let mut inputs = vec![x];
    inputs.extend(weight);
    inputs.extend(bias);
    common_device(OP, &inputs)?;
    let c = x.shape()[x.rank() - 1];
    let rows = x.elem_count() / c;
    let xb = buffer(OP, x)?;
    let (wb, bb) = (
        weight.map(|w| buffer(OP, w)).transpose()?,
        bias.map(|b| buffer(OP, b)).transpose()?,
    );
    let g = xb.gpu(OP)?;
    let (mut mean, mut rstd) = (alloc(OP, g, rows)?, alloc(OP, g, rows)?);
    let y = output(OP, xb.ordinal(), rows * c, |g, out| {
        let f = g.function(OP, "layer_norm", "layer_norm_fwd")?;
        let (wp, bp) = (address(g, wb.as_ref())?, address(g, bb.as_ref())?);
        let (rows32, c32) = (rows as i32, c as i32);
        let mut l = g.stream.launch_builder(&f);
        l.arg(xb.slice()?)
            .arg(&wp)
            .arg(&bp)
            .arg(out)
            .arg(&mut mean)
            .arg(&mut rstd)
            .arg(&rows32)
            .arg(&c32)
            .arg(&eps);
        // SAFETY: the signature matches `layer_norm_fwd`; x and out hold rows·C values, w and b C or are null.
        unsafe { l.launch(per_row(rows, row_threads(c))) }
            .map(drop)
            .map_err(driver_error(OP))
    })?;
    let (mean, rstd) = (
        Buffer::new(xb.ordinal(), rows, mean),
        Buffer::new(xb.ordinal(), rows, rstd),
    );
    let (xd, wd) = (x.detach(), weight.map(Tensor::detach));
    Ok(Tensor::from_device_op(
        Storage::Cuda(y),
        x.shape().to_vec(),
        &inputs,
        move || {
            Box::new(LayerNorm {
                x: xd,
                weight: wd,
                mean,
                rstd,
            })
        },
    ))
}

impl DeviceBackward for LayerNorm {
    // dx̂ = g⊙w;  dx = rstd·(dx̂ − mean(dx̂) − x̂·mean(dx̂⊙x̂));  dw = Σ g⊙x̂;  db = Σ g
    fn backward(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "layer_norm backward";
        let shape = self.x.shape();
        let c = shape[shape.len() - 1];
        let rows = self.x.elem_count() / c;
        let (xb, gb) = (buffer(OP, &self.x)?, buffer(OP, grad)?);
        let wb = self.weight.as_ref().map(|w| buffer(OP, w)).transpose()?;
        let (ordinal, g) = (xb.ordinal(), xb.gpu(OP)?);
        let (rows32, c32) = (rows as i32, c as i32);
        let mut out = vec![None];
        if needs[0] {
            let dx = output(OP, ordinal, rows * c, |g, dx| {
                let f = g.function(OP, "layer_norm", "layer_norm_bwd_dx")?;
                let wp = address(g, wb.as_ref())?;
                let mut l = g.stream.launch_builder(&f);
                l.arg(gb.slice()?)
                    .arg(xb.slice()?)
                    .arg(&wp)
                    .arg(self.mean.slice()?)
                    .arg(self.rstd.slice()?)
                    .arg(dx)
                    .arg(&rows32)
                    .arg(&c32);
                // SAFETY: the signature matches `layer_norm_bwd_dx`; g, x, dx hold rows·C values.
                unsafe { l.launch(per_row(rows, row_threads(c))) }
                    .map(drop)
                    .map_err(driver_error(OP))
            })?;
            out[0] = Some(tensor(dx, shape));
        }
        let (need_w, need_b) = (
            needs.get(1).copied().unwrap_or(false),
            needs.get(2).copied().unwrap_or(false),
        );
        if need_w || need_b {
            let sums = column_sums(OP, g, "layer_norm", rows, c, 2, |cfg, parts| {
                let f = g.function(OP, "layer_norm", "layer_norm_bwd_partial")?;
                let chunk = rows_per_chunk(rows) as i32;
                let mut l = g.stream.launch_builder(&f);
                l.arg(gb.slice()?)
                    .arg(xb.slice()?)
                    .arg(self.mean.slice()?)
                    .arg(self.rstd.slice()?);
                l.arg(&parts[0])
                    .arg(&parts[1])
                    .arg(&rows32)
                    .arg(&c32)
                    .arg(&chunk);
                // SAFETY: the signature matches `layer_norm_bwd_partial`; each part holds chunks·C values.
                unsafe { l.launch(cfg) }.map(drop).map_err(driver_error(OP))
            })?;
            let [dw, db]: [CudaSlice<f32>; 2] = sums
                .try_into()
                .map_err(|_| crate::TensorError::cuda(OP, "two column sums expected"))?;
            if needs.len() > 1 {
                out.push(need_w.then(|| tensor(Buffer::new(ordinal, c, dw), &[c])));
            }
            if needs.len() > 2 {
                out.push(need_b.then(|| tensor(Buffer::new(ordinal, c, db), &[c])));
            }
        } else {
            out.extend(needs.iter().skip(1).map(|_| None));
        }
        Ok(out)
    }
}

struct RmsNorm {
    x: Tensor,
    weight: Tensor,
    rstd: Buffer,
}

// x: (…, C), weight: (C) → (…, C); the caller has checked shapes and devices
pub(crate) fn rms_norm(x: &Tensor, weight: &Tensor, eps: f32) -> Result<Tensor> {
    const OP: &str = "rms_norm";
    common_device(OP, &[x, weight])?;
    let c = x.shape()[x.rank() - 1];
    let rows = x.elem_count() / c;
    let (xb, wb) = (buffer(OP, x)?, buffer(OP, weight)?);
    let mut rstd = alloc(OP, xb.gpu(OP)?, rows)?;
    let y = output(OP, xb.ordinal(), rows * c, |g, out| {
        let f = g.function(OP, "rms_norm", "rms_norm_fwd")?;
        let (rows32, c32) = (rows as i32, c as i32);
        let mut l = g.stream.launch_builder(&f);
        l.arg(xb.slice()?)
            .arg(wb.slice()?)
            .arg(out)
            .arg(&mut rstd)
            .arg(&rows32)
            .arg(&c32)
            .arg(&eps);
        // SAFETY: the signature matches `rms_norm_fwd`; x and out hold rows·C values, w C.
        unsafe { l.launch(per_row(rows, row_threads(c))) }
            .map(drop)
            .map_err(driver_error(OP))
    })?;
    let rstd = Buffer::new(xb.ordinal(), rows, rstd);
    let (xd, wd) = (x.detach(), weight.detach());
    Ok(Tensor::from_device_op(
        Storage::Cuda(y),
        x.shape().to_vec(),
        &[x, weight],
        move || {
            Box::new(RmsNorm {
                x: xd,
                weight: wd,
                rstd,
            })
        },
    ))
}

impl DeviceBackward for RmsNorm {
    // x̂ = x·rstd;  dx̂ = g⊙w;  dx = rstd·(dx̂ − x̂·mean(dx̂⊙x̂));  dw = Σ g⊙x̂
    fn backward(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "rms_norm backward";
        let shape = self.x.shape();
        let c = shape[shape.len() - 1];
        let rows = self.x.elem_count() / c;
        let (xb, gb, wb) = (
            buffer(OP, &self.x)?,
            buffer(OP, grad)?,
            buffer(OP, &self.weight)?,
        );
        let (ordinal, g) = (xb.ordinal(), xb.gpu(OP)?);
        let (rows32, c32) = (rows as i32, c as i32);
        let dx = if needs[0] {
            let dx = output(OP, ordinal, rows * c, |g, dx| {
                let f = g.function(OP, "rms_norm", "rms_norm_bwd_dx")?;
                let mut l = g.stream.launch_builder(&f);
                l.arg(gb.slice()?)
                    .arg(xb.slice()?)
                    .arg(wb.slice()?)
                    .arg(self.rstd.slice()?)
                    .arg(dx)
                    .arg(&rows32)
                    .arg(&c32);
                // SAFETY: the signature matches `rms_norm_bwd_dx`; g, x, dx hold rows·C values.
                unsafe { l.launch(per_row(rows, row_threads(c))) }
                    .map(drop)
                    .map_err(driver_error(OP))
            })?;
            Some(tensor(dx, shape))
        } else {
            None
        };
        let dw = if needs[1] {
            let mut sums = column_sums(OP, g, "rms_norm", rows, c, 1, |cfg, parts| {
                let f = g.function(OP, "rms_norm", "rms_norm_bwd_partial")?;
                let chunk = rows_per_chunk(rows) as i32;
                let mut l = g.stream.launch_builder(&f);
                l.arg(gb.slice()?)
                    .arg(xb.slice()?)
                    .arg(self.rstd.slice()?)
                    .arg(&parts[0])
                    .arg(&rows32)
                    .arg(&c32)
                    .arg(&chunk);
                // SAFETY: the signature matches `rms_norm_bwd_partial`; the part holds chunks·C values.
                unsafe { l.launch(cfg) }.map(drop).map_err(driver_error(OP))
            })?;
            sums.pop()
                .map(|dw| tensor(Buffer::new(ordinal, c, dw), &[c]))
        } else {
            None
        };
        Ok(vec![dx, dw])
    }
}
