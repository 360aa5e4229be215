//! The JSON body of a request, read under the size limit and parsed in two steps, so that
//! malformed JSON and a well-formed body with wrong fields get distinct, precise 4xx errors.

use axum::body::{Body, to_bytes};
use axum::extract::{FromRef, FromRequest, Request};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::state::AppState;

/// A request body read as JSON into `T` (413 over the body limit, 400 when it is not JSON or
/// not the shape of `T`, naming the field).
pub struct JsonBody<T>(pub T);

/// Reads at most `limit` bytes of `body` and parses them as `T`.
pub async fn read_json<T: DeserializeOwned>(body: Body, limit: usize) -> Result<T, ApiError> {
    let bytes = to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::too_large(limit))?;
    parse_json(&bytes)
}

/// Parses `bytes` as `T`: first as JSON (an error gives line and column), then as `T` (an
/// error names the field and what was expected).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::invalid(
            "the request body is empty; a JSON object was expected",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid(format!("the request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::invalid("the request body must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ApiError::invalid_param(&path, format!("{path}: {}", e.into_inner()))
    })
}

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    AppState: FromRef<S>,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = AppState::from_ref(state).limits.max_body_bytes;
        read_json(req.into_body(), limit).await.map(JsonBody)
    }
}
