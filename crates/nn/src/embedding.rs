//! Token embedding: a `[vocab, dim]` table looked up by id.

use loam_tensor::{Tensor, TensorError};

use crate::error::Result;
use crate::init::Init;
use crate::store::Builder;

/// A lookup table of `vocab` vectors of width `dim`.
#[derive(Debug, Clone)]
pub struct Embedding {
    /// The table, `[vocab, dim]`.
    pub weight: Tensor,
}

impl Embedding {
    /// A table initialized with `init` (GPT-2: normal, std 0.02).
    pub fn new(vocab: usize, dim: usize, init: Init, vb: Builder) -> Result<Embedding> {
        Ok(Embedding { weight: vb.get(&[vocab, dim], "weight", init)? })
    }

    /// The vectors of `ids` (row-major with shape `shape`): `shape → (shape…, dim)`. An id
    /// outside the vocabulary is an error.
    pub fn forward_ids(&self, ids: &[usize], shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != ids.len() {
            return Err(TensorError::ElementCount { op: "embedding", len: ids.len(), shape: shape.to_vec(), expected: n }.into());
        }
        let rows = self.weight.index_select(0, ids)?;
        let mut out = shape.to_vec();
        out.push(self.weight.shape()[1]);
        Ok(rows.reshape(&out)?)
    }
}
