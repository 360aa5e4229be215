//! One safetensors file, read defensively on the `safetensors` crate: the header length is
//! checked against the file's size before anything is allocated, the crate validates the
//! header (dtypes, shapes, offsets that tile the data section exactly), and any problem is an
//! error that names the file and, where one is at fault, the tensor. Tensors are decoded to f32
//! (from F32, F16 or BF16) on demand, or handed out as their stored bytes.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use loam_tensor::Tensor;
use safetensors::SafeTensors;
use safetensors::tensor::TensorInfo;
use serde_json::Value;

use crate::error::{NnError, Result};

/// The element type of a stored tensor, as a safetensors header names it (`F32`, `BF16`,
/// `I64`…); only [`StoredDtype::F32`], `F16` and `BF16` load as parameters.
pub use safetensors::Dtype as StoredDtype;

/// The largest header accepted (the `safetensors` crate's own limit).
const MAX_HEADER: u64 = 100_000_000;

/// One tensor's header entry: type, shape and byte range within the data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    /// Element type.
    pub dtype: StoredDtype,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Start of its bytes, relative to the data section.
    pub begin: usize,
    /// End (exclusive) of its bytes.
    pub end: usize,
}

impl TensorEntry {
    /// Whether the tensor loads as f32 (its type is F32, F16 or BF16).
    pub fn is_float(&self) -> bool {
        matches!(self.dtype, StoredDtype::F32 | StoredDtype::F16 | StoredDtype::BF16)
    }
}

/// A tensor as stored: its type, shape and little-endian bytes, borrowed from the file.
#[derive(Debug, Clone, Copy)]
pub struct RawTensor<'a> {
    /// Element type.
    pub dtype: StoredDtype,
    /// Dimensions.
    pub shape: &'a [usize],
    /// The bytes, `shape`'s element count times the type's size.
    pub bytes: &'a [u8],
}

/// A validated safetensors file held in memory.
#[derive(Debug)]
pub struct TensorFile {
    path: PathBuf,
    /// The whole file.
    bytes: Vec<u8>,
    /// Where the data section starts in `bytes`.
    data_start: usize,
    entries: BTreeMap<String, TensorEntry>,
    metadata: HashMap<String, String>,
}

fn file_err(path: &Path, msg: impl Into<String>) -> NnError {
    NnError::File { path: path.to_path_buf(), msg: msg.into() }
}

fn tensor_err(path: &Path, name: &str, msg: impl std::fmt::Display) -> NnError {
    file_err(path, format!("tensor `{name}`: {msg}"))
}

impl TensorFile {
    /// Reads and validates `path`. The header length is checked against the file's size
    /// before the file is read, so a forged length allocates nothing.
    pub fn open(path: &Path) -> Result<TensorFile> {
        let io = |e: std::io::Error| file_err(path, format!("cannot read: {e}"));
        let mut file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < 8 {
            return Err(file_err(path, format!("truncated: {len} bytes, too short for the 8-byte header length")));
        }
        let mut head = [0u8; 8];
        file.read_exact(&mut head).map_err(io)?;
        check_header_len(path, u64::from_le_bytes(head), len)?;
        let mut bytes = Vec::with_capacity(len as usize);
        bytes.extend_from_slice(&head);
        file.read_to_end(&mut bytes).map_err(io)?;
        TensorFile::parse(path, bytes)
    }

    /// Validates a whole file's bytes (`path` only names it in errors).
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<TensorFile> {
        let len = bytes.len() as u64;
        let head: [u8; 8] = bytes
            .get(..8)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| file_err(path, format!("truncated: {len} bytes, too short for the 8-byte header length")))?;
        check_header_len(path, u64::from_le_bytes(head), len)?;
        let (n, header) = SafeTensors::read_metadata(&bytes).map_err(|e| diagnose(path, &bytes, e))?;
        let entries = header
            .tensors()
            .into_iter()
            .map(|(name, info)| {
                let (begin, end) = info.data_offsets;
                (name, TensorEntry { dtype: info.dtype, shape: info.shape.clone(), begin, end })
            })
            .collect();
        let metadata = header.metadata().clone().unwrap_or_default();
        Ok(TensorFile { path: path.to_path_buf(), bytes, data_start: 8 + n, entries, metadata })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header entries by tensor name.
    pub fn entries(&self) -> &BTreeMap<String, TensorEntry> {
        &self.entries
    }

