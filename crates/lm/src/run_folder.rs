//! The output folder of a training run: what loam writes there, the refusal to start a run in
//! a folder that already holds something, and `overwrite`, which removes only what loam wrote.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{LmError, Result};
use crate::run_checkpoint;

/// The files and folders of a run, under its output folder.
#[derive(Debug, Clone)]
pub struct RunFolder {
    /// The output folder.
    pub root: PathBuf,
}

impl RunFolder {
    /// The run folder at `root`.
    pub fn new(root: &Path) -> Self {
        RunFolder { root: root.to_path_buf() }
    }

    /// The token dataset.
    pub fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// The built-in corpus, written when the config names none.
    pub fn default_corpus(&self) -> PathBuf {
        self.root.join("default-corpus.txt")
    }

    /// The step-numbered checkpoints.
    pub fn checkpoints(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// The checkpoint with the best validation loss.
    pub fn best(&self) -> PathBuf {
        self.root.join("best")
    }

    /// The metrics log.
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.jsonl")
    }

    /// The loss plot, as PNG and SVG.
    pub fn plots(&self) -> [PathBuf; 2] {
        [self.root.join("loss.png"), self.root.join("loss.svg")]
    }

    /// Makes the folder ready for a new run. A folder that holds anything is refused, unless
    /// `overwrite`: then what an earlier run wrote is removed, and anything else stays.
    pub fn start_fresh(&self, overwrite: bool) -> Result<()> {
        if self.root.exists() && !self.root.is_dir() {
            return Err(LmError::file(&self.root, "the output folder is a file"));
        }
        if overwrite {
            self.remove_run()?;
        } else {
            let held = self.entries()?;
            if !held.is_empty() {
                let shown: Vec<String> = held.iter().take(3).map(|n| format!("`{n}`")).collect();
                let more = if held.len() > 3 { ", …" } else { "" };
                return Err(LmError::file(
                    &self.root,
                    format!(
                        "holds an earlier run or other files ({}{more}); continue the run with --resume, replace it with --overwrite, or choose an empty --out",
                        shown.join(", ")
                    ),
                ));
            }
        }
        fs::create_dir_all(&self.root).map_err(|e| LmError::file(&self.root, format!("cannot create: {e}")))
    }

    /// The names in the folder (none when it does not exist), sorted.
    fn entries(&self) -> Result<Vec<String>> {
        if !self.root.exists() {
            return Ok(Vec::new());
        }
        let list = fs::read_dir(&self.root).map_err(|e| LmError::file(&self.root, format!("cannot list: {e}")))?;
        let mut names: Vec<String> = list.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        Ok(names)
    }

    /// Removes what a run writes: checkpoints (and their temporary and set-aside folders),
    /// the best checkpoint, the dataset its `meta.json` records, the built-in corpus, the
    /// metrics and the plots. Anything else in the folder stays.
    pub fn remove_run(&self) -> Result<()> {
        let ckpts = self.checkpoints();
        for dir in run_checkpoint::loam_checkpoint_dirs(&ckpts)? {
            remove_dir(&dir)?;
        }
        remove_if_empty(&ckpts)?;
        let best = self.best();
        for dir in [best.clone(), best.with_extension("tmp"), best.with_extension("old")] {
            if run_checkpoint::is_checkpoint_dir(&dir) || (dir != best && dir.is_dir()) {
                remove_dir(&dir)?;
            }
        }
        loam_text::remove_dataset(&self.data())?;
        let [png, svg] = self.plots();
        for file in [self.metrics(), self.default_corpus(), png, svg] {
            if file.is_file() {
                fs::remove_file(&file).map_err(|e| LmError::file(&file, format!("cannot remove: {e}")))?;
            }
        }
        Ok(())
    }
}

fn remove_dir(dir: &Path) -> Result<()> {
    fs::remove_dir_all(dir).map_err(|e| LmError::file(dir, format!("cannot remove: {e}")))
}

fn remove_if_empty(dir: &Path) -> Result<()> {
    if dir.is_dir() && fs::read_dir(dir).map_err(|e| LmError::file(dir, format!("cannot list: {e}")))?.next().is_none() {
        fs::remove_dir(dir).map_err(|e| LmError::file(dir, format!("cannot remove: {e}")))?;
    }
    Ok(())
}
