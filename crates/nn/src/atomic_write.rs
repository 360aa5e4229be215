//! Writing a whole file atomically: readers see the old file or the new one, never a part, and
//! after a crash the new one is either complete or absent. Used for safetensors files here and,
//! through `loam_nn::write_atomic`, for the configs, JSON and corpora `loam-lm` writes.
//!
//! `loam-text` keeps its own streaming `AtomicFile` (temp file, fsync, rename, fsync of the
//! folder: the same steps): it may depend on no loam crate, and `loam-nn` may not depend on it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{NnError, Result};

/// Writes `bytes` to `path` through a temporary file in the same folder: written, synced,
/// renamed over `path`, then the folder synced so the rename itself survives a crash. On
/// failure the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let file_err = |msg: String| NnError::File { path: path.to_path_buf(), msg };
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| file_err("not a file path".into()))?;
    let tmp: PathBuf = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        file_err(format!("cannot write: {e}"))
    })
}
