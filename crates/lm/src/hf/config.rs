//! `config.json` of Hugging Face BERT and GPT-2 models, parsed and validated: a model type,
//! activation or option loam does not implement is a clear error rather than wrong numbers.

use std::path::Path;

use loam_nn::Activation;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{LmError, Result};
use crate::gpt::GptConfig;

/// Reads and parses a `config.json`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| LmError::file(path, format!("cannot read: {e}")))?;
    serde_json::from_str(&text).map_err(|e| LmError::file(path, format!("not a valid config: {e}")))
}

fn check(path: &Path, ok: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if ok { Ok(()) } else { Err(LmError::file(path, msg())) }
}

/// The fields of a BERT `config.json` that shape the model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Must be `bert`.
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden width.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Feed-forward inner width.
    pub intermediate_size: usize,
    /// Feed-forward activation (`gelu` is the exact one).
    pub hidden_act: String,
    /// Longest sequence (learned positions).
    pub max_position_embeddings: usize,
    /// Number of token types (segments).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// Layer norm epsilon (1e-12 in BERT).
    #[serde(default = "default_bert_eps")]
    pub layer_norm_eps: f64,
    /// Only `absolute` positions are implemented.
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    /// Dropout on attention weights (training only).
    #[serde(default)]
    pub attention_probs_dropout_prob: f32,
    /// Dropout on embeddings and residual branches (training only).
    #[serde(default)]
    pub hidden_dropout_prob: f32,
    /// The padding token id.
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// Decoder options loam's BERT does not have.
    #[serde(default)]
    pub is_decoder: bool,
}

fn default_type_vocab() -> usize {
    2
}

fn default_bert_eps() -> f64 {
    1e-12
}

impl BertConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<BertConfig> {
        let config: BertConfig = read_json(path)?;
        config.validate(path)?;
        Ok(config)
    }

    /// Checks the model type, activation and sizes; `path` names the file in errors.
    pub fn validate(&self, path: &Path) -> Result<()> {
        check(path, self.model_type == "bert", || {
            format!("unsupported model_type `{}`: this loader reads `bert` (for GPT-2 use the GPT-2 loader)", self.model_type)
        })?;
        self.activation().map_err(|e| LmError::file(path, format!("hidden_act: {e}")))?;
        let sizes = [self.vocab_size, self.hidden_size, self.num_hidden_layers, self.num_attention_heads, self.intermediate_size];
        check(path, sizes.iter().all(|&s| s > 0) && self.max_position_embeddings > 0, || {
            "vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size and max_position_embeddings must be positive".into()
        })?;
        check(path, self.hidden_size.is_multiple_of(self.num_attention_heads), || {
            format!("hidden_size {} is not a multiple of num_attention_heads {}", self.hidden_size, self.num_attention_heads)
        })?;
        let pos = self.position_embedding_type.as_deref().unwrap_or("absolute");
        check(path, pos == "absolute", || format!("unsupported position_embedding_type `{pos}` (only `absolute`)"))?;
        check(path, !self.is_decoder, || "is_decoder BERT models are not supported".into())?;
        check(path, self.layer_norm_eps > 0.0, || format!("layer_norm_eps {} must be positive", self.layer_norm_eps))
    }

    /// The feed-forward activation.
    pub fn activation(&self) -> Result<Activation> {
        Ok(Activation::from_hf_name(&self.hidden_act)?)
    }
}

/// The fields of a GPT-2 `config.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Gpt2Config {
    /// Must be `gpt2`.
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Longest context.
    pub n_positions: usize,
    /// Embedding width.
    pub n_embd: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// Heads per block.
    pub n_head: usize,
    /// Feed-forward inner width; `null` means 4·n_embd, the only width loam's GPT has.
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// Activation (`gelu_new` in GPT-2).
    #[serde(default = "default_gpt2_act")]
    pub activation_function: String,
    /// Layer norm epsilon.
    #[serde(default = "default_gpt2_eps")]
    pub layer_norm_epsilon: f64,
    /// Whether the output head shares the token embedding.
    #[serde(default = "yes")]
    pub tie_word_embeddings: bool,
    /// Attention scores divided by √head_dim (must be true).
    #[serde(default = "yes")]
    pub scale_attn_weights: bool,
    /// Scores further divided by the layer index (not supported).
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    /// Cross-attention layers (not supported).
    #[serde(default)]
    pub add_cross_attention: bool,
    /// Beginning-of-sequence id.
    #[serde(default)]
    pub bos_token_id: Option<usize>,
    /// End-of-sequence id.
    #[serde(default)]
    pub eos_token_id: Option<usize>,
}

fn default_gpt2_act() -> String {
    "gelu_new".into()
}

fn default_gpt2_eps() -> f64 {
    1e-5
}

fn yes() -> bool {
    true
}

impl Gpt2Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Gpt2Config> {
        let config: Gpt2Config = read_json(path)?;
        config.to_gpt_config().map_err(|e| match e {
            LmError::Config(msg) => LmError::file(path, msg),
            other => other,
        })?;
        Ok(config)
    }

    /// The equivalent loam [`GptConfig`], or an error for what loam's GPT does not have.
    pub fn to_gpt_config(&self) -> Result<GptConfig> {
        let bad = |m: String| Err(LmError::Config(m));
        if self.model_type != "gpt2" {
            return bad(format!("unsupported model_type `{}`: this loader reads `gpt2`", self.model_type));
        }
        if self.n_inner.is_some_and(|n| n != 4 * self.n_embd) {
            return bad(format!("n_inner {:?} differs from 4·n_embd, the only width loam's GPT has", self.n_inner));
        }
        if !self.scale_attn_weights || self.scale_attn_by_inverse_layer_idx || self.add_cross_attention {
            return bad("scale_attn_weights=false, scale_attn_by_inverse_layer_idx and add_cross_attention are not supported".into());
        }
        Activation::from_hf_name(&self.activation_function).map_err(|e| LmError::Config(format!("activation_function: {e}")))?;
        let config = GptConfig {
            n_layer: self.n_layer,
            n_head: self.n_head,
            n_embd: self.n_embd,
            block_size: self.n_positions,
            vocab_size: self.vocab_size,
            dropout: 0.0,
            bias: true,
            tie_embeddings: self.tie_word_embeddings,
            activation: self.activation_function.clone(),
            layer_norm_eps: self.layer_norm_epsilon as f32,
        };
        config.validate()?;
        Ok(config)
    }
}
