//! Multi-head attention: scaled dot products over heads with fused or separate Q/K/V
//! projections, masks, attention dropout, self- and cross-attention and a KV cache.

use loam_tensor::{Device, Mask, Tensor};

use crate::attention_mask::AttentionMask;
use crate::ctx::Ctx;
use crate::dropout::Dropout;
use crate::error::{NnError, Result};
use crate::kv_cache::KvCache;
use crate::linear::Linear;
use crate::module::Module;
use crate::store::Builder;

/// Softmax-normalized attention weights: q `[B, H, Tq, D]`, k `[B, H, Tk, D]` → `[B, H, Tq, Tk]`.
/// Hidden keys (mask true) get weight exactly 0; a query that sees no key at all gets uniform
/// weights rather than NaN.
pub fn attention_weights(q: &Tensor, k: &Tensor, mask: Option<&Mask>) -> Result<Tensor> {
    let d = *q.shape().last().unwrap_or(&1);
    let scores = q.matmul(&k.transpose(-2, -1)?)?.mul_scalar(1.0 / (d as f32).sqrt());
    let scores = match mask {
        Some(m) => scores.masked_fill(m, f32::MIN)?,
        None => scores,
    };
    Ok(scores.softmax(-1)?)
}

/// softmax(q·kᵀ/√D + mask)·v with dropout on the weights: → `[B, H, Tq, D]`.
pub fn scaled_dot_product_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    mask: Option<&Mask>,
    dropout: Dropout,
    ctx: &mut Ctx,
) -> Result<Tensor> {
    let w = dropout.forward_t(&attention_weights(q, k, mask)?, ctx)?;
    Ok(w.matmul(v)?)
}

/// How queries, keys and values are projected from the input.
#[derive(Debug, Clone)]
pub enum Projections {
    /// One `d → 3d` layer whose output splits into q, k, v (GPT-2's `c_attn`).
    Fused(Linear),
    /// Three `d → d` layers (BERT's `query`/`key`/`value`); needed for cross-attention.
    Separate {
        /// Query projection.
        q: Linear,
        /// Key projection.
        k: Linear,
        /// Value projection.
        v: Linear,
    },
}

/// Multi-head attention with an output projection.
#[derive(Debug, Clone)]
pub struct MultiHeadAttention {
    /// The input projections.
    pub proj: Projections,
    /// The output projection `d → d`.
    pub out: Linear,
    /// The number of heads; `d` is a multiple of it.
    pub n_heads: usize,
    /// Dropout on the attention weights.
    pub dropout: Dropout,
}

/// `[B, T, H·D] → [B, H, T, D]`.
fn split_heads(x: &Tensor, h: usize) -> Result<Tensor> {
    let (b, t, c) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    Ok(x.reshape(&[b, t, h, c / h])?.permute(&[0, 2, 1, 3])?)
}

/// `[B, H, T, D] → [B, T, H·D]`.
fn merge_heads(x: &Tensor) -> Result<Tensor> {
    let (b, h, t, d) = (x.shape()[0], x.shape()[1], x.shape()[2], x.shape()[3]);
    Ok(x.permute(&[0, 2, 1, 3])?.reshape(&[b, t, h * d])?)
}

impl MultiHeadAttention {
    /// Attention of width `d` with `n_heads` heads; parameters `qkv` (fused) or `q`/`k`/`v`,
    /// and `out`.
    pub fn new(d: usize, n_heads: usize, bias: bool, fused: bool, dropout: f32, vb: Builder) -> Result<Self> {
        if n_heads == 0 || d % n_heads != 0 {
            return Err(NnError::Config(format!("attention width {d} is not a multiple of {n_heads} heads")));
        }
        let proj = if fused {
            Projections::Fused(Linear::new(d, 3 * d, bias, vb.pp("qkv"))?)
        } else {
            Projections::Separate {
                q: Linear::new(d, d, bias, vb.pp("q"))?,
                k: Linear::new(d, d, bias, vb.pp("k"))?,
                v: Linear::new(d, d, bias, vb.pp("v"))?,
            }
        };
        let out = Linear::new(d, d, bias, vb.pp("out"))?;
        Ok(MultiHeadAttention { proj, out, n_heads, dropout: Dropout::new(dropout) })
    }

    /// A copy for inference (see [`Linear::for_inference`]). Separate q/k/v projections become
    /// one fused product, so the copy does self-attention only.
    pub fn for_inference(&self) -> Result<MultiHeadAttention> {
        let proj = match &self.proj {
            Projections::Fused(qkv) => Projections::Fused(qkv.for_inference()?),
            Projections::Separate { q, k, v } => Projections::Fused(Linear::side_by_side(&[q, k, v])?),
        };
        Ok(MultiHeadAttention { proj, out: self.out.for_inference()?, n_heads: self.n_heads, dropout: self.dropout })
    }

