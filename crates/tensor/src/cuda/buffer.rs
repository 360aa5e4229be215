//! A tensor's elements on a GPU: a contiguous row-major `f32` buffer, or the error that kept
//! it from being computed.

use std::sync::Arc;

use cudarc::driver::CudaSlice;

use super::context::{Gpu, driver_error, gpu};
use crate::error::{Result, TensorError};

/// GPU storage. Cloning shares the buffer (reshapes are free). An op whose signature cannot
/// fail (`exp`, `sum_all`, …) stores a driver error here instead of panicking; the next
/// fallible use (an op, `backward`, `to_scalar`, `try_to_vec`) returns it, as CUDA itself
/// reports errors of asynchronous work at the next call.
#[derive(Clone)]
pub(crate) struct Buffer {
    ordinal: usize,
    len: usize,
    data: std::result::Result<Arc<CudaSlice<f32>>, TensorError>,
}

/// `len` uninitialised elements on `gpu` (at least one is allocated: the driver refuses 0).
pub(crate) fn alloc(op: &'static str, gpu: &Gpu, len: usize) -> Result<CudaSlice<f32>> {
    // SAFETY: every caller writes all `len` elements before reading them.
    unsafe { gpu.stream.alloc::<f32>(len.max(1)) }.map_err(driver_error(op))
}

impl Buffer {
    /// Wraps a computed slice holding `len` elements.
    pub(crate) fn new(ordinal: usize, len: usize, slice: CudaSlice<f32>) -> Buffer {
        Buffer {
            ordinal,
            len,
            data: Ok(Arc::new(slice)),
        }
    }

    /// A buffer that failed to be computed.
    pub(crate) fn failed(ordinal: usize, len: usize, error: TensorError) -> Buffer {
        Buffer {
            ordinal,
            len,
            data: Err(error),
        }
    }

    /// `Ok` as it is, an error turned into a failed buffer.
    pub(crate) fn or_failed(ordinal: usize, len: usize, r: Result<Buffer>) -> Buffer {
        r.unwrap_or_else(|e| Buffer::failed(ordinal, len, e))
    }

    /// The GPU's ordinal.
    pub(crate) fn ordinal(&self) -> usize {
        self.ordinal
    }

    /// The number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The GPU this buffer is on.
    pub(crate) fn gpu(&self, op: &'static str) -> Result<&'static Gpu> {
        gpu(op, self.ordinal)
    }

    /// The device slice, or the error stored in place of it.
    pub(crate) fn slice(&self) -> Result<&CudaSlice<f32>> {
        self.data.as_deref().map_err(Clone::clone)
    }

    /// A copy of host values on GPU `ordinal`.
    pub(crate) fn from_host(op: &'static str, ordinal: usize, data: &[f32]) -> Result<Buffer> {
        let g = gpu(op, ordinal)?;
        let mut slice = alloc(op, g, data.len())?;
        if !data.is_empty() {
            g.stream
                .memcpy_htod(data, &mut slice.slice_mut(..data.len()))
                .map_err(driver_error(op))?;
        }
        Ok(Buffer::new(ordinal, data.len(), slice))
    }

    /// The values, copied to the host (waits for the GPU's queued work).
    pub(crate) fn to_host(&self, op: &'static str) -> Result<Vec<f32>> {
        let slice = self.slice()?;
        if self.len == 0 {
            return Ok(Vec::new());
        }
        let g = self.gpu(op)?;
        let mut v = g
            .stream
            .clone_dtoh(&slice.slice(..self.len))
            .map_err(driver_error(op))?;
        v.truncate(self.len);
        Ok(v)
    }

    /// A copy in new memory on the same GPU (failed when the copy fails).
    pub(crate) fn duplicate(&self) -> Buffer {
        let r = (|| {
            let g = self.gpu("to_var")?;
            let slice = g
                .stream
                .clone_dtod(self.slice()?)
                .map_err(driver_error("to_var"))?;
            Ok(Buffer::new(self.ordinal, self.len, slice))
        })();
        Buffer::or_failed(self.ordinal, self.len, r)
    }

    /// A copy on another GPU, through the host.
    pub(crate) fn to_other_gpu(&self, op: &'static str, ordinal: usize) -> Result<Buffer> {
        Buffer::from_host(op, ordinal, &self.to_host(op)?)
    }

    /// The slice for writing in place; a copy first when another tensor shares it.
    pub(crate) fn make_mut(&mut self, op: &'static str) -> Result<&mut CudaSlice<f32>> {
        let g = gpu(op, self.ordinal)?;
        let arc = self.data.as_mut().map_err(|e| e.clone())?;
        if Arc::get_mut(arc).is_none() {
            *arc = Arc::new(
                g.stream
                    .clone_dtod(arc.as_ref())
                    .map_err(driver_error(op))?,
            );
        }
        Arc::get_mut(arc).ok_or_else(|| TensorError::cuda(op, "buffer still shared after a copy"))
    }

    /// Overwrites the values with those of `src` (same length, same GPU).
    pub(crate) fn copy_from(&mut self, op: &'static str, src: &Buffer) -> Result<()> {
        if src.ordinal != self.ordinal || src.len != self.len {
            return Err(TensorError::invalid(
                op,
                format!(
                    "copying {} elements of cuda:{} into {} of cuda:{}",
                    src.len, src.ordinal, self.len, self.ordinal
                ),
            ));
        }
        let g = gpu(op, self.ordinal)?;
        // hold the source while the destination is unshared (it may be the same buffer)
        let from = src.data.as_ref().map_err(|e| e.clone())?.clone();
        g.stream
            .memcpy_dtod(from.as_ref(), self.make_mut(op)?)
            .map_err(driver_error(op))
    }
}
