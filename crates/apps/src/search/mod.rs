//! Semantic search over documents: chunked by sentences, embedded by a sentence encoder
//! (all-MiniLM-L6-v2 by default) and searched by cosine (exactly, or through an HNSW graph
//! past a configurable size), by BM25, or by both fused (reciprocal-rank fusion); documents
//! added, updated and deleted by id; the index saved to one file and reloaded.
//!
//! ```
//! use loam_apps::search::{Document, HashingEmbedder, IndexConfig, SearchIndex, SearchMode, Embedder};
//!
//! let embedder = HashingEmbedder::new(64);
//! let mut index = SearchIndex::new(embedder.identity(), IndexConfig::default());
//! index.add(&[
//!     Document::new("returns", "Items can be returned within 30 days. Refunds take five days."),
//!     Document::new("shipping", "Orders ship in two days. Tracking arrives by e-mail."),
//! ], &embedder)?;
//! let found = index.search("how long do refunds take", 1, SearchMode::Hybrid, &embedder)?;
//! assert_eq!(found.hits[0].doc_id, "returns");
//! index.delete("returns")?;
//! assert_eq!(index.len(), 1);
//! # Ok::<(), loam_apps::search::SearchError>(())
//! ```
//!
//! With the feature `linalg` (LAPACK; Debian's `libopenblas-dev`), `SearchIndex::embedding_map`
//! projects the chunk vectors on their first two principal components and
//! `EmbeddingMap::draw` plots them, one colour per tag.
//!
//! See `docs/apps.md` (section "Semantic search") for the command line and measured quality.

mod bm25;
mod chunk;
mod dense;
mod document;
mod embedder;
mod error;
mod eval;
mod fusion;
mod hnsw;
mod index;
#[cfg(feature = "linalg")]
mod map;
#[cfg(feature = "linalg")]
mod map_draw;
#[cfg(feature = "linalg")]
mod pca;
mod persist;

pub use bm25::{Analyzer, Bm25Params};
pub use chunk::{ChunkConfig, chunk_text};
pub use dense::DenseConfig;
pub use document::{Document, Documents, parse_jsonl, read_documents};
pub use embedder::{Embedder, EncoderEmbedder, EncoderIdentity, HashingEmbedder, Truncation, normalize};
pub use error::{Result, SearchError};
pub use eval::{LabelledQuery, Quality, evaluate, read_queries};
pub use fusion::{RRF_K, reciprocal_rank_fusion};
pub use index::{IndexConfig, SearchHit, SearchIndex, SearchMode, SearchResults};
#[cfg(feature = "linalg")]
pub use map::{EmbeddingMap, MapGroup, MapPoint, UNTAGGED};
#[cfg(feature = "linalg")]
pub use pca::{Pca, pca};
