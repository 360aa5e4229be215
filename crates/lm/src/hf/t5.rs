//! T5 (v1.0, v1.1, flan-t5) from a Hugging Face `T5ForConditionalGeneration` folder, as an
//! [`Seq2SeqLm`]. Pre-norm blocks with T5's layer norm (RMS, no mean, no bias); attention
//! without 1/√d scaling plus a relative position bias computed from buckets (bidirectional in
//! the encoder, causal in the decoder) by the first block's table and shared by every block;
//! a ReLU (`relu`) or gated-GELU (`gated-gelu`) feed-forward; the head tied to `shared` (its
//! input rescaled by d_model^−0.5, v1.0) or a separate `lm_head` (v1.1).
//!
//! transformers 5 writes `tie_word_embeddings: true` for every T5 and keeps the rescale in
//! `scale_decoder_outputs`; when that key is present it decides the rescale, otherwise
//! `tie_word_embeddings` does, as in transformers 4.

use std::path::Path;

use loam_nn::{Builder, Ctx, Embedding, Init, Linear, Module, ParamStore, RmsNorm, WeightLayout};
use loam_tensor::{QuantFormat, QuantMatrix, Tensor};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{LmError, Result};
use crate::hf::config::read_json;
use crate::hf::encdec::{Attention, HeadMatrix, causal_mask, check_source, check_target, padding_mask};
use crate::hf::gpt2::TIED_HEAD;
use crate::hf::weights::HfWeights;
use crate::screened_head::{ScreenCache, linear_weights};
use crate::seq2seq_lm::{EncoderOutput, Seq2SeqCache, Seq2SeqLm};

/// The fields of a T5 `config.json` that shape the model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct T5Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Hidden width.
    pub d_model: usize,
    /// Width of one attention head.
    pub d_kv: usize,
    /// Feed-forward inner width.
    pub d_ff: usize,
    /// Encoder blocks.
    pub num_layers: usize,
    /// Decoder blocks (absent: as many as the encoder).
    #[serde(default)]
    pub num_decoder_layers: Option<usize>,
    /// Attention heads.
    pub num_heads: usize,
    /// Relative position buckets.
    #[serde(default = "default_buckets")]
    pub relative_attention_num_buckets: usize,
    /// Distance past which every relative position shares the last bucket.
    #[serde(default = "default_max_distance")]
    pub relative_attention_max_distance: usize,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// `relu`, `gated-gelu` or `gated-<act>`.
    #[serde(default = "default_ff")]
    pub feed_forward_proj: String,
    /// Whether the head shares `shared` (absent: yes).
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
    /// transformers 5: whether the decoder output is rescaled by d_model^−0.5.
    #[serde(default)]
    pub scale_decoder_outputs: Option<bool>,
    /// The first decoder token (absent: the pad id).
    #[serde(default)]
    pub decoder_start_token_id: Option<usize>,
    /// The padding id.
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    /// End-of-sequence id, or several.
    #[serde(default)]
    pub eos_token_id: Option<Value>,
}

fn default_buckets() -> usize {
    32
}

fn default_max_distance() -> usize {
    128
}

fn default_eps() -> f64 {
    1e-6
}

fn default_ff() -> String {
    "relu".into()
}

/// Reads one id or a list of ids.
pub(crate) fn ids_of(v: &Option<Value>) -> Vec<u32> {
    match v {
        Some(Value::Number(n)) => n.as_u64().map(|n| n as u32).into_iter().collect(),
        Some(Value::Array(ids)) => ids
            .iter()
            .filter_map(Value::as_u64)
            .map(|n| n as u32)
            .collect(),
        _ => Vec::new(),
    }
}

impl T5Config {
    /// Reads `path` and checks that the numbers fit together.
    pub fn load(path: &Path) -> Result<T5Config> {
        let config: T5Config = read_json(path)?;
        config.validate().map_err(|m| LmError::file(path, m))?;
        Ok(config)
    }

    /// What is wrong with the numbers, if anything.
    fn validate(&self) -> std::result::Result<(), String> {
        let sizes = [
            self.vocab_size,
            self.d_model,
            self.d_kv,
            self.d_ff,
            self.num_layers,
            self.num_heads,
            self.relative_attention_num_buckets,
        ];
        if sizes.contains(&0) || self.num_decoder_layers == Some(0) {
            return Err("vocab_size, d_model, d_kv, d_ff, num_layers, num_decoder_layers, num_heads and relative_attention_num_buckets must be positive".into());
        }
        self.activation()?;
        Ok(())
    }

