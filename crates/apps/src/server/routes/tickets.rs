//! loam's own routes over the store: the handoff tickets (`GET /v1/tickets?status=open&limit=N`,
//! `GET /v1/tickets/{id}` by id or number), a conversation's turns
//! (`GET /v1/conversations/{id}`), and feedback (`POST /v1/conversations/{id}/feedback` with
//! `{"rating": "up" | "down" | 1..5, "turn": SEQ, "comment": "…"}`).

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::store::{Rating, TicketStatus};

use super::super::body::JsonBody;
use super::super::error::{ApiError, ApiResult};
use super::super::state::AppState;

/// The query of `GET /v1/tickets`.
#[derive(Debug, Deserialize)]
pub struct TicketQuery {
    /// `open`, `assigned` or `closed`; all when absent.
    pub status: Option<String>,
    /// At most this many, newest first (default 50, at most 500).
    pub limit: Option<u32>,
}

/// `GET /v1/tickets`.
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<TicketQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(query) =
        query.map_err(|e| ApiError::invalid(format!("the query string: {}", e.body_text())))?;
    let status = match query.status.as_deref() {
        None => None,
        Some(s) => Some(TicketStatus::parse(s).ok_or_else(|| {
            ApiError::invalid_param("status", format!("unknown ticket status {s:?}"))
        })?),
    };
    let limit = query.limit.unwrap_or(50);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::invalid_param(
            "limit",
            format!("limit must be in 1..=500, got {limit}"),
        ));
    }
    let tickets = state.store()?.tickets(status, limit).await?;
    Ok(Json(json!({"object": "list", "data": tickets})))
}

/// `GET /v1/tickets/{id}`: by id, or by its number.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let store = state.store()?;
    let ticket = match id.parse::<i64>() {
        Ok(number) => store.ticket_by_number(number).await?,
        Err(_) => store.ticket(&id).await?,
    };
    let ticket = ticket.ok_or_else(|| ApiError::not_found(format!("no ticket {id}")))?;
    Ok(Json(json!(ticket)))
}

/// `GET /v1/conversations/{id}`: the conversation and its turns.
pub async fn conversation(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let store = state.store()?;
    let conversation = store
        .conversation(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no conversation {id}")))?;
    let turns = store.turns(&id).await?;
    Ok(Json(json!({"conversation": conversation, "turns": turns})))
}

/// A rating as the feedback body gives it: `"up"`, `"down"` or 1 to 5 stars.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RatingIn {
    /// `up` or `down`.
    Word(String),
    /// Stars.
    Stars(u8),
}

/// The body of `POST /v1/conversations/{id}/feedback`.
#[derive(Debug, Deserialize)]
pub struct FeedbackRequest {
    /// The rating.
    pub rating: RatingIn,
    /// The turn rated (its sequence number), or the whole conversation.
    #[serde(default)]
    pub turn: Option<i64>,
    /// A comment.
    #[serde(default)]
    pub comment: Option<String>,
}

/// `POST /v1/conversations/{id}/feedback`.
pub async fn feedback(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<FeedbackRequest>,
) -> ApiResult<Json<Value>> {
    let rating = match request.rating {
        RatingIn::Word(w) => Rating::parse(&w),
        RatingIn::Stars(n) => Some(Rating::Stars(n)).filter(|_| (1..=5).contains(&n)),
    }
    .ok_or_else(|| {
        ApiError::invalid_param("rating", "rating must be \"up\", \"down\" or 1 to 5 stars")
    })?;
    let store = state.store()?;
    let saved = store
        .add_feedback(&id, request.turn, rating, request.comment.as_deref())
        .await?;
    Ok(Json(json!({"object": "feedback", "feedback": saved})))
}
