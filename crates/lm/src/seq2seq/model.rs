//! The encoder–decoder Transformer: an encoder stack over the source, a decoder stack with
//! masked self-attention and cross-attention over the encoder's output, and a head over the
//! target vocabulary. Parameter names are BART's (`model.shared.weight`,
//! `model.encoder.layers.{i}.self_attn.q_proj.weight`, `…encoder_attn…`, `lm_head.weight`), so a
//! BART-shaped model exports as `BartForConditionalGeneration` without a mapping table.

use loam_nn::{
    Activation, AttentionMask, Builder, Ctx, DecoderCache, DecoderLayer, Dropout, Embedding,
    EncoderLayer, FeedForward, Init, LayerNorm, LearnedPositional, Linear, Module,
    MultiHeadAttention, ParamStore, Projections, SinusoidalPositional, WeightLayout,
};
use loam_tensor::{QuantFormat, Tensor, no_grad};

use crate::error::{LmError, Result};
use crate::sampling::argmax;
use crate::seq2seq::config::{PositionKind, Seq2SeqConfig};
use crate::seq2seq::loss::{IGNORE_INDEX, label_smoothed_cross_entropy};

/// BART's learned position tables start at row 2 (rows 0 and 1 are never used).
pub const LEARNED_POSITION_OFFSET: usize = 2;

/// A batch of (source, target) pairs as ids, right-padded.
#[derive(Debug, Clone, PartialEq)]
pub struct Seq2SeqBatch {
    /// Rows.
    pub b: usize,
    /// Source positions per row (the longest source).
    pub s: usize,
    /// Source ids `[B, S]`, padded with the pad id.
    pub src: Vec<usize>,
    /// Real source tokens per row.
    pub src_lengths: Vec<usize>,
    /// Target positions per row (the longest target + 1).
    pub t: usize,
    /// Decoder inputs `[B, T]`: the start id, then the target (teacher forcing), padded.
    pub tgt_in: Vec<usize>,
    /// Labels `[B, T]`: the target, then the end id; [`IGNORE_INDEX`] on padding.
    pub labels: Vec<i64>,
}

/// Position vectors of one stack.
#[derive(Debug, Clone)]
enum Positions {
    Learned(LearnedPositional),
    Sinusoidal(SinusoidalPositional),
}

impl Positions {
    fn new(c: &Seq2SeqConfig, init: Init, vb: Builder) -> Result<Positions> {
        Ok(match c.positions {
            PositionKind::Learned => Positions::Learned(LearnedPositional::new(
                c.block_size + LEARNED_POSITION_OFFSET,
                c.n_embd,
                init,
                vb,
            )?),
            PositionKind::Sinusoidal => {
                Positions::Sinusoidal(SinusoidalPositional::new(c.block_size, c.n_embd).to_device(vb.store().device())?)
            }
        })
    }

    /// Positions `offset..offset + len`: `[1, len, d]`.
    fn forward(&self, offset: usize, len: usize) -> Result<Tensor> {
        let p = match self {
            Positions::Learned(l) => l.forward(offset + LEARNED_POSITION_OFFSET, len)?,
            Positions::Sinusoidal(s) => s.forward(offset, len)?,
        };
        let d = p.shape()[1];
        Ok(p.reshape(&[1, len, d])?)
    }
}

/// Embeddings, positions and the embedding layer norm of one stack.
#[derive(Debug, Clone)]
struct Embed {
    tokens: Embedding,
    positions: Positions,
    norm: LayerNorm,
    scale: f32,
    drop: Dropout,
}

impl Embed {
    // ids: B × T (positions offset.., ) → [B, T, d]
    fn forward(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        offset: usize,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        let x = self.tokens.forward_ids(ids, &[b, t])?;
        let x = if self.scale == 1.0 {
            x
        } else {
            x.mul_scalar(self.scale)
        };
        let x = self
            .norm
            .forward(&x.add(&self.positions.forward(offset, t)?)?)?;
        Ok(self.drop.forward_t(&x, ctx)?)
    }
}

