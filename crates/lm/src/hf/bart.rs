//! BART (bart-base/large, distilbart) from a Hugging Face `BartForConditionalGeneration`
//! folder, as an [`Seq2SeqLm`]: token embeddings (× √d_model with `scale_embedding`) plus
//! learned positions read at position + 2 (BART's offset), `layernorm_embedding`, then post-LN
//! layers (`x = norm(x + sublayer(x))`) with scaled multi-head attention and a GELU
//! feed-forward; the head is tied to `model.shared` (or `lm_head`) plus `final_logits_bias`.
//!
//! `decoder_start_token_id`, `forced_bos_token_id`, `forced_eos_token_id` and the EOS ids are
//! read from `generation_config.json` first, then `config.json`.

use std::path::Path;

use loam_nn::{Activation, Builder, Ctx, Embedding, Init, LayerNorm, Linear, Module, ParamStore, WeightLayout};
use loam_tensor::{QuantFormat, QuantMatrix, Tensor};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{LmError, Result};
use crate::hf::config::read_json;
use crate::hf::encdec::{Attention, HeadMatrix, causal_mask, check_source, check_target, padding_mask};
use crate::hf::gpt2::TIED_HEAD;
use crate::hf::t5::ids_of;
use crate::hf::weights::HfWeights;
use crate::seq2seq_lm::{EncoderOutput, Seq2SeqCache, Seq2SeqLm};

/// BART's learned positions are read at `position + OFFSET`.
const OFFSET: usize = 2;

/// The fields of a BART `config.json` that shape the model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BartConfig {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden width.
    pub d_model: usize,
    /// Encoder layers.
    pub encoder_layers: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Encoder attention heads.
    pub encoder_attention_heads: usize,
    /// Decoder attention heads.
    pub decoder_attention_heads: usize,
    /// Encoder feed-forward width.
    pub encoder_ffn_dim: usize,
    /// Decoder feed-forward width.
    pub decoder_ffn_dim: usize,
    /// Feed-forward activation.
    #[serde(default = "default_act")]
    pub activation_function: String,
    /// Learned positions (the tables hold 2 more rows).
    pub max_position_embeddings: usize,
    /// Multiply token embeddings by √d_model.
    #[serde(default)]
    pub scale_embedding: bool,
    /// Whether the head shares `model.shared` (absent: yes).
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
    /// mBART's pre-LN (not BART's layout; refused).
    #[serde(default)]
    pub normalize_before: bool,
    /// mBART's final layer norms (refused).
    #[serde(default)]
    pub add_final_layer_norm: bool,
    /// The padding id.
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// End-of-sequence id(s).
    #[serde(default)]
    pub eos_token_id: Option<Value>,
    /// The first decoder token.
    #[serde(default)]
    pub decoder_start_token_id: Option<usize>,
    /// The token forced first.
    #[serde(default)]
    pub forced_bos_token_id: Option<usize>,
    /// The token forced at the maximum length.
    #[serde(default)]
    pub forced_eos_token_id: Option<usize>,
}

fn default_act() -> String {
    "gelu".into()
}

/// The ids `generation_config.json` may set, which win over `config.json`'s.
#[derive(Deserialize, Default)]
struct GenerationIds {
    #[serde(default)]
    decoder_start_token_id: Option<usize>,
    #[serde(default)]
    forced_bos_token_id: Option<usize>,
    #[serde(default)]
    forced_eos_token_id: Option<usize>,
    #[serde(default)]
    eos_token_id: Option<Value>,
    #[serde(default)]
    pad_token_id: Option<usize>,
}

impl BartConfig {
    /// Reads `dir/config.json`, overrides its generation ids with `dir/generation_config.json`'s
    /// and checks the numbers.
    pub fn load(dir: &Path) -> Result<BartConfig> {
        let path = dir.join("config.json");
        let mut config: BartConfig = read_json(&path)?;
        let generation = dir.join("generation_config.json");
        if generation.is_file() {
            let g: GenerationIds = read_json(&generation)?;
            config.decoder_start_token_id =
                g.decoder_start_token_id.or(config.decoder_start_token_id);
            config.forced_bos_token_id = g.forced_bos_token_id.or(config.forced_bos_token_id);
            config.forced_eos_token_id = g.forced_eos_token_id.or(config.forced_eos_token_id);
            config.pad_token_id = g.pad_token_id.or(config.pad_token_id);
            if g.eos_token_id.is_some() {
                config.eos_token_id = g.eos_token_id;
            }
        }
        config.validate().map_err(|m| LmError::file(&path, m))?;
        Ok(config)
    }

