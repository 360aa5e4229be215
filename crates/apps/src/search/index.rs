//! The search index: documents cut into chunks, every chunk embedded (dense search) and
//! counted (BM25); documents added, updated and deleted by id without a rebuild; results by
//! document, each with its best chunk.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::search::bm25::{Bm25, Bm25Params};
use crate::search::chunk::{ChunkConfig, chunk_text};
use crate::search::dense::{DenseConfig, DenseIndex};
use crate::search::document::Document;
use crate::search::embedder::{Embedder, EncoderIdentity, check_vectors, normalize};
use crate::search::error::{Result, SearchError};
use crate::search::fusion::{RRF_K, reciprocal_rank_fusion};

/// How an index chunks, searches and scores.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexConfig {
    /// Chunking.
    pub chunk: ChunkConfig,
    /// Exact or HNSW dense search.
    pub dense: DenseConfig,
    /// BM25 parameters.
    pub bm25: Bm25Params,
}

/// Which ranking a search uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchMode {
    /// Cosine similarity of sentence embeddings.
    Dense,
    /// BM25 over the chunks' words.
    Bm25,
    /// Reciprocal-rank fusion (k = 60) of the dense and BM25 document rankings.
    Hybrid,
}

impl SearchMode {
    /// Every mode, in the order tables show them.
    pub const ALL: [SearchMode; 3] = [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid];
}

impl fmt::Display for SearchMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SearchMode::Dense => "dense",
            SearchMode::Bm25 => "bm25",
            SearchMode::Hybrid => "hybrid",
        })
    }
}

impl FromStr for SearchMode {
    type Err = SearchError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "dense" => Ok(SearchMode::Dense),
            "bm25" => Ok(SearchMode::Bm25),
            "hybrid" => Ok(SearchMode::Hybrid),
            other => Err(SearchError::Invalid(format!("unknown search mode `{other}`: expected dense, bm25 or hybrid"))),
        }
    }
}

/// One document found by a search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchHit {
    /// The document's id.
    pub doc_id: String,
    /// The document's tags.
    pub tags: Vec<String>,
    /// Its best-ranked chunk.
    pub chunk: String,
    /// The score: cosine (dense), BM25, or fused reciprocal rank (hybrid).
    pub score: f32,
}

/// The documents a search found, best first, and a note when the query was cut.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchResults {
    /// The hits, best first.
    pub hits: Vec<SearchHit>,
    /// Set when the query was longer than the encoder's window.
    pub note: Option<String>,
}

/// A chunk of a document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChunkRecord {
    pub(crate) doc: String,
    pub(crate) text: String,
}

/// What the index keeps of a document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct DocRecord {
    pub(crate) tags: Vec<String>,
    pub(crate) slots: Vec<u32>,
}

/// A document ready to insert: chunks and their unit vectors.
struct Prepared {
    doc: Document,
    chunks: Vec<String>,
    vectors: Vec<Vec<f32>>,
}

/// A semantic search index over documents; see the module documentation.
pub struct SearchIndex {
    pub(crate) identity: EncoderIdentity,
    pub(crate) config: IndexConfig,
    pub(crate) docs: BTreeMap<String, DocRecord>,
    /// Chunks by slot; `None` once deleted (slots are never reused).
    pub(crate) chunks: Vec<Option<ChunkRecord>>,
    pub(crate) dense: DenseIndex,
    pub(crate) bm25: Bm25,
}

impl SearchIndex {
    /// An empty index for vectors of the encoder `identity`.
    pub fn new(identity: EncoderIdentity, config: IndexConfig) -> Self {
        let dense = DenseIndex::new(identity.dim);
        let bm25 = Bm25::new(config.bm25);
        SearchIndex { identity, config, docs: BTreeMap::new(), chunks: Vec::new(), dense, bm25 }
    }

    /// The encoder the index was built with.
    pub fn identity(&self) -> &EncoderIdentity {
        &self.identity
    }

    /// The index's settings.
    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// Number of documents.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether the index holds no document.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Number of chunks of the documents held.
    pub fn chunk_count(&self) -> usize {
        self.docs.values().map(|d| d.slots.len()).sum()
    }

    /// Whether document `id` is indexed.
    pub fn contains(&self, id: &str) -> bool {
        self.docs.contains_key(id)
    }

