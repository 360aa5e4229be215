//! Model providers: the one interface every app takes its models through. A [`Provider`] embeds
//! sentences and generates text (a prompt, or chat messages), whole or streamed piece by piece.
//! [`LocalProvider`] runs a loam model in this process; [`OpenAiProvider`] calls any
//! OpenAI-compatible HTTP endpoint, so a team can start on a hosted model and move to its own.
//!
//! The API is synchronous: a server calls providers on a bounded worker pool, never on its async
//! runtime's threads.

mod chat;
mod error;
mod local;
mod openai;
mod sse;

pub use chat::{ChatMessage, Role, render_chat, render_source};
pub use error::{ProviderError, Result};
pub use local::LocalProvider;
pub use openai::{DEFAULT_API_KEY_ENV, OpenAiConfig, OpenAiProvider};
pub use sse::SseEvents;

use serde::{Deserialize, Serialize};

/// How text is generated. Temperature 0 means greedy (the most likely token each step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GenParams {
    /// New tokens at most.
    pub max_tokens: usize,
    /// Sampling temperature (0: greedy).
    pub temperature: f32,
    /// Nucleus sampling: keep the smallest set of tokens whose probability adds up to p.
    pub top_p: Option<f32>,
    /// Generation ends before the first of these strings (which is not returned).
    pub stop: Vec<String>,
    /// Seed of the sampling draws, for repeatable output.
    pub seed: Option<u64>,
}

impl Default for GenParams {
    /// 256 tokens, temperature 0.7, no top-p, no stop strings, no seed.
    fn default() -> Self {
        GenParams { max_tokens: 256, temperature: 0.7, top_p: None, stop: Vec::new(), seed: None }
    }
}

impl GenParams {
    /// Refuses a temperature that is negative or not finite and a top-p outside (0, 1].
    pub fn validate(&self) -> Result<()> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(ProviderError::Config(format!("temperature must be a finite number ≥ 0, got {}", self.temperature)));
        }
        if let Some(p) = self.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
            return Err(ProviderError::Config(format!("top_p must be in (0, 1], got {p}")));
        }
        Ok(())
    }
}

/// Why generation ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its text, or a stop string came.
    Stop,
    /// `max_tokens` were produced.
    Length,
    /// The streaming callback asked to stop.
    Cancelled,
    /// Another reason a remote endpoint gave (e.g. `content_filter`).
    Other(String),
}

impl FinishReason {
    /// Reads OpenAI's `finish_reason` string.
    pub fn from_openai(reason: &str) -> FinishReason {
        match reason {
            "stop" => FinishReason::Stop,
            "length" => FinishReason::Length,
            other => FinishReason::Other(other.to_string()),
        }
    }
}

/// Tokens a request consumed, as the model counted them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt (the rendered chat for chat requests).
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
}

/// The text a model generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    /// The new text (cut before a stop string).
    pub text: String,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// Token counts; `None` when a remote endpoint did not report them.
    pub usage: Option<Usage>,
}

/// The streaming callback: receives each new piece of text; returning false cancels the request.
pub type OnText<'a> = &'a mut dyn FnMut(&str) -> bool;

/// One interface to a model: sentence embeddings and text generation.
pub trait Provider: Send + Sync {
    /// Who generates text: `local:<folder>` or `openai:<base url>#<model>`.
    fn model_id(&self) -> String;

    /// Who embeds sentences (an index built by one embedding model must not be searched with
    /// another's vectors).
    fn embedding_model_id(&self) -> Result<String>;

    /// The width of the embedding vectors.
    fn embedding_dim(&self) -> Result<usize>;

    /// One vector per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>>;

    /// Continues `prompt`, streaming each new piece of text to `on_text`.
    fn complete_stream(&self, prompt: &str, params: &GenParams, on_text: OnText<'_>) -> Result<Completion>;

    /// Answers a conversation, streaming each new piece of text to `on_text`.
    fn chat_stream(&self, messages: &[ChatMessage], params: &GenParams, on_text: OnText<'_>) -> Result<Completion>;

    /// A summary of `text` written the way the model was trained to write one, when it was: an
    /// encoder–decoder (T5, BART) given the document as its source, with the settings its
    /// config gives the `summarization` task. `None` when the model is asked by a prompt
    /// instead (the default).
    fn task_summary(&self, _text: &str, _params: &GenParams) -> Option<Result<Completion>> {
        None
    }

    /// Continues `prompt`.
    fn complete(&self, prompt: &str, params: &GenParams) -> Result<Completion> {
        self.complete_stream(prompt, params, &mut |_| true)
    }

    /// Answers a conversation.
    fn chat(&self, messages: &[ChatMessage], params: &GenParams) -> Result<Completion> {
        self.chat_stream(messages, params, &mut |_| true)
    }
}
