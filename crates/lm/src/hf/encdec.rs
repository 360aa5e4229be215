//! Pieces the encoder–decoder checkpoints (T5, BART) share: multi-head attention with separate
//! q/k/v/o projections, an optional additive position bias and a scale, the masks of a
//! right-padded source and a causal target, cross-attention keys/values projected once, and the
//! output matrix of a head that is not a linear layer (f32 or quantized).

use loam_nn::{KvCache, Linear, Module};
use loam_tensor::{Mask, QuantFormat, QuantMatrix, Tensor, no_grad};

use crate::error::{LmError, Result};
use crate::seq2seq_lm::EncoderOutput;

/// Attention with separate projections, as both T5 (`q`, `k`, `v`, `o`, no biases) and BART
/// (`q_proj`, `k_proj`, `v_proj`, `out_proj`, with biases) store it.
#[derive(Debug, Clone)]
pub(crate) struct Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    /// Number of heads.
    pub heads: usize,
    /// Multiplies the scores (T5: 1, BART: 1/√head_dim).
    pub scale: f32,
}

/// `[B, T, H·D] → [B, H, T, D]`.
fn split_heads(x: &Tensor, h: usize) -> Result<Tensor> {
    let (b, t, c) = (x.shape()[0], x.shape()[1], x.shape()[2]);
    Ok(x.reshape(&[b, t, h, c / h])?.permute(&[0, 2, 1, 3])?)
}

impl Attention {
    /// The q, k, v and output projections, for quantizing.
    pub fn linears_mut(&mut self) -> [&mut Linear; 4] {
        [&mut self.q, &mut self.k, &mut self.v, &mut self.o]
    }

    /// Projects `source` `[B, S, C]` to keys and values `[B, H, S, D]`.
    pub fn keys_values(&self, source: &Tensor) -> Result<(Tensor, Tensor)> {
        Ok((
            split_heads(&self.k.forward(source)?, self.heads)?,
            split_heads(&self.v.forward(source)?, self.heads)?,
        ))
    }

    /// Attention of queries from `x` `[B, T, C]` over keys/values `[B, H, Tk, D]`: scores
    /// scaled, plus `bias` `[1, H, T, Tk]` when given, hidden where `mask` (`[B, 1, T or 1,
    /// Tk]`) is true → `[B, T, C]` after the output projection.
    pub fn attend(
        &self,
        x: &Tensor,
        k: &Tensor,
        v: &Tensor,
        bias: Option<&Tensor>,
        mask: Option<&Mask>,
    ) -> Result<Tensor> {
        let (b, t) = (x.shape()[0], x.shape()[1]);
        let q = split_heads(&self.q.forward(x)?, self.heads)?;
        // scores: [B, H, T, Tk]
        let mut scores = q.matmul(&k.transpose(-2, -1)?)?;
        if self.scale != 1.0 {
            scores = scores.mul_scalar(self.scale);
        }
        if let Some(bias) = bias {
            scores = scores.add(bias)?;
        }
        if let Some(m) = mask {
            scores = scores.masked_fill(m, f32::MIN)?;
        }
        // y: [B, H, T, D] → [B, T, H·D]
        let y = scores.softmax(-1)?.matmul(v)?;
        let d = y.shape()[3];
        let y = y.permute(&[0, 2, 1, 3])?.reshape(&[b, t, self.heads * d])?;
        Ok(self.o.forward(&y)?)
    }

    /// Self-attention of `x` `[B, T, C]`, appending its keys/values to `cache` when given.
    pub fn self_attend(
        &self,
        x: &Tensor,
        bias: Option<&Tensor>,
        mask: Option<&Mask>,
        cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (k, v) = self.keys_values(x)?;
        let (k, v) = match cache {
            Some(c) => c.append(&k, &v)?,
            None => (k, v),
        };
        self.attend(x, &k, &v, bias, mask)
    }

    /// Cross-attention of `x` over the encoder output `memory` `[B, S, C]`: the keys/values
    /// come from `cache` when it holds them, else are projected and stored there.
    pub fn cross_attend(
        &self,
        x: &Tensor,
        memory: &Tensor,
        mask: Option<&Mask>,
        cache: Option<&mut KvCache>,
    ) -> Result<Tensor> {
        let (k, v) = match cache {
            Some(c) => match c.get()? {
                Some(kv) => kv,
                None => {
                    let (k, v) = self.keys_values(memory)?;
                    c.set(k.clone(), v.clone());
                    (k, v)
                }
            },
            None => self.keys_values(memory)?,
        };
        self.attend(x, &k, &v, None, mask)
    }
}

/// The output matrix of a head that is not a `Linear` (T5's tied head, BART's head): f32
/// `[C, V]`, or a quantized copy `[V, C]` (as a quantized checkpoint stores it, under
/// `lm_head.weight`).
#[derive(Debug, Clone)]
pub(crate) enum HeadMatrix {
    F32(Tensor),
    Quantized(QuantMatrix),
}

