//! `cargo xtask train`: trains a language model once the training loop exists.

use anyhow::{Result, bail};

/// Says that training is not available yet, and which issue brings it, and fails.
pub fn run() -> Result<()> {
    bail!(
        "training is not available yet: the training loop lands with issue 5 (crate loam-lm); \
         today loam offers the tensor crate (loam-tensor) and the text crate (loam-text)"
    )
}
