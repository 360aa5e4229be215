//! One safetensors file, read defensively: the header is checked against the file's length
//! before anything is allocated, every tensor's dtype, shape and byte range is validated
//! (in bounds, sized to its shape, not overlapping another), and each problem is an error that
//! names the file and the tensor. Tensors are decoded to f32 (from F32, F16 or BF16) on demand.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use loam_tensor::Tensor;
use serde_json::Value;

use crate::error::{LmError, Result};

/// The largest header accepted (the `safetensors` crate's own limit).
const MAX_HEADER: u64 = 100_000_000;

/// An element type as a safetensors header names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dtype {
    /// 32-bit float.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// Any other type (`I64`, `F64`, `U8`…): listed, but not convertible to a parameter.
    Other(String),
}

impl Dtype {
    fn parse(s: &str) -> Dtype {
        match s {
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            other => Dtype::Other(other.to_string()),
        }
    }

    /// Bytes per element, when the type is one safetensors defines.
    pub fn size(&self) -> Option<usize> {
        match self {
            Dtype::F32 => Some(4),
            Dtype::F16 | Dtype::BF16 => Some(2),
            Dtype::Other(s) => match s.as_str() {
                "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => Some(1),
                "I16" | "U16" => Some(2),
                "I32" | "U32" => Some(4),
                "I64" | "U64" | "F64" => Some(8),
                _ => None,
            },
        }
    }

    /// Whether tensors of this type load as parameters.
    pub fn is_float(&self) -> bool {
        !matches!(self, Dtype::Other(_))
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dtype::F32 => f.write_str("F32"),
            Dtype::F16 => f.write_str("F16"),
            Dtype::BF16 => f.write_str("BF16"),
            Dtype::Other(s) => f.write_str(s),
        }
    }
}

/// One tensor's header entry: type, shape and byte range within the data section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Start of its bytes, relative to the data section.
    pub begin: usize,
    /// End (exclusive) of its bytes.
    pub end: usize,
}

/// A validated safetensors file held in memory.
#[derive(Debug)]
pub struct TensorFile {
    path: PathBuf,
    /// The bytes after the header.
    data: Vec<u8>,
    entries: BTreeMap<String, TensorEntry>,
    metadata: BTreeMap<String, String>,
}

fn file_err(path: &Path, msg: impl Into<String>) -> LmError {
    LmError::file(path, msg)
}

fn tensor_err(path: &Path, name: &str, msg: impl std::fmt::Display) -> LmError {
    LmError::file(path, format!("tensor `{name}`: {msg}"))
}

impl TensorFile {
    /// Reads and validates `path`. The header length is checked against the file's size
    /// before the header is read, so a forged length allocates nothing.
    pub fn open(path: &Path) -> Result<TensorFile> {
        let io = |e: std::io::Error| file_err(path, format!("cannot read: {e}"));
        let mut file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < 8 {
            return Err(file_err(path, format!("truncated: {len} bytes, too short for the 8-byte header length")));
        }
        let mut head = [0u8; 8];
        file.read_exact(&mut head).map_err(io)?;
        let n = u64::from_le_bytes(head);
        check_header_len(path, n, len)?;
        let mut bytes = Vec::with_capacity(len as usize);
        bytes.extend_from_slice(&head);
        file.read_to_end(&mut bytes).map_err(io)?;
        TensorFile::parse(path, bytes)
    }

    /// Validates a whole file's bytes (`path` only names it in errors).
    pub fn parse(path: &Path, mut bytes: Vec<u8>) -> Result<TensorFile> {
        let len = bytes.len() as u64;
        let head: [u8; 8] = bytes
            .get(..8)
            .and_then(|h| h.try_into().ok())
            .ok_or_else(|| file_err(path, format!("truncated: {len} bytes, too short for the 8-byte header length")))?;
        let n = u64::from_le_bytes(head);
        check_header_len(path, n, len)?;
        let header_end = 8 + n as usize;
        let header: Value = serde_json::from_slice(&bytes[8..header_end])
            .map_err(|e| file_err(path, format!("the header is not valid JSON: {e}")))?;
        let Value::Object(map) = header else {
            return Err(file_err(path, "the header is not a JSON object"));
        };
        let data_len = bytes.len() - header_end;
        let mut entries = BTreeMap::new();
        let mut metadata = BTreeMap::new();
        for (name, value) in map {
            if name == "__metadata__" {
                metadata = parse_metadata(path, &value)?;
                continue;
            }
            let entry = parse_entry(path, &name, &value, data_len)?;
            entries.insert(name, entry);
        }
        check_overlaps(path, &entries)?;
        bytes.drain(..header_end);
        Ok(TensorFile { path: path.to_path_buf(), data: bytes, entries, metadata })
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
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }

