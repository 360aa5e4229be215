//! File helpers: reads with errors that name the path, and atomic writes (temp file, fsync,
//! rename, fsync of the folder).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Result, TextError};

/// Reads a whole file as UTF-8.
pub(crate) fn read_to_string(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| TextError::io("reading", path, e))?;
    String::from_utf8(bytes).map_err(|e| TextError::InvalidUtf8 {
        path: path.to_owned(),
        offset: e.utf8_error().valid_up_to() as u64,
    })
}

/// Writes `bytes` to `path` atomically: a reader sees the old file or the new one, never half.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// A file written under a temporary name beside its target and renamed into place on commit;
/// dropped without commit, the temporary file is removed.
pub(crate) struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `target`.
    pub(crate) fn create(target: &Path) -> Result<Self> {
        let name = target.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
        let temp = target.with_file_name(format!(".{name}.tmp{}", std::process::id()));
        let file = File::create(&temp).map_err(|e| TextError::io("creating", &temp, e))?;
        Ok(AtomicFile { target: target.to_owned(), temp, writer: Some(BufWriter::with_capacity(1 << 20, file)) })
    }

    /// Appends bytes.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        let writer = self.writer.as_mut().expect("AtomicFile is written only before commit");
        writer.write_all(bytes).map_err(|e| TextError::io("writing", &self.temp, e))
    }

    /// Flushes, syncs and renames the file into place, then syncs the folder so the rename
    /// survives a crash (the same steps as `loam_nn::write_atomic`, which this crate may not
    /// depend on).
    pub(crate) fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().expect("AtomicFile is committed once");
        let file = writer.into_inner().map_err(|e| TextError::io("writing", &self.temp, e.into_error()))?;
        file.sync_all().map_err(|e| TextError::io("syncing", &self.temp, e))?;
        std::fs::rename(&self.temp, &self.target).map_err(|e| TextError::io("renaming into place", &self.target, e))?;
        let dir = self.target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            // Best effort: the file was never committed, and a leftover temp file is harmless.
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}
