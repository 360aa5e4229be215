//! Normalization layers: LayerNorm (bias optional) and RMSNorm.

use loam_tensor::Tensor;

use crate::error::Result;
use crate::init::Init;
use crate::module::Module;
use crate::store::Builder;

/// Layer normalization over the last axis with a learned scale and optional shift.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    /// Scale `[dim]`, initialized to ones.
    pub weight: Tensor,
    /// Shift `[dim]`, initialized to zeros, if any.
    pub bias: Option<Tensor>,
    /// Added to the variance (GPT-2: 1e-5, BERT: 1e-12).
    pub eps: f32,
}

impl LayerNorm {
    /// A layer norm of width `dim`.
    pub fn new(dim: usize, bias: bool, eps: f32, vb: Builder) -> Result<LayerNorm> {
        let weight = vb.get(&[dim], "weight", Init::Ones)?;
        let bias = if bias { Some(vb.get(&[dim], "bias", Init::Zeros)?) } else { None };
        Ok(LayerNorm { weight, bias, eps })
    }
}

impl Module for LayerNorm {
    // x: (…, dim) → (…, dim)
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.layer_norm(Some(&self.weight), self.bias.as_ref(), self.eps)?)
    }
}

/// Root-mean-square normalization: x / √(mean(x²) + eps) · weight.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    /// Scale `[dim]`, initialized to ones.
    pub weight: Tensor,
    /// Added to the mean square.
    pub eps: f32,
}

impl RmsNorm {
    /// An RMS norm of width `dim`.
    pub fn new(dim: usize, eps: f32, vb: Builder) -> Result<RmsNorm> {
        Ok(RmsNorm { weight: vb.get(&[dim], "weight", Init::Ones)?, eps })
    }
}

impl Module for RmsNorm {
    // x: (…, dim) → (…, dim)
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.rms_norm(&self.weight, self.eps)?)
    }
}
