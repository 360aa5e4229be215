//! Quantized checkpoints (`quantize_folder`): GPT-2, Llama/Qwen2 and MiniLM folders quantized
//! to int8, q4 and bf16, loaded back through `AutoModel` with the same logits as the model
//! quantized in memory, generating; MiniLM int8 embeddings within cosine 0.995 of f32; and the
//! errors of a bad target folder or a damaged file.

mod hf_common;

use std::path::{Path, PathBuf};

use hf_common::max_diff;
use loam_lm::hf::{LlamaOptions, SentenceEncoder, WEIGHTS_FILE, load_gpt2, load_llama};
use loam_lm::{AutoModel, CausalLm, GenerationConfig, generate_ids, quantize_folder};
use loam_nn::{Ctx, KvCache};
use loam_tensor::{KvPrecision, QuantActivations, QuantFormat, no_grad, quant_activations_scope};
use serde_json::Value;

const FORMATS: [QuantFormat; 3] = [QuantFormat::Int8, QuantFormat::Q4, QuantFormat::Bf16];

/// A fresh temporary folder for `name`.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-quantize-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Logits `[T, vocab]` of `ids` through the model of `dir` loaded by `AutoModel` (under
/// `no_grad`, as generation and evaluation run: a quantized weight has no backward).
fn auto_logits(dir: &Path, ids: &[usize]) -> Vec<f32> {
    let model = AutoModel::from_dir(dir).unwrap();
    let lm = model.causal_lm().unwrap();
    let _inference = no_grad();
    lm.forward_padded(ids, 1, ids.len(), None, None, &mut Ctx::eval()).unwrap().to_vec()
}