    /// The feed-forward's activation and whether it is gated.
    fn activation(&self) -> std::result::Result<(loam_nn::Activation, bool), String> {
        let (gated, act) = match self.feed_forward_proj.split_once('-') {
            Some(("gated", act)) => (true, act),
            None => (false, self.feed_forward_proj.as_str()),
            Some(_) => {
                return Err(format!(
                    "feed_forward_proj `{}` is neither `ACT` nor `gated-ACT`",
                    self.feed_forward_proj
                ));
            }
        };
        // transformers reads `gated-gelu` as the tanh GELU (`gelu_new`)
        let act = if gated && act == "gelu" {
            "gelu_new"
        } else {
            act
        };
        let act = loam_nn::Activation::from_hf_name(act)
            .map_err(|e| format!("feed_forward_proj `{}`: {e}", self.feed_forward_proj))?;
        Ok((act, gated))
    }

    /// Whether the decoder output is rescaled by d_model^−0.5 before the head.
    pub fn rescales_output(&self) -> bool {
        self.scale_decoder_outputs
            .unwrap_or(self.tie_word_embeddings.unwrap_or(true))
    }
}

/// The feed-forward: `wo(act(wi(x)))` or, gated, `wo(act(wi_0(x)) ⊙ wi_1(x))`.
#[derive(Debug, Clone)]
struct FeedForward {
    wi: Linear,
    wi_1: Option<Linear>,
    wo: Linear,
    act: loam_nn::Activation,
}

impl FeedForward {
    /// Its projections (`wi` or `wi_0`, then `wi_1` when gated, then `wo`).
    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = vec![&mut self.wi];
        out.extend(self.wi_1.as_mut());
        out.push(&mut self.wo);
        out
    }

    // x: [B, T, C] → [B, T, C]
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.act.forward(&self.wi.forward(x)?);
        let h = match &self.wi_1 {
            Some(up) => h.mul(&up.forward(x)?)?,
            None => h,
        };
        Ok(self.wo.forward(&h)?)
    }
}

/// One block: self-attention, cross-attention (decoder), feed-forward, each pre-normed with a
/// residual.
#[derive(Debug, Clone)]
struct Block {
    self_norm: RmsNorm,
    self_attn: Attention,
    cross: Option<(RmsNorm, Attention)>,
    ff_norm: RmsNorm,
    ff: FeedForward,
}

/// One stack (encoder or decoder): blocks, the bucket table of its relative positions
/// `[buckets, H]` and the final norm.
#[derive(Debug, Clone)]
struct Stack {
    blocks: Vec<Block>,
    bias_table: Vec<f32>,
    final_norm: RmsNorm,
    /// Decoder (causal buckets, cross-attention) or encoder.
    decoder: bool,
}

/// A T5 model loaded from a Hugging Face folder.
#[derive(Debug, Clone)]
pub struct T5 {
    /// The Hugging Face config it came from.
    pub config: T5Config,
    shared: Embedding,
    encoder: Stack,
    decoder: Stack,
    lm_head: Option<Linear>,
    /// The tied head: `shared` as `[C, V]` for one product, or its quantized copy.
    tied_head: Option<HeadMatrix>,
    /// The head's bf16 screen for greedy decoding.
    screen: ScreenCache,
}

/// T5's bucket of the relative position `rel = key − query`.
pub fn relative_position_bucket(
    rel: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> usize {
    let mut buckets = num_buckets as i64;
    let mut bucket = 0;
    let n = if bidirectional {
        buckets /= 2;
        if rel > 0 {
            bucket += buckets;
        }
        rel.abs()
    } else {
        (-rel).max(0)
    };
    let max_exact = buckets / 2;
    if n < max_exact {
        return (bucket + n) as usize;
    }
    // as transformers computes it: in float32, truncated toward zero
    let log = ((n as f32 / max_exact as f32).ln()
        / ((max_distance as f64 / max_exact as f64).ln() as f32)
        * (buckets - max_exact) as f32) as i64;
    (bucket + (max_exact + log).min(buckets - 1)) as usize
}

impl Stack {
    /// The projections of every block: self-attention, cross-attention, feed-forward.
    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = Vec::new();
        for b in &mut self.blocks {
            out.extend(b.self_attn.linears_mut());
            if let Some((_, cross)) = &mut b.cross {
                out.extend(cross.linears_mut());
            }
            out.extend(b.ff.linears_mut());
        }
        out
    }

    /// The position bias `[1, H, T, past+T]` of `t` queries after `past` positions.
    fn position_bias(&self, config: &T5Config, t: usize, past: usize) -> Result<Tensor> {
        let h = config.num_heads;
        let tk = past + t;
        let mut bias = vec![0.0f32; h * t * tk];
        for q in 0..t {
            for k in 0..tk {
                let rel = k as i64 - (past + q) as i64;
                let bucket = relative_position_bucket(
                    rel,
                    !self.decoder,
                    config.relative_attention_num_buckets,
                    config.relative_attention_max_distance,
                );
                for head in 0..h {
                    bias[(head * t + q) * tk + k] = self.bias_table[bucket * h + head];
                }
            }
        }
        Ok(Tensor::from_vec(bias, &[1, h, t, tk])?)
    }
}