    /// What is wrong with the numbers, if anything.
    fn validate(&self) -> std::result::Result<(), String> {
        let sizes = [
            self.vocab_size,
            self.d_model,
            self.encoder_layers,
            self.decoder_layers,
            self.encoder_attention_heads,
            self.decoder_attention_heads,
            self.encoder_ffn_dim,
            self.decoder_ffn_dim,
            self.max_position_embeddings,
        ];
        if sizes.contains(&0) {
            return Err("vocab_size, d_model, layers, heads, ffn dims and max_position_embeddings must be positive".into());
        }
        for heads in [self.encoder_attention_heads, self.decoder_attention_heads] {
            if !self.d_model.is_multiple_of(heads) {
                return Err(format!(
                    "d_model {} is not a multiple of {heads} attention heads",
                    self.d_model
                ));
            }
        }
        if self.normalize_before || self.add_final_layer_norm {
            return Err("normalize_before / add_final_layer_norm (mBART's pre-LN) are not BART's layout and are not supported".into());
        }
        Activation::from_hf_name(&self.activation_function)
            .map_err(|e| format!("activation_function: {e}"))?;
        Ok(())
    }
}

/// One layer: self-attention, cross-attention (decoder), feed-forward, each followed by a
/// residual and a layer norm.
#[derive(Debug, Clone)]
struct Layer {
    self_attn: Attention,
    self_attn_layer_norm: LayerNorm,
    cross: Option<(Attention, LayerNorm)>,
    fc1: Linear,
    fc2: Linear,
    final_layer_norm: LayerNorm,
}

/// Embeddings and layers of the encoder or the decoder.
#[derive(Debug, Clone)]
struct Stack {
    positions: Embedding,
    layernorm_embedding: LayerNorm,
    layers: Vec<Layer>,
}

impl Stack {
    /// The projections of every layer: self-attention, cross-attention, `fc1`, `fc2`.
    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = Vec::new();
        for l in &mut self.layers {
            out.extend(l.self_attn.linears_mut());
            if let Some((cross, _)) = &mut l.cross {
                out.extend(cross.linears_mut());
            }
            out.push(&mut l.fc1);
            out.push(&mut l.fc2);
        }
        out
    }
}

/// A BART model loaded from a Hugging Face folder.
#[derive(Debug, Clone)]
pub struct Bart {
    /// The config it came from (with the generation ids applied).
    pub config: BartConfig,
    shared: Embedding,
    encoder: Stack,
    decoder: Stack,
    /// `[C, V]`: the tied embedding or `lm_head`, transposed for one product; or its quantized
    /// copy.
    head: HeadMatrix,
    /// `[1, V]`.
    final_logits_bias: Option<Tensor>,
    act: Activation,
}

/// Builds the encoder (`decoder` false) or decoder stack from `vb`.
fn build_stack(c: &BartConfig, decoder: bool, vb: Builder) -> Result<Stack> {
    let init = Init::Normal {
        mean: 0.0,
        std: 0.02,
    };
    let d = c.d_model;
    let (layers, heads, ffn) = if decoder {
        (
            c.decoder_layers,
            c.decoder_attention_heads,
            c.decoder_ffn_dim,
        )
    } else {
        (
            c.encoder_layers,
            c.encoder_attention_heads,
            c.encoder_ffn_dim,
        )
    };
    let lin = |d_in, d_out, vb: Builder| -> Result<Linear> {
        Ok(Linear::with_init(
            d_in,
            d_out,
            Some(Init::Zeros),
            WeightLayout::OutIn,
            init,
            vb,
        )?
        .for_inference()?)
    };
    let attn = |vb: Builder| -> Result<Attention> {
        Ok(Attention {
            q: lin(d, d, vb.pp("q_proj"))?,
            k: lin(d, d, vb.pp("k_proj"))?,
            v: lin(d, d, vb.pp("v_proj"))?,
            o: lin(d, d, vb.pp("out_proj"))?,
            heads,
            scale: ((d / heads) as f32).powf(-0.5),
        })
    };
    let norm = |vb: Builder| LayerNorm::new(d, true, 1e-5, vb);
    let mut out = Vec::with_capacity(layers);
    for i in 0..layers {
        let vb = vb.pp("layers").pp(i);
        let cross = if decoder {
            Some((
                attn(vb.pp("encoder_attn"))?,
                norm(vb.pp("encoder_attn_layer_norm"))?,
            ))
        } else {
            None
        };
        out.push(Layer {
            self_attn: attn(vb.pp("self_attn"))?,
            self_attn_layer_norm: norm(vb.pp("self_attn_layer_norm"))?,
            cross,
            fc1: lin(d, ffn, vb.pp("fc1"))?,
            fc2: lin(ffn, d, vb.pp("fc2"))?,
            final_layer_norm: norm(vb.pp("final_layer_norm"))?,
        });
    }
    Ok(Stack {
        positions: Embedding::new(
            c.max_position_embeddings + OFFSET,
            d,
            init,
            vb.pp("embed_positions"),
        )?,
        layernorm_embedding: norm(vb.pp("layernorm_embedding"))?,
        layers: out,
    })
}

