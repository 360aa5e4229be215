//! `cargo xtask bench search`: semantic search speed. Indexing documents/s, queries/s,
//! recall@10 of HNSW against exact search, memory, and the index file's size and load time,
//! at 10k and 100k chunks of synthetic 384-wide vectors (all-MiniLM-L6-v2's width); then
//! indexing documents/s with the real encoder on the help-centre set, when the model is there.
//!
//! Synthetic vectors are clustered, as sentence embeddings are: 1 000 random unit centres, each
//! vector a centre plus a random unit vector, normalized (cosine ≈ 0.5 within a cluster);
//! queries are drawn the same way and are not in the index.
//!
//! `LOAM_BENCH_SEARCH_CHUNKS` (comma-separated, default `10000,100000`) sets the sizes. Each
//! case's record is also printed on stderr as soon as it is measured (the 100k HNSW build
//! takes minutes).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use loam_apps::search::{
    DenseConfig, Document, Embedder, EncoderEmbedder, EncoderIdentity, IndexConfig, SearchIndex, read_documents,
};
use loam_tensor::Rng;

use crate::record::Record;

/// all-MiniLM-L6-v2's width.
const DIM: usize = 384;
/// Cluster centres of the synthetic vectors.
const CENTRES: usize = 1000;
/// Queries timed and scored per case.
const QUERIES: usize = 200;
/// Results per query.
const K: usize = 10;

/// Synthetic vectors looked up by text: `v17` is vector 17.
struct Synthetic {
    vectors: Vec<Vec<f32>>,
}

impl Embedder for Synthetic {
    fn identity(&self) -> EncoderIdentity {
        EncoderIdentity { model: "synthetic-clusters".into(), dim: DIM, config_hash: "bench".into() }
    }

    fn embed(&self, texts: &[&str]) -> loam_apps::search::Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| self.vectors[t[1..].parse::<usize>().expect("v<number>")].clone()).collect())
    }
}

/// `n` clustered unit vectors.
fn clustered(n: usize, rng: &mut Rng, centres: &[Vec<f32>]) -> Vec<Vec<f32>> {
    (0..n)
        .map(|_| {
            let centre = &centres[rng.below(centres.len() as u64) as usize];
            let noise = unit((0..DIM).map(|_| rng.normal()).collect());
            unit(centre.iter().zip(&noise).map(|(c, z)| c + z).collect())
        })
        .collect()
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// Resident memory of this process, in MB (`VmRSS` of `/proc/self/status`; 0 elsewhere).
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok());
    kb.unwrap_or(0.0) / 1024.0
}

/// Runs the cases and returns their records.
pub fn run() -> Result<Vec<Record>> {
    let sizes = std::env::var("LOAM_BENCH_SEARCH_CHUNKS").unwrap_or_else(|_| "10000,100000".into());
    let mut records = Vec::new();
    for n in sizes.split(',') {
        let n: usize = n.trim().parse().with_context(|| format!("LOAM_BENCH_SEARCH_CHUNKS: `{n}` is not a number"))?;
        records.extend(synthetic_case(n)?);
    }
    records.extend(encoder_case()?);
    Ok(records)
}

