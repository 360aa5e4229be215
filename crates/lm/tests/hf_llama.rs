//! The Llama family from Hugging Face files against `transformers` (`../shared/fixtures/
//! tiny-llama`: grouped-query attention, tied head; `tiny-qwen2`: q/k/v biases, one k/v head,
//! untied head): logits at the first and last positions within 1e-4, loss within 1e-5, the
//! greedy continuation (new tokens only, as many as the reference has) identical with the KV
//! cache. Also: sharded weights, bfloat16 weights in memory, left-padded batches, training,
//! and clear errors for bad configs and missing tensors or shards.

mod hf_common;

use hf_common::{floats, ids, max_diff, reference};

use std::path::{Path, PathBuf};

use loam_lm::hf::{HfWeights, LlamaHfConfig, LlamaOptions, load_llama};
use loam_lm::{GenerationConfig, Llama, LlamaConfig, generate_batch, generate_ids};
use loam_nn::optim::{AdamW, AdamWConfig};
use loam_nn::{Ctx, ParamStore, safetensors_io};
use loam_tensor::Tensor;
use serde_json::Value;

const LOGIT_TOL: f32 = 1e-4;
const LOSS_TOL: f32 = 1e-5;
/// bfloat16 keeps 8 significant bits (relative rounding error ≤ 2⁻⁹ per weight); over the two
/// layers of the tiny models the logits move by up to a few percent of their largest magnitude.
const BF16_RELATIVE_TOL: f32 = 0.05;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-hf-llama-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn check_against_transformers(name: &str) {
    let Some(fixtures) = hf_common::fixtures(name) else { return };
    let dir = fixtures.join(name);
    let hf = load_llama(&dir, LlamaOptions::default()).unwrap();
    let model = &hf.model;
    let v = model.config.vocab_size;
    for case in reference(&dir)["cases"].as_array().unwrap() {
        let prompt = ids(&case["input_ids"]);
        let t = prompt.len();
        let logits = model.forward(&prompt, 1, t, None, &mut Ctx::eval()).unwrap().to_vec();
        let first = max_diff(&logits[..v], &floats(&case["first_logits"]));
        let last = max_diff(&logits[(t - 1) * v..], &floats(&case["last_logits"]));
        assert!(first <= LOGIT_TOL && last <= LOGIT_TOL, "{name}: logit differences {first} / {last}");
        let loss = model.loss(&prompt[..t - 1], &prompt[1..], 1, t - 1, &mut Ctx::eval()).unwrap().to_scalar().unwrap();
        let want = case["loss"].as_f64().unwrap() as f32;
        assert!((loss - want).abs() <= LOSS_TOL, "{name}: loss {loss}, transformers {want}");
        let greedy = ids(&case["greedy_ids"]);
        let cfg = GenerationConfig { max_new_tokens: greedy.len(), eos_ids: hf.config.eos_ids(), ..GenerationConfig::default() };
        let (out, _) = generate_ids(model, &prompt, &cfg, true, &mut |_| true).unwrap();
        assert_eq!(out, greedy, "{name}: greedy continuation of {:?}", case["prompt"]);
    }
}

#[test]
fn tiny_llama_matches_transformers() {
    check_against_transformers("tiny-llama");
}

#[test]
fn tiny_qwen2_matches_transformers() {
    check_against_transformers("tiny-qwen2");
}

