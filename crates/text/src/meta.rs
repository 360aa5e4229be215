//! `meta.json`: what a dataset directory holds and how it was made.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::clean::CleanConfig;
use crate::error::{Result, TextError};
use crate::fsutil::{read_to_string, write_atomic};
use crate::report::CleanReport;
use crate::shard::{TokenDtype, ShardInfo};

/// The value of `format` in every loam `meta.json`.
pub const META_FORMAT: &str = "loam-tokens";
/// The version of the layout described here.
pub const META_VERSION: u32 = 1;

/// The contents of `meta.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetMeta {
    /// Always `loam-tokens`.
    pub format: String,
    /// Layout version, 1.
    pub version: u32,
    /// Number of token ids of the tokenizer.
    pub vocab_size: usize,
    /// Integer type of the shards.
    pub dtype: TokenDtype,
    /// The tokenizer.
    pub tokenizer: TokenizerInfo,
    /// How train and validation were separated.
    pub split: SplitInfo,
    /// Token counts.
    pub tokens: TokenCounts,
    /// Training shards, in order.
    pub train_shards: Vec<ShardInfo>,
    /// Validation shards, in order.
    pub val_shards: Vec<ShardInfo>,
    /// The corpus files read.
    pub sources: Vec<SourceInfo>,
    /// The cleaning steps applied.
    pub cleaning: CleanConfig,
    /// What cleaning and reading changed, dropped or skipped.
    pub clean_report: CleanReport,
    /// Id put after each document (none for character-level data).
    pub document_separator: Option<u32>,
}

/// The tokenizer of a dataset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizerInfo {
    /// The spec it was made from (`char`, `bpe:8000`, a path).
    pub spec: String,
    /// Its kind (`char`, `bpe`, `wordpiece`, `unigram`, `wordlevel`).
    pub kind: String,
    /// Its file in the dataset directory.
    pub file: String,
}

/// How the split was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitInfo {
    /// `fraction` (the last `val_fraction` of the token stream) or `document` (whole files).
    pub method: String,
    /// The fraction asked for validation.
    pub val_fraction: f64,
    /// Seed of the document choice (`document` method).
    pub seed: Option<u64>,
}

/// Token counts of the splits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    /// Training tokens.
    pub train: u64,
    /// Validation tokens.
    pub val: u64,
    /// Both.
    pub total: u64,
}

/// A corpus file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Path relative to the corpus root.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, in hex.
    pub sha256: String,
    /// Split it went to (`document` method), else none.
    pub split: Option<String>,
}

impl DatasetMeta {
    /// Reads and checks `dir/meta.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("meta.json");
        let text = read_to_string(&path)?;
        let meta: DatasetMeta = serde_json::from_str(&text).map_err(|source| TextError::Json { path: path.clone(), source })?;
        let bad = |message: String| TextError::Dataset { path: path.clone(), message };
        if meta.format != META_FORMAT || meta.version != META_VERSION {
            return Err(bad(format!(
                "format {:?} version {}, expected {META_FORMAT:?} version {META_VERSION}",
                meta.format, meta.version
            )));
        }
        meta.dtype.check_vocab(meta.vocab_size)?;
        let sum = |shards: &[ShardInfo]| shards.iter().map(|s| s.tokens).sum::<u64>();
        if sum(&meta.train_shards) != meta.tokens.train || sum(&meta.val_shards) != meta.tokens.val {
            return Err(bad("shard token counts do not add up to the split totals".into()));
        }
        Ok(meta)
    }

    /// Writes `dir/meta.json` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join("meta.json");
        let json = serde_json::to_string_pretty(self).map_err(|source| TextError::Json { path: path.clone(), source })?;
        write_atomic(&path, json.as_bytes())
    }
}
