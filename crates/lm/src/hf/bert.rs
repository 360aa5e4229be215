//! BERT with Hugging Face parameter names (`embeddings.word_embeddings.weight`,
//! `encoder.layer.{i}.attention.self.query.weight`…), so `BertModel` and `BertForMaskedLM`
//! checkpoints such as all-MiniLM-L6-v2 load as they are: word + position + token-type
//! embeddings, post-LN layers (eps from the config, 1e-12), the config's activation (exact
//! GELU), and padding keys hidden from attention.

use std::path::Path;

use loam_nn::{
    Activation, AttentionMask, Builder, Ctx, Dropout, Embedding, Init, LayerNorm, Linear, LinearWeight, Module,
    MultiHeadAttention, ParamStore, Projections, WeightLayout,
};
use loam_tensor::{QuantFormat, Tensor};

use crate::error::{LmError, Result};
use crate::hf::weights::HfWeights;
use crate::hf::config::BertConfig;

/// BERT's init: weights normal(0, 0.02).
const WEIGHT_INIT: Init = Init::Normal { mean: 0.0, std: 0.02 };

/// A batch of token ids, right-padded to a common length, with the real length of each row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BertBatch {
    /// `batch × seq_len` ids, row-major.
    pub ids: Vec<usize>,
    /// Segment ids, same layout (all 0 for single sentences).
    pub token_types: Vec<usize>,
    /// Real tokens in each row; the rest is padding.
    pub lengths: Vec<usize>,
    /// Rows.
    pub batch: usize,
    /// Columns (the longest row).
    pub seq_len: usize,
}

impl BertBatch {
    /// Right-pads `rows` with `pad_id`; every token type is 0.
    pub fn from_rows(rows: &[Vec<u32>], pad_id: u32) -> BertBatch {
        let seq_len = rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(rows.len() * seq_len);
        for row in rows {
            ids.extend(row.iter().map(|&i| i as usize));
            ids.extend(std::iter::repeat_n(pad_id as usize, seq_len - row.len()));
        }
        BertBatch {
            token_types: vec![0; ids.len()],
            ids,
            lengths: rows.iter().map(Vec::len).collect(),
            batch: rows.len(),
            seq_len,
        }
    }
}

/// Word, position and token-type embeddings, summed and layer-normalized.
#[derive(Debug, Clone)]
pub struct BertEmbeddings {
    /// `word_embeddings`, `[vocab, d]`.
    pub word: Embedding,
    /// `position_embeddings`, `[max_positions, d]`.
    pub position: Embedding,
    /// `token_type_embeddings`, `[type_vocab, d]`.
    pub token_type: Embedding,
    /// `LayerNorm`.
    pub ln: LayerNorm,
    dropout: Dropout,
}

/// One post-LN encoder layer.
#[derive(Debug, Clone)]
struct BertLayer {
    attn: MultiHeadAttention,
    attn_ln: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_ln: LayerNorm,
    act: Activation,
    dropout: Dropout,
}

/// A linear layer in PyTorch's `[out, in]` layout with BERT's init.
fn dense(d_in: usize, d_out: usize, vb: Builder) -> Result<Linear> {
    Ok(Linear::with_init(d_in, d_out, Some(Init::Zeros), WeightLayout::OutIn, WEIGHT_INIT, vb)?)
}

impl BertLayer {
    fn new(c: &BertConfig, vb: Builder) -> Result<BertLayer> {
        let d = c.hidden_size;
        let eps = c.layer_norm_eps as f32;
        let att = vb.pp("attention");
        let sa = att.pp("self");
        Ok(BertLayer {
            attn: MultiHeadAttention {
                proj: Projections::Separate {
                    q: dense(d, d, sa.pp("query"))?,
                    k: dense(d, d, sa.pp("key"))?,
                    v: dense(d, d, sa.pp("value"))?,
                },
                out: dense(d, d, att.pp("output").pp("dense"))?,
                n_heads: c.num_attention_heads,
                dropout: Dropout::new(c.attention_probs_dropout_prob),
            },
            attn_ln: LayerNorm::new(d, true, eps, att.pp("output").pp("LayerNorm"))?,
            intermediate: dense(d, c.intermediate_size, vb.pp("intermediate").pp("dense"))?,
            output: dense(c.intermediate_size, d, vb.pp("output").pp("dense"))?,
            output_ln: LayerNorm::new(d, true, eps, vb.pp("output").pp("LayerNorm"))?,
            act: c.activation()?,
            dropout: Dropout::new(c.hidden_dropout_prob),
        })
    }

    fn for_inference(&self) -> Result<BertLayer> {
        Ok(BertLayer {
            attn: self.attn.for_inference()?,
            intermediate: self.intermediate.for_inference()?,
            output: self.output.for_inference()?,
            ..self.clone()
        })
    }

