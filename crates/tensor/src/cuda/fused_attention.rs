//! Scaled dot-product attention on the GPU (`kernels/attention.cu`): a flash-style kernel
//! that walks tiles of 32 keys with an online softmax and stores each query row's
//! log-sum-exp; the backward recomputes the weights from it (one pass for dK and dV, one for
//! dQ, so no atomics). Under bf16 autocast the kernels round q, k, v and dO to bf16 and
//! accumulate in f32.

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::buffer::alloc;
use super::context::driver_error;
use super::{Buffer, buffer, output, tensor};
use crate::backprop::DeviceBackward;
use crate::error::Result;
use crate::storage::Storage;
use crate::tensor::Tensor;

/// The largest head dimension the kernels hold in registers.
pub(crate) const MAX_HEAD_DIM: usize = 128;
/// Rows (queries or keys) per block.
const TILE: usize = 32;
/// Threads per block: 8 warps of 4 rows.
const THREADS: u32 = 256;

/// The launch over `bh` heads and `rows` rows in tiles of 32.
fn grid(bh: usize, rows: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (bh as u32, rows.div_ceil(TILE).max(1) as u32, 1),
        block_dim: (THREADS, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// The shapes of one attention call.
#[derive(Clone, Copy)]
struct Dims {
    bh: usize,
    tq: usize,
    tk: usize,
    d: usize,
    causal: bool,
    scale: f32,
    bf16: bool,
}

impl Dims {
    /// (Tq, Tk, D, causal) as the kernels take them.
    fn args(&self) -> (i32, i32, i32, i32) {
        (
            self.tq as i32,
            self.tk as i32,
            self.d as i32,
            self.causal as i32,
        )
    }

    /// The kernel `base`_f32 or `base`_bf16.
    fn kernel(&self, f32_name: &'static str, bf16_name: &'static str) -> &'static str {
        if self.bf16 { bf16_name } else { f32_name }
    }
}

struct Attention {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Buffer,
    lse: Buffer,
    dims: Dims,
}

// q: (B, H, Tq, D), k and v: (B, H, Tk, D) → (B, H, Tq, D); shapes (D ≤ 128) and devices checked
pub(crate) fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    causal: bool,
    scale: f32,
    bf16: bool,
) -> Result<Tensor> {
    const OP: &str = "scaled_dot_product_attention";
    let s = q.shape();
    let dims = Dims {
        bh: s[0] * s[1],
        tq: s[2],
        tk: k.shape()[2],
        d: s[3],
        causal,
        scale,
        bf16,
    };
    let (qb, kb, vb) = (buffer(OP, q)?, buffer(OP, k)?, buffer(OP, v)?);
    let mut lse = alloc(OP, qb.gpu(OP)?, dims.bh * dims.tq)?;
    let out = output(OP, qb.ordinal(), dims.bh * dims.tq * dims.d, |g, out| {
        let f = g.function(
            OP,
            "attention",
            dims.kernel("attention_fwd_f32", "attention_fwd_bf16"),
        )?;
        let (tq, tk, d, c) = dims.args();
        let mut l = g.stream.launch_builder(&f);
        l.arg(qb.slice()?)
            .arg(kb.slice()?)
            .arg(vb.slice()?)
            .arg(out)
            .arg(&mut lse);
        l.arg(&tq).arg(&tk).arg(&d).arg(&c).arg(&scale);
        // SAFETY: the signature matches `attention_fwd_*`; q and out hold BH·Tq·D values, k and v
        // BH·Tk·D, lse BH·Tq; D ≤ 128.
        unsafe { l.launch(grid(dims.bh, dims.tq)) }
            .map(drop)
            .map_err(driver_error(OP))
    })?;
    let lse = Buffer::new(qb.ordinal(), dims.bh * dims.tq, lse);
    let saved = out.clone();
    let (qd, kd, vd) = (q.detach(), k.detach(), v.detach());
    Ok(Tensor::from_device_op(
        Storage::Cuda(out),
        s.to_vec(),
        &[q, k, v],
        move || {
            Box::new(Attention {
                q: qd,
                k: kd,
                v: vd,
                out: saved,
                lse,
                dims,
            })
        },
    ))
}

