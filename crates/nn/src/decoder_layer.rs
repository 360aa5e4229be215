//! A transformer decoder layer: masked self-attention, cross-attention over the encoder's
//! output, and a feed-forward block, each in a residual branch.

use loam_tensor::Tensor;

use crate::attention::MultiHeadAttention;
use crate::attention_mask::AttentionMask;
use crate::ctx::Ctx;
use crate::dropout::Dropout;
use crate::encoder_layer::residual;
use crate::error::Result;
use crate::feed_forward::FeedForward;
use crate::kv_cache::KvCache;
use crate::layer_config::LayerConfig;
use crate::module::Module;
use crate::norm::LayerNorm;
use crate::store::Builder;

/// The caches of one decoder layer: its self-attention and its cross-attention.
#[derive(Debug, Clone, Default)]
pub struct DecoderCache {
    /// Keys and values of the decoded positions.
    pub self_attn: KvCache,
    /// The projected encoder output.
    pub cross_attn: KvCache,
}

/// Masked self-attention + cross-attention + feed-forward; parameters `self_attn`,
/// `cross_attn`, `ffn`, `ln1`, `ln2`, `ln3`.
#[derive(Debug, Clone)]
pub struct DecoderLayer {
    /// Causal self-attention.
    pub self_attn: MultiHeadAttention,
    /// Attention over the encoder output.
    pub cross_attn: MultiHeadAttention,
    /// Feed-forward block.
    pub ffn: FeedForward,
    /// Norm of the self-attention branch.
    pub ln1: LayerNorm,
    /// Norm of the cross-attention branch.
    pub ln2: LayerNorm,
    /// Norm of the feed-forward branch.
    pub ln3: LayerNorm,
    /// Residual dropout.
    pub dropout: Dropout,
    /// Pre-LN when true, post-LN otherwise.
    pub pre_norm: bool,
}

impl DecoderLayer {
    /// A layer shaped by `cfg`.
    pub fn new(cfg: &LayerConfig, vb: Builder) -> Result<DecoderLayer> {
        let attn = |name: &str| MultiHeadAttention::new(cfg.d_model, cfg.n_heads, cfg.bias, false, cfg.attn_dropout, vb.pp(name));
        let ln = |name: &str| LayerNorm::new(cfg.d_model, cfg.bias, cfg.eps, vb.pp(name));
        Ok(DecoderLayer {
            self_attn: attn("self_attn")?,
            cross_attn: attn("cross_attn")?,
            ffn: FeedForward::new(cfg.d_model, cfg.d_ff, cfg.act, cfg.bias, vb.pp("ffn"))?,
            ln1: ln("ln1")?,
            ln2: ln("ln2")?,
            ln3: ln("ln3")?,
            dropout: Dropout::new(cfg.dropout),
            pre_norm: cfg.pre_norm,
        })
    }

    /// x `[B, T, d]` (decoder side) and memory `[B, S, d]` (encoder output) → `[B, T, d]`.
    /// `self_mask` is usually causal (plus target padding); `memory_mask` holds the source
    /// padding. With a cache, `x` holds only the new positions.
    pub fn forward_t(
        &self,
        x: &Tensor,
        memory: &Tensor,
        self_mask: &AttentionMask,
        memory_mask: &AttentionMask,
        mut cache: Option<&mut DecoderCache>,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        let x = residual(x, &self.ln1, self.pre_norm, self.dropout, ctx, |h, ctx| {
            let c = cache.as_deref_mut().map(|c| &mut c.self_attn);
            self.self_attn.forward_t(h, None, self_mask, c, ctx)
        })?;
        let x = residual(&x, &self.ln2, self.pre_norm, self.dropout, ctx, |h, ctx| {
            let c = cache.as_deref_mut().map(|c| &mut c.cross_attn);
            self.cross_attn.forward_t(h, Some(memory), memory_mask, c, ctx)
        })?;
        residual(&x, &self.ln3, self.pre_norm, self.dropout, ctx, |h, _| self.ffn.forward(h))
    }
}
