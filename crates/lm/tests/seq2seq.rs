//! The encoder–decoder: pairs files and their errors, batches, the label-smoothed loss (value
//! and gradient), gradients through cross-attention against finite differences
//! (`loam_tensor::gradcheck` tolerances), padding and cache invariance, config errors and
//! the BART export's layout.

use std::path::{Path, PathBuf};

use loam_lm::seq2seq::{
    IGNORE_INDEX, PositionKind, SPECIAL_TOKENS, Seq2Seq, Seq2SeqConfig, bart_config,
    char_tokenizer, char_tokenizer_json, export_bart, label_smoothed_cross_entropy,
};
use loam_lm::{EncodedPair, Seq2SeqLm, encode_pairs, make_batch, read_pairs};
use loam_nn::{Ctx, ParamStore};
use loam_tensor::gradcheck::{check, check_vars, randn};
use loam_tensor::{Tensor, no_grad};
use loam_text::Tokenizer;
use proptest::prelude::*;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-seq2seq-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn pairs_load_from_jsonl_and_tsv_and_bad_files_name_file_and_line() {
    let dir = tmp("pairs");
    let jsonl = write(&dir, "a.jsonl", b"{\"source\": \"5 Mar 2021\", \"target\": \"2021-03-05\"}\n\n{\"target\": \"b\", \"source\": \"a\"}\r\n");
    let pairs = read_pairs(&jsonl).unwrap();
    assert_eq!(pairs.len(), 2);
    assert_eq!(
        (pairs[0].source.as_str(), pairs[0].target.as_str()),
        ("5 Mar 2021", "2021-03-05")
    );
    assert_eq!(
        (pairs[1].source.as_str(), pairs[1].target.as_str()),
        ("a", "b")
    );
    let tsv = write(&dir, "a.tsv", "c b a\ta b c\nx\ty\n".as_bytes());
    assert_eq!(read_pairs(&tsv).unwrap()[1].target, "y");

    let cases: [(&str, &[u8], &str); 7] = [
        (
            "missing.tsv",
            b"a\tb\nonly one column\n",
            "line 2: expected two tab-separated columns",
        ),
        (
            "three.tsv",
            b"a\tb\tc\n",
            "line 1: expected two tab-separated columns (source, target), found 3",
        ),
        (
            "nokey.jsonl",
            b"{\"source\": \"a\", \"target\": \"b\"}\n{\"source\": \"a\"}\n",
            "line 2: no `target` key",
        ),
        (
            "number.jsonl",
            b"{\"source\": 3, \"target\": \"b\"}\n",
            "line 1: `source` is not a string",
        ),
        ("empty.tsv", b"\n\n", "holds no pairs"),
        (
            "utf8.tsv",
            b"ok\tfine\nbad \xff\tx\n",
            "line 2: invalid UTF-8 at byte 4",
        ),
        ("blank.tsv", b"a\t \n", "line 1: the target is empty"),
    ];
    for (name, bytes, expected) in cases {
        let p = write(&dir, name, bytes);
        let err = read_pairs(&p).unwrap_err().to_string();
        assert!(
            err.contains(name) && err.contains(expected),
            "{name}: {err}"
        );
    }
    let err = read_pairs(&write(&dir, "a.csv", b"a,b\n"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a.csv") && err.contains(".jsonl") && err.contains(".tsv"),
        "{err}"
    );
    let err = read_pairs(&dir.join("absent.tsv")).unwrap_err().to_string();
    assert!(
        err.contains("absent.tsv") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn the_char_vocabulary_round_trips_and_batches_pad_both_sides() {
    let tok = char_tokenizer(["ab", "ba c"]).unwrap();
    assert_eq!(
        tok.vocab_size(),
        SPECIAL_TOKENS.len() + 4,
        "<s> <pad> </s> <unk> then ' ', a, b, c"
    );
    assert_eq!(tok.token_to_id("<pad>"), Some(1));
    let ids = tok.encode("ca b", false).unwrap();
    assert_eq!(ids, vec![7, 5, 4, 6]);
    assert_eq!(
        tok.encode("ca b", true).unwrap(),
        vec![7, 5, 4, 6, 2],
        "the post-processor appends </s>"
    );
    assert_eq!(tok.decode(&[0, 7, 5, 4, 6, 2], true).unwrap(), "ca b");
    assert!(char_tokenizer_json(["a"]).contains("\"Fuse\""));

    let pairs = read_pairs(&write(&tmp("batch"), "p.tsv", b"ab\tb\nc\tcab\n")).unwrap();
    let enc = encode_pairs(&pairs, &tok, &tok, 2, 8).unwrap();
    assert_eq!(
        enc[0],
        EncodedPair {
            source: vec![5, 6, 2],
            target: vec![6]
        }
    );
    let batch = make_batch(&[&enc[0], &enc[1]], 1, 0, 2);
    assert_eq!((batch.b, batch.s, batch.t), (2, 3, 4));
    assert_eq!(batch.src, vec![5, 6, 2, 7, 2, 1]);
    assert_eq!(batch.src_lengths, vec![3, 2]);
    assert_eq!(batch.tgt_in, vec![0, 6, 1, 1, 0, 7, 5, 6]);
    assert_eq!(
        batch.labels,
        vec![6, 2, IGNORE_INDEX, IGNORE_INDEX, 7, 5, 6, 2]
    );
    let err = encode_pairs(&pairs, &tok, &tok, 2, 3)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pair 2") && err.contains("block_size 3"),
        "{err}"
    );
}

/// PyTorch's formula, row by row in f64.
fn smoothed_reference(logits: &[f32], v: usize, targets: &[i64], eps: f64) -> f64 {
    let (mut total, mut count) = (0.0, 0);
    for (row, &t) in logits.chunks(v).zip(targets) {
        if t == IGNORE_INDEX {
            continue;
        }
        let m = row.iter().fold(f32::MIN, |a, &b| a.max(b)) as f64;
        let lse = m + row.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln();
        let nll = lse - row[t as usize] as f64;
        let uniform = row.iter().map(|&x| lse - x as f64).sum::<f64>() / v as f64;
        total += (1.0 - eps) * nll + eps * uniform;
        count += 1;
    }
    total / count as f64
}

#[test]
fn label_smoothing_is_pytorchs() {
    let logits = randn(&[5, 7], 3);
    let targets = [3, IGNORE_INDEX, 0, 6, IGNORE_INDEX];
    for eps in [0.0, 0.1, 0.5] {
        let got = label_smoothed_cross_entropy(&logits, &targets, Some(IGNORE_INDEX), eps)
            .unwrap()
            .to_scalar()
            .unwrap() as f64;
        let want = smoothed_reference(&logits.to_vec(), 7, &targets, eps as f64);
        assert!((got - want).abs() < 1e-5, "eps {eps}: {got} vs {want}");
    }
    // F.cross_entropy(x, t, label_smoothing=0.1) for x = [[1, 2, 3], [0, 0, 1]], t = [0, 2], by hand
    let x = Tensor::from_vec(vec![1.0, 2.0, 3.0, 0.0, 0.0, 1.0], &[2, 3]).unwrap();
    let got = label_smoothed_cross_entropy(&x, &[0, 2], None, 0.1)
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!((got - 1.462_859_f32).abs() < 1e-5, "{got}");
    assert!(label_smoothed_cross_entropy(&x, &[0, 2], None, 1.5).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    #[test]
    fn label_smoothing_gradients_match_finite_differences(n in 1usize..6, v in 2usize..9, eps in 0.0f32..0.6, seed in 0u64..1000) {
        let targets: Vec<i64> = (0..n).map(|i| if (i as u64 + seed) % 4 == 3 { IGNORE_INDEX } else { ((i as u64 * 7 + seed) % v as u64) as i64 }).collect();
        check("label_smoothed_cross_entropy", &[randn(&[n, v], seed)], |x| {
            label_smoothed_cross_entropy(&x[0], &targets, Some(IGNORE_INDEX), eps).map_err(|e| loam_tensor::TensorError::invalid("loss", e.to_string()))
        });
    }
}

fn tiny(positions: PositionKind, pre_norm: bool, shared_vocab: bool) -> Seq2SeqConfig {
    Seq2SeqConfig {
        n_layer: 2,
        n_decoder_layer: 1,
        n_head: 2,
        n_embd: 8,
        d_ff: 12,
        block_size: 10,
        vocab_size: 11,
        shared_vocab,
        source_vocab_size: if shared_vocab { 0 } else { 9 },
        positions,
        pre_norm,
        dropout: 0.0,
        tie_embeddings: shared_vocab,
        ..Seq2SeqConfig::default()
    }
}

fn pair(source: &[usize], target: &[usize]) -> EncodedPair {
    EncodedPair {
        source: source.to_vec(),
        target: target.to_vec(),
    }
}

#[test]
fn gradients_through_cross_attention_match_finite_differences() {
    for (positions, pre_norm, shared) in [
        (PositionKind::Learned, false, true),
        (PositionKind::Sinusoidal, true, false),
    ] {
        let store = ParamStore::new(5);
        let model = Seq2Seq::new(&tiny(positions, pre_norm, shared), &store).unwrap();
        let (p, q) = (pair(&[3, 4, 5, 2], &[6, 7]), pair(&[8, 2], &[5, 4, 3]));
        let batch = make_batch(&[&p, &q], 1, 0, 2);
        let params = store.params();
        // the encoder reaches the loss only through cross-attention
        let names = [
            if shared {
                "model.shared.weight"
            } else {
                "model.encoder.embed_tokens.weight"
            },
            "model.encoder.layers.0.self_attn.q_proj.weight",
            "model.encoder.layers.1.fc2.weight",
            "model.decoder.layers.0.encoder_attn.k_proj.weight",
            "model.decoder.layers.0.encoder_attn.v_proj.bias",
            "model.decoder.layers.0.encoder_attn_layer_norm.weight",
        ];
        let vars: Vec<(&str, &Tensor)> = names
            .iter()
            .map(|n| {
                (
                    *n,
                    &params
                        .iter()
                        .find(|(name, _)| name == n)
                        .unwrap_or_else(|| panic!("{n}"))
                        .1,
                )
            })
            .collect();
        check_vars("seq2seq loss", &vars, || {
            model
                .loss(&batch, 0.1, &mut Ctx::eval())
                .map_err(|e| loam_tensor::TensorError::invalid("loss", e.to_string()))
        });
    }
}

#[test]
fn padding_and_the_cache_change_nothing() {
    let store = ParamStore::new(9);
    let model = Seq2Seq::new(&tiny(PositionKind::Learned, false, true), &store).unwrap();
    let _g = no_grad();
    // weights of order 1 (the init's 0.02 would leave logit differences below the tolerance)
    for (i, (_, p)) in store.params().iter().enumerate() {
        p.assign(&randn(p.shape(), 100 + i as u64).mul_scalar(0.5))
            .unwrap();
    }
    let (short, long) = (
        pair(&[3, 4, 2], &[5, 6, 7]),
        pair(&[8, 9, 10, 4, 5, 2], &[3]),
    );
    let alone = model
        .forward(&make_batch(&[&short], 1, 0, 2), &mut Ctx::eval())
        .unwrap()
        .to_vec();
    let batched = model
        .forward(&make_batch(&[&short, &long], 1, 0, 2), &mut Ctx::eval())
        .unwrap();
    let first = batched.narrow(0, 0, 1).unwrap().to_vec();
    let diff = alone
        .iter()
        .zip(&first)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        diff < 1e-5,
        "source and target padding leak into a row: {diff}"
    );

    // incremental decoding with the cache gives the teacher-forced logits
    let batch = make_batch(&[&short, &long], 1, 0, 2);
    let memory = model
        .encode(&batch.src, 2, batch.s, &batch.src_lengths, &mut Ctx::eval())
        .unwrap();
    let full = model.forward(&batch, &mut Ctx::eval()).unwrap();
    let mut cache = model.new_cache();
    for step in 0..batch.t {
        let ids: Vec<usize> = (0..2).map(|r| batch.tgt_in[r * batch.t + step]).collect();
        let got = model
            .decode(
                &ids,
                2,
                1,
                &memory,
                &batch.src_lengths,
                Some(&mut cache),
                &mut Ctx::eval(),
            )
            .unwrap()
            .to_vec();
        let want = full.narrow(1, step, 1).unwrap().to_vec();
        let diff = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-5, "step {step}: {diff}");
    }
    // the same through Seq2SeqLm's cache, with the rows swapped halfway (as beam search does)
    let encoded = Seq2SeqLm::encode(
        &model,
        &batch.src,
        2,
        batch.s,
        &batch.src_lengths,
        &mut Ctx::eval(),
    )
    .unwrap();
    let mut cache = Seq2SeqLm::new_cache(&model, &encoded);
    for step in 0..batch.t {
        let swapped = step >= 2;
        let rows: Vec<usize> = if swapped { vec![1, 0] } else { vec![0, 1] };
        let ids: Vec<usize> = rows
            .iter()
            .map(|&r| batch.tgt_in[r * batch.t + step])
            .collect();
        let got = Seq2SeqLm::decode(
            &model,
            &ids,
            2,
            1,
            &encoded.select_rows(&rows).unwrap(),
            Some(&mut cache),
            &mut Ctx::eval(),
        )
        .unwrap();
        for (i, &r) in rows.iter().enumerate() {
            let want = full
                .narrow(0, r, 1)
                .unwrap()
                .narrow(1, step, 1)
                .unwrap()
                .to_vec();
            let diff = got
                .narrow(0, i, 1)
                .unwrap()
                .to_vec()
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-5, "Seq2SeqLm step {step} row {r}: {diff}");
        }
        if step == 1 {
            cache.reorder(&[1, 0]).unwrap();
        }
    }
    let greedy = model.greedy(&batch, 5).unwrap();
    assert_eq!(greedy.len(), 2);
    assert!(greedy.iter().all(|g| g.len() <= 5 && !g.contains(&2)));
}