impl Bart {
    /// Loads a Hugging Face BART folder (`config.json`, `generation_config.json` when present,
    /// safetensors weights, or a quantized checkpoint of `cargo xtask quantize`) and returns
    /// the store of its f32 tensors beside it. The copies of `model.shared` kept as
    /// `model.encoder.embed_tokens` / `model.decoder.embed_tokens`, and a tied model's
    /// `lm_head.weight`, are not read.
    pub fn from_dir(dir: &Path) -> Result<(Bart, ParamStore)> {
        let config = BartConfig::load(dir)?;
        let ckpt = HfWeights::open(dir)?;
        let tied = config.tie_word_embeddings.unwrap_or(true);
        let skip = |name: &str| name.ends_with("embed_tokens.weight") || (tied && name == "lm_head.weight");
        let (mut model, store) =
            ckpt.build_renamed(&|name| (!skip(name)).then(|| name.to_string()), |store| Bart::new(&config, store))?;
        ckpt.apply_quantized(model.linears_mut())?;
        if let Some(head) = ckpt.quantized(TIED_HEAD)? {
            model.head = model.head.with_quantized(head)?;
        }
        Ok((model, store))
    }

    /// The quantized copy of the head's matrix (tied or `lm_head`), if any.
    pub fn quantized_head(&self) -> Option<&QuantMatrix> {
        self.head.quantized()
    }

    /// The projections of both stacks (attention, cross-attention, `fc1`, `fc2`), each named
    /// as its parameter, for quantizing. The head (tied or `lm_head`) is quantized by
    /// [`Bart::quantize`] apart from them.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = self.encoder.linears_mut();
        out.extend(self.decoder.linears_mut());
        out
    }

    /// An inference copy with every projection and the head's matrix in `format` (the
    /// lookups keep the f32 embedding); embeddings, norms and biases stay f32.
    pub fn quantize(&self, format: QuantFormat) -> Result<Bart> {
        let mut q = self.clone();
        for l in q.linears_mut() {
            *l = l.quantize(format)?;
        }
        q.head = q.head.quantize(format)?;
        Ok(q)
    }

    /// Builds the model from a store holding the checkpoint's tensors by their names.
    pub fn new(config: &BartConfig, store: &loam_nn::ParamStore) -> Result<Bart> {
        config.validate().map_err(LmError::Config)?;
        let c = config;
        let vb = store.builder();
        let init = Init::Normal {
            mean: 0.0,
            std: 0.02,
        };
        let shared = Embedding::new(c.vocab_size, c.d_model, init, vb.pp("model").pp("shared"))?;
        let head = if c.tie_word_embeddings.unwrap_or(true) {
            shared.weight.clone()
        } else {
            vb.pp("lm_head")
                .get(&[c.vocab_size, c.d_model], "weight", init)?
        };
        // the bias is a buffer some files lack (transformers then uses zeros)
        let final_logits_bias = store.get("final_logits_bias");
        if let Some(b) = &final_logits_bias
            && b.shape() != [1, c.vocab_size]
        {
            return Err(LmError::Config(format!(
                "tensor `final_logits_bias` has shape {:?} but the model's config needs [1, {}]",
                b.shape(),
                c.vocab_size
            )));
        }
        Ok(Bart {
            config: c.clone(),
            encoder: build_stack(c, false, vb.pp("model").pp("encoder"))?,
            decoder: build_stack(c, true, vb.pp("model").pp("decoder"))?,
            head: HeadMatrix::F32(head.detach().transpose(0, 1)?.contiguous()),
            final_logits_bias,
            shared,
            act: Activation::from_hf_name(&c.activation_function)?,
        })
    }

    /// Token embeddings plus positions `past..past+t`, normed: `[B, T, C]`.
    fn embed(
        &self,
        stack: &Stack,
        ids: &[usize],
        b: usize,
        t: usize,
        past: usize,
    ) -> Result<Tensor> {
        if past + t > self.config.max_position_embeddings {
            return Err(LmError::Config(format!(
                "{} positions exceed BART's max_position_embeddings {}",
                past + t,
                self.config.max_position_embeddings
            )));
        }
        let mut x = self.shared.forward_ids(ids, &[b, t])?;
        if self.config.scale_embedding {
            x = x.mul_scalar((self.config.d_model as f32).sqrt());
        }
        let positions: Vec<usize> = (past + OFFSET..past + t + OFFSET).collect();
        // [B, T, C] + [1, T, C]
        let x = x.add(&stack.positions.forward_ids(&positions, &[1, t])?)?;
        Ok(stack.layernorm_embedding.forward(&x)?)
    }

    /// `x = norm(x + fc2(act(fc1(x))))`.
    fn feed_forward(&self, layer: &Layer, x: &Tensor) -> Result<Tensor> {
        let h = layer
            .fc2
            .forward(&self.act.forward(&layer.fc1.forward(x)?))?;
        Ok(layer.final_layer_norm.forward(&x.add(&h)?)?)
    }
}