/// Exact and HNSW indexes of `n` synthetic chunks (one per document).
fn synthetic_case(n: usize) -> Result<Vec<Record>> {
    let mut rng = Rng::new(n as u64);
    let centres: Vec<Vec<f32>> = (0..CENTRES).map(|_| unit((0..DIM).map(|_| rng.normal()).collect())).collect();
    let embedder = Synthetic { vectors: clustered(n, &mut rng, &centres) };
    let queries = clustered(QUERIES, &mut rng, &centres);
    let docs: Vec<Document> = (0..n).map(|i| Document::new(format!("doc{i}"), format!("v{i}"))).collect();
    let mut records = Vec::new();
    let mut exact_hits = Vec::new();
    for hnsw in [false, true] {
        let threshold = if hnsw { 0 } else { usize::MAX };
        let config = IndexConfig { dense: DenseConfig { hnsw_threshold: threshold, ..DenseConfig::default() }, ..IndexConfig::default() };
        eprintln!("bench search: {n} chunks, {}", if hnsw { "HNSW" } else { "exact" });
        let rss_before = rss_mb();
        let start = Instant::now();
        let mut index = SearchIndex::new(embedder.identity(), config);
        index.add(&docs, &embedder)?;
        let index_secs = start.elapsed().as_secs_f64();
        let rss_delta = rss_mb() - rss_before;
        let start = Instant::now();
        let hits: Vec<Vec<u32>> = queries
            .iter()
            .map(|q| Ok(index.nearest_chunks(q, K, !hnsw)?.into_iter().map(|(slot, _)| slot).collect()))
            .collect::<Result<_>>()?;
        let query_secs = start.elapsed().as_secs_f64();
        if !hnsw {
            exact_hits = hits.clone();
        }
        let found: usize = hits.iter().zip(&exact_hits).map(|(h, e)| h.iter().filter(|s| e.contains(s)).count()).sum();
        let (file_mb, load_s) = save_and_load(&index, &embedder.identity())?;
        let case = format!("{n} chunks, {}", if hnsw { "HNSW" } else { "exact" });
        let record = Record::loam(
            "search",
            &case,
            &[
                ("docs_per_s", n as f64 / index_secs),
                ("queries_per_s", QUERIES as f64 / query_secs),
                ("recall_at_10", found as f64 / (QUERIES * K) as f64),
                ("index_mb", index.dense_memory_bytes() as f64 / 1e6),
                ("rss_delta_mb", rss_delta),
                ("file_mb", file_mb),
                ("load_s", load_s),
            ],
        );
        eprintln!("{}", record.to_json());
        records.push(record);
    }
    Ok(records)
}

/// Writes the index to a temporary file, reads it back and removes it: (MB, seconds to load).
fn save_and_load(index: &SearchIndex, identity: &EncoderIdentity) -> Result<(f64, f64)> {
    let path = std::env::temp_dir().join(format!("loam-bench-search-{}.index", std::process::id()));
    index.save(&path)?;
    let mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
    let start = Instant::now();
    let loaded = SearchIndex::load(&path, identity);
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_file(&path)?;
    loaded?;
    Ok((mb, secs))
}

/// Indexing the help-centre set with all-MiniLM-L6-v2 (`LOAM_MINILM_DIR`); none without it.
fn encoder_case() -> Result<Vec<Record>> {
    let Some(dir) = std::env::var_os("LOAM_MINILM_DIR").map(std::path::PathBuf::from).filter(|d| d.join("config.json").is_file()) else {
        eprintln!("bench search: no all-MiniLM-L6-v2 in LOAM_MINILM_DIR; the encoder case is skipped");
        return Ok(Vec::new());
    };
    let encoder = EncoderEmbedder::from_dir(&dir)?;
    let docs = read_documents(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/apps/tests/data/helpcentre/docs"))?.documents;
    eprintln!("bench search: help centre, all-MiniLM-L6-v2");
    let start = Instant::now();
    let mut index = SearchIndex::new(encoder.identity(), IndexConfig::default());
    index.add(&docs, &encoder)?;
    let secs = start.elapsed().as_secs_f64();
    let start = Instant::now();
    for q in ["where is my parcel", "can i pay in instalments", "my jacket leaks"] {
        index.search(q, 5, loam_apps::search::SearchMode::Hybrid, &encoder)?;
    }
    let query_secs = start.elapsed().as_secs_f64() / 3.0;
    let case = format!("help centre, {} docs / {} chunks, all-MiniLM-L6-v2", index.len(), index.chunk_count());
    Ok(vec![Record::loam("search", &case, &[("docs_per_s", index.len() as f64 / secs), ("queries_per_s", 1.0 / query_secs)])])
}
