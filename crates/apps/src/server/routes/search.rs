//! `POST /v1/search` over the index given by `--index`: `{"query", "k", "mode"}` →
//! `{"hits": [{"doc_id", "tags", "chunk", "score"}], "note"}`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::search::SearchMode;

use super::super::body::JsonBody;
use super::super::error::{ApiError, ApiResult};
use super::super::state::AppState;

/// The body of `POST /v1/search`.
#[derive(Debug, Deserialize)]
pub struct SearchRequest {
    /// What to look for.
    pub query: String,
    /// Hits to return (default 5, at most 100).
    #[serde(default)]
    pub k: Option<usize>,
    /// `dense`, `bm25` or `hybrid` (the default).
    #[serde(default)]
    pub mode: Option<String>,
}

/// `POST /v1/search`.
pub async fn search(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<SearchRequest>,
) -> ApiResult<Json<Value>> {
    let index = state.index.clone().ok_or_else(|| {
        ApiError::not_found("this server has no search index (start it with --index FILE)")
    })?;
    let k = request.k.unwrap_or(5);
    if !(1..=100).contains(&k) {
        return Err(ApiError::invalid_param(
            "k",
            format!("k must be in 1..=100, got {k}"),
        ));
    }
    let mode: SearchMode = request
        .mode
        .as_deref()
        .unwrap_or("hybrid")
        .parse()
        .map_err(|e: crate::search::SearchError| ApiError::invalid_param("mode", e.to_string()))?;
    if request.query.trim().is_empty() {
        return Err(ApiError::invalid_param("query", "the query is empty"));
    }
    let query = request.query;
    let results = state
        .run(move || {
            let served = Arc::clone(&index);
            served
                .index
                .search(&query, k, mode, served.embedder.as_ref())
                .map_err(|e| ApiError::invalid(e.to_string()))
        })
        .await?;
    Ok(Json(
        json!({"object": "search.results", "hits": results.hits, "note": results.note}),
    ))
}