#[test]
fn bad_configs_and_inputs_are_errors_naming_the_key() {
    let store = ParamStore::new(1);
    let err = |c: Seq2SeqConfig| Seq2Seq::new(&c, &store).unwrap_err().to_string();
    let base = tiny(PositionKind::Learned, false, true);
    assert!(
        err(Seq2SeqConfig {
            n_embd: 9,
            ..base.clone()
        })
        .contains("`n_embd` 9 is not a multiple of `n_head` 2")
    );
    assert!(
        err(Seq2SeqConfig {
            eos_id: 11,
            ..base.clone()
        })
        .contains("`eos_id` 11")
    );
    assert!(
        err(Seq2SeqConfig {
            shared_vocab: false,
            ..base.clone()
        })
        .contains("`source_vocab_size`")
    );
    assert!(
        err(Seq2SeqConfig {
            activation: "swoosh".into(),
            ..base.clone()
        })
        .contains("swoosh")
    );
    let model = Seq2Seq::new(&base, &store).unwrap();
    let e = model
        .encode(&[3, 12], 1, 2, &[2], &mut Ctx::eval())
        .unwrap_err()
        .to_string();
    assert!(e.contains("id 12") && e.contains("vocabulary of 11"), "{e}");
    let e = model
        .encode(&[3; 11], 1, 11, &[11], &mut Ctx::eval())
        .unwrap_err()
        .to_string();
    assert!(e.contains("block size 10"), "{e}");

    for (c, key) in [
        (tiny(PositionKind::Sinusoidal, false, true), "`positions`"),
        (tiny(PositionKind::Learned, true, true), "`pre_norm`"),
        (tiny(PositionKind::Learned, false, false), "`shared_vocab`"),
        (
            Seq2SeqConfig {
                bias: false,
                ..base.clone()
            },
            "`bias`",
        ),
    ] {
        let e = bart_config(&c).unwrap_err().to_string();
        assert!(
            e.contains("cannot export as BART") && e.contains(key),
            "{e}"
        );
    }
}

