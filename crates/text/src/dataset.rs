//! Building a token dataset: corpus in, cleaned and tokenized, shards and `meta.json` out.
//!
//! The corpus is streamed (see [`crate::corpus`]), so memory stays bounded: one chunk of text,
//! its ids, and the write buffers, whatever the corpus size (the character vocabulary pass and
//! tokenizer training keep only distinct characters and word counts).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::char_tokenizer::CharTokenizer;
use crate::clean::{CleanConfig, Cleaner};
use crate::corpus::{Chunks, Corpus, CorpusOptions, split_lines};
use crate::error::{Result, TextError};
use crate::meta::{DatasetMeta, META_FORMAT, META_VERSION, SourceInfo, SplitInfo, TokenCounts, TokenizerInfo};
use crate::reader::stream_shard;
use crate::shard::{TokenDtype, ShardInfo, ShardWriter};
use crate::spec::{AnyTokenizer, TokenizerSpec, load_tokenizer};
use crate::tokenizer::Tokenizer;
use crate::train::train_tokenizer;

/// Name of the tokenizer file in a dataset directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// How validation data is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitMode {
    /// The last `val_fraction` of the token stream (the shakespeare-char benchmark's split).
    Tail,
    /// Whole documents (files), chosen with this seed, about `val_fraction` of them.
    Documents {
        /// Seed of the choice.
        seed: u64,
    },
}

/// Everything [`build_dataset`] needs.
#[derive(Clone, Debug)]
pub struct DatasetConfig {
    /// A text file or a directory of `.txt`, `.md`, `.html` files.
    pub corpus: PathBuf,
    /// Output directory (created if missing).
    pub out_dir: PathBuf,
    /// Which tokenizer.
    pub tokenizer: TokenizerSpec,
    /// Cleaning steps (none by default: training text is kept as it is).
    pub clean: CleanConfig,
    /// Fraction of the data for validation, in `[0, 1)`; 0.1 by default.
    pub val_fraction: f64,
    /// How validation data is chosen; [`SplitMode::Tail`] by default.
    pub split: SplitMode,
    /// Replace invalid UTF-8 with U+FFFD (counted) instead of failing.
    pub lossy_utf8: bool,
    /// Bytes of text read at a time (1 MiB by default).
    pub chunk_bytes: usize,
    /// Ids per shard file (2^28, 512 MiB of `u16`, by default).
    pub shard_tokens: u64,
    /// Force a shard type; the smallest that fits by default.
    pub dtype: Option<TokenDtype>,
    /// Put the tokenizer's end-of-text id (`<|endoftext|>`, `</s>`, `[SEP]`) after each
    /// document, when it has one; on by default.
    pub document_separator: bool,
}

impl DatasetConfig {
    /// The defaults for `corpus`, `out_dir` and `tokenizer`.
    pub fn new(corpus: impl Into<PathBuf>, out_dir: impl Into<PathBuf>, tokenizer: TokenizerSpec) -> Self {
        DatasetConfig {
            corpus: corpus.into(),
            out_dir: out_dir.into(),
            tokenizer,
            clean: CleanConfig::default(),
            val_fraction: 0.1,
            split: SplitMode::Tail,
            lossy_utf8: false,
            chunk_bytes: 1 << 20,
            shard_tokens: 1 << 28,
            dtype: None,
            document_separator: true,
        }
    }
}