impl Seq2SeqLm for Bart {
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    fn max_source_positions(&self) -> Option<usize> {
        Some(self.config.max_position_embeddings)
    }

    fn max_target_positions(&self) -> Option<usize> {
        Some(self.config.max_position_embeddings)
    }

    fn decoder_start_token_id(&self) -> usize {
        self.config.decoder_start_token_id.unwrap_or(2)
    }

    fn eos_token_ids(&self) -> Vec<u32> {
        ids_of(&self.config.eos_token_id)
    }

    fn pad_token_id(&self) -> usize {
        self.config.pad_token_id.unwrap_or(1)
    }

    fn forced_bos_token_id(&self) -> Option<usize> {
        self.config.forced_bos_token_id
    }

    fn forced_eos_token_id(&self) -> Option<usize> {
        self.config.forced_eos_token_id
    }

    fn decoder_layers(&self) -> usize {
        self.decoder.layers.len()
    }

    fn encode(
        &self,
        ids: &[usize],
        b: usize,
        s: usize,
        lengths: &[usize],
        _ctx: &mut Ctx,
    ) -> Result<EncoderOutput> {
        check_source(ids, b, s, lengths, self.config.vocab_size)?;
        let mask = padding_mask(lengths, s);
        let mut x = self.embed(&self.encoder, ids, b, s, 0)?;
        for layer in &self.encoder.layers {
            let a = layer.self_attn.self_attend(&x, None, mask.as_ref(), None)?;
            x = layer.self_attn_layer_norm.forward(&x.add(&a)?)?;
            x = self.feed_forward(layer, &x)?;
        }
        Ok(EncoderOutput {
            hidden: x,
            lengths: lengths.to_vec(),
        })
    }

    fn decode(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        encoded: &EncoderOutput,
        mut cache: Option<&mut Seq2SeqCache>,
        _ctx: &mut Ctx,
    ) -> Result<Tensor> {
        check_target(ids, b, t, encoded, self.config.vocab_size)?;
        let past = cache.as_ref().map_or(0, |c| c.len());
        let causal = causal_mask(t, past);
        let source_mask = padding_mask(&encoded.lengths, encoded.hidden.shape()[1]);
        let mut x = self.embed(&self.decoder, ids, b, t, past)?;
        for (i, layer) in self.decoder.layers.iter().enumerate() {
            let self_cache = cache.as_deref_mut().map(|c| &mut c.self_attn[i]);
            let a = layer
                .self_attn
                .self_attend(&x, None, causal.as_ref(), self_cache)?;
            x = layer.self_attn_layer_norm.forward(&x.add(&a)?)?;
            if let Some((cross, norm)) = &layer.cross {
                let cross_cache = cache.as_deref_mut().map(|c| &mut c.cross_attn[i]);
                let a =
                    cross.cross_attend(&x, &encoded.hidden, source_mask.as_ref(), cross_cache)?;
                x = norm.forward(&x.add(&a)?)?;
            }
            x = self.feed_forward(layer, &x)?;
        }
        // [B, T, C] × [C, V] (+ [1, V])
        let logits = self.head.logits(&x)?;
        Ok(match &self.final_logits_bias {
            Some(bias) => logits.add(bias)?,
            None => logits,
        })
    }
}

/// Loads a Hugging Face BART folder (or a quantized checkpoint): [`Bart::from_dir`] without
/// the store.
pub fn load_bart(dir: &Path) -> Result<Bart> {
    Ok(Bart::from_dir(dir)?.0)
}
