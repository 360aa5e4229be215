//! Quantized checkpoints (`quantize_folder`): GPT-2, Llama/Qwen2, T5, BART, BERT masked-LM and
//! MiniLM folders quantized to int8, q4 and bf16, loaded back through `AutoModel` with the same
//! logits as the model quantized in memory, generating; encoder–decoders against the f32 model
//! of their dequantized weights; MiniLM int8 embeddings within cosine 0.995 of f32; and the
//! errors of a bad target folder or a damaged file.

mod hf_common;

use std::path::{Path, PathBuf};

use hf_common::max_diff;
use loam_lm::hf::{
    Bart, BartConfig, BertBatch, LlamaOptions, SentenceEncoder, T5, T5Config, TIED_HEAD, WEIGHTS_FILE, load_gpt2,
    load_llama,
};
use loam_lm::seq2seq::{Seq2Seq, Seq2SeqConfig};
use loam_lm::{
    Architecture, AutoModel, CausalLm, GenerationConfig, Seq2SeqLm, generate_ids, generate_seq2seq, quantize_folder,
};
use loam_nn::{Ctx, KvCache, LinearWeight, ParamStore};
use loam_tensor::{KvPrecision, QuantActivations, QuantFormat, QuantMatrix, no_grad, quant_activations_scope};
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

/// Decoder logits `[T, vocab]` of `target` over the encoded `source`, one row, under `no_grad`;
/// products with quantized weights take f32 activations when `f32_activations`.
fn seq2seq_logits(model: &dyn Seq2SeqLm, source: &[usize], target: &[usize], f32_activations: bool) -> Vec<f32> {
    let _inference = no_grad();
    let _exact_inputs = f32_activations.then(|| quant_activations_scope(QuantActivations::F32));
    let mut ctx = Ctx::eval();
    let encoded = model.encode(source, 1, source.len(), &[source.len()], &mut ctx).unwrap();
    model.decode(target, 1, target.len(), &encoded, None, &mut ctx).unwrap().to_vec()
}

