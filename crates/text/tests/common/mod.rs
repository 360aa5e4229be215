//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh, empty directory under the target directory's temp area, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::temp_dir().join(format!(
            "loam-text-{}-{}-{}",
            name,
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        TempDir(base)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The tinyshakespeare corpus from `LOAM_TINYSHAKESPEARE`, or `None` after saying why not.
pub fn shakespeare(test: &str) -> Option<PathBuf> {
    match std::env::var_os("LOAM_TINYSHAKESPEARE") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            skip(test, "LOAM_TINYSHAKESPEARE is not set (point it at tinyshakespeare.txt)");
            None
        }
    }
}

/// A file of the shared fixtures folder (`LOAM_SHARED`, else `../shared` beside the
/// repository), or `None` after saying why not.
pub fn shared_file(test: &str, rel: &str) -> Option<PathBuf> {
    let root = std::env::var_os("LOAM_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let path = root.join(rel);
    if path.exists() {
        Some(path)
    } else {
        skip(test, &format!("{} not found (set LOAM_SHARED to the shared folder)", path.display()));
        None
    }
}

/// Text mixing scripts that must come through everything intact.
pub const MULTILINGUAL: &str = "English words, 中文句子很好。Emoji 👩🏽‍💻🎉 and flags 🇯🇵.\n\
Combining: e\u{301}te\u{301} n\u{303}o, Devanagari: नमस्ते, Vietnamese: Tiếng Việt.\n\
Right to left: \u{200F}שלום עולם and مرحبا بالعالم!\n\
日本語のテキストも。한국어도 좋아요.\n";

/// Says in one line that `test` did not run and why; written straight to stderr so the test
/// harness's output capture does not hide it.
fn skip(test: &str, why: &str) {
    use std::io::Write;
    let _ = std::io::stderr().write_all(format!("{test}: did not run: {why}\n").as_bytes());
}
