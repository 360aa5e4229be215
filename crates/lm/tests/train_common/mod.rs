//! Shared helpers of the training tests: a fresh folder, run options, and the losses a run
//! logged.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use loam_lm::{Metric, RunOptions};

/// A fresh, empty temporary folder named for the test.
pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-lm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Options of a run into `out` (a new run: no resume, no overwrite).
pub fn opts(out: &Path) -> RunOptions {
    RunOptions { out: out.to_path_buf(), ..RunOptions::default() }
}

/// The training losses of `out/metrics.jsonl`, by step.
pub fn train_losses(out: &Path) -> Vec<(usize, f32)> {
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| match serde_json::from_str::<Metric>(l).unwrap() {
            Metric::Train { step, loss, .. } => Some((step, loss)),
            Metric::Eval { .. } => None,
        })
        .collect()
}
