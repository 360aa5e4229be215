//! Launch helpers: grid sizes and the strided layout that broadcasting and layout kernels walk.

use cudarc::driver::{DeviceRepr, LaunchConfig};

use crate::error::{Result, TensorError};

/// The most axes a strided kernel walks (`LOAM_MAX_RANK` in `kernels/prelude.cuh`).
pub(crate) const MAX_RANK: usize = 8;

/// Threads per block of the elementwise kernels.
pub(crate) const BLOCK: u32 = 256;

/// A grid-stride launch over `n` elements: enough blocks to fill any current GPU, no more.
pub(crate) fn elementwise(n: usize) -> LaunchConfig {
    let blocks = n.div_ceil(BLOCK as usize).clamp(1, 65_535 * 4) as u32;
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// Up to three operands viewed over one row-major index space (see `Layout` in
/// `kernels/prelude.cuh`, which this mirrors field by field).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Layout {
    rank: i32,
    /// 1 when the index space has fewer than 2³² elements (the kernels then index in 32 bits).
    small: i32,
    shape: [i64; MAX_RANK],
    strides: [[i64; MAX_RANK]; 3],
    offset: [i64; 3],
}

// SAFETY: plain `repr(C)` integers, laid out as the CUDA struct.
unsafe impl DeviceRepr for Layout {}

/// Row-major strides of a contiguous `shape`.
pub(crate) fn contiguous_strides(shape: &[usize]) -> Vec<i64> {
    let mut strides = vec![0i64; shape.len()];
    let mut s = 1i64;
    for (d, &n) in shape.iter().enumerate().rev() {
        strides[d] = s;
        s *= n as i64;
    }
    strides
}

/// Strides that read a contiguous `from` broadcast to `to` (0 on broadcast axes); the caller
/// has checked that it broadcasts.
pub(crate) fn broadcast_strides(from: &[usize], to: &[usize]) -> Vec<i64> {
    let own = contiguous_strides(from);
    let lead = to.len() - from.len();
    (0..to.len())
        .map(|d| {
            if d < lead || from[d - lead] == 1 {
                0
            } else {
                own[d - lead]
            }
        })
        .collect()
}

impl Layout {
    /// The index space `shape` with each operand's strides and element offset.
    pub(crate) fn new(
        op: &'static str,
        shape: &[usize],
        operands: &[(&[i64], i64)],
    ) -> Result<Layout> {
        if shape.len() > MAX_RANK {
            return Err(TensorError::invalid(
                op,
                format!("CUDA kernels take at most {MAX_RANK} axes, got shape {shape:?}"),
            ));
        }
        let n: u128 = shape.iter().map(|&d| d as u128).product();
        let mut l = Layout {
            rank: shape.len() as i32,
            small: i32::from(n < 1 << 32),
            ..Layout::default()
        };
        for (d, &n) in shape.iter().enumerate() {
            l.shape[d] = n as i64;
        }
        for (k, (strides, offset)) in operands.iter().enumerate().take(3) {
            l.strides[k][..strides.len()].copy_from_slice(strides);
            l.offset[k] = *offset;
        }
        Ok(l)
    }
}
