//! GPT-2 from Hugging Face files against `transformers` (`../shared/fixtures/tiny-gpt2`):
//! logits at the first and last positions within 1e-4, loss within 1e-5, the greedy
//! continuation identical with the KV cache; and export to the same layout, re-loaded and
//! compared.

mod hf_common;

use hf_common::{floats, ids, max_diff};

use loam_lm::hf::{Gpt2Config, load_gpt2, save_gpt2};
use loam_lm::{GenerationConfig, Gpt, GptConfig, generate_ids};
use loam_nn::{Ctx, ParamStore};
use serde_json::Value;

const LOGIT_TOL: f32 = 1e-4;
const LOSS_TOL: f32 = 1e-5;

#[test]
fn tiny_gpt2_matches_transformers() {
    let Some(fixtures) = hf_common::fixtures("tiny-gpt2 parity") else { return };
    let dir = fixtures.join("tiny-gpt2");
    let gpt2 = load_gpt2(&dir).unwrap();
    let reference = hf_common::reference(&dir);
    let v = gpt2.model.config.vocab_size;
    for case in reference["cases"].as_array().unwrap() {
        let prompt = ids(&case["input_ids"]);
        let t = prompt.len();
        let logits = gpt2.model.forward(&prompt, 1, t, None, &mut Ctx::eval()).unwrap().to_vec();
        let first = max_diff(&logits[..v], &floats(&case["first_logits"]));
        let last = max_diff(&logits[(t - 1) * v..], &floats(&case["last_logits"]));
        assert!(first <= LOGIT_TOL && last <= LOGIT_TOL, "logit differences {first} / {last}");
        let loss = gpt2.model.loss(&prompt[..t - 1], &prompt[1..], 1, t - 1, &mut Ctx::eval()).unwrap().to_scalar().unwrap();
        let want = case["loss"].as_f64().unwrap() as f32;
        assert!((loss - want).abs() <= LOSS_TOL, "loss {loss}, transformers {want}");
        let greedy = ids(&case["greedy_ids"]);
        let cfg = GenerationConfig {
            max_new_tokens: greedy.len(),
            eos_ids: gpt2.config.eos_token_id.map(|e| e as u32).into_iter().collect(),
            ..GenerationConfig::default()
        };
        let (out, _) = generate_ids(&gpt2.model, &prompt, &cfg, true, &mut |_| true).unwrap();
        assert_eq!(out, greedy, "greedy continuation of {:?}", case["prompt"]);
    }
}

#[test]
fn exported_gpt_reloads_with_the_same_logits() {
    let config = GptConfig { n_layer: 2, n_head: 2, n_embd: 16, block_size: 12, vocab_size: 40, ..GptConfig::default() };
    let store = ParamStore::new(11);
    let gpt = Gpt::new(&config, &store).unwrap();
    let dir = std::env::temp_dir().join(format!("loam-hf-gpt2-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    save_gpt2(&gpt, &store, &dir, None, Some(0)).unwrap();
    let hf: Gpt2Config = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(hf.to_gpt_config().unwrap(), config);
    let back = load_gpt2(&dir).unwrap();
    let prompt = [1, 5, 9, 30, 2];
    let want = gpt.forward(&prompt, 1, 5, None, &mut Ctx::eval()).unwrap().to_vec();
    let got = back.model.forward(&prompt, 1, 5, None, &mut Ctx::eval()).unwrap().to_vec();
    assert_eq!(got, want);
    let names: Vec<String> = back.store.params().into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"transformer.h.1.attn.c_attn.weight".to_string()) && !names.iter().any(|n| n.starts_with("lm_head")));
}

#[test]
fn export_without_biases_is_refused() {
    let config = GptConfig { n_layer: 1, n_head: 2, n_embd: 8, block_size: 4, vocab_size: 10, bias: false, ..GptConfig::default() };
    let store = ParamStore::new(1);
    let gpt = Gpt::new(&config, &store).unwrap();
    let dir = std::env::temp_dir().join(format!("loam-hf-gpt2-nobias-{}", std::process::id()));
    let err = save_gpt2(&gpt, &store, &dir, None, None).unwrap_err().to_string();
    assert!(err.contains("bias"), "{err}");
}

#[test]
fn unsupported_gpt2_config_is_a_clear_error() {
    let Some(fixtures) = hf_common::fixtures("gpt2 config") else { return };
    let text = std::fs::read_to_string(fixtures.join("tiny-gpt2/config.json")).unwrap();
    let dir = std::env::temp_dir().join(format!("loam-hf-gpt2-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (key, value, expect) in [
        ("model_type", Value::from("llama"), "unsupported model_type `llama`"),
        ("activation_function", Value::from("mish"), "unsupported activation `mish`"),
        ("n_inner", Value::from(100), "n_inner"),
    ] {
        let mut json: Value = serde_json::from_str(&text).unwrap();
        json[key] = value;
        std::fs::write(dir.join("config.json"), json.to_string()).unwrap();
        let err = Gpt2Config::load(&dir.join("config.json")).unwrap_err().to_string();
        assert!(err.contains(expect) && err.contains("config.json"), "{err}");
    }
}
