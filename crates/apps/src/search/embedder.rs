//! Sentence embedders: the [`Embedder`] trait an index embeds through, a BERT sentence
//! encoder (all-MiniLM-L6-v2 by default) and a word-hashing embedder for tests and benchmarks.

use std::fmt;
use std::path::Path;

use loam_lm::hf::SentenceEncoder;
use loam_text::{Tokenizer, sha256_file};
use serde::{Deserialize, Serialize};

use crate::search::error::{Result, SearchError};

/// What an index records of the encoder that built it; an index is searched only with an
/// encoder of the same identity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncoderIdentity {
    /// The model's name (its folder's name for a local model).
    pub model: String,
    /// Embedding width.
    pub dim: usize,
    /// A hash of the model's configuration (SHA-256 of `config.json` for a BERT folder).
    pub config_hash: String,
}

impl fmt::Display for EncoderIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hash = &self.config_hash[..self.config_hash.len().min(12)];
        write!(f, "`{}` ({} dims, config {hash})", self.model, self.dim)
    }
}

/// A query cut to the encoder's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Truncation {
    /// Tokens in the query, special tokens included.
    pub tokens: usize,
    /// Tokens the encoder reads.
    pub window: usize,
}

/// Turns texts into unit vectors.
pub trait Embedder {
    /// The encoder's identity, recorded in the indexes it builds.
    fn identity(&self) -> EncoderIdentity;

    /// One unit vector of width `identity().dim` per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;

    /// `Some` when `text` is longer than the encoder's window and will be cut.
    fn truncation(&self, _text: &str) -> Result<Option<Truncation>> {
        Ok(None)
    }
}

/// A BERT sentence encoder read from a sentence-transformers folder (all-MiniLM-L6-v2: see
/// `loam_lm::hf::minilm_dir`).
#[derive(Debug)]
pub struct EncoderEmbedder {
    encoder: SentenceEncoder,
    identity: EncoderIdentity,
}

impl EncoderEmbedder {
    /// Loads the encoder in `dir`; its identity is the folder's name, the width and the
    /// SHA-256 of `config.json`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let encoder = SentenceEncoder::from_dir(dir)?;
        let model = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| dir.display().to_string());
        let config_hash = sha256_file(&dir.join("config.json")).map_err(loam_lm::LmError::from)?;
        let identity = EncoderIdentity { model, dim: encoder.dim(), config_hash };
        Ok(EncoderEmbedder { encoder, identity })
    }
}

impl Embedder for EncoderEmbedder {
    fn identity(&self) -> EncoderIdentity {
        self.identity.clone()
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(self.encoder.encode(texts)?)
    }

    fn truncation(&self, text: &str) -> Result<Option<Truncation>> {
        let tokens = self.encoder.tokenizer.encode(text, true).map_err(loam_lm::LmError::from)?.len();
        let window = self.encoder.max_seq_len;
        Ok((tokens > window).then_some(Truncation { tokens, window }))
    }
}

/// Feature hashing of lowercased words into `dim` signed buckets, L2-normalized: texts that
/// share words get close vectors. No model needed: for tests, benchmarks and a baseline.
#[derive(Clone, Debug)]
pub struct HashingEmbedder {
    dim: usize,
}

impl HashingEmbedder {
    /// An embedder of width `dim` (at least 1).
    pub fn new(dim: usize) -> Self {
        HashingEmbedder { dim: dim.max(1) }
    }

    fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut v = vec![0.0f32; self.dim];
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let h = fnv1a(word.to_lowercase().as_bytes());
            v[(h % self.dim as u64) as usize] += if h >> 63 == 0 { 1.0 } else { -1.0 };
        }
        normalize(&mut v);
        v
    }
}

impl Embedder for HashingEmbedder {
    fn identity(&self) -> EncoderIdentity {
        EncoderIdentity { model: "word-hashing".into(), dim: self.dim, config_hash: "signed-buckets-v1".into() }
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.embed_one(t)).collect())
    }
}

/// The 64-bit FNV-1a hash: stable across platforms and Rust versions, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Checks that `vectors` are `count` finite vectors of width `dim`.
pub(crate) fn check_vectors(vectors: &[Vec<f32>], count: usize, dim: usize) -> Result<()> {
    if vectors.len() != count {
        return Err(SearchError::Invalid(format!("the embedder returned {} vectors for {count} texts", vectors.len())));
    }
    match vectors.iter().find(|v| v.len() != dim || v.iter().any(|x| !x.is_finite())) {
        Some(v) => Err(SearchError::Invalid(format!(
            "the embedder returned a vector of width {} (expected {dim}) or with a non-finite value",
            v.len()
        ))),
        None => Ok(()),
    }
}
