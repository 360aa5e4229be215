//! Keys and values of earlier positions, kept for incremental decoding.

use loam_tensor::Tensor;

use crate::error::Result;

/// The projected keys and values `[B, H, T, D]` of the positions decoded so far.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    k: Option<Tensor>,
    v: Option<Tensor>,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        KvCache::default()
    }

    /// The number of cached positions.
    pub fn len(&self) -> usize {
        self.k.as_ref().map_or(0, |k| k.shape()[2])
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every position.
    pub fn clear(&mut self) {
        self.k = None;
        self.v = None;
    }

    /// The cached keys and values, if any.
    pub fn get(&self) -> Option<(Tensor, Tensor)> {
        Some((self.k.clone()?, self.v.clone()?))
    }

    /// Appends new keys and values `[B, H, t, D]` and returns all of them.
    pub fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let (k, v) = match (&self.k, &self.v) {
            (Some(pk), Some(pv)) => (Tensor::cat(&[pk.clone(), k.clone()], 2)?, Tensor::cat(&[pv.clone(), v.clone()], 2)?),
            _ => (k.clone(), v.clone()),
        };
        self.k = Some(k.clone());
        self.v = Some(v.clone());
        Ok((k, v))
    }

    /// Replaces the contents (used to keep a cross-attention's projected memory).
    pub fn set(&mut self, k: Tensor, v: Tensor) {
        self.k = Some(k);
        self.v = Some(v);
    }
}
