//! `cargo xtask generate` with encoder–decoders and beams, run as a user runs it: the tiny T5
//! and BART give `transformers`' greedy and beam-4 ids for the source's text, the tiny GPT-2
//! its beam reference, and meaningless beam flags are refused in one line.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// `$LOAM_FIXTURES`, else `../shared/fixtures` beside the workspace; `None` (saying why) when
/// neither exists.
fn fixtures(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("LOAM_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"));
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "{test}: did not run: no fixtures at {} (set LOAM_FIXTURES)",
            dir.display()
        );
        None
    }
}

/// Runs `generate` with `args` and parses its JSON line.
fn generate_json(model: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["generate", "--model", model.to_str().unwrap(), "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
fn seq2seq_models_give_the_reference_ids_from_the_command_line() {
    let Some(fixtures) = fixtures("generate seq2seq") else {
        return;
    };
    for (name, start, eos) in [("tiny-t5", 0, 1), ("tiny-bart", 2, 2)] {
        let dir = fixtures.join(name);
        let reference: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
                .unwrap();
        let case = &reference["cases"][0];
        let source = case["source"].as_str().unwrap();
        // the reference holds the start token and, when it ended so, the EOS
        let strip = |v: &Value| -> Vec<u64> {
            let mut v = ids(v);
            assert_eq!(v.remove(0), start);
            if v.last() == Some(&eos) {
                v.pop();
            }
            v
        };
        let greedy = generate_json(&dir, &["--prompt", source, "--max-new-tokens", "20"]);
        assert_eq!(
            greedy["prompt_tokens"].as_u64().unwrap() as usize,
            case["input_ids"].as_array().unwrap().len(),
            "{name}: the source is tokenized as transformers does"
        );
        assert_eq!(
            ids(&greedy["ids"]),
            strip(&case["greedy_ids"]),
            "{name} greedy"
        );
        let beam = generate_json(
            &dir,
            &[
                "--prompt",
                source,
                "--max-new-tokens",
                "20",
                "--num-beams",
                "4",
                "--no-repeat-ngram-size",
                "3",
                "--early-stopping",
                "true",
                "--num-return-sequences",
                "2",
            ],
        );
        assert_eq!(
            ids(&beam["ids"]),
            strip(&case["beam4_nrng3_ids"]),
            "{name} beam-4"
        );
        let seqs = beam["sequences"].as_array().unwrap();
        assert_eq!(seqs.len(), 2);
        assert!(seqs[0]["score"].as_f64().unwrap() >= seqs[1]["score"].as_f64().unwrap());
    }
}

#[test]
fn gpt2_beams_from_the_command_line_match_transformers() {
    let Some(fixtures) = fixtures("generate gpt2 beams") else {
        return;
    };
    let dir = fixtures.join("tiny-gpt2");
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("beam-reference.json")).unwrap())
            .unwrap();
    let case = &reference["cases"][1];
    let out = generate_json(
        &dir,
        &[
            "--prompt",
            case["prompt"].as_str().unwrap(),
            "--max-new-tokens",
            "16",
            "--num-beams",
            "3",
            "--num-return-sequences",
            "3",
            "--no-repeat-ngram-size",
            "2",
            "--length-penalty",
            "0.6",
            "--early-stopping",
            "true",
        ],
    );
    let got: Vec<Vec<u64>> = out["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| ids(&s["ids"]))
        .collect();
    let want: Vec<Vec<u64>> = case["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(ids)
        .collect();
    assert_eq!(got, want);
}

#[test]
fn meaningless_beam_flags_are_refused_in_one_line() {
    let Some(fixtures) = fixtures("generate beam flags") else {
        return;
    };
    let dir = fixtures.join("tiny-t5");
    for (flags, what) in [
        (vec!["--num-beams", "0"], "num_beams must be at least 1"),
        (
            vec!["--num-beams", "2", "--num-return-sequences", "3"],
            "num_return_sequences 3",
        ),
        (
            vec!["--early-stopping", "sometimes"],
            "early_stopping `sometimes`",
        ),
        (
            vec!["--num-beams", "2", "--sample", "--top-p", "2"],
            "top_p 2",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args([
                "generate",
                "--model",
                dir.to_str().unwrap(),
                "--prompt",
                "summarize: hello",
            ])
            .args(&flags)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(what) && err.trim().lines().count() == 1,
            "{flags:?}: {err}"
        );
    }
}

/// A stop string taken from the middle of `text`: two characters starting at its second one
/// (on character boundaries), or `None` when the text is too short.
fn stop_from(text: &str) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    (chars.len() >= 4).then(|| chars[1..3].iter().collect())
}

#[test]
fn stop_strings_cut_greedy_and_beam_outputs_of_an_encoder_decoder() {
    let Some(fixtures) = fixtures("generate stop strings") else {
        return;
    };
    let dir = fixtures.join("tiny-bart");
    let source = [
        "--prompt",
        "First Citizen: Before we proceed any further, hear me speak.",
        "--max-new-tokens",
        "12",
    ];
    // greedy: the text is the unstopped one cut before the string, the ids end at the token
    // that completed it
    let full = generate_json(&dir, &source);
    let text = full["text"].as_str().unwrap().to_string();
    let stop = stop_from(&text)
        .unwrap_or_else(|| panic!("the output {text:?} is too short to take a stop string from"));
    let mut args = source.to_vec();
    args.extend(["--stop", stop.as_str()]);
    let cut = generate_json(&dir, &args);
    let at = text.find(&stop).unwrap();
    assert_eq!(cut["text"].as_str().unwrap(), &text[..at], "stop {stop:?}");
    assert_eq!(cut["finish_reason"], "stop");
    let (all, kept) = (ids(&full["ids"]), ids(&cut["ids"]));
    assert!(
        kept.len() < all.len() && all.starts_with(&kept),
        "{kept:?} of {all:?}"
    );
    // beams: a hypothesis that reaches the string ends there and competes on its score, so
    // the best may change; no returned text holds the string
    let mut args = source.to_vec();
    args.extend(["--num-beams", "3", "--num-return-sequences", "3"]);
    let full = generate_json(&dir, &args);
    let best = full["text"].as_str().unwrap().to_string();
    let stop = stop_from(&best)
        .unwrap_or_else(|| panic!("the output {best:?} is too short to take a stop string from"));
    args.extend(["--stop", stop.as_str()]);
    let cut = generate_json(&dir, &args);
    for seq in cut["sequences"].as_array().unwrap() {
        let t = seq["text"].as_str().unwrap();
        assert!(!t.contains(&stop), "{t:?} holds the stop string {stop:?}");
    }
}

#[test]
fn sampled_beams_are_seeded_and_vary_with_the_seed() {
    let Some(fixtures) = fixtures("generate beam sampling") else {
        return;
    };
    let dir = fixtures.join("tiny-t5");
    let run = |seed: &str| {
        let v = generate_json(
            &dir,
            &[
                "--prompt",
                "summarize: hello there",
                "--max-new-tokens",
                "8",
                "--num-beams",
                "3",
                "--sample",
                "--seed",
                seed,
            ],
        );
        ids(&v["ids"])
    };
    assert_eq!(run("7"), run("7"), "the same seed gives the same beams");
    let distinct: std::collections::BTreeSet<Vec<u64>> =
        (0..6).map(|s| run(&s.to_string())).collect();
    assert!(
        distinct.len() >= 3,
        "six seeds gave {} distinct outputs",
        distinct.len()
    );
}
