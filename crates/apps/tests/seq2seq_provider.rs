//! The local provider over encoder–decoders (the tiny T5 and BART fixtures): a completion is the
//! target of its prompt, token for token what `transformers` generated (the fixture's
//! `reference.json`); a chat's source is its user message; streaming, stop strings and cancels
//! work as with a decoder; a summary follows the `summarization` entry of the model's config
//! (T5's prefix and beam settings, checked against `transformers`' beam search); a source
//! longer than the encoder reads is a clear error.

mod common;

use std::path::{Path, PathBuf};

use loam_apps::provider::{ChatMessage, FinishReason, GenParams, LocalProvider, Provider, Role};
use loam_apps::summarize::abstractive;
use loam_lm::{AutoModel, GenerationConfig, generate_seq2seq_text};
use loam_text::Tokenizer;
use serde_json::Value;

fn greedy(max_tokens: usize) -> GenParams {
    GenParams { max_tokens, temperature: 0.0, ..GenParams::default() }
}

/// A fixture's `reference.json`.
fn reference(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("reference.json")).expect("reference.json");
    serde_json::from_str(&text).expect("reference JSON")
}

/// The text of the reference target ids (their first, the decoder start token, left out).
fn reference_text(dir: &Path, ids: &Value) -> String {
    let ids: Vec<u32> = ids.as_array().expect("ids").iter().skip(1).map(|v| v.as_u64().expect("id") as u32).collect();
    AutoModel::from_dir(dir).expect("loads").tokenizer.decode(&ids, true).expect("decodes")
}

