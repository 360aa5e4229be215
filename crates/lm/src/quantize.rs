//! Quantizing a model folder (`cargo xtask quantize`): a Hugging Face GPT-2, BERT (encoder or
//! masked LM), Llama-family, T5 or BART folder is loaded, every linear layer's weight (and a
//! head that is a matrix rather than a layer: GPT-2's and T5's tied heads, BART's head) is
//! quantized to int8, 4-bit or bf16, and the result is written as a new folder
//! that every command loads through [`AutoModel`] like any other: the same `config.json`,
//! tokenizer and side files, and a `model.safetensors` in the layout of [`save_quantized`].
//! The folder appears whole or not at all (it is written beside the target, then renamed).

use std::path::{Path, PathBuf};

use loam_nn::{Linear, LinearWeight, ParamStore, WeightLayout};
use loam_tensor::{QuantFormat, QuantMatrix, Tensor};

use crate::auto::{Architecture, AutoModel};
use crate::error::{LmError, Result};
use crate::hf::{QuantizedWeight, TIED_HEAD, WEIGHTS_FILE, save_quantized};

/// What a quantization wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizeReport {
    /// The model type (`gpt2`, `bert`, `llama`, `qwen2`, `t5`, `bart`).
    pub model_type: &'static str,
    /// The format.
    pub format: QuantFormat,
    /// Quantized weight matrices.
    pub weights: usize,
    /// Bytes those matrices took in f32.
    pub f32_bytes: usize,
    /// Bytes they take quantized (values, scales and minima).
    pub quantized_bytes: usize,
    /// Size of the written `model.safetensors`.
    pub file_bytes: u64,
}