/// The largest difference of `got` from `want` over the largest `|want|`.
fn relative_diff(got: &[f32], want: &[f32]) -> f32 {
    max_diff(got, want) / want.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// How far a model with quantized weights may be from the f32 model of its dequantized
/// weights, over the largest logit, with f32 activations: the two differ by the order of sums
/// only (seen ≤ 2.2·10⁻⁶).
const DEQUANTIZED_F32_INPUTS: f32 = 1e-5;

#[test]
fn quantized_t5_and_bart_folders_load_with_the_in_memory_logits_and_generate() {
    let Some(fixtures) = hf_common::fixtures("quantized t5 and bart") else { return };
    let tmp = temp_dir("encdec");
    let (source, target) = ([5usize, 17, 42, 8, 99, 3, 1], [0usize, 12, 7, 301, 44]);
    // tiny-t5: 2 + 2 blocks, gated feed-forward: 4 + 3 projections an encoder block, 4 + 4 + 3
    // a decoder block; tiny-bart: 2 + 2 layers, 4 + 2 and 4 + 4 + 2; both a tied head
    for (name, model_type, weights) in
        [("tiny-t5", "t5", 2 * 7 + 2 * 11 + 1), ("tiny-bart", "bart", 2 * 6 + 2 * 10 + 1)]
    {
        let src = fixtures.join(name);
        let f32_model = AutoModel::from_dir(&src).unwrap();
        let exact = seq2seq_logits(f32_model.seq2seq_lm().unwrap(), &source, &target, false);
        for format in FORMATS {
            let out = tmp.join(format!("{name}-{format}"));
            let report = quantize_folder(&src, format, &out, false).unwrap();
            assert_eq!((report.model_type, report.weights), (model_type, weights), "{name} {format}");
            assert!(report.quantized_bytes < report.f32_bytes, "{name} {format}: {report:?}");
            let loaded = AutoModel::from_dir(&out).unwrap();
            let model = loaded.seq2seq_lm().unwrap();
            let got = seq2seq_logits(model, &source, &target, false);
            let mut in_memory = AutoModel::from_dir(&src).unwrap();
            in_memory.quantize(format).unwrap();
            let want = seq2seq_logits(in_memory.seq2seq_lm().unwrap(), &source, &target, false);
            let diff = max_diff(&got, &want);
            assert!(diff <= 1e-5, "{name} {format}: loaded and in-memory quantized logits differ by {diff}");
            assert!(relative_diff(&got, &exact) > 0.0, "{name} {format}: the loaded model computes with f32 weights");
            // the loader's store holds the dequantized projections, and the head's quantized
            // copy, dequantized, is an untied head: an f32 model built from them is what the
            // quantized products must compute
            let with_head = |store: &ParamStore, head: Option<&QuantMatrix>| {
                let copy = ParamStore::new(0);
                for (name, value) in store.params() {
                    copy.insert(&name, &value);
                }
                copy.insert(TIED_HEAD, &head.expect("a quantized head").dequantize());
                copy
            };
            let dequantized: Box<dyn Seq2SeqLm> = match &loaded.architecture {
                Architecture::T5 { model, store } => {
                    let config = T5Config { tie_word_embeddings: Some(false), ..model.config.clone() };
                    Box::new(T5::new(&config, &with_head(store, model.quantized_head())).unwrap())
                }
                Architecture::Bart { model, store } => {
                    let config = BartConfig { tie_word_embeddings: Some(false), ..model.config.clone() };
                    Box::new(Bart::new(&config, &with_head(store, model.quantized_head())).unwrap())
                }
                _ => unreachable!("{name} loads as an encoder–decoder"),
            };
            // int8 activations round every input of a small product: seen up to 7.6·10⁻² (q4)
            // on tiny-t5, whose random logits amplify any change (bf16 projections alone moved them
            // by 2.2·10⁻² from f32's), 4.6·10⁻² on tiny-bart
            for (f32_activations, bound) in [(true, DEQUANTIZED_F32_INPUTS), (false, 0.15)] {
                let want = seq2seq_logits(dequantized.as_ref(), &source, &target, false);
                let got = seq2seq_logits(model, &source, &target, f32_activations);
                let diff = relative_diff(&got, &want);
                assert!(
                    diff <= bound,
                    "{name} {format}: {diff} of the largest logit from the dequantized f32 model's \
                     (f32 activations: {f32_activations})"
                );
            }
            // no EOS id: every one of the steps runs, through the decoder's caches
            let cfg = GenerationConfig { max_new_tokens: 8, ..GenerationConfig::default() };
            let (new, _) = generate_seq2seq(model, &source, &cfg, &mut |_| true).unwrap();
            assert_eq!(new.len(), 8, "{name} {format}: greedy generation from the quantized folder");
        }
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn quantized_masked_lm_folders_load_with_the_in_memory_logits() {
    let Some(fixtures) = hf_common::fixtures("quantized masked lm") else { return };
    let tmp = temp_dir("mlm");
    let src = fixtures.join("tiny-bert-mlm");
    let batch = BertBatch::from_rows(&[vec![2, 5, 7, 4, 9, 3]], 0);
    let logits = |m: &AutoModel| {
        let _inference = no_grad();
        m.masked_lm().unwrap().forward_t(&batch, &mut Ctx::eval()).unwrap().to_vec()
    };
    let exact = logits(&AutoModel::from_dir(&src).unwrap());
    for format in FORMATS {
        let out = tmp.join(format.name());
        let report = quantize_folder(&src, format, &out, false).unwrap();
        // 2 layers of q, k, v, output, intermediate and output projections, and the head's transform
        assert_eq!(report.weights, 2 * 6 + 1, "{format}");
        let got = logits(&AutoModel::from_dir(&out).unwrap());
        let mut in_memory = AutoModel::from_dir(&src).unwrap();
        in_memory.quantize(format).unwrap();
        let diff = max_diff(&got, &logits(&in_memory));
        assert!(diff <= 1e-5, "{format}: loaded and in-memory quantized logits differ by {diff}");
        assert!(max_diff(&got, &exact) > 0.0, "{format}: the loaded model computes with f32 weights");
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn loams_encoder_decoder_quantizes_in_memory() {
    let config = Seq2SeqConfig {
        n_layer: 2,
        n_head: 2,
        n_embd: 64,
        d_ff: 128,
        block_size: 16,
        vocab_size: 40,
        dropout: 0.0,
        tie_embeddings: false,
        ..Seq2SeqConfig::default()
    };
    let store = ParamStore::new(7);
    let model = Seq2Seq::new(&config, &store).unwrap();
    let (source, target) = ([4usize, 9, 13, 2, 30], [1usize, 6, 22, 8]);
    for format in FORMATS {
        let mut quantized = model.quantize(format).unwrap();
        // self-attention, cross-attention (decoder) and feed-forward of both stacks, and the head
        let layers = quantized.linears_mut();
        assert_eq!(layers.len(), 2 * 6 + 2 * 10 + 1, "{format}");
        // the f32 model of the dequantized weights (every layer built [out, in])
        let dequantized = ParamStore::new(0);
        for (name, value) in store.params() {
            dequantized.insert(&name, &value.detach());
        }
        for l in &layers {
            let LinearWeight::Quantized(q) = &l.weight else { panic!("{format}: {:?} left in f32", l.name) };
            dequantized.insert(l.name.as_deref().unwrap(), &q.dequantize());
        }
        let want = Seq2Seq::new(&config, &dequantized).unwrap();
        // int8 activations (int8 and q4 weights): seen 3.3·10⁻³ and 6.0·10⁻³
        for (f32_activations, bound) in [(true, DEQUANTIZED_F32_INPUTS), (false, 0.02)] {
            let want = seq2seq_logits(&want, &source, &target, false);
            let got = seq2seq_logits(&quantized, &source, &target, f32_activations);
            let diff = relative_diff(&got, &want);
            assert!(
                f32_activations || format == QuantFormat::Bf16 || diff > 1e-4,
                "{format}: int8 activations left the logits of the f32 products unchanged ({diff})"
            );
            assert!(
                diff <= bound,
                "{format}: {diff} of the largest logit from the dequantized f32 model's \
                 (f32 activations: {f32_activations})"
            );
        }
    }
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
        let step =
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
