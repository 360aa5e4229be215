//! Shared helpers of the apps tests: where the fixtures are.

#![allow(dead_code)]

use std::path::PathBuf;

/// The tiny GPT-2 folder under `$LOAM_FIXTURES`, else under `../shared/fixtures` beside the
/// workspace; `None` (with one line saying why the test did not run) when it is absent.
pub fn tiny_gpt2(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("LOAM_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"))
        .join("tiny-gpt2");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("{test}: did not run: no fixture at {} (set LOAM_FIXTURES)", dir.display());
        None
    }
}
