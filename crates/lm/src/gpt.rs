//! A decoder-only GPT (GPT-2's architecture) with Hugging Face parameter names, so GPT-2
//! checkpoints map one to one: `transformer.wte.weight`, `transformer.h.{i}.attn.c_attn.weight`…

use loam_nn::{
    Activation, AttentionMask, Builder, Ctx, Dropout, Embedding, FeedForward, Init, KvCache, LayerNorm, Linear, Module,
    MultiHeadAttention, ParamStore, Projections, WeightLayout,
};
use loam_tensor::{Device, KvPrecision, QuantFormat, QuantMatrix, Tensor};
use serde::{Deserialize, Serialize};

use crate::causal_lm::CausalLm;
use crate::error::{LmError, Result};
use crate::screened_head::{ScreenCache, linear_weights};

/// The shape and options of a GPT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GptConfig {
    /// Number of transformer blocks.
    pub n_layer: usize,
    /// Attention heads per block.
    pub n_head: usize,
    /// Embedding width.
    pub n_embd: usize,
    /// Longest context (positions).
    pub block_size: usize,
    /// Vocabulary size; 0 means "take it from the tokenizer".
    pub vocab_size: usize,
    /// Dropout on embeddings, attention weights and residual branches.
    pub dropout: f32,
    /// Biases in linear layers and layer norms.
    pub bias: bool,
    /// The output head shares the token embedding.
    pub tie_embeddings: bool,
    /// `gelu` (exact) or `gelu_new` (tanh approximation, GPT-2).
    pub activation: String,
    /// Layer norm epsilon.
    pub layer_norm_eps: f32,
}

impl Default for GptConfig {
    /// GPT-2 small (124M): 12 layers, 12 heads, 768 wide, 1024 positions, 50257 tokens.
    fn default() -> Self {
        GptConfig {
            n_layer: 12,
            n_head: 12,
            n_embd: 768,
            block_size: 1024,
            vocab_size: 50257,
            dropout: 0.0,
            bias: true,
            tie_embeddings: true,
            activation: "gelu_new".into(),
            layer_norm_eps: 1e-5,
        }
    }
}

impl GptConfig {
    /// Checks that the numbers fit together.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(LmError::Config(format!("model config: {m}")));
        if self.n_layer == 0 || self.n_head == 0 || self.n_embd == 0 || self.block_size == 0 || self.vocab_size == 0 {
            return bad(format!("n_layer, n_head, n_embd, block_size and vocab_size must be positive: {self:?}"));
        }
        if self.n_embd % self.n_head != 0 {
            return bad(format!("n_embd {} is not a multiple of n_head {}", self.n_embd, self.n_head));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} is not in [0, 1)", self.dropout));
        }
        Activation::from_hf_name(&self.activation).map_err(|e| LmError::Config(format!("model config: {e}")))?;
        Ok(())
    }
}

/// One pre-LN block: `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`.
#[derive(Debug, Clone)]
struct Block {
    ln_1: LayerNorm,
    attn: MultiHeadAttention,
    ln_2: LayerNorm,
    mlp: FeedForward,
    resid_dropout: Dropout,
}

/// A GPT language model whose parameters live in a [`ParamStore`].
#[derive(Debug, Clone)]
pub struct Gpt {
    /// The configuration it was built from.
    pub config: GptConfig,
    wte: Embedding,
    wpe: Embedding,
    drop: Dropout,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    lm_head: Option<Linear>,
    /// A quantized copy of `wte` `[vocab, n_embd]` that a tied head multiplies by (the
    /// embedding lookups keep reading the f32 table).
    tied_head: Option<QuantMatrix>,
    /// An f32 head's bf16 screen for greedy decoding.
    screen: ScreenCache,
}

/// Per-layer caches for incremental decoding.
pub type GptCache = Vec<KvCache>;

