//! `cargo xtask search index|query|eval`: semantic search over a folder of documents.
//!
//! `index --docs DIR --out INDEX` embeds every document under DIR (text files, whose id is
//! their path relative to DIR, and `.jsonl` files of `{"id","text","tags"}` lines; empty and
//! binary files are skipped with a warning) with all-MiniLM-L6-v2 and writes one index file.
//! `query --index INDEX "…" [--k 5] [--mode hybrid] [--json]` searches it with the model it
//! was built with. `eval --docs DIR --queries FILE` prints top-1, recall@5 and MRR@10 of BM25,
//! dense and hybrid search on labelled queries (`{"query","relevant":[ids]}` lines). `map`
//! draws the index's chunks on their first two principal components (feature `linalg`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use loam_apps::search::{
    DenseConfig, Embedder, EncoderEmbedder, HashingEmbedder, IndexConfig, SearchIndex, SearchMode, evaluate, read_documents,
    read_queries,
};
use loam_lm::hf::minilm_dir;

use crate::search_map;

/// The model name recorded by [`HashingEmbedder`].
const HASHING: &str = "word-hashing";
/// Width of the `--embedder hashing` vectors.
const HASHING_DIM: usize = 256;

/// Arguments of `cargo xtask search`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Which embedder builds an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum EmbedderKind {
    /// A sentence-transformers model (all-MiniLM-L6-v2 unless `--model` says otherwise).
    Minilm,
    /// Word hashing, no model: a baseline, and for trying the commands without a model.
    Hashing,
}

/// A search mode on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Cosine similarity of sentence embeddings.
    Dense,
    /// BM25 over the words.
    Bm25,
    /// Reciprocal-rank fusion of the two.
    Hybrid,
}

