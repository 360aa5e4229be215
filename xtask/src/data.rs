//! `cargo xtask data`: build a token dataset (shards and `meta.json`) from a corpus.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use loam_text::{CleanConfig, DatasetConfig, SplitMode, TokenDtype, TokenizerSpec, build_dataset};

/// Arguments of `cargo xtask data`.
#[derive(clap::Args)]
pub struct DataArgs {
    /// A text file, or a directory searched for .txt, .md and .html files (one document each).
    #[arg(long)]
    corpus: PathBuf,
    /// `char`, `bpe:VOCAB`, `wordpiece:VOCAB`, `unigram:VOCAB`, or a path to a tokenizer.json
    /// (or to a character vocabulary written by an earlier run).
    #[arg(long)]
    tokenizer: String,
    /// Output directory: train_NNNN.bin, val_NNNN.bin, tokenizer.json, meta.json.
    #[arg(long)]
    out: PathBuf,
    /// Fraction of the data for validation.
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f64,
    /// Put whole documents (files) in validation instead of the tail of the token stream.
    #[arg(long)]
    split_by_document: bool,
    /// Seed of the document choice with --split-by-document.
    #[arg(long, default_value_t = 1337)]
    seed: u64,
    /// Cleaning steps, comma-separated: nfc, nfkc, html, control, whitespace, lower, urls,
    /// emails, phones, mask, dedup-lines, dedup-docs, min-line=N, max-line=N, min-doc=N,
    /// max-doc=N, web (a preset), none.
    #[arg(long, default_value = "none")]
    clean: String,
    /// Replace invalid UTF-8 with U+FFFD (and count it) instead of failing.
    #[arg(long)]
    lossy_utf8: bool,
    /// Shard id type, u16 or u32; the smallest that holds the vocabulary by default.
    #[arg(long)]
    dtype: Option<String>,
    /// Ids per shard file.
    #[arg(long, default_value_t = 1 << 28)]
    shard_tokens: u64,
    /// Bytes of text read at a time.
    #[arg(long, default_value_t = 1 << 20)]
    chunk_bytes: usize,
    /// Do not put the tokenizer's end-of-text token after each document.
    #[arg(long)]
    no_document_separator: bool,
}

/// Builds the dataset and prints what it holds.
pub fn run(args: DataArgs) -> Result<()> {
    let tokenizer: TokenizerSpec = args.tokenizer.parse()?;
    let clean: CleanConfig = args.clean.parse()?;
    let dtype = match args.dtype.as_deref() {
        None => None,
        Some("u16") => Some(TokenDtype::U16),
        Some("u32") => Some(TokenDtype::U32),
        Some(other) => anyhow::bail!("--dtype {other:?}: expected u16 or u32"),
    };
    let mut config = DatasetConfig::new(&args.corpus, &args.out, tokenizer);
    config.clean = clean;
    config.val_fraction = args.val_fraction;
    config.split = if args.split_by_document { SplitMode::Documents { seed: args.seed } } else { SplitMode::Tail };
    config.lossy_utf8 = args.lossy_utf8;
    config.dtype = dtype;
    config.shard_tokens = args.shard_tokens;
    config.chunk_bytes = args.chunk_bytes;
    config.document_separator = !args.no_document_separator;

    let start = Instant::now();
    let meta = build_dataset(&config)
        .with_context(|| format!("building a dataset from {} into {}", args.corpus.display(), args.out.display()))?;
    let bytes: u64 = meta.sources.iter().map(|s| s.bytes).sum();
    println!(
        "{} -> {}: {} source file(s), {:.1} MB in {:.2} s",
        args.corpus.display(),
        args.out.display(),
        meta.sources.len(),
        bytes as f64 / 1e6,
        start.elapsed().as_secs_f64()
    );
    println!(
        "tokenizer {} ({}), vocabulary {}, shards {}",
        meta.tokenizer.spec,
        meta.tokenizer.kind,
        meta.vocab_size,
        meta.dtype.name()
    );
    println!(
        "tokens: train {} in {} shard(s), val {} in {} shard(s) (split by {})",
        meta.tokens.train,
        meta.train_shards.len(),
        meta.tokens.val,
        meta.val_shards.len(),
        meta.split.method
    );
    print!("cleaning ({}): {}", meta.cleaning, meta.clean_report);
    Ok(())
}