    // x: [B, T, d] → [B, T, d]
    fn forward_t(&self, x: &Tensor, mask: &AttentionMask, ctx: &mut Ctx) -> Result<Tensor> {
        let a = self.attn.forward_t(x, None, mask, None, ctx)?;
        let x = self.attn_ln.forward(&x.add(&self.dropout.forward_t(&a, ctx)?)?)?;
        let h = self.act.forward(&self.intermediate.forward(&x)?);
        let y = self.output.forward(&h)?;
        Ok(self.output_ln.forward(&x.add(&self.dropout.forward_t(&y, ctx)?)?)?)
    }
}

/// The BERT encoder: embeddings and `num_hidden_layers` layers; returns the last hidden states.
#[derive(Debug, Clone)]
pub struct BertModel {
    /// The configuration it was built from.
    pub config: BertConfig,
    /// The embeddings block.
    pub embeddings: BertEmbeddings,
    layers: Vec<BertLayer>,
}

/// The root of BERT's names in a checkpoint: `bert.` when saved from a task model.
fn bert_prefix(ckpt: &HfWeights) -> &'static str {
    if ckpt.contains("bert.embeddings.word_embeddings.weight") { "bert" } else { "" }
}

/// A builder at `prefix` (the root when empty).
fn at(store: &ParamStore, prefix: &str) -> Builder {
    if prefix.is_empty() { store.builder() } else { store.builder().pp(prefix) }
}

impl BertModel {
    /// Builds the encoder under `vb` (fetching parameters already in its store, creating the
    /// others with BERT's init).
    pub fn new(config: &BertConfig, vb: Builder) -> Result<BertModel> {
        let c = config;
        let eps = c.layer_norm_eps as f32;
        let e = vb.pp("embeddings");
        let embeddings = BertEmbeddings {
            word: Embedding::new(c.vocab_size, c.hidden_size, WEIGHT_INIT, e.pp("word_embeddings"))?,
            position: Embedding::new(c.max_position_embeddings, c.hidden_size, WEIGHT_INIT, e.pp("position_embeddings"))?,
            token_type: Embedding::new(c.type_vocab_size, c.hidden_size, WEIGHT_INIT, e.pp("token_type_embeddings"))?,
            ln: LayerNorm::new(c.hidden_size, true, eps, e.pp("LayerNorm"))?,
            dropout: Dropout::new(c.hidden_dropout_prob),
        };
        let layers = (0..c.num_hidden_layers)
            .map(|i| BertLayer::new(c, vb.pp("encoder").pp("layer").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        Ok(BertModel { config: c.clone(), embeddings, layers })
    }

    /// Loads a Hugging Face BERT folder (`config.json` and safetensors weights, with or
    /// without the `bert.` prefix). Returns the model and the store holding its parameters.
    pub fn from_dir(dir: &Path) -> Result<(BertModel, ParamStore)> {
        let config = BertConfig::load(&dir.join("config.json"))?;
        let ckpt = HfWeights::open(dir)?;
        let prefix = bert_prefix(&ckpt);
        let (mut model, store) = ckpt.build(|store| BertModel::new(&config, at(store, prefix)))?;
        ckpt.apply_quantized(model.linears_mut())?;
        Ok((model, store))
    }

    /// The linear layers of every encoder layer, each named as its parameter, for quantizing.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = Vec::new();
        for l in &mut self.layers {
            out.extend(l.attn.linears_mut());
            out.push(&mut l.intermediate);
            out.push(&mut l.output);
        }
        out
    }

    /// The format of the linear layers' weights when they are quantized (`None`: f32).
    pub fn weight_format(&self) -> Option<QuantFormat> {
        match &self.layers.first()?.intermediate.weight {
            LinearWeight::Quantized(q) => Some(q.format()),
            LinearWeight::F32(_) => None,
        }
    }

    /// An inference copy with every linear layer's weight in `format` (embeddings, norms and
    /// biases stay f32).
    pub fn quantize(&self, format: QuantFormat) -> Result<BertModel> {
        let mut q = self.clone();
        for l in q.linears_mut() {
            *l = l.quantize(format)?;
        }
        Ok(q)
    }

    /// A copy for inference: every linear layer with its weight stored `[in, out]` and each
    /// attention's query, key and value in one product (`Linear::for_inference`,
    /// `MultiHeadAttention::for_inference`). Same function, faster products; the copy's
    /// tensors are outside the parameter store.
    pub fn for_inference(&self) -> Result<BertModel> {
        let layers = self.layers.iter().map(BertLayer::for_inference).collect::<Result<Vec<_>>>()?;
        Ok(BertModel { config: self.config.clone(), embeddings: self.embeddings.clone(), layers })
    }

    /// Last hidden states `[B, T, d]` of a batch; padding keys are hidden from attention.
    pub fn forward_t(&self, batch: &BertBatch, ctx: &mut Ctx) -> Result<Tensor> {
        let (b, t) = (batch.batch, batch.seq_len);
        if t > self.config.max_position_embeddings {
            return Err(LmError::Config(format!(
                "{t} tokens exceed the model's {} positions",
                self.config.max_position_embeddings
            )));
        }
        if batch.lengths.len() != b || batch.token_types.len() != batch.ids.len() {
            return Err(LmError::Config(format!("batch of {b} rows has {} lengths", batch.lengths.len())));
        }
        let e = &self.embeddings;
        let positions: Vec<usize> = (0..t).collect();
        let x = e
            .word
            .forward_ids(&batch.ids, &[b, t])?
            .add(&e.position.forward_ids(&positions, &[1, t])?)?
            .add(&e.token_type.forward_ids(&batch.token_types, &[b, t])?)?;
        let mut x = e.dropout.forward_t(&e.ln.forward(&x)?, ctx)?;
        let padded = batch.lengths.iter().any(|&l| l < t);
        let mask = if padded { AttentionMask::none().with_key_lengths(batch.lengths.clone()) } else { AttentionMask::none() };
        for layer in &self.layers {
            x = layer.forward_t(&x, &mask, ctx)?;
        }
        Ok(x)
    }
}

/// BERT with its masked-language-model head (`cls.predictions.*`); the output matrix is the
/// word embedding (tied), plus a bias per token.
#[derive(Debug, Clone)]
pub struct BertForMaskedLM {
    /// The encoder (under `bert.`).
    pub bert: BertModel,
    transform: Linear,
    act: Activation,
    ln: LayerNorm,
    bias: Tensor,
}

impl BertForMaskedLM {
    /// Builds the model under `vb`: encoder at `bert`, head at `cls.predictions`.
    pub fn new(config: &BertConfig, vb: Builder) -> Result<BertForMaskedLM> {
        let d = config.hidden_size;
        let p = vb.pp("cls").pp("predictions");
        Ok(BertForMaskedLM {
            bert: BertModel::new(config, vb.pp("bert"))?,
            transform: dense(d, d, p.pp("transform").pp("dense"))?,
            act: config.activation()?,
            ln: LayerNorm::new(d, true, config.layer_norm_eps as f32, p.pp("transform").pp("LayerNorm"))?,
            bias: p.get(&[config.vocab_size], "bias", Init::Zeros)?,
        })
    }