impl Gpt {
    /// Builds the model in `store` (creating parameters with GPT-2's init, or fetching those
    /// already there): normal(0, 0.02) weights, residual output projections at
    /// 0.02/√(2·n_layer), zero biases, unit layer-norm scales.
    pub fn new(config: &GptConfig, store: &ParamStore) -> Result<Gpt> {
        config.validate()?;
        let c = config.clone();
        let vb = store.builder().pp("transformer");
        let normal = Init::Normal { mean: 0.0, std: 0.02 };
        let proj = Init::Normal { mean: 0.0, std: 0.02 / (2.0 * c.n_layer as f32).sqrt() };
        let bias = c.bias.then_some(Init::Zeros);
        let act = Activation::from_hf_name(&c.activation)?;
        let conv = |d_in, d_out, init, vb: Builder| Linear::with_init(d_in, d_out, bias, WeightLayout::InOut, init, vb);
        let mut blocks = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let vb = vb.pp("h").pp(i);
            let attn = MultiHeadAttention {
                proj: Projections::Fused(conv(c.n_embd, 3 * c.n_embd, normal, vb.pp("attn").pp("c_attn"))?),
                out: conv(c.n_embd, c.n_embd, proj, vb.pp("attn").pp("c_proj"))?,
                n_heads: c.n_head,
                dropout: Dropout::new(c.dropout),
            };
            let mlp = FeedForward {
                up: conv(c.n_embd, 4 * c.n_embd, normal, vb.pp("mlp").pp("c_fc"))?,
                down: conv(4 * c.n_embd, c.n_embd, proj, vb.pp("mlp").pp("c_proj"))?,
                act,
            };
            blocks.push(Block {
                ln_1: LayerNorm::new(c.n_embd, c.bias, c.layer_norm_eps, vb.pp("ln_1"))?,
                attn,
                ln_2: LayerNorm::new(c.n_embd, c.bias, c.layer_norm_eps, vb.pp("ln_2"))?,
                mlp,
                resid_dropout: Dropout::new(c.dropout),
            });
        }
        let lm_head = if c.tie_embeddings {
            None
        } else {
            Some(Linear::with_init(c.n_embd, c.vocab_size, None, WeightLayout::OutIn, normal, store.builder().pp("lm_head"))?)
        };
        Ok(Gpt {
            wte: Embedding::new(c.vocab_size, c.n_embd, normal, vb.pp("wte"))?,
            wpe: Embedding::new(c.block_size, c.n_embd, normal, vb.pp("wpe"))?,
            drop: Dropout::new(c.dropout),
            ln_f: LayerNorm::new(c.n_embd, c.bias, c.layer_norm_eps, vb.pp("ln_f"))?,
            blocks,
            lm_head,
            tied_head: None,
            config: c,
            screen: ScreenCache::default(),
        })
    }

    /// The linear layers (attention, MLP, an untied head), each named as its parameter, for
    /// quantizing.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = Vec::new();
        for b in &mut self.blocks {
            out.extend(b.attn.linears_mut());
            out.push(&mut b.mlp.up);
            out.push(&mut b.mlp.down);
        }
        out.extend(self.lm_head.as_mut());
        out
    }

    /// An inference copy with every linear layer's weight in `format`, and with a tied head,
    /// a copy of the token embedding in `format` for the output product (the lookups keep
    /// the f32 table). Embeddings, norms and biases stay f32.
    pub fn quantize(&self, format: QuantFormat) -> Result<Gpt> {
        let mut q = self.clone();
        for l in q.linears_mut() {
            *l = l.quantize(format)?;
        }
        if self.config.tie_embeddings {
            let head = match &self.tied_head {
                Some(h) if h.format() == format => h.clone(),
                Some(h) => QuantMatrix::quantize(&h.dequantize(), format)?,
                None => QuantMatrix::quantize(&self.wte.weight.detach(), format)?,
            };
            q.tied_head = Some(head);
        }
        Ok(q)
    }

    /// The quantized copy of the tied embedding the head multiplies by, if any.
    pub fn tied_head(&self) -> Option<&QuantMatrix> {
        self.tied_head.as_ref()
    }

    /// Sets the tied head's quantized copy (as a quantized checkpoint stored it); it must be
    /// `[vocab, n_embd]` and the model's head tied.
    pub fn set_tied_head(&mut self, head: QuantMatrix) -> Result<()> {
        let want = [self.config.vocab_size, self.config.n_embd];
        if !self.config.tie_embeddings || head.shape() != want {
            return Err(LmError::Config(format!(
                "a quantized tied head {:?} does not fit this GPT (tied: {}, needs {want:?})",
                head.shape(),
                self.config.tie_embeddings
            )));
        }
        self.tied_head = Some(head);
        Ok(())
    }

    /// The device of the model's weights.
    pub fn device(&self) -> Device {
        self.wte.weight.device()
    }

    /// This model on `device`: built again (same config) from `store`'s copy there, where
    /// `store` holds this model's parameters. Returns the model and the store it now lives
    /// in (`store` itself when already there). A quantized model stays on the CPU.
    pub fn to_device(&self, store: &ParamStore, device: Device) -> Result<(Gpt, ParamStore)> {
        if device == self.device() {
            return Ok((self.clone(), store.clone()));
        }
        if self.is_quantized() {
            return Err(LmError::Config(format!("a quantized GPT runs on the CPU only, not on {device}")));
        }
        let moved = store.to_device(device)?;
        Ok((Gpt::new(&self.config, &moved)?, moved))
    }

    /// Whether the weights are quantized ([`Gpt::quantize`]: the head's always is).
    pub fn is_quantized(&self) -> bool {
        self.tied_head.is_some() || self.lm_head.as_ref().is_some_and(|h| h.weight.f32().is_err())
    }

    /// How this model's caches keep keys and values: f16 when the weights are quantized
    /// (half the bytes a batched decoding step reads from its cache; the weights' rounding
    /// is the larger), f32 otherwise (the reference's numbers).
    pub fn kv_precision(&self) -> KvPrecision {
        if self.is_quantized() { KvPrecision::F16 } else { KvPrecision::F32 }
    }

    /// Empty caches, one per block, in [`Gpt::kv_precision`].
    pub fn new_cache(&self) -> GptCache {
        vec![KvCache::with_precision(self.kv_precision()); self.blocks.len()]
    }

    /// Logits `[B, T, vocab]` of `ids` (`B × T`, row-major). Row `r` may start with
    /// `left_pad[r]` padding tokens, which no position attends to and which do not count as
    /// positions. With caches, `ids` holds only the new positions.
    pub fn forward_padded(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        left_pad: Option<&[usize]>,
        cache: Option<&mut GptCache>,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        self.head(&self.hidden(ids, b, t, left_pad, cache, ctx)?)
    }

    /// [`CausalLm::next_greedy`]: with an f32 head on the CPU (the tied embedding or an
    /// untied one without bias), the argmax is found by screening the head in bf16
    /// (`ScreenedHead`: half the bytes of the largest matrix, the same token); quantized heads
    /// compute every logit.
    pub fn next_greedy(&self, ids: &[usize], cache: &mut GptCache, ctx: &mut Ctx) -> Result<usize> {
        let t = ids.len();
        // x: [1, T, C] → the last position [1, 1, C]
        let x = self.hidden(ids, 1, t, None, Some(cache), ctx)?.narrow(1, t.saturating_sub(1), 1)?.contiguous();
        let weights = match (&self.lm_head, &self.tied_head) {
            _ if self.device() != Device::Cpu => None,
            (Some(head), _) => linear_weights(head),
            (None, None) => Some((&self.wte.weight, true)),
            (None, Some(_)) => None,
        };
        self.screen.argmax(weights, &x.to_vec(), || self.head(&x))
    }

    /// The final hidden states `[B, T, C]` (after `ln_f`) of `ids`, as in
    /// [`Gpt::forward_padded`].
    fn hidden(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        left_pad: Option<&[usize]>,
        mut cache: Option<&mut GptCache>,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        let past = cache.as_ref().map_or(0, |c| c.first().map_or(0, KvCache::len));
        if past + t > self.config.block_size {
            return Err(LmError::Config(format!(
                "{} positions exceed the model's block size {}",
                past + t,
                self.config.block_size
            )));
        }
        if ids.len() != b * t {
            return Err(LmError::Config(format!("{} ids do not form a {b} × {t} batch", ids.len())));
        }
        let mut mask = AttentionMask::causal();
        let pos_emb = match left_pad {
            None => self.wpe.forward_ids(&(past..past + t).collect::<Vec<_>>(), &[1, t])?,
            Some(pad) => {
                let pos: Vec<usize> =
                    (0..b).flat_map(|r| (past..past + t).map(move |p| p.saturating_sub(pad[r]))).collect();
                mask = mask.with_left_pad(pad.to_vec());
                self.wpe.forward_ids(&pos, &[b, t])?
            }
        };
        // x: [B, T, C]
        let x = self.wte.forward_ids(ids, &[b, t])?.add(&pos_emb)?;
        let mut x = self.drop.forward_t(&x, ctx)?;
        for (i, blk) in self.blocks.iter().enumerate() {
            let c = cache.as_deref_mut().map(|c| &mut c[i]);
            let a = blk.attn.forward_t(&blk.ln_1.forward(&x)?, None, &mask, c, ctx)?;
            x = x.add(&blk.resid_dropout.forward_t(&a, ctx)?)?;
            let m = blk.mlp.forward(&blk.ln_2.forward(&x)?)?;
            x = x.add(&blk.resid_dropout.forward_t(&m, ctx)?)?;
        }
        Ok(self.ln_f.forward(&x)?)
    }

    /// Logits `[B, T, vocab]` of the final hidden states `x` `[B, T, C]`.
    fn head(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, c) = (x.shape()[0], x.shape()[1], self.config.n_embd);
        Ok(match (&self.lm_head, &self.tied_head) {
            (Some(head), _) => head.forward(x)?,
            (None, Some(head)) => x.matmul_quant(head)?,
            // one [B·T, C] × [C, vocab] product: the embedding is read once, not once per row
            (None, None) => {
                x.reshape(&[b * t, c])?.matmul(&self.wte.weight.transpose(0, 1)?)?.reshape(&[b, t, self.config.vocab_size])?
            }
        })
    }

    /// Logits `[B, T, vocab]` of `ids` (`B × T`, row-major), continuing the cache when given.
    pub fn forward(&self, ids: &[usize], b: usize, t: usize, cache: Option<&mut GptCache>, ctx: &mut Ctx) -> Result<Tensor> {
        self.forward_padded(ids, b, t, None, cache, ctx)
    }

    /// Mean cross-entropy of next-token prediction: `x`, `y` are `B × T` ids, `y` shifted by one.
    pub fn loss(&self, x: &[usize], y: &[usize], b: usize, t: usize, ctx: &mut Ctx) -> Result<Tensor> {
        let logits = self.forward(x, b, t, None, ctx)?;
        let v = self.config.vocab_size;
        let targets: Vec<i64> = y.iter().map(|&t| t as i64).collect();
        Ok(logits.reshape(&[b * t, v])?.cross_entropy(&targets, None)?)
    }
}

impl CausalLm for Gpt {
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    fn max_positions(&self) -> usize {
        self.config.block_size
    }

    fn new_cache(&self) -> Vec<KvCache> {
        Gpt::new_cache(self)
    }

    fn device(&self) -> Device {
        Gpt::device(self)
    }

    fn forward_padded(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        left_pad: Option<&[usize]>,
        cache: Option<&mut Vec<KvCache>>,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        Gpt::forward_padded(self, ids, b, t, left_pad, cache, ctx)
    }

    fn next_greedy(&self, ids: &[usize], cache: &mut Vec<KvCache>, ctx: &mut Ctx) -> Result<usize> {
        Gpt::next_greedy(self, ids, cache, ctx)
    }
}