/// Builds the dataset that `config` describes and returns its `meta.json` contents.
pub fn build_dataset(config: &DatasetConfig) -> Result<DatasetMeta> {
    if !(0.0..1.0).contains(&config.val_fraction) {
        return Err(TextError::InvalidOption {
            option: format!("val fraction {}", config.val_fraction),
            message: "must be at least 0 and below 1".into(),
        });
    }
    let options = CorpusOptions {
        lossy_utf8: config.lossy_utf8,
        chunk_bytes: config.chunk_bytes,
        skip_duplicate_files: config.clean.dedup_documents,
    };
    let corpus = Corpus::open(&config.corpus, options)?;
    let out = &config.out_dir;
    std::fs::create_dir_all(out).map_err(|e| TextError::io("creating directory", out, e))?;
    let earlier = earlier_shards(out)?;

    let tokenizer = make_tokenizer(config, &corpus)?;
    tokenizer.save(&out.join(TOKENIZER_FILE))?;
    let vocab_size = tokenizer.vocab_size();
    let dtype = config.dtype.unwrap_or(TokenDtype::for_vocab(vocab_size));
    dtype.check_vocab(vocab_size)?;

    let val_docs = match config.split {
        SplitMode::Tail => BTreeSet::new(),
        SplitMode::Documents { seed } => choose_val_documents(corpus.files().len(), config.val_fraction, seed)?,
    };
    let separator = config.document_separator.then(|| tokenizer.end_of_text_id()).flatten();
    let shard = |split: &str| ShardWriter::new(out, split, dtype, vocab_size, config.shard_tokens);
    // With the tail split everything goes to `train` first; `split_tail` moves the tail.
    let mut train = shard("train")?;
    let mut val = shard("val")?;
    let mut cleaner = Cleaner::new(config.clean.clone());
    let mut ids = Vec::new();
    for piece in CleanStream::new(corpus.chunks(), &mut cleaner) {
        let piece = piece?;
        ids.clear();
        if let Some(text) = &piece.text {
            encode(&tokenizer, text, &mut ids)?;
            if piece.last {
                ids.extend(separator);
            }
        }
        let writer = if val_docs.contains(&piece.file) { &mut val } else { &mut train };
        writer.write(&ids)?;
    }
    let (train_shards, val_shards) = match config.split {
        SplitMode::Documents { .. } => (train.finish()?, val.finish()?),
        SplitMode::Tail => split_tail(out, train, val, config.val_fraction)?,
    };
    let mut report = cleaner.report().clone();
    report.invalid_utf8_replaced += corpus.invalid_utf8();
    report.files_skipped.extend(corpus.skipped().iter().cloned());
    let tokens = TokenCounts {
        train: train_shards.iter().map(|s| s.tokens).sum(),
        val: val_shards.iter().map(|s| s.tokens).sum(),
        total: 0,
    };
    if tokens.train + tokens.val == 0 {
        return Err(TextError::EmptyCorpus(format!("{}: no tokens left after cleaning", config.corpus.display())));
    }
    let meta = DatasetMeta {
        format: META_FORMAT.into(),
        version: META_VERSION,
        vocab_size,
        dtype,
        tokenizer: TokenizerInfo { spec: config.tokenizer.to_string(), kind: tokenizer.kind().into(), file: TOKENIZER_FILE.into() },
        split: SplitInfo {
            method: match config.split {
                SplitMode::Tail => "fraction".into(),
                SplitMode::Documents { .. } => "document".into(),
            },
            val_fraction: config.val_fraction,
            seed: match config.split {
                SplitMode::Tail => None,
                SplitMode::Documents { seed } => Some(seed),
            },
        },
        tokens: TokenCounts { total: tokens.train + tokens.val, ..tokens },
        train_shards,
        val_shards,
        sources: corpus
            .files()
            .iter()
            .enumerate()
            .map(|(i, f)| SourceInfo {
                path: f.name.clone(),
                bytes: f.bytes,
                sha256: f.sha256.clone(),
                split: match config.split {
                    SplitMode::Tail => None,
                    SplitMode::Documents { .. } => Some(if val_docs.contains(&i) { "val" } else { "train" }.into()),
                },
            })
            .collect(),
        cleaning: config.clean.clone(),
        clean_report: report,
        document_separator: separator,
    };
    meta.save(out)?;
    remove_stale_shards(out, &earlier, &meta)?;
    Ok(meta)
}