impl From<Mode> for SearchMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Dense => SearchMode::Dense,
            Mode::Bm25 => SearchMode::Bm25,
            Mode::Hybrid => SearchMode::Hybrid,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Index every document under a folder into one file.
    Index {
        /// The documents: text files and `.jsonl` files, searched recursively.
        #[arg(long)]
        docs: PathBuf,
        /// The index file to write.
        #[arg(long)]
        out: PathBuf,
        /// The embedder.
        #[arg(long, value_enum, default_value = "minilm")]
        embedder: EmbedderKind,
        /// A sentence-transformers folder (default: `LOAM_MINILM_DIR` or loam's cache).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Chunks from which dense search goes through an HNSW graph.
        #[arg(long, default_value_t = DenseConfig::default().hnsw_threshold)]
        hnsw_threshold: usize,
    },
    /// Search an index.
    Query {
        /// The index file.
        #[arg(long)]
        index: PathBuf,
        /// The query.
        query: String,
        /// Documents to return.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1000))]
        k: u32,
        /// The ranking.
        #[arg(long, value_enum, default_value = "hybrid")]
        mode: Mode,
        /// The model folder, when the index was built with another than the default.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Print the results as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Score BM25, dense and hybrid search on labelled queries.
    Eval {
        /// The documents, as for `index`.
        #[arg(long)]
        docs: PathBuf,
        /// Labelled queries: `{"query": …, "relevant": [ids]}` per line.
        #[arg(long)]
        queries: PathBuf,
        /// The embedder.
        #[arg(long, value_enum, default_value = "minilm")]
        embedder: EmbedderKind,
        /// A sentence-transformers folder (default: `LOAM_MINILM_DIR` or loam's cache).
        #[arg(long)]
        model: Option<PathBuf>,
        /// Print one JSON object per mode.
        #[arg(long)]
        json: bool,
    },
    /// Draw the index's chunks on their first two principal components (feature `linalg`).
    Map {
        /// The index file.
        #[arg(long)]
        index: PathBuf,
        /// The picture to write: `.png` or `.svg`.
        #[arg(long)]
        out: PathBuf,
        /// What colours the points.
        #[arg(long, value_enum, default_value = "tag")]
        by: search_map::By,
    },
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Index { docs, out, embedder, model, hnsw_threshold } => {
            let embedder = load_embedder(embedder, model.as_deref())?;
            let config = IndexConfig { dense: DenseConfig { hnsw_threshold, ..DenseConfig::default() }, ..IndexConfig::default() };
            let index = build_index(&docs, embedder.as_ref(), config)?;
            index.save(&out)?;
            eprintln!(
                "search index: {} documents, {} chunks, {}, encoder {} -> {}",
                index.len(),
                index.chunk_count(),
                if index.uses_hnsw() { "HNSW" } else { "exact search" },
                index.identity(),
                out.display()
            );
            Ok(())
        }
        Command::Query { index, query, k, mode, model, json } => {
            let stored = SearchIndex::read_identity(&index)?;
            let kind = if stored.model == HASHING { EmbedderKind::Hashing } else { EmbedderKind::Minilm };
            let embedder: Box<dyn Embedder> = match kind {
                EmbedderKind::Hashing => Box::new(HashingEmbedder::new(stored.dim)),
                EmbedderKind::Minilm => load_embedder(kind, model.as_deref())?,
            };
            let loaded = SearchIndex::load(&index, &embedder.identity())?;
            let results = loaded.search(&query, k as usize, mode.into(), embedder.as_ref())?;
            if json {
                println!("{}", serde_json::to_string(&results)?);
                return Ok(());
            }
            if let Some(note) = &results.note {
                eprintln!("note: {note}");
            }
            if results.hits.is_empty() {
                println!("no document matches");
            }
            for (rank, hit) in results.hits.iter().enumerate() {
                let tags = if hit.tags.is_empty() { String::new() } else { format!("  [{}]", hit.tags.join(", ")) };
                println!("{}. {}  {:.4}{tags}", rank + 1, hit.doc_id, hit.score);
                println!("   {}", snippet(&hit.chunk, 160));
            }
            Ok(())
        }
        Command::Eval { docs, queries, embedder, model, json } => {
            let embedder = load_embedder(embedder, model.as_deref())?;
            let labelled = read_queries(&queries)?;
            let index = build_index(&docs, embedder.as_ref(), IndexConfig::default())?;
            if !json {
                println!("{} documents, {} chunks, {} queries, encoder {}", index.len(), index.chunk_count(), labelled.len(), index.identity());
                println!("{:<8} {:>7} {:>9} {:>7}", "mode", "top-1", "recall@5", "MRR@10");
            }
            for mode in SearchMode::ALL {
                let q = evaluate(&index, embedder.as_ref(), &labelled, mode)?;
                if json {
                    println!("{{\"mode\":\"{mode}\",\"queries\":{},\"top1\":{},\"recall_at_5\":{},\"mrr\":{}}}", q.queries, q.top1, q.recall_at_5, q.mrr);
                } else {
                    println!("{:<8} {:>7.3} {:>9.3} {:>7.3}", mode.to_string(), q.top1, q.recall_at_5, q.mrr);
                }
            }
            Ok(())
        }
        Command::Map { index, out, by } => search_map::run(&index, &out, by),
    }
}

/// The embedder of `kind`; a model folder from `model`, `LOAM_MINILM_DIR` or loam's cache.
fn load_embedder(kind: EmbedderKind, model: Option<&Path>) -> Result<Box<dyn Embedder>> {
    Ok(match kind {
        EmbedderKind::Hashing => Box::new(HashingEmbedder::new(HASHING_DIM)),
        EmbedderKind::Minilm => {
            let dir = match model {
                Some(dir) => dir.to_owned(),
                None => minilm_dir()?,
            };
            Box::new(EncoderEmbedder::from_dir(&dir).with_context(|| format!("loading the sentence encoder {}", dir.display()))?)
        }
    })
}

/// Reads the documents under `docs` (warning about skipped files) and indexes them.
fn build_index(docs: &Path, embedder: &dyn Embedder, config: IndexConfig) -> Result<SearchIndex> {
    let read = read_documents(docs)?;
    for skipped in &read.skipped {
        eprintln!("warning: {skipped}");
    }
    if read.documents.is_empty() {
        bail!("{}: no document to index", docs.display());
    }
    let start = Instant::now();
    let mut index = SearchIndex::new(embedder.identity(), config);
    index.add(&read.documents, embedder)?;
    eprintln!("indexed {} documents in {:.1} s", index.len(), start.elapsed().as_secs_f64());
    Ok(index)
}

/// The first `max` characters of `text` on one line, with an ellipsis when cut.
fn snippet(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}
