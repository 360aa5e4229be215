//! Llama-family models (`LlamaForCausalLM`, `Qwen2ForCausalLM`: Llama 3.2, SmolLM2, Qwen2.5)
//! from Hugging Face folders: `config.json` parsed and validated into a [`LlamaConfig`], the
//! weights (single file or sharded, f32, f16 or bf16) loaded by name into [`Llama`].
//!
//! Both spellings of the rotary settings are read: `rope_theta` and `rope_scaling` at the top
//! level (transformers 4) and `rope_parameters: {rope_theta, rope_type, …}` (transformers 5).

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{LmError, Result};
use crate::hf::weights::HfWeights;
use crate::hf::config::read_json;
use crate::llama::{Llama, LlamaConfig};
use crate::rope::RopeScaling;
use loam_nn::ParamStore;

/// The fields of a Llama or Qwen2 `config.json` that shape the model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LlamaHfConfig {
    /// `llama` or `qwen2`.
    pub model_type: String,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden width.
    pub hidden_size: usize,
    /// Feed-forward inner width.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads per layer.
    pub num_attention_heads: usize,
    /// Key/value heads per layer; absent means `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Width of one head; absent means `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// Must be `silu`.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Longest context.
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// Rotary base (transformers 4 spelling).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// Rotary rescaling (transformers 4 spelling), `null` for none.
    #[serde(default)]
    pub rope_scaling: Option<Value>,
    /// Rotary base, type and rescaling (transformers 5 spelling).
    #[serde(default)]
    pub rope_parameters: Option<Value>,
    /// Biases on q/k/v and o_proj (Llama); Qwen2 has q/k/v biases (and none on o_proj)
    /// whatever this says.
    #[serde(default)]
    pub attention_bias: bool,
    /// Biases in the feed-forward (not supported).
    #[serde(default)]
    pub mlp_bias: bool,
    /// Whether the output head shares the token embedding (transformers' default: no).
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Std of the normal init.
    #[serde(default = "default_init")]
    pub initializer_range: f64,
    /// Sliding-window attention (Qwen2; not supported).
    #[serde(default)]
    pub use_sliding_window: bool,
    /// Beginning-of-sequence id.
    #[serde(default)]
    pub bos_token_id: Option<Value>,
    /// End-of-sequence id, or several.
    #[serde(default)]
    pub eos_token_id: Option<Value>,
}

fn default_act() -> String {
    "silu".into()
}

fn default_eps() -> f64 {
    1e-6
}

fn default_init() -> f64 {
    0.02
}

/// Rotary settings read from either spelling: (θ, rescaling).
fn rope_settings(config: &LlamaHfConfig) -> std::result::Result<(f64, Option<RopeScaling>), String> {
    let (params, field) = match (&config.rope_parameters, &config.rope_scaling) {
        (Some(p), _) if !p.is_null() => (Some(p), "rope_parameters"),
        (_, Some(s)) if !s.is_null() => (Some(s), "rope_scaling"),
        _ => (None, "rope_scaling"),
    };
    let theta = params
        .and_then(|p| p.get("rope_theta"))
        .and_then(Value::as_f64)
        .or(config.rope_theta)
        .unwrap_or(10_000.0);
    let Some(p) = params else { return Ok((theta, None)) };
    let kind = p.get("rope_type").or_else(|| p.get("type")).and_then(Value::as_str).unwrap_or("default");
    let number = |key: &str| -> std::result::Result<f64, String> {
        p.get(key).and_then(Value::as_f64).ok_or_else(|| format!("{field}: type `llama3` needs a number `{key}`"))
    };
    let scaling = match kind {
        "default" => None,
        "llama3" => Some(RopeScaling::Llama3 {
            factor: number("factor")? as f32,
            low_freq_factor: number("low_freq_factor")? as f32,
            high_freq_factor: number("high_freq_factor")? as f32,
            original_max_position_embeddings: number("original_max_position_embeddings")? as usize,
        }),
        other => return Err(format!("{field}: unsupported rope type `{other}` (loam implements `default` and `llama3`)")),
    };
    Ok((theta, scaling))
}

