//! `objective = "seq2seq"` through `loam_lm::train`: a tiny encoder–decoder learns to reverse
//! strings, validation writes exact match and BLEU to `metrics.jsonl`, a resumed run follows
//! the uninterrupted one to the bit, and the run folder generates through `AutoModel`.

mod train_common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use loam_lm::{
    AutoModel, GenerationConfig, Metric, ModelArchitecture, ObjectiveKind, RunOptions, TrainConfig,
    generate_seq2seq, train,
};
use loam_tensor::Rng;
use loam_text::Tokenizer;
use train_common::{assert_resumed_like_uninterrupted, opts, tmp};

/// Distinct random strings of 3–6 letters of `abcdefgh`, each with its reversal: `n_train`
/// training pairs as JSON lines and `n_valid` held-out ones as TSV. Returns both paths.
fn reverse_task(dir: &Path, n_train: usize, n_valid: usize) -> (PathBuf, PathBuf) {
    let mut rng = Rng::new(5);
    let mut seen = BTreeSet::new();
    while seen.len() < n_train + n_valid {
        let len = 3 + rng.below(4) as usize;
        let s: String = (0..len)
            .map(|_| (b'a' + rng.below(8) as u8) as char)
            .collect();
        seen.insert(s);
    }
    let mut words: Vec<String> = seen.into_iter().collect();
    // a shuffled split, so held-out words are not a sorted tail
    for i in (1..words.len()).rev() {
        words.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let reverse = |w: &String| w.chars().rev().collect::<String>();
    let train: String = words[..n_train]
        .iter()
        .map(|w| {
            format!(
                "{}\n",
                serde_json::json!({"source": w, "target": reverse(w)})
            )
        })
        .collect();
    let valid: String = words[n_train..]
        .iter()
        .map(|w| format!("{w}\t{}\n", reverse(w)))
        .collect();
    let (t, v) = (dir.join("train.jsonl"), dir.join("valid.tsv"));
    std::fs::write(&t, train).unwrap();
    std::fs::write(&v, valid).unwrap();
    (t, v)
}

fn config(train: &Path, valid: &Path, iters: usize) -> TrainConfig {
    let mut c = TrainConfig::default();
    c.model.architecture = ModelArchitecture::Seq2seq;
    c.model.objective = ObjectiveKind::Seq2seq;
    (
        c.model.n_layer,
        c.model.n_head,
        c.model.n_embd,
        c.model.block_size,
    ) = (2, 4, 64, 8);
    c.model.bias = true;
    c.data.train = Some(train.to_path_buf());
    c.data.valid = Some(valid.to_path_buf());
    c.data.label_smoothing = 0.1;
    c.optim.iters = iters;
    c.optim.batch_size = 32;
    c.optim.lr = 3e-3;
    c.optim.warmup = 10;
    c.optim.weight_decay = 0.01;
    c.run.log_interval = 10;
    c.run.eval_interval = 25;
    c.run.eval_batches = 2;
    c.run.checkpoint_interval = iters;
    c
}

/// The (step, exact match in percent, BLEU) of each evaluation in `out/metrics.jsonl`.
fn evaluations(out: &Path) -> Vec<(usize, f64, f64)> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| match serde_json::from_str::<Metric>(l).unwrap() {
            Metric::Eval { step, metrics, .. } => {
                Some((step, metrics["exact_match_pct"], metrics["bleu"]))
            }
            Metric::Train { .. } => None,
        })
        .collect()
}

