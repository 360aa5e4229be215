//! Where a tensor lives and what its elements are.

/// The device that holds a tensor's storage. Only the CPU exists today; CUDA slots in here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Device {
    /// Host memory, computed with ndarray and rayon.
    #[default]
    Cpu,
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
