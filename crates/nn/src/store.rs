//! The named parameter store and the builder that creates or fetches parameters by path
//! (`h.0.attn.c_attn.weight`), so checkpoint names need no mapping table.
//!
//! A store lives on one device. Parameters are drawn on the host (so a seed gives the same
//! values on every device) and then copied to it; a model is moved by building it again from
//! [`ParamStore::to_device`]'s copy, whose builder fetches every parameter by name.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use loam_tensor::{Device, Rng, Tensor};

use crate::error::{NnError, Result};
use crate::init::Init;
use crate::safetensors_io::{self, Metadata};

struct Inner {
    params: BTreeMap<String, Tensor>,
    frozen: BTreeSet<String>,
    rng: Rng,
    device: Device,
}

/// Trainable variables by hierarchical name. Cloning shares the store.
#[derive(Clone)]
pub struct ParamStore {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for ParamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.lock();
        write!(f, "ParamStore({} parameters, {} frozen, on {})", g.params.len(), g.frozen.len(), g.device)
    }
}

impl ParamStore {
    /// An empty store on the CPU whose new parameters draw their initial values from `seed`.
    pub fn new(seed: u64) -> Self {
        ParamStore::with_device(seed, Device::Cpu)
    }

    /// An empty store whose new parameters draw their initial values from `seed` on the host
    /// (the same values as [`ParamStore::new`]) and live on `device`.
    pub fn with_device(seed: u64, device: Device) -> Self {
        let inner = Inner { params: BTreeMap::new(), frozen: BTreeSet::new(), rng: Rng::new(seed), device };
        ParamStore { inner: Arc::new(Mutex::new(inner)) }
    }

    /// The device new parameters are created on.
    pub fn device(&self) -> Device {
        self.lock().device
    }

    /// This store on `device`: the store itself when it is there already, else a new store
    /// holding a copy of every parameter (a variable), the same frozen set and random stream.
    /// Build the model again from the copy (its builder fetches the parameters by name) to run
    /// it there; the copy and the original then train independently.
    pub fn to_device(&self, device: Device) -> Result<ParamStore> {
        let g = self.lock();
        if g.device == device {
            return Ok(self.clone());
        }
        let mut params = BTreeMap::new();
        for (name, p) in &g.params {
            params.insert(name.clone(), p.detach().to_device(device)?.to_var());
        }
        let inner = Inner { params, frozen: g.frozen.clone(), rng: g.rng.clone(), device };
        Ok(ParamStore { inner: Arc::new(Mutex::new(inner)) })
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

    /// Adds (or replaces) a parameter holding a copy of `value`, on `value`'s device; returns
    /// the variable.
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

    /// Saves every parameter to a safetensors file, atomically (through host memory).
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

    /// Assigns every parameter from `tensors` (on any device) by name, after checking all
    /// names and shapes.
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
            let t = &tensors[name];
            if t.device() == p.device() { p.assign(t)? } else { p.assign(&t.to_device(p.device())?)? }
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
    /// created with `init` (drawn on the host, then copied to the store's device).
    pub fn get(&self, shape: &[usize], name: &str, init: Init) -> Result<Tensor> {
        let full = self.path(name);
        let mut g = self.store.lock();
        if let Some(t) = g.params.get(&full) {
            if t.shape() != shape {
                return Err(NnError::ParamShape { name: full, expected: shape.to_vec(), found: t.shape().to_vec() });
            }
            return Ok(t.clone());
        }
        let value = init.tensor(shape, &mut g.rng);
        let var = if g.device == Device::Cpu { value } else { value.to_device(g.device)? }.to_var();
        g.params.insert(full, var.clone());
        Ok(var)
    }
}
