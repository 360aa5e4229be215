//! Abstractive summaries: a generative model, through any [`Provider`], asked by a prompt
//! template (`templates/abstractive.j2`, English or Chinese by the document's script) to
//! condense a document in its own words; a model trained to summarize (T5, BART) is given the
//! document as it was trained to take it instead.

use minijinja::{Environment, context};

use crate::error::{AppsError, Result};
use crate::provider::{ChatMessage, Completion, GenParams, Provider, Role};

/// The prompt template, compiled into the crate.
const PROMPT: &str = include_str!("templates/abstractive.j2");

/// Whether most of the letters of `text` are CJK ideographs.
fn is_chinese(text: &str) -> bool {
    let (mut cjk, mut letters) = (0usize, 0usize);
    for c in text.chars().filter(|c| c.is_alphabetic()) {
        letters += 1;
        if ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c) {
            cjk += 1;
        }
    }
    cjk * 2 > letters
}

/// The user message that asks for a summary of `text` in at most `max_words` words (twice as
/// many characters for Chinese).
pub fn abstractive_prompt(text: &str, max_words: usize) -> Result<String> {
    let mut env = Environment::new();
    env.add_template("abstractive", PROMPT).map_err(|e| AppsError::Config(format!("summary template: {e}")))?;
    env.get_template("abstractive")
        .and_then(|t| t.render(context! { text => text.trim(), max_words => max_words, chinese => is_chinese(text) }))
        .map_err(|e| AppsError::Config(format!("summary template: {e}")))
}

/// A summary of `text` written by the provider's model: the way it was trained to summarize
/// when it was ([`Provider::task_summary`]: T5, BART, in at most `params.max_tokens` tokens), or
/// else as a chat answer to [`abstractive_prompt`], in at most about `max_words` words. An
/// empty document, a zero length and an empty answer are errors.
pub fn abstractive(provider: &dyn Provider, text: &str, max_words: usize, params: &GenParams) -> Result<Completion> {
    if text.trim().is_empty() {
        return Err(AppsError::Input("the document is empty".into()));
    }
    if max_words == 0 {
        return Err(AppsError::Config("a summary of 0 words was asked for".into()));
    }
    let mut answer = match provider.task_summary(text, params) {
        Some(answer) => answer?,
        None => provider.chat(&[ChatMessage::new(Role::User, abstractive_prompt(text, max_words)?)], params)?,
    };
    answer.text = answer.text.trim().to_string();
    if answer.text.is_empty() {
        return Err(AppsError::Input(format!("the model `{}` answered with an empty summary", provider.model_id())));
    }
    Ok(answer)
}
