//! T5 and BART from Hugging Face files against `transformers` (`../shared/fixtures/tiny-t5`,
//! `tiny-bart`): teacher-forced logits at the first and last target positions within 1e-4,
//! the loss within 1e-5, the encoder's first output row within 1e-4, greedy and beam-4 (with
//! a 3-gram ban) token ids identical; and clear errors for a missing tensor and a config
//! whose shapes disagree with the weights.

mod hf_common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use hf_common::{floats, ids, max_diff};

use loam_lm::hf::{T5, T5Config, load_bart, load_t5, relative_position_bucket};
use loam_lm::{
    BeamConfig, EarlyStopping, GenerationConfig, Seq2SeqLm, beam_search_seq2seq, generate_seq2seq,
};
use loam_nn::{Ctx, ParamStore};
use loam_tensor::Tensor;

const LOGIT_TOL: f32 = 1e-4;
const LOSS_TOL: f32 = 1e-5;

/// Numbers the edited copies of one test run.
static COPIES: AtomicUsize = AtomicUsize::new(0);

/// Checks every case of `dir/reference.json` against `model`.
fn check_against_reference(model: &dyn Seq2SeqLm, dir: &Path) {
    let reference = hf_common::reference(dir);
    let v = model.vocab_size();
    let eos = model.eos_token_ids();
    for case in reference["cases"].as_array().unwrap() {
        let source = ids(&case["input_ids"]);
        let labels = ids(&case["labels"]);
        let encoded = model
            .encode(&source, 1, source.len(), &[source.len()], &mut Ctx::eval())
            .unwrap();
        let row = encoded.hidden.narrow(1, 0, 1).unwrap().to_vec();
        let enc = max_diff(&row, &floats(&case["encoder_last_hidden_first_row"]));
        assert!(enc <= LOGIT_TOL, "encoder first row differs by {enc}");
        // teacher forcing: the labels shifted right behind the decoder start token
        let t = labels.len();
        let mut input = vec![model.decoder_start_token_id()];
        input.extend(&labels[..t - 1]);
        let logits = model
            .decode(&input, 1, t, &encoded, None, &mut Ctx::eval())
            .unwrap();
        let all = logits.to_vec();
        let first = max_diff(&all[..v], &floats(&case["first_logits"]));
        let last = max_diff(&all[(t - 1) * v..], &floats(&case["last_logits"]));
        assert!(
            first <= LOGIT_TOL && last <= LOGIT_TOL,
            "logit differences {first} / {last}"
        );
        let targets: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        let loss = logits
            .reshape(&[t, v])
            .unwrap()
            .cross_entropy(&targets, None)
            .unwrap()
            .to_scalar()
            .unwrap();
        let want = case["loss"].as_f64().unwrap() as f32;
        assert!(
            (loss - want).abs() <= LOSS_TOL,
            "loss {loss}, transformers {want}"
        );
        // the same logits step by step with the caches
        let mut cache = model.new_cache(&encoded);
        for (i, &tok) in input.iter().enumerate() {
            let step = model
                .decode(&[tok], 1, 1, &encoded, Some(&mut cache), &mut Ctx::eval())
                .unwrap()
                .to_vec();
            let d = max_diff(&step, &all[i * v..(i + 1) * v]);
            assert!(d <= LOGIT_TOL, "cached step {i} differs by {d}");
        }

        let cfg = GenerationConfig {
            max_new_tokens: 20,
            eos_ids: eos.clone(),
            ..GenerationConfig::default()
        };
        let (greedy, _) = generate_seq2seq(model, &source, &cfg, &mut |_| true).unwrap();
        assert_eq!(
            as_hf(model, &greedy, &ids(&case["greedy_ids"])),
            ids(&case["greedy_ids"]),
            "greedy"
        );
        let cfg = GenerationConfig {
            no_repeat_ngram_size: 3,
            ..cfg
        };
        let beam = BeamConfig {
            num_beams: 4,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::True,
            ..BeamConfig::default()
        };
        let best = beam_search_seq2seq(model, &source, &cfg, &beam)
            .unwrap()
            .remove(0);
        assert_eq!(
            as_hf(model, &best.ids, &ids(&case["beam4_nrng3_ids"])),
            ids(&case["beam4_nrng3_ids"]),
            "beam-4"
        );
    }
}

/// `new` as `transformers` returns it: after the decoder start token, with the EOS that
/// loam leaves out when the reference has it at that place.
fn as_hf(model: &dyn Seq2SeqLm, new: &[usize], reference: &[usize]) -> Vec<usize> {
    let mut out = vec![model.decoder_start_token_id()];
    out.extend(new);
    if let Some(&next) = reference.get(out.len())
        && model.eos_token_ids().contains(&(next as u32))
    {
        out.push(next);
    }
    out
}

#[test]
fn tiny_t5_matches_transformers() {
    let Some(fixtures) = hf_common::fixtures("tiny-t5 parity") else {
        return;
    };
    let dir = fixtures.join("tiny-t5");
    check_against_reference(&load_t5(&dir).unwrap(), &dir);
}

#[test]
fn tiny_bart_matches_transformers() {
    let Some(fixtures) = hf_common::fixtures("tiny-bart parity") else {
        return;
    };
    let dir = fixtures.join("tiny-bart");
    let bart = load_bart(&dir).unwrap();
    assert_eq!(bart.decoder_start_token_id(), 2);
    assert_eq!(bart.forced_eos_token_id(), Some(2));
    check_against_reference(&bart, &dir);
}

