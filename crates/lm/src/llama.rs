//! The Llama family decoder (Llama 2/3, SmolLM2, Qwen2) with Hugging Face parameter names:
//! pre-norm blocks of RMSNorm, grouped-query attention with rotary position embeddings, and a
//! SwiGLU feed-forward, `down(silu(gate(x)) ⊙ up(x))`. Parameters are
//! `model.embed_tokens.weight`, `model.layers.{i}.self_attn.{q,k,v,o}_proj.{weight,bias}`,
//! `model.layers.{i}.mlp.{gate,up,down}_proj.weight`, `model.layers.{i}.input_layernorm.weight`,
//! `…post_attention_layernorm.weight`, `model.norm.weight` and `lm_head.weight`, so a
//! `LlamaForCausalLM` checkpoint loads one to one.
//!
//! Grouped-query attention needs no copies of the k/v heads: the `G = n_head / n_kv_head`
//! query heads that share a k/v head are stacked as `G·T` query rows of one product.

use loam_nn::{
    Builder, Ctx, Embedding, Init, KvCache, Linear, Module, ParamStore, RmsNorm, WeightLayout, attention_weights,
};
use loam_tensor::{Bf16Matrix, Device, KvPrecision, Mask, QuantFormat, Tensor};
use serde::{Deserialize, Serialize};

use crate::causal_lm::CausalLm;
use crate::error::{LmError, Result};
use crate::rope::{RopeScaling, inv_freq, rope_tables};
use crate::screened_head::{ScreenCache, linear_weights};

/// The shape and options of a Llama-family model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlamaConfig {
    /// Number of decoder layers.
    pub n_layer: usize,
    /// Query heads per layer.
    pub n_head: usize,
    /// Key/value heads per layer (grouped-query attention); divides `n_head`.
    pub n_kv_head: usize,
    /// Hidden width.
    pub n_embd: usize,
    /// Width of one head; `None` means `n_embd / n_head`.
    pub head_dim: Option<usize>,
    /// Feed-forward inner width.
    pub intermediate_size: usize,
    /// Longest context (positions).
    pub block_size: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f32,
    /// Rotary base θ.
    pub rope_theta: f32,
    /// Rescaling of the rotary frequencies, if any.
    pub rope_scaling: Option<RopeScaling>,
    /// Biases on the q/k/v projections (Qwen2, and Llama's `attention_bias`).
    pub attention_bias: bool,
    /// A bias on the output projection `o_proj` too (Llama's `attention_bias`; not Qwen2).
    pub attention_out_bias: bool,
    /// The output head shares the token embedding.
    pub tie_embeddings: bool,
    /// Standard deviation of the normal init of weights and embeddings.
    pub initializer_range: f32,
}

impl Default for LlamaConfig {
    /// SmolLM2-135M: 30 layers, 9 heads over 3 k/v heads, 576 wide, 49152 tokens, tied.
    fn default() -> Self {
        LlamaConfig {
            n_layer: 30,
            n_head: 9,
            n_kv_head: 3,
            n_embd: 576,
            head_dim: None,
            intermediate_size: 1536,
            block_size: 8192,
            vocab_size: 49152,
            rms_norm_eps: 1e-5,
            rope_theta: 100_000.0,
            rope_scaling: None,
            attention_bias: false,
            attention_out_bias: false,
            tie_embeddings: true,
            initializer_range: 0.02,
        }
    }
}

impl LlamaConfig {
    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.n_embd / self.n_head.max(1))
    }

    /// Checks that the numbers fit together; errors name the fields.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(LmError::Config(format!("model config: {m}")));
        let sizes = [
            self.n_layer,
            self.n_head,
            self.n_kv_head,
            self.n_embd,
            self.intermediate_size,
            self.block_size,
            self.vocab_size,
        ];
        if sizes.contains(&0) {
            return bad(format!(
                "n_layer, n_head, n_kv_head, n_embd, intermediate_size, block_size and vocab_size must be positive: {self:?}"
            ));
        }
        if !self.n_head.is_multiple_of(self.n_kv_head) {
            return bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.n_head, self.n_kv_head
            ));
        }
        let d = self.head_dim();
        if d == 0 || !d.is_multiple_of(2) {
            return bad(format!("head_dim {d} must be even and positive (rotary embeddings rotate pairs)"));
        }
        if self.head_dim.is_none() && self.n_head * d != self.n_embd {
            return bad(format!("hidden_size {} is not num_attention_heads {} × head_dim", self.n_embd, self.n_head));
        }
        if self.rms_norm_eps <= 0.0 || self.rope_theta <= 0.0 {
            return bad(format!(
                "rms_norm_eps {} and rope_theta {} must be positive",
                self.rms_norm_eps, self.rope_theta
            ));
        }
        if let Some(RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings }) =
            &self.rope_scaling
            && (*factor <= 0.0 || low_freq_factor >= high_freq_factor || *original_max_position_embeddings == 0)
        {
            return bad(format!(
                "rope_scaling llama3 needs factor > 0, low_freq_factor < high_freq_factor and original_max_position_embeddings > 0: {:?}",
                self.rope_scaling
            ));
        }
        Ok(())
    }
}