    /// The projection layers (q/k/v or the fused one, then the output), for quantizing.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = match &mut self.proj {
            Projections::Fused(qkv) => vec![qkv],
            Projections::Separate { q, k, v } => vec![q, k, v],
        };
        out.push(&mut self.out);
        out
    }

    /// Projects to heads: q from `x` `[B, Tq, d]`, k and v from `memory` (cross-attention) or
    /// from `x` (self-attention).
    fn project(&self, x: &Tensor, memory: Option<&Tensor>) -> Result<(Tensor, Tensor, Tensor)> {
        let h = self.n_heads;
        match (&self.proj, memory) {
            (Projections::Fused(qkv), None) => {
                let y = qkv.forward(x)?;
                let d = y.shape()[2] / 3;
                let part = |i: usize| -> Result<Tensor> { split_heads(&y.narrow(2, i * d, d)?, h) };
                Ok((part(0)?, part(1)?, part(2)?))
            }
            (Projections::Fused(_), Some(_)) => {
                Err(NnError::Config("cross-attention needs separate q/k/v projections".into()))
            }
            (Projections::Separate { q, k, v }, memory) => {
                let kv_in = memory.unwrap_or(x);
                Ok((split_heads(&q.forward(x)?, h)?, split_heads(&k.forward(kv_in)?, h)?, split_heads(&v.forward(kv_in)?, h)?))
            }
        }
    }

    /// Whether cached self-attention of `x` can run on [`loam_tensor::KvBuffer::attend`]: on
    /// the CPU, no gradient, no dropout, and only causal and left-padding masks.
    fn host_attention(&self, x: &Tensor, mask: &AttentionMask, ctx: &Ctx) -> bool {
        x.device() == Device::Cpu
            && !x.tracks_grad()
            && (!ctx.train || self.dropout.p == 0.0)
            && mask.key_lengths.is_none()
            && mask.custom.is_none()
    }

    /// Attention of `x` `[B, Tq, d]` over itself, or over `memory` `[B, Tk, d]` when given.
    /// With a cache, self-attention appends this step's keys and values and its queries sit
    /// after the cached positions; cross-attention projects the memory once and reuses it.
    pub fn forward_t(
        &self,
        x: &Tensor,
        memory: Option<&Tensor>,
        mask: &AttentionMask,
        cache: Option<&mut KvCache>,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        if x.rank() != 3 {
            return Err(NnError::Config(format!("attention input must be [B, T, d], got {:?}", x.shape())));
        }
        let (b, tq) = (x.shape()[0], x.shape()[1]);
        let (q, k, v, offset) = match (cache, memory) {
            (Some(cache), Some(_)) if !cache.is_empty() => {
                let Projections::Separate { q, .. } = &self.proj else {
                    return Err(NnError::Config("cross-attention needs separate q/k/v projections".into()));
                };
                let Some((k, v)) = cache.get()? else {
                    return Err(NnError::Config("cross-attention cache is empty".into()));
                };
                (split_heads(&q.forward(x)?, self.n_heads)?, k, v, 0)
            }
            (Some(cache), None) if self.host_attention(x, mask, ctx) => {
                let (q, k, v) = self.project(x, None)?;
                if let Some(buf) = cache.append_host(&k, &v)? {
                    // [B, Tq, d]
                    let y = buf.attend(&q, mask.left_pad.as_deref(), mask.causal)?;
                    return self.out.forward(&y);
                }
                let (k, v) = cache.append(&k, &v)?;
                let offset = k.shape()[2] - tq;
                (q, k, v, offset)
            }
            (Some(cache), mem) => {
                let (q, k, v) = self.project(x, mem)?;
                let offset = if mem.is_some() { 0 } else { cache.len() };
                let (k, v) = if mem.is_some() {
                    cache.set(k.clone(), v.clone());
                    (k, v)
                } else {
                    cache.append(&k, &v)?
                };
                (q, k, v, offset)
            }
            (None, mem) => {
                let (q, k, v) = self.project(x, mem)?;
                (q, k, v, 0)
            }
        };
        let tk = k.shape()[2];
        // on a GPU, a causal (or no) mask without dropout is one fused kernel, no T×T matrix
        let plain = mask.key_lengths.is_none()
            && mask.left_pad.is_none()
            && mask.custom.is_none()
            && (!mask.causal || offset + tq == tk);
        let scale = 1.0 / (q.shape()[3] as f32).sqrt();
        let y = if q.device() != Device::Cpu && plain && (!ctx.train || self.dropout.p == 0.0) {
            q.scaled_dot_product_attention(&k, &v, mask.causal, scale)?
        } else if q.device() == Device::Cpu && plain && mask.causal {
            // scale, causal mask and softmax as one op, forward and backward, no mask built
            let w = q.matmul(&k.transpose(-2, -1)?)?.causal_softmax(scale, tq, offset)?;
            self.dropout.forward_t(&w, ctx)?.matmul(&v)?
        } else {
            let m = mask.build(b, tq, tk, offset)?;
            scaled_dot_product_attention(&q, &k, &v, m.as_ref(), self.dropout, ctx)?
        };
        self.out.forward(&merge_heads(&y)?)
    }
}
