//! GPT-2 in Hugging Face's layout, both ways: a `GPT2LMHeadModel` folder loads into loam's
//! [`Gpt`] (its parameter names are GPT-2's, `Conv1D` weights stored `[in, out]`, the head tied
//! to `wte`), and a loam GPT is written back as `config.json` + `model.safetensors` that
//! `transformers` loads with `GPT2LMHeadModel.from_pretrained(dir)`.

use std::collections::HashMap;
use std::path::Path;

use loam_nn::ParamStore;
use loam_nn::safetensors_io;

use crate::error::{LmError, Result};
use crate::gpt::{Gpt, GptConfig};
use crate::hf::weights::{HfWeights, WEIGHTS_FILE};
use crate::hf::config::Gpt2Config;

/// The name a quantized checkpoint stores a tied head's quantized copy of `wte` under.
pub const TIED_HEAD: &str = "lm_head.weight";

/// A GPT-2 checkpoint loaded into loam.
#[derive(Clone)]
pub struct Gpt2 {
    /// The model.
    pub model: Gpt,
    /// The store holding its parameters (named as in the checkpoint).
    pub store: ParamStore,
    /// The Hugging Face config it came from.
    pub config: Gpt2Config,
}

/// The store name of a checkpoint tensor, or `None` for what is not a parameter: the
/// attention-mask buffers of old files (`attn.bias`, `attn.masked_bias`) and a tied head.
fn store_name(name: &str, tied: bool) -> Option<String> {
    if name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias") || (tied && name == "lm_head.weight") {
        return None;
    }
    if name.starts_with("transformer.") || name.starts_with("lm_head.") {
        Some(name.to_string())
    } else {
        Some(format!("transformer.{name}"))
    }
}

/// Loads a Hugging Face GPT-2 folder (`config.json` and safetensors weights, with or without
/// the `transformer.` prefix).
pub fn load_gpt2(dir: &Path) -> Result<Gpt2> {
    let config = Gpt2Config::load(&dir.join("config.json"))?;
    let gpt_config = config.to_gpt_config()?;
    let ckpt = HfWeights::open(dir)?;
    let tied = gpt_config.tie_embeddings;
    let (mut model, store) = ckpt.build_renamed(&|name| store_name(name, tied), |store| Gpt::new(&gpt_config, store))?;
    ckpt.apply_quantized(model.linears_mut())?;
    if tied && let Some(head) = ckpt.quantized(TIED_HEAD)? {
        model.set_tied_head(head)?;
    }
    Ok(Gpt2 { model, store, config })
}

/// The Hugging Face `config.json` of a loam GPT, with `bos`/`eos` ids when known.
pub fn gpt2_config_json(config: &GptConfig, eos_id: Option<usize>) -> Result<serde_json::Value> {
    if !config.bias {
        return Err(LmError::Config("GPT-2's layout has biases in every linear layer and layer norm: export needs `bias = true`".into()));
    }
    config.validate()?;
    Ok(serde_json::json!({
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": config.vocab_size,
        "n_positions": config.block_size,
        "n_ctx": config.block_size,
        "n_embd": config.n_embd,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "n_inner": null,
        "activation_function": config.activation,
        "layer_norm_epsilon": config.layer_norm_eps,
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": config.dropout,
        "initializer_range": 0.02,
        "scale_attn_weights": true,
        "tie_word_embeddings": config.tie_embeddings,
        "bos_token_id": eos_id,
        "eos_token_id": eos_id,
        "torch_dtype": "float32",
    }))
}

/// Writes `model` (its parameters read from `store`) to `dir` in GPT-2's Hugging Face layout:
/// `config.json` and `model.safetensors`, and `tokenizer.json` copied from `tokenizer` when
/// given. `eos_id` is the end-of-text token, if the vocabulary has one.
pub fn save_gpt2(model: &Gpt, store: &ParamStore, dir: &Path, tokenizer: Option<&Path>, eos_id: Option<usize>) -> Result<()> {
    let config = gpt2_config_json(&model.config, eos_id)?;
    std::fs::create_dir_all(dir).map_err(|e| LmError::file(dir, format!("cannot create: {e}")))?;
    let params: Vec<_> = store
        .params()
        .into_iter()
        .filter(|(name, _)| name.starts_with("transformer.") || (!model.config.tie_embeddings && name == "lm_head.weight"))
        .collect();
    if params.is_empty() {
        return Err(LmError::Config("the store holds no `transformer.*` parameters: is it this GPT's store?".into()));
    }
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors_io::save(&dir.join(WEIGHTS_FILE), &params, Some(metadata))?;
    let text = serde_json::to_string_pretty(&config).map_err(|e| LmError::Config(e.to_string()))?;
    loam_nn::write_atomic(&dir.join("config.json"), text.as_bytes())?;
    if let Some(src) = tokenizer {
        std::fs::copy(src, dir.join("tokenizer.json")).map_err(|e| LmError::file(src, format!("cannot copy: {e}")))?;
    }
    Ok(())
}
