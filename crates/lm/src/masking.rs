//! Masked-LM examples from token windows: each window becomes `[CLS] window [SEP]`, masked by
//! loam-text's collator (BERT's 80/10/10 recipe, whole words as an option), with the positions
//! the loss scores and their labels.

use loam_text::{IGNORE_INDEX, MlmCollator, MlmConfig, Tokenizer, word_continuations};

use crate::error::{LmError, Result};
use crate::hf::BertBatch;

/// How many masking seeds are tried for a batch in which none chose a position.
const MASKING_TRIES: u64 = 64;

/// A masked batch ready for [`crate::hf::BertForMaskedLM::logits_at`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MaskedBatch {
    /// The inputs, masking applied (`rows × (window + 2)`, no padding).
    pub batch: BertBatch,
    /// Flat positions `row · seq_len + column` the loss scores, in order.
    pub positions: Vec<usize>,
    /// The original id at each of `positions`.
    pub labels: Vec<i64>,
}

/// Turns windows of token ids into masked examples for one tokenizer.
#[derive(Debug, Clone)]
pub(crate) struct Masker {
    config: MlmConfig,
    vocab_size: usize,
    mask_id: u32,
    pad_id: u32,
    cls_id: u32,
    sep_id: u32,
    special: Vec<u32>,
    /// With whole-word masking: the WordPiece continuation flag of each id.
    continues: Option<Vec<bool>>,
}

impl Masker {
    /// A masker for `tokenizer` (which needs `[MASK]`, `[CLS]` and `[SEP]`), choosing each
    /// token (or with `whole_word`, each word) with probability `mask_prob`, which must lie
    /// in (0, 1].
    pub fn new(tokenizer: &dyn Tokenizer, mask_prob: f64, whole_word: bool) -> Result<Masker> {
        if !(mask_prob > 0.0 && mask_prob <= 1.0) {
            return Err(LmError::Config(format!("mask_prob {mask_prob} must lie in (0, 1]")));
        }
        let id = |token: &str| {
            tokenizer.token_to_id(token).ok_or_else(|| {
                LmError::Config(format!(
                    "masked-LM training needs a tokenizer with {token}; the {} tokenizer has none (use a WordPiece tokenizer: `tokenizer = \"wordpiece:VOCAB\"`)",
                    tokenizer.kind()
                ))
            })
        };
        let (mask_id, cls_id, sep_id) = (id("[MASK]")?, id("[CLS]")?, id("[SEP]")?);
        let config = MlmConfig { mask_prob, ..MlmConfig::default() };
        let masker = Masker {
            config,
            vocab_size: tokenizer.vocab_size(),
            mask_id,
            pad_id: tokenizer.pad_id().unwrap_or(mask_id),
            cls_id,
            sep_id,
            special: tokenizer.special_ids(),
            continues: whole_word.then(|| word_continuations(tokenizer)),
        };
        // the collator checks the ids against the vocabulary once, here
        masker.collator(0)?;
        Ok(masker)
    }

    /// The id of `[MASK]`.
    pub fn mask_id(&self) -> u32 {
        self.mask_id
    }

    fn collator(&self, seed: u64) -> Result<MlmCollator> {
        let c = MlmCollator::new(self.config, self.vocab_size, self.mask_id, self.pad_id, &self.special, seed)?;
        Ok(match &self.continues {
            Some(continues) => c.whole_words(continues.clone())?,
            None => c,
        })
    }

    /// The windows as `[CLS] window [SEP]` rows, masked with `seed`. A batch in which no
    /// position was chosen is masked again with the next seed (so every batch has a loss).
    pub fn mask(&self, windows: &[Vec<u32>], seed: u64) -> Result<MaskedBatch> {
        let rows: Vec<Vec<u32>> = windows
            .iter()
            .map(|w| std::iter::once(self.cls_id).chain(w.iter().copied()).chain(std::iter::once(self.sep_id)).collect())
            .collect();
        for attempt in 0..MASKING_TRIES {
            let m = self.collator(seed.wrapping_add(attempt))?.collate(&rows)?;
            let positions: Vec<usize> = (0..m.labels.len()).filter(|&i| m.labels[i] != IGNORE_INDEX).collect();
            if positions.is_empty() {
                continue;
            }
            let labels = positions.iter().map(|&i| m.labels[i]).collect();
            let lengths = m.attention_mask.chunks(m.seq_len.max(1)).map(|r| r.iter().filter(|&&a| a == 1).count()).collect();
            let batch = BertBatch {
                ids: m.input_ids.iter().map(|&i| i as usize).collect(),
                token_types: vec![0; m.input_ids.len()],
                lengths,
                batch: m.batch_size,
                seq_len: m.seq_len,
            };
            return Ok(MaskedBatch { batch, positions, labels });
        }
        Err(LmError::Config(format!(
            "no token of these {} windows could be masked in {MASKING_TRIES} tries (are they all special tokens?)",
            windows.len()
        )))
    }
}
