//! `POST /v1/chat/completions` with a loaded generative model, and `POST /v1/completions`:
//! checked here, generated on a worker, answered whole or streamed.

use std::sync::Arc;

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::provider::{ChatMessage, Completion, GenParams, OnText, Provider};

use super::super::api::{ChatRequest, CompletionRequest};
use super::super::error::{ApiError, ApiResult};
use super::super::state::AppState;
use super::super::stream::{self, StreamSender, finish_reason, new_id, now_secs};

/// What a request generates: a chat answer or a continuation.
enum Task {
    Chat(Vec<ChatMessage>),
    Complete(String),
}

impl Task {
    fn run(
        &self,
        provider: &dyn Provider,
        params: &GenParams,
        on_text: OnText<'_>,
    ) -> Result<Completion, ApiError> {
        Ok(match self {
            Task::Chat(m) => provider.chat_stream(m, params, on_text)?,
            Task::Complete(p) => provider.complete_stream(p, params, on_text)?,
        })
    }

    /// The OpenAI object names of the whole answer and of a streamed chunk, and the id prefix.
    fn names(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            Task::Chat(_) => ("chat.completion", "chat.completion.chunk", "chatcmpl"),
            Task::Complete(_) => ("text_completion", "text_completion", "cmpl"),
        }
    }

    /// One choice carrying `text` (a message, a delta or a completion's text).
    fn choice(&self, text: &str, streamed: bool, reason: Option<String>) -> Value {
        match (self, streamed) {
            (Task::Chat(_), false) => {
                json!({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reason, "logprobs": null})
            }
            (Task::Chat(_), true) if reason.is_some() => {
                json!({"index": 0, "delta": {}, "finish_reason": reason, "logprobs": null})
            }
            (Task::Chat(_), true) => {
                json!({"index": 0, "delta": {"content": text}, "finish_reason": null, "logprobs": null})
            }
            (Task::Complete(_), _) => {
                json!({"index": 0, "text": text, "finish_reason": reason, "logprobs": null})
            }
        }
    }
}

/// `POST /v1/chat/completions` for a generative model (the assistant is answered elsewhere).
pub async fn chat_with_model(state: AppState, request: ChatRequest) -> ApiResult<Response> {
    let model = state.model(&request.model)?;
    let messages = request.chat_messages()?;
    let prompt_tokens = model.count_chat(&messages)?;
    generate(
        state.clone(),
        request.model.clone(),
        Task::Chat(messages),
        prompt_tokens,
        &request.sampling,
    )
    .await
}

/// `POST /v1/completions`.
pub async fn completions(state: AppState, request: CompletionRequest) -> ApiResult<Response> {
    let model = state.model(&request.model)?;
    let prompt = request.the_prompt()?;
    if prompt.is_empty() {
        return Err(ApiError::invalid_param("prompt", "the prompt is empty"));
    }
    let prompt_tokens = model.count(&prompt)?;
    generate(
        state.clone(),
        request.model.clone(),
        Task::Complete(prompt),
        prompt_tokens,
        &request.sampling,
    )
    .await
}

/// Checks the prompt's length and the parameters, then generates on a worker.
async fn generate(
    state: AppState,
    name: String,
    task: Task,
    prompt_tokens: usize,
    sampling: &super::super::api::Sampling,
) -> ApiResult<Response> {
    let params = sampling.params(&state.limits)?;
    let model = state.model(&name)?;
    let limit = state
        .limits
        .max_prompt_tokens
        .min(model.context().saturating_sub(1));
    if prompt_tokens > limit {
        let param = if matches!(task, Task::Chat(_)) {
            "messages"
        } else {
            "prompt"
        };
        return Err(ApiError::invalid_param(
            param,
            format!(
                "the prompt is {prompt_tokens} tokens, over the limit of {limit} for model {name:?}"
            ),
        ));
    }
    let provider = Arc::clone(&model.provider);
    if sampling.stream {
        let (sender, response) = stream::channel();
        let metrics = Arc::clone(&state.metrics);
        state.submit(move || {
            let tokens = stream_task(&sender, provider.as_ref(), &name, &task, &params);
            metrics.tokens_generated(tokens);
        })?;
        return Ok(response);
    }
    let metrics = Arc::clone(&state.metrics);
    let task = Arc::new(task);
    let job_task = Arc::clone(&task);
    let completion = state
        .run(move || job_task.run(provider.as_ref(), &params, &mut |_| true))
        .await?;
    let usage = completion.usage.unwrap_or_default();
    metrics.tokens_generated(usage.completion_tokens);
    let (object, _, prefix) = task.names();
    let body = json!({
        "id": new_id(prefix),
        "object": object,
        "created": now_secs(),
        "model": name,
        "choices": [task.choice(&completion.text, false, Some(finish_reason(&completion.finish_reason)))],
        "usage": usage_json(usage.prompt_tokens, usage.completion_tokens),
    });
    Ok(Json(body).into_response())
}

/// Runs `task` on this worker, streaming chunks to `sender`; returns the tokens generated.
fn stream_task(
    sender: &StreamSender,
    provider: &dyn Provider,
    name: &str,
    task: &Task,
    params: &GenParams,
) -> usize {
    let (_, object, prefix) = task.names();
    let id = new_id(prefix);
    let created = now_secs();
    let chunk = |choice: Value| json!({"id": id, "object": object, "created": created, "model": name, "choices": [choice]});
    if matches!(task, Task::Chat(_)) {
        let first = json!({"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null, "logprobs": null});
        if !sender.send_json(&chunk(first)) {
            return 0;
        }
    }
    let outcome = task.run(provider, params, &mut |piece| {
        sender.send_json(&chunk(task.choice(piece, true, None)))
    });
    match outcome {
        Ok(c) => {
            let usage = c.usage.unwrap_or_default();
            let mut last = chunk(task.choice("", true, Some(finish_reason(&c.finish_reason))));
            last["usage"] = usage_json(usage.prompt_tokens, usage.completion_tokens);
            if sender.send_json(&last) {
                sender.done();
            }
            usage.completion_tokens
        }
        Err(e) => {
            // the status line is sent already: the error goes in the stream, as OpenAI does
            if sender.send_json(&e.body()) {
                sender.done();
            }
            0
        }
    }
}

/// OpenAI's `usage` object.
pub fn usage_json(prompt: usize, completion: usize) -> Value {
    json!({"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion})
}