    /// The `__metadata__` strings.
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// The tensor `name` as stored, without conversion; an error names the file and tensor
    /// when it is absent.
    pub fn raw(&self, name: &str) -> Result<RawTensor<'_>> {
        let entry = self.entries.get(name).ok_or_else(|| tensor_err(&self.path, name, "missing from the file"))?;
        let data = &self.bytes[self.data_start..];
        Ok(RawTensor { dtype: entry.dtype, shape: &entry.shape, bytes: &data[entry.begin..entry.end] })
    }

    /// The tensor `name` converted to f32; an error names the file and tensor when it is
    /// absent or of a type other than F32, F16 or BF16.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let raw = self.raw(name)?;
        let values = to_f32(raw.dtype, raw.bytes).ok_or_else(|| {
            tensor_err(&self.path, name, format!("unsupported dtype {} (F32, F16 and BF16 load)", raw.dtype))
        })?;
        Tensor::from_vec(values, raw.shape).map_err(|e| tensor_err(&self.path, name, e))
    }
}

/// Little-endian F32, F16 or BF16 bytes as f32; `None` for any other type.
pub fn to_f32(dtype: StoredDtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        StoredDtype::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        StoredDtype::F16 => bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        StoredDtype::BF16 => bytes.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        _ => return None,
    })
}

fn check_header_len(path: &Path, n: u64, len: u64) -> Result<()> {
    if n > len - 8 {
        return Err(file_err(path, format!("header length {n} goes beyond the end of the file ({len} bytes): truncated or not a safetensors file")));
    }
    if n > MAX_HEADER {
        return Err(file_err(path, format!("header length {n} exceeds the {MAX_HEADER}-byte limit")));
    }
    Ok(())
}

/// Turns the `safetensors` crate's verdict on a file (whose header length is already known to
/// fit) into an error naming the tensor at fault: the crate says what kind of problem it
/// found, this finds which entry has it.
fn diagnose(path: &Path, bytes: &[u8], err: safetensors::SafeTensorError) -> NnError {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes were checked")) as usize;
    let data_len = bytes.len() - 8 - n;
    let header = match serde_json::from_slice::<serde_json::Map<String, Value>>(&bytes[8..8 + n]) {
        Ok(header) => header,
        Err(e) => return file_err(path, format!("the header is not a JSON object: {e}")),
    };
    let mut ranges = Vec::new();
    for (name, value) in &header {
        if name == "__metadata__" {
            continue;
        }
        let info = match serde_json::from_value::<TensorInfo>(value.clone()) {
            Ok(info) => info,
            Err(e) => return tensor_err(path, name, format!("bad header entry: {e}")),
        };
        let (begin, end) = info.data_offsets;
        if begin > end {
            return tensor_err(path, name, format!("data offsets [{begin}, {end}) are reversed"));
        }
        if end > data_len {
            return tensor_err(
                path,
                name,
                format!("data offsets [{begin}, {end}) go beyond the {data_len} bytes of data: the file is truncated or the header is wrong"),
            );
        }
        let bits = info.shape.iter().try_fold(info.dtype.bitsize(), |acc, &d| acc.checked_mul(d));
        if bits != Some((end - begin) * 8) {
            let needed = bits.map_or("too many".to_string(), |b| b.div_ceil(8).to_string());
            return tensor_err(
                path,
                name,
                format!("shape {:?} of {} needs {needed} bytes but its data offsets span {}", info.shape, info.dtype, end - begin),
            );
        }
        ranges.push((begin, end, name.as_str()));
    }
    ranges.sort();
    let mut covered = (0, "");
    for &(begin, end, name) in &ranges {
        if begin < covered.0 {
            let prev = covered.1;
            return tensor_err(path, name, format!("data offsets [{begin}, {end}) overlap those of tensor `{prev}`"));
        }
        if begin > covered.0 {
            return tensor_err(path, name, format!("data offsets [{begin}, {end}) leave bytes {}..{begin} unused", covered.0));
        }
        covered = (end, name);
    }
    if covered.0 < data_len {
        return file_err(path, format!("{} bytes after the last tensor's data", data_len - covered.0));
    }
    file_err(path, format!("invalid safetensors file: {err}"))
}
