//! Hugging Face `tokenizer.json` models (BPE, WordPiece, Unigram, WordLevel) through the
//! `tokenizers` crate.

use std::path::Path;

use tokenizers::models::ModelWrapper;
use tokenizers::{PostProcessor, TruncationDirection};

use crate::error::{Result, TextError};
use crate::tokenizer::Tokenizer;

/// A `tokenizers`-crate tokenizer behind loam's [`Tokenizer`] interface.
///
/// Truncation and padding stored in the file are switched off on load (all-MiniLM-L6-v2's file
/// pads everything to 128, for one): callers choose them per batch with
/// [`crate::BatchOptions`].
#[derive(Clone, Debug)]
pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
    special: Vec<u32>,
}

impl HfTokenizer {
    /// Reads a `tokenizer.json`.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| TextError::io("reading", path, e))?;
        HfTokenizer::from_bytes(&bytes).map_err(|e| match e {
            TextError::Tokenizer { message, .. } => TextError::Tokenizer { what: path.display().to_string(), message },
            other => other,
        })
    }

    /// Parses the bytes of a `tokenizer.json`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_bytes(bytes)
            .map_err(|e| TextError::tokenizer("tokenizer.json", format!("does not parse: {e}")))?;
        HfTokenizer::from_inner(inner)
    }

    /// Wraps a `tokenizers` tokenizer, switching off its stored truncation and padding.
    pub fn from_inner(mut inner: tokenizers::Tokenizer) -> Result<Self> {
        inner
            .with_truncation(None)
            .map_err(|e| TextError::tokenizer("tokenizer.json", e))?;
        inner.with_padding(None);
        let mut special: Vec<u32> = inner
            .get_added_tokens_decoder()
            .into_iter()
            .filter(|(_, t)| t.special)
            .map(|(id, _)| id)
            .collect();
        special.sort_unstable();
        Ok(HfTokenizer { inner, special })
    }

    /// The wrapped `tokenizers` tokenizer.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Appends the ids of `text` (no special tokens) to `out`, the fast path of dataset building.
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| TextError::tokenizer(self.kind(), format!("encoding failed: {e}")))?;
        out.extend_from_slice(encoding.get_ids());
        Ok(())
    }

    /// Appends the ids of several pieces of one text, encoded in parallel, to `out`.
    pub fn encode_many_into(&self, pieces: &[&str], out: &mut Vec<u32>) -> Result<()> {
        let encodings = self
            .inner
            .encode_batch_fast(pieces.to_vec(), false)
            .map_err(|e| TextError::tokenizer(self.kind(), format!("encoding failed: {e}")))?;
        for encoding in &encodings {
            out.extend_from_slice(encoding.get_ids());
        }
        Ok(())
    }
}

impl Tokenizer for HfTokenizer {
    fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode_fast(text, add_special_tokens)
            .map_err(|e| TextError::tokenizer(self.kind(), format!("encoding failed: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    fn encode_truncated(&self, text: &str, add_special_tokens: bool, max_len: usize) -> Result<Vec<u32>> {
        let fail = |e: tokenizers::Error| TextError::tokenizer(self.kind(), format!("encoding failed: {e}"));
        let added = if add_special_tokens { self.num_special_tokens() } else { 0 };
        if max_len < added {
            return Err(TextError::InvalidRequest(format!(
                "cannot truncate to {max_len} tokens: the tokenizer adds {added} special tokens"
            )));
        }
        let mut encoding = self.inner.encode_fast(text, false).map_err(fail)?;
        encoding.truncate(max_len - added, 0, TruncationDirection::Right);
        let encoding = self.inner.post_process(encoding, None, add_special_tokens).map_err(fail)?;
        Ok(encoding.get_ids().to_vec())
    }

    fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        let vocab_size = self.vocab_size();
        if let Some(position) = ids.iter().position(|&id| id as usize >= vocab_size) {
            return Err(TextError::UnknownId { id: ids[position], position, vocab_size });
        }
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| TextError::tokenizer(self.kind(), format!("decoding failed: {e}")))
    }

    fn vocab_size(&self) -> usize {
        let max_added = self.inner.get_added_tokens_decoder().keys().map(|&id| id as usize + 1).max();
        self.inner.get_vocab_size(true).max(max_added.unwrap_or(0))
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    fn special_ids(&self) -> Vec<u32> {
        self.special.clone()
    }

    fn save(&self, path: &Path) -> Result<()> {
        let json = self
            .inner
            .to_string(true)
            .map_err(|e| TextError::tokenizer(self.kind(), format!("serializing failed: {e}")))?;
        crate::fsutil::write_atomic(path, json.as_bytes())
    }

    fn kind(&self) -> &'static str {
        match self.inner.get_model() {
            ModelWrapper::BPE(_) => "bpe",
            ModelWrapper::WordPiece(_) => "wordpiece",
            ModelWrapper::Unigram(_) => "unigram",
            ModelWrapper::WordLevel(_) => "wordlevel",
        }
    }

    fn num_special_tokens(&self) -> usize {
        self.inner.get_post_processor().map_or(0, |p| p.added_tokens(false))
    }
}