#[test]
fn bf16_weights_halve_the_memory_and_compute_what_f32_does_with_rounded_weights() {
    let Some(fixtures) = hf_common::fixtures("llama bf16") else { return };
    // exact comparisons with f32: AMX (16 rows or more) rounds the activations to bf16 too
    // (loam-tensor's tests/amx.rs checks it); both tests that set this want it off
    loam_tensor::amx_kernels(false);
    for name in ["tiny-llama", "tiny-qwen2"] {
        let dir = fixtures.join(name);
        let f32_model = load_llama(&dir, LlamaOptions::default()).unwrap();
        let bf16 = load_llama(&dir, LlamaOptions { bf16_weights: true }).unwrap();
        assert!(bf16.store.is_none());
        assert_eq!(2 * bf16.model.weight_bytes(), f32_model.model.weight_bytes() + bias_bytes(&f32_model.model.config));
        let prompt = ids(&reference(&dir)["cases"][0]["input_ids"]);
        let t = prompt.len();
        let logits = |m: &Llama| m.forward(&prompt, 1, t, None, &mut Ctx::eval()).unwrap().to_vec();
        let (exact, got) = (logits(&f32_model.model), logits(&bf16.model));
        let largest = exact.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let diff = max_diff(&got, &exact);
        assert!(diff > 0.0 && diff <= BF16_RELATIVE_TOL * largest, "{name}: bf16 logits differ from f32 by {diff} (largest {largest})");
        // the same model in f32 with every matrix rounded to bfloat16: the same numbers
        for (param, value) in f32_model.store.as_ref().unwrap().params() {
            if value.rank() == 2 {
                let rounded: Vec<f32> = value.to_vec().iter().map(|&x| half::bf16::from_f32(x).to_f32()).collect();
                value.assign(&Tensor::from_vec(rounded, value.shape()).unwrap()).unwrap_or_else(|e| panic!("{param}: {e}"));
            }
        }
        let diff = max_diff(&got, &logits(&f32_model.model));
        assert!(diff <= LOGIT_TOL, "{name}: bf16 logits differ from f32 with rounded weights by {diff}");
    }
}

