//! `POST /v1/chat/completions` and `POST /v1/completions`: read the body, then answer with the
//! model named.

use axum::extract::State;
use axum::response::Response;

use super::super::ASSISTANT_MODEL;
use super::super::api::{ChatRequest, CompletionRequest};
use super::super::body::JsonBody;
use super::super::error::ApiResult;
use super::super::state::AppState;
use super::{assistant, generate};

/// `POST /v1/chat/completions`.
pub async fn chat_completions(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<ChatRequest>,
) -> ApiResult<Response> {
    if request.model == ASSISTANT_MODEL {
        return assistant::chat_with_assistant(state, request).await;
    }
    generate::chat_with_model(state, request).await
}

/// `POST /v1/completions`.
pub async fn completions(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<CompletionRequest>,
) -> ApiResult<Response> {
    generate::completions(state, request).await
}