impl LlamaHfConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<LlamaHfConfig> {
        let config: LlamaHfConfig = read_json(path)?;
        config.to_llama_config(path)?;
        Ok(config)
    }

    /// The equivalent loam [`LlamaConfig`], or an error naming `path` and the field for what
    /// loam's Llama does not have or numbers that do not fit together.
    pub fn to_llama_config(&self, path: &Path) -> Result<LlamaConfig> {
        let bad = |m: String| Err(LmError::file(path, m));
        let qwen2 = match self.model_type.as_str() {
            "llama" => false,
            "qwen2" => true,
            other => return bad(format!("unsupported model_type `{other}`: this loader reads `llama` and `qwen2`")),
        };
        if self.hidden_act != "silu" {
            return bad(format!("hidden_act `{}`: the Llama family's feed-forward is SwiGLU (`silu`)", self.hidden_act));
        }
        if self.mlp_bias {
            return bad("mlp_bias = true is not supported".into());
        }
        if self.use_sliding_window {
            return bad("use_sliding_window = true is not supported".into());
        }
        let (theta, rope_scaling) = rope_settings(self).map_err(|m| LmError::file(path, m))?;
        let heads = self.num_attention_heads;
        let kv = self.num_key_value_heads.unwrap_or(heads);
        if kv == 0 || !heads.is_multiple_of(kv) {
            return bad(format!("num_attention_heads {heads} is not a multiple of num_key_value_heads {kv}"));
        }
        if self.head_dim.is_none() && (heads == 0 || !self.hidden_size.is_multiple_of(heads)) {
            return bad(format!("hidden_size {} is not a multiple of num_attention_heads {heads} (and no head_dim is given)", self.hidden_size));
        }
        let config = LlamaConfig {
            n_layer: self.num_hidden_layers,
            n_head: heads,
            n_kv_head: kv,
            n_embd: self.hidden_size,
            head_dim: self.head_dim,
            intermediate_size: self.intermediate_size,
            block_size: self.max_position_embeddings,
            vocab_size: self.vocab_size,
            rms_norm_eps: self.rms_norm_eps as f32,
            rope_theta: theta as f32,
            rope_scaling,
            attention_bias: qwen2 || self.attention_bias,
            attention_out_bias: !qwen2 && self.attention_bias,
            tie_embeddings: self.tie_word_embeddings,
            initializer_range: self.initializer_range as f32,
        };
        config.validate().map_err(|e| match e {
            LmError::Config(msg) => LmError::file(path, msg),
            other => other,
        })?;
        Ok(config)
    }

    /// The end-of-sequence ids (one or several).
    pub fn eos_ids(&self) -> Vec<u32> {
        match &self.eos_token_id {
            Some(Value::Number(n)) => n.as_u64().map(|n| n as u32).into_iter().collect(),
            Some(Value::Array(ids)) => ids.iter().filter_map(Value::as_u64).map(|n| n as u32).collect(),
            _ => Vec::new(),
        }
    }
}

/// How a Llama-family model is held in memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LlamaOptions {
    /// Keep the projection weights and the token embedding in bfloat16 (half the memory;
    /// inference only). See [`Llama::to_bf16`].
    pub bf16_weights: bool,
}

/// A Llama-family checkpoint loaded into loam.
#[derive(Debug, Clone)]
pub struct HfLlama {
    /// The model.
    pub model: Llama,
    /// The store of its f32 parameters (named as in the checkpoint); `None` with bfloat16
    /// weights, whose f32 copies are dropped.
    pub store: Option<ParamStore>,
    /// The Hugging Face config it came from.
    pub config: LlamaHfConfig,
}

/// Loads a Hugging Face Llama or Qwen2 folder (`config.json` and safetensors weights, single
/// or sharded). A tied model's `lm_head.weight`, if the file has one, is not read.
pub fn load_llama(dir: &Path, options: LlamaOptions) -> Result<HfLlama> {
    let config_path = dir.join("config.json");
    let config = LlamaHfConfig::load(&config_path)?;
    let llama_config = config.to_llama_config(&config_path)?;
    let ckpt = HfWeights::open(dir)?;
    let tied = llama_config.tie_embeddings;
    let skip = |name: &str| (tied && name == "lm_head.weight") || name.ends_with(".rotary_emb.inv_freq");
    let (mut model, store) =
        ckpt.build_renamed(&|name| (!skip(name)).then(|| name.to_string()), |store| Llama::new(&llama_config, store))?;
    ckpt.apply_quantized(model.linears_mut())?;
    if options.bf16_weights {
        let bf16 = model.to_bf16()?;
        drop((model, store));
        return Ok(HfLlama { model: bf16, store: None, config });
    }
    Ok(HfLlama { model, store: Some(store), config })
}