/// Writes `tensors` as a safetensors file of BF16 values (rounded to nearest even).
fn save_bf16(path: &Path, tensors: &[(String, Tensor)]) {
    let (mut header, mut data) = (serde_json::Map::new(), Vec::new());
    for (name, t) in tensors {
        let start = data.len();
        data.extend(t.to_vec().iter().flat_map(|&x| half::bf16::from_f32(x).to_le_bytes()));
        header.insert(name.clone(), serde_json::json!({"dtype": "BF16", "shape": t.shape(), "data_offsets": [start, data.len()]}));
    }
    let header = Value::Object(header).to_string().into_bytes();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend(header);
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn weights_stored_as_bf16_load_as_they_are() {
    let Some(fixtures) = hf_common::fixtures("llama bf16 file") else { return };
    // exact comparisons with f32: AMX (16 rows or more) rounds the activations to bf16 too
    // (loam-tensor's tests/amx.rs checks it); both tests that set this want it off
    loam_tensor::amx_kernels(false);
    let src = fixtures.join("tiny-qwen2");
    let dir = temp_dir("bf16-file");
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let ckpt = HfWeights::open(&src).unwrap();
    let tensors: Vec<(String, Tensor)> = ckpt.names().map(|n| (n.to_string(), ckpt.tensor(n).unwrap())).collect();
    save_bf16(&dir.join("model.safetensors"), &tensors);
    let prompt = [3, 17, 250, 9, 100];
    let logits = |options| load_llama(&dir, options).unwrap().model.forward(&prompt, 1, 5, None, &mut Ctx::eval()).unwrap().to_vec();
    let (f32_logits, bf16_logits) = (logits(LlamaOptions::default()), logits(LlamaOptions { bf16_weights: true }));
    // the file's bf16 values widen to f32 exactly and round back to themselves: the norm
    // scales and biases are bf16 values too, so both models hold the same numbers
    let diff = max_diff(&bf16_logits, &f32_logits);
    assert!(diff <= LOGIT_TOL, "bf16 file: bf16 and f32 models differ by {diff}");
    let original = load_llama(&src, LlamaOptions::default()).unwrap().model.forward(&prompt, 1, 5, None, &mut Ctx::eval()).unwrap().to_vec();
    assert!(max_diff(&f32_logits, &original) > 0.0, "the bf16 file holds rounded weights");
}

/// The bias bytes, which stay f32 in a bfloat16 model (so count twice in `2 × bf16`).
fn bias_bytes(c: &LlamaConfig) -> usize {
    let qkv = if c.attention_bias { (c.n_head + 2 * c.n_kv_head) * c.head_dim() } else { 0 };
    let out = if c.attention_out_bias { c.n_embd } else { 0 };
    4 * c.n_layer * (qkv + out)
}

#[test]
fn sharded_weights_load_and_a_missing_shard_or_tensor_is_named() {
    let Some(fixtures) = hf_common::fixtures("llama shards") else { return };
    let src = fixtures.join("tiny-llama");
    let dir = temp_dir("shards");
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let ckpt = HfWeights::open(&src).unwrap();
    let names: Vec<String> = ckpt.names().map(String::from).collect();
    let (a, b) = names.split_at(names.len() / 2);
    let mut map = serde_json::Map::new();
    for (shard, part) in [("model-00001-of-00002.safetensors", a), ("model-00002-of-00002.safetensors", b)] {
        let tensors: Vec<(String, Tensor)> = part.iter().map(|n| (n.clone(), ckpt.tensor(n).unwrap())).collect();
        safetensors_io::save(&dir.join(shard), &tensors, None).unwrap();
        for n in part {
            map.insert(n.clone(), Value::from(shard));
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let prompt = [5, 9, 100, 3];
    let want = load_llama(&src, LlamaOptions::default()).unwrap().model.forward(&prompt, 1, 4, None, &mut Ctx::eval()).unwrap().to_vec();
    let got = load_llama(&dir, LlamaOptions::default()).unwrap().model.forward(&prompt, 1, 4, None, &mut Ctx::eval()).unwrap().to_vec();
    assert_eq!(got, want);

    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
    let err = load_llama(&dir, LlamaOptions::default()).unwrap_err().to_string();
    assert!(err.contains("model-00002-of-00002.safetensors"), "{err}");

    let dir = temp_dir("missing");
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let kept: Vec<(String, Tensor)> =
        names.iter().filter(|n| *n != "model.layers.1.mlp.up_proj.weight").map(|n| (n.clone(), ckpt.tensor(n).unwrap())).collect();
    safetensors_io::save(&dir.join("model.safetensors"), &kept, None).unwrap();
    let err = load_llama(&dir, LlamaOptions::default()).unwrap_err().to_string();
    assert!(err.contains("model.layers.1.mlp.up_proj.weight") && err.contains("missing"), "{err}");
}

#[test]
fn bad_configs_are_clear_errors_naming_the_file_and_field() {
    let Some(fixtures) = hf_common::fixtures("llama config") else { return };
    let text = std::fs::read_to_string(fixtures.join("tiny-llama/config.json")).unwrap();
    let dir = temp_dir("config");
    let path = dir.join("config.json");
    let cases: [(&str, Value, &str); 6] = [
        ("rope_parameters", serde_json::json!({"rope_theta": 10000.0, "rope_type": "yarn", "factor": 4.0}), "rope_parameters: unsupported rope type `yarn`"),
        ("rope_parameters", serde_json::json!({"rope_type": "llama3", "factor": 8.0}), "needs a number `low_freq_factor`"),
        ("num_key_value_heads", Value::from(3), "num_attention_heads 4 is not a multiple of num_key_value_heads 3"),
        ("model_type", Value::from("mistral"), "unsupported model_type `mistral`"),
        ("hidden_act", Value::from("gelu"), "hidden_act `gelu`"),
        ("head_dim", Value::Null, "hidden_size 66 is not a multiple of num_attention_heads 4"),
    ];
    for (key, value, expect) in cases {
        let mut json: Value = serde_json::from_str(&text).unwrap();
        json[key] = value.clone();
        if key == "head_dim" {
            json["hidden_size"] = Value::from(66);
        }
        std::fs::write(&path, json.to_string()).unwrap();
        let err = LlamaHfConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains(expect) && err.contains("config.json"), "{key} = {value}: {err}");
    }
    // the transformers 4 spelling, top-level rope_scaling
    let mut json: Value = serde_json::from_str(&text).unwrap();
    json.as_object_mut().unwrap().remove("rope_parameters");
    json["rope_theta"] = Value::from(500000.0);
    json["rope_scaling"] = serde_json::json!({"type": "dynamic", "factor": 2.0});
    std::fs::write(&path, json.to_string()).unwrap();
    let err = LlamaHfConfig::load(&path).unwrap_err().to_string();
    assert!(err.contains("rope_scaling: unsupported rope type `dynamic`"), "{err}");
    json["rope_scaling"] = serde_json::json!({"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 8192});
    std::fs::write(&path, json.to_string()).unwrap();
    let config = LlamaHfConfig::load(&path).unwrap().to_llama_config(&path).unwrap();
    assert_eq!(config.rope_theta, 500000.0);
    assert!(config.rope_scaling.is_some());
}

#[test]
fn llama_attention_bias_asks_for_q_k_v_and_o_biases() {
    let Some(fixtures) = hf_common::fixtures("llama attention_bias") else { return };
    let src = fixtures.join("tiny-llama");
    let dir = temp_dir("attention-bias");
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    json["attention_bias"] = Value::from(true);
    std::fs::write(dir.join("config.json"), json.to_string()).unwrap();
    let config = LlamaHfConfig::load(&dir.join("config.json")).unwrap().to_llama_config(&dir.join("config.json")).unwrap();
    assert!(config.attention_bias && config.attention_out_bias);
    std::fs::copy(src.join("model.safetensors"), dir.join("model.safetensors")).unwrap();
    let err = load_llama(&dir, LlamaOptions::default()).unwrap_err().to_string();
    assert!(err.contains("self_attn.") && err.contains("_proj.bias`: missing"), "{err}");
}

fn tiny_config() -> LlamaConfig {
    LlamaConfig {
        n_layer: 2,
        n_head: 4,
        n_kv_head: 2,
        n_embd: 16,
        head_dim: None,
        intermediate_size: 24,
        block_size: 32,
        vocab_size: 20,
        attention_bias: true,
        attention_out_bias: true,
        tie_embeddings: false,
        ..LlamaConfig::default()
    }
}

#[test]
fn left_padded_batches_and_the_cache_give_the_tokens_of_single_prompts() {
    let model = Llama::new(&tiny_config(), &ParamStore::new(3)).unwrap();
    let prompts = vec![vec![1, 2, 3, 4, 5, 6], vec![7, 8], vec![9, 10, 11]];
    let cfg = GenerationConfig { max_new_tokens: 6, ..GenerationConfig::default() };
    let batch = generate_batch(&model, &prompts, &cfg).unwrap();
    for (prompt, (ids, _)) in prompts.iter().zip(&batch) {
        let (alone, _) = generate_ids(&model, prompt, &cfg, false, &mut |_| true).unwrap();
        assert_eq!(ids, &alone, "prompt {prompt:?}");
    }
}

#[test]
fn a_few_adamw_steps_lower_the_loss_of_a_random_llama() {
    let store = ParamStore::new(7);
    let model = Llama::new(&tiny_config(), &store).unwrap();
    let params = store.trainable();
    assert!(params.iter().any(|(n, _)| n == "model.layers.1.self_attn.q_proj.bias"));
    let mut opt = AdamW::no_decay_1d(params, 0.0, AdamWConfig { lr: 1e-2, ..AdamWConfig::default() }).unwrap();
    let x: Vec<usize> = (0..16).map(|i| (i * 7) % 20).collect();
    let y: Vec<usize> = (0..16).map(|i| (i * 7 + 7) % 20).collect();
    let mut losses = Vec::new();
    for step in 0..10 {
        let loss = model.loss(&x, &y, 2, 8, &mut Ctx::train(0)).unwrap();
        losses.push(loss.to_scalar().unwrap());
        let grads = loss.backward().unwrap();
        if step == 0 {
            // autograd reaches every parameter (norm scales, biases, all projections)
            for (name, param) in store.trainable() {
                let g = grads.get(&param).unwrap_or_else(|| panic!("{name}: no gradient")).to_vec();
                assert!(g.iter().any(|&v| v != 0.0), "{name}: zero gradient");
            }
        }
        opt.step(&grads).unwrap();
    }
    assert!(losses[9] < 0.7 * losses[0], "losses {losses:?}");
}
