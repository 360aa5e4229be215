//! `metrics.jsonl`: one JSON object per logged step and per evaluation, for people and plots.

pub mod bleu;
pub mod rouge;

use std::collections::BTreeMap;
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
        /// The objective's other figures by name (`masked_accuracy`, `bleu`…); left out of
        /// the line when there are none.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        metrics: BTreeMap<String, f64>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_metrics_round_trip_and_are_left_out_when_there_are_none() {
        let plain = Metric::Eval { step: 5, val_loss: 2.0, val_ppl: 2f32.exp(), metrics: BTreeMap::new() };
        let line = serde_json::to_string(&plain).unwrap();
        assert!(!line.contains("metrics"), "{line}");
        assert_eq!(serde_json::from_str::<Metric>(&line).unwrap(), plain);
        let named = Metric::Eval { step: 5, val_loss: 2.0, val_ppl: 2f32.exp(), metrics: BTreeMap::from([("masked_accuracy".into(), 0.25)]) };
        let line = serde_json::to_string(&named).unwrap();
        assert!(line.contains(r#""metrics":{"masked_accuracy":0.25}"#), "{line}");
        assert_eq!(serde_json::from_str::<Metric>(&line).unwrap(), named);
    }

    #[test]
    fn the_plot_draws_named_metrics_in_a_second_panel() {
        let dir = std::env::temp_dir().join(format!("loam-lm-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let train = |step| Metric::Train { step, loss: 3.0 / step as f32, lr: 1e-3, grad_norm: 1.0, tokens_per_s: 1.0 };
        let eval = |step, acc: Option<f64>| Metric::Eval {
            step,
            val_loss: 3.0 / step as f32,
            val_ppl: 1.0,
            metrics: acc.map(|a| BTreeMap::from([("masked_accuracy".to_string(), a)])).unwrap_or_default(),
        };
        let svg_of = |history: &[Metric], name: &str| {
            let (png, svg) = (dir.join(format!("{name}.png")), dir.join(format!("{name}.svg")));
            crate::plot::plot_losses(history, &png, &svg).unwrap();
            assert!(png.is_file());
            std::fs::read_to_string(svg).unwrap()
        };
        let without = svg_of(&[train(1), train(2), eval(2, None)], "without");
        let with = svg_of(&[train(1), train(2), eval(2, Some(0.1)), train(3), eval(3, Some(0.3))], "with");
        // the second panel adds its own frame and curve
        assert!(with.matches("<polyline").count() > without.matches("<polyline").count(), "no metrics panel");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
