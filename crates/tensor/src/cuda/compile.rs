//! The CUDA C sources of the kernels and their run-time compilation with NVRTC.

use crate::error::{Result, TensorError};

/// Prepended to every source: the strided layout type and the reductions kernels share.
pub const PRELUDE: &str = include_str!("kernels/prelude.cuh");

/// Every kernel module: its name (the file stem under `src/cuda/kernels/`) and its source.
pub const SOURCES: &[(&str, &str)] = &[
    ("adamw", include_str!("kernels/adamw.cu")),
    ("attention", include_str!("kernels/attention.cu")),
    ("binary", include_str!("kernels/binary.cu")),
    ("cross_entropy", include_str!("kernels/cross_entropy.cu")),
    ("dropout", include_str!("kernels/dropout.cu")),
    ("indexing", include_str!("kernels/indexing.cu")),
    ("layer_norm", include_str!("kernels/layer_norm.cu")),
    ("layout", include_str!("kernels/layout.cu")),
    ("mask", include_str!("kernels/mask.cu")),
    ("reduce", include_str!("kernels/reduce.cu")),
    ("rms_norm", include_str!("kernels/rms_norm.cu")),
    ("rope", include_str!("kernels/rope.cu")),
    ("softmax", include_str!("kernels/softmax.cu")),
    ("unary", include_str!("kernels/unary.cu")),
];

/// The source of module `name`.
pub(crate) fn source(name: &str) -> Option<&'static str> {
    SOURCES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Whether libnvrtc can be loaded (it is looked up on the library path at run time).
pub fn nvrtc_available() -> bool {
    std::panic::catch_unwind(|| unsafe { cudarc::nvrtc::sys::is_culib_present() }).unwrap_or(false)
}

/// Compiles a kernel source (the [`PRELUDE`] is prepended) to PTX for a virtual architecture
/// such as `compute_90`. Errors carry NVRTC's log.
pub fn compile_ptx(name: &str, source: &str, arch: &str) -> Result<String> {
    if !nvrtc_available() {
        return Err(TensorError::cuda(
            "nvrtc",
            "libnvrtc could not be loaded (is libnvrtc.so.13 on the library path?)",
        ));
    }
    let full = format!("{PRELUDE}\n{source}");
    let opts = cudarc::nvrtc::CompileOptions {
        name: Some(format!("{name}.cu")),
        options: vec![format!("--gpu-architecture={arch}"), "--std=c++17".into()],
        ..Default::default()
    };
    let ptx = cudarc::nvrtc::compile_ptx_with_opts(full, opts).map_err(|e| {
        TensorError::cuda("nvrtc", format!("compiling {name}.cu for {arch}: {e:?}"))
    })?;
    Ok(ptx.to_src())
}
