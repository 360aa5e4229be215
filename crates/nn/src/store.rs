//! The named parameter store and the builder that creates or fetches parameters by path
//! (`h.0.attn.c_attn.weight`), so checkpoint names need no mapping table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use loam_tensor::{Rng, Tensor};

use crate::error::{NnError, Result};
use crate::init::Init;
use crate::safetensors_io::{self, Metadata};

struct Inner {
    params: BTreeMap<String, Tensor>,
    frozen: BTreeSet<String>,
    rng: Rng,
}

/// Trainable variables by hierarchical name. Cloning shares the store.
#[derive(Clone)]
pub struct ParamStore {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for ParamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.lock();
        write!(f, "ParamStore({} parameters, {} frozen)", g.params.len(), g.frozen.len())
    }
}

impl ParamStore {
    /// An empty store whose new parameters draw their initial values from `seed`.
    pub fn new(seed: u64) -> Self {
        ParamStore {
            inner: Arc::new(Mutex::new(Inner { params: BTreeMap::new(), frozen: BTreeSet::new(), rng: Rng::new(seed) })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A builder at the root path.
    pub fn builder(&self) -> Builder {
        Builder { store: self.clone(), prefix: String::new() }
    }

    /// The parameter called `name`.
    pub fn get(&self, name: &str) -> Option<Tensor> {
        self.lock().params.get(name).cloned()
    }

    /// Adds (or replaces) a parameter holding a copy of `value`; returns the variable.
    pub fn insert(&self, name: &str, value: &Tensor) -> Tensor {
        let var = value.to_var();
        self.lock().params.insert(name.to_string(), var.clone());
        var
    }

    /// All parameters, sorted by name.
    pub fn params(&self) -> Vec<(String, Tensor)> {
        self.lock().params.iter().map(|(n, t)| (n.clone(), t.clone())).collect()
    }

    /// The parameters not frozen, sorted by name: what an optimizer updates.
    pub fn trainable(&self) -> Vec<(String, Tensor)> {
        let g = self.lock();
        g.params.iter().filter(|(n, _)| !g.frozen.contains(*n)).map(|(n, t)| (n.clone(), t.clone())).collect()
    }

    /// Freezes every parameter whose name starts with `prefix`; returns how many.
    pub fn freeze(&self, prefix: &str) -> usize {
        let mut g = self.lock();
        let names: Vec<String> = g.params.keys().filter(|n| n.starts_with(prefix)).cloned().collect();
        let n = names.len();
        g.frozen.extend(names);
        n
    }

    /// Unfreezes every parameter whose name starts with `prefix`; returns how many.
    pub fn unfreeze(&self, prefix: &str) -> usize {
        let mut g = self.lock();
        let before = g.frozen.len();
        g.frozen.retain(|n| !n.starts_with(prefix));
        before - g.frozen.len()
    }

    /// The number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.lock().params.values().map(|t| t.elem_count()).sum()
    }

    /// The number of scalar parameters not frozen.
    pub fn num_trainable(&self) -> usize {
        self.trainable().iter().map(|(_, t)| t.elem_count()).sum()
    }

    /// Saves every parameter to a safetensors file, atomically.
    pub fn save(&self, path: &Path, metadata: Option<Metadata>) -> Result<()> {
        safetensors_io::save(path, &self.params(), metadata)
    }

    /// Loads every parameter of the store from a safetensors file. A parameter missing from
    /// the file or with another shape is an error naming it; the store is changed only when
    /// all are present and right. Returns the file's metadata.
    pub fn load(&self, path: &Path) -> Result<Metadata> {
        let loaded = safetensors_io::load(path)?;
        self.assign_from(&loaded.tensors, Some(path))?;
        Ok(loaded.metadata)
    }

    /// Assigns every parameter from `tensors` by name, after checking all names and shapes.
    pub fn assign_from(&self, tensors: &std::collections::HashMap<String, Tensor>, file: Option<&Path>) -> Result<()> {
        let params = self.params();
        for (name, p) in &params {
            let t = tensors
                .get(name)
                .ok_or_else(|| NnError::MissingParam { name: name.clone(), file: file.map(Path::to_path_buf) })?;
            if t.shape() != p.shape() {
                return Err(NnError::ParamShape { name: name.clone(), expected: p.shape().to_vec(), found: t.shape().to_vec() });
            }
        }
        for (name, p) in &params {
            p.assign(&tensors[name])?;
        }
        Ok(())
    }
}

/// Creates or fetches parameters under a path prefix: `vb.pp("h").pp(0).get(…, "weight", …)`
/// names the parameter `h.0.weight`.
#[derive(Clone)]
pub struct Builder {
    store: ParamStore,
    prefix: String,
}

impl Builder {
    /// A builder one level down the path.
    pub fn pp(&self, name: impl std::fmt::Display) -> Builder {
        Builder { store: self.store.clone(), prefix: self.path(&name.to_string()) }
    }

    /// The full name of `name` under this builder's prefix.
    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}.{name}", self.prefix) }
    }

    /// The store this builder writes to.
    pub fn store(&self) -> &ParamStore {
        &self.store
    }

    /// The parameter `name` of `shape`: fetched if it exists (its shape must agree), else
    /// created with `init`.
    pub fn get(&self, shape: &[usize], name: &str, init: Init) -> Result<Tensor> {
        let full = self.path(name);
        let mut g = self.store.lock();
        if let Some(t) = g.params.get(&full) {
            if t.shape() != shape {
                return Err(NnError::ParamShape { name: full, expected: shape.to_vec(), found: t.shape().to_vec() });
            }
            return Ok(t.clone());
        }
        let var = init.tensor(shape, &mut g.rng).to_var();
        g.params.insert(full, var.clone());
        Ok(var)
    }
}
