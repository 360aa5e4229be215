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

/// One tensor's bytes in the form the safetensors writer wants.
struct F32View {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl View for &F32View {
    fn dtype(&self) -> Dtype {
        Dtype::F32
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

/// Saves named f32 tensors (and metadata) to `path` atomically.
pub fn save(path: &Path, tensors: &[(String, Tensor)], metadata: Option<Metadata>) -> Result<()> {
    let views: Vec<(String, F32View)> = tensors
        .iter()
        .map(|(name, t)| {
            let bytes = t.to_vec().iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), F32View { shape: t.shape().to_vec(), bytes })
        })
        .collect();
    let refs: Vec<(&str, &F32View)> = views.iter().map(|(n, v)| (n.as_str(), v)).collect();
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
