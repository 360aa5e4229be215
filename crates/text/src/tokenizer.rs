//! The interface every tokenizer offers, and batch encoding with truncation and padding.

use std::path::Path;

use crate::error::{Result, TextError};

/// A tokenizer: text to ids and back, behind one interface for character-level and
/// `tokenizers`-crate models alike.
pub trait Tokenizer: Send + Sync {
    /// Encodes `text`, adding the model's special tokens (`[CLS]`, `[SEP]`...) when asked.
    fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>>;

    /// Decodes `ids` back to text, leaving out special tokens when asked.
    fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String>;

    /// Number of ids in the vocabulary (ids are `0..vocab_size`).
    fn vocab_size(&self) -> usize;

    /// The id of a token, if it is in the vocabulary.
    fn token_to_id(&self, token: &str) -> Option<u32>;

    /// The token of an id, if it is in the vocabulary.
    fn id_to_token(&self, id: u32) -> Option<String>;

    /// Ids of the special tokens (padding, unknown, mask, separators...).
    fn special_ids(&self) -> Vec<u32>;

    /// Writes the tokenizer to `path` in a form [`crate::load_tokenizer`] reads back.
    fn save(&self, path: &Path) -> Result<()>;

    /// A short description: `char`, `bpe`, `wordpiece`, `unigram`, `wordlevel`.
    fn kind(&self) -> &'static str;

    /// How many special tokens [`Tokenizer::encode`] adds to one sequence when asked.
    fn num_special_tokens(&self) -> usize {
        0
    }

    /// Encodes `text` truncated so that, special tokens included, it holds at most `max_len` ids.
    fn encode_truncated(&self, text: &str, add_special_tokens: bool, max_len: usize) -> Result<Vec<u32>> {
        let mut ids = self.encode(text, add_special_tokens)?;
        ids.truncate(max_len);
        Ok(ids)
    }

    /// The padding id: the vocabulary's pad token (`[PAD]`, `<pad>`, `<|pad|>`) if any.
    fn pad_id(&self) -> Option<u32> {
        ["[PAD]", "<pad>", "<|pad|>"].iter().find_map(|t| self.token_to_id(t))
    }

    /// The id that marks the end of a document, if the vocabulary has one
    /// (`<|endoftext|>`, `</s>`, `[SEP]`).
    fn end_of_text_id(&self) -> Option<u32> {
        ["<|endoftext|>", "</s>", "[SEP]"].iter().find_map(|t| self.token_to_id(t))
    }

    /// Encodes several texts at once, truncated and padded as `options` says.
    fn encode_batch(&self, texts: &[&str], options: &BatchOptions) -> Result<BatchEncoding> {
        let ids = texts
            .iter()
            .map(|t| match options.truncate_to {
                Some(max) => self.encode_truncated(t, options.add_special_tokens, max),
                None => self.encode(t, options.add_special_tokens),
            })
            .collect::<Result<Vec<_>>>()?;
        let pad_id = options.pad_id.or_else(|| self.pad_id()).unwrap_or(0);
        pad_batch(ids, options.padding, pad_id)
    }
}

/// How [`Tokenizer::encode_batch`] pads sequences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Padding {
    /// No padding: sequences keep their lengths.
    #[default]
    None,
    /// Pad every sequence to the longest of the batch.
    Longest,
    /// Pad every sequence to this length (longer ones are an error unless truncated).
    Fixed(usize),
}

/// Options of [`Tokenizer::encode_batch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOptions {
    /// Add the model's special tokens to each sequence.
    pub add_special_tokens: bool,
    /// Truncate each sequence (special tokens included) to at most this many ids.
    pub truncate_to: Option<usize>,
    /// How to pad.
    pub padding: Padding,
    /// Padding id; the tokenizer's pad token (or 0) when `None`.
    pub pad_id: Option<u32>,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions { add_special_tokens: true, truncate_to: None, padding: Padding::None, pad_id: None }
    }
}

/// Ids of a batch of texts, padded on the right, with the mask of real tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchEncoding {
    /// One row of ids per text.
    pub ids: Vec<Vec<u32>>,
    /// One row per text: 1 for a real token, 0 for padding.
    pub attention_mask: Vec<Vec<u32>>,
    /// Number of real tokens of each row.
    pub lengths: Vec<usize>,
}

/// Pads rows of ids on the right with `pad_id` as `padding` says.
pub fn pad_batch(ids: Vec<Vec<u32>>, padding: Padding, pad_id: u32) -> Result<BatchEncoding> {
    let lengths: Vec<usize> = ids.iter().map(Vec::len).collect();
    let longest = lengths.iter().copied().max().unwrap_or(0);
    let target = match padding {
        Padding::None => None,
        Padding::Longest => Some(longest),
        Padding::Fixed(n) => {
            if let Some(row) = lengths.iter().position(|&l| l > n) {
                return Err(TextError::InvalidRequest(format!(
                    "text {row} encodes to {} tokens, more than the fixed padding length {n}; enable truncation",
                    lengths[row]
                )));
            }
            Some(n)
        }
    };
    let mut batch = BatchEncoding { lengths, ..BatchEncoding::default() };
    for mut row in ids {
        let real = row.len();
        let len = target.unwrap_or(real);
        row.resize(len, pad_id);
        let mut mask = vec![1; real];
        mask.resize(len, 0);
        batch.ids.push(row);
        batch.attention_mask.push(mask);
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_to_longest_and_fixed() {
        let b = pad_batch(vec![vec![5, 6, 7], vec![8]], Padding::Longest, 0).unwrap();
        assert_eq!(b.ids, vec![vec![5, 6, 7], vec![8, 0, 0]]);
        assert_eq!(b.attention_mask, vec![vec![1, 1, 1], vec![1, 0, 0]]);
        assert_eq!(b.lengths, vec![3, 1]);
        let b = pad_batch(vec![vec![5], vec![]], Padding::Fixed(2), 9).unwrap();
        assert_eq!(b.ids, vec![vec![5, 9], vec![9, 9]]);
        assert!(pad_batch(vec![vec![1, 2, 3]], Padding::Fixed(2), 0).is_err());
        let b = pad_batch(vec![vec![1, 2], vec![3]], Padding::None, 0).unwrap();
        assert_eq!(b.ids, vec![vec![1, 2], vec![3]]);
    }
}
