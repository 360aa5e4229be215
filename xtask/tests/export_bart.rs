//! `cargo xtask export --model RUN --format hf --out DIR`, run as a user runs it: a seq2seq
//! run trained by `loam_lm::train` exports in BART's layout, loam's BART loader reads it back
//! with the run's logits (within 1e-5) and greedy ids, and `transformers`, when python3 has
//! it, loads the folder with `BartForConditionalGeneration` and `AutoTokenizer` and gives the
//! same source ids, greedy ids and logits (within 1e-4). Bad requests fail in one line.

use std::path::{Path, PathBuf};
use std::process::Command;

use loam_lm::{
    AutoModel, GenerationConfig, ModelArchitecture, ObjectiveKind, RunOptions, TrainConfig,
    generate_seq2seq, train,
};
use loam_nn::Ctx;
use loam_text::Tokenizer;
use serde_json::Value;

/// A fresh temporary folder named for the test.
fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-xtask-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Trains a tiny reverse-the-letters encoder–decoder for 40 steps into `dir/run`.
fn train_run(dir: &Path) -> PathBuf {
    let words = [
        "abc", "bcd", "cade", "dab", "ebca", "fab", "gec", "hadb", "cab", "feed", "bead", "dace",
    ];
    let pairs: String = words
        .iter()
        .map(|w| format!("{w}\t{}\n", w.chars().rev().collect::<String>()))
        .collect();
    let (t, v) = (dir.join("train.tsv"), dir.join("valid.tsv"));
    std::fs::write(&t, &pairs).unwrap();
    std::fs::write(&v, &pairs).unwrap();
    let mut c = TrainConfig::default();
    c.model.architecture = ModelArchitecture::Seq2seq;
    c.model.objective = ObjectiveKind::Seq2seq;
    (
        c.model.n_layer,
        c.model.n_head,
        c.model.n_embd,
        c.model.block_size,
    ) = (2, 4, 32, 8);
    c.model.bias = true;
    c.data.train = Some(t);
    c.data.valid = Some(v);
    c.optim.iters = 40;
    c.optim.batch_size = 8;
    c.optim.lr = 3e-3;
    c.optim.warmup = 5;
    c.run.eval_interval = 40;
    c.run.checkpoint_interval = 40;
    let out = dir.join("run");
    train(
        &c,
        &RunOptions {
            out: out.clone(),
            ..RunOptions::default()
        },
    )
    .unwrap();
    out
}

fn xtask(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .output()
        .unwrap()
}

/// The source ids of `text`, the decoder logits `[T, V]` on `[start] + greedy` and the greedy
/// ids (start token included, at most `new` new ones, EOS kept as transformers keeps it).
fn loam_side(dir: &Path, text: &str, new: usize) -> (Vec<usize>, Vec<usize>, Vec<f32>) {
    let m = AutoModel::from_dir(dir).unwrap();
    let lm = m.seq2seq_lm().unwrap();
    let source: Vec<usize> = m
        .tokenizer
        .encode(text, true)
        .unwrap()
        .into_iter()
        .map(|i| i as usize)
        .collect();
    let cfg = GenerationConfig {
        max_new_tokens: new,
        eos_ids: lm.eos_token_ids(),
        ..GenerationConfig::default()
    };
    let (ids, _) = generate_seq2seq(lm, &source, &cfg, &mut |_| true).unwrap();
    let mut greedy = vec![lm.decoder_start_token_id()];
    greedy.extend(ids);
    if greedy.len() <= new {
        greedy.push(lm.eos_token_ids()[0] as usize);
    }
    let mut ctx = Ctx::eval();
    let enc = lm
        .encode(&source, 1, source.len(), &[source.len()], &mut ctx)
        .unwrap();
    let logits = lm
        .decode(&greedy, 1, greedy.len(), &enc, None, &mut ctx)
        .unwrap();
    (source, greedy, logits.to_vec())
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "logits of different sizes");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn a_seq2seq_run_exports_as_bart_that_loam_and_transformers_load() {
    let dir = tmp("export-bart");
    let run = train_run(&dir);
    let bart = dir.join("bart");
    let out = xtask(&[
        "export",
        "--model",
        run.to_str().unwrap(),
        "--format",
        "hf",
        "--out",
        bart.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("as BART"));
    for f in [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
    ] {
        assert!(bart.join(f).is_file(), "{f} missing");
    }
    assert_eq!(AutoModel::from_dir(&bart).unwrap().model_type(), "bart");

    let (text, new) = ("bead", 6);
    let (src_run, greedy_run, logits_run) = loam_side(&run.join("best"), text, new);
    let (src_bart, greedy_bart, logits_bart) = loam_side(&bart, text, new);
    assert_eq!(src_run, src_bart);
    assert_eq!(greedy_run, greedy_bart);
    let d = max_diff(&logits_run, &logits_bart);
    assert!(d <= 1e-5, "loam's BART loader: logits differ by {d}");

    let has_transformers = Command::new("python3")
        .args(["-c", "import torch, transformers"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_transformers {
        println!("transformers check: did not run (python3 has no torch/transformers)");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("py/bart-logits.py");
    let py = Command::new("python3")
        .arg(&script)
        .args([bart.to_str().unwrap(), text, &new.to_string()])
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stderr)
    );
    let v: Value = serde_json::from_slice(&py.stdout).unwrap();
    let ids = |k: &str| {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids("source"), src_run, "transformers' tokenizer");
    assert_eq!(ids("greedy"), greedy_run, "transformers' greedy ids");
    let logits_hf: Vec<f32> = v["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
        })
        .collect();
    let d = max_diff(&logits_run, &logits_hf);
    println!("transformers check: logits within {d:.2e}, greedy {greedy_run:?}");
    assert!(d <= 1e-4, "transformers: logits differ by {d}");
}

#[test]
fn export_refuses_bad_requests_in_one_line() {
    let dir = tmp("export-bad");
    let run = dir.join("nothing");
    std::fs::create_dir_all(&run).unwrap();
    let cases: [(&[&str], &str); 2] = [
        (
            &["--format", "onnx"],
            "--format onnx: the only export format is hf",
        ),
        (&[], "neither a loam checkpoint"),
    ];
    for (extra, want) in cases {
        let mut args = vec![
            "export",
            "--model",
            run.to_str().unwrap(),
            "--out",
            "/tmp/loam-unused-export",
        ];
        args.extend_from_slice(extra);
        let out = xtask(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(want) && err.trim().lines().count() == 1,
            "{err}"
        );
    }
    // a non-empty --out needs --overwrite
    let out = xtask(&[
        "export",
        "--model",
        run.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --overwrite"));
}
