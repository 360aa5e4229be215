//! The local provider on the tiny GPT-2 fixture: repeatable with a seed, stop strings honoured,
//! streamed pieces that make the whole text, cancellation, chat through the fallback format.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use loam_apps::provider::{ChatMessage, FinishReason, GenParams, LocalProvider, Provider, ProviderError, Role, render_chat};
use loam_lm::CausalLm;
use loam_nn::{Ctx, KvCache};
use loam_tensor::Tensor;
use loam_text::{HfTokenizer, Tokenizer};

/// A "model" that writes a fixed token script, one token per forward pass, starting again at
/// each generation (`new_cache`): a decoder whose output the test knows.
struct Script {
    ids: Vec<usize>,
    vocab: usize,
    step: AtomicUsize,
}

impl CausalLm for Script {
    fn vocab_size(&self) -> usize {
        self.vocab
    }
    fn max_positions(&self) -> usize {
        1024
    }
    fn new_cache(&self) -> Vec<KvCache> {
        self.step.store(0, Ordering::SeqCst);
        Vec::new()
    }
    fn forward_padded(&self, _: &[usize], b: usize, t: usize, _: Option<&[usize]>, _: Option<&mut Vec<KvCache>>, _: &mut Ctx) -> loam_lm::Result<Tensor> {
        let step = self.step.fetch_add(1, Ordering::SeqCst);
        let next = self.ids[step.min(self.ids.len() - 1)];
        let mut logits = vec![0.0; b * t * self.vocab];
        for row in 0..b * t {
            logits[row * self.vocab + next] = 1.0;
        }
        Ok(Tensor::from_vec(logits, &[b, t, self.vocab])?)
    }
}

fn sampled(seed: u64) -> GenParams {
    GenParams { max_tokens: 24, temperature: 1.0, top_p: Some(0.95), stop: Vec::new(), seed: Some(seed) }
}

fn greedy(max_tokens: usize) -> GenParams {
    GenParams { max_tokens, temperature: 0.0, top_p: None, stop: Vec::new(), seed: None }
}

fn load(dir: &Path) -> LocalProvider {
    LocalProvider::from_dir(dir).expect("tiny GPT-2 loads")
}

#[test]
fn sampling_is_repeatable_with_a_seed_and_changes_with_it() {
    let Some(dir) = common::tiny_gpt2("sampling_is_repeatable_with_a_seed_and_changes_with_it") else { return };
    let p = load(&dir);
    let a = p.complete("Hello world", &sampled(7)).unwrap();
    let b = p.complete("Hello world", &sampled(7)).unwrap();
    let c = p.complete("Hello world", &sampled(8)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.text, c.text);
    assert_eq!(a.finish_reason, FinishReason::Length);
    let usage = a.usage.unwrap();
    assert_eq!(usage.completion_tokens, 24);
    assert!(usage.prompt_tokens > 0);
    assert_eq!(p.model_id(), "local:tiny-gpt2");
}

#[test]
fn temperature_zero_is_greedy_whatever_the_seed() {
    let Some(dir) = common::tiny_gpt2("temperature_zero_is_greedy_whatever_the_seed") else { return };
    let p = load(&dir);
    let a = p.complete("Hello world", &GenParams { seed: Some(1), ..greedy(16) }).unwrap();
    let b = p.complete("Hello world", &GenParams { seed: Some(2), ..greedy(16) }).unwrap();
    assert_eq!(a, b);
}

#[test]
fn generation_stops_before_a_stop_string() {
    let Some(dir) = common::tiny_gpt2("generation_stops_before_a_stop_string") else { return };
    let p = load(&dir);
    let full = p.complete("Hello world", &greedy(40)).unwrap().text;
    let chars: Vec<char> = full.chars().collect();
    assert!(chars.len() > 12, "{full:?}");
    let stop: String = chars[8..11].iter().collect();
    let cut = full.find(&stop).unwrap();
    let out = p.complete("Hello world", &GenParams { stop: vec![stop.clone()], ..greedy(40) }).unwrap();
    assert_eq!(out.text, full[..cut], "stop {stop:?} in {full:?}");
    assert_eq!(out.finish_reason, FinishReason::Stop);
}

#[test]
fn streamed_pieces_make_the_whole_text() {
    let Some(dir) = common::tiny_gpt2("streamed_pieces_make_the_whole_text") else { return };
    let p = load(&dir);
    let whole = p.complete("Hello world", &sampled(3)).unwrap();
    let mut pieces = Vec::new();
    let streamed = p
        .complete_stream("Hello world", &sampled(3), &mut |piece| {
            pieces.push(piece.to_string());
            true
        })
        .unwrap();
    assert!(pieces.len() > 1, "{pieces:?}");
    assert_eq!(pieces.concat(), whole.text);
    assert_eq!(streamed, whole);
}

