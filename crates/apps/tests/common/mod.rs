//! Shared helpers of the apps tests: where the fixtures are.

#![allow(dead_code)]

use std::path::PathBuf;

/// The fixture folder `name` under `$LOAM_FIXTURES`, else under `../shared/fixtures` beside
/// the workspace. When it is absent the test fails where fixtures are required (`CI` or
/// `LOAM_REQUIRE_FIXTURES` set, as `.ci/run` does), and elsewhere returns `None` after saying
/// on stderr why the test did not run.
pub fn fixture(name: &str, test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("LOAM_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"))
        .join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    skip(&format!("{test}: did not run: no fixture at {} (set LOAM_FIXTURES)", dir.display()))
}

/// Says why a test did not run: a failure where fixtures are required (`CI` or
/// `LOAM_REQUIRE_FIXTURES` set, as `.ci/run` does), else one line on stderr.
fn skip<T>(why: &str) -> Option<T> {
    if std::env::var_os("CI").is_some() || std::env::var_os("LOAM_REQUIRE_FIXTURES").is_some() {
        panic!("{why}; fixtures are required here (CI or LOAM_REQUIRE_FIXTURES)");
    }
    eprintln!("{why}");
    None
}

/// The tiny GPT-2 fixture folder (see [`fixture`]).
pub fn tiny_gpt2(test: &str) -> Option<PathBuf> {
    fixture("tiny-gpt2", test)
}

/// The all-MiniLM-L6-v2 folder of `$LOAM_MINILM_DIR`; when it is not there, as [`fixture`]: a
/// failure where fixtures are required, else `None` said on stderr.
pub fn minilm_dir(test: &str) -> Option<PathBuf> {
    match std::env::var_os("LOAM_MINILM_DIR").map(PathBuf::from).filter(|d| d.join("config.json").is_file()) {
        Some(dir) => Some(dir),
        None => skip(&format!("{test}: did not run: LOAM_MINILM_DIR does not hold all-MiniLM-L6-v2")),
    }
}

/// The PostgreSQL server of `$LOAM_TEST_POSTGRES` (a `postgres://` URL; `.ci/postgres.sh`
/// starts a throwaway one and exports it); when it is not set, as [`fixture`]: a failure where
/// fixtures are required, else `None` said on stderr.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var("LOAM_TEST_POSTGRES").ok().filter(|url| !url.is_empty()) {
        Some(url) => Some(url),
        None => skip(&format!("{test}: did not run: LOAM_TEST_POSTGRES is not set (source .ci/postgres.sh)")),
    }
}