    /// The ids of the documents, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.docs.keys().map(String::as_str)
    }

    /// Whether dense search goes through an HNSW graph (the index is past
    /// [`DenseConfig::hnsw_threshold`] chunks).
    pub fn uses_hnsw(&self) -> bool {
        self.dense.has_graph()
    }

    /// Approximate bytes held by the dense vectors and graph.
    pub fn dense_memory_bytes(&self) -> usize {
        self.dense.memory_bytes()
    }

    /// Adds new documents; an id already indexed or repeated, or a document without text, is
    /// an error and nothing is added.
    pub fn add(&mut self, docs: &[Document], embedder: &dyn Embedder) -> Result<()> {
        if let Some(doc) = docs.iter().find(|d| self.docs.contains_key(&d.id)) {
            return Err(SearchError::Invalid(format!("document `{}` is already indexed; update it instead", doc.id)));
        }
        let prepared = self.prepare(docs, embedder)?;
        self.insert(prepared);
        Ok(())
    }

    /// Replaces documents already indexed (re-chunked and re-embedded); an unknown id is an
    /// error and nothing changes.
    pub fn update(&mut self, docs: &[Document], embedder: &dyn Embedder) -> Result<()> {
        if let Some(doc) = docs.iter().find(|d| !self.docs.contains_key(&d.id)) {
            return Err(SearchError::Invalid(format!("document `{}` is not indexed; add it instead", doc.id)));
        }
        let prepared = self.prepare(docs, embedder)?;
        for doc in docs {
            self.remove(&doc.id);
        }
        self.insert(prepared);
        Ok(())
    }

    /// Deletes document `id`; an unknown id is an error.
    pub fn delete(&mut self, id: &str) -> Result<()> {
        if !self.remove(id) {
            return Err(SearchError::Invalid(format!("document `{id}` is not indexed")));
        }
        self.maybe_rebuild();
        Ok(())
    }

    /// Rebuilds the dense index now: every live vector into a fresh HNSW graph (or into the
    /// exact-search list below the threshold), deleted ones dropped.
    pub fn optimize(&mut self) {
        self.dense.rebuild(&self.config.dense);
    }

    /// The `k` documents that best answer `query` under `mode`, best first.
    pub fn search(&self, query: &str, k: usize, mode: SearchMode, embedder: &dyn Embedder) -> Result<SearchResults> {
        if query.trim().is_empty() {
            return Err(SearchError::Invalid("the query is empty".into()));
        }
        let depth = (k * 10).max(50);
        let mut note = None;
        let dense = if mode == SearchMode::Bm25 {
            Vec::new()
        } else {
            if let Some(t) = embedder.truncation(query)? {
                note = Some(format!(
                    "the query is {} tokens; the encoder reads only the first {}, so dense ranking ignores the rest",
                    t.tokens, t.window
                ));
            }
            let vector = self.query_vector(query, embedder)?;
            self.by_document(&self.dense.search(&vector, self.dense_depth(depth, k), false))
        };
        let bm25 = if mode == SearchMode::Dense { Vec::new() } else { self.by_document(&self.bm25.search(query, depth)) };
        let ranked = match mode {
            SearchMode::Dense => dense,
            SearchMode::Bm25 => bm25,
            SearchMode::Hybrid => {
                let ids = [dense.iter().map(|h| h.0).collect(), bm25.iter().map(|h| h.0).collect()];
                let best_slot = |doc: &str| dense.iter().chain(&bm25).find(|h| h.0 == doc).map(|h| h.1);
                reciprocal_rank_fusion(&ids, RRF_K)
                    .into_iter()
                    .filter_map(|(doc, score)| Some((doc, best_slot(doc)?, score)))
                    .collect()
            }
        };
        let hits = ranked.into_iter().take(k).map(|(doc, slot, score)| self.hit(doc, slot, score)).collect();
        Ok(SearchResults { hits, note })
    }

    /// The `k` chunks nearest to the unit vector `query` (chunk number, cosine), best first;
    /// `exact` scans every vector even when the index has a graph (to measure its recall).
    pub fn nearest_chunks(&self, query: &[f32], k: usize, exact: bool) -> Result<Vec<(u32, f32)>> {
        if query.len() != self.identity.dim {
            return Err(SearchError::Invalid(format!("a query vector of width {}, expected {}", query.len(), self.identity.dim)));
        }
        Ok(self.dense.search(query, k, exact))
    }

    /// Chunks the dense ranking looks at: `depth`, but through a graph at most half its
    /// `ef_search` (or `k` if more), so that a few removed chunks among the graph's results do
    /// not force the exact scan that [`DenseIndex::search`] falls back to.
    fn dense_depth(&self, depth: usize, k: usize) -> usize {
        if self.dense.has_graph() { depth.min((self.config.dense.ef_search / 2).max(k)) } else { depth }
    }

    fn query_vector(&self, query: &str, embedder: &dyn Embedder) -> Result<Vec<f32>> {
        let mut vectors = embedder.embed(&[query])?;
        check_vectors(&vectors, 1, self.identity.dim)?;
        let mut v = vectors.remove(0);
        normalize(&mut v);
        Ok(v)
    }

    /// Chunk rankings collapsed to documents, each at its best chunk: (doc, slot, score).
    fn by_document<'a>(&'a self, ranked: &[(u32, f32)]) -> Vec<(&'a str, u32, f32)> {
        let mut seen = HashSet::new();
        ranked
            .iter()
            .filter_map(|&(slot, score)| {
                let chunk = self.chunks[slot as usize].as_ref()?;
                seen.insert(chunk.doc.as_str()).then_some((chunk.doc.as_str(), slot, score))
            })
            .collect()
    }

    fn hit(&self, doc: &str, slot: u32, score: f32) -> SearchHit {
        let tags = self.docs.get(doc).map(|d| d.tags.clone()).unwrap_or_default();
        let chunk = self.chunks[slot as usize].as_ref().map(|c| c.text.clone()).unwrap_or_default();
        SearchHit { doc_id: doc.to_owned(), tags, chunk, score }
    }

    /// Chunks and embeds `docs`, checking ids and texts.
    fn prepare(&self, docs: &[Document], embedder: &dyn Embedder) -> Result<Vec<Prepared>> {
        let given = embedder.identity();
        if given != self.identity {
            return Err(SearchError::Invalid(format!("the index is for encoder {}, not {given}", self.identity)));
        }
        let mut ids = HashSet::new();
        let mut prepared = Vec::with_capacity(docs.len());
        for doc in docs {
            if !ids.insert(doc.id.as_str()) {
                return Err(SearchError::Invalid(format!("document `{}` is given twice", doc.id)));
            }
            let chunks = chunk_text(&doc.text, &self.config.chunk);
            if chunks.is_empty() {
                return Err(SearchError::Invalid(format!("document `{}` has no text", doc.id)));
            }
            prepared.push(Prepared { doc: doc.clone(), chunks, vectors: Vec::new() });
        }
        let texts: Vec<&str> = prepared.iter().flat_map(|p| p.chunks.iter().map(String::as_str)).collect();
        let vectors = embedder.embed(&texts)?;
        check_vectors(&vectors, texts.len(), self.identity.dim)?;
        let mut vectors = vectors.into_iter();
        for p in &mut prepared {
            p.vectors = vectors.by_ref().take(p.chunks.len()).collect();
        }
        Ok(prepared)
    }

    fn insert(&mut self, prepared: Vec<Prepared>) {
        for Prepared { doc, chunks, vectors } in prepared {
            let mut slots = Vec::with_capacity(chunks.len());
            for (text, mut vector) in chunks.into_iter().zip(vectors) {
                let slot = self.chunks.len() as u32;
                normalize(&mut vector);
                self.dense.insert(slot, &vector);
                self.bm25.insert(slot, &text);
                self.chunks.push(Some(ChunkRecord { doc: doc.id.clone(), text }));
                slots.push(slot);
            }
            self.docs.insert(doc.id, DocRecord { tags: doc.tags, slots });
        }
        self.maybe_rebuild();
    }

    /// Removes document `id` from every structure; false if it is not indexed.
    fn remove(&mut self, id: &str) -> bool {
        let Some(record) = self.docs.remove(id) else {
            return false;
        };
        for slot in record.slots {
            self.dense.remove(slot);
            self.bm25.remove(slot);
            self.chunks[slot as usize] = None;
        }
        true
    }

    fn maybe_rebuild(&mut self) {
        if self.dense.needs_rebuild(&self.config.dense) {
            self.dense.rebuild(&self.config.dense);
        }
    }
}
