//! BERT from Hugging Face files: all-MiniLM-L6-v2 sentence embeddings against
//! sentence-transformers (cosine ≥ 0.99999 for every reference sentence), batching and
//! padding invariance, the masked-LM head, F16/BF16 weights, sharded weights and config
//! validation.

mod hf_common;

use std::path::Path;

use loam_lm::hf::{BertBatch, BertConfig, BertForMaskedLM, BertModel, SentenceEncoder};
use loam_nn::{Ctx, ParamStore};
use serde_json::Value;

/// The parity bound of the issue.
const MIN_COSINE: f64 = 0.99999;

#[test]
fn minilm_matches_sentence_transformers() {
    let (Some(fixtures), Some(model)) = (hf_common::fixtures("minilm parity"), hf_common::minilm("minilm parity")) else {
        return;
    };
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(fixtures.join("minilm-reference.json")).unwrap()).unwrap();
    let encoder = SentenceEncoder::from_dir(&model).unwrap();
    assert_eq!(encoder.max_seq_len, reference["max_seq_length"].as_u64().unwrap() as usize);
    let cases = reference["cases"].as_array().unwrap();
    let texts: Vec<&str> = cases.iter().map(|c| c["text"].as_str().unwrap()).collect();
    let ours = encoder.encode(&texts).unwrap();
    let mut worst = f64::INFINITY;
    for (case, e) in cases.iter().zip(&ours) {
        let want: Vec<f32> = case["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let cos = hf_common::cosine(e, &want);
        let text: String = case["text"].as_str().unwrap().chars().take(40).collect();
        assert!(cos >= MIN_COSINE, "cosine {cos} for {text:?}");
        worst = worst.min(cos);
        let norm: f32 = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
    println!("minilm parity: {} sentences, lowest cosine 1 - {:.1e}", cases.len(), 1.0 - worst);
    let long = texts.iter().find(|t| t.len() > 1000).expect("an over-long case");
    assert_eq!(encoder.tokenize(long).unwrap().len(), 256, "over-long input is truncated to 256 tokens");
}

#[test]
fn embeddings_do_not_depend_on_batching_or_padding() {
    let Some(model) = hf_common::minilm("batching") else { return };
    let mut encoder = SentenceEncoder::from_dir(&model).unwrap();
    let texts = ["short", "a somewhat longer sentence about refunds and shipping", "", "x y z"];
    let together = encoder.encode(&texts).unwrap();
    encoder.batch_size = 1;
    for (i, text) in texts.iter().enumerate() {
        let alone = encoder.encode(&[text]).unwrap();
        assert!(hf_common::cosine(&alone[0], &together[i]) > 0.999_999, "{text:?}");
    }
}

#[test]
fn masked_lm_head_reads_bert_prefixed_weights_in_f16_and_bf16() {
    let dir = tempdir("mlm");
    let config = tiny_config();
    write_config(&dir);
    let store = ParamStore::new(7);
    let mlm = BertForMaskedLM::new(&config, store.builder()).unwrap();
    let batch = BertBatch::from_rows(&[vec![2, 5, 7, 3], vec![2, 9, 3]], 0);
    let want = mlm.forward_t(&batch, &mut Ctx::eval()).unwrap().to_vec();
    store.save(&dir.join("model.safetensors"), None).unwrap();
    let (loaded, _) = BertForMaskedLM::from_dir(&dir).unwrap();
    assert_eq!(loaded.forward_t(&batch, &mut Ctx::eval()).unwrap().to_vec(), want);
    // The encoder alone reads the same file through its `bert.` prefix.
    let (encoder, _) = BertModel::from_dir(&dir).unwrap();
    let hidden = encoder.forward_t(&batch, &mut Ctx::eval()).unwrap();
    assert_eq!(hidden.shape(), &[2, 4, config.hidden_size]);
    for (dtype, tol) in [("F16", 2e-2), ("BF16", 1e-1)] {
        let half_dir = tempdir(&format!("mlm-{dtype}"));
        write_config(&half_dir);
        write_half(&store, &half_dir.join("model.safetensors"), dtype);
        let (half, _) = BertForMaskedLM::from_dir(&half_dir).unwrap();
        let got = half.forward_t(&batch, &mut Ctx::eval()).unwrap().to_vec();
        let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert!(worst < tol, "{dtype}: max difference {worst}");
    }
}

#[test]
fn sharded_weights_load_like_one_file() {
    let dir = tempdir("sharded");
    let config = tiny_config();
    write_config(&dir);
    let store = ParamStore::new(3);
    let model = BertModel::new(&config, store.builder()).unwrap();
    let batch = BertBatch::from_rows(&[vec![2, 4, 6, 3]], 0);
    let want = model.forward_t(&batch, &mut Ctx::eval()).unwrap().to_vec();
    let params = store.params();
    let (first, second) = params.split_at(params.len() / 2);
    let mut weight_map = serde_json::Map::new();
    for (shard, part) in [("model-00001-of-00002.safetensors", first), ("model-00002-of-00002.safetensors", second)] {
        loam_nn::safetensors_io::save(&dir.join(shard), part, None).unwrap();
        for (name, _) in part {
            weight_map.insert(name.clone(), Value::from(shard));
        }
    }
    let index = serde_json::json!({ "metadata": {}, "weight_map": weight_map });
    std::fs::write(dir.join("model.safetensors.index.json"), index.to_string()).unwrap();
    let (loaded, _) = BertModel::from_dir(&dir).unwrap();
    assert_eq!(loaded.forward_t(&batch, &mut Ctx::eval()).unwrap().to_vec(), want);
}

#[test]
fn unsupported_config_is_a_clear_error() {
    let dir = tempdir("bad-config");
    let base = serde_json::to_value(tiny_config_json()).unwrap();
    for (key, value, expect) in [
        ("model_type", "roberta", "unsupported model_type `roberta`"),
        ("hidden_act", "mish", "unsupported activation `mish`"),
        ("position_embedding_type", "relative_key", "unsupported position_embedding_type"),
    ] {
        let mut json = base.clone();
        json[key] = Value::from(value);
        std::fs::write(dir.join("config.json"), json.to_string()).unwrap();
        let err = BertConfig::load(&dir.join("config.json")).unwrap_err().to_string();
        assert!(err.contains(expect) && err.contains("config.json"), "{err}");
    }
}

fn tiny_config_json() -> Value {
    serde_json::json!({
        "model_type": "bert", "vocab_size": 16, "hidden_size": 8, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 12, "hidden_act": "gelu",
        "max_position_embeddings": 10, "type_vocab_size": 2, "layer_norm_eps": 1e-12
    })
}

fn tiny_config() -> BertConfig {
    serde_json::from_value(tiny_config_json()).unwrap()
}

fn write_config(dir: &Path) {
    std::fs::write(dir.join("config.json"), tiny_config_json().to_string()).unwrap();
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-hf-bert-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes every parameter of `store` as F16 or BF16 through the `safetensors` crate.
fn write_half(store: &ParamStore, path: &Path, dtype: &str) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, t) in store.params() {
        let begin = data.len();
        for v in t.to_vec() {
            let bytes = if dtype == "F16" { half::f16::from_f32(v).to_le_bytes() } else { half::bf16::from_f32(v).to_le_bytes() };
            data.extend_from_slice(&bytes);
        }
        header.insert(name, serde_json::json!({ "dtype": dtype, "shape": t.shape(), "data_offsets": [begin, data.len()] }));
    }
    let header = Value::Object(header).to_string();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&data);
    std::fs::write(path, bytes).unwrap();
}