/// Loads, builds or trains the tokenizer of `config.tokenizer`.
fn make_tokenizer(config: &DatasetConfig, corpus: &Corpus) -> Result<AnyTokenizer> {
    match &config.tokenizer {
        TokenizerSpec::File(path) => load_tokenizer(path),
        TokenizerSpec::Char => {
            let mut cleaner = Cleaner::new(config.clean.clone());
            let mut chars = BTreeSet::new();
            for piece in CleanStream::new(corpus.chunks(), &mut cleaner) {
                chars.extend(piece?.text.iter().flat_map(|t| t.chars()));
            }
            if chars.is_empty() {
                return Err(TextError::EmptyCorpus("no characters left after cleaning".into()));
            }
            Ok(AnyTokenizer::Char(CharTokenizer::from_chars(chars)))
        }
        TokenizerSpec::Train(options) => {
            let mut cleaner = Cleaner::new(config.clean.clone());
            let failure = Mutex::new(None);
            let texts = CleanStream::new(corpus.chunks(), &mut cleaner).map_while(|piece| match piece {
                Ok(p) => Some(p.text.unwrap_or_default()),
                Err(e) => {
                    *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    None
                }
            });
            let trained = train_tokenizer(options, texts);
            if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
                return Err(e);
            }
            trained.map(|t| AnyTokenizer::Hf(Box::new(t)))
        }
    }
}

/// Appends the ids of a cleaned chunk; `tokenizers` models get it in line groups, encoded in
/// parallel, which bounds the memory of their per-token bookkeeping.
fn encode(tokenizer: &AnyTokenizer, text: &str, ids: &mut Vec<u32>) -> Result<()> {
    match tokenizer {
        AnyTokenizer::Char(t) => t.encode_into(text, ids),
        AnyTokenizer::Hf(t) => t.encode_many_into(&split_lines(text, 1 << 16), ids),
    }
}

/// Picks the validation documents: about `fraction` of `n`, at least one and not all.
fn choose_val_documents(n: usize, fraction: f64, seed: u64) -> Result<BTreeSet<usize>> {
    if fraction == 0.0 {
        return Ok(BTreeSet::new());
    }
    if n < 2 {
        return Err(TextError::InvalidRequest(format!(
            "splitting by document needs at least 2 documents, the corpus has {n}"
        )));
    }
    let k = ((n as f64 * fraction).round() as usize).clamp(1, n - 1);
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in (1..n).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    Ok(order.into_iter().take(k).collect())
}

/// Moves the tail of the token stream written to `all` into validation shards: the first
/// `floor(total * (1 - fraction))` ids stay in training. Shards are streamed, never loaded whole.
fn split_tail(dir: &Path, all: ShardWriter, mut val: ShardWriter, fraction: f64) -> Result<(Vec<ShardInfo>, Vec<ShardInfo>)> {
    let keep = ((all.tokens() as f64) * (1.0 - fraction)).floor() as u64;
    let (dtype, vocab_size, shard_tokens) = (all.dtype(), all.vocab_size(), all.shard_tokens());
    let mut train = Vec::new();
    let mut start = 0u64;
    for shard in all.finish()? {
        let end = start + shard.tokens;
        if end <= keep {
            train.push(shard);
            start = end;
            continue;
        }
        let path = dir.join(&shard.file);
        let mut head = ShardWriter::new(dir, "train", dtype, vocab_size, shard_tokens)?.first_index(train.len());
        let mut at = start;
        stream_shard(&path, dtype, |ids| {
            let cut = (keep.saturating_sub(at) as usize).min(ids.len());
            at += ids.len() as u64;
            head.write(&ids[..cut])?;
            val.write(&ids[cut..])
        })?;
        let head = head.finish()?;
        if head.is_empty() {
            std::fs::remove_file(&path).map_err(|e| TextError::io("removing", &path, e))?;
        }
        train.extend(head);
        start = end;
    }
    Ok((train, val.finish()?))
}