#[test]
fn a_stream_is_cancelled_when_the_callback_says_so() {
    let Some(dir) = common::tiny_gpt2("a_stream_is_cancelled_when_the_callback_says_so") else { return };
    let p = load(&dir);
    let mut first = String::new();
    let out = p
        .complete_stream("Hello world", &sampled(3), &mut |piece| {
            first.push_str(piece);
            false
        })
        .unwrap();
    assert_eq!(out.finish_reason, FinishReason::Cancelled);
    assert_eq!(out.text, first);
    assert!(!first.is_empty());
}

#[test]
fn chat_goes_through_the_fallback_format() {
    let Some(dir) = common::tiny_gpt2("chat_goes_through_the_fallback_format") else { return };
    let p = load(&dir);
    let messages = [ChatMessage::new(Role::System, "Be brief."), ChatMessage::new(Role::User, "Hi")];
    let (prompt, stop) = render_chat(&messages);
    let chat = p.chat(&messages, &greedy(30)).unwrap();
    let plain = p.complete(&prompt, &GenParams { stop: vec![stop.to_string()], ..greedy(30) }).unwrap();
    assert_eq!(chat, plain);
}

#[test]
fn a_chat_answer_ends_where_the_model_starts_the_next_user_turn() {
    let Some(dir) = common::tiny_gpt2("a_chat_answer_ends_where_the_model_starts_the_next_user_turn") else { return };
    let tokenizer = HfTokenizer::load(&dir.join("tokenizer.json")).unwrap();
    let script = " Hello there.\nUser: and more";
    let ids = tokenizer.encode(script, false).unwrap().into_iter().map(|i| i as usize).collect();
    let model = Script { ids, vocab: tokenizer.vocab_size(), step: AtomicUsize::new(0) };
    let p = LocalProvider::new("script", Arc::new(model), Arc::new(tokenizer), Vec::new());
    let whole = p.complete("Hi", &greedy(64)).unwrap();
    assert!(whole.text.starts_with(script), "{:?}", whole.text);
    let chat = p.chat(&[ChatMessage::new(Role::User, "Hi")], &greedy(64)).unwrap();
    assert_eq!(chat.text, " Hello there.");
    assert_eq!(chat.finish_reason, FinishReason::Stop);
}

#[test]
fn embeddings_without_an_encoder_are_refused_and_bad_folders_are_errors() {
    let Some(dir) = common::tiny_gpt2("embeddings_without_an_encoder_are_refused_and_bad_folders_are_errors") else { return };
    let err = load(&dir).embed(&["x"]).unwrap_err();
    assert_eq!(err.to_string(), "local:tiny-gpt2: no sentence encoder is loaded for embeddings");
    let err = LocalProvider::from_dir(&dir.join("no-such-folder")).err().unwrap();
    assert!(matches!(err, ProviderError::Model(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("no-such-folder") && msg.contains("not a model folder"), "{msg}");
    let bert = dir.with_file_name("tiny-bert-mlm");
    let msg = LocalProvider::from_dir(&bert).err().expect("an encoder does not generate").to_string();
    assert!(msg.contains("does not generate"), "{msg}");
}

#[test]
fn minilm_embeds_when_present() {
    let Some(dir) = common::minilm_dir("minilm_embeds_when_present") else { return };
    let p = LocalProvider::encoder_only(&dir).unwrap();
    let v = p.embed(&["a red shoe", "a crimson sneaker"]).unwrap();
    assert_eq!((v.len(), v[0].len(), p.embedding_dim().unwrap()), (2, 384, 384));
    assert_eq!(p.embedding_model_id().unwrap(), format!("local:{}", dir.file_name().unwrap().to_string_lossy()));
    assert!(p.complete("x", &greedy(1)).is_err());
}

#[test]
fn a_llama_family_folder_chats_through_its_own_template() {
    let Some(dir) = common::fixture("tiny-llama", "a_llama_family_folder_chats_through_its_own_template") else { return };
    let p = LocalProvider::from_dir(&dir).unwrap();
    let messages = [ChatMessage::new(Role::System, "You are a helpful shop assistant."), ChatMessage::new(Role::User, "Where is my order?")];
    let answer = p.chat(&messages, &greedy(8)).unwrap();
    // the same model and template through loam-lm: the rendered prompt the fixture's
    // transformers rendered, continued greedily up to its end-of-turn token
    let model = loam_lm::AutoModel::from_dir(&dir).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap();
    let rendered = reference["chat"][0]["rendered"].as_str().unwrap();
    let cfg = loam_lm::GenerationConfig { max_new_tokens: 8, ..model.generation_config() };
    let expected = loam_lm::generate(model.causal_lm().unwrap(), &model.tokenizer, rendered, &cfg, &mut |_| ()).unwrap();
    assert_eq!(answer.text, expected.text, "the provider renders the chat with the model's template, not the fallback format");
    assert_eq!(answer.usage.unwrap().prompt_tokens, reference["chat"][0]["input_ids"].as_array().unwrap().len());
}
