//! `metrics.jsonl`: one JSON object per logged step and per evaluation, for people and plots.

pub mod bleu;
pub mod rouge;

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{LmError, Result};

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Metric {
    /// A training step.
    Train {
        /// Step number (1-based: steps done).
        step: usize,
        /// Mean training loss of the step.
        loss: f32,
        /// Learning rate of the step.
        lr: f32,
        /// Global gradient norm before clipping.
        grad_norm: f32,
        /// Tokens per second since the previous line.
        tokens_per_s: f64,
    },
    /// A validation run.
    Eval {
        /// Step number.
        step: usize,
        /// Mean validation loss.
        val_loss: f32,
        /// exp(val_loss).
        val_ppl: f32,
    },
}

/// Appends metrics to a file, one line each, flushed as written.
pub struct MetricsLog {
    path: PathBuf,
    file: File,
    /// Every metric of the run so far (read back on resume), for the plot.
    pub history: Vec<Metric>,
}

impl MetricsLog {
    /// Opens `path`, keeping the lines of steps ≤ `keep_through` as they were written (a
    /// resumed run drops what the interrupted one logged after its last checkpoint); with
    /// `keep_through` 0 the file starts empty.
    pub fn open(path: &Path, keep_through: usize) -> Result<MetricsLog> {
        let mut history = Vec::new();
        let mut kept = String::new();
        if path.exists() && keep_through > 0 {
            let f = File::open(path).map_err(|e| LmError::file(path, format!("cannot read: {e}")))?;
            for line in BufReader::new(f).lines() {
                let line = line.map_err(|e| LmError::file(path, format!("cannot read: {e}")))?;
                if let Ok(m) = serde_json::from_str::<Metric>(&line) {
                    let step = match &m {
                        Metric::Train { step, .. } | Metric::Eval { step, .. } => *step,
                    };
                    if step <= keep_through {
                        history.push(m);
                        kept.push_str(&line);
                        kept.push('\n');
                    }
                }
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|e| LmError::file(path, format!("cannot write: {e}")))?;
        file.write_all(kept.as_bytes()).map_err(|e| LmError::file(path, format!("cannot write: {e}")))?;
        Ok(MetricsLog { path: path.to_path_buf(), file, history })
    }

    /// Appends one metric.
    pub fn log(&mut self, m: Metric) -> Result<()> {
        writeln!(self.file, "{}", serde_json::to_string(&m).expect("metrics serialize"))
            .and_then(|_| self.file.flush())
            .map_err(|e| LmError::file(&self.path, format!("cannot write: {e}")))?;
        self.history.push(m);
        Ok(())
    }
}
