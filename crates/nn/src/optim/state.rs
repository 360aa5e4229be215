//! Optimizer state files: safetensors holding one tensor per parameter and state buffer
//! (`m.h.0.attn.c_attn.weight`), with the optimizer kind, step counts, weight decays and
//! hyperparameters in the metadata, so that training resumes bit for bit.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;

use loam_tensor::Tensor;

use crate::error::{NnError, Result};
use crate::optim::group::{self, Buffers, Slot};
use crate::safetensors_io::{self, Metadata};

/// Metadata keys: the kind, the optimizer's step count, and per parameter its step count and
/// weight decay (`step.<param>`, `weight_decay.<param>`).
const KIND: &str = "optimizer";
const STEPS: &str = "steps";

fn file_err(path: &Path, msg: String) -> NnError {
    NnError::File { path: path.to_path_buf(), msg }
}

/// Writes the slots' buffers, named `buffers`, and the metadata of an optimizer of kind `kind`
/// (`hyper` holds its hyperparameters as text).
pub(crate) fn save(path: &Path, kind: &str, buffers: &[&str], slots: &[Slot], steps: u64, hyper: &[(&str, String)]) -> Result<()> {
    let mut tensors = Vec::with_capacity(slots.len() * buffers.len());
    let mut meta = Metadata::new();
    meta.insert(KIND.into(), kind.into());
    meta.insert(STEPS.into(), steps.to_string());
    for (k, v) in hyper {
        meta.insert((*k).into(), v.clone());
    }
    for slot in slots {
        for (buffer, values) in buffers.iter().zip(slot.buffers.host_values()?) {
            tensors.push((format!("{buffer}.{}", slot.name), Tensor::from_vec(values, slot.param.shape())?));
        }
        meta.insert(format!("step.{}", slot.name), slot.steps.to_string());
        meta.insert(format!("weight_decay.{}", slot.name), slot.weight_decay.to_string());
    }
    safetensors_io::save(path, &tensors, Some(meta))
}

/// An optimizer state file read back, before its slots are rebuilt.
pub(crate) struct Opened<'p> {
    path: &'p Path,
    meta: Metadata,
    tensors: HashMap<String, Tensor>,
    /// The optimizer's step count.
    pub(crate) steps: u64,
}

fn parse<T: FromStr>(path: &Path, meta: &Metadata, key: &str) -> Result<T> {
    let text = meta.get(key).ok_or_else(|| file_err(path, format!("optimizer state lacks `{key}` in its metadata")))?;
    text.parse().map_err(|_| file_err(path, format!("optimizer state has an invalid `{key}`: {text:?}")))
}

/// Reads `path`, which must hold the state of an optimizer of kind `kind`.
pub(crate) fn open<'p>(path: &'p Path, kind: &str) -> Result<Opened<'p>> {
    let loaded = safetensors_io::load(path)?;
    let found: String = parse(path, &loaded.metadata, KIND)?;
    if found != kind {
        return Err(file_err(path, format!("holds the state of {found}, not of {kind}")));
    }
    let steps = parse(path, &loaded.metadata, STEPS)?;
    Ok(Opened { path, meta: loaded.metadata, tensors: loaded.tensors, steps })
}

impl Opened<'_> {
    /// The metadata value `key`, parsed; an error names the file and key when absent or bad.
    pub(crate) fn get<T: FromStr>(&self, key: &str) -> Result<T> {
        parse(self.path, &self.meta, key)
    }

    /// The slots of `params` with the buffers named `buffers`; a missing buffer tensor, one of
    /// another shape, or missing per-parameter metadata is an error naming it.
    pub(crate) fn slots(&self, params: &[(String, Tensor)], buffers: &[&str]) -> Result<Vec<Slot>> {
        let mut seen = HashSet::new();
        let mut slots = Vec::with_capacity(params.len());
        for (name, param) in params {
            if !param.is_var() {
                return Err(NnError::Config(format!("`{name}` is not a variable, so an optimizer cannot update it")));
            }
            if !seen.insert(name) {
                return Err(NnError::Config(format!("parameter `{name}` is given to the optimizer twice")));
            }
            let mut values = Vec::with_capacity(buffers.len());
            for buffer in buffers {
                let key = format!("{buffer}.{name}");
                let t = self
                    .tensors
                    .get(&key)
                    .ok_or_else(|| NnError::MissingParam { name: key.clone(), file: Some(self.path.to_path_buf()) })?;
                if t.shape() != param.shape() {
                    return Err(NnError::ParamShape { name: key, expected: param.shape().to_vec(), found: t.shape().to_vec() });
                }
                values.push(group::with_values(t, <[f32]>::to_vec));
            }
            let steps = self.get(&format!("step.{name}"))?;
            let weight_decay: f32 = self.get(&format!("weight_decay.{name}"))?;
            if !(weight_decay.is_finite() && weight_decay >= 0.0) {
                return Err(file_err(self.path, format!("weight decay of `{name}` is {weight_decay}")));
            }
            let buffers = Buffers::from_values(param, values)?;
            slots.push(Slot { name: name.clone(), param: param.clone(), weight_decay, steps, buffers });
        }
        Ok(slots)
    }
}
