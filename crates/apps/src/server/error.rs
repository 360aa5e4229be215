//! The server's errors, answered as OpenAI's error JSON:
//! `{"error": {"message", "type", "param", "code"}}` with a 4xx or 5xx status.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::provider::ProviderError;

/// A request that failed, with the status and the OpenAI error fields it is answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for a person.
    pub message: String,
    /// OpenAI's error type (`invalid_request_error`, `authentication_error`, …).
    pub kind: &'static str,
    /// The request field at fault, when one is.
    pub param: Option<String>,
    /// A short machine-readable code (`model_not_found`, `rate_limit_exceeded`, …).
    pub code: Option<&'static str>,
    /// Seconds after which the client may retry (429 and 503).
    pub retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// 400: the request is malformed or a field is invalid.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// 400 naming the field at fault.
    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        ApiError {
            param: Some(param.to_string()),
            ..Self::invalid(message)
        }
    }

    /// 401: no API key, or not a known one.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError {
            code: Some("invalid_api_key"),
            ..Self::new(StatusCode::UNAUTHORIZED, "authentication_error", message)
        }
    }

    /// 404: an unknown route or object.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError {
            code: Some("not_found"),
            ..Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
        }
    }

    /// 404 for a model the server has not loaded.
    pub fn unknown_model(model: &str, known: &[String]) -> Self {
        let message = format!(
            "the model {model:?} does not exist here; loaded: {}",
            known.join(", ")
        );
        ApiError {
            param: Some("model".into()),
            code: Some("model_not_found"),
            ..Self::new(StatusCode::NOT_FOUND, "invalid_request_error", message)
        }
    }

    /// 405: the route exists, not with this method.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            message,
        )
    }

    /// 413: the body is larger than the limit.
    pub fn too_large(limit: usize) -> Self {
        ApiError {
            code: Some("request_too_large"),
            ..Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                format!("the request body is over the limit of {limit} bytes"),
            )
        }
    }

    /// 429: the key's rate limit is spent; retry after `wait`.
    pub fn rate_limited(wait: Duration) -> Self {
        ApiError {
            code: Some("rate_limit_exceeded"),
            retry_after: Some(wait),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "too many requests for this API key; retry later",
            )
        }
    }

    /// 503: every worker is busy and the queue is full.
    pub fn overloaded(wait: Duration) -> Self {
        ApiError {
            code: Some("server_overloaded"),
            retry_after: Some(wait),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "the server is busy: every worker is taken and the queue is full",
            )
        }
    }

    /// 503 for a feature the server was started without (no index, no store).
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", message)
    }

    /// 500: the server failed.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// The error's JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}})
    }
}

impl From<ProviderError> for ApiError {
    /// A provider's configuration error (a bad temperature, a prompt the model cannot take) is
    /// the request's fault; anything else is the server's.
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Config(m) => ApiError::invalid(m),
            ProviderError::Unsupported { provider, what } => {
                ApiError::invalid(format!("{provider}: {what}"))
            }
            ProviderError::Model(loam_lm::LmError::Config(m)) => ApiError::invalid(m),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<crate::AppsError> for ApiError {
    /// Bad input and bad options are the request's fault; anything else is the server's.
    fn from(e: crate::AppsError) -> Self {
        match e {
            crate::AppsError::Input(m) | crate::AppsError::Config(m) => ApiError::invalid(m),
            crate::AppsError::Provider(p) => p.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    /// A missing row is a 404, input the store refuses a 400, anything else a 500.
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            e if e.is_not_found() => ApiError::not_found(e.to_string()),
            crate::store::StoreError::Invalid { message, .. } => ApiError::invalid(message),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(wait) = self.retry_after {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// The result type of the route handlers.
pub type ApiResult<T> = std::result::Result<T, ApiError>;
