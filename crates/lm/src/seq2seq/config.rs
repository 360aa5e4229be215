//! The shape and options of loam's encoder–decoder Transformer, with documented defaults.

use loam_nn::Activation;
use serde::{Deserialize, Serialize};

use crate::error::{LmError, Result};

/// How positions enter the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PositionKind {
    /// A learned table per stack, BART's (rows offset by 2).
    Learned,
    /// The fixed sin/cos encoding of the original Transformer.
    Sinusoidal,
}

/// The shape and options of a [`crate::Seq2Seq`]. Every field has a default, so a config file
/// names only what it changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Seq2SeqConfig {
    /// Encoder layers (default 3).
    pub n_layer: usize,
    /// Decoder layers; 0 means `n_layer` (default 0).
    pub n_decoder_layer: usize,
    /// Attention heads of every attention (default 4).
    pub n_head: usize,
    /// Model width (default 128).
    pub n_embd: usize,
    /// Feed-forward inner width; 0 means 4·`n_embd` (default 0).
    pub d_ff: usize,
    /// Longest source and longest target, in tokens (default 64).
    pub block_size: usize,
    /// Target (or shared) vocabulary size; 0 means "the tokenizer's" (default 0).
    pub vocab_size: usize,
    /// One vocabulary and one embedding for source and target (default true).
    pub shared_vocab: bool,
    /// Source vocabulary size when `shared_vocab` is false; 0 means "the source tokenizer's".
    pub source_vocab_size: usize,
    /// `learned` (BART) or `sinusoidal` (default `learned`).
    pub positions: PositionKind,
    /// Pre-LN (normalize each branch's input, final norms on both stacks) or post-LN (BART and
    /// the original Transformer; default false).
    pub pre_norm: bool,
    /// Feed-forward activation: `gelu`, `relu`, `gelu_new`, `silu` (default `gelu`).
    pub activation: String,
    /// Dropout on embeddings and residual branches (default 0.1).
    pub dropout: f32,
    /// Dropout on attention weights (default 0.0).
    pub attention_dropout: f32,
    /// Biases in linear layers and layer norms (default true).
    pub bias: bool,
    /// Layer norm epsilon (default 1e-5).
    pub layer_norm_eps: f32,
    /// The output head is the target embedding (default true).
    pub tie_embeddings: bool,
    /// Multiply token embeddings by √`n_embd` (default false, as BART).
    pub scale_embedding: bool,
    /// Padding id (default 1, BART's `<pad>`).
    pub pad_id: usize,
    /// First decoder input, the decoder start (default 0, `<s>`).
    pub bos_id: usize,
    /// End of sequence (default 2, `</s>`).
    pub eos_id: usize,
}

impl Default for Seq2SeqConfig {
    fn default() -> Self {
        Seq2SeqConfig {
            n_layer: 3,
            n_decoder_layer: 0,
            n_head: 4,
            n_embd: 128,
            d_ff: 0,
            block_size: 64,
            vocab_size: 0,
            shared_vocab: true,
            source_vocab_size: 0,
            positions: PositionKind::Learned,
            pre_norm: false,
            activation: "gelu".into(),
            dropout: 0.1,
            attention_dropout: 0.0,
            bias: true,
            layer_norm_eps: 1e-5,
            tie_embeddings: true,
            scale_embedding: false,
            pad_id: 1,
            bos_id: 0,
            eos_id: 2,
        }
    }
}

impl Seq2SeqConfig {
    /// Decoder layers.
    pub fn decoder_layers(&self) -> usize {
        if self.n_decoder_layer == 0 {
            self.n_layer
        } else {
            self.n_decoder_layer
        }
    }

    /// Feed-forward inner width.
    pub fn ffn_dim(&self) -> usize {
        if self.d_ff == 0 {
            4 * self.n_embd
        } else {
            self.d_ff
        }
    }

    /// The source vocabulary size.
    pub fn source_vocab(&self) -> usize {
        if self.shared_vocab {
            self.vocab_size
        } else {
            self.source_vocab_size
        }
    }

    /// Checks that the numbers fit together; errors name the key.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(LmError::Config(format!("seq2seq model config: {m}")));
        for (key, v) in [
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_embd", self.n_embd),
            ("block_size", self.block_size),
            ("vocab_size", self.vocab_size),
        ] {
            if v == 0 {
                return bad(format!("`{key}` must be positive"));
            }
        }
        if !self.shared_vocab && self.source_vocab_size == 0 {
            return bad("`source_vocab_size` must be positive when `shared_vocab` is false".into());
        }
        if self.shared_vocab && self.source_vocab_size != 0 {
            return bad("`source_vocab_size` applies only when `shared_vocab` is false".into());
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            return bad(format!(
                "`n_embd` {} is not a multiple of `n_head` {}",
                self.n_embd, self.n_head
            ));
        }
        for (key, p) in [
            ("dropout", self.dropout),
            ("attention_dropout", self.attention_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("`{key}` {p} is not in [0, 1)"));
            }
        }
        for (key, id) in [
            ("pad_id", self.pad_id),
            ("bos_id", self.bos_id),
            ("eos_id", self.eos_id),
        ] {
            if id >= self.vocab_size {
                return bad(format!(
                    "`{key}` {id} is outside the vocabulary of {}",
                    self.vocab_size
                ));
            }
        }
        if self.pad_id >= self.source_vocab() || self.eos_id >= self.source_vocab() {
            return bad(format!(
                "`pad_id` and `eos_id` must be in the source vocabulary of {}",
                self.source_vocab()
            ));
        }
        Activation::from_hf_name(&self.activation)
            .map_err(|e| LmError::Config(format!("seq2seq model config: `activation`: {e}")))?;
        Ok(())
    }
}
