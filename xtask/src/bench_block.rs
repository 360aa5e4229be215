//! The loam side of `cargo xtask bench block`: one pre-LN GPT decoder block (causal
//! self-attention + GELU MLP, no biases) at B=12, T=64, C=128, 4 heads, forward and backward
//! of sum(block(x)). The PyTorch side is `xtask/py/block.py` (the same block and timing rule).

use std::time::Duration;

use anyhow::Result;
use loam_nn::{Activation, AttentionMask, Ctx, EncoderLayer, LayerConfig, ParamStore};
use loam_tensor::{Rng, Tensor};

use crate::measure::median_secs;
use crate::record::Record;

const B: usize = 12;
const T: usize = 64;
const C: usize = 128;

/// Times forward + backward of the block.
pub fn run() -> Result<Vec<Record>> {
    let cfg = LayerConfig {
        d_model: C,
        n_heads: 4,
        d_ff: 4 * C,
        dropout: 0.0,
        attn_dropout: 0.0,
        act: Activation::Gelu,
        pre_norm: true,
        eps: 1e-5,
        bias: false,
    };
    let store = ParamStore::new(0);
    let block = EncoderLayer::new(&cfg, store.builder())?;
    let x = Tensor::randn(&[B, T, C], 0.0, 1.0, &mut Rng::new(1)).to_var();
    let mask = AttentionMask::causal();
    let secs = median_secs(Duration::from_secs(2), || -> Result<()> {
        let y = block.forward_t(&x, &mask, &mut Ctx::eval())?;
        y.sum_all().backward()?;
        Ok(())
    })?;
    Ok(vec![Record::loam(
        "block",
        "pre-LN block B12 T64 C128 H4 fwd+bwd",
        &[("ms_per_iter", secs * 1e3), ("tokens_per_s", (B * T) as f64 / secs)],
    )])
}
