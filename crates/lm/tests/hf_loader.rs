//! The safetensors loader on bad input: a truncated file, a header length beyond the file,
//! overlapping or out-of-bounds offsets, an unsupported dtype, a shape that disagrees with the
//! config and a missing tensor are each an error naming the file and the tensor; and
//! proptest-corrupted files never panic nor allocate from a forged header.

use std::path::{Path, PathBuf};

use loam_lm::hf::{BertConfig, BertModel};
use loam_nn::{ParamStore, StoredDtype, TensorFile};
use proptest::prelude::*;
use serde_json::{Value, json};

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-hf-loader-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A safetensors file from a header and a data section.
fn file_bytes(header: &Value, data: &[u8]) -> Vec<u8> {
    let header = header.to_string();
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// Two F32 tensors `a` [2] and `b` [3] back to back.
fn good_file() -> Vec<u8> {
    let header = json!({
        "a": { "dtype": "F32", "shape": [2], "data_offsets": [0, 8] },
        "b": { "dtype": "F32", "shape": [3], "data_offsets": [8, 20] },
    });
    file_bytes(&header, &[0u8; 20])
}

fn parse_err(bytes: Vec<u8>) -> String {
    TensorFile::parse(Path::new("weights.safetensors"), bytes).unwrap_err().to_string()
}

fn assert_names(err: &str, tensor: &str) {
    assert!(err.contains("weights.safetensors"), "no file in: {err}");
    assert!(err.contains(&format!("`{tensor}`")), "no tensor `{tensor}` in: {err}");
}

#[test]
fn a_good_file_loads() {
    let f = TensorFile::parse(Path::new("weights.safetensors"), good_file()).unwrap();
    assert_eq!(f.tensor("b").unwrap().shape(), &[3]);
}

#[test]
fn truncated_file_names_the_tensor_cut_off() {
    let mut bytes = good_file();
    bytes.truncate(bytes.len() - 4);
    let err = parse_err(bytes);
    assert_names(&err, "b");
    assert!(err.contains("truncated"), "{err}");
    assert!(parse_err(vec![1, 2, 3]).contains("truncated"));
}

#[test]
fn header_length_beyond_the_file() {
    let mut bytes = good_file();
    bytes[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let err = parse_err(bytes);
    assert!(err.contains("weights.safetensors") && err.contains("beyond the end of the file"), "{err}");
}

#[test]
fn header_length_beyond_the_file_on_disk_allocates_nothing() {
    let dir = tempdir("forged");
    let path = dir.join("model.safetensors");
    let mut bytes = good_file();
    bytes[..8].copy_from_slice(&(1u64 << 60).to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let err = TensorFile::open(&path).unwrap_err().to_string();
    assert!(err.contains("model.safetensors") && err.contains("beyond the end of the file"), "{err}");
}

#[test]
fn overlapping_offsets() {
    let header = json!({
        "a": { "dtype": "F32", "shape": [2], "data_offsets": [0, 8] },
        "b": { "dtype": "F32", "shape": [3], "data_offsets": [4, 16] },
    });
    let err = parse_err(file_bytes(&header, &[0u8; 20]));
    assert_names(&err, "b");
    assert!(err.contains("overlap") && err.contains("`a`"), "{err}");
}

#[test]
fn out_of_bounds_offsets() {
    let header = json!({ "a": { "dtype": "F32", "shape": [2], "data_offsets": [1000, 1008] } });
    let err = parse_err(file_bytes(&header, &[0u8; 8]));
    assert_names(&err, "a");
    assert!(err.contains("beyond"), "{err}");
}

#[test]
fn size_disagreeing_with_shape() {
    let header = json!({ "a": { "dtype": "F32", "shape": [3], "data_offsets": [0, 8] } });
    let err = parse_err(file_bytes(&header, &[0u8; 8]));
    assert_names(&err, "a");
}

#[test]
fn unsupported_dtype() {
    let header = json!({ "ids": { "dtype": "I64", "shape": [1], "data_offsets": [0, 8] } });
    let f = TensorFile::parse(Path::new("weights.safetensors"), file_bytes(&header, &[0u8; 8])).unwrap();
    let err = f.tensor("ids").unwrap_err().to_string();
    assert_names(&err, "ids");
    assert!(err.contains("unsupported dtype I64"), "{err}");
    // a type safetensors does not define makes the file unreadable, naming the tensor
    let header = json!({ "w": { "dtype": "Q4_K", "shape": [1], "data_offsets": [0, 1] } });
    let err = parse_err(file_bytes(&header, &[0u8; 1]));
    assert_names(&err, "w");
    assert!(err.contains("Q4_K"), "{err}");
}

#[test]
fn raw_bytes_come_as_stored() {
    let bf16 = [half::bf16::from_f32(1.5), half::bf16::from_f32(-2.0)];
    let bytes: Vec<u8> = bf16.iter().flat_map(|v| v.to_le_bytes()).collect();
    let header = json!({
        "a": { "dtype": "F32", "shape": [1], "data_offsets": [0, 4] },
        "w": { "dtype": "BF16", "shape": [2, 1], "data_offsets": [4, 8] },
    });
    let data: Vec<u8> = 7.0f32.to_le_bytes().into_iter().chain(bytes.iter().copied()).collect();
    let f = TensorFile::parse(Path::new("weights.safetensors"), file_bytes(&header, &data)).unwrap();
    let raw = f.raw("w").unwrap();
    assert_eq!((raw.dtype, raw.shape, raw.bytes), (StoredDtype::BF16, &[2, 1][..], &bytes[..]));
    assert_eq!(f.tensor("w").unwrap().to_vec(), [1.5, -2.0]);
    assert_names(&f.raw("x").unwrap_err().to_string(), "x");
}

#[test]
fn gaps_and_trailing_bytes_are_named() {
    let header = json!({
        "a": { "dtype": "F32", "shape": [1], "data_offsets": [0, 4] },
        "b": { "dtype": "F32", "shape": [1], "data_offsets": [8, 12] },
    });
    let err = parse_err(file_bytes(&header, &[0u8; 12]));
    assert_names(&err, "b");
    assert!(err.contains("unused"), "{err}");
    let err = parse_err([good_file(), vec![0u8; 3]].concat());
    assert!(err.contains("weights.safetensors") && err.contains("3 bytes after the last tensor"), "{err}");
}

fn tiny_config() -> Value {
    json!({
        "model_type": "bert", "vocab_size": 16, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 12, "hidden_act": "gelu",
        "max_position_embeddings": 10, "type_vocab_size": 2, "layer_norm_eps": 1e-12
    })
}

/// A BERT folder whose weights went through `edit` (name → (dtype, shape, values)).
fn bert_dir(name: &str, edit: impl FnOnce(&mut Vec<(String, String, Vec<usize>, Vec<u8>)>)) -> PathBuf {
    let dir = tempdir(name);
    std::fs::write(dir.join("config.json"), tiny_config().to_string()).unwrap();
    let config: BertConfig = serde_json::from_value(tiny_config()).unwrap();
    let store = ParamStore::new(1);
    BertModel::new(&config, store.builder()).unwrap();
    let mut tensors: Vec<(String, String, Vec<usize>, Vec<u8>)> = store
        .params()
        .into_iter()
        .map(|(n, t)| (n, "F32".to_string(), t.shape().to_vec(), t.to_vec().iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    edit(&mut tensors);
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        header.insert(name, json!({ "dtype": dtype, "shape": shape, "data_offsets": [data.len(), data.len() + bytes.len()] }));
        data.extend_from_slice(&bytes);
    }
    std::fs::write(dir.join("model.safetensors"), file_bytes(&Value::Object(header), &data)).unwrap();
    dir
}

fn load_err(dir: &Path) -> String {
    match BertModel::from_dir(dir) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn shape_disagreeing_with_config() {
    let dir = bert_dir("shape", |ts| {
        let t = ts.iter_mut().find(|t| t.0 == "encoder.layer.0.intermediate.dense.weight").unwrap();
        t.2 = vec![6, 16];
    });
    let err = load_err(&dir);
    assert!(err.contains("model.safetensors") && err.contains("`encoder.layer.0.intermediate.dense.weight`"), "{err}");
    assert!(err.contains("[6, 16]") && err.contains("[12, 8]"), "{err}");
}

#[test]
fn missing_tensor() {
    let dir = bert_dir("missing", |ts| ts.retain(|t| t.0 != "encoder.layer.0.attention.self.key.bias"));
    let err = load_err(&dir);
    assert!(err.contains("model.safetensors") && err.contains("`encoder.layer.0.attention.self.key.bias`"), "{err}");
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn non_float_parameter_is_an_unsupported_dtype() {
    let dir = bert_dir("dtype", |ts| {
        let t = ts.iter_mut().find(|t| t.0 == "embeddings.LayerNorm.bias").unwrap();
        t.1 = "I32".into();
    });
    let err = load_err(&dir);
    assert!(err.contains("model.safetensors") && err.contains("`embeddings.LayerNorm.bias`"), "{err}");
    assert!(err.contains("unsupported dtype I32"), "{err}");
}

#[test]
fn missing_weights_file() {
    let dir = tempdir("none");
    std::fs::write(dir.join("config.json"), tiny_config().to_string()).unwrap();
    assert!(load_err(&dir).contains("no model.safetensors"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random byte flips, truncations and forged header lengths: an error or a file, never
    /// a panic; a forged length is rejected before anything is allocated for it.
    #[test]
    fn corrupt_files_never_panic(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8),
        cut in any::<usize>(),
        forged_len in proptest::option::of(any::<u64>()),
    ) {
        let mut bytes = good_file();
        for (at, value) in flips {
            let i = at % bytes.len();
            bytes[i] = value;
        }
        if let Some(n) = forged_len {
            bytes[..8].copy_from_slice(&n.to_le_bytes());
        }
        bytes.truncate(cut % (bytes.len() + 1));
        if let Ok(f) = TensorFile::parse(Path::new("fuzz.safetensors"), bytes) {
            for name in f.entries().keys() {
                let _ = f.tensor(name);
            }
        }
    }

    /// Headers with arbitrary shapes and offsets (huge ones included) are validated against
    /// the data length: never a panic, never an allocation sized by the header.
    #[test]
    fn forged_headers_never_panic(
        dims in proptest::collection::vec(any::<u64>(), 0..4),
        begin in any::<u64>(),
        end in any::<u64>(),
        dtype in prop::sample::select(vec!["F32", "F16", "BF16", "I64", "BOOL", "X"]),
        data_len in 0usize..64,
    ) {
        let header = json!({ "t": { "dtype": dtype, "shape": dims, "data_offsets": [begin, end] } });
        if let Ok(f) = TensorFile::parse(Path::new("fuzz.safetensors"), file_bytes(&header, &vec![0u8; data_len])) {
            let _ = f.tensor("t");
        }
    }
}