/// Greedy decoding step by step from the full logits, as the screened head must reproduce.
fn greedy_from_logits(model: &dyn Seq2SeqLm, source: &[usize], n: usize) -> Vec<usize> {
    let _g = loam_tensor::no_grad();
    let mut ctx = Ctx::eval();
    let encoded = model.encode(source, 1, source.len(), &[source.len()], &mut ctx).unwrap();
    let mut cache = model.new_cache(&encoded);
    let mut seq = vec![model.decoder_start_token_id()];
    while seq.len() <= n {
        let last = seq[seq.len() - 1];
        let logits = model.decode(&[last], 1, 1, &encoded, Some(&mut cache), &mut ctx).unwrap();
        seq.push(loam_lm::argmax(&logits.to_vec()));
    }
    seq.split_off(1)
}

#[test]
fn greedy_through_the_screened_head_equals_the_argmax_of_the_logits() {
    // random weights at a small flan-t5-like shape, untied (v1.1) and tied (v1.0, rescaled)
    for (seed, tied) in [(3u64, false), (4, true)] {
        let config: T5Config = serde_json::from_value(serde_json::json!({
            "vocab_size": 3000, "d_model": 64, "d_kv": 16, "d_ff": 128, "num_layers": 2,
            "num_heads": 4, "feed_forward_proj": "gated-gelu", "tie_word_embeddings": tied,
            "decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 1
        }))
        .unwrap();
        let t5 = T5::new(&config, &ParamStore::new(seed)).unwrap();
        let source: Vec<usize> = (0..24).map(|i| (i * 251 + 7) % 3000).collect();
        let cfg = GenerationConfig { max_new_tokens: 40, ..GenerationConfig::default() };
        let (greedy, _) = generate_seq2seq(&t5, &source, &cfg, &mut |_| true).unwrap();
        assert_eq!(greedy, greedy_from_logits(&t5, &source, 40), "tied {tied}");
    }
}

#[test]
fn relative_buckets_follow_t5() {
    // bidirectional, 32 buckets over 128: 8 exact either side, then logarithmic
    assert_eq!(relative_position_bucket(0, true, 32, 128), 0);
    assert_eq!(relative_position_bucket(3, true, 32, 128), 19);
    assert_eq!(relative_position_bucket(-3, true, 32, 128), 3);
    assert_eq!(relative_position_bucket(-20, true, 32, 128), 10);
    assert_eq!(relative_position_bucket(-1000, true, 32, 128), 15);
    // causal: keys after the query share bucket 0
    assert_eq!(relative_position_bucket(5, false, 32, 128), 0);
    // 16 exact buckets, then 16 + ⌊ln(20/16) / ln(128/16) · 16⌋ = 17
    assert_eq!(relative_position_bucket(-20, false, 32, 128), 17);
    assert_eq!(relative_position_bucket(-1000, false, 32, 128), 31);
}

/// A checkpoint's tensors by name.
type Tensors = Vec<(String, Tensor)>;

/// A copy of the fixture `name` in a fresh folder, its weights rewritten by `edit` (tensor
/// name → tensor; removing drops it) and its config by `config`.
fn edited_copy(
    name: &str,
    edit: &dyn Fn(&mut Tensors),
    config: &dyn Fn(&mut serde_json::Value),
) -> Option<PathBuf> {
    let fixtures = hf_common::fixtures(name)?;
    let src = fixtures.join(name);
    let dir = std::env::temp_dir().join(format!(
        "loam-hf-seq2seq-{name}-{}-{}",
        std::process::id(),
        COPIES.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["generation_config.json", "tokenizer.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut c: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
    config(&mut c);
    std::fs::write(dir.join("config.json"), c.to_string()).unwrap();
    let file = loam_nn::TensorFile::open(&src.join("model.safetensors")).unwrap();
    let mut tensors: Tensors = file
        .entries()
        .keys()
        .map(|n| (n.clone(), file.tensor(n).unwrap()))
        .collect();
    edit(&mut tensors);
    loam_nn::safetensors_io::save(&dir.join("model.safetensors"), &tensors, None).unwrap();
    Some(dir)
}

#[test]
fn a_missing_tensor_is_named() {
    let missing = "decoder.block.1.layer.1.EncDecAttention.k.weight";
    let Some(dir) = edited_copy("tiny-t5", &|t| t.retain(|(n, _)| n != missing), &|_| {}) else {
        return;
    };
    let err = load_t5(&dir).unwrap_err().to_string();
    assert!(err.contains(missing) && err.contains("missing"), "{err}");
}

#[test]
fn shapes_that_disagree_with_the_config_are_named() {
    let Some(dir) = edited_copy("tiny-t5", &|_| {}, &|c| c["d_ff"] = 96.into()) else {
        return;
    };
    let err = load_t5(&dir).unwrap_err().to_string();
    assert!(
        err.contains("DenseReluDense.wi_0.weight")
            && err.contains("[128, 64]")
            && err.contains("[96, 64]"),
        "{err}"
    );
    let Some(dir) = edited_copy("tiny-bart", &|_| {}, &|c| c["encoder_ffn_dim"] = 96.into()) else {
        return;
    };
    let err = load_bart(&dir).unwrap_err().to_string();
    assert!(
        err.contains("model.encoder.layers.0.fc1.weight") && err.contains("[128, 64]"),
        "{err}"
    );
    let Some(dir) = edited_copy("tiny-t5", &|_| {}, &|c| {
        c["feed_forward_proj"] = "gated-swirl".into()
    }) else {
        return;
    };
    let err = load_t5(&dir).unwrap_err().to_string();
    assert!(
        err.contains("config.json") && err.contains("gated-swirl"),
        "{err}"
    );
}