    /// The tensor `name` converted to f32; an error names the file and tensor when it is
    /// absent or of a type other than F32, F16 or BF16.
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        let entry = self.entries.get(name).ok_or_else(|| tensor_err(&self.path, name, "missing from the file"))?;
        let bytes = &self.data[entry.begin..entry.end];
        let values: Vec<f32> = match &entry.dtype {
            Dtype::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F16 => bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            Dtype::BF16 => bytes.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            Dtype::Other(d) => {
                return Err(tensor_err(&self.path, name, format!("unsupported dtype {d} (F32, F16 and BF16 load)")));
            }
        };
        Tensor::from_vec(values, &entry.shape).map_err(|e| tensor_err(&self.path, name, e))
    }
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

fn parse_metadata(path: &Path, value: &Value) -> Result<BTreeMap<String, String>> {
    let Value::Object(map) = value else {
        return Err(file_err(path, "`__metadata__` is not an object of strings"));
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k.clone(), s.clone())),
            _ => Err(file_err(path, format!("`__metadata__` value `{k}` is not a string"))),
        })
        .collect()
}

fn parse_entry(path: &Path, name: &str, value: &Value, data_len: usize) -> Result<TensorEntry> {
    let bad = |msg: &str| tensor_err(path, name, msg);
    let dtype = value.get("dtype").and_then(Value::as_str).ok_or_else(|| bad("no `dtype` string in the header"))?;
    let dtype = Dtype::parse(dtype);
    let shape = value
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no `shape` array in the header"))?
        .iter()
        .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| bad("`shape` holds something other than non-negative integers"))?;
    let offsets = value
        .get("data_offsets")
        .and_then(Value::as_array)
        .filter(|a| a.len() == 2)
        .and_then(|a| Some((a[0].as_u64()?, a[1].as_u64()?)))
        .ok_or_else(|| bad("`data_offsets` is not a pair of non-negative integers"))?;
    if shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d.max(1))).is_none() {
        return Err(bad("`shape` has more elements than memory can address"));
    }
    let (begin, end) = offsets;
    if begin > end {
        return Err(tensor_err(path, name, format!("data offsets [{begin}, {end}) are reversed")));
    }
    if end > data_len as u64 {
        return Err(tensor_err(
            path,
            name,
            format!("data offsets [{begin}, {end}) go beyond the {data_len} bytes of data: the file is truncated or the header is wrong"),
        ));
    }
    let (begin, end) = (begin as usize, end as usize);
    let elems = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if let Some(size) = dtype.size() {
        let expected = elems.and_then(|e| e.checked_mul(size));
        if expected != Some(end - begin) {
            return Err(tensor_err(
                path,
                name,
                format!("shape {shape:?} of {dtype} needs {} bytes but its data offsets span {}", expected.map_or("too many".to_string(), |e| e.to_string()), end - begin),
            ));
        }
    }
    Ok(TensorEntry { dtype, shape, begin, end })
}

fn check_overlaps(path: &Path, entries: &BTreeMap<String, TensorEntry>) -> Result<()> {
    let mut ranges: Vec<(&str, &TensorEntry)> = entries.iter().filter(|(_, e)| e.end > e.begin).map(|(n, e)| (n.as_str(), e)).collect();
    ranges.sort_by_key(|(_, e)| (e.begin, e.end));
    for pair in ranges.windows(2) {
        let ((a, ea), (b, eb)) = (pair[0], pair[1]);
        if eb.begin < ea.end {
            return Err(tensor_err(
                path,
                b,
                format!("data offsets [{}, {}) overlap those of tensor `{a}` [{}, {})", eb.begin, eb.end, ea.begin, ea.end),
            ));
        }
    }
    Ok(())
}
