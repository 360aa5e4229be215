//! Abstractive summaries: the prompt a provider is sent (English or Chinese by the document's
//! script, the word limit, the document itself), the provider's answer returned trimmed, clear
//! errors for empty input and empty answers, and the whole path on a real local model.

mod common;

use std::sync::Mutex;

use loam_apps::AppsError;
use loam_apps::provider::{ChatMessage, Completion, FinishReason, GenParams, LocalProvider, OnText, Provider, Result, Role};
use loam_apps::summarize::{abstractive, abstractive_prompt};

/// A provider that records the chat it is sent and answers with a fixed text.
struct Recorder {
    answer: String,
    seen: Mutex<Vec<ChatMessage>>,
}

impl Provider for Recorder {
    fn model_id(&self) -> String {
        "recorder".into()
    }
    fn embedding_model_id(&self) -> Result<String> {
        Ok("none".into())
    }
    fn embedding_dim(&self) -> Result<usize> {
        Ok(0)
    }
    fn embed(&self, _: &[&str]) -> Result<Vec<Vec<f32>>> {
        Ok(Vec::new())
    }
    fn complete_stream(&self, _: &str, _: &GenParams, _: OnText<'_>) -> Result<Completion> {
        unreachable!("summaries are asked for as a chat")
    }
    fn chat_stream(&self, messages: &[ChatMessage], _: &GenParams, on_text: OnText<'_>) -> Result<Completion> {
        *self.seen.lock().unwrap() = messages.to_vec();
        on_text(&self.answer);
        Ok(Completion { text: self.answer.clone(), finish_reason: FinishReason::Stop, usage: None })
    }
}

fn recorder(answer: &str) -> Recorder {
    Recorder { answer: answer.into(), seen: Mutex::new(Vec::new()) }
}

const DOC: &str = "Kestrel Goods opens a second store on Elm Street in May. The store sells tents and stoves.";

#[test]
fn the_provider_is_asked_with_the_document_and_its_answer_comes_back_trimmed() {
    let p = recorder("  A second Kestrel store opens on Elm Street in May.\n");
    let out = abstractive(&p, DOC, 25, &GenParams::default()).unwrap();
    assert_eq!(out.text, "A second Kestrel store opens on Elm Street in May.");
    let seen = p.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].role, Role::User);
    assert!(seen[0].content.contains("at most 25 words") && seen[0].content.ends_with(DOC), "{}", seen[0].content);
}

#[test]
fn chinese_documents_get_the_chinese_prompt() {
    let prompt = abstractive_prompt("本店五月在榆树街开设第二家门店。新店出售帐篷和炉具。", 30).unwrap();
    assert!(prompt.starts_with("请用不超过 60 个字概括"), "{prompt}");
    assert!(abstractive_prompt(DOC, 30).unwrap().starts_with("Summarize the following document in at most 30 words"));
}

#[test]
fn empty_input_and_empty_answers_are_clear_errors() {
    let err = abstractive(&recorder("x"), " \n ", 20, &GenParams::default()).unwrap_err();
    assert!(matches!(&err, AppsError::Input(m) if m == "the document is empty"), "{err:?}");
    let err = abstractive(&recorder("x"), DOC, 0, &GenParams::default()).unwrap_err();
    assert!(matches!(err, AppsError::Config(_)), "{err:?}");
    let err = abstractive(&recorder(" \n"), DOC, 20, &GenParams::default()).unwrap_err().to_string();
    assert_eq!(err, "the model `recorder` answered with an empty summary");
}

#[test]
fn a_local_llama_summarizes_through_its_chat_template() {
    let Some(dir) = common::fixture("tiny-llama", "a_local_llama_summarizes_through_its_chat_template") else { return };
    let p = LocalProvider::from_dir(&dir).unwrap();
    let params = GenParams { max_tokens: 12, temperature: 0.0, ..GenParams::default() };
    let out = abstractive(&p, DOC, 20, &params).unwrap();
    // the same request as a plain chat: the summary is the model's greedy answer to the prompt
    let chat = p.chat(&[ChatMessage::new(Role::User, abstractive_prompt(DOC, 20).unwrap())], &params).unwrap();
    assert_eq!(out.text, chat.text.trim());
    assert!(!out.text.is_empty());
    assert!(out.usage.unwrap().prompt_tokens > 20, "the document is in the prompt");
}