/// Whether `name` is a shard file name a build may write (`train_NNNN.bin`, `val_NNNN.bin`).
fn looks_like_shard(name: &str) -> bool {
    (name.starts_with("train_") || name.starts_with("val_")) && name.ends_with(".bin")
}

/// The shards an earlier build recorded in `dir/meta.json`. A shard-named file that no
/// `meta.json` records is not loam's to overwrite or remove, so it is an error.
fn earlier_shards(dir: &Path) -> Result<BTreeSet<String>> {
    let recorded: BTreeSet<String> = match DatasetMeta::load(dir) {
        Ok(meta) => meta.train_shards.iter().chain(&meta.val_shards).map(|s| s.file.clone()).collect(),
        Err(_) => BTreeSet::new(),
    };
    let entries = std::fs::read_dir(dir).map_err(|e| TextError::io("listing", dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if looks_like_shard(&name) && !recorded.contains(&name) {
            return Err(TextError::InvalidRequest(format!(
                "{}: holds `{name}`, which no earlier dataset build recorded in its meta.json; \
                 build into an empty folder or move that file away",
                dir.display()
            )));
        }
    }
    Ok(recorded)
}

/// Removes the shards the earlier build recorded (`earlier`) that `meta` does not list.
fn remove_stale_shards(dir: &Path, earlier: &BTreeSet<String>, meta: &DatasetMeta) -> Result<()> {
    let listed: BTreeSet<&str> = meta.train_shards.iter().chain(&meta.val_shards).map(|s| s.file.as_str()).collect();
    for name in earlier.iter().filter(|n| !listed.contains(n.as_str())) {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(TextError::io("removing stale shard", &path, e)),
            _ => {}
        }
    }
    Ok(())
}

/// Removes a dataset from `dir`: the shards, tokenizer and `meta.json` its `meta.json`
/// records, then `dir` itself if nothing else is left in it. Files it does not record stay.
/// A folder without a readable `meta.json` is left alone.
pub fn remove_dataset(dir: &Path) -> Result<()> {
    let Ok(meta) = DatasetMeta::load(dir) else { return Ok(()) };
    let files = meta.train_shards.iter().chain(&meta.val_shards).map(|s| s.file.as_str());
    for name in files.chain([meta.tokenizer.file.as_str(), "meta.json"]) {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(TextError::io("removing", &path, e)),
            _ => {}
        }
    }
    let empty = std::fs::read_dir(dir).map_err(|e| TextError::io("listing", dir, e))?.next().is_none();
    if empty {
        std::fs::remove_dir(dir).map_err(|e| TextError::io("removing", dir, e))?;
    }
    Ok(())
}

/// A cleaned piece of a document; `text` is `None` when cleaning dropped the whole document.
struct Piece {
    file: usize,
    last: bool,
    text: Option<String>,
}

/// Corpus chunks run through a [`Cleaner`]: whole documents get every filter, documents larger
/// than one chunk get the text and line steps.
struct CleanStream<'a, 'c> {
    chunks: Chunks<'a>,
    cleaner: &'c mut Cleaner,
}

impl<'a, 'c> CleanStream<'a, 'c> {
    fn new(chunks: Chunks<'a>, cleaner: &'c mut Cleaner) -> Self {
        CleanStream { chunks, cleaner }
    }
}

impl Iterator for CleanStream<'_, '_> {
    type Item = Result<Piece>;

    fn next(&mut self) -> Option<Self::Item> {
        let chunk = match self.chunks.next()? {
            Ok(chunk) => chunk,
            Err(e) => return Some(Err(e)),
        };
        let text = if chunk.first && chunk.last {
            self.cleaner.clean_document(&chunk.text)
        } else {
            if chunk.first {
                self.cleaner.begin_document();
            }
            Some(self.cleaner.clean_chunk(&chunk.text))
        };
        Some(Ok(Piece { file: chunk.file, last: chunk.last, text }))
    }
}
