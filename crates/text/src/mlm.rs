//! The masked-language-model collator (BERT's recipe, as Hugging Face's
//! `DataCollatorForLanguageModeling` applies it).
//!
//! Each non-special token is chosen with probability 15%; a chosen token becomes `[MASK]` with
//! probability 80%, a random non-special token 10%, and stays as it is 10%. Labels hold the
//! original id at chosen positions and −100 (ignored by the loss) everywhere else. Special
//! tokens (padding, `[CLS]`, `[SEP]`, ...) are never chosen. One seed fixes every choice.
//!
//! With whole-word masking ([`MlmCollator::whole_words`]) the unit is a word instead of a
//! token: a token and the WordPiece continuation pieces (`##…`) after it in the same row. A
//! word is chosen with probability 15%, and a chosen word is masked, replaced (each piece by
//! a random token) or kept as one.

use std::collections::HashSet;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TextError};
use crate::tokenizer::{Padding, Tokenizer, pad_batch};

/// The label of a position the loss ignores.
pub const IGNORE_INDEX: i64 = -100;

/// Probabilities of the masking recipe.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MlmConfig {
    /// Chance that a non-special token is chosen (0.15).
    pub mask_prob: f64,
    /// Chance that a chosen token becomes the mask token (0.8).
    pub mask_token_prob: f64,
    /// Chance that a chosen token becomes a random token (0.1); it stays as it is otherwise.
    pub random_token_prob: f64,
}

impl Default for MlmConfig {
    fn default() -> Self {
        MlmConfig { mask_prob: 0.15, mask_token_prob: 0.8, random_token_prob: 0.1 }
    }
}

/// A masked batch: `batch × seq_len` rows, row-major.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MlmBatch {
    /// Inputs, with masking applied and padding on the right.
    pub input_ids: Vec<u32>,
    /// Original ids at chosen positions, [`IGNORE_INDEX`] elsewhere.
    pub labels: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<u32>,
    /// Rows.
    pub batch_size: usize,
    /// Tokens per row.
    pub seq_len: usize,
}

/// Masks batches of token ids; seeded, so a run repeats exactly.
#[derive(Clone, Debug)]
pub struct MlmCollator {
    config: MlmConfig,
    mask_id: u32,
    pad_id: u32,
    special: HashSet<u32>,
    replacements: Vec<u32>,
    /// With whole-word masking: whether each id continues the word before it.
    continues: Option<Vec<bool>>,
    rng: ChaCha8Rng,
}

impl MlmCollator {
    /// A collator for a vocabulary of `vocab_size` with the given mask, padding and special ids.
    pub fn new(
        config: MlmConfig,
        vocab_size: usize,
        mask_id: u32,
        pad_id: u32,
        special_ids: &[u32],
        seed: u64,
    ) -> Result<Self> {
        let probs = [config.mask_prob, config.mask_token_prob, config.random_token_prob];
        if probs.iter().any(|p| !(0.0..=1.0).contains(p)) || config.mask_token_prob + config.random_token_prob > 1.0 {
            return Err(TextError::InvalidOption {
                option: format!("{config:?}"),
                message: "probabilities must lie in [0, 1] and mask + random must not exceed 1".into(),
            });
        }
        let mut special: HashSet<u32> = special_ids.iter().copied().collect();
        special.extend([mask_id, pad_id]);
        if let Some(&bad) = special.iter().find(|&&id| id as usize >= vocab_size) {
            return Err(TextError::UnknownId { id: bad, position: 0, vocab_size });
        }
        let replacements: Vec<u32> = (0..vocab_size as u32).filter(|id| !special.contains(id)).collect();
        if replacements.is_empty() {
            return Err(TextError::InvalidRequest("the vocabulary has no non-special token to mask".into()));
        }
        Ok(MlmCollator { config, mask_id, pad_id, special, replacements, continues: None, rng: ChaCha8Rng::seed_from_u64(seed) })
    }