/// A projection whose weight is f32 (trainable) or bfloat16 (inference, half the memory).
#[derive(Debug, Clone)]
enum Dense {
    F32(Linear),
    Bf16 { weight: Bf16Matrix, bias: Option<Tensor> },
}

impl Dense {
    // x: (…, in) → (…, out)
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Dense::F32(l) => l.forward(x)?,
            Dense::Bf16 { weight, bias: None } => x.matmul_bf16(weight)?,
            Dense::Bf16 { weight, bias: Some(b) } => x.matmul_bf16(weight)?.add(b)?,
        })
    }

    /// A bfloat16 copy (`[out, in]`, as the f32 weight is stored).
    fn to_bf16(&self) -> Result<Dense> {
        Ok(match self {
            Dense::F32(l) => Dense::Bf16 {
                weight: Bf16Matrix::from_tensor(l.weight.f32()?)?,
                bias: l.bias.as_ref().map(Tensor::detach),
            },
            bf16 => bf16.clone(),
        })
    }

    fn weight_bytes(&self) -> usize {
        match self {
            Dense::F32(l) => l.weight.bytes() + 4 * l.bias.as_ref().map_or(0, Tensor::elem_count),
            Dense::Bf16 { weight, bias } => weight.bytes() + 4 * bias.as_ref().map_or(0, Tensor::elem_count),
        }
    }
}

/// Whether `ts` are CPU tensors that track no gradient, for the fused inference-only ops
/// (`silu_mul`, the host KV cache); otherwise the composed, differentiable ops run.
fn inference_on_cpu(ts: &[&Tensor]) -> bool {
    ts.iter().all(|t| matches!(t.device(), Device::Cpu) && !t.tracks_grad())
}

/// A norm whose scale tracks no gradient (for inference copies).
fn detached(n: &RmsNorm) -> RmsNorm {
    RmsNorm { weight: n.weight.detach(), eps: n.eps }
}

/// The token embedding, f32 (trainable) or bfloat16.
#[derive(Debug, Clone)]
enum TokenEmbedding {
    F32(Embedding),
    Bf16(Bf16Matrix),
}

/// One decoder layer: `x + attn(norm(x))`, then `x + mlp(norm(x))`.
#[derive(Debug, Clone)]
struct Layer {
    input_layernorm: RmsNorm,
    q_proj: Dense,
    k_proj: Dense,
    v_proj: Dense,
    o_proj: Dense,
    post_attention_layernorm: RmsNorm,
    gate_proj: Dense,
    up_proj: Dense,
    down_proj: Dense,
}

/// A Llama-family language model whose f32 parameters live in a [`ParamStore`].
#[derive(Debug, Clone)]
pub struct Llama {
    /// The configuration it was built from.
    pub config: LlamaConfig,
    embed_tokens: TokenEmbedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Option<Dense>,
    /// `[head_dim / 2]` rotary inverse frequencies.
    inv_freq: Vec<f32>,
    /// An f32 head's bf16 screen for greedy decoding.
    screen: ScreenCache,
}

/// Where each row's queries sit: absolute positions (for the rotary tables) and, with left
/// padding, the mask of hidden keys.
struct Positions {
    /// `[B or 1, T, D/2]` rotary tables.
    cos: Tensor,
    sin: Tensor,
    /// `[B or 1, 1, G·T, Tk]`, true = hidden; `None` when nothing is.
    mask: Option<Mask>,
    /// Without padding, `(T, past)`: query row `r` of a head group sits at `past + r % T` and
    /// sees the keys up to it, which [`Tensor::causal_softmax`] applies without the mask.
    causal: Option<(usize, usize)>,
    /// The padding tokens that start each row, for attention over the host cache.
    left_pad: Option<Vec<usize>>,
}

