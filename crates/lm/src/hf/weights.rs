//! The weights of a Hugging Face model folder: `model.safetensors`, or the shards listed by
//! `model.safetensors.index.json`. Every file is validated when opened; a model is then built
//! from the tensors it asks for, and a tensor it needs but the files lack is an error.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use loam_nn::{Linear, NnError, ParamStore, RawTensor, TensorEntry, TensorFile};
use loam_tensor::{QuantMatrix, Tensor};
use serde::Deserialize;

use crate::error::{LmError, Result};
use crate::hf::quantized::QuantIndex;

/// The single-file weights name.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The index of sharded weights.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// `model.safetensors.index.json`: which shard holds each tensor.
#[derive(Deserialize)]
struct ShardIndex {
    weight_map: BTreeMap<String, String>,
}

/// The Hugging Face weights of a model folder: all its tensors, by name, each with the file
/// that holds it.
#[derive(Debug)]
pub struct HfWeights {
    files: Vec<TensorFile>,
    /// Tensor name → index into `files`.
    names: BTreeMap<String, usize>,
    /// The quantized weights, when a `cargo xtask quantize` checkpoint holds some.
    quant: Option<QuantIndex>,
}

impl HfWeights {
    /// Opens the weights of the model folder `dir` (single file or sharded).
    pub fn open(dir: &Path) -> Result<HfWeights> {
        let single = dir.join(WEIGHTS_FILE);
        let index = dir.join(INDEX_FILE);
        if single.is_file() {
            HfWeights::from_files(vec![TensorFile::open(&single)?])
        } else if index.is_file() {
            HfWeights::open_sharded(&index)
        } else if dir.join("pytorch_model.bin").is_file() {
            Err(LmError::file(dir, "holds only pytorch_model.bin: loam reads safetensors weights (convert with `transformers`' save_pretrained(safe_serialization=True))"))
        } else {
            Err(LmError::file(dir, format!("no {WEIGHTS_FILE} or {INDEX_FILE} in this folder")))
        }
    }

    /// Opens the shards an index lists and checks that each holds the tensors assigned to it.
    fn open_sharded(index_path: &Path) -> Result<HfWeights> {
        let text = std::fs::read_to_string(index_path).map_err(|e| LmError::file(index_path, format!("cannot read: {e}")))?;
        let index: ShardIndex =
            serde_json::from_str(&text).map_err(|e| LmError::file(index_path, format!("not a valid shard index: {e}")))?;
        let dir = index_path.parent().unwrap_or(Path::new("."));
        let shard_names: BTreeSet<&String> = index.weight_map.values().collect();
        let mut files = Vec::new();
        for shard in shard_names {
            let plain = Path::new(shard).components().count() == 1 && !shard.starts_with('.');
            if !plain {
                return Err(LmError::file(index_path, format!("shard name `{shard}` is not a plain file name in this folder")));
            }
            files.push(TensorFile::open(&dir.join(shard))?);
        }
        for (name, shard) in &index.weight_map {
            let file = files.iter().find(|f| f.path().file_name().is_some_and(|n| n == shard.as_str()));
            if !file.is_some_and(|f| f.entries().contains_key(name)) {
                return Err(LmError::file(dir.join(shard), format!("tensor `{name}`: listed in {INDEX_FILE} but missing from this shard")));
            }
        }
        HfWeights::from_files(files)
    }

    /// A checkpoint over already opened files; a tensor name in two files is an error.
    pub fn from_files(files: Vec<TensorFile>) -> Result<HfWeights> {
        let mut names = BTreeMap::new();
        for (i, file) in files.iter().enumerate() {
            for name in file.entries().keys() {
                if let Some(prev) = names.insert(name.clone(), i) {
                    return Err(LmError::file(
                        file.path(),
                        format!("tensor `{name}`: also in {}", files[prev].path().display()),
                    ));
                }
            }
        }
        let quant = QuantIndex::from_files(&files, &names)?;
        Ok(HfWeights { files, names, quant })
    }

    /// The weight `name` as the quantized matrix the checkpoint stores (`[out, in]`), or
    /// `None` when it is not stored quantized.
    pub fn quantized(&self, name: &str) -> Result<Option<QuantMatrix>> {
        match &self.quant {
            Some(q) if q.contains(name) => Ok(Some(q.matrix(self, name)?)),
            _ => Ok(None),
        }
    }