    /// This collator masking whole words: `continues[id]` says whether token `id` continues
    /// the word before it (see [`word_continuations`]); one entry per id of the vocabulary.
    pub fn whole_words(mut self, continues: Vec<bool>) -> Result<Self> {
        let vocab_size = self.replacements.len() + self.special.len();
        if continues.len() != vocab_size {
            return Err(TextError::InvalidRequest(format!(
                "whole-word masking needs one continuation flag per token id: {} for a vocabulary of {vocab_size}",
                continues.len()
            )));
        }
        self.continues = Some(continues);
        Ok(self)
    }

    /// A collator for `tokenizer`, which must have a mask token (`[MASK]` or `<mask>`).
    pub fn for_tokenizer(tokenizer: &dyn Tokenizer, config: MlmConfig, seed: u64) -> Result<Self> {
        let mask_id = ["[MASK]", "<mask>"]
            .iter()
            .find_map(|t| tokenizer.token_to_id(t))
            .ok_or_else(|| TextError::InvalidRequest(format!("the {} tokenizer has no [MASK] or <mask> token", tokenizer.kind())))?;
        let pad_id = tokenizer.pad_id().unwrap_or(mask_id);
        MlmCollator::new(config, tokenizer.vocab_size(), mask_id, pad_id, &tokenizer.special_ids(), seed)
    }

    /// Pads `rows` to the longest and masks them.
    pub fn collate(&mut self, rows: &[Vec<u32>]) -> Result<MlmBatch> {
        let padded = pad_batch(rows.to_vec(), Padding::Longest, self.pad_id)?;
        let batch_size = rows.len();
        let seq_len = padded.ids.first().map_or(0, Vec::len);
        let mut input_ids: Vec<u32> = padded.ids.into_iter().flatten().collect();
        let attention_mask: Vec<u32> = padded.attention_mask.into_iter().flatten().collect();
        let mut labels = vec![IGNORE_INDEX; input_ids.len()];
        let mut i = 0;
        while i < input_ids.len() {
            let end = self.unit_end(&input_ids, &attention_mask, i, seq_len);
            if attention_mask[i] == 0 || self.special.contains(&input_ids[i]) || !self.rng.random_bool(self.config.mask_prob) {
                i = end;
                continue;
            }
            let r: f64 = self.rng.random();
            for (id, label) in input_ids[i..end].iter_mut().zip(&mut labels[i..end]) {
                *label = i64::from(*id);
                if r < self.config.mask_token_prob {
                    *id = self.mask_id;
                } else if r < self.config.mask_token_prob + self.config.random_token_prob {
                    *id = self.replacements[self.rng.random_range(0..self.replacements.len())];
                }
            }
            i = end;
        }
        Ok(MlmBatch { input_ids, labels, attention_mask, batch_size, seq_len })
    }

    /// The end of the masking unit that starts at flat position `start`: the next position,
    /// or with whole-word masking, past the continuation pieces that follow in the same row.
    fn unit_end(&self, ids: &[u32], attention: &[u32], start: usize, seq_len: usize) -> usize {
        let row_end = (start / seq_len.max(1) + 1) * seq_len;
        let mut end = start + 1;
        if let Some(continues) = &self.continues {
            let joins = |j: usize| attention[j] == 1 && !self.special.contains(&ids[j]) && continues.get(ids[j] as usize).copied().unwrap_or(false);
            while end < row_end && joins(end) {
                end += 1;
            }
        }
        end
    }
}

/// Whether each token id of `tokenizer` continues the word before it: WordPiece's pieces
/// spelled `##…`.
pub fn word_continuations(tokenizer: &dyn Tokenizer) -> Vec<bool> {
    (0..tokenizer.vocab_size() as u32).map(|id| tokenizer.id_to_token(id).is_some_and(|t| t.starts_with("##"))).collect()
}
