//! The shape of a transformer encoder or decoder layer.

use crate::activation::Activation;

/// Dimensions and options shared by [`crate::EncoderLayer`] and [`crate::DecoderLayer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerConfig {
    /// Model width.
    pub d_model: usize,
    /// Attention heads (`d_model` is a multiple).
    pub n_heads: usize,
    /// Feed-forward inner width (commonly 4·d_model).
    pub d_ff: usize,
    /// Dropout on each residual branch.
    pub dropout: f32,
    /// Dropout on the attention weights.
    pub attn_dropout: f32,
    /// Feed-forward activation.
    pub act: Activation,
    /// Pre-LN (normalize each branch's input, GPT-2) or post-LN (normalize after the residual
    /// sum, BERT and the original Transformer).
    pub pre_norm: bool,
    /// Layer norm epsilon.
    pub eps: f32,
    /// Biases in the linear layers and layer norms.
    pub bias: bool,
}

impl Default for LayerConfig {
    /// The base Transformer: d 512, 8 heads, d_ff 2048, dropout 0.1, ReLU, post-LN.
    fn default() -> Self {
        LayerConfig {
            d_model: 512,
            n_heads: 8,
            d_ff: 2048,
            dropout: 0.1,
            attn_dropout: 0.1,
            act: Activation::Relu,
            pre_norm: false,
            eps: 1e-5,
            bias: true,
        }
    }
}