impl DeviceBackward for Attention {
    // delta_i = dO_i·O_i;  p = exp(s·scale − lse);  ds = p(dO·v − delta)
    // dQ = scale Σ_j ds k_j;  dK = scale Σ_i ds q_i;  dV = Σ_i p dO_i
    fn backward(&self, grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        const OP: &str = "scaled_dot_product_attention backward";
        let dims = self.dims;
        let (qb, kb, vb, gb) = (
            buffer(OP, &self.q)?,
            buffer(OP, &self.k)?,
            buffer(OP, &self.v)?,
            buffer(OP, grad)?,
        );
        let (ordinal, g) = (qb.ordinal(), qb.gpu(OP)?);
        let rows = dims.bh * dims.tq;
        let mut delta = alloc(OP, g, rows)?;
        {
            let f = g.function(OP, "attention", "attention_bwd_delta")?;
            let (rows32, d32) = (rows as i32, dims.d as i32);
            let mut l = g.stream.launch_builder(&f);
            l.arg(gb.slice()?)
                .arg(self.out.slice()?)
                .arg(&mut delta)
                .arg(&rows32)
                .arg(&d32);
            let cfg = LaunchConfig {
                grid_dim: (rows.div_ceil(8).max(1) as u32, 1, 1),
                block_dim: (256, 1, 1),
                shared_mem_bytes: 0,
            };
            // SAFETY: the signature matches `attention_bwd_delta`; dO and O hold rows·D values.
            unsafe { l.launch(cfg) }.map_err(driver_error(OP))?;
        }
        let (tq, tk, d, c) = dims.args();
        let dq = if needs[0] {
            let dq = output(OP, ordinal, rows * dims.d, |g, dq| {
                let f = g.function(
                    OP,
                    "attention",
                    dims.kernel("attention_bwd_dq_f32", "attention_bwd_dq_bf16"),
                )?;
                let mut l = g.stream.launch_builder(&f);
                l.arg(qb.slice()?)
                    .arg(kb.slice()?)
                    .arg(vb.slice()?)
                    .arg(gb.slice()?)
                    .arg(self.lse.slice()?)
                    .arg(&delta)
                    .arg(dq);
                l.arg(&tq).arg(&tk).arg(&d).arg(&c).arg(&dims.scale);
                // SAFETY: the signature matches `attention_bwd_dq_*`; dq holds BH·Tq·D values.
                unsafe { l.launch(grid(dims.bh, dims.tq)) }
                    .map(drop)
                    .map_err(driver_error(OP))
            })?;
            Some(tensor(dq, self.q.shape()))
        } else {
            None
        };
        let (dk, dv) = if needs[1] || needs[2] {
            let n = dims.bh * dims.tk * dims.d;
            let (mut dk, mut dv) = (alloc(OP, g, n)?, alloc(OP, g, n)?);
            let f = g.function(
                OP,
                "attention",
                dims.kernel("attention_bwd_dkdv_f32", "attention_bwd_dkdv_bf16"),
            )?;
            let mut l = g.stream.launch_builder(&f);
            l.arg(qb.slice()?)
                .arg(kb.slice()?)
                .arg(vb.slice()?)
                .arg(gb.slice()?)
                .arg(self.lse.slice()?)
                .arg(&delta);
            l.arg(&mut dk)
                .arg(&mut dv)
                .arg(&tq)
                .arg(&tk)
                .arg(&d)
                .arg(&c)
                .arg(&dims.scale);
            // SAFETY: the signature matches `attention_bwd_dkdv_*`; dk and dv hold BH·Tk·D values.
            unsafe { l.launch(grid(dims.bh, dims.tk)) }.map_err(driver_error(OP))?;
            let shape = self.k.shape();
            (
                needs[1].then(|| tensor(Buffer::new(ordinal, n, dk), shape)),
                needs[2].then(|| tensor(Buffer::new(ordinal, n, dv), shape)),
            )
        } else {
            (None, None)
        };
        Ok(vec![dq, dk, dv])
    }
}