/// Builds a stack from `vb` (`encoder` or `decoder`).
fn build_stack(c: &T5Config, layers: usize, decoder: bool, vb: Builder) -> Result<Stack> {
    let (act, gated) = c.activation().map_err(LmError::Config)?;
    let eps = c.layer_norm_epsilon as f32;
    let inner = c.num_heads * c.d_kv;
    let init = Init::Normal {
        mean: 0.0,
        std: 0.02,
    };
    let lin = |d_in, d_out, vb: Builder| -> Result<Linear> {
        Ok(Linear::with_init(d_in, d_out, None, WeightLayout::OutIn, init, vb)?.for_inference()?)
    };
    let attn = |vb: Builder| -> Result<Attention> {
        Ok(Attention {
            q: lin(c.d_model, inner, vb.pp("q"))?,
            k: lin(c.d_model, inner, vb.pp("k"))?,
            v: lin(c.d_model, inner, vb.pp("v"))?,
            o: lin(inner, c.d_model, vb.pp("o"))?,
            heads: c.num_heads,
            scale: 1.0,
        })
    };
    let mut blocks = Vec::with_capacity(layers);
    let mut bias_table = Vec::new();
    for i in 0..layers {
        let vb = vb.pp("block").pp(i).pp("layer");
        let sa = vb.pp(0);
        if i == 0 {
            let table = sa.pp("SelfAttention").pp("relative_attention_bias").get(
                &[c.relative_attention_num_buckets, c.num_heads],
                "weight",
                init,
            )?;
            bias_table = table.to_vec();
        }
        let cross = if decoder {
            Some((
                RmsNorm::new(c.d_model, eps, vb.pp(1).pp("layer_norm"))?,
                attn(vb.pp(1).pp("EncDecAttention"))?,
            ))
        } else {
            None
        };
        let f = vb.pp(if decoder { 2 } else { 1 });
        let d = f.pp("DenseReluDense");
        let ff = if gated {
            FeedForward {
                wi: lin(c.d_model, c.d_ff, d.pp("wi_0"))?,
                wi_1: Some(lin(c.d_model, c.d_ff, d.pp("wi_1"))?),
                wo: lin(c.d_ff, c.d_model, d.pp("wo"))?,
                act,
            }
        } else {
            FeedForward {
                wi: lin(c.d_model, c.d_ff, d.pp("wi"))?,
                wi_1: None,
                wo: lin(c.d_ff, c.d_model, d.pp("wo"))?,
                act,
            }
        };
        blocks.push(Block {
            self_norm: RmsNorm::new(c.d_model, eps, sa.pp("layer_norm"))?,
            self_attn: attn(sa.pp("SelfAttention"))?,
            cross,
            ff_norm: RmsNorm::new(c.d_model, eps, f.pp("layer_norm"))?,
            ff,
        });
    }
    Ok(Stack {
        blocks,
        bias_table,
        final_norm: RmsNorm::new(c.d_model, eps, vb.pp("final_layer_norm"))?,
        decoder,
    })
}

