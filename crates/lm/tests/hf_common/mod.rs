//! Shared helpers of the `hf_*` tests: where the fixtures and the MiniLM model are.
//!
//! A test whose fixture or model is missing does not run, and says so in one line on the real
//! stderr (which the harness does not capture). Where the fixtures are required, in CI (`CI`
//! set, as CI services set it) or with `LOAM_REQUIRE_FIXTURES=1`, a missing one fails the test
//! instead. Nothing is fetched from the network unless `LOAM_ALLOW_FETCH=1` asks for it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Whether `var` is set to something other than empty, `0` or `false`.
fn flag(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// Whether a missing fixture or model must fail the test rather than skip it.
pub fn required() -> bool {
    flag("CI") || flag("LOAM_REQUIRE_FIXTURES")
}

/// Says that `test` did not run and why: a failure where fixtures are required, otherwise one
/// line written straight to stderr, so the harness's output capture does not hide it.
fn skip<T>(test: &str, why: &str) -> Option<T> {
    if required() {
        panic!("{test}: {why} (fixtures are required here: CI or LOAM_REQUIRE_FIXTURES is set)");
    }
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{test}: did not run: {why}\n").as_bytes());
    None
}

/// The shared folder `name` (`fixtures`, `models`) beside the workspace.
fn beside_workspace(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared").join(name)
}

/// `$LOAM_FIXTURES`, else `../shared/fixtures` beside the workspace; `None` after saying why
/// the test did not run when neither exists (a failure where fixtures are required).
pub fn fixtures(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("LOAM_FIXTURES").map(PathBuf::from).unwrap_or_else(|| beside_workspace("fixtures"));
    if dir.is_dir() {
        Some(dir)
    } else {
        skip(test, &format!("no fixtures at {} (set LOAM_FIXTURES)", dir.display()))
    }
}

/// The all-MiniLM-L6-v2 folder: `$LOAM_MINILM_DIR`, else `../shared/models/all-MiniLM-L6-v2`
/// beside the workspace, else (only with `LOAM_ALLOW_FETCH=1`) fetched into loam's cache;
/// `None` after saying why when it cannot be had (a failure where fixtures are required).
pub fn minilm(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("LOAM_MINILM_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| beside_workspace("models/all-MiniLM-L6-v2"));
    if dir.join("config.json").is_file() {
        return Some(dir);
    }
    if !flag("LOAM_ALLOW_FETCH") {
        return skip(test, &format!("no model at {} (set LOAM_MINILM_DIR, or LOAM_ALLOW_FETCH=1 to fetch it)", dir.display()));
    }
    match loam_lm::hf::fetch_model(&loam_lm::hf::ALL_MINILM_L6_V2, None, &mut |m| eprintln!("{m}")) {
        Ok(dir) => Some(dir),
        Err(e) => skip(test, &format!("all-MiniLM-L6-v2 could not be fetched: {e}")),
    }
}

/// Cosine similarity of two vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// The numbers of a JSON array, as f32.
pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// The token ids of a JSON array.
pub fn ids(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

/// The largest absolute difference of two vectors of one length.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// A fixture folder's `reference.json`.
pub fn reference(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap()).unwrap()
}
