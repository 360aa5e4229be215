//! The OpenAI-compatible request bodies (`/v1/chat/completions`, `/v1/completions`,
//! `/v1/embeddings`) and their checks. Fields a client may send that loam does not use are
//! accepted and ignored, as OpenAI's own server does with unknown ones.

use serde::Deserialize;

use crate::provider::{ChatMessage, GenParams, Role};

use super::error::{ApiError, ApiResult};
use super::state::Limits;

/// A string or a list of strings (`stop`, `prompt`, `input`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One string.
    One(String),
    /// Several strings.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The strings, in order.
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A message's content: a string, or a list of parts of which only text parts are read.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Content parts (`{"type": "text", "text": …}`).
    Parts(Vec<ContentPart>),
}

/// One part of a message's content.
#[derive(Debug, Clone, Deserialize)]
pub struct ContentPart {
    /// The part's type; only `text` is supported.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a text part.
    #[serde(default)]
    pub text: Option<String>,
}

/// One message of `messages`.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageIn {
    /// `system`, `developer` (read as system), `user` or `assistant`.
    pub role: String,
    /// What it says (may be null for an assistant message).
    #[serde(default)]
    pub content: Option<Content>,
}

/// The sampling fields that chat and completion requests share.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Sampling {
    /// New tokens at most.
    pub max_tokens: Option<usize>,
    /// The newer name of `max_tokens` in chat requests.
    pub max_completion_tokens: Option<usize>,
    /// Sampling temperature in [0, 2].
    pub temperature: Option<f32>,
    /// Nucleus sampling mass in (0, 1].
    pub top_p: Option<f32>,
    /// Up to 4 stop strings.
    pub stop: Option<OneOrMany>,
    /// Seed of the sampling.
    pub seed: Option<u64>,
    /// Choices to generate; only 1 is supported.
    pub n: Option<u32>,
    /// Stream the answer as server-sent events.
    #[serde(default)]
    pub stream: bool,
}

impl Sampling {
    /// The generation parameters, checked against `limits` and OpenAI's ranges.
    pub fn params(&self, limits: &Limits) -> ApiResult<GenParams> {
        let max_tokens = self
            .max_completion_tokens
            .or(self.max_tokens)
            .unwrap_or(limits.default_max_tokens.min(limits.max_tokens));
        if max_tokens == 0 || max_tokens > limits.max_tokens {
            return Err(ApiError::invalid_param(
                "max_tokens",
                format!(
                    "max_tokens must be in 1..={}, got {max_tokens}",
                    limits.max_tokens
                ),
            ));
        }
        if let Some(n) = self.n.filter(|&n| n != 1) {
            return Err(ApiError::invalid_param(
                "n",
                format!("only n = 1 is supported, got {n}"),
            ));
        }
        let temperature = self.temperature.unwrap_or(GenParams::default().temperature);
        if !(0.0..=2.0).contains(&temperature) {
            return Err(ApiError::invalid_param(
                "temperature",
                format!("temperature must be in [0, 2], got {temperature}"),
            ));
        }
        if let Some(p) = self.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
            return Err(ApiError::invalid_param(
                "top_p",
                format!("top_p must be in (0, 1], got {p}"),
            ));
        }
        let stop = self
            .stop
            .clone()
            .map(OneOrMany::into_vec)
            .unwrap_or_default();
        if stop.len() > 4 || stop.iter().any(String::is_empty) {
            return Err(ApiError::invalid_param(
                "stop",
                "stop takes at most 4 non-empty strings",
            ));
        }
        Ok(GenParams {
            max_tokens,
            temperature,
            top_p: self.top_p,
            stop,
            seed: self.seed,
        })
    }
}

/// The body of `POST /v1/chat/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    /// `loam-assistant` or a loaded generative model.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<MessageIn>,
    /// How to generate.
    #[serde(flatten)]
    pub sampling: Sampling,
    /// loam's extension: the assistant's conversation to continue (a new one when absent).
    #[serde(default)]
    pub conversation_id: Option<String>,
}

impl ChatRequest {
    /// The messages as provider chat messages; a role other than system, developer, user and
    /// assistant, a non-text part or an empty list is a 400.
    pub fn chat_messages(&self) -> ApiResult<Vec<ChatMessage>> {
        if self.messages.is_empty() {
            return Err(ApiError::invalid_param(
                "messages",
                "messages must hold at least one message",
            ));
        }
        self.messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let role = match m.role.as_str() {
                    "system" | "developer" => Role::System,
                    "user" => Role::User,
                    "assistant" => Role::Assistant,
                    other => {
                        return Err(ApiError::invalid_param(
                            &format!("messages[{i}].role"),
                            format!("unsupported role {other:?}"),
                        ));
                    }
                };
                let content = match &m.content {
                    None => String::new(),
                    Some(Content::Text(t)) => t.clone(),
                    Some(Content::Parts(parts)) => {
                        let mut text = String::new();
                        for p in parts {
                            match (p.kind.as_str(), &p.text) {
                                ("text", Some(t)) => text.push_str(t),
                                (kind, _) => {
                                    return Err(ApiError::invalid_param(
                                        &format!("messages[{i}].content"),
                                        format!("unsupported content part {kind:?}: only text"),
                                    ));
                                }
                            }
                        }
                        text
                    }
                };
                Ok(ChatMessage::new(role, content))
            })
            .collect()
    }
}

/// The body of `POST /v1/completions`.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    /// A loaded generative model.
    pub model: String,
    /// The text to continue (one string, or a list of exactly one).
    pub prompt: OneOrMany,
    /// How to generate.
    #[serde(flatten)]
    pub sampling: Sampling,
}

impl CompletionRequest {
    /// The one prompt.
    pub fn the_prompt(&self) -> ApiResult<String> {
        match self.prompt.clone().into_vec().as_slice() {
            [one] => Ok(one.clone()),
            many => Err(ApiError::invalid_param(
                "prompt",
                format!("one prompt per request is supported, got {}", many.len()),
            )),
        }
    }
}

/// The body of `POST /v1/embeddings`.
#[derive(Debug, Clone, Deserialize)]
pub struct EmbeddingRequest {
    /// The embedding model.
    pub model: String,
    /// The texts.
    pub input: OneOrMany,
    /// `float` (the default and the only one supported).
    #[serde(default)]
    pub encoding_format: Option<String>,
}
