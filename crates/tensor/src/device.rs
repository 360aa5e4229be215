//! Where a tensor lives and what its elements are.

use std::fmt;

use crate::error::{Result, TensorError};

/// The device that holds a tensor's storage.
///
/// `Cuda(n)` exists in every build; in a build without the cargo feature `cuda`, moving a
/// tensor there is an error that says so, and [`cuda_device_count`] is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Device {
    /// Host memory, computed with ndarray and rayon.
    #[default]
    Cpu,
    /// NVIDIA GPU number `n` (the driver's ordinal), computed with NVRTC kernels and cuBLAS.
    Cuda(usize),
}

impl Device {
    /// Parses `cpu`, `cuda` (GPU 0) or `cuda:N`.
    pub fn parse(name: &str) -> Result<Device> {
        let bad = || {
            TensorError::invalid(
                "Device::parse",
                format!("`{name}` is not a device: use cpu, cuda or cuda:N"),
            )
        };
        match name.trim() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            other => {
                let n = other.strip_prefix("cuda:").ok_or_else(bad)?;
                n.parse::<usize>().map(Device::Cuda).map_err(|_| bad())
            }
        }
    }

    /// `Cuda(n)` when GPU `n` is present (feature built, driver loaded, device found), else
    /// the CPU.
    pub fn cuda_if_available(n: usize) -> Device {
        if n < cuda_device_count() {
            Device::Cuda(n)
        } else {
            Device::Cpu
        }
    }

    /// Whether this is a CUDA device.
    pub fn is_cuda(self) -> bool {
        matches!(self, Device::Cuda(_))
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// The number of CUDA devices this process can use: 0 in a build without the `cuda` feature,
/// without a driver or without a GPU. Never panics.
pub fn cuda_device_count() -> usize {
    #[cfg(feature = "cuda")]
    {
        crate::cuda::device_count()
    }
    #[cfg(not(feature = "cuda"))]
    {
        0
    }
}

/// The element type of a tensor. Only `f32` exists today; `bf16` slots in here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DType {
    /// 32-bit IEEE float.
    #[default]
    F32,
}

impl DType {
    /// Bytes per element.
    pub fn size_in_bytes(self) -> usize {
        match self {
            DType::F32 => 4,
        }
    }
}