impl T5 {
    /// Builds the model from a store holding the checkpoint's tensors by their names.
    pub fn new(config: &T5Config, store: &loam_nn::ParamStore) -> Result<T5> {
        config.validate().map_err(LmError::Config)?;
        let c = config;
        let vb = store.builder();
        let shared = Embedding::new(
            c.vocab_size,
            c.d_model,
            Init::Normal {
                mean: 0.0,
                std: 1.0,
            },
            vb.pp("shared"),
        )?;
        let encoder = build_stack(c, c.num_layers, false, vb.pp("encoder"))?;
        let decoder = build_stack(
            c,
            c.num_decoder_layers.unwrap_or(c.num_layers),
            true,
            vb.pp("decoder"),
        )?;
        let tied = c.tie_word_embeddings.unwrap_or(true);
        let lm_head = if tied {
            None
        } else {
            Some(
                Linear::with_init(
                    c.d_model,
                    c.vocab_size,
                    None,
                    WeightLayout::OutIn,
                    Init::Normal {
                        mean: 0.0,
                        std: 1.0,
                    },
                    vb.pp("lm_head"),
                )?
                .for_inference()?,
            )
        };
        let tied_head = tied
            .then(|| {
                shared
                    .weight
                    .detach()
                    .transpose(0, 1)
                    .map(|w| HeadMatrix::F32(w.contiguous()))
            })
            .transpose()?;
        Ok(T5 {
            config: c.clone(),
            shared,
            encoder,
            decoder,
            lm_head,
            tied_head,
            screen: ScreenCache::default(),
        })
    }

    /// Loads a Hugging Face T5 folder (`config.json` and safetensors weights, or a quantized
    /// checkpoint of `cargo xtask quantize`) and returns the store of its f32 tensors beside
    /// it. The copies of `shared` some files keep as `encoder.embed_tokens.weight` /
    /// `decoder.embed_tokens.weight`, and a tied model's `lm_head.weight`, are not read.
    pub fn from_dir(dir: &Path) -> Result<(T5, ParamStore)> {
        let config = T5Config::load(&dir.join("config.json"))?;
        let ckpt = HfWeights::open(dir)?;
        let tied = config.tie_word_embeddings.unwrap_or(true);
        let skip = |name: &str| name.ends_with("embed_tokens.weight") || (tied && name == "lm_head.weight");
        let (mut model, store) =
            ckpt.build_renamed(&|name| (!skip(name)).then(|| name.to_string()), |store| T5::new(&config, store))?;
        ckpt.apply_quantized(model.linears_mut())?;
        if let (true, Some(head)) = (tied, ckpt.quantized(TIED_HEAD)?) {
            model.set_quantized_head(head)?;
        }
        Ok((model, store))
    }

    /// The quantized copy of the tied embedding the head multiplies by, if any (an untied
    /// head is a linear layer among [`T5::linears_mut`]).
    pub fn quantized_head(&self) -> Option<&QuantMatrix> {
        self.tied_head.as_ref().and_then(HeadMatrix::quantized)
    }

    /// Sets the tied head's quantized copy (as a quantized checkpoint stored it): it must be
    /// `[vocab, d_model]` and the model's head tied.
    pub fn set_quantized_head(&mut self, head: QuantMatrix) -> Result<()> {
        let Some(tied) = &self.tied_head else {
            return Err(LmError::Config(format!(
                "a quantized tied head {:?} given to a T5 whose head is not tied",
                head.shape()
            )));
        };
        self.tied_head = Some(tied.with_quantized(head)?);
        Ok(())
    }

    /// The projections of both stacks (attention, cross-attention, feed-forward) and an untied
    /// head, each named as its parameter, for quantizing. A tied head is quantized by
    /// [`T5::quantize`] apart from them (the lookups keep the f32 embedding).
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = self.encoder.linears_mut();
        out.extend(self.decoder.linears_mut());
        out.extend(self.lm_head.as_mut());
        out
    }

    /// An inference copy with every projection and the head in `format` (a tied head as a
    /// quantized copy of the embedding: at one row a step, the head is the largest matrix a
    /// decoding step reads); embeddings, norms and position biases stay f32.
    pub fn quantize(&self, format: QuantFormat) -> Result<T5> {
        let mut q = self.clone();
        for l in q.linears_mut() {
            *l = l.quantize(format)?;
        }
        q.tied_head = q.tied_head.as_ref().map(|h| h.quantize(format)).transpose()?;
        Ok(q)
    }

    /// The decoder's final hidden states `[B, T, C]` as the head reads them (rescaled by
    /// d_model^−0.5 when the config says so).
    fn head_input(&self, x: &Tensor) -> Tensor {
        if self.config.rescales_output() {
            x.mul_scalar((self.config.d_model as f32).powf(-0.5))
        } else {
            x.clone()
        }
    }

    /// The head's f32 weights and whether they are `[V, C]` (else `[C, V]`), when it has them
    /// (not a quantized head).
    fn head_weights(&self) -> Option<(&Tensor, bool)> {
        match (&self.lm_head, &self.tied_head) {
            (Some(head), _) => linear_weights(head),
            (None, w) => w.as_ref().and_then(HeadMatrix::f32).map(|w| (w, false)),
        }
    }

    /// Logits `[B, T, vocab]` of the decoder's final hidden states `x` `[B, T, C]`.
    fn head(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.head_input(x);
        Ok(match (&self.lm_head, &self.tied_head) {
            (Some(head), _) => head.forward(&x)?,
            (None, Some(w)) => w.logits(&x)?,
            (None, None) => {
                return Err(LmError::Config(
                    "T5 has neither a tied nor a separate head".into(),
                ));
            }
        })
    }
}