impl HeadMatrix {
    /// Logits `[B, T, V]` of `x` `[B, T, C]`, as one `[B·T, C]` product.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            HeadMatrix::F32(w) => {
                let (b, t, c) = (x.shape()[0], x.shape()[1], x.shape()[2]);
                x.reshape(&[b * t, c])?.matmul(w)?.reshape(&[b, t, w.shape()[1]])?
            }
            HeadMatrix::Quantized(q) => x.matmul_quant(q)?,
        })
    }

    /// The f32 matrix `[C, V]`, unless quantized.
    pub fn f32(&self) -> Option<&Tensor> {
        match self {
            HeadMatrix::F32(w) => Some(w),
            HeadMatrix::Quantized(_) => None,
        }
    }

    /// The quantized copy `[V, C]`, if it is one.
    pub fn quantized(&self) -> Option<&QuantMatrix> {
        match self {
            HeadMatrix::F32(_) => None,
            HeadMatrix::Quantized(q) => Some(q),
        }
    }

    /// The matrix in `format` (a quantized one is requantized from its dequantized values).
    pub fn quantize(&self, format: QuantFormat) -> Result<HeadMatrix> {
        let _inference = no_grad();
        let out_in = match self {
            HeadMatrix::F32(w) => w.detach().transpose(0, 1)?.contiguous(),
            HeadMatrix::Quantized(q) if q.format() == format => return Ok(self.clone()),
            HeadMatrix::Quantized(q) => q.dequantize(),
        };
        Ok(HeadMatrix::Quantized(QuantMatrix::quantize(&out_in, format)?))
    }

    /// The quantized copy `q` (`[V, C]`) in place of this matrix; the shapes must agree.
    pub fn with_quantized(&self, q: QuantMatrix) -> Result<HeadMatrix> {
        let want = match self {
            HeadMatrix::F32(w) => [w.shape()[1], w.shape()[0]],
            HeadMatrix::Quantized(own) => own.shape(),
        };
        if q.shape() != want {
            return Err(LmError::Config(format!(
                "a quantized head {:?} does not fit a model whose head is {want:?} ([vocab, d_model])",
                q.shape()
            )));
        }
        Ok(HeadMatrix::Quantized(q))
    }
}

/// The mask hiding a right-padded source's padding: `[B, 1, 1, S]`, true past `lengths[r]`;
/// `None` when no row is padded.
pub(crate) fn padding_mask(lengths: &[usize], s: usize) -> Option<Mask> {
    lengths
        .iter()
        .any(|&l| l < s)
        .then(|| Mask::from_fn(&[lengths.len(), 1, 1, s], |ix| ix[3] >= lengths[ix[0]]))
}

/// The causal mask of `t` new target positions after `past` cached ones: `[1, 1, T, past+T]`;
/// `None` for a single position (it sees everything before it).
pub(crate) fn causal_mask(t: usize, past: usize) -> Option<Mask> {
    (t > 1).then(|| Mask::from_fn(&[1, 1, t, past + t], |ix| ix[3] > past + ix[2]))
}

/// Checks the arguments of an encode call: `b × s` ids, `b` lengths in `1..=s`, ids in the
/// vocabulary.
pub(crate) fn check_source(
    ids: &[usize],
    b: usize,
    s: usize,
    lengths: &[usize],
    vocab: usize,
) -> Result<()> {
    if ids.len() != b * s || s == 0 || b == 0 {
        return Err(LmError::Config(format!(
            "{} source ids do not form a {b} × {s} batch",
            ids.len()
        )));
    }
    if lengths.len() != b || lengths.iter().any(|&l| l == 0 || l > s) {
        return Err(LmError::Config(format!(
            "source lengths {lengths:?} must be {b} values in 1..={s}"
        )));
    }
    check_ids(ids, vocab)
}

/// Fails unless the target ids `ids` form a `b × t` batch (t ≥ 1) over the `b` rows of
/// `encoded`, every id inside a vocabulary of `vocab`.
pub(crate) fn check_target(ids: &[usize], b: usize, t: usize, encoded: &EncoderOutput, vocab: usize) -> Result<()> {
    if ids.len() != b * t || t == 0 || encoded.batch() != b {
        return Err(LmError::Config(format!(
            "{} target ids do not form a {b} × {t} batch over {} encoded rows",
            ids.len(),
            encoded.batch()
        )));
    }
    check_ids(ids, vocab)
}

/// Fails when an id is outside a vocabulary of `vocab`.
fn check_ids(ids: &[usize], vocab: usize) -> Result<()> {
    match ids.iter().find(|&&i| i >= vocab) {
        Some(i) => Err(LmError::Config(format!(
            "token {i} is outside the vocabulary of {vocab}"
        ))),
        None => Ok(()),
    }
}
