//! `cargo xtask bench train-shakespeare`: the shakespeare-char recipe (configs/
//! shakespeare-char.toml) trained by loam, and by `../shared/anchors/torch_char_gpt.py` with
//! `--compare-pytorch`, reporting ms/iter, tokens/s, val_loss_full, wall time and peak RSS;
//! plus the trained model's generation speed with the KV cache.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use loam_lm::{GenerationConfig, RunOptions, TrainConfig, generate_ids, load_model, train};
use serde_json::Value;

use crate::record::Record;

/// The repository root (xtask's parent).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The corpus: `--corpus`, else `LOAM_TINYSHAKESPEARE`.
pub fn corpus(arg: Option<&Path>) -> Result<PathBuf> {
    match arg {
        Some(p) => Ok(p.to_path_buf()),
        None => std::env::var_os("LOAM_TINYSHAKESPEARE").map(PathBuf::from).context(
            "train-shakespeare needs the corpus: pass --corpus PATH or set LOAM_TINYSHAKESPEARE \
             (../shared/data/tinyshakespeare.txt in this workplace)",
        ),
    }
}

/// Trains the recipe with loam and times generation from the result.
pub fn run_loam(corpus: &Path, iters: Option<usize>) -> Result<Vec<Record>> {
    let mut config = TrainConfig::load(&root().join("configs/shakespeare-char.toml"))?;
    config.data.corpus = Some(corpus.to_path_buf());
    if let Some(n) = iters {
        config.optim.iters = n;
    }
    let case = format!("shakespeare-char {} iters", config.optim.iters);
    let out = std::env::temp_dir().join(format!("loam-bench-shakespeare-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let s = train(&config, &RunOptions { out: out.clone(), progress: true, ..RunOptions::default() })?;
    let m = load_model(&s.checkpoint)?;
    let n = 500;
    let cfg = GenerationConfig { max_new_tokens: n, do_sample: true, temperature: 0.8, top_k: Some(40), ..Default::default() };
    let t = Instant::now();
    let (ids, _) = generate_ids(m.model.causal_lm()?, &[0], &cfg, true, &mut |_| true)?;
    let gen_tps = ids.len() as f64 / t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&out);
    Ok(vec![
        Record::loam(
            "train-shakespeare",
            &case,
            &[
                ("ms_per_iter", s.ms_per_iter),
                ("tokens_per_s", s.tokens_per_s),
                ("val_loss_full", s.val_loss_full as f64),
                ("wall_s", s.wall_s),
                ("peak_rss_mb", s.peak_rss_mb),
            ],
        ),
        Record::loam("train-shakespeare", "generate 500 chars (KV cache)", &[("tokens_per_s", gen_tps)]),
    ])
}

/// Runs the PyTorch anchor on the same corpus and thread count.
pub fn run_pytorch(corpus: &Path, threads: usize, iters: Option<usize>) -> Result<Vec<Record>> {
    let script = root().join("../shared/anchors/torch_char_gpt.py");
    if !script.is_file() {
        bail!("the PyTorch anchor {} is missing", script.display());
    }
    let mut cmd = Command::new("python3");
    cmd.arg(&script).arg("--corpus").arg(corpus).args(["--threads", &threads.to_string()]);
    if let Some(n) = iters {
        cmd.args(["--iters", &n.to_string()]);
    }
    let out = cmd.stderr(Stdio::inherit()).output().context("could not start python3")?;
    if !out.status.success() {
        bail!("{} failed ({})", script.display(), out.status);
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(line.trim().lines().last().unwrap_or("")).context("reading the anchor's JSON line")?;
    let fig = |k: &str| v.get(k).and_then(Value::as_f64).with_context(|| format!("the anchor printed no `{k}`"));
    Ok(vec![Record {
        bench: "train-shakespeare".into(),
        imp: "pytorch".into(),
        case: format!("shakespeare-char {} iters", iters.unwrap_or(2000)),
        figures: ["ms_per_iter", "tokens_per_s", "val_loss_full", "wall_s", "peak_rss_mb"]
            .iter()
            .map(|k| Ok((k.to_string(), fig(k)?)))
            .collect::<Result<_>>()?,
    }])
}