/// Weight files of a source folder, which are not copied (the quantized file replaces them).
fn is_weights_file(name: &str) -> bool {
    [".safetensors", ".safetensors.index.json", ".bin", ".h5", ".msgpack", ".pt", ".pth", ".onnx", ".ot"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// The quantized weights of `layers` (every one must be quantized and named), each recorded
/// with the layout its layer keeps.
fn quantized_weights(layers: Vec<&mut Linear>) -> Result<Vec<QuantizedWeight>> {
    layers
        .into_iter()
        .map(|l| match (&l.name, &l.weight) {
            (Some(name), LinearWeight::Quantized(q)) => Ok((name.clone(), l.layout, (**q).clone())),
            _ => Err(LmError::Config(format!("a linear layer {:?} was left unquantized or unnamed", l.name))),
        })
        .collect()
}

/// The quantized weights of an encoder–decoder (T5, BART): its projections `layers`, recorded
/// `[out, in]` (the loader reads them so, then keeps `[in, out]` inference copies, which the
/// layers' own layout describes), and a head kept as a quantized matrix, stored as
/// `lm_head.weight` like GPT-2's tied head (for BART an untied head's f32 weight too, which
/// the file then no longer holds).
fn encoder_decoder_weights(layers: Vec<&mut Linear>, head: Option<QuantMatrix>) -> Result<Vec<QuantizedWeight>> {
    let mut weights = quantized_weights(layers)?;
    for (_, layout, _) in &mut weights {
        *layout = WeightLayout::OutIn;
    }
    weights.extend(head.map(|h| (TIED_HEAD.to_string(), WeightLayout::OutIn, h)));
    Ok(weights)
}

/// The f32 parameters of `store` that are not among `quantized`.
fn f32_params(store: &ParamStore, quantized: &[QuantizedWeight]) -> Vec<(String, Tensor)> {
    store.params().into_iter().filter(|(n, _)| !quantized.iter().any(|(q, _, _)| q == n)).collect()
}

/// A quantized model's f32 parameters (embeddings, norms, biases) and quantized weights.
type QuantizedParams = (Vec<(String, Tensor)>, Vec<QuantizedWeight>);

/// The quantized weights and the remaining f32 parameters of a loaded model.
fn quantize_architecture(model: &AutoModel, format: QuantFormat) -> Result<QuantizedParams> {
    Ok(match &model.architecture {
        Architecture::Gpt2(g) => {
            let mut q = g.model.quantize(format)?;
            let mut weights = quantized_weights(q.linears_mut())?;
            if let Some(head) = q.tied_head() {
                weights.push((TIED_HEAD.to_string(), loam_nn::WeightLayout::OutIn, head.clone()));
            }
            (f32_params(&g.store, &weights), weights)
        }
        Architecture::Bert { model: bert, store } => {
            let weights = quantized_weights(bert.quantize(format)?.linears_mut())?;
            (f32_params(store, &weights), weights)
        }
        Architecture::Llama(l) => {
            let store =
                l.store.as_ref().ok_or_else(|| LmError::Config("a bfloat16-loaded Llama has no f32 store".into()))?;
            let weights = quantized_weights(l.model.quantize(format)?.linears_mut())?;
            (f32_params(store, &weights), weights)
        }
        Architecture::BertForMaskedLM { model: mlm, store } => {
            let weights = quantized_weights(mlm.quantize(format)?.linears_mut())?;
            (f32_params(store, &weights), weights)
        }
        Architecture::T5 { model: t5, store } => {
            let mut q = t5.quantize(format)?;
            let head = q.quantized_head().cloned();
            let weights = encoder_decoder_weights(q.linears_mut(), head)?;
            (f32_params(store, &weights), weights)
        }
        Architecture::Bart { model: bart, store } => {
            let mut q = bart.quantize(format)?;
            let head = q.quantized_head().cloned();
            let weights = encoder_decoder_weights(q.linears_mut(), head)?;
            (f32_params(store, &weights), weights)
        }
        Architecture::LoamRun { .. } => {
            return Err(LmError::file(
                &model.dir,
                "a loam run folder does not quantize to a checkpoint \
                 (quantize a Hugging Face folder: GPT-2, BERT, Llama, Qwen2, T5, BART)",
            ));
        }
    })
}

/// Quantizes the model folder `src` to `format` into the folder `out`. An `out` that exists
/// and is not empty is refused unless `overwrite`; `out` must not be `src`.
pub fn quantize_folder(src: &Path, format: QuantFormat, out: &Path, overwrite: bool) -> Result<QuantizeReport> {
    if out.exists() {
        let same = std::fs::canonicalize(out).ok() == std::fs::canonicalize(src).ok();
        if same {
            return Err(LmError::file(out, "is the source folder: write the quantized model elsewhere"));
        }
        if !out.is_dir() {
            return Err(LmError::file(out, "exists and is not a folder"));
        }
        let empty =
            std::fs::read_dir(out).map_err(|e| LmError::file(out, format!("cannot read: {e}")))?.next().is_none();
        if !empty && !overwrite {
            return Err(LmError::file(out, "exists and is not empty: pass --overwrite to replace it"));
        }
    }
    let model = AutoModel::from_dir(src)?;
    let (params, weights) = quantize_architecture(&model, format)?;
    let staging = staging_dir(out)?;
    let written = write_folder(src, &staging, &params, &weights, format).and_then(|()| {
        if out.exists() {
            std::fs::remove_dir_all(out).map_err(|e| LmError::file(out, format!("cannot replace: {e}")))?;
        }
        std::fs::rename(&staging, out)
            .map_err(|e| LmError::file(out, format!("cannot move the new folder in place: {e}")))
    });
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    let file_bytes = std::fs::metadata(out.join(WEIGHTS_FILE)).map(|m| m.len()).unwrap_or(0);
    Ok(QuantizeReport {
        model_type: model.model_type(),
        format,
        weights: weights.len(),
        f32_bytes: weights.iter().map(|(_, _, q)| 4 * q.shape()[0] * q.shape()[1]).sum(),
        quantized_bytes: weights.iter().map(|(_, _, q)| q.bytes()).sum(),
        file_bytes,
    })
}

/// A fresh folder beside `out` to write into before the rename.
fn staging_dir(out: &Path) -> Result<PathBuf> {
    let name = out.file_name().map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| LmError::file(parent, format!("cannot create: {e}")))?;
    let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| LmError::file(&staging, format!("cannot clear: {e}")))?;
    }
    std::fs::create_dir(&staging).map_err(|e| LmError::file(&staging, format!("cannot create: {e}")))?;
    Ok(staging)
}

/// Copies `src`'s side files (config, tokenizer, templates…) and writes the weights.
fn write_folder(
    src: &Path,
    dir: &Path,
    params: &[(String, Tensor)],
    weights: &[QuantizedWeight],
    format: QuantFormat,
) -> Result<()> {
    let entries = std::fs::read_dir(src).map_err(|e| LmError::file(src, format!("cannot read: {e}")))?;
    for entry in entries {
        let entry = entry.map_err(|e| LmError::file(src, format!("cannot read: {e}")))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_file() && !is_weights_file(&name) {
            std::fs::copy(entry.path(), dir.join(&name))
                .map_err(|e| LmError::file(entry.path(), format!("cannot copy: {e}")))?;
        }
    }
    save_quantized(&dir.join(WEIGHTS_FILE), params, weights, format)
}