/// loam's encoder–decoder Transformer; its parameters live in a [`ParamStore`].
#[derive(Debug, Clone)]
pub struct Seq2Seq {
    /// The configuration it was built from.
    pub config: Seq2SeqConfig,
    enc_embed: Embed,
    dec_embed: Embed,
    encoder: Vec<EncoderLayer>,
    decoder: Vec<DecoderLayer>,
    /// Pre-LN only: the norms after the last layer of each stack.
    enc_norm: Option<LayerNorm>,
    dec_norm: Option<LayerNorm>,
    lm_head: Option<Linear>,
}

/// One attention with q/k/v/out projections named as BART names them.
fn attention(c: &Seq2SeqConfig, init: Init, vb: Builder) -> Result<MultiHeadAttention> {
    let lin = |name: &str| linear(c, c.n_embd, c.n_embd, init, vb.pp(name));
    Ok(MultiHeadAttention {
        proj: Projections::Separate {
            q: lin("q_proj")?,
            k: lin("k_proj")?,
            v: lin("v_proj")?,
        },
        out: lin("out_proj")?,
        n_heads: c.n_head,
        dropout: Dropout::new(c.attention_dropout),
    })
}

fn linear(c: &Seq2SeqConfig, d_in: usize, d_out: usize, init: Init, vb: Builder) -> Result<Linear> {
    Ok(Linear::with_init(
        d_in,
        d_out,
        c.bias.then_some(Init::Zeros),
        WeightLayout::OutIn,
        init,
        vb,
    )?)
}

fn feed_forward(c: &Seq2SeqConfig, init: Init, vb: &Builder) -> Result<FeedForward> {
    Ok(FeedForward {
        up: linear(c, c.n_embd, c.ffn_dim(), init, vb.pp("fc1"))?,
        down: linear(c, c.ffn_dim(), c.n_embd, init, vb.pp("fc2"))?,
        act: Activation::from_hf_name(&c.activation)?,
    })
}

