//! Quantized checkpoints, as `cargo xtask quantize` writes them: a Hugging Face folder whose
//! `model.safetensors` keeps embeddings, norms and biases in f32 and stores each linear
//! layer's weight `P` quantized, `[out, in]`:
//!
//! - int8: `P` (I8 `[out, in]`) and `P.scale` (F32 `[out]`);
//! - q4: `P` (U8 `[out, blocks, 80]`: per row, blocks of four groups of 32 weights, each an
//!   f16 scale and minimum per group then the nibbles, loam-tensor's layout 2, `Q4_LAYOUT`);
//! - bf16: `P` (BF16 `[out, in]`).
//!
//! The header's metadata says so: `loam_quantization` is the format and `loam_quantized` a JSON
//! object giving each quantized weight its shape `[out, in]` and the layout its model reads
//! (`out_in`, or `in_out` for GPT-2's `Conv1D`); a q4 checkpoint also records its block layout
//! in `loam_q4_layout`. A q4 checkpoint of another layout (layout 1, written before the key
//! existed, kept f32 scales and minima in `P.scale` and `P.min`) is refused with a message to
//! quantize again, never read as the current layout. A model is built from the dequantized values
//! (so the ordinary loaders work unchanged), then each named linear layer takes the stored
//! quantized matrix as it is ([`HfWeights::apply_quantized`]).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use loam_nn::safetensors_io::{StoredTensor, save_raw};
use loam_nn::{StoredDtype, TensorFile, WeightLayout};
use loam_tensor::{Q4_BLOCK_BYTES, Q4_LAYOUT, QuantFormat, QuantMatrix, QuantParts, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{LmError, Result};
use crate::hf::gpt2::TIED_HEAD;
use crate::hf::weights::HfWeights;

/// Metadata key of the format (`int8`, `q4`, `bf16`).
pub const QUANT_FORMAT_KEY: &str = "loam_quantization";
/// Metadata key of the quantized weights' shapes and layouts (a JSON object by name).
pub const QUANT_WEIGHTS_KEY: &str = "loam_quantized";
/// Metadata key of the q4 block layout (`Q4_LAYOUT`; absent means layout 1).
pub const Q4_LAYOUT_KEY: &str = "loam_q4_layout";
/// Suffix of a weight's scales.
const SCALE: &str = ".scale";

/// What the metadata records of one quantized weight.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuantEntry {
    /// `[out, in]`.
    shape: [usize; 2],
    /// `out_in` or `in_out`: how the model's f32 weight is laid out.
    layout: String,
}

/// The quantized weights of a checkpoint, from its metadata.
#[derive(Debug)]
pub(crate) struct QuantIndex {
    format: QuantFormat,
    entries: BTreeMap<String, QuantEntry>,
}

impl QuantIndex {
    /// The index in the files' metadata, or `None` for an ordinary checkpoint. A format or
    /// index that does not parse, or a listed weight missing from the files, is an error.
    pub(crate) fn from_files(files: &[TensorFile], names: &BTreeMap<String, usize>) -> Result<Option<QuantIndex>> {
        let Some(file) = files.iter().find(|f| f.metadata().contains_key(QUANT_FORMAT_KEY)) else { return Ok(None) };
        let path = file.path().to_path_buf();
        let meta = file.metadata();
        let format = QuantFormat::parse(&meta[QUANT_FORMAT_KEY]).map_err(|e| LmError::file(&path, e.to_string()))?;
        if format == QuantFormat::Q4 {
            let layout = meta.get(Q4_LAYOUT_KEY).map_or("1", String::as_str);
            if layout != Q4_LAYOUT.to_string() {
                return Err(LmError::file(
                    &path,
                    format!(
                        "q4 checkpoint in block layout {layout}, but this build reads layout {Q4_LAYOUT} \
                         (f16 scales and minima in blocks): re-quantize the f32 model with `cargo xtask quantize --to q4`"
                    ),
                ));
            }
        }
        let text = meta
            .get(QUANT_WEIGHTS_KEY)
            .ok_or_else(|| LmError::file(&path, format!("metadata `{QUANT_WEIGHTS_KEY}` is missing")))?;
        let entries: BTreeMap<String, QuantEntry> = serde_json::from_str(text)
            .map_err(|e| LmError::file(&path, format!("metadata `{QUANT_WEIGHTS_KEY}` is not a valid index: {e}")))?;
        for (name, e) in &entries {
            let mut needed = vec![name.clone()];
            match format {
                QuantFormat::Bf16 | QuantFormat::Q4 => {}
                QuantFormat::Int8 => needed.push(format!("{name}{SCALE}")),
            }
            if let Some(missing) = needed.iter().find(|n| !names.contains_key(*n)) {
                return Err(LmError::file(
                    &path,
                    format!("quantized tensor `{missing}`: listed in the metadata but missing"),
                ));
            }
            if !matches!(e.layout.as_str(), "out_in" | "in_out") {
                return Err(LmError::file(
                    &path,
                    format!("quantized tensor `{name}`: layout `{}` is neither out_in nor in_out", e.layout),
                ));
            }
        }
        Ok(Some(QuantIndex { format, entries }))
    }

