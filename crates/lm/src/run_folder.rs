//! The output folder of a training run: what loam writes there, the refusal to start a run in
//! a folder that already holds something, and `overwrite`, which removes only what loam wrote.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{LmError, Result};
use crate::metrics::Metric;
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

    /// Makes the folder ready for a new run of `iters` steps. A folder that holds anything is
    /// refused, unless `overwrite`: then what an earlier run wrote is removed, anything else
    /// stays, and a file the new run would write over is an error.
    pub fn start_fresh(&self, overwrite: bool, iters: usize) -> Result<()> {
        if self.root.exists() && !self.root.is_dir() {
            return Err(LmError::file(&self.root, "the output folder is a file"));
        }
        if overwrite {
            self.remove_run()?;
            if let Some(clash) = self.clash(iters)? {
                return Err(LmError::file(
                    &clash,
                    "no loam run wrote this, and a new run would write over it; move it away or choose another --out",
                ));
            }
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

    /// A path that a run of `iters` steps writes but that is there already, after
    /// [`RunFolder::remove_run`]: someone else's file with one of loam's names.
    fn clash(&self, iters: usize) -> Result<Option<PathBuf>> {
        let [png, svg] = self.plots();
        let fixed = [self.metrics(), self.default_corpus(), png, svg, self.best(), self.best().with_extension("tmp")];
        if let Some(p) = fixed.into_iter().find(|p| p.exists()) {
            return Ok(Some(p));
        }
        let ckpts = self.checkpoints();
        if ckpts.is_dir() {
            let list = fs::read_dir(&ckpts).map_err(|e| LmError::file(&ckpts, format!("cannot list: {e}")))?;
            for entry in list.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let name = name.trim_start_matches('.').trim_end_matches(".tmp").trim_end_matches(".old");
                if run_checkpoint::step_of(name).is_some_and(|step| step <= iters) {
                    return Ok(Some(entry.path()));
                }
            }
        }
        Ok(None)
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
    /// the best checkpoint, the dataset its `meta.json` records, and, when the folder holds a
    /// checkpoint or a metrics log loam wrote, the built-in corpus, the metrics and the plots
    /// (files of those names in a folder that holds no run are not loam's). Anything else in
    /// the folder stays.
    pub fn remove_run(&self) -> Result<()> {
        let ckpts = self.checkpoints();
        let holds_run = !run_checkpoint::list_checkpoints(&ckpts)?.is_empty()
            || run_checkpoint::is_checkpoint_dir(&self.best())
            || is_metrics_log(&self.metrics());
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
            if holds_run && file.is_file() {
                fs::remove_file(&file).map_err(|e| LmError::file(&file, format!("cannot remove: {e}")))?;
            }
        }
        Ok(())
    }
}

/// Whether `path` is a metrics log: a file whose every line is a [`Metric`].
fn is_metrics_log(path: &Path) -> bool {
    fs::read_to_string(path).is_ok_and(|text| text.lines().all(|l| serde_json::from_str::<Metric>(l).is_ok()))
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