impl Llama {
    /// Builds the model in `store` (creating parameters with Hugging Face's init, or fetching
    /// those already there): normal(0, initializer_range) weights and embeddings, zero biases,
    /// unit norm scales.
    pub fn new(config: &LlamaConfig, store: &ParamStore) -> Result<Llama> {
        config.validate()?;
        let c = config.clone();
        let normal = Init::Normal { mean: 0.0, std: c.initializer_range };
        let (d, hd) = (c.n_embd, c.head_dim());
        let dense = |d_in, d_out, bias: bool, vb: Builder| -> Result<Dense> {
            Ok(Dense::F32(Linear::with_init(
                d_in,
                d_out,
                bias.then_some(Init::Zeros),
                WeightLayout::OutIn,
                normal,
                vb,
            )?))
        };
        let vb = store.builder().pp("model");
        let mut layers = Vec::with_capacity(c.n_layer);
        for i in 0..c.n_layer {
            let vb = vb.pp("layers").pp(i);
            let (attn, mlp) = (vb.pp("self_attn"), vb.pp("mlp"));
            layers.push(Layer {
                input_layernorm: RmsNorm::new(d, c.rms_norm_eps, vb.pp("input_layernorm"))?,
                q_proj: dense(d, c.n_head * hd, c.attention_bias, attn.pp("q_proj"))?,
                k_proj: dense(d, c.n_kv_head * hd, c.attention_bias, attn.pp("k_proj"))?,
                v_proj: dense(d, c.n_kv_head * hd, c.attention_bias, attn.pp("v_proj"))?,
                o_proj: dense(c.n_head * hd, d, c.attention_out_bias, attn.pp("o_proj"))?,
                post_attention_layernorm: RmsNorm::new(d, c.rms_norm_eps, vb.pp("post_attention_layernorm"))?,
                gate_proj: dense(d, c.intermediate_size, false, mlp.pp("gate_proj"))?,
                up_proj: dense(d, c.intermediate_size, false, mlp.pp("up_proj"))?,
                down_proj: dense(c.intermediate_size, d, false, mlp.pp("down_proj"))?,
            });
        }
        let lm_head =
            if c.tie_embeddings { None } else { Some(dense(d, c.vocab_size, false, store.builder().pp("lm_head"))?) };
        Ok(Llama {
            embed_tokens: TokenEmbedding::F32(Embedding::new(c.vocab_size, d, normal, vb.pp("embed_tokens"))?),
            layers,
            norm: RmsNorm::new(d, c.rms_norm_eps, vb.pp("norm"))?,
            lm_head,
            inv_freq: inv_freq(hd, c.rope_theta, c.rope_scaling.as_ref()),
            config: c,
            screen: ScreenCache::default(),
        })
    }

