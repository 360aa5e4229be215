//! The one loader: a Hugging Face folder's `model_type` picks the model (GPT-2 generates the
//! fixture's greedy continuation with the defaults of its `generation_config.json`, BERT is an
//! encoder, Llama and Qwen2 load and generate their fixtures' greedy continuations and chat
//! through their templates, an unknown type is a clear error), and an existing local folder is
//! used before any hub id.

mod hf_common;

use hf_common::{ids};

use std::path::PathBuf;

use loam_lm::{Architecture, AutoModel, Chat, FinishReason, Gpt, GptConfig, ModelKind, TrainConfig, generate_ids};
use loam_nn::{Ctx, ParamStore};
use loam_text::Tokenizer;

#[test]
fn tiny_gpt2_generates_the_reference_with_its_own_defaults() {
    let Some(fixtures) = hf_common::fixtures("auto tiny-gpt2") else { return };
    let dir = fixtures.join("tiny-gpt2");
    let model = AutoModel::load(dir.to_str().unwrap(), &mut |_| {}).unwrap();
    assert!(matches!(model.architecture, Architecture::Gpt2(_)));
    let cfg = model.generation_config();
    assert!(!cfg.do_sample, "generation_config.json does not ask for sampling: greedy, as transformers");
    assert_eq!(cfg.eos_ids, vec![0], "eos_token_id of generation_config.json");
    let reference = hf_common::reference(&dir);
    for case in reference["cases"].as_array().unwrap() {
        let prompt: Vec<usize> =
            model.tokenizer.encode(case["prompt"].as_str().unwrap(), false).unwrap().into_iter().map(|i| i as usize).collect();
        assert_eq!(prompt, ids(&case["input_ids"]));
        let expected = ids(&case["greedy_ids"]);
        let cfg = loam_lm::GenerationConfig { max_new_tokens: expected.len(), ..model.generation_config() };
        let (out, _) = generate_ids(model.causal_lm().unwrap(), &prompt, &cfg, true, &mut |_| true).unwrap();
        assert_eq!(out, expected);
    }
}

/// A Llama-family fixture through the one loader: the reference's greedy continuations with
/// the folder's own generation defaults, then a chat turn rendered by its template.
fn llama_family_through_the_loader(name: &str) {
    let Some(fixtures) = hf_common::fixtures(name) else { return };
    let dir = fixtures.join(name);
    let model = AutoModel::load(dir.to_str().unwrap(), &mut |_| {}).unwrap();
    assert!(matches!(model.architecture, Architecture::Llama(_)), "{name} loads as a Llama-family decoder");
    let reference = hf_common::reference(&dir);
    for case in reference["cases"].as_array().unwrap() {
        let prompt = ids(&case["input_ids"]);
        let expected = ids(&case["greedy_ids"]);
        let cfg = loam_lm::GenerationConfig { max_new_tokens: expected.len(), ..model.generation_config() };
        let (out, _) = generate_ids(model.causal_lm().unwrap(), &prompt, &cfg, true, &mut |_| true).unwrap();
        assert_eq!(out, expected, "{name}: greedy continuation");
    }
    let cfg = loam_lm::GenerationConfig { max_new_tokens: 8, ..model.generation_config() };
    let mut chat = Chat::new(&model, Some("You are a helpful shop assistant."), cfg).unwrap();
    let rendered = model.chat_template.as_ref().unwrap().render(&[chat.messages[0].clone(), loam_lm::ChatMessage::new("user", "Where is my order?")], true).unwrap();
    assert_eq!(rendered, reference["chat"][0]["rendered"].as_str().unwrap(), "{name}: the template renders as transformers");
    let reply = chat.say("Where is my order?", &mut |_| {}).unwrap();
    let prompt: Vec<usize> = model.tokenizer.encode(&rendered, false).unwrap().into_iter().map(|i| i as usize).collect();
    let greedy = loam_lm::GenerationConfig { max_new_tokens: 8, ..model.generation_config() };
    let (expected, reason) = generate_ids(model.causal_lm().unwrap(), &prompt, &greedy, true, &mut |_| true).unwrap();
    assert_eq!(reply.ids.iter().map(|&i| i as usize).collect::<Vec<_>>(), expected, "{name}: the reply continues the rendered chat");
    assert_eq!(reply.finish_reason == FinishReason::Stop, reason == FinishReason::Stop);
    assert_eq!(chat.messages.len(), 3, "system, user and the assistant's reply are kept");
}

#[test]
fn tiny_llama_loads_generates_and_chats() {
    llama_family_through_the_loader("tiny-llama");
}

#[test]
fn tiny_qwen2_loads_generates_and_chats() {
    llama_family_through_the_loader("tiny-qwen2");
}

