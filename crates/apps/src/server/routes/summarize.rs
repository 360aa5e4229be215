//! `POST /v1/summarize`: an extractive summary (TextRank over TF-IDF, English or Chinese), or
//! an abstractive one by a loaded generative model when `model` is given.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::summarize::{Length, Summarizer, abstractive};

use super::super::api::Sampling;
use super::super::body::JsonBody;
use super::super::error::{ApiError, ApiResult};
use super::super::state::AppState;

/// The body of `POST /v1/summarize`.
#[derive(Debug, Deserialize)]
pub struct SummarizeRequest {
    /// The document.
    pub text: String,
    /// Sentences to keep (extractive; default 3).
    #[serde(default)]
    pub sentences: Option<usize>,
    /// Fraction of the sentences to keep, in (0, 1] (extractive; instead of `sentences`).
    #[serde(default)]
    pub ratio: Option<f64>,
    /// A loaded generative model: an abstractive summary instead.
    #[serde(default)]
    pub model: Option<String>,
    /// The abstractive summary's length in words at most (default 60).
    #[serde(default)]
    pub max_words: Option<usize>,
    /// How the abstractive summary is generated.
    #[serde(flatten)]
    pub sampling: Sampling,
}

/// `POST /v1/summarize`.
pub async fn summarize(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<SummarizeRequest>,
) -> ApiResult<Json<Value>> {
    if request.text.trim().is_empty() {
        return Err(ApiError::invalid_param("text", "the text is empty"));
    }
    if let Some(name) = &request.model {
        let model = state.model(name)?;
        let provider = Arc::clone(&model.provider);
        let mut params = request.sampling.params(&state.limits)?;
        if request.sampling.temperature.is_none() {
            params.temperature = 0.0;
        }
        let max_words = request.max_words.unwrap_or(60);
        if max_words == 0 {
            return Err(ApiError::invalid_param(
                "max_words",
                "max_words must be at least 1",
            ));
        }
        let (text, name) = (request.text, name.clone());
        let completion = state
            .run(move || Ok(abstractive(provider.as_ref(), &text, max_words, &params)?))
            .await?;
        state
            .metrics
            .tokens_generated(completion.usage.map(|u| u.completion_tokens).unwrap_or(0));
        return Ok(Json(
            json!({"object": "summary", "method": "abstractive", "model": name, "summary": completion.text.trim()}),
        ));
    }
    let length = match (request.sentences, request.ratio) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("give sentences or ratio, not both")),
        (_, Some(r)) => Length::Ratio(r),
        (n, None) => Length::Sentences(n.unwrap_or(3)),
    };
    let text = request.text;
    let summary = state
        .run(move || Ok(Summarizer::tfidf().summarize(&text, length)?))
        .await?;
    let sentences: Vec<Value> = summary
        .sentences
        .iter()
        .map(|s| json!({"index": s.index, "text": s.text, "score": s.score}))
        .collect();
    Ok(Json(json!({
        "object": "summary",
        "method": summary.method.name(),
        "summary": summary.text(),
        "sentences": sentences,
        "total_sentences": summary.total_sentences,
    })))
}