    /// A copy for inference whose projection weights and token embedding are kept in
    /// bfloat16 (rounded to nearest), half the memory of f32; each is widened to f32 as a
    /// product reads it. Norm scales and biases stay f32. The copy is outside the parameter
    /// store and cannot be trained.
    pub fn to_bf16(&self) -> Result<Llama> {
        let layers = self
            .layers
            .iter()
            .map(|l| {
                Ok(Layer {
                    input_layernorm: detached(&l.input_layernorm),
                    q_proj: l.q_proj.to_bf16()?,
                    k_proj: l.k_proj.to_bf16()?,
                    v_proj: l.v_proj.to_bf16()?,
                    o_proj: l.o_proj.to_bf16()?,
                    post_attention_layernorm: detached(&l.post_attention_layernorm),
                    gate_proj: l.gate_proj.to_bf16()?,
                    up_proj: l.up_proj.to_bf16()?,
                    down_proj: l.down_proj.to_bf16()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let embed_tokens = match &self.embed_tokens {
            TokenEmbedding::F32(e) => TokenEmbedding::Bf16(Bf16Matrix::from_tensor(&e.weight)?),
            bf16 => bf16.clone(),
        };
        Ok(Llama {
            config: self.config.clone(),
            embed_tokens,
            layers,
            norm: detached(&self.norm),
            lm_head: self.lm_head.as_ref().map(Dense::to_bf16).transpose()?,
            inv_freq: self.inv_freq.clone(),
            screen: ScreenCache::default(),
        })
    }

    /// The f32 or quantized projection layers (attention, MLP, an untied head), each named as
    /// its parameter, for quantizing; bfloat16 copies made by [`Llama::to_bf16`] are left out.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let dense = self.layers.iter_mut().flat_map(|l| {
            [
                &mut l.q_proj,
                &mut l.k_proj,
                &mut l.v_proj,
                &mut l.o_proj,
                &mut l.gate_proj,
                &mut l.up_proj,
                &mut l.down_proj,
            ]
        });
        dense
            .chain(self.lm_head.as_mut())
            .filter_map(|d| match d {
                Dense::F32(l) => Some(l),
                Dense::Bf16 { .. } => None,
            })
            .collect()
    }

    /// An inference copy with every projection weight (and an untied head) in `format`;
    /// embeddings, norms and biases stay f32. The copy cannot be trained.
    pub fn quantize(&self, format: QuantFormat) -> Result<Llama> {
        let mut q = self.clone();
        for l in q.linears_mut() {
            *l = l.quantize(format)?;
        }
        Ok(q)
    }

    /// Bytes held by the projection weights, biases and the token embedding (and untied head):
    /// 4 per value in f32, 2 in bfloat16.
    pub fn weight_bytes(&self) -> usize {
        let embed = match &self.embed_tokens {
            TokenEmbedding::F32(e) => 4 * e.weight.elem_count(),
            TokenEmbedding::Bf16(m) => m.bytes(),
        };
        let layers: usize = self
            .layers
            .iter()
            .flat_map(|l| [&l.q_proj, &l.k_proj, &l.v_proj, &l.o_proj, &l.gate_proj, &l.up_proj, &l.down_proj])
            .map(Dense::weight_bytes)
            .sum();
        embed + layers + self.lm_head.as_ref().map_or(0, Dense::weight_bytes)
    }

    /// The device of the model's weights (a bfloat16 copy lives on the CPU).
    pub fn device(&self) -> Device {
        self.norm.weight.device()
    }

    /// How this model's caches keep keys and values: f16 when the projections are bf16 or
    /// quantized (half the bytes a batched decoding step reads from its cache; the weights'
    /// rounding is the larger), f32 when they are f32 (the reference's numbers).
    pub fn kv_precision(&self) -> KvPrecision {
        match self.layers.first().map(|l| &l.q_proj) {
            Some(Dense::F32(l)) if l.weight.f32().is_err() => KvPrecision::F16,
            Some(Dense::Bf16 { .. }) => KvPrecision::F16,
            _ => KvPrecision::F32,
        }
    }

    /// Empty caches, one per layer, in [`Llama::kv_precision`].
    pub fn new_cache(&self) -> Vec<KvCache> {
        vec![KvCache::with_precision(self.kv_precision()); self.layers.len()]
    }

    /// The rotary tables and mask of `b` rows of `t` new queries after `past` cached positions,
    /// row `r` starting with `left_pad[r]` padding tokens.
    fn positions(&self, b: usize, t: usize, past: usize, left_pad: Option<&[usize]>) -> Result<Positions> {
        let g = self.config.n_head / self.config.n_kv_head;
        let tk = past + t;
        // query row q of a head group is position past + q % t
        let (rows, pos, mask) = match left_pad {
            None => {
                let mask = (t > 1).then(|| Mask::from_fn(&[1, 1, g * t, tk], |ix| ix[3] > past + ix[2] % t));
                (1, (past..tk).collect::<Vec<_>>(), mask)
            }
            Some(pad) => {
                if pad.len() != b {
                    return Err(LmError::Config(format!("{} padding lengths for a batch of {b}", pad.len())));
                }
                let pos = (0..b).flat_map(|r| (past..tk).map(move |p| p.saturating_sub(pad[r]))).collect();
                let mask = Mask::from_fn(&[b, 1, g * t, tk], |ix| ix[3] > past + ix[2] % t || ix[3] < pad[ix[0]]);
                (b, pos, Some(mask))
            }
        };
        let (cos, sin) = rope_tables(&self.inv_freq, &pos, rows, t)?;
        // the tables go where the model is
        let (cos, sin) = match self.device() {
            Device::Cpu => (cos, sin),
            device => (cos.to_device(device)?, sin.to_device(device)?),
        };
        let causal = left_pad.is_none().then_some((t, past));
        Ok(Positions { cos, sin, mask, causal, left_pad: left_pad.map(<[usize]>::to_vec) })
    }

    /// Grouped-query self-attention of `x` `[B, T, C]` (already normed), with the cache.
    fn attention(&self, l: &Layer, x: &Tensor, at: &Positions, cache: Option<&mut KvCache>) -> Result<Tensor> {
        let (b, t) = (x.shape()[0], x.shape()[1]);
        let c = &self.config;
        let (h, kv, d) = (c.n_head, c.n_kv_head, c.head_dim());
        // [B, T, n·D] → [B, n, T, D]
        let heads = |y: Tensor, n: usize| -> Result<Tensor> { Ok(y.reshape(&[b, t, n, d])?.permute(&[0, 2, 1, 3])?) };
        // q: [B, H, T, D], k and v: [B, KV, T, D]
        let q = heads(l.q_proj.forward(x)?, h)?.rope(&at.cos, &at.sin)?;
        let k = heads(l.k_proj.forward(x)?, kv)?.rope(&at.cos, &at.sin)?;
        let v = heads(l.v_proj.forward(x)?, kv)?;
        let (k, v) = match cache {
            // inference on the CPU: the keys and values go into the cache's host memory, which
            // grows in place (no copy of the cached positions per step)
            Some(cache) if inference_on_cpu(&[&q, &k, &v]) => {
                let past = cache.len();
                let Some(buf) = cache.append_host(&k, &v)? else {
                    return Err(LmError::Config("the key/value cache of a CPU model is not in host memory".into()));
                };
                if t == 1 || at.left_pad.is_none() {
                    // a decoding step, or a prompt with no padding: each query head attends
                    // over its key/value head in the cache directly, with no permutes or mask
                    // (a prompt in blocks of queries that skip the keys after them). y: [B, T, H·D]
                    let y = buf.attend(&q, at.left_pad.as_deref(), true)?;
                    return l.o_proj.forward(&y);
                }
                if past == 0 { (k, v) } else { buf.to_tensors()? }
            }
            Some(cache) => cache.append(&k, &v)?,
            None => (k, v),
        };
        // the G query heads of a k/v head as G·T rows: [B, KV, G·T, D] (q is row-major)
        let q = q.reshape(&[b, kv, (h / kv) * t, d])?;
        // w: [B, KV, G·T, Tk]; y: [B, KV, G·T, D] → [B, H, T, D] → [B, T, H·D]
        let w = match at.causal {
            // on the CPU: scale, mask and softmax in one pass over the scores (and one back)
            Some((t, past)) if q.device() == Device::Cpu && k.device() == Device::Cpu => {
                q.matmul(&k.transpose(-2, -1)?)?.causal_softmax(1.0 / (d as f32).sqrt(), t, past)?
            }
            _ => attention_weights(&q, &k, at.mask.as_ref())?,
        };
        let y = w.matmul(&v)?.reshape(&[b, h, t, d])?.permute(&[0, 2, 1, 3])?.reshape(&[b, t, h * d])?;
        l.o_proj.forward(&y)
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
        cache: Option<&mut Vec<KvCache>>,
        _ctx: &mut Ctx,
    ) -> Result<Tensor> {
        self.head(&self.hidden(ids, b, t, left_pad, cache)?)
    }

    /// Logits `[B, 1, vocab]` of the last position of each row alone, as [`Llama::forward_padded`]
    /// computes them: what a generation step needs. The output head (a `C × vocab` product,
    /// 49152 columns for SmolLM2) runs for one position per row instead of `T`.
    pub fn forward_last(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        left_pad: Option<&[usize]>,
        cache: Option<&mut Vec<KvCache>>,
        _ctx: &mut Ctx,
    ) -> Result<Tensor> {
        // x: [B, T, C] → [B, 1, C]
        let x = self.hidden(ids, b, t, left_pad, cache)?;
        self.head(&x.narrow(1, t - 1, 1)?.contiguous())
    }

    /// The final hidden states `[B, T, C]` (after the last norm) of `ids`, as in
    /// [`Llama::forward_padded`].
    fn hidden(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        left_pad: Option<&[usize]>,
        mut cache: Option<&mut Vec<KvCache>>,
    ) -> Result<Tensor> {
        let c = &self.config;
        let past = cache.as_ref().map_or(0, |c| c.first().map_or(0, KvCache::len));
        if past + t > c.block_size {
            return Err(LmError::Config(format!(
                "{} positions exceed the model's context of {}",
                past + t,
                c.block_size
            )));
        }
        if ids.len() != b * t || t == 0 {
            return Err(LmError::Config(format!("{} ids do not form a {b} × {t} batch", ids.len())));
        }
        if cache.as_ref().is_some_and(|cache| cache.len() != self.layers.len()) {
            return Err(LmError::Config(format!(
                "a cache of {} layers for a model of {}",
                cache.map_or(0, |c| c.len()),
                self.layers.len()
            )));
        }
        let at = self.positions(b, t, past, left_pad)?;
        // x: [B, T, C]
        let mut x = match &self.embed_tokens {
            TokenEmbedding::F32(e) => e.forward_ids(ids, &[b, t])?,
            TokenEmbedding::Bf16(m) => m.rows_f32(ids, &[b, t])?,
        };
        for (i, l) in self.layers.iter().enumerate() {
            let kv = cache.as_deref_mut().map(|c| &mut c[i]);
            let a = self.attention(l, &l.input_layernorm.forward(&x)?, &at, kv)?;
            x = x.add(&a)?;
            let h = l.post_attention_layernorm.forward(&x)?;
            let (gate, up) = (l.gate_proj.forward(&h)?, l.up_proj.forward(&h)?);
            let gated = if inference_on_cpu(&[&gate, &up]) { gate.silu_mul(&up)? } else { gate.silu().mul(&up)? };
            x = x.add(&l.down_proj.forward(&gated)?)?;
        }
        Ok(self.norm.forward(&x)?)
    }

    /// [`CausalLm::next_greedy`]: with an f32 head on the CPU (tied or not), the argmax is
    /// found by screening the head in bf16 (`ScreenedHead`: half the bytes of the largest
    /// matrix, the same token); other heads compute every logit.
    pub fn next_greedy(&self, ids: &[usize], cache: &mut Vec<KvCache>) -> Result<usize> {
        let t = ids.len();
        // x: [1, T, C] → the last position [1, 1, C]
        let x = self.hidden(ids, 1, t, None, Some(cache))?.narrow(1, t.saturating_sub(1), 1)?.contiguous();
        let weights = match (&self.lm_head, &self.embed_tokens) {
            _ if self.device() != Device::Cpu => None,
            // an f32 weight (a quantized one computes every logit)
            (Some(Dense::F32(l)), _) => linear_weights(l),
            (Some(_), _) => None,
            (None, TokenEmbedding::F32(e)) => Some((&e.weight, true)),
            (None, TokenEmbedding::Bf16(_)) => None,
        };
        self.screen.argmax(weights, &x.to_vec(), || self.head(&x))
    }

    /// Logits `[B, T', vocab]` of the final hidden states `x` `[B, T', C]`.
    fn head(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, c) = (x.shape()[0], x.shape()[1], &self.config);
        Ok(match (&self.lm_head, &self.embed_tokens) {
            (Some(head), _) => head.forward(x)?,
            // one [B·T, C] × [C, vocab] product: the embedding is read once, not once per row
            (None, TokenEmbedding::F32(e)) => {
                x.reshape(&[b * t, c.n_embd])?.matmul(&e.weight.transpose(0, 1)?)?.reshape(&[b, t, c.vocab_size])?
            }
            (None, TokenEmbedding::Bf16(m)) => x.matmul_bf16(m)?,
        })
    }

