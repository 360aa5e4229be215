//! Retrieval quality on labelled queries: top-1 accuracy, recall@5 and MRR@10.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::search::embedder::Embedder;
use crate::search::error::{Result, SearchError};
use crate::search::index::{SearchIndex, SearchMode};

/// Ranks MRR looks at.
const MRR_DEPTH: usize = 10;

/// A query and the ids of the documents that answer it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelledQuery {
    /// The query, as a user would type it.
    pub query: String,
    /// Ids of the relevant documents (at least one).
    pub relevant: Vec<String>,
}

/// The quality of one search mode over a set of labelled queries.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Quality {
    /// Number of queries.
    pub queries: usize,
    /// Fraction of queries whose first hit is relevant.
    pub top1: f64,
    /// Mean fraction of a query's relevant documents found in its first five hits.
    pub recall_at_5: f64,
    /// Mean reciprocal rank of the first relevant hit in the first ten (0 when none is).
    pub mrr: f64,
}

/// Reads labelled queries, one JSON object per line (`{"query": …, "relevant": [ids]}`).
pub fn read_queries(path: &Path) -> Result<Vec<LabelledQuery>> {
    let text = std::fs::read_to_string(path).map_err(|e| SearchError::file(path, format!("cannot read: {e}")))?;
    let mut queries = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let q: LabelledQuery = serde_json::from_str(line)
            .map_err(|e| SearchError::file(path, format!("line {}: not a labelled query: {e}", n + 1)))?;
        if q.relevant.is_empty() {
            return Err(SearchError::file(path, format!("line {}: no relevant document", n + 1)));
        }
        queries.push(q);
    }
    Ok(queries)
}

/// Runs every query through `index` under `mode` and scores the rankings. A relevant id that
/// the index does not hold is an error (a typo in the labels would silently lower the score).
pub fn evaluate(index: &SearchIndex, embedder: &dyn Embedder, queries: &[LabelledQuery], mode: SearchMode) -> Result<Quality> {
    if queries.is_empty() {
        return Err(SearchError::Invalid("no labelled queries".into()));
    }
    let (mut top1, mut recall, mut mrr) = (0.0, 0.0, 0.0);
    for q in queries {
        if let Some(id) = q.relevant.iter().find(|id| !index.contains(id)) {
            return Err(SearchError::Invalid(format!("query `{}`: relevant document `{id}` is not in the index", q.query)));
        }
        let hits = index.search(&q.query, MRR_DEPTH, mode, embedder)?.hits;
        let relevant = |rank: usize| hits.get(rank).is_some_and(|h| q.relevant.contains(&h.doc_id));
        top1 += f64::from(u8::from(relevant(0)));
        recall += (0..5).filter(|&r| relevant(r)).count() as f64 / q.relevant.len() as f64;
        mrr += (0..MRR_DEPTH).find(|&r| relevant(r)).map_or(0.0, |r| 1.0 / (r + 1) as f64);
    }
    let n = queries.len() as f64;
    Ok(Quality { queries: queries.len(), top1: top1 / n, recall_at_5: recall / n, mrr: mrr / n })
}
