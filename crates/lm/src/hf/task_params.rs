//! How a Hugging Face model's authors run it for one task: `config.json`'s
//! `task_specific_params` entry (`summarization`, `translation_en_to_de`, …) over the beam
//! settings of `generation_config.json`. T5 checkpoints say there that a summary's source starts
//! with `"summarize: "` and is decoded with 4 beams, a length penalty of 2, at least 30 and at
//! most 200 target positions, no repeated trigram; `facebook/bart-large-cnn` says the same
//! without the prefix and with 56 to 142 positions. `transformers`' summarization pipeline
//! applied these settings; loam's summarizer does ([`TaskParams::beam_config`]).

use std::path::Path;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::beam_search::{BeamConfig, EarlyStopping};
use crate::error::{LmError, Result};
use super::config::read_json;

/// One task's settings; each is `None` when neither file says it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TaskParams {
    /// Text put before the source (`"summarize: "` for T5).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Beams of the search.
    #[serde(default)]
    pub num_beams: Option<usize>,
    /// Finished scores are Σ log p / length^length_penalty.
    #[serde(default)]
    pub length_penalty: Option<f32>,
    /// Target positions at least, the decoder start token included (EOS is banned before).
    #[serde(default)]
    pub min_length: Option<usize>,
    /// Target positions at most, the decoder start token included.
    #[serde(default)]
    pub max_length: Option<usize>,
    /// Ban repeating n-grams of this size.
    #[serde(default)]
    pub no_repeat_ngram_size: Option<usize>,
    /// When the search stops (`true`, `false` or `"never"`).
    #[serde(default, deserialize_with = "early_stopping")]
    pub early_stopping: Option<EarlyStopping>,
}

/// `true`, `false`, `"never"` or absent.
fn early_stopping<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<EarlyStopping>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Setting {
        Bool(bool),
        Text(String),
    }
    match Option::<Setting>::deserialize(d)? {
        None => Ok(None),
        Some(Setting::Bool(b)) => Ok(Some(if b { EarlyStopping::True } else { EarlyStopping::False })),
        Some(Setting::Text(s)) => s.parse().map(Some).map_err(serde::de::Error::custom),
    }
}

impl TaskParams {
    /// The settings of `task` for the Hugging Face folder `dir`: its `task_specific_params`
    /// entry, each value missing there taken from `generation_config.json` (or `config.json`
    /// when there is none) and the prefix from `config.json`'s own. A folder without
    /// `config.json` (a loam run) has none; a malformed entry is an error that names the file.
    pub fn from_dir(dir: &Path, task: &str) -> Result<TaskParams> {
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            return Ok(TaskParams::default());
        }
        let config: Value = read_json(&config_path)?;
        let generation_path = dir.join("generation_config.json");
        let base = if generation_path.is_file() {
            parse(&read_json(&generation_path)?, &generation_path, "")?
        } else {
            parse(&config, &config_path, "")?
        };
        let own = match config.get("task_specific_params").and_then(|t| t.get(task)) {
            Some(entry) => parse(entry, &config_path, &format!("task_specific_params.{task}: "))?,
            None => TaskParams::default(),
        };
        Ok(TaskParams {
            prefix: own.prefix.or_else(|| config.get("prefix").and_then(Value::as_str).map(String::from)),
            num_beams: own.num_beams.or(base.num_beams),
            length_penalty: own.length_penalty.or(base.length_penalty),
            min_length: own.min_length.or(base.min_length),
            max_length: own.max_length.or(base.max_length),
            no_repeat_ngram_size: own.no_repeat_ngram_size.or(base.no_repeat_ngram_size),
            early_stopping: own.early_stopping.or(base.early_stopping),
        })
    }

    /// The beam settings for an encoder–decoder whose target may take `max_new_tokens` new
    /// tokens: these values where given, `transformers`' defaults otherwise (one beam, which is
    /// greedy decoding; length penalty 1; no early stopping), the minimum length counted
    /// without the decoder start token and kept within `max_new_tokens`.
    pub fn beam_config(&self, max_new_tokens: usize) -> BeamConfig {
        let default = BeamConfig::default();
        BeamConfig {
            num_beams: self.num_beams.unwrap_or(1),
            length_penalty: self.length_penalty.unwrap_or(default.length_penalty),
            early_stopping: self.early_stopping.unwrap_or(default.early_stopping),
            min_new_tokens: self.min_length.map_or(0, |m| m.saturating_sub(1)).min(max_new_tokens),
            ..default
        }
    }

    /// New target tokens at most: `max_length` less the decoder start token, within `cap`.
    pub fn max_new_tokens(&self, cap: usize) -> usize {
        self.max_length.map_or(cap, |m| m.saturating_sub(1).min(cap))
    }
}

/// The settings in `value`, a JSON object read from `path` (`what` names the key it is under).
fn parse(value: &Value, path: &Path, what: &str) -> Result<TaskParams> {
    TaskParams::deserialize(value).map_err(|e| LmError::file(path, format!("{what}{e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder holding `config.json` and, when given, `generation_config.json`.
    fn folder(name: &str, config: &str, generation: Option<&str>) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("loam-task-params-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), config).unwrap();
        let _ = std::fs::remove_file(dir.join("generation_config.json"));
        if let Some(g) = generation {
            std::fs::write(dir.join("generation_config.json"), g).unwrap();
        }
        dir
    }

    #[test]
    fn the_task_entry_wins_and_generation_config_fills_in() {
        let config = r#"{"prefix": "top: ", "task_specific_params": {"summarization": {"prefix": "summarize: ",
            "num_beams": 4, "min_length": 30, "early_stopping": "never"}}}"#;
        let dir = folder("entry", config, Some(r#"{"num_beams": 2, "length_penalty": 2.0, "max_length": 142}"#));
        let p = TaskParams::from_dir(&dir, "summarization").unwrap();
        assert_eq!(p.prefix.as_deref(), Some("summarize: "));
        assert_eq!((p.num_beams, p.length_penalty, p.max_length), (Some(4), Some(2.0), Some(142)));
        assert_eq!(p.early_stopping, Some(EarlyStopping::Never));
        let beam = p.beam_config(p.max_new_tokens(500));
        assert_eq!((beam.num_beams, beam.min_new_tokens, p.max_new_tokens(500)), (4, 29, 141));
        assert_eq!(p.beam_config(10).min_new_tokens, 10, "the minimum stays within the maximum");
        // another task: only the folder-wide values
        let other = TaskParams::from_dir(&dir, "translation_en_to_de").unwrap();
        assert_eq!((other.prefix.as_deref(), other.num_beams, other.min_length), (Some("top: "), Some(2), None));
    }

    #[test]
    fn nothing_said_is_greedy_and_a_bad_entry_names_its_file() {
        let dir = folder("none", "{}", None);
        let p = TaskParams::from_dir(&dir, "summarization").unwrap();
        assert_eq!(p, TaskParams::default());
        let beam = p.beam_config(p.max_new_tokens(64));
        assert_eq!((beam.num_beams, beam.min_new_tokens, beam.early_stopping), (1, 0, EarlyStopping::False));
        assert_eq!(p.max_new_tokens(64), 64);
        let dir = folder("bad", r#"{"task_specific_params": {"summarization": {"early_stopping": "soon"}}}"#, None);
        let err = TaskParams::from_dir(&dir, "summarization").unwrap_err().to_string();
        assert!(err.contains("config.json") && err.contains("task_specific_params.summarization"), "{err}");
        assert!(TaskParams::from_dir(&dir.join("missing"), "summarization").unwrap() == TaskParams::default());
    }
}