    /// Logits `[B, T, vocab]` of `ids` (`B × T`, row-major), continuing the cache when given.
    pub fn forward(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        cache: Option<&mut Vec<KvCache>>,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        self.forward_padded(ids, b, t, None, cache, ctx)
    }

    /// Mean cross-entropy of next-token prediction: `x`, `y` are `B × T` ids, `y` shifted by one.
    pub fn loss(&self, x: &[usize], y: &[usize], b: usize, t: usize, ctx: &mut Ctx) -> Result<Tensor> {
        let logits = self.forward(x, b, t, None, ctx)?;
        let targets: Vec<i64> = y.iter().map(|&t| t as i64).collect();
        Ok(logits.reshape(&[b * t, self.config.vocab_size])?.cross_entropy(&targets, None)?)
    }
}

impl CausalLm for Llama {
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    fn max_positions(&self) -> usize {
        self.config.block_size
    }

    fn new_cache(&self) -> Vec<KvCache> {
        Llama::new_cache(self)
    }

    fn device(&self) -> Device {
        Llama::device(self)
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
        Llama::forward_padded(self, ids, b, t, left_pad, cache, ctx)
    }

    fn forward_last(
        &self,
        ids: &[usize],
        b: usize,
        t: usize,
        left_pad: Option<&[usize]>,
        cache: Option<&mut Vec<KvCache>>,
        ctx: &mut Ctx,
    ) -> Result<Tensor> {
        Llama::forward_last(self, ids, b, t, left_pad, cache, ctx)
    }

    fn next_greedy(&self, ids: &[usize], cache: &mut Vec<KvCache>, _ctx: &mut Ctx) -> Result<usize> {
        Llama::next_greedy(self, ids, cache)
    }
}