#[test]
fn quantized_gpt2_folders_load_through_automodel_with_the_in_memory_logits_and_generate() {
    let Some(fixtures) = hf_common::fixtures("quantized gpt2") else { return };
    let src = fixtures.join("tiny-gpt2");
    let tmp = temp_dir("gpt2");
    let f32_model = load_gpt2(&src).unwrap();
    let n_layer = f32_model.model.config.n_layer;
    let ids = [3usize, 14, 15, 9, 2, 6];
    let exact = auto_logits(&src, &ids);
    for format in FORMATS {
        let out = tmp.join(format.name());
        let report = quantize_folder(&src, format, &out, false).unwrap();
        assert_eq!(report.weights, 4 * n_layer + 1, "{format}: four linear layers a block and the tied head");
        assert!(report.quantized_bytes < report.f32_bytes, "{format}: {report:?}");
        assert!(out.join("tokenizer.json").is_file() && out.join("config.json").is_file());
        let loaded = auto_logits(&out, &ids);
        let in_memory = f32_model.model.quantize(format).unwrap();
        // outside no_grad the f32 embeddings track gradients, and training is refused
        let err = in_memory.forward(&ids, 1, ids.len(), None, &mut Ctx::eval()).unwrap_err().to_string();
        assert!(err.contains("no backward"), "{format}: {err}");
        let _inference = no_grad();
        let want = in_memory.forward(&ids, 1, ids.len(), None, &mut Ctx::eval()).unwrap().to_vec();
        let diff = max_diff(&loaded, &want);
        assert!(diff <= 1e-5, "{format}: loaded and in-memory quantized logits differ by {diff}");
        let from_f32 = max_diff(&loaded, &exact);
        assert!(from_f32 > 0.0, "{format}: the loaded model computes with f32 weights");
        let auto = AutoModel::from_dir(&out).unwrap();
        let cfg = GenerationConfig { max_new_tokens: 8, ..GenerationConfig::default() };
        let (new, _) = generate_ids(auto.causal_lm().unwrap(), &ids, &cfg, true, &mut |_| true).unwrap();
        assert_eq!(new.len(), 8, "{format}: greedy generation from the quantized folder");
        // quantizing the quantized folder again (any format) reads its dequantized weights
        quantize_folder(&out, QuantFormat::Int8, &tmp.join(format!("{format}-again")), false).unwrap();
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn quantized_llama_and_qwen2_folders_load_with_the_in_memory_logits() {
    let Some(fixtures) = hf_common::fixtures("quantized llama") else { return };
    let tmp = temp_dir("llama");
    for name in ["tiny-llama", "tiny-qwen2"] {
        let src = fixtures.join(name);
        let f32_model = load_llama(&src, LlamaOptions::default()).unwrap();
        let ids = [1usize, 5, 9, 20, 7];
        for format in [QuantFormat::Int8, QuantFormat::Q4] {
            let out = tmp.join(format!("{name}-{format}"));
            let report = quantize_folder(&src, format, &out, false).unwrap();
            assert_eq!(
                report.weights,
                7 * f32_model.model.config.n_layer + usize::from(!f32_model.model.config.tie_embeddings)
            );
            let quantized = f32_model.model.quantize(format).unwrap();
            let want = {
                let _inference = no_grad();
                quantized.forward(&ids, 1, ids.len(), None, &mut Ctx::eval()).unwrap().to_vec()
            };
            let diff = max_diff(&auto_logits(&out, &ids), &want);
            assert!(diff <= 1e-5, "{name} {format}: loaded and in-memory quantized logits differ by {diff}");
        }
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// Prompt `ids[..3]` through `model` with its own caches, then the rest one position at a
/// time, each step's logits against the same steps with f32 caches: the largest difference
/// over the largest logit, and the precision of the model's own caches. The products keep f32
/// activations: int8 ones would turn the cache's rounding into whole steps of their own
/// (1–4% of the largest logit seen).
fn own_cache_against_f32(model: &dyn CausalLm, ids: &[usize]) -> (f32, KvPrecision) {
    let _inference = no_grad();
    let _exact_inputs = quant_activations_scope(QuantActivations::F32);
    let mut own = model.new_cache();
    let mut exact = vec![KvCache::with_precision(KvPrecision::F32); own.len()];
    let mut worst = 0.0f32;
    for n in 3..=ids.len() {
        let new = if n == 3 { &ids[..3] } else { &ids[n - 1..n] };
        let mut step =
            |cache| model.forward_last(new, 1, new.len(), None, Some(cache), &mut Ctx::eval()).unwrap().to_vec();
        let (got, want) = (step(&mut own), step(&mut exact));
        let largest = want.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        worst = worst.max(max_diff(&got, &want) / largest);
    }
    (worst, own[0].precision())
}

#[test]
fn quantized_and_bf16_models_decode_from_an_f16_cache_within_its_rounding() {
    let Some(fixtures) = hf_common::fixtures("f16 cache") else { return };
    let ids: Vec<usize> = (0..24).map(|i| (i * 37 + 5) % 90).collect();
    let gpt2 = load_gpt2(&fixtures.join("tiny-gpt2")).unwrap().model;
    let llama = load_llama(&fixtures.join("tiny-llama"), LlamaOptions::default()).unwrap().model;
    for model in [&gpt2 as &dyn CausalLm, &llama] {
        assert_eq!(own_cache_against_f32(model, &ids), (0.0, KvPrecision::F32), "f32 weights keep an f32 cache");
    }
    let mut models: Vec<(String, Box<dyn CausalLm>)> =
        vec![("llama to_bf16".into(), Box::new(llama.to_bf16().unwrap()))];
    for format in FORMATS {
        models.push((format!("gpt2 {format}"), Box::new(gpt2.quantize(format).unwrap())));
        models.push((format!("llama {format}"), Box::new(llama.quantize(format).unwrap())));
    }
    for (name, model) in &models {
        let (worst, precision) = own_cache_against_f32(model.as_ref(), &ids);
        assert_eq!(precision, KvPrecision::F16, "{name}");
        // f16 rounds each cached key and value by at most 2⁻¹¹ of itself: 1.9e-4 to 1.8e-3 of
        // the largest logit seen here (a bf16 cache, 2⁻⁸, would be about eight times that)
        assert!(worst > 0.0 && worst <= 4e-3, "{name}: the f16 cache moved the logits by {worst} of the largest");
    }
}

#[test]
fn minilm_int8_embeddings_stay_within_cosine_0_995_of_f32() {
    let (Some(fixtures), Some(model)) = (hf_common::fixtures("minilm int8"), hf_common::minilm("minilm int8")) else {
        return;
    };
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("minilm-reference.json")).unwrap()).unwrap();
    let texts: Vec<&str> = reference["cases"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap()).collect();
    let exact = SentenceEncoder::from_dir(&model).unwrap().encode(&texts).unwrap();
    let tmp = temp_dir("minilm");
    // int8 must keep 0.995; 4-bit groups of 32 through six small layers lose more (0.93 seen)
    for (format, bound) in [(QuantFormat::Int8, 0.995), (QuantFormat::Q4, 0.9)] {
        let out = tmp.join(format.name());
        let report = quantize_folder(&model, format, &out, false).unwrap();
        assert_eq!(report.weights, 6 * 6, "{format}: q, k, v, output, intermediate, output a layer");
        let encoder = SentenceEncoder::from_dir(&out).unwrap();
        let together = encoder.encode(&texts).unwrap();
        // one at a time too, as a search query is: a short sentence is a product of a few rows
        let alone: Vec<Vec<f32>> = texts.iter().map(|t| encoder.encode(&[*t]).unwrap().remove(0)).collect();
        for (how, got) in [("together", together), ("one at a time", alone)] {
            let worst = got.iter().zip(&exact).map(|(a, b)| hf_common::cosine(a, b)).fold(f64::INFINITY, f64::min);
            assert!(worst >= bound, "{format}, {how}: worst cosine to f32 {worst} < {bound}");
        }
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// A copy of the quantized folder `src` at `dst` whose weights file carries `meta` instead of
/// its own metadata.
fn rewrite_with_metadata(src: &Path, dst: &Path, meta: std::collections::HashMap<String, String>) {
    std::fs::create_dir_all(dst).unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let file = loam_nn::TensorFile::open(&src.join(WEIGHTS_FILE)).unwrap();
    let tensors: Vec<(String, loam_nn::safetensors_io::StoredTensor)> = file
        .entries()
        .keys()
        .map(|n| {
            let raw = file.raw(n).unwrap();
            let (dtype, shape, bytes) = (raw.dtype, raw.shape.to_vec(), raw.bytes.to_vec());
            (n.clone(), loam_nn::safetensors_io::StoredTensor { dtype, shape, bytes })
        })
        .collect();
    loam_nn::safetensors_io::save_raw(&dst.join(WEIGHTS_FILE), &tensors, Some(meta)).unwrap();
}

#[test]
fn a_q4_checkpoint_of_another_block_layout_is_refused_with_a_way_out() {
    let Some(fixtures) = hf_common::fixtures("q4 layout") else { return };
    let tmp = temp_dir("q4-layout");
    let out = tmp.join("q4");
    quantize_folder(&fixtures.join("tiny-gpt2"), QuantFormat::Q4, &out, false).unwrap();
    let file = loam_nn::TensorFile::open(&out.join(WEIGHTS_FILE)).unwrap();
    assert_eq!(file.metadata()["loam_q4_layout"], loam_tensor::Q4_LAYOUT.to_string());
    let raw = file.raw("transformer.h.0.mlp.c_fc.weight").unwrap();
    assert_eq!(raw.shape.last(), Some(&loam_tensor::Q4_BLOCK_BYTES), "blocks of 80 bytes");
    // a layout-1 file (written before the key existed) and an unknown layout
    for (layout, shown) in [(None, "layout 1"), (Some("3"), "layout 3")] {
        let mut meta = file.metadata().clone();
        match layout {
            None => meta.remove("loam_q4_layout"),
            Some(v) => meta.insert("loam_q4_layout".into(), v.into()),
        };
        let old = tmp.join(shown.replace(' ', "-"));
        rewrite_with_metadata(&out, &old, meta);
        let err = AutoModel::from_dir(&old).err().unwrap().to_string();
        assert!(err.contains(shown) && err.contains("re-quantize") && err.contains("cargo xtask quantize"), "{err}");
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_non_empty_target_the_source_itself_and_a_damaged_index_are_errors() {
    let Some(fixtures) = hf_common::fixtures("quantize errors") else { return };
    let src = fixtures.join("tiny-gpt2");
    let tmp = temp_dir("errors");
    let out = tmp.join("q");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "x").unwrap();
    let err = quantize_folder(&src, QuantFormat::Int8, &out, false).unwrap_err().to_string();
    assert!(err.contains("not empty") && err.contains("--overwrite"), "{err}");
    assert!(out.join("keep.txt").is_file(), "a refused run leaves the folder alone");
    quantize_folder(&src, QuantFormat::Int8, &out, true).unwrap();
    assert!(!out.join("keep.txt").exists() && out.join(WEIGHTS_FILE).is_file(), "--overwrite replaces the folder");
    let err = quantize_folder(&out, QuantFormat::Q4, &out, true).unwrap_err().to_string();
    assert!(err.contains("source folder"), "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(&tmp).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "no staging folder is left behind: {leftovers:?}");

    // a file whose index lists a weight it lacks
    let file = loam_nn::TensorFile::open(&out.join(WEIGHTS_FILE)).unwrap();
    let mut meta = file.metadata().clone();
    let index =
        meta["loam_quantized"].replace("\"transformer.h.0.mlp.c_fc.weight\"", "\"transformer.h.0.mlp.nothing.weight\"");
    meta.insert("loam_quantized".into(), index);
    let damaged = tmp.join("damaged");
    rewrite_with_metadata(&out, &damaged, meta);
    let err = AutoModel::from_dir(&damaged).err().unwrap().to_string();
    assert!(err.contains("transformer.h.0.mlp.nothing.weight") && err.contains("missing"), "{err}");
    std::fs::remove_dir_all(&tmp).unwrap();
}
