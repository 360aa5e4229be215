//! Reading and writing named tensors as safetensors files. Writes are atomic (a temporary file
//! in the same folder, synced, then renamed); reads convert F32, F16 and BF16 to f32 and report
//! the file and tensor on any inconsistency.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use loam_tensor::Tensor;
use safetensors::{Dtype, SafeTensors, View};

use crate::error::{NnError, Result};

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

/// Writes `bytes` to `path` atomically: readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| file_err(path, "not a file path"))?;
    let tmp: PathBuf = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        file_err(path, format!("cannot write: {e}"))
    })
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

/// Decodes little-endian F32, F16 or BF16 bytes to f32.
fn decode(path: &Path, name: &str, dtype: Dtype, bytes: &[u8]) -> Result<Vec<f32>> {
    Ok(match dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        other => return Err(file_err(path, format!("tensor `{name}` has unsupported dtype {other:?} (F32, F16 and BF16 are)"))),
    })
}

/// Parses a safetensors buffer (read from `path`): header, offsets and dtypes are validated by
/// the `safetensors` crate, then each tensor is converted to f32.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Loaded> {
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| file_err(path, format!("invalid safetensors file: {e}")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(bytes).map_err(|e| file_err(path, format!("invalid safetensors file: {e}")))?;
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        let values = decode(path, &name, view.dtype(), view.data())?;
        let t = Tensor::from_vec(values, view.shape())
            .map_err(|e| file_err(path, format!("tensor `{name}`: {e}")))?;
        tensors.insert(name, t);
    }
    Ok(Loaded { tensors, metadata })
}

/// Reads and parses a safetensors file.
pub fn load(path: &Path) -> Result<Loaded> {
    let bytes = fs::read(path).map_err(|e| file_err(path, format!("cannot read: {e}")))?;
    parse(path, &bytes)
}
