//! `cargo xtask bench tokenize`: tokenization throughput (MB/s) and dataset build time on the
//! shakespeare corpus.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use loam_text::{
    CharTokenizer, DatasetConfig, TokenizerSpec, Tokenizer, TrainKind, TokenizerTrainOptions, build_dataset, split_lines,
    train_tokenizer,
};

use crate::record::Record;

/// Vocabulary of the BPE tokenizer the benchmark trains.
const BPE_VOCAB: usize = 4096;

/// Runs the benchmark on `corpus` (`LOAM_TINYSHAKESPEARE`, else `../shared/data/tinyshakespeare.txt`)
/// and returns one loam record per case.
pub fn run(corpus: Option<PathBuf>) -> Result<Vec<Record>> {
    let corpus = corpus
        .or_else(|| std::env::var_os("LOAM_TINYSHAKESPEARE").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/tinyshakespeare.txt"));
    let text = std::fs::read_to_string(&corpus).with_context(|| format!("reading corpus {}", corpus.display()))?;
    let mb = text.len() as f64 / 1e6;
    let out = std::env::temp_dir().join(format!("loam-bench-tokenize-{}", std::process::id()));
    let mut rows: Vec<(&str, &str, f64)> = Vec::new();

    let chars = CharTokenizer::from_text(&text);
    let ids = chars.encode(&text, false)?;
    rows.push(("char-encode", "mb_per_s", mb / best_of(5, || chars.encode(&text, false).map(drop))?));
    rows.push(("char-decode", "mb_per_s", mb / best_of(5, || chars.decode(&ids, false).map(drop))?));

    let start = Instant::now();
    let bpe = train_tokenizer(&TokenizerTrainOptions::new(TrainKind::Bpe, BPE_VOCAB), std::iter::once(text.as_str()))?;
    rows.push(("bpe-train-4096", "wall_s", start.elapsed().as_secs_f64()));
    let bpe_ids = bpe.encode(&text, false)?;
    rows.push(("bpe-encode", "mb_per_s", mb / best_of(3, || bpe.encode(&text, false).map(drop))?));
    let lines = split_lines(&text, 1 << 16);
    let mut sink = Vec::new();
    rows.push((
        "bpe-encode-parallel",
        "mb_per_s",
        mb / best_of(3, || {
            sink.clear();
            bpe.encode_many_into(&lines, &mut sink)
        })?,
    ));
    rows.push(("bpe-decode", "mb_per_s", mb / best_of(3, || bpe.decode(&bpe_ids, false).map(drop))?));
    rows.push(("bpe-tokens-per-byte", "ratio", bpe_ids.len() as f64 / text.len() as f64));

    let tokenizer_file = out.join("bpe.json");
    std::fs::create_dir_all(&out)?;
    bpe.save(&tokenizer_file)?;
    rows.push(("dataset-char", "wall_s", time_build(&corpus, &out.join("char"), TokenizerSpec::Char)?));
    rows.push(("dataset-bpe", "wall_s", time_build(&corpus, &out.join("bpe"), TokenizerSpec::File(tokenizer_file))?));
    let trained = format!("bpe:{BPE_VOCAB}").parse()?;
    rows.push(("dataset-bpe-with-training", "wall_s", time_build(&corpus, &out.join("bpe-train"), trained)?));
    std::fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;

    eprintln!("tokenize: {} ({mb:.2} MB), BPE vocabulary {BPE_VOCAB}", corpus.display());
    Ok(rows.into_iter().map(|(case, unit, value)| Record::loam("tokenize", case, &[(unit, value)])).collect())
}

/// Seconds of the fastest of `n` runs of `f`.
fn best_of<E>(n: usize, mut f: impl FnMut() -> std::result::Result<(), E>) -> Result<f64>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let mut best = f64::INFINITY;
    for _ in 0..n {
        let start = Instant::now();
        f()?;
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Seconds to build a dataset of `corpus` into `out` with `spec`.
fn time_build(corpus: &Path, out: &Path, spec: TokenizerSpec) -> Result<f64> {
    let start = Instant::now();
    build_dataset(&DatasetConfig::new(corpus, out, spec))?;
    Ok(start.elapsed().as_secs_f64())
}