impl Seq2SeqLm for T5 {
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    fn max_source_positions(&self) -> Option<usize> {
        None
    }

    fn max_target_positions(&self) -> Option<usize> {
        None
    }

    fn decoder_start_token_id(&self) -> usize {
        self.config
            .decoder_start_token_id
            .unwrap_or(self.pad_token_id())
    }

    fn eos_token_ids(&self) -> Vec<u32> {
        ids_of(&self.config.eos_token_id)
    }

    fn pad_token_id(&self) -> usize {
        self.config.pad_token_id.unwrap_or(0)
    }

    fn decoder_layers(&self) -> usize {
        self.decoder.blocks.len()
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
        let bias = self.encoder.position_bias(&self.config, s, 0)?;
        let mask = padding_mask(lengths, s);
        // x: [B, S, C]
        let mut x = self.shared.forward_ids(ids, &[b, s])?;
        for block in &self.encoder.blocks {
            let a = block.self_attn.self_attend(
                &block.self_norm.forward(&x)?,
                Some(&bias),
                mask.as_ref(),
                None,
            )?;
            x = x.add(&a)?;
            x = x.add(&block.ff.forward(&block.ff_norm.forward(&x)?)?)?;
        }
        Ok(EncoderOutput {
            hidden: self.encoder.final_norm.forward(&x)?,
            lengths: lengths.to_vec(),
        })
    }

    fn decode(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        encoded: &EncoderOutput,
        cache: Option<&mut Seq2SeqCache>,
        _ctx: &mut Ctx,
    ) -> Result<Tensor> {
        self.head(&self.decoder_hidden(ids, b, t, encoded, cache)?)
    }

    fn next_greedy(
        &self,
        last: usize,
        encoded: &EncoderOutput,
        cache: &mut Seq2SeqCache,
        _ctx: &mut Ctx,
    ) -> Result<usize> {
        // x: [1, 1, C]
        let x = self.decoder_hidden(&[last], 1, 1, encoded, Some(cache))?;
        self.screen.argmax(self.head_weights(), &self.head_input(&x).to_vec(), || self.head(&x))
    }
}

impl T5 {
    /// The decoder's final (normed) hidden states `[B, T, C]` of the target ids `ids`
    /// (`B × T`), as [`Seq2SeqLm::decode`] takes them.
    fn decoder_hidden(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        encoded: &EncoderOutput,
        mut cache: Option<&mut Seq2SeqCache>,
    ) -> Result<Tensor> {
        check_target(ids, b, t, encoded, self.config.vocab_size)?;
        let past = cache.as_ref().map_or(0, |c| c.len());
        let bias = self.decoder.position_bias(&self.config, t, past)?;
        let causal = causal_mask(t, past);
        let source_mask = padding_mask(&encoded.lengths, encoded.hidden.shape()[1]);
        // x: [B, T, C]
        let mut x = self.shared.forward_ids(ids, &[b, t])?;
        for (i, block) in self.decoder.blocks.iter().enumerate() {
            let self_cache = cache.as_deref_mut().map(|c| &mut c.self_attn[i]);
            let a = block.self_attn.self_attend(
                &block.self_norm.forward(&x)?,
                Some(&bias),
                causal.as_ref(),
                self_cache,
            )?;
            x = x.add(&a)?;
            if let Some((norm, cross)) = &block.cross {
                let cross_cache = cache.as_deref_mut().map(|c| &mut c.cross_attn[i]);
                x = x.add(&cross.cross_attend(
                    &norm.forward(&x)?,
                    &encoded.hidden,
                    source_mask.as_ref(),
                    cross_cache,
                )?)?;
            }
            x = x.add(&block.ff.forward(&block.ff_norm.forward(&x)?)?)?;
        }
        Ok(self.decoder.final_norm.forward(&x)?)
    }
}

/// Loads a Hugging Face T5 folder (`config.json` and safetensors weights, or a quantized
/// checkpoint): [`T5::from_dir`] without the store.
pub fn load_t5(dir: &Path) -> Result<T5> {
    Ok(T5::from_dir(dir)?.0)
}
