//! Sentence embeddings with a BERT encoder, as sentence-transformers computes them: tokenize
//! (truncated to the model's max sequence length, 256 for all-MiniLM-L6-v2, and not padded to
//! a fixed length, whatever `tokenizer.json` says), run batches padded to their longest
//! sentence, average the last hidden states over real tokens and L2-normalize.

use std::path::Path;

use loam_nn::Ctx;
use loam_tensor::{QuantActivations, QuantFormat};
use loam_text::{HfTokenizer, Tokenizer};
use serde::Deserialize;

use crate::error::{LmError, Result};
use crate::hf::bert::{BertBatch, BertModel};
use crate::hf::config::read_json;

/// The sentence-transformers default of all-MiniLM-L6-v2.
pub const DEFAULT_MAX_SEQ_LEN: usize = 256;
/// Sentences per forward pass.
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// `sentence_bert_config.json`.
#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: usize,
}

/// A BERT encoder with its tokenizer, turning sentences into unit vectors.
#[derive(Debug, Clone)]
pub struct SentenceEncoder {
    /// The encoder.
    pub model: BertModel,
    /// The tokenizer (`tokenizer.json`, with its stored truncation and padding switched off).
    pub tokenizer: HfTokenizer,
    /// Longest tokenized sentence, special tokens included; longer ones are truncated.
    pub max_seq_len: usize,
    /// Sentences per forward pass.
    pub batch_size: usize,
}

impl SentenceEncoder {
    /// Loads a sentence-transformers folder: the BERT model, `tokenizer.json`, and the max
    /// sequence length of `sentence_bert_config.json` (256 when absent, never more than the
    /// model's positions).
    pub fn from_dir(dir: &Path) -> Result<SentenceEncoder> {
        let model = BertModel::from_dir(dir)?.0.for_inference()?;
        let tokenizer = HfTokenizer::load(&dir.join("tokenizer.json"))?;
        let st_config = dir.join("sentence_bert_config.json");
        let max_seq_len = if st_config.is_file() {
            read_json::<SentenceBertConfig>(&st_config)?.max_seq_length
        } else {
            DEFAULT_MAX_SEQ_LEN
        };
        let max_seq_len = max_seq_len.min(model.config.max_position_embeddings);
        if max_seq_len < 2 {
            return Err(LmError::file(st_config, format!("max_seq_length {max_seq_len} leaves no room for [CLS] and [SEP]")));
        }
        Ok(SentenceEncoder { model, tokenizer, max_seq_len, batch_size: DEFAULT_BATCH_SIZE })
    }

    /// The embedding width.
    pub fn dim(&self) -> usize {
        self.model.config.hidden_size
    }

    /// Token ids of `text`: `[CLS] … [SEP]`, truncated to [`Self::max_seq_len`].
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.tokenizer.encode_truncated(text, true, self.max_seq_len)?)
    }

    /// One unit vector per text, in the order given. Texts are batched by length (longest
    /// first, as sentence-transformers does) so that little padding is computed, and the
    /// batches are shared out whole among the threads.
    pub fn encode(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let rows = texts.iter().map(|t| self.tokenize(t)).collect::<Result<Vec<_>>>()?;
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(rows[i].len()));
        let pad = self.tokenizer.pad_id().unwrap_or(0);
        let chunks: Vec<&[usize]> = order.chunks(self.batch_size.max(1)).collect();
        // whole batches per thread (see loam_tensor::map_on_workers)
        let embedded = loam_tensor::map_on_workers(chunks.len(), |c| {
            let _inference = loam_tensor::no_grad();
            let batch_rows: Vec<Vec<u32>> = chunks[c].iter().map(|&i| rows[i].clone()).collect();
            self.encode_batch(&BertBatch::from_rows(&batch_rows, pad))
        });
        let mut out = vec![Vec::new(); rows.len()];
        for (chunk, embeddings) in chunks.iter().zip(embedded) {
            for (&i, e) in chunk.iter().zip(embeddings?) {
                out[i] = e;
            }
        }
        Ok(out)
    }

    /// Unit vectors of one padded batch.
    pub fn encode_batch(&self, batch: &BertBatch) -> Result<Vec<Vec<f32>>> {
        // int8 weights against the exact activations: with int8 ones (products of fewer than 64
        // rows: one short sentence) all-MiniLM-L6-v2 in int8 fell to cosine 0.9946 of its f32
        // embeddings, against 0.9965 with these. 4-bit weights keep int8 activations: their own
        // loss (0.93) dwarfs that, and exact ones would double a short sentence's time.
        let int8 = self.model.weight_format() == Some(QuantFormat::Int8);
        let _exact = int8.then(|| loam_tensor::quant_activations_scope(QuantActivations::F32));
        let hidden = self.model.forward_t(batch, &mut Ctx::eval())?.to_vec();
        Ok(mean_pool_normalize(&hidden, &batch.lengths, batch.seq_len, self.dim()))
    }
}

/// Mean of each row's first `lengths[r]` vectors of `hidden` (`[B, T, d]`, row-major), then
/// scaled to unit length: Σ h·mask / max(Σ mask, 1e-9), divided by max(‖·‖, 1e-12).
pub fn mean_pool_normalize(hidden: &[f32], lengths: &[usize], t: usize, d: usize) -> Vec<Vec<f32>> {
    lengths
        .iter()
        .enumerate()
        .map(|(r, &len)| {
            let mut v = vec![0.0f32; d];
            for p in 0..len.min(t) {
                let at = (r * t + p) * d;
                for (acc, h) in v.iter_mut().zip(&hidden[at..at + d]) {
                    *acc += h;
                }
            }
            let count = (len as f32).max(1e-9);
            v.iter_mut().for_each(|x| *x /= count);
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            v.iter_mut().for_each(|x| *x /= norm);
            v
        })
        .collect()
}