#[test]
fn model_types_are_recognised_or_named_in_the_error() {
    let Some(fixtures) = hf_common::fixtures("auto model types") else { return };
    assert_eq!(ModelKind::detect(&fixtures.join("tiny-gpt2")).unwrap(), ModelKind::Gpt2);
    assert_eq!(ModelKind::detect(&fixtures.join("tiny-bert-mlm")).unwrap(), ModelKind::Bert);
    assert_eq!(ModelKind::detect(&fixtures.join("tiny-llama")).unwrap(), ModelKind::Llama("llama".into()));
    assert_eq!(ModelKind::detect(&fixtures.join("tiny-qwen2")).unwrap(), ModelKind::Llama("qwen2".into()));
    assert_eq!(ModelKind::detect(&fixtures.join("tiny-t5")).unwrap(), ModelKind::T5);
    assert_eq!(ModelKind::detect(&fixtures.join("tiny-bart")).unwrap(), ModelKind::Bart);
    let dir = std::env::temp_dir().join(format!("loam-auto-unknown-type-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"model_type": "mamba"}"#).unwrap();
    let err = ModelKind::detect(&dir).unwrap_err().to_string();
    assert!(err.contains("`mamba`") && err.contains("gpt2, bert, llama, qwen2, t5, bart") && err.contains("config.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
    let err = ModelKind::detect(&std::env::temp_dir()).unwrap_err().to_string();
    assert!(err.contains("not a model folder"), "{err}");
}

#[test]
fn bert_loads_as_an_encoder_that_does_not_generate() {
    let Some(fixtures) = hf_common::fixtures("auto bert") else { return };
    let model = AutoModel::from_dir(&fixtures.join("tiny-bert-mlm")).unwrap();
    assert!(matches!(model.architecture, Architecture::BertForMaskedLM { .. }), "config.json names BertForMaskedLM");
    assert!(model.masked_lm().is_ok());
    let err = model.causal_lm().err().expect("an encoder is not a causal LM").to_string();
    assert!(err.contains("does not generate"), "{err}");
    let Some(minilm) = hf_common::minilm("auto bert encoder") else { return };
    let encoder = AutoModel::from_dir(&minilm).unwrap();
    assert!(matches!(encoder.architecture, Architecture::Bert { .. }));
    let err = encoder.masked_lm().map(drop).expect_err("no masked-LM head").to_string();
    assert!(err.contains("no masked-LM head"), "{err}");
}

#[test]
fn an_existing_folder_wins_over_a_hub_id() {
    let Some(fixtures) = hf_common::fixtures("auto local folder") else { return };
    // `loam-local-PID/tiny-gpt2` also reads as the hub id `owner/name`: the folder must win,
    // with no request to the hub (which this test gives no way to reach).
    let owner = format!("loam-local-{}", std::process::id());
    let local = PathBuf::from(&owner).join("tiny-gpt2");
    std::fs::create_dir_all(&local).unwrap();
    for file in ["config.json", "generation_config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(fixtures.join("tiny-gpt2").join(file), local.join(file)).unwrap();
    }
    let id = format!("{owner}/tiny-gpt2");
    assert!(loam_lm::hf::HubId::parse(&id).is_some());
    let loaded = AutoModel::load(&id, &mut |line| panic!("nothing is fetched: {line}"));
    let _ = std::fs::remove_dir_all(&owner);
    assert_eq!(loaded.unwrap().dir, local);
}

#[test]
fn a_loam_run_folder_loads_as_loam_gpt_with_its_sampling_defaults() {
    let Some(fixtures) = hf_common::fixtures("auto run folder") else { return };
    let dir = std::env::temp_dir().join(format!("loam-auto-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = TrainConfig {
        model: GptConfig { n_layer: 1, n_head: 2, n_embd: 16, block_size: 16, vocab_size: 512, ..GptConfig::default() }.into(),
        ..TrainConfig::default()
    };
    let store = ParamStore::new(7);
    let gpt = Gpt::new(&config.model.gpt().unwrap(), &store).unwrap();
    store.save(&dir.join("model.safetensors"), None).unwrap();
    std::fs::write(dir.join("config.toml"), config.to_toml()).unwrap();
    std::fs::copy(fixtures.join("tiny-gpt2/tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    // a config.json beside it does not make it a Hugging Face folder
    std::fs::write(dir.join("config.json"), r#"{"model_type": "t5"}"#).unwrap();

    let model = AutoModel::from_dir(&dir).unwrap();
    assert_eq!(ModelKind::detect(&dir).unwrap(), ModelKind::LoamRun);
    assert!(matches!(model.architecture, Architecture::LoamRun { .. }));
    let cfg = model.generation_config();
    assert!(cfg.do_sample && cfg.temperature == 0.8, "a loam run samples at 0.8 as generate always did");
    let x = [3usize, 1, 4];
    let ctx = &mut Ctx::eval();
    let loaded = model.causal_lm().unwrap().forward(&x, 1, 3, None, ctx).unwrap().to_vec();
    assert_eq!(loaded, gpt.forward(&x, 1, 3, None, ctx).unwrap().to_vec());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn t5_and_bart_load_as_encoder_decoders() {
    let Some(fixtures) = hf_common::fixtures("auto t5/bart") else { return };
    for (name, kind, start) in [("tiny-t5", "t5", 0), ("tiny-bart", "bart", 2)] {
        let model = AutoModel::from_dir(&fixtures.join(name)).unwrap();
        assert_eq!(model.model_type(), kind);
        let lm = model.seq2seq_lm().expect("an encoder–decoder");
        assert_eq!(lm.decoder_start_token_id(), start);
        let err = model.causal_lm().err().expect("not a decoder-only model").to_string();
        assert!(err.contains("encoder–decoder"), "{err}");
    }
}
