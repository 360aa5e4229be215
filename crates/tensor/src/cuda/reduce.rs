//! Sum and max over axes on the GPU (`kernels/reduce.cu`), and `sum_to`, the reduction every
//! broadcasting op's backward ends with.

use cudarc::driver::{LaunchConfig, PushKernelArg};

use super::context::driver_error;
use super::launch::{Layout, contiguous_strides};
use super::{Buffer, output};
use crate::backprop::DeviceBackward;
use crate::error::Result;
use crate::storage::Storage;
use crate::tensor::Tensor;

/// Threads per block of the reduction (one block per output element).
const THREADS: u32 = 256;

/// The input's shape with the reduced axes set to 1.
fn kept_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect()
}

/// Blocks a reduction aims for (enough to fill a large GPU several times over).
const TARGET_BLOCKS: usize = 2048;
/// Fewest inputs a block reduces when an output is split across blocks.
const MIN_PER_BLOCK: usize = 4096;

/// How many blocks share one output's `n_red` inputs: 1 unless there are too few outputs to
/// fill the GPU and enough inputs per output to split.
fn chunks(n_out: usize, n_red: usize) -> usize {
    TARGET_BLOCKS
        .div_ceil(n_out.max(1))
        .min(n_red / MIN_PER_BLOCK)
        .clamp(1, 1024)
}

/// Sum (or max) of `x` (shape `shape`) over `axes`, laid out as the kept shape.
fn values(
    op: &'static str,
    x: &Buffer,
    shape: &[usize],
    axes: &[usize],
    is_max: bool,
) -> Result<Buffer> {
    let strides = contiguous_strides(shape);
    let pick = |reduced: bool| -> (Vec<usize>, Vec<i64>) {
        (0..shape.len())
            .filter(|i| axes.contains(i) == reduced)
            .map(|i| (shape[i], strides[i]))
            .unzip()
    };
    let (outer_shape, outer_strides) = pick(false);
    let (inner_shape, inner_strides) = pick(true);
    let outer = Layout::new(op, &outer_shape, &[(&outer_strides, 0)])?;
    let inner = Layout::new(op, &inner_shape, &[(&inner_strides, 0)])?;
    let (n_out, n_red): (usize, usize) =
        (outer_shape.iter().product(), inner_shape.iter().product());
    let parts = chunks(n_out, n_red);
    let partial = output(op, x.ordinal(), n_out * parts, |g, out| {
        let f = g.function(op, "reduce", "reduce_axes")?;
        let (xs, flag) = (x.slice()?, i32::from(is_max));
        let (no, nr, nc) = (n_out as i64, n_red as i64, parts as i64);
        let mut l = g.stream.launch_builder(&f);
        l.arg(&flag)
            .arg(&outer)
            .arg(&inner)
            .arg(xs)
            .arg(out)
            .arg(&no)
            .arg(&nr)
            .arg(&nc);
        let cfg = LaunchConfig {
            grid_dim: ((n_out * parts).clamp(1, 1 << 20) as u32, 1, 1),
            block_dim: (THREADS, 1, 1),
            shared_mem_bytes: 0,
        };
        // SAFETY: the signature matches `reduce_axes`; the layouts stay inside x.
        unsafe { l.launch(cfg) }.map(drop).map_err(driver_error(op))
    })?;
    if parts == 1 {
        return Ok(partial);
    }
    // out: (n_out, parts) partials → (n_out)
    values(op, &partial, &[n_out, parts], &[1], is_max)
}

/// Sums a gradient `g` over the axes it was broadcast along, back to `shape`.
pub(crate) fn sum_to(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let lead = g.rank() - shape.len();
    let axes: Vec<isize> = (0..g.rank())
        .filter(|&d| d < lead || (shape[d - lead] == 1 && g.shape()[d] != 1))
        .map(|d| d as isize)
        .collect();
    g.sum(&axes, true)?.reshape(shape)
}

struct Sum {
    in_shape: Vec<usize>,
    kept: Vec<usize>,
}

struct Max {
    x: Tensor,
    max: Tensor,
    axes: Vec<isize>,
}

// x: (D…) → out: D with `axes` removed (or set to 1 when keepdim)
pub(crate) fn forward(
    t: &Tensor,
    x: &Buffer,
    axes: &[usize],
    out_shape: Vec<usize>,
    is_max: bool,
) -> Tensor {
    let op = if is_max { "max" } else { "sum" };
    let kept = kept_shape(t.shape(), axes);
    let n: usize = kept.iter().product();
    let out = Buffer::or_failed(x.ordinal(), n, values(op, x, t.shape(), axes, is_max));
    if is_max {
        let max = super::tensor(out.clone(), &kept);
        let axes = axes.iter().map(|&a| a as isize).collect();
        let x = t.detach();
        Tensor::from_device_op(Storage::Cuda(out), out_shape, &[t], move || {
            Box::new(Max { x, max, axes })
        })
    } else {
        let in_shape = t.shape().to_vec();
        Tensor::from_device_op(Storage::Cuda(out), out_shape, &[t], move || {
            Box::new(Sum { in_shape, kept })
        })
    }
}

impl DeviceBackward for Sum {
    fn backward(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(
            g.reshape(&self.kept)?.broadcast_as(&self.in_shape)?,
        )])
    }
}

impl DeviceBackward for Max {
    /// The gradient goes to the maximal elements, shared equally among ties.
    fn backward(&self, g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let hits = super::binary::apply("max backward", super::binary::EQ, &self.x, &self.max)?;
        let counts = hits.sum(&self.axes, true)?;
        let share = g.reshape(self.max.shape())?.div(&counts)?;
        Ok(vec![Some(hits.mul(&share)?)])
    }
}