#[test]
fn a_bart_shaped_model_exports_in_hugging_face_layout() {
    let dir = tmp("export");
    let tok_path = write(
        &dir,
        "tokenizer.json",
        char_tokenizer_json(["abcdefg"]).as_bytes(),
    );
    let config = tiny(PositionKind::Learned, false, true);
    let store = ParamStore::new(3);
    let model = Seq2Seq::new(&config, &store).unwrap();
    let out = dir.join("bart");
    export_bart(&model, &store, &tok_path, &out).unwrap();
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["architectures"][0], "BartForConditionalGeneration");
    assert_eq!(
        (
            cfg["d_model"].as_u64(),
            cfg["encoder_layers"].as_u64(),
            cfg["decoder_layers"].as_u64()
        ),
        (Some(8), Some(2), Some(1))
    );
    assert_eq!(
        (
            cfg["max_position_embeddings"].as_u64(),
            cfg["decoder_start_token_id"].as_u64()
        ),
        (Some(10), Some(0))
    );
    let generation: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("generation_config.json")).unwrap())
            .unwrap();
    assert_eq!(generation["eos_token_id"].as_u64(), Some(2));
    assert!(out.join("tokenizer.json").is_file());
    let loaded = loam_nn::safetensors_io::load(&out.join("model.safetensors")).unwrap();
    assert_eq!(
        loaded.metadata.get("format").map(String::as_str),
        Some("pt")
    );
    for (name, shape) in [
        ("model.shared.weight", vec![11, 8]),
        ("model.encoder.embed_tokens.weight", vec![11, 8]),
        ("model.encoder.embed_positions.weight", vec![12, 8]),
        ("model.encoder.layernorm_embedding.bias", vec![8]),
        (
            "model.encoder.layers.1.self_attn.out_proj.weight",
            vec![8, 8],
        ),
        ("model.encoder.layers.1.fc1.weight", vec![12, 8]),
        ("model.decoder.layers.0.encoder_attn.q_proj.bias", vec![8]),
        (
            "model.decoder.layers.0.encoder_attn_layer_norm.weight",
            vec![8],
        ),
        ("model.decoder.layers.0.final_layer_norm.weight", vec![8]),
        ("lm_head.weight", vec![11, 8]),
        ("final_logits_bias", vec![1, 11]),
    ] {
        let t = loaded
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(t.shape(), shape.as_slice(), "{name}");
    }
    assert_eq!(
        loaded.tensors["lm_head.weight"].to_vec(),
        store.get("model.shared.weight").unwrap().to_vec()
    );
    let err = export_bart(
        &Seq2Seq::new(&tiny(PositionKind::Sinusoidal, false, true), &store).unwrap(),
        &store,
        &tok_path,
        &dir.join("x"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("`positions`") && !dir.join("x").exists(),
        "{err}"
    );
}

