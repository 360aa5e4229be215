//! `POST /v1/embeddings`: sentence vectors from the server's encoder (all-MiniLM-L6-v2 by
//! default), computed on a worker; as JSON numbers, or with `"encoding_format": "base64"` (what
//! OpenAI's Python client asks for by default) as the base64 of the little-endian f32 bytes.

use std::sync::Arc;

use axum::Json;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::super::api::EmbeddingRequest;
use super::super::body::JsonBody;
use super::super::error::{ApiError, ApiResult};
use super::super::state::AppState;

/// `POST /v1/embeddings`.
pub async fn embeddings(
    axum::extract::State(state): axum::extract::State<AppState>,
    JsonBody(request): JsonBody<EmbeddingRequest>,
) -> ApiResult<Json<Value>> {
    let Some((name, provider)) = state.embedder.clone() else {
        return Err(ApiError::unknown_model(
            &request.model,
            &state.model_names(),
        ));
    };
    if request.model != name {
        return Err(ApiError::unknown_model(&request.model, &[name]));
    }
    let base64 = match request.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(format) => {
            return Err(ApiError::invalid_param(
                "encoding_format",
                format!("\"float\" or \"base64\", got {format:?}"),
            ));
        }
    };
    let texts = request.input.into_vec();
    if texts.is_empty() || texts.len() > state.limits.max_inputs {
        return Err(ApiError::invalid_param(
            "input",
            format!(
                "input takes 1..={} texts, got {}",
                state.limits.max_inputs,
                texts.len()
            ),
        ));
    }
    if let Some(i) = texts.iter().position(|t| t.trim().is_empty()) {
        return Err(ApiError::invalid_param(
            &format!("input[{i}]"),
            "an input text is empty",
        ));
    }
    let job_provider = Arc::clone(&provider);
    let job_texts = texts.clone();
    let vectors = state
        .run(move || {
            let refs: Vec<&str> = job_texts.iter().map(String::as_str).collect();
            Ok(job_provider.embed(&refs)?)
        })
        .await?;
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Value::String(STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": i, "embedding": embedding})
        })
        .collect();
    // the encoder's word pieces are not exposed: words stand in for tokens in `usage`
    let words: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
    Ok(Json(
        json!({"object": "list", "data": data, "model": name, "usage": {"prompt_tokens": words, "total_tokens": words}}),
    ))
}
