//! A provider over an OpenAI-compatible HTTP endpoint (OpenAI, vLLM, llama.cpp's server, loam's
//! own server): `/v1/chat/completions` (whole or streamed as server-sent events),
//! `/v1/completions` and `/v1/embeddings`.

use std::io::{BufReader, Read};
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::chat::ChatMessage;
use super::error::{ProviderError, Result, excerpt};
use super::sse::SseEvents;
use super::{Completion, FinishReason, GenParams, OnText, Provider, Usage};

/// The environment variable the API key is read from unless configured otherwise.
pub const DEFAULT_API_KEY_ENV: &str = "OPENAI_API_KEY";

/// Where and how to reach an OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiConfig {
    /// The server, e.g. `https://api.openai.com` (a trailing `/v1` is accepted and ignored).
    pub base_url: String,
    /// The model that generates text.
    pub model: String,
    /// The model that embeds (default: `model`).
    pub embedding_model: Option<String>,
    /// The NAME of the environment variable holding the API key (default `OPENAI_API_KEY`);
    /// when it is unset, requests go without an `Authorization` header.
    pub api_key_env: String,
    /// The longest a whole request may take, the streamed answer included (default 60 s).
    pub timeout: Duration,
}

impl OpenAiConfig {
    /// A config with the defaults: key from `OPENAI_API_KEY`, 60 s timeout.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> Self {
        OpenAiConfig {
            base_url: base_url.into(),
            model: model.into(),
            embedding_model: None,
            api_key_env: DEFAULT_API_KEY_ENV.to_string(),
            timeout: Duration::from_secs(60),
        }
    }
}

/// An OpenAI-compatible endpoint.
pub struct OpenAiProvider {
    config: OpenAiConfig,
    base: String,
    client: Client,
    api_key: Option<String>,
    dim: OnceLock<usize>,
}

/// `choices[]` of a completion or chat completion (and of their streamed chunks).
#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    delta: Option<Message>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    finish_reason: Option<String>,
}

/// `message` or `delta` of a choice.
#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
}

impl Choice {
    /// The text of a chat message, a chat delta or a completion.
    fn content(self) -> Option<String> {
        self.message.or(self.delta).and_then(|m| m.content).or(self.text)
    }
}

/// The body of a completion, a chat completion or one streamed chunk.
#[derive(Deserialize)]
struct CompletionBody {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

/// The body of an embeddings answer.
#[derive(Deserialize)]
struct EmbeddingsBody {
    data: Vec<EmbeddingItem>,
}

/// One vector of an embeddings answer.
#[derive(Deserialize)]
struct EmbeddingItem {
    embedding: Vec<f32>,
    index: usize,
}

/// Parses `text` as `T`, or says what is wrong with it.
fn parse<T: serde::de::DeserializeOwned>(url: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| ProviderError::Malformed { url: url.to_string(), message: e.to_string(), excerpt: excerpt(text) })
}

/// OpenAI's `{"error": {"message": …}}`, when `body` is that.
fn error_message(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let e = v.get("error")?;
    Some(e.get("message").and_then(Value::as_str).map(String::from).unwrap_or_else(|| e.to_string()))
}