#[test]
fn the_bart_export_loads_with_the_bart_loader_and_decodes_the_same() {
    let dir = tmp("roundtrip");
    let tok_path = write(
        &dir,
        "tokenizer.json",
        char_tokenizer_json(["abcdefg"]).as_bytes(),
    );
    let store = ParamStore::new(21);
    let model = Seq2Seq::new(&tiny(PositionKind::Learned, false, true), &store).unwrap();
    // weights of order 1, so that a wrong name, offset or norm order shows in the logits
    for (i, (_, p)) in store.params().iter().enumerate() {
        p.assign(&randn(p.shape(), 200 + i as u64).mul_scalar(0.5))
            .unwrap();
    }
    let out = dir.join("bart");
    export_bart(&model, &store, &tok_path, &out).unwrap();
    let bart = loam_lm::hf::load_bart(&out).unwrap();
    assert_eq!(
        (
            bart.decoder_start_token_id(),
            bart.pad_token_id(),
            bart.eos_token_ids()
        ),
        (0, 1, vec![2])
    );
    let (source, target) = ([4usize, 5, 6, 7, 2], [0usize, 8, 9, 10]);
    let logits = |m: &dyn Seq2SeqLm| {
        let _g = no_grad();
        let enc = m.encode(&source, 1, 5, &[5], &mut Ctx::eval()).unwrap();
        m.decode(&target, 1, 4, &enc, None, &mut Ctx::eval())
            .unwrap()
            .to_vec()
    };
    let (ours, theirs) = (logits(&model), logits(&bart));
    let diff = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-4, "logits differ by {diff}");
    let cfg = loam_lm::GenerationConfig {
        max_new_tokens: 8,
        eos_ids: vec![2],
        ..Default::default()
    };
    let greedy = |m: &dyn Seq2SeqLm| {
        loam_lm::generate_seq2seq(m, &source, &cfg, &mut |_| true)
            .unwrap()
            .0
    };
    assert_eq!(greedy(&model), greedy(&bart));
}
