//! Fill-mask: the most likely tokens at each `[MASK]` of a text, as Hugging Face's
//! `fill-mask` pipeline gives them (probabilities from a softmax over the vocabulary).

use loam_nn::Ctx;
use loam_tensor::no_grad;
use loam_text::Tokenizer;
use serde::Serialize;

use crate::error::{LmError, Result};
use crate::hf::{BertBatch, BertForMaskedLM};

/// One candidate token for a mask.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaskCandidate {
    /// Its id.
    pub id: u32,
    /// Its vocabulary entry (`##` pieces as they are).
    pub token: String,
    /// Its probability at the mask.
    pub score: f32,
}

/// The predictions for one mask of the input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaskFill {
    /// The mask's position among the input ids (`[CLS]` is 0).
    pub position: usize,
    /// The `top_k` most likely tokens, most likely first.
    pub candidates: Vec<MaskCandidate>,
    /// The logits of every token at the mask.
    #[serde(skip)]
    pub logits: Vec<f32>,
}

/// The id of the mask token of `tokenizer` (`[MASK]`).
pub fn mask_token_id(tokenizer: &dyn Tokenizer) -> Result<u32> {
    tokenizer
        .token_to_id("[MASK]")
        .ok_or_else(|| LmError::Config(format!("the {} tokenizer has no [MASK] token, so nothing can be filled", tokenizer.kind())))
}

/// The `top_k` most likely tokens at each `[MASK]` of `text` (encoded with the tokenizer's
/// special tokens, `[CLS] … [SEP]`), one list per mask in order. A text without `[MASK]` is
/// an error.
pub fn fill_mask(model: &BertForMaskedLM, tokenizer: &dyn Tokenizer, text: &str, top_k: usize) -> Result<Vec<MaskFill>> {
    let ids = tokenizer.encode(text, true)?;
    fill_mask_ids(model, tokenizer, &ids, top_k)
}

/// [`fill_mask`] on token ids (special tokens included).
pub fn fill_mask_ids(model: &BertForMaskedLM, tokenizer: &dyn Tokenizer, ids: &[u32], top_k: usize) -> Result<Vec<MaskFill>> {
    if top_k == 0 {
        return Err(LmError::Config("top-k must be at least 1".into()));
    }
    let mask = mask_token_id(tokenizer)?;
    let positions: Vec<usize> = (0..ids.len()).filter(|&i| ids[i] == mask).collect();
    if positions.is_empty() {
        return Err(LmError::Config("the input has no [MASK] token: write [MASK] where a token is to be predicted, e.g. \"the [MASK] sat on the mat\"".into()));
    }
    let v = model.vocab_size();
    if let Some(&bad) = ids.iter().find(|&&i| i as usize >= v) {
        return Err(LmError::Config(format!("token id {bad} is outside the model's vocabulary of {v}")));
    }
    let _g = no_grad();
    let batch = BertBatch::from_rows(&[ids.to_vec()], 0);
    // logits: [masks, vocab]
    let logits = model.logits_at(&batch, &positions, &mut Ctx::eval())?.to_vec();
    Ok(positions.iter().zip(logits.chunks(v)).map(|(&position, row)| fill(tokenizer, position, row, top_k)).collect())
}

/// The `top_k` candidates of one row of logits.
fn fill(tokenizer: &dyn Tokenizer, position: usize, row: &[f32], top_k: usize) -> MaskFill {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = row.iter().map(|&x| f64::from(x - max).exp()).sum();
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
    let candidates = order
        .into_iter()
        .take(top_k)
        .map(|i| MaskCandidate {
            id: i as u32,
            token: tokenizer.id_to_token(i as u32).unwrap_or_default(),
            score: (f64::from(row[i] - max).exp() / sum) as f32,
        })
        .collect();
    MaskFill { position, candidates, logits: row.to_vec() }
}
