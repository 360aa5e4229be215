//! The conversation behind `cargo xtask chat`, on the tiny GPT-2 fixture given the tiny-llama
//! fixture's chat template: each reply is the greedy continuation of the rendered
//! conversation, the conversation is kept across turns and reset, and a reply ends at the
//! template's end-of-turn token and at `generation_config.json`'s EOS ids.

mod hf_common;

use std::path::{Path, PathBuf};

use loam_lm::{AutoModel, Chat, ChatMessage, FinishReason, GenerationConfig, generate_ids};
use loam_text::Tokenizer;

/// The tiny GPT-2 fixture with a chat template and `tokenizer_config.json` holding `extra`.
fn chat_model(name: &str, fixtures: &Path, extra: serde_json::Value) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-chat-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "generation_config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(fixtures.join("tiny-gpt2").join(file), dir.join(file)).unwrap();
    }
    std::fs::copy(fixtures.join("tiny-llama/chat_template.jinja"), dir.join("chat_template.jinja")).unwrap();
    std::fs::write(dir.join("tokenizer_config.json"), extra.to_string()).unwrap();
    dir
}

fn greedy(n: usize) -> GenerationConfig {
    GenerationConfig { max_new_tokens: n, ..GenerationConfig::default() }
}

/// The greedy ids after `prompt` with no stop tokens.
fn continuation(model: &AutoModel, prompt: &str, n: usize) -> Vec<u32> {
    let ids: Vec<usize> = model.tokenizer.encode(prompt, false).unwrap().into_iter().map(|i| i as usize).collect();
    let (out, _) = generate_ids(model.causal_lm().unwrap(), &ids, &greedy(n), true, &mut |_| true).unwrap();
    out.into_iter().map(|i| i as u32).collect()
}

#[test]
fn a_conversation_is_kept_across_turns_and_reset() {
    let Some(fixtures) = hf_common::fixtures("chat turns") else { return };
    let dir = chat_model("turns", &fixtures, serde_json::json!({ "eos_token": "<|im_end|>" }));
    let model = AutoModel::from_dir(&dir).unwrap();
    let mut chat = Chat::new(&model, Some("Be brief."), greedy(6)).unwrap();
    let first_prompt = prompt_after(&model, &chat, "Hi");
    let mut streamed = String::new();
    let first = chat.say("Hi", &mut |piece| streamed.push_str(piece)).unwrap();
    assert_eq!(first.ids, continuation(&model, &first_prompt, 6));
    assert_eq!(streamed, first.text, "the reply streams as it is generated");
    assert_eq!(chat.messages.len(), 3);
    assert_eq!(chat.messages[2], ChatMessage::new("assistant", &first.text));

    let second = chat.say("And then?", &mut |_| {}).unwrap();
    assert_eq!(chat.messages.len(), 5);
    let prompt = model.chat_template.as_ref().unwrap().render(&chat.messages[..4], true).unwrap();
    assert!(prompt.contains(&format!("assistant\n{}<|im_end|>", first.text)), "the first reply is in the second prompt");
    assert_eq!(second.ids, continuation(&model, &prompt, 6));

    chat.reset();
    assert_eq!(chat.messages, vec![ChatMessage::new("system", "Be brief.")]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reply_ends_at_the_end_of_turn_token_and_the_eos_ids() {
    let Some(fixtures) = hf_common::fixtures("chat stops") else { return };
    let dir = chat_model("stops", &fixtures, serde_json::json!({}));
    let model = AutoModel::from_dir(&dir).unwrap();
    let prompt = prompt_after(&model, &Chat::new(&model, None, greedy(6)).unwrap(), "First Citizen: hear me speak.");
    let free = continuation(&model, &prompt, 12);
    let said = "First Citizen: hear me speak.";
    let reply = Chat::new(&model, None, greedy(12)).unwrap().say(said, &mut |_| {}).unwrap();
    assert_eq!((reply.ids.as_slice(), reply.finish_reason), (free.as_slice(), FinishReason::Length));

    // the template's eos_token (as a `{content: …}` object) is the first token the model writes
    let eot = model.tokenizer.id_to_token(free[0]).unwrap();
    let dir = chat_model("stops-eot", &fixtures, serde_json::json!({ "eos_token": { "content": eot } }));
    let model = AutoModel::from_dir(&dir).unwrap();
    let reply = Chat::new(&model, None, greedy(12)).unwrap().say(said, &mut |_| {}).unwrap();
    assert_eq!((reply.ids.len(), reply.finish_reason), (0, FinishReason::Stop));

    // generation_config.json's EOS ids as a list, that token among them (no template eos)
    std::fs::write(dir.join("tokenizer_config.json"), "{}").unwrap();
    std::fs::write(dir.join("generation_config.json"), serde_json::json!({ "eos_token_id": [7, free[0]] }).to_string()).unwrap();
    let model = AutoModel::from_dir(&dir).unwrap();
    let reply = Chat::new(&model, None, greedy(12)).unwrap().say(said, &mut |_| {}).unwrap();
    assert_eq!((reply.ids.len(), reply.finish_reason), (0, FinishReason::Stop));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("loam-chat-stops-{}", std::process::id())));
}

#[test]
fn a_model_without_a_template_cannot_chat() {
    let Some(fixtures) = hf_common::fixtures("chat no template") else { return };
    let model = AutoModel::from_dir(&fixtures.join("tiny-gpt2")).unwrap();
    let err = Chat::new(&model, None, greedy(1)).err().expect("no template").to_string();
    assert!(err.contains("no chat template"), "{err}");
}

/// The prompt a conversation would send after the user says `text`.
fn prompt_after(model: &AutoModel, chat: &Chat, text: &str) -> String {
    let mut messages = chat.messages.clone();
    messages.push(ChatMessage::new("user", text));
    model.chat_template.as_ref().unwrap().render(&messages, true).unwrap()
}
