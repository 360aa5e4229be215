//! `GET /v1/models`, `/health`, `/ready`, `/metrics`, and the JSON answers of an unknown route
//! (404) and a wrong method (405).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::super::error::ApiError;
use super::super::state::AppState;
use super::super::stream::now_secs;

/// `GET /v1/models`: every model a client may name.
pub async fn models(State(state): State<AppState>) -> Json<Value> {
    let created = now_secs();
    let data: Vec<Value> = state
        .model_names()
        .into_iter()
        .map(|id| json!({"id": id, "object": "model", "created": created, "owned_by": "loam"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

/// `GET /health`: the process answers.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /ready`: 200 when the models are loaded, the workers are up and the database answers;
/// 503 with the reasons otherwise.
pub async fn ready(State(state): State<AppState>) -> Response {
    let mut problems: Vec<String> = Vec::new();
    if state.pool.workers() == 0 {
        problems.push("no inference workers".into());
    }
    let database = match &state.store {
        Some(store) => {
            if let Err(e) = store.ping().await {
                problems.push(format!("database: {e}"));
            }
            Value::String(store.backend().to_string())
        }
        None => Value::Null,
    };
    let body = json!({
        "status": if problems.is_empty() { "ready" } else { "not ready" },
        "models": state.model_names(),
        "database": database,
        "workers": state.pool.workers(),
        "queue_capacity": state.pool.capacity(),
        "problems": problems,
    });
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// `GET /metrics` in Prometheus' text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let text = state
        .metrics
        .render(state.pool.queued(), state.pool.running());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// Any route the server does not have: 404 in OpenAI's error shape.
pub async fn not_found(State(state): State<AppState>, uri: Uri) -> ApiError {
    state
        .metrics
        .record("unmatched", 404, std::time::Duration::ZERO);
    ApiError::not_found(format!("no route {}", uri.path()))
}

/// A route asked with a method it does not take: 405 in OpenAI's error shape.
pub async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::method_not_allowed(format!("{} does not take this method", uri.path()))
}
