//! Shared helpers of the `hf_*` tests: where the fixtures and the MiniLM model are.

#![allow(dead_code)]

use std::path::PathBuf;

/// `$LOAM_FIXTURES`, else `../shared/fixtures` beside the workspace; `None` (with one line
/// saying why the test did not run) when neither exists.
pub fn fixtures(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("LOAM_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("{test}: did not run: no fixtures at {} (set LOAM_FIXTURES)", dir.display());
        None
    }
}

/// The all-MiniLM-L6-v2 folder: `$LOAM_MINILM_DIR`, else fetched into loam's cache; `None`
/// (with one line saying why) when it cannot be had.
pub fn minilm(test: &str) -> Option<PathBuf> {
    match loam_lm::hf::minilm_dir() {
        Ok(dir) if dir.join("config.json").is_file() => Some(dir),
        Ok(dir) => {
            println!("{test}: did not run: no model at {} (LOAM_MINILM_DIR)", dir.display());
            None
        }
        Err(e) => {
            println!("{test}: did not run: all-MiniLM-L6-v2 could not be fetched: {e}");
            None
        }
    }
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}