/// A copy of the fixture `dir` whose `config.json` has `entry` as its `summarization` task.
fn with_summarization(dir: &Path, entry: Value, name: &str) -> PathBuf {
    let out = std::env::temp_dir().join(format!("loam-seq2seq-provider-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&out).expect("temp dir");
    for file in ["generation_config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(dir.join(file), out.join(file)).expect("copy");
    }
    let text = std::fs::read_to_string(dir.join("config.json")).expect("config");
    let mut config: Value = serde_json::from_str(&text).expect("JSON");
    config["task_specific_params"] = serde_json::json!({ "summarization": entry });
    std::fs::write(out.join("config.json"), config.to_string()).expect("write config");
    out
}

#[test]
fn a_t5_completion_is_the_target_transformers_generated() {
    let Some(dir) = common::fixture("tiny-t5", "a_t5_completion_is_the_target_transformers_generated") else { return };
    let case = &reference(&dir)["cases"][0];
    let p = LocalProvider::from_dir(&dir).unwrap();
    let out = p.complete(case["source"].as_str().unwrap(), &greedy(20)).unwrap();
    assert_eq!(out.text, reference_text(&dir, &case["greedy_ids"]));
    assert_eq!(out.finish_reason, FinishReason::Length);
    let usage = out.usage.unwrap();
    assert_eq!(usage.prompt_tokens, case["input_ids"].as_array().unwrap().len(), "the source with its </s>");
    assert_eq!(usage.completion_tokens, 20);
}

#[test]
fn a_chat_is_the_target_of_its_user_message() {
    let Some(dir) = common::fixture("tiny-t5", "a_chat_is_the_target_of_its_user_message") else { return };
    let p = LocalProvider::from_dir(&dir).unwrap();
    let user = "summarize: Before we proceed any further, hear me speak.";
    let alone = p.chat(&[ChatMessage::new(Role::User, user)], &greedy(12)).unwrap();
    assert_eq!(alone.text, p.complete(user, &greedy(12)).unwrap().text);
    let system = "Answer briefly.";
    let messages = [ChatMessage::new(Role::System, system), ChatMessage::new(Role::User, user)];
    let both = p.chat(&messages, &greedy(12)).unwrap();
    assert_eq!(both.text, p.complete(&format!("{system}\n\n{user}"), &greedy(12)).unwrap().text);
    let (both, alone) = (both.usage.unwrap().prompt_tokens, alone.usage.unwrap().prompt_tokens);
    assert_ne!(both, alone, "the system message is in the source");
}

#[test]
fn a_streamed_target_is_the_whole_target_and_stops_as_asked() {
    let test = "a_streamed_target_is_the_whole_target_and_stops_as_asked";
    let Some(dir) = common::fixture("tiny-bart", test) else { return };
    let p = LocalProvider::from_dir(&dir).unwrap();
    let source = "The new store on Elm Street sells tents and stoves.";
    let whole = p.complete(source, &greedy(16)).unwrap();
    let mut pieces = Vec::new();
    let streamed = p
        .complete_stream(source, &greedy(16), &mut |piece| {
            pieces.push(piece.to_string());
            true
        })
        .unwrap();
    assert_eq!(streamed, whole);
    assert!(pieces.len() > 1, "streamed in pieces: {pieces:?}");
    assert_eq!(pieces.concat(), whole.text);
    // a stop string from the middle of the text cuts it there
    let chars: Vec<char> = whole.text.chars().collect();
    assert!(chars.len() >= 8, "a long enough target: {:?}", whole.text);
    let stop: String = chars[4..7].iter().collect();
    let cut = p.complete(source, &GenParams { stop: vec![stop.clone()], ..greedy(16) }).unwrap();
    assert_eq!(cut.text, whole.text[..whole.text.find(&stop).unwrap()]);
    assert_eq!(cut.finish_reason, FinishReason::Stop);
    // a cancel after the first piece computes no further token
    let mut calls = 0;
    let cancelled = p
        .complete_stream(source, &greedy(16), &mut |_| {
            calls += 1;
            false
        })
        .unwrap();
    assert_eq!((calls, cancelled.finish_reason), (1, FinishReason::Cancelled));
    assert!(cancelled.usage.unwrap().completion_tokens < 16);
}

#[test]
fn a_t5_summary_follows_the_summarization_entry_of_its_config() {
    let test = "a_t5_summary_follows_the_summarization_entry_of_its_config";
    let Some(dir) = common::fixture("tiny-t5", test) else { return };
    // the reference's beam search: 4 beams, no repeated trigram, early stopping, 20 new tokens
    let entry = serde_json::json!({
        "prefix": "summarize: ", "num_beams": 4, "no_repeat_ngram_size": 3, "early_stopping": true,
        "length_penalty": 1.0, "max_length": 21
    });
    let p = LocalProvider::from_dir(&with_summarization(&dir, entry, "t5")).unwrap();
    let reference = reference(&dir);
    let cases = reference["cases"].as_array().unwrap();
    let summaries: Vec<(&Value, &str)> =
        cases.iter().filter_map(|c| Some((c, c["source"].as_str()?.strip_prefix("summarize: ")?))).collect();
    assert_eq!(summaries.len(), 2, "the fixture's two summarization cases");
    for (case, document) in summaries {
        let out = abstractive(&p, document, 60, &greedy(180)).unwrap();
        assert_eq!(out.text, reference_text(&dir, &case["beam4_nrng3_ids"]).trim(), "{document}");
        let usage = out.usage.unwrap();
        assert_eq!(usage.prompt_tokens, case["input_ids"].as_array().unwrap().len(), "the prefix is in the source");
        assert_eq!(usage.completion_tokens, 20, "max_length counts the decoder start token");
        // the caller's token limit caps the config's
        let short = abstractive(&p, document, 60, &greedy(5)).unwrap();
        assert_eq!(short.usage.unwrap().completion_tokens, 5);
    }
}

#[test]
fn without_a_summarization_entry_the_summary_is_the_greedy_target_of_the_document() {
    let test = "without_a_summarization_entry_the_summary_is_the_greedy_target_of_the_document";
    let Some(dir) = common::fixture("tiny-bart", test) else { return };
    let p = LocalProvider::from_dir(&dir).unwrap();
    let document = "The new store on Elm Street sells tents and stoves. It opens in May.";
    let summary = p.task_summary(document, &greedy(16)).expect("an encoder–decoder summarizes").unwrap();
    assert_eq!(summary.text, p.complete(document, &greedy(16)).unwrap().text);
    // a token limit beyond the decoder's 128 positions is cut to them, not an error
    let long = p.task_summary(document, &greedy(500)).unwrap().unwrap();
    assert!(long.usage.unwrap().completion_tokens <= 127, "{:?}", long.usage);
}

#[test]
fn the_entry_s_n_gram_ban_applies_to_the_summary() {
    let Some(dir) = common::fixture("tiny-bart", "the_entry_s_n_gram_ban_applies_to_the_summary") else { return };
    let document = "The new store on Elm Street sells tents and stoves. It opens in May.";
    let plain = LocalProvider::from_dir(&dir).unwrap().task_summary(document, &greedy(16)).unwrap().unwrap();
    let banned = with_summarization(&dir, serde_json::json!({ "no_repeat_ngram_size": 2 }), "bart-ngram");
    let summary = LocalProvider::from_dir(&banned).unwrap().task_summary(document, &greedy(16)).unwrap().unwrap();
    // one beam with the ban is greedy decoding with it
    let m = AutoModel::from_dir(&banned).unwrap();
    let source: Vec<usize> = m.tokenizer.encode(document, true).unwrap().into_iter().map(|i| i as usize).collect();
    let cfg = GenerationConfig { max_new_tokens: 16, no_repeat_ngram_size: 2, eos_ids: vec![2], ..Default::default() };
    let want = generate_seq2seq_text(m.seq2seq_lm().unwrap(), &m.tokenizer, &source, &cfg).unwrap();
    assert_eq!(summary.text, want.text.trim());
    assert_ne!(summary.text, plain.text, "the random model repeats itself without the ban: {}", plain.text);
}

#[test]
fn a_source_longer_than_the_encoder_reads_is_a_clear_error() {
    let test = "a_source_longer_than_the_encoder_reads_is_a_clear_error";
    let Some(dir) = common::fixture("tiny-bart", test) else { return };
    let p = LocalProvider::from_dir(&dir).unwrap();
    let long = "The store on Elm Street sells tents. ".repeat(40);
    let err = p.complete(&long, &greedy(4)).unwrap_err().to_string();
    assert!(err.contains("this encoder reads at most 128"), "{err}");
    let err = abstractive(&p, &long, 30, &greedy(4)).unwrap_err().to_string();
    assert!(err.contains("this encoder reads at most 128"), "{err}");
}