    /// Puts the checkpoint's quantized weights into the `layers` named like them (after a
    /// model was built from their dequantized values); a quantized weight that no layer
    /// takes is an error.
    pub fn apply_quantized(&self, layers: Vec<&mut Linear>) -> Result<()> {
        let Some(q) = &self.quant else { return Ok(()) };
        let mut used = BTreeSet::new();
        for layer in layers {
            let Some(name) = layer.name.clone().filter(|n| q.contains(n)) else { continue };
            *layer = layer.with_quantized(q.matrix(self, &name)?)?;
            used.insert(name);
        }
        match q.names().find(|n| !used.contains(*n) && !q.is_tied_head(n)) {
            Some(n) => Err(LmError::file(self.file_of(n), format!("quantized tensor `{n}` matches no linear layer of the model"))),
            None => Ok(()),
        }
    }

    /// The tensor names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(String::as_str)
    }

    /// Whether a tensor `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.names.contains_key(name)
    }

    /// The header entry of `name` and the file holding it.
    pub fn entry(&self, name: &str) -> Option<(&TensorEntry, &Path)> {
        let file = &self.files[*self.names.get(name)?];
        Some((file.entries().get(name)?, file.path()))
    }

    /// The file that holds `name`, or the first file when none does (for error messages).
    pub fn file_of(&self, name: &str) -> PathBuf {
        let i = self.names.get(name).copied().unwrap_or(0);
        self.files.get(i).map(|f| f.path().to_path_buf()).unwrap_or_default()
    }

    /// The tensor `name` converted to f32 (a quantized weight dequantized, in the layout its
    /// model reads).
    pub fn tensor(&self, name: &str) -> Result<Tensor> {
        if let Some(q) = self.quant.as_ref().filter(|q| q.contains(name)) {
            return q.dequantized(self, name);
        }
        match self.names.get(name) {
            Some(&i) => Ok(self.files[i].tensor(name)?),
            None => Err(LmError::file(self.file_of(name), format!("tensor `{name}`: missing"))),
        }
    }

    /// The tensor `name` as stored (type, shape, bytes borrowed from the file), for a model
    /// that keeps BF16 or F16 weights without an f32 copy.
    pub fn raw(&self, name: &str) -> Result<RawTensor<'_>> {
        match self.names.get(name) {
            Some(&i) => Ok(self.files[i].raw(name)?),
            None => Err(LmError::file(self.file_of(name), format!("tensor `{name}`: missing"))),
        }
    }

    /// Builds a model from this checkpoint: every float tensor is put in a fresh store under
    /// its own name, `build` fetches the parameters it needs by name, and then each parameter
    /// of the store must have come from the file. A shape that disagrees with the model's
    /// configuration, a missing tensor and a non-float tensor are errors naming the file and
    /// the tensor.
    pub fn build<M>(&self, build: impl FnOnce(&ParamStore) -> Result<M>) -> Result<(M, ParamStore)> {
        self.build_renamed(&|name| Some(name.to_string()), build)
    }

    /// As [`HfWeights::build`], with the store's name of each tensor given by `rename`
    /// (`None` leaves the tensor out: buffers, tied copies).
    pub fn build_renamed<M>(
        &self,
        rename: &dyn Fn(&str) -> Option<String>,
        build: impl FnOnce(&ParamStore) -> Result<M>,
    ) -> Result<(M, ParamStore)> {
        let store = ParamStore::new(0);
        let mut origin: BTreeMap<String, String> = BTreeMap::new();
        let quantized = |name: &str| self.quant.as_ref().is_some_and(|q| q.contains(name));
        for name in self.names.keys() {
            if self.quant.as_ref().is_some_and(|q| q.is_part(name)) {
                continue;
            }
            let Some(param) = rename(name) else { continue };
            if self.entry(name).is_some_and(|(e, _)| e.is_float()) || quantized(name) {
                store.insert(&param, &self.tensor(name)?);
            }
            origin.insert(param, name.clone());
        }
        let file_name = |param: &str| origin.get(param).map_or_else(|| param.to_string(), Clone::clone);
        let model = build(&store).map_err(|e| match e {
            LmError::Nn(NnError::ParamShape { name, expected, found }) => LmError::file(
                self.file_of(&file_name(&name)),
                format!("tensor `{}` has shape {found:?} but the model's config needs {expected:?}", file_name(&name)),
            ),
            other => other,
        })?;
        for (param, _) in store.params() {
            let name = file_name(&param);
            match self.entry(&name).filter(|_| origin.contains_key(&param)) {
                None => {
                    return Err(LmError::file(self.file_of(&name), format!("tensor `{name}`: missing, and the model needs it")));
                }
                Some((e, path)) if !e.is_float() && !quantized(&name) => {
                    return Err(LmError::file(path, format!("tensor `{name}`: unsupported dtype {} (F32, F16 and BF16 load)", e.dtype)));
                }
                Some(_) => {}
            }
        }
        Ok((model, store))
    }
}