#[test]
fn learns_to_reverse_and_generates_from_the_run_folder() {
    let dir = tmp("seq2seq-train");
    let (train_path, valid_path) = reverse_task(&dir, 600, 64);
    let out = dir.join("run");
    let s = train(&config(&train_path, &valid_path, 300), &opts(&out)).unwrap();
    let evals = evaluations(&out);
    eprintln!(
        "evaluations (step, exact match, BLEU): {evals:?}\nsamples: {:?}",
        s.samples
    );
    assert_eq!(
        evals.iter().map(|e| e.0).collect::<Vec<_>>(),
        (1..=12).map(|i| 25 * i).collect::<Vec<_>>()
    );
    let (first, last) = (evals[0], evals[evals.len() - 1]);
    assert!(
        last.1 >= 90.0 && last.1 > first.1 + 50.0,
        "held-out exact match went from {} % to {} %",
        first.1,
        last.1
    );
    assert!(last.2 > first.2, "BLEU went from {} to {}", first.2, last.2);
    assert!(
        s.val_metrics["exact_match_pct"] >= 50.0,
        "{:?}",
        s.val_metrics
    );
    assert!(
        s.samples.len() == 3 && s.samples[0].contains(" → "),
        "{:?}",
        s.samples
    );
    assert!(out.join("data/tokenizer.json").is_file() && out.join("best/tokenizer.json").is_file());

    // the best checkpoint loads through AutoModel and writes reversals greedily
    let m = AutoModel::from_dir(&s.best).unwrap();
    assert_eq!(m.model_type(), "loam seq2seq");
    assert!(
        m.causal_lm().is_err(),
        "an encoder–decoder does not continue prompts"
    );
    let cfg = m.generation_config();
    assert!(!cfg.do_sample, "a loam seq2seq run generates greedily");
    let model = m.seq2seq_lm().expect("an encoder–decoder");
    let cfg = GenerationConfig {
        max_new_tokens: 7,
        eos_ids: model.eos_token_ids(),
        ..cfg
    };
    let valid = std::fs::read_to_string(&valid_path).unwrap();
    let mut right = 0;
    for line in valid.lines() {
        let (source, target) = line.split_once('\t').unwrap();
        let ids: Vec<usize> = m
            .tokenizer
            .encode(source, true)
            .unwrap()
            .into_iter()
            .map(|i| i as usize)
            .collect();
        let (out_ids, _) = generate_seq2seq(model, &ids, &cfg, &mut |_| true).unwrap();
        let ids: Vec<u32> = out_ids.iter().map(|&i| i as u32).collect();
        right += usize::from(m.tokenizer.decode(&ids, true).unwrap() == target);
    }
    assert!(
        right as f64 >= 0.5 * 64.0,
        "{right} of 64 held-out reversals right through AutoModel"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_follows_the_uninterrupted_run_to_the_bit() {
    let dir = tmp("seq2seq-resume");
    let (train_path, valid_path) = reverse_task(&dir, 200, 16);
    let mut c = config(&train_path, &valid_path, 12);
    c.model.dropout = 0.1; // dropout masks must resume too
    (
        c.run.log_interval,
        c.run.eval_interval,
        c.run.checkpoint_interval,
    ) = (1, 12, 6);
    let whole = dir.join("whole");
    let a = train(&c, &opts(&whole)).unwrap();
    let split = dir.join("split");
    train(&c, &opts(&split)).unwrap();
    std::fs::remove_dir_all(split.join("checkpoints/step-000012")).unwrap();
    let b = train(
        &c,
        &RunOptions {
            resume: true,
            ..opts(&split)
        },
    )
    .unwrap();
    assert_eq!(b.start_step, 6);
    assert_eq!(a.val_metrics, b.val_metrics);
    assert_resumed_like_uninterrupted(&whole, &a, &split, &b);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_config_asks_for_pairs_and_refuses_them_elsewhere() {
    let no_pairs = "[model]\narchitecture = \"seq2seq\"\nobjective = \"seq2seq\"\n";
    let c = TrainConfig::from_toml(no_pairs, Path::new("c.toml")).unwrap();
    let err = c.validate().unwrap_err().to_string();
    assert!(err.contains("train") && err.contains("valid"), "{err}");
    let gpt_with_pairs = TrainConfig::from_toml(
        "[data]\ntrain = \"t.jsonl\"\nvalid = \"v.jsonl\"\n",
        Path::new("c.toml"),
    )
    .unwrap();
    assert!(
        gpt_with_pairs
            .validate()
            .unwrap_err()
            .to_string()
            .contains("seq2seq")
    );
    let mut mismatch = TrainConfig::from_toml(no_pairs, Path::new("c.toml")).unwrap();
    mismatch.model.objective = ObjectiveKind::Clm;
    mismatch.model.vocab_size = 20;
    let err = mismatch.model.seq2seq().unwrap_err().to_string();
    assert!(err.contains("objective = \"clm\""), "{err}");
}
