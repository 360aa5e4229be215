//! `POST /v1/chat/completions` with `"model": "loam-assistant"`: the customer-service
//! assistant over a conversation kept in the store. The conversation is loam's extension field
//! `conversation_id` (a new one when absent, returned in the body and the `X-Conversation-Id`
//! header); its history comes from the store, so any replica can continue it, and only the last
//! user message of `messages` is read. The assistant's safety layer checks the message (the
//! reply is the knowledge base's own answer, or a rewrite checked against it); personal data is
//! masked in what is stored, the shop's own contacts excepted. Both turns (and
//! the ticket of a handoff) are committed before the answer is sent. The answer carries loam's
//! extension `loam`: the outcome, the ticket of a handoff and the suggestions of a rephrase.

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::runtime::Handle;

use crate::assistant::{Assistant, Outcome, Reply, Turn};
use crate::provider::Role;
use crate::safety::Safety;
use crate::store::{NewTurn, Store};

use super::super::ASSISTANT_MODEL;
use super::super::api::ChatRequest;
use super::super::error::{ApiError, ApiResult};
use super::super::state::AppState;
use super::super::stream::{self, StreamSender, new_id, now_secs};
use super::generate::usage_json;

/// The header that carries the conversation's id.
pub const CONVERSATION_HEADER: &str = "x-conversation-id";

/// Everything a worker needs to answer one message.
struct Job {
    assistant: Arc<Assistant>,
    safety: Option<Arc<Safety>>,
    store: Store,
    conversation_id: String,
    message: String,
    runtime: Handle,
}

/// What the worker decided and stored.
struct Answered {
    text: String,
    pieces: Vec<String>,
    extension: Value,
    handoff: bool,
}

/// `POST /v1/chat/completions` for the assistant.
pub async fn chat_with_assistant(state: AppState, request: ChatRequest) -> ApiResult<Response> {
    let assistant = state
        .assistant
        .clone()
        .ok_or_else(|| ApiError::unknown_model(ASSISTANT_MODEL, &state.model_names()))?;
    let store = state.store()?.clone();
    let messages = request.chat_messages()?;
    let message = messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.trim().to_string())
        .unwrap_or_default();
    if message.is_empty() {
        return Err(ApiError::invalid_param(
            "messages",
            "the assistant needs a non-empty user message",
        ));
    }
    let conversation_id = match &request.conversation_id {
        Some(id) => {
            store
                .conversation(id)
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no conversation {id}")))?
                .id
        }
        None => store.create_conversation("api", &Value::Null).await?.id,
    };
    let job = Job {
        assistant,
        safety: state.safety.clone(),
        store,
        conversation_id: conversation_id.clone(),
        message,
        runtime: Handle::current(),
    };
    let header =
        HeaderValue::from_str(&conversation_id).map_err(|e| ApiError::internal(e.to_string()))?;
    let metrics = Arc::clone(&state.metrics);
    if request.sampling.stream {
        let (sender, mut response) = stream::channel();
        state.submit(move || {
            if stream_answer(&sender, &job).is_some_and(|a| a.handoff) {
                metrics.handoff();
            }
        })?;
        response
            .headers_mut()
            .insert(HeaderName::from_static(CONVERSATION_HEADER), header);
        return Ok(response);
    }
    let answered = state.run(move || answer(&job)).await?;
    if answered.handoff {
        metrics.handoff();
    }
    let body = json!({
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": now_secs(),
        "model": ASSISTANT_MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answered.text}, "finish_reason": "stop", "logprobs": null}],
        "usage": usage_json(0, 0),
        "conversation_id": conversation_id,
        "loam": answered.extension,
    });
    let mut response = Json(body).into_response();
    response
        .headers_mut()
        .insert(HeaderName::from_static(CONVERSATION_HEADER), header);
    Ok(response)
}

/// Answers on this worker and streams the stored answer; `None` when it failed (the error is
/// sent in the stream).
fn stream_answer(sender: &StreamSender, job: &Job) -> Option<Answered> {
    let id = new_id("chatcmpl");
    let created = now_secs();
    let chunk = |delta: Value, reason: Option<&str>| {
        json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": ASSISTANT_MODEL,
               "conversation_id": job.conversation_id,
               "choices": [{"index": 0, "delta": delta, "finish_reason": reason, "logprobs": null}]})
    };
    let answered = match answer(job) {
        Ok(a) => a,
        Err(e) => {
            if sender.send_json(&e.body()) {
                sender.done();
            }
            return None;
        }
    };
    if !sender.send_json(&chunk(json!({"role": "assistant", "content": ""}), None)) {
        return Some(answered);
    }
    for piece in &answered.pieces {
        if !sender.send_json(&chunk(json!({"content": piece}), None)) {
            return Some(answered);
        }
    }
    let mut last = chunk(json!({}), Some("stop"));
    last["loam"] = answered.extension.clone();
    if sender.send_json(&last) {
        sender.done();
    }
    Some(answered)
}

/// Decides the reply to the job's message, and stores both turns (and a ticket on handoff).
fn answer(job: &Job) -> ApiResult<Answered> {
    let store = &job.store;
    let records = job.runtime.block_on(store.turns(&job.conversation_id))?;
    let history: Vec<Turn> = records
        .into_iter()
        .map(|r| Turn {
            role: r.role,
            text: r.text,
            outcome: r.outcome.and_then(|o| serde_json::from_value(o).ok()),
        })
        .collect();
    let mut pieces = Vec::new();
    let Reply { text, outcome, .. } = job
        .assistant
        .reply_stream(&history, &job.message, &mut |p| {
            pieces.push(p.to_string());
            true
        })
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    // the assistant's own layer allows its knowledge base's contacts; a server-wide one otherwise
    let safety = job.assistant.safety().or_else(|| job.safety.clone());
    let mask = |t: &str| {
        safety
            .as_ref()
            .map_or_else(|| t.to_string(), |s| s.mask_pii(t).text)
    };
    let outcome_json =
        serde_json::to_value(&outcome).map_err(|e| ApiError::internal(e.to_string()))?;
    job.runtime.block_on(store.append_turn(
        &job.conversation_id,
        &NewTurn::new(Role::User, mask(&job.message)),
    ))?;
    job.runtime.block_on(store.append_turn(
        &job.conversation_id,
        &NewTurn::new(Role::Assistant, mask(&text)).with_outcome(outcome_json.clone()),
    ))?;
    let mut ticket = Value::Null;
    let mut suggestions: Vec<String> = Vec::new();
    match &outcome {
        Outcome::Handoff { reason } => {
            let reason =
                serde_json::to_string(reason).map_err(|e| ApiError::internal(e.to_string()))?;
            let t = job
                .runtime
                .block_on(store.create_ticket(&job.conversation_id, &reason))?;
            ticket = json!({"id": t.id, "number": t.number});
        }
        Outcome::Rephrase { suggestions: s } => suggestions = s.clone(),
        _ => {}
    }
    let handoff = !ticket.is_null();
    let extension = json!({
        "outcome": outcome_json,
        "ticket_id": ticket.get("number").cloned().unwrap_or(Value::Null),
        "ticket": ticket,
        "suggestions": suggestions,
    });
    Ok(Answered {
        text,
        pieces,
        extension,
        handoff,
    })
}
