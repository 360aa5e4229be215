//! A transformer encoder layer: self-attention and a feed-forward block, each in a residual
//! branch, pre-LN or post-LN.

use loam_tensor::Tensor;

use crate::attention::MultiHeadAttention;
use crate::attention_mask::AttentionMask;
use crate::ctx::Ctx;
use crate::dropout::Dropout;
use crate::error::Result;
use crate::feed_forward::FeedForward;
use crate::layer_config::LayerConfig;
use crate::module::Module;
use crate::norm::LayerNorm;
use crate::store::Builder;

/// Runs `branch` as a residual branch around `x`: pre-LN `x + drop(f(ln(x)))` or post-LN
/// `ln(x + drop(f(x)))`.
pub(crate) fn residual(
    x: &Tensor,
    ln: &LayerNorm,
    pre_norm: bool,
    drop: Dropout,
    ctx: &mut Ctx,
    branch: impl FnOnce(&Tensor, &mut Ctx) -> Result<Tensor>,
) -> Result<Tensor> {
    if pre_norm {
        let y = branch(&ln.forward(x)?, ctx)?;
        Ok(x.add(&drop.forward_t(&y, ctx)?)?)
    } else {
        let y = branch(x, ctx)?;
        ln.forward(&x.add(&drop.forward_t(&y, ctx)?)?)
    }
}

/// Self-attention + feed-forward; parameters `self_attn`, `ffn`, `ln1`, `ln2`.
#[derive(Debug, Clone)]
pub struct EncoderLayer {
    /// Self-attention.
    pub self_attn: MultiHeadAttention,
    /// Feed-forward block.
    pub ffn: FeedForward,
    /// Norm of the attention branch.
    pub ln1: LayerNorm,
    /// Norm of the feed-forward branch.
    pub ln2: LayerNorm,
    /// Residual dropout.
    pub dropout: Dropout,
    /// Pre-LN when true, post-LN otherwise.
    pub pre_norm: bool,
}

impl EncoderLayer {
    /// A layer shaped by `cfg`.
    pub fn new(cfg: &LayerConfig, vb: Builder) -> Result<EncoderLayer> {
        Ok(EncoderLayer {
            self_attn: MultiHeadAttention::new(cfg.d_model, cfg.n_heads, cfg.bias, false, cfg.attn_dropout, vb.pp("self_attn"))?,
            ffn: FeedForward::new(cfg.d_model, cfg.d_ff, cfg.act, cfg.bias, vb.pp("ffn"))?,
            ln1: LayerNorm::new(cfg.d_model, cfg.bias, cfg.eps, vb.pp("ln1"))?,
            ln2: LayerNorm::new(cfg.d_model, cfg.bias, cfg.eps, vb.pp("ln2"))?,
            dropout: Dropout::new(cfg.dropout),
            pre_norm: cfg.pre_norm,
        })
    }

    /// x `[B, T, d]` → `[B, T, d]`; `mask` usually holds the key padding.
    pub fn forward_t(&self, x: &Tensor, mask: &AttentionMask, ctx: &mut Ctx) -> Result<Tensor> {
        let x = residual(x, &self.ln1, self.pre_norm, self.dropout, ctx, |h, ctx| {
            self.self_attn.forward_t(h, None, mask, None, ctx)
        })?;
        residual(&x, &self.ln2, self.pre_norm, self.dropout, ctx, |h, _| self.ffn.forward(h))
    }
}