impl OpenAiProvider {
    /// A provider for `config`; reads the API key from the variable `config.api_key_env` now.
    pub fn new(config: OpenAiConfig) -> Result<Self> {
        if config.model.trim().is_empty() {
            return Err(ProviderError::Config("the OpenAI-compatible provider needs a model name".into()));
        }
        let base = config.base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base).to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ProviderError::Config(format!("base URL {:?} must start with http:// or https://", config.base_url)));
        }
        let client = Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| ProviderError::Config(format!("cannot build the HTTP client: {e}")))?;
        let api_key = std::env::var(&config.api_key_env).ok().filter(|k| !k.is_empty());
        Ok(OpenAiProvider { config, base, client, api_key, dim: OnceLock::new() })
    }

    /// The provider's config.
    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    fn embedding_model(&self) -> &str {
        self.config.embedding_model.as_deref().unwrap_or(&self.config.model)
    }

    /// A transport error of `url` as a [`ProviderError`].
    fn transport(&self, url: &str, e: reqwest::Error) -> ProviderError {
        if e.is_timeout() {
            ProviderError::Timeout { url: url.to_string(), after: self.config.timeout }
        } else {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message = format!("{message}: {s}");
                source = s.source();
            }
            ProviderError::Transport { url: url.to_string(), message }
        }
    }

    /// A read error of a response body as a [`ProviderError`].
    fn read_error(&self, url: &str, e: std::io::Error) -> ProviderError {
        let timed_out = e.kind() == std::io::ErrorKind::TimedOut
            || e.get_ref().and_then(|inner| inner.downcast_ref::<reqwest::Error>()).is_some_and(reqwest::Error::is_timeout);
        if timed_out {
            ProviderError::Timeout { url: url.to_string(), after: self.config.timeout }
        } else {
            ProviderError::Transport { url: url.to_string(), message: format!("reading the answer: {e}") }
        }
    }

    /// POSTs `body` to `path`; an error status becomes [`ProviderError::Http`].
    fn post(&self, path: &str, body: &Value) -> Result<(String, Response)> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.post(&url).json(body);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().map_err(|e| self.transport(&url, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok((url, response));
        }
        let body = self.read_text(&url, response)?;
        let mut message = error_message(&body).unwrap_or_else(|| excerpt(&body));
        if status.as_u16() == 401 && self.api_key.is_none() {
            message.push_str(&format!(" (no API key was sent: ${} is not set)", self.config.api_key_env));
        }
        Err(ProviderError::Http { url, status: status.as_u16(), message })
    }

    fn read_text(&self, url: &str, mut response: Response) -> Result<String> {
        let mut bytes = Vec::new();
        response.read_to_end(&mut bytes).map_err(|e| self.read_error(url, e))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The JSON body of a request: model, generation parameters and `extra` fields.
    fn body(&self, params: &GenParams, stream: bool, extra: Value) -> Result<Value> {
        params.validate()?;
        let mut body = json!({
            "model": self.config.model,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "stream": stream,
        });
        if let Some(p) = params.top_p {
            body["top_p"] = json!(p);
        }
        if !params.stop.is_empty() {
            body["stop"] = json!(params.stop);
        }
        if let Some(seed) = params.seed {
            body["seed"] = json!(seed);
        }
        if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
            b.extend(extra);
        }
        Ok(body)
    }

    /// A whole (not streamed) completion or chat completion.
    fn request(&self, path: &str, body: &Value) -> Result<Completion> {
        let (url, response) = self.post(path, body)?;
        let text = self.read_text(&url, response)?;
        let parsed: CompletionBody = parse(&url, &text)?;
        let Some(choice) = parsed.choices.into_iter().next() else {
            return Err(ProviderError::Malformed { url, message: "`choices` is empty".into(), excerpt: excerpt(&text) });
        };
        let finish_reason = FinishReason::from_openai(choice.finish_reason.as_deref().unwrap_or("stop"));
        let Some(content) = choice.content() else {
            return Err(ProviderError::Malformed { url, message: "the first choice has no text".into(), excerpt: excerpt(&text) });
        };
        Ok(Completion { text: content, finish_reason, usage: parsed.usage })
    }

    /// A streamed completion or chat completion: server-sent chunks ending in `data: [DONE]`.
    fn request_stream(&self, path: &str, body: &Value, on_text: OnText<'_>) -> Result<Completion> {
        let (url, response) = self.post(path, body)?;
        let mut text = String::new();
        let mut finish_reason = FinishReason::Stop;
        let mut usage = None;
        for event in SseEvents::new(BufReader::new(response)) {
            let data = event.map_err(|e| self.read_error(&url, e))?;
            if data.trim() == "[DONE]" {
                return Ok(Completion { text, finish_reason, usage });
            }
            if let Some(message) = error_message(&data) {
                return Err(ProviderError::Stream { url, message });
            }
            let chunk: CompletionBody = parse(&url, &data)?;
            usage = chunk.usage.or(usage);
            for choice in chunk.choices {
                if let Some(reason) = &choice.finish_reason {
                    finish_reason = FinishReason::from_openai(reason);
                }
                if let Some(piece) = choice.content().filter(|p| !p.is_empty()) {
                    text.push_str(&piece);
                    if !on_text(&piece) {
                        return Ok(Completion { text, finish_reason: FinishReason::Cancelled, usage });
                    }
                }
            }
        }
        Err(ProviderError::Malformed { url, message: "the stream ended before `data: [DONE]`".into(), excerpt: excerpt(&text) })
    }
}

impl Provider for OpenAiProvider {
    fn model_id(&self) -> String {
        format!("openai:{}#{}", self.base, self.config.model)
    }

    fn embedding_model_id(&self) -> Result<String> {
        Ok(format!("openai:{}#{}", self.base, self.embedding_model()))
    }

    /// Asks the endpoint once (embedding a short text) and remembers the answer.
    fn embedding_dim(&self) -> Result<usize> {
        if let Some(&d) = self.dim.get() {
            return Ok(d);
        }
        let d = self.embed(&["dimension probe"])?[0].len();
        Ok(*self.dim.get_or_init(|| d))
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (url, response) = self.post("/v1/embeddings", &json!({ "model": self.embedding_model(), "input": texts }))?;
        let text = self.read_text(&url, response)?;
        let mut parsed: EmbeddingsBody = parse(&url, &text)?;
        parsed.data.sort_by_key(|item| item.index);
        let bad = |message: String| ProviderError::Malformed { url: url.clone(), message, excerpt: excerpt(&text) };
        if parsed.data.len() != texts.len() || parsed.data.iter().enumerate().any(|(i, item)| item.index != i) {
            return Err(bad(format!("{} texts were sent but the answer holds vectors for indexes {:?}", texts.len(), parsed.data.iter().map(|i| i.index).collect::<Vec<_>>())));
        }
        let dim = parsed.data[0].embedding.len();
        if dim == 0 || parsed.data.iter().any(|item| item.embedding.len() != dim) {
            return Err(bad("the vectors are empty or of different lengths".into()));
        }
        Ok(parsed.data.into_iter().map(|item| item.embedding).collect())
    }

    /// `/v1/completions` with `stream: true`.
    fn complete_stream(&self, prompt: &str, params: &GenParams, on_text: OnText<'_>) -> Result<Completion> {
        let body = self.body(params, true, json!({ "prompt": prompt }))?;
        self.request_stream("/v1/completions", &body, on_text)
    }

    /// `/v1/chat/completions` with `stream: true`.
    fn chat_stream(&self, messages: &[ChatMessage], params: &GenParams, on_text: OnText<'_>) -> Result<Completion> {
        let body = self.body(params, true, json!({ "messages": messages }))?;
        self.request_stream("/v1/chat/completions", &body, on_text)
    }

    /// `/v1/completions`.
    fn complete(&self, prompt: &str, params: &GenParams) -> Result<Completion> {
        let body = self.body(params, false, json!({ "prompt": prompt }))?;
        self.request("/v1/completions", &body)
    }

    /// `/v1/chat/completions`.
    fn chat(&self, messages: &[ChatMessage], params: &GenParams) -> Result<Completion> {
        let body = self.body(params, false, json!({ "messages": messages }))?;
        self.request("/v1/chat/completions", &body)
    }
}