impl Seq2Seq {
    /// Builds the model in `store` (creating parameters with BART's init, normal(0, 0.02)
    /// weights, zero biases, unit norm scales, or fetching those already there).
    pub fn new(config: &Seq2SeqConfig, store: &ParamStore) -> Result<Seq2Seq> {
        config.validate()?;
        let c = config.clone();
        let init = Init::Normal {
            mean: 0.0,
            std: 0.02,
        };
        let root = store.builder();
        let m = root.pp("model");
        let norm = |vb: Builder| LayerNorm::new(c.n_embd, c.bias, c.layer_norm_eps, vb);
        let (src_tokens, tgt_tokens) = if c.shared_vocab {
            let shared = Embedding::new(c.vocab_size, c.n_embd, init, m.pp("shared"))?;
            (shared.clone(), shared)
        } else {
            (
                Embedding::new(
                    c.source_vocab_size,
                    c.n_embd,
                    init,
                    m.pp("encoder").pp("embed_tokens"),
                )?,
                Embedding::new(
                    c.vocab_size,
                    c.n_embd,
                    init,
                    m.pp("decoder").pp("embed_tokens"),
                )?,
            )
        };
        let scale = if c.scale_embedding {
            (c.n_embd as f32).sqrt()
        } else {
            1.0
        };
        let embed = |tokens: Embedding, vb: Builder| -> Result<Embed> {
            Ok(Embed {
                tokens,
                positions: Positions::new(&c, init, vb.pp("embed_positions"))?,
                norm: norm(vb.pp("layernorm_embedding"))?,
                scale,
                drop: Dropout::new(c.dropout),
            })
        };
        let (enc, dec) = (m.pp("encoder"), m.pp("decoder"));
        let layer_config = |vb: &Builder| -> Result<(MultiHeadAttention, FeedForward)> {
            Ok((
                attention(&c, init, vb.pp("self_attn"))?,
                feed_forward(&c, init, vb)?,
            ))
        };
        let mut encoder = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let vb = enc.pp("layers").pp(i);
            let (self_attn, ffn) = layer_config(&vb)?;
            encoder.push(EncoderLayer {
                self_attn,
                ffn,
                ln1: norm(vb.pp("self_attn_layer_norm"))?,
                ln2: norm(vb.pp("final_layer_norm"))?,
                dropout: Dropout::new(c.dropout),
                pre_norm: c.pre_norm,
            });
        }
        let mut decoder = Vec::with_capacity(c.decoder_layers());
        for i in 0..c.decoder_layers() {
            let vb = dec.pp("layers").pp(i);
            let (self_attn, ffn) = layer_config(&vb)?;
            decoder.push(DecoderLayer {
                self_attn,
                cross_attn: attention(&c, init, vb.pp("encoder_attn"))?,
                ffn,
                ln1: norm(vb.pp("self_attn_layer_norm"))?,
                ln2: norm(vb.pp("encoder_attn_layer_norm"))?,
                ln3: norm(vb.pp("final_layer_norm"))?,
                dropout: Dropout::new(c.dropout),
                pre_norm: c.pre_norm,
            });
        }
        let (enc_norm, dec_norm) = if c.pre_norm {
            (
                Some(norm(enc.pp("layer_norm"))?),
                Some(norm(dec.pp("layer_norm"))?),
            )
        } else {
            (None, None)
        };
        let lm_head = if c.tie_embeddings {
            None
        } else {
            Some(Linear::with_init(
                c.n_embd,
                c.vocab_size,
                None,
                WeightLayout::OutIn,
                init,
                root.pp("lm_head"),
            )?)
        };
        Ok(Seq2Seq {
            enc_embed: embed(src_tokens, enc.clone())?,
            dec_embed: embed(tgt_tokens, dec.clone())?,
            encoder,
            decoder,
            enc_norm,
            dec_norm,
            lm_head,
            config: c,
        })
    }

    fn check_ids(&self, what: &str, ids: &[usize], b: usize, t: usize, vocab: usize) -> Result<()> {
        if ids.len() != b * t {
            return Err(LmError::Config(format!(
                "{what}: {} ids do not form a {b} × {t} batch",
                ids.len()
            )));
        }
        if t > self.config.block_size {
            return Err(LmError::Config(format!(
                "{what}: {t} positions exceed the model's block size {}",
                self.config.block_size
            )));
        }
        if let Some(&id) = ids.iter().find(|&&id| id >= vocab) {
            return Err(LmError::Config(format!(
                "{what}: id {id} is outside the vocabulary of {vocab}"
            )));
        }
        Ok(())
    }

    /// The projections of both stacks (attention, cross-attention, feed-forward) and an
    /// untied head, each named as its parameter, for quantizing.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = Vec::new();
        for l in &mut self.encoder {
            out.extend(l.self_attn.linears_mut());
            out.extend([&mut l.ffn.up, &mut l.ffn.down]);
        }
        for l in &mut self.decoder {
            out.extend(l.self_attn.linears_mut());
            out.extend(l.cross_attn.linears_mut());
            out.extend([&mut l.ffn.up, &mut l.ffn.down]);
        }
        out.extend(self.lm_head.as_mut());
        out
    }

    /// An inference copy with every projection (and an untied head) in `format`; embeddings,
    /// norms, biases and a tied head stay f32. The copy cannot be trained.
    pub fn quantize(&self, format: QuantFormat) -> Result<Seq2Seq> {
        let mut q = self.clone();
        for l in q.linears_mut() {
            *l = l.quantize(format)?;
        }
        Ok(q)
    }

    /// The encoder's output `[B, S, d]` for source ids `src` (`B × S`, row-major; row `r` has
    /// `src_lengths[r]` real tokens, then padding that no position attends to).
    pub fn encode(
        &self,
        src: &[usize],
        b: usize,
        s: usize,
        src_lengths: &[usize],
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        self.check_ids("source", src, b, s, self.config.source_vocab())?;
        if src_lengths.len() != b || src_lengths.iter().any(|&l| l == 0 || l > s) {
            return Err(LmError::Config(format!(
                "source lengths {src_lengths:?} do not fit {b} rows of at most {s} tokens (each at least 1)"
            )));
        }
        // x: [B, S, d]
        let mut x = self.enc_embed.forward(src, b, s, 0, ctx)?;
        let mask = AttentionMask::none().with_key_lengths(src_lengths.to_vec());
        for layer in &self.encoder {
            x = layer.forward_t(&x, &mask, ctx)?;
        }
        Ok(match &self.enc_norm {
            Some(n) => n.forward(&x)?,
            None => x,
        })
    }

    /// Empty decoder caches, one per decoder layer.
    pub fn new_cache(&self) -> Vec<DecoderCache> {
        vec![DecoderCache::default(); self.decoder.len()]
    }

    /// Logits `[B, T, vocab]` of decoder inputs `tgt` (`B × T`) over the encoder output
    /// `memory` `[B, S, d]` whose rows have `src_lengths` real positions. With caches, `tgt`
    /// holds only the new positions.
    #[allow(clippy::too_many_arguments)]
    pub fn decode(
        &self,
        tgt: &[usize],
        b: usize,
        t: usize,
        memory: &Tensor,
        src_lengths: &[usize],
        mut cache: Option<&mut Vec<DecoderCache>>,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        let past = cache
            .as_ref()
            .and_then(|c| c.first())
            .map_or(0, |c| c.self_attn.len());
        self.check_ids("target", tgt, b, t, self.config.vocab_size)?;
        if past + t > self.config.block_size {
            return Err(LmError::Config(format!(
                "target: {} positions exceed the model's block size {}",
                past + t,
                self.config.block_size
            )));
        }
        // x: [B, T, d]
        let mut x = self.dec_embed.forward(tgt, b, t, past, ctx)?;
        let self_mask = AttentionMask::causal();
        let memory_mask = AttentionMask::none().with_key_lengths(src_lengths.to_vec());
        for (i, layer) in self.decoder.iter().enumerate() {
            let c = cache.as_deref_mut().map(|c| &mut c[i]);
            x = layer.forward_t(&x, memory, &self_mask, &memory_mask, c, ctx)?;
        }
        if let Some(n) = &self.dec_norm {
            x = n.forward(&x)?;
        }
        Ok(match &self.lm_head {
            Some(head) => head.forward(&x)?,
            // one [B·T, d] × [d, vocab] product with the target embedding
            None => {
                let (d, v) = (self.config.n_embd, self.config.vocab_size);
                x.reshape(&[b * t, d])?
                    .matmul(&self.dec_embed.tokens.weight.transpose(0, 1)?)?
                    .reshape(&[b, t, v])?
            }
        })
    }

    /// Logits `[B, T, vocab]` of a batch under teacher forcing.
    pub fn forward(&self, batch: &Seq2SeqBatch, ctx: &mut Ctx) -> Result<Tensor> {
        let memory = self.encode(&batch.src, batch.b, batch.s, &batch.src_lengths, ctx)?;
        self.decode(
            &batch.tgt_in,
            batch.b,
            batch.t,
            &memory,
            &batch.src_lengths,
            None,
            ctx,
        )
    }

    /// Mean label-smoothed cross-entropy of a batch's labels under teacher forcing.
    pub fn loss(
        &self,
        batch: &Seq2SeqBatch,
        label_smoothing: f32,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        let logits = self.forward(batch, ctx)?;
        let rows = batch.b * batch.t;
        label_smoothed_cross_entropy(
            &logits.reshape(&[rows, self.config.vocab_size])?,
            &batch.labels,
            Some(IGNORE_INDEX),
            label_smoothing,
        )
    }

    /// Greedy decoding of a batch's sources with the KV cache: per row, the ids after the
    /// start id up to (not including) the end id, at most `max_new_tokens` of them.
    pub fn greedy(&self, batch: &Seq2SeqBatch, max_new_tokens: usize) -> Result<Vec<Vec<usize>>> {
        let _g = no_grad();
        let ctx = &mut Ctx::eval();
        let b = batch.b;
        let memory = self.encode(&batch.src, b, batch.s, &batch.src_lengths, ctx)?;
        let mut cache = self.new_cache();
        let mut last = vec![self.config.bos_id; b];
        let (mut out, mut done) = (vec![Vec::new(); b], vec![false; b]);
        let v = self.config.vocab_size;
        for _ in 0..max_new_tokens.min(self.config.block_size) {
            let logits = self
                .decode(
                    &last,
                    b,
                    1,
                    &memory,
                    &batch.src_lengths,
                    Some(&mut cache),
                    ctx,
                )?
                .to_vec();
            for r in 0..b {
                let id = argmax(&logits[r * v..(r + 1) * v]);
                if !done[r] {
                    if id == self.config.eos_id {
                        done[r] = true
                    } else {
                        out[r].push(id)
                    }
                }
                last[r] = id;
            }
            if done.iter().all(|&d| d) {
                break;
            }
        }
        Ok(out)
    }
}