    /// Whether `name` is a quantized weight.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(name)
    }

    /// The quantized weights' names.
    pub(crate) fn names(&self) -> impl Iterator<Item = &String> {
        self.entries.keys()
    }

    /// Whether `name` is the scales of a quantized weight (not a parameter).
    pub(crate) fn is_part(&self, name: &str) -> bool {
        name.strip_suffix(SCALE).is_some_and(|base| self.contains(base))
    }

    /// Whether `name` is a tied head's quantized copy, which a GPT-2 loader takes itself.
    pub(crate) fn is_tied_head(&self, name: &str) -> bool {
        name == TIED_HEAD
    }

    /// The stored matrix `name` (`[out, in]`), every length checked.
    pub(crate) fn matrix(&self, ckpt: &HfWeights, name: &str) -> Result<QuantMatrix> {
        let bad = |msg: String| LmError::file(ckpt.file_of(name), format!("quantized tensor `{name}`: {msg}"));
        let entry = self.entries.get(name).ok_or_else(|| bad("not in the metadata".into()))?;
        let [rows, cols] = entry.shape;
        let raw = ckpt.raw(name)?;
        let want = match self.format {
            QuantFormat::Bf16 => StoredDtype::BF16,
            QuantFormat::Int8 => StoredDtype::I8,
            QuantFormat::Q4 => StoredDtype::U8,
        };
        if raw.dtype != want {
            return Err(bad(format!("stored as {} but a {} weight is {want}", raw.dtype, self.format)));
        }
        let floats = |part: &str| -> Result<Vec<f32>> { Ok(ckpt.tensor(&format!("{name}{part}"))?.to_vec()) };
        let parts = match self.format {
            QuantFormat::Bf16 => {
                QuantParts::Bf16(raw.bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect())
            }
            QuantFormat::Int8 => {
                QuantParts::Int8 { q: raw.bytes.iter().map(|&b| b as i8).collect(), scales: floats(SCALE)? }
            }
            QuantFormat::Q4 => QuantParts::Q4 { blocks: raw.bytes.to_vec() },
        };
        QuantMatrix::from_parts(rows, cols, parts).map_err(|e| bad(e.to_string()))
    }

    /// The weight `name` dequantized to f32, in the layout its model reads.
    pub(crate) fn dequantized(&self, ckpt: &HfWeights, name: &str) -> Result<Tensor> {
        let w = self.matrix(ckpt, name)?.dequantize();
        match self.entries.get(name).map(|e| e.layout.as_str()) {
            Some("in_out") => Ok(w.transpose(0, 1)?.contiguous()),
            _ => Ok(w),
        }
    }
}

/// One quantized weight to write: its name, the layout its model reads, and the matrix.
pub type QuantizedWeight = (String, WeightLayout, QuantMatrix);

/// Little-endian bytes of f32 values.
fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Writes `model.safetensors` at `path` (atomically): the f32 tensors `params` as they are and
/// the `quantized` weights in `format`, with the metadata that lets [`HfWeights`] load them.
/// Every quantized weight must be in `format`.
pub fn save_quantized(
    path: &Path,
    params: &[(String, Tensor)],
    quantized: &[QuantizedWeight],
    format: QuantFormat,
) -> Result<()> {
    let mut tensors: Vec<(String, StoredTensor)> = params
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                StoredTensor { dtype: StoredDtype::F32, shape: t.shape().to_vec(), bytes: f32_bytes(&t.to_vec()) },
            )
        })
        .collect();
    let mut index = BTreeMap::new();
    for (name, layout, m) in quantized {
        if m.format() != format {
            return Err(LmError::Config(format!("`{name}` is {} in a {format} checkpoint", m.format())));
        }
        let [rows, cols] = m.shape();
        let layout = if *layout == WeightLayout::InOut { "in_out" } else { "out_in" };
        index.insert(name.clone(), QuantEntry { shape: [rows, cols], layout: layout.into() });
        let f32s = |shape: Vec<usize>, v: &[f32]| StoredTensor { dtype: StoredDtype::F32, shape, bytes: f32_bytes(v) };
        match m.parts() {
            QuantParts::Bf16(bits) => {
                let bytes = bits.iter().flat_map(|b| b.to_le_bytes()).collect();
                tensors.push((name.clone(), StoredTensor { dtype: StoredDtype::BF16, shape: vec![rows, cols], bytes }));
            }
            QuantParts::Int8 { q, scales } => {
                let bytes = q.iter().map(|&v| v as u8).collect();
                tensors.push((name.clone(), StoredTensor { dtype: StoredDtype::I8, shape: vec![rows, cols], bytes }));
                tensors.push((format!("{name}{SCALE}"), f32s(vec![rows], &scales)));
            }
            QuantParts::Q4 { blocks } => {
                let per_row = blocks.len() / rows.max(1) / Q4_BLOCK_BYTES;
                tensors.push((
                    name.clone(),
                    StoredTensor { dtype: StoredDtype::U8, shape: vec![rows, per_row, Q4_BLOCK_BYTES], bytes: blocks },
                ));
            }
        }
    }
    let index = serde_json::to_string(&index).map_err(|e| LmError::Config(e.to_string()))?;
    let mut metadata = HashMap::from([
        ("format".to_string(), "pt".to_string()),
        (QUANT_FORMAT_KEY.to_string(), format.name().to_string()),
        (QUANT_WEIGHTS_KEY.to_string(), index),
    ]);
    if format == QuantFormat::Q4 {
        metadata.insert(Q4_LAYOUT_KEY.to_string(), Q4_LAYOUT.to_string());
    }
    save_raw(path, &tensors, Some(metadata))?;
    Ok(())
}
