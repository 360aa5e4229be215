//! The generative models a server has loaded, each under a name, with what the server needs to
//! check a request before a worker runs it: the tokenizer and chat template that count the
//! prompt's tokens, and the model's context length.

use std::path::Path;
use std::sync::Arc;

use loam_lm::{AutoModel, ChatTemplate};
use loam_text::{AnyTokenizer, Tokenizer};

use crate::provider::{ChatMessage, LocalProvider, Provider, render_chat, render_source};

use super::error::ApiError;

/// A generative model served under a name.
pub struct ServedModel {
    /// The name clients give as `model`.
    pub name: String,
    /// The model, behind the one provider interface.
    pub provider: Arc<dyn Provider>,
    tokenizer: AnyTokenizer,
    chat_template: Option<ChatTemplate>,
    context: usize,
    /// An encoder–decoder: a chat is its source ([`render_source`]).
    seq2seq: bool,
}

impl ServedModel {
    /// Serves `model` (a generative model loaded by [`AutoModel`]: a decoder, or an
    /// encoder–decoder whose prompts are its sources) as `name`.
    pub fn from_auto(name: impl Into<String>, model: AutoModel) -> crate::Result<Self> {
        let tokenizer = model.tokenizer.clone();
        // a second copy of the template counts prompts; the provider keeps the first
        let chat_template = ChatTemplate::from_dir(&model.dir)?;
        // an encoder–decoder's prompt is its source: as long as its encoder reads (T5's relative
        // positions have no limit, so only the server's own prompt limit applies)
        let seq2seq = model.seq2seq_lm().is_some();
        let context = match model.seq2seq_lm() {
            Some(m) => m.max_source_positions().map_or(usize::MAX, |l| l + 1),
            None => model.causal_lm()?.max_positions(),
        };
        let name = name.into();
        let provider = LocalProvider::from_auto(format!("local:{name}"), model)?;
        Ok(ServedModel {
            name,
            provider: Arc::new(provider),
            tokenizer,
            chat_template,
            context,
            seq2seq,
        })
    }

    /// Loads `model` (a folder or a hub id, as `--model` of the other commands) and serves it
    /// under the last component of its name.
    pub fn load(model: &str) -> crate::Result<Self> {
        let name = Path::new(model.trim_end_matches('/'))
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| model.to_string());
        let auto = AutoModel::load(model, &mut |line| eprintln!("fetch: {line}"))?;
        Self::from_auto(name, auto)
    }

    /// The same model behind another provider that wraps it (e.g. to measure or throttle it).
    pub fn map_provider(
        mut self,
        wrap: impl FnOnce(Arc<dyn Provider>) -> Arc<dyn Provider>,
    ) -> Self {
        self.provider = wrap(self.provider);
        self
    }

    /// The model's context length in tokens (an encoder–decoder's: one more than its source
    /// limit, so that the prompt limit is the source limit).
    pub fn context(&self) -> usize {
        self.context
    }

    /// Tokens of `prompt`.
    pub fn count(&self, prompt: &str) -> Result<usize, ApiError> {
        self.tokenizer
            .encode(prompt, false)
            .map(|ids| ids.len())
            .map_err(|e| {
                ApiError::invalid_param("prompt", format!("cannot tokenize the prompt: {e}"))
            })
    }

    /// Tokens of the conversation as the model will see it (its chat template, the plain
    /// `Role: text` format of a model without one, or an encoder–decoder's source).
    pub fn count_chat(&self, messages: &[ChatMessage]) -> Result<usize, ApiError> {
        let prompt = match &self.chat_template {
            Some(t) => {
                let turns: Vec<loam_lm::ChatMessage> = messages
                    .iter()
                    .map(|m| loam_lm::ChatMessage::new(m.role.name(), &m.content))
                    .collect();
                t.render(&turns, true).map_err(|e| {
                    ApiError::invalid_param("messages", format!("cannot render the chat: {e}"))
                })?
            }
            None if self.seq2seq => render_source(messages),
            None => render_chat(messages).0,
        };
        self.count(&prompt)
    }
}
