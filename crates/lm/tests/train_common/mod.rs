//! Shared helpers of the training tests: a fresh folder, run options, the losses a run
//! logged, and the check that a resumed run follows the uninterrupted one.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use loam_lm::{Metric, RunOptions, TrainSummary, load_model};

/// A fresh, empty temporary folder named for the test.
pub fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("loam-lm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Options of a run into `out` (a new run: no resume, no overwrite).
pub fn opts(out: &Path) -> RunOptions {
    RunOptions {
        out: out.to_path_buf(),
        ..RunOptions::default()
    }
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

/// Asserts that the run in `split`, cut after step 6 of 12 and resumed (summary `b`), follows
/// the uninterrupted run in `whole` (summary `a`) to the bit: the same training losses, the
/// same validation loss, the same final parameters.
pub fn assert_resumed_like_uninterrupted(
    whole: &Path,
    a: &TrainSummary,
    split: &Path,
    b: &TrainSummary,
) {
    let (la, lb) = (train_losses(whole), train_losses(split));
    assert_eq!(la.len(), 12);
    assert_eq!(la, lb, "losses of steps 7..12 after resuming at 6");
    assert_eq!(a.val_loss_full.to_bits(), b.val_loss_full.to_bits());
    let (ma, mb) = (
        load_model(&a.checkpoint).unwrap(),
        load_model(&b.checkpoint).unwrap(),
    );
    for ((n, x), (_, y)) in ma.store.params().iter().zip(mb.store.params()) {
        assert_eq!(x.to_vec(), y.to_vec(), "{n}");
    }
}
