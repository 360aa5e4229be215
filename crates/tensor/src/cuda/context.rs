//! One process-wide context per GPU, made on first use: the driver context, the stream every
//! op of that GPU is ordered on, the memory pool set up as a caching allocator, the compiled
//! kernel modules and the cuBLAS handle.

use std::collections::HashMap;
use std::ffi::c_void;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::cublas::CudaBlas;
use cudarc::driver::sys::{self, CUmemPool_attribute};
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream, DriverError};

use super::compile;
use crate::error::{Result, TensorError};

/// A GPU as the kernels see it. Lives for the rest of the process once made.
pub(crate) struct Gpu {
    /// The primary context of the device.
    pub(crate) ctx: Arc<CudaContext>,
    /// The one stream all work on this GPU is queued on, so stream order alone orders it.
    pub(crate) stream: Arc<CudaStream>,
    /// `compute_XY` for the device's compute capability X.Y: what NVRTC compiles for.
    pub(crate) arch: String,
    modules: Mutex<HashMap<&'static str, Arc<CudaModule>>>,
    functions: Mutex<HashMap<&'static str, CudaFunction>>,
    blas: OnceLock<std::result::Result<Mutex<CudaBlas>, String>>,
}

/// Maps a driver error to a loam error naming the op.
pub(crate) fn driver_error(op: &'static str) -> impl Fn(DriverError) -> TensorError {
    move |e| TensorError::cuda(op, format!("driver error {e}"))
}

/// The number of GPUs: 0 without a driver library or without devices; never panics.
pub(crate) fn device_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| {
        // cudarc panics when it cannot load libcuda, so look for it first
        let present =
            std::panic::catch_unwind(|| unsafe { sys::is_culib_present() }).unwrap_or(false);
        if !present {
            return 0;
        }
        std::panic::catch_unwind(CudaContext::device_count)
            .ok()
            .and_then(|r| r.ok())
            .map_or(0, |n| n.max(0) as usize)
    })
}

/// The context of GPU `ordinal`, made on first use.
pub(crate) fn gpu(op: &'static str, ordinal: usize) -> Result<&'static Gpu> {
    static GPUS: OnceLock<Mutex<HashMap<usize, &'static Gpu>>> = OnceLock::new();
    let mut gpus = GPUS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(g) = gpus.get(&ordinal) {
        return Ok(g);
    }
    let count = device_count();
    if ordinal >= count {
        return Err(TensorError::cuda(
            op,
            format!("no CUDA device cuda:{ordinal} ({count} found)"),
        ));
    }
    let g: &'static Gpu = Box::leak(Box::new(Gpu::new(op, ordinal)?));
    gpus.insert(ordinal, g);
    Ok(g)
}

impl Gpu {
    fn new(op: &'static str, ordinal: usize) -> Result<Gpu> {
        let err = driver_error(op);
        let ctx = CudaContext::new(ordinal).map_err(&err)?;
        // SAFETY: no buffer exists yet; with one stream per device, stream order is the only
        // synchronisation needed, so cudarc's per-buffer events are disabled.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream().map_err(&err)?;
        let (major, minor) = ctx.compute_capability().map_err(&err)?;
        if ctx.has_async_alloc() {
            keep_pool_memory(&ctx).map_err(&err)?;
        }
        Ok(Gpu {
            ctx,
            stream,
            arch: format!("compute_{major}{minor}"),
            modules: Mutex::default(),
            functions: Mutex::default(),
            blas: OnceLock::new(),
        })
    }

    /// Kernel `name` of the module `module` (a file of `kernels/`), compiling the module with
    /// NVRTC on first use.
    pub(crate) fn function(
        &self,
        op: &'static str,
        module: &'static str,
        name: &'static str,
    ) -> Result<CudaFunction> {
        let mut functions = self.functions.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = functions.get(name) {
            return Ok(f.clone());
        }
        let module = {
            let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
            match modules.get(module) {
                Some(m) => m.clone(),
                None => {
                    let source = compile::source(module).ok_or_else(|| {
                        TensorError::cuda(op, format!("no kernel module `{module}`"))
                    })?;
                    let ptx = compile::compile_ptx(module, source, &self.arch)?;
                    let m = self
                        .ctx
                        .load_module(cudarc::nvrtc::Ptx::from_src(ptx))
                        .map_err(driver_error(op))?;
                    modules.insert(module, m.clone());
                    m
                }
            }
        };
        let f = module.load_function(name).map_err(driver_error(op))?;
        functions.insert(name, f.clone());
        Ok(f)
    }

    /// Runs `f` with this GPU's cuBLAS handle (made on first use, on this GPU's stream).
    pub(crate) fn with_blas<R>(
        &self,
        op: &'static str,
        f: impl FnOnce(&CudaBlas) -> Result<R>,
    ) -> Result<R> {
        let blas = self.blas.get_or_init(|| {
            let present =
                std::panic::catch_unwind(|| unsafe { cudarc::cublas::sys::is_culib_present() })
                    .unwrap_or(false);
            if !present {
                return Err(
                    "libcublas could not be loaded (is libcublas.so.13 on the library path?)"
                        .into(),
                );
            }
            CudaBlas::new(self.stream.clone())
                .map(Mutex::new)
                .map_err(|e| format!("cuBLAS handle: {e:?}"))
        });
        match blas {
            Ok(b) => {
                // cuBLAS works in the calling thread's current context
                self.ctx.bind_to_thread().map_err(driver_error(op))?;
                f(&b.lock().unwrap_or_else(|e| e.into_inner()))
            }
            Err(msg) => Err(TensorError::cuda(op, msg.clone())),
        }
    }
}

/// Bytes the memory pool of GPU `ordinal` holds from the driver (in use or cached). Constant
/// from one training step to the next once the caching allocator is warm.
pub fn reserved_bytes(ordinal: usize) -> Result<u64> {
    let op = "reserved_bytes";
    let g = gpu(op, ordinal)?;
    g.ctx.bind_to_thread().map_err(driver_error(op))?;
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    let mut bytes: u64 = 0;
    // SAFETY: `pool` and `bytes` are valid for writes for the calls' duration.
    unsafe {
        sys::cuDeviceGetDefaultMemPool(&mut pool, g.ctx.cu_device())
            .result()
            .map_err(driver_error(op))?;
        sys::cuMemPoolGetAttribute(
            pool,
            CUmemPool_attribute::CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT,
            (&mut bytes as *mut u64).cast::<c_void>(),
        )
        .result()
        .map_err(driver_error(op))?;
    }
    Ok(bytes)
}

/// Makes the device's default memory pool (where stream-ordered allocations come from) keep
/// freed memory instead of returning it to the driver at each synchronisation: a training
/// step then reuses the previous step's blocks and allocates nothing from the driver.
fn keep_pool_memory(ctx: &CudaContext) -> std::result::Result<(), DriverError> {
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    let mut threshold: u64 = u64::MAX;
    // SAFETY: `pool` and `threshold` are valid for writes/reads for the calls' duration.
    unsafe {
        sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()).result()?;
        sys::cuMemPoolSetAttribute(
            pool,
            CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            (&mut threshold as *mut u64).cast::<c_void>(),
        )
        .result()
    }
}
