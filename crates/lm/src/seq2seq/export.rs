//! Export of a trained [`Seq2Seq`] in Hugging Face's layout for BART
//! (`BartForConditionalGeneration`): `config.json`, `model.safetensors`, `tokenizer.json`,
//! `tokenizer_config.json` and `generation_config.json`. Only a BART-shaped model exports: learned positions, post-LN, one
//! shared vocabulary, biases, layer norm epsilon 1e-5; any other setting is an error naming
//! its key.

use std::collections::HashMap;
use std::path::Path;

use loam_nn::ParamStore;
use loam_tensor::Tensor;
use serde_json::{Value, json};

use crate::chat_template::TOKENIZER_CONFIG_FILE;
use crate::error::{LmError, Result};
use crate::run_checkpoint::{MODEL_FILE, TOKENIZER_FILE, replace_dir};
use crate::seq2seq::config::{PositionKind, Seq2SeqConfig};
use crate::seq2seq::model::Seq2Seq;

/// The Hugging Face model config file.
pub const BART_CONFIG_FILE: &str = "config.json";
/// The Hugging Face generation defaults file.
pub const GENERATION_CONFIG_FILE: &str = "generation_config.json";

/// BART's `config.json` for `c`, or an error naming the first key BART cannot express.
pub fn bart_config(c: &Seq2SeqConfig) -> Result<Value> {
    let refuse = |key: &str, why: &str| {
        Err(LmError::Config(format!(
            "cannot export as BART: `{key}` = {why}"
        )))
    };
    if c.positions != PositionKind::Learned {
        return refuse(
            "positions",
            "\"sinusoidal\", but BART has learned positions only",
        );
    }
    if c.pre_norm {
        return refuse("pre_norm", "true, but BART is post-LN");
    }
    if !c.shared_vocab {
        return refuse(
            "shared_vocab",
            "false, but BART has one vocabulary for source and target",
        );
    }
    if !c.bias {
        return refuse(
            "bias",
            "false, but BART's linear layers and norms have biases",
        );
    }
    if c.layer_norm_eps != 1e-5 {
        return refuse(
            "layer_norm_eps",
            &format!("{}, but BART's layer norms use 1e-5", c.layer_norm_eps),
        );
    }
    let (h, ff) = (c.n_head, c.ffn_dim());
    Ok(json!({
        "architectures": ["BartForConditionalGeneration"],
        "model_type": "bart",
        "vocab_size": c.vocab_size,
        "d_model": c.n_embd,
        "encoder_layers": c.n_layer,
        "decoder_layers": c.decoder_layers(),
        "encoder_attention_heads": h,
        "decoder_attention_heads": h,
        "encoder_ffn_dim": ff,
        "decoder_ffn_dim": ff,
        "activation_function": c.activation,
        "dropout": c.dropout,
        "attention_dropout": c.attention_dropout,
        "activation_dropout": 0.0,
        "encoder_layerdrop": 0.0,
        "decoder_layerdrop": 0.0,
        "max_position_embeddings": c.block_size,
        "init_std": 0.02,
        "scale_embedding": c.scale_embedding,
        "tie_word_embeddings": c.tie_embeddings,
        "is_encoder_decoder": true,
        "use_cache": true,
        "pad_token_id": c.pad_id,
        "bos_token_id": c.bos_id,
        "eos_token_id": c.eos_id,
        "decoder_start_token_id": c.bos_id,
        "forced_bos_token_id": null,
        "forced_eos_token_id": null,
        "torch_dtype": "float32"
    }))
}

/// Greedy decoding defaults as loam decodes: start with the start id, stop at the end id or
/// after `block_size` positions.
fn generation_config(c: &Seq2SeqConfig) -> Value {
    json!({
        "bos_token_id": c.bos_id,
        "eos_token_id": c.eos_id,
        "pad_token_id": c.pad_id,
        "decoder_start_token_id": c.bos_id,
        "forced_bos_token_id": null,
        "forced_eos_token_id": null,
        "max_length": c.block_size,
        "num_beams": 1,
        "do_sample": false
    })
}

/// `tokenizer_config.json`: `AutoTokenizer` is to read `tokenizer.json` as it is
/// (`PreTrainedTokenizerFast`), so a source gets loam's special tokens (only the `</s>` the
/// tokenizer appends), not those `BartTokenizerFast` would add around it.
fn tokenizer_config(c: &Seq2SeqConfig) -> Value {
    json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "model_max_length": c.block_size
    })
}

/// Writes `model` (its weights in `store`) and the tokenizer file `tokenizer` to the folder
/// `out` in BART's layout. The folder is written beside `out` and renamed into place, so a
/// failure leaves no half-written model.
pub fn export_bart(
    model: &Seq2Seq,
    store: &ParamStore,
    tokenizer: &Path,
    out: &Path,
) -> Result<()> {
    let c = &model.config;
    let config = bart_config(c)?;
    let mut tensors: Vec<(String, Tensor)> = store.params();
    let shared = store
        .get("model.shared.weight")
        .ok_or_else(|| LmError::Config("the store holds no model.shared.weight".into()))?;
    // transformers ties these to model.shared; the file carries them as save_pretrained may
    for name in [
        "model.encoder.embed_tokens.weight",
        "model.decoder.embed_tokens.weight",
    ] {
        tensors.push((name.to_string(), shared.clone()));
    }
    if c.tie_embeddings {
        tensors.push(("lm_head.weight".to_string(), shared));
    }
    tensors.push((
        "final_logits_bias".to_string(),
        Tensor::zeros(&[1, c.vocab_size]),
    ));
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "export".into());
    let tmp = out.with_file_name(format!(".{name}.tmp"));
    let io = |p: &Path, e: std::io::Error| LmError::file(p, format!("cannot write: {e}"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    loam_nn::safetensors_io::save(&tmp.join(MODEL_FILE), &tensors, Some(metadata))?;
    let pretty = |v: &Value| serde_json::to_vec_pretty(v).expect("JSON serializes");
    loam_nn::write_atomic(&tmp.join(BART_CONFIG_FILE), &pretty(&config))?;
    loam_nn::write_atomic(
        &tmp.join(GENERATION_CONFIG_FILE),
        &pretty(&generation_config(c)),
    )?;
    loam_nn::write_atomic(
        &tmp.join(TOKENIZER_CONFIG_FILE),
        &pretty(&tokenizer_config(c)),
    )?;
    std::fs::copy(tokenizer, tmp.join(TOKENIZER_FILE))
        .map_err(|e| LmError::file(tokenizer, format!("cannot copy the tokenizer: {e}")))?;
    replace_dir(&tmp, out)
}
