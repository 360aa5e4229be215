//! Saving named f32 tensors as a safetensors file, atomically (a temporary file in the same
//! folder, synced, then renamed), and loading one back through [`TensorFile`], which converts
//! F32, F16 and BF16 to f32 and reports the file and tensor on any inconsistency.

use std::collections::HashMap;
use std::path::Path;

use loam_tensor::Tensor;
use safetensors::{Dtype, View};

use crate::atomic_write::write_atomic;
use crate::error::{NnError, Result};
use crate::tensor_file::TensorFile;

/// Metadata strings stored in the file header (`__metadata__`).
pub type Metadata = HashMap<String, String>;

fn file_err(path: &Path, msg: impl Into<String>) -> NnError {
    NnError::File { path: path.to_path_buf(), msg: msg.into() }
}

/// One tensor as stored: its type, shape and little-endian bytes (what [`save_raw`] writes).
#[derive(Debug, Clone)]
pub struct StoredTensor {
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// The bytes, `shape`'s element count times the type's size.
    pub bytes: Vec<u8>,
}

impl View for &StoredTensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Saves named f32 tensors (on any device; through host memory) and metadata to `path`
/// atomically.
pub fn save(path: &Path, tensors: &[(String, Tensor)], metadata: Option<Metadata>) -> Result<()> {
    // a GPU tensor is copied to host memory first; a failed copy is an error, not a panic
    let views: Vec<(String, StoredTensor)> = tensors
        .iter()
        .map(|(name, t)| {
            let bytes = t.try_to_vec()?.iter().flat_map(|v| v.to_le_bytes()).collect();
            Ok((name.clone(), StoredTensor { dtype: Dtype::F32, shape: t.shape().to_vec(), bytes }))
        })
        .collect::<Result<_>>()?;
    save_raw(path, &views, metadata)
}

/// Saves named tensors of any stored type (quantized weights: I8, U8, BF16) with metadata to
/// `path` atomically; a byte count that disagrees with the shape and type is an error.
pub fn save_raw(path: &Path, tensors: &[(String, StoredTensor)], metadata: Option<Metadata>) -> Result<()> {
    let refs: Vec<(&str, &StoredTensor)> = tensors.iter().map(|(n, v)| (n.as_str(), v)).collect();
    let bytes = safetensors::serialize(refs, metadata).map_err(|e| file_err(path, e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Tensors read from a safetensors file, converted to f32, with the header's metadata.
#[derive(Debug)]
pub struct Loaded {
    /// The tensors by name.
    pub tensors: HashMap<String, Tensor>,
    /// The `__metadata__` strings, if any.
    pub metadata: Metadata,
}

/// Reads a safetensors file (validated by [`TensorFile`]) and converts every tensor to f32.
pub fn load(path: &Path) -> Result<Loaded> {
    let file = TensorFile::open(path)?;
    let tensors = file.entries().keys().map(|name| Ok((name.clone(), file.tensor(name)?))).collect::<Result<_>>()?;
    Ok(Loaded { tensors, metadata: file.metadata().clone() })
}