    /// Loads a Hugging Face `BertForMaskedLM` folder.
    pub fn from_dir(dir: &Path) -> Result<(BertForMaskedLM, ParamStore)> {
        let config = BertConfig::load(&dir.join("config.json"))?;
        let ckpt = HfWeights::open(dir)?;
        let (mut model, store) = ckpt.build(|store| BertForMaskedLM::new(&config, store.builder()))?;
        ckpt.apply_quantized(model.linears_mut())?;
        Ok((model, store))
    }

    /// The encoder's linear layers and the head's transform, each named as its parameter, for
    /// quantizing (the output product multiplies by the f32 word embedding).
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = self.bert.linears_mut();
        out.push(&mut self.transform);
        out
    }

    /// An inference copy with the encoder's linear layers and the head's transform in
    /// `format`; embeddings, norms, biases and the tied output matrix stay f32.
    pub fn quantize(&self, format: QuantFormat) -> Result<BertForMaskedLM> {
        let mut q = self.clone();
        for l in q.linears_mut() {
            *l = l.quantize(format)?;
        }
        Ok(q)
    }

    /// Token logits `[B, T, vocab]`.
    pub fn forward_t(&self, batch: &BertBatch, ctx: &mut Ctx) -> Result<Tensor> {
        let h = self.bert.forward_t(batch, ctx)?;
        self.head(&h)
    }

    /// Logits `[N, vocab]` at `positions` only (flat indices `row · seq_len + column`, in
    /// that order): the head runs on those hidden states alone, as masked-LM training needs.
    pub fn logits_at(&self, batch: &BertBatch, positions: &[usize], ctx: &mut Ctx) -> Result<Tensor> {
        let h = self.bert.forward_t(batch, ctx)?;
        let d = self.bert.config.hidden_size;
        // h: [B, T, d] → [B·T, d] → [N, d]
        let picked = h.reshape(&[batch.batch * batch.seq_len, d])?.index_select(0, positions)?;
        self.head(&picked)
    }

    /// The vocabulary size.
    pub fn vocab_size(&self) -> usize {
        self.bert.config.vocab_size
    }

    // h: [..., d] → [..., vocab]: transform (dense, activation, LayerNorm), then the tied
    // word embeddings and the bias
    fn head(&self, h: &Tensor) -> Result<Tensor> {
        let h = self.ln.forward(&self.act.forward(&self.transform.forward(h)?))?;
        let w = &self.bert.embeddings.word.weight;
        Ok(h.matmul(&w.transpose(0, 1)?)?.add(&self.bias)?)
    }
}
