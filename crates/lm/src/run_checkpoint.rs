//! Training-state checkpoints of a run: self-contained folders holding weights, optimizer
//! state, data-order RNG, step, config and tokenizer. Each is written in a temporary folder and
//! renamed into place, so a crash never leaves a half-written checkpoint; the last N and the
//! best are kept. Only folders loam wrote (named `step-NNNNNN`, holding `state.json`) are ever
//! listed, pruned or removed.

use std::fs;
use std::path::{Path, PathBuf};

use loam_nn::ParamStore;
use loam_nn::optim::AdamW;
use loam_tensor::RngState;
use loam_text::{AnyTokenizer, load_tokenizer};
use serde::{Deserialize, Serialize};

use crate::error::{LmError, Result};
use crate::train_config::TrainConfig;
use crate::trained_model::TrainedModel;

/// Weights file in a checkpoint or model folder.
pub const MODEL_FILE: &str = "model.safetensors";
/// Optimizer state file in a checkpoint.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Loop state file in a checkpoint.
pub const STATE_FILE: &str = "state.json";
/// Training config file in a checkpoint.
pub const CONFIG_FILE: &str = "config.toml";
/// Tokenizer file in a checkpoint.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// Where the loop stands: enough, with weights and optimizer state, to continue bit-exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Optimizer steps done.
    pub step: usize,
    /// The data-order generator: its key (hex) and position.
    pub data_rng_seed: String,
    /// Words drawn from the data-order generator (decimal, it is a u128).
    pub data_rng_pos: String,
    /// Best validation loss so far.
    pub best_val_loss: Option<f32>,
    /// Tokens trained on so far.
    pub tokens_seen: u64,
}

impl TrainState {
    /// A state at `step` with the data generator at `rng`.
    pub fn new(step: usize, rng: RngState, best_val_loss: Option<f32>, tokens_seen: u64) -> Self {
        TrainState {
            step,
            data_rng_seed: rng.seed.iter().map(|b| format!("{b:02x}")).collect(),
            data_rng_pos: rng.word_pos.to_string(),
            best_val_loss,
            tokens_seen,
        }
    }

    /// The saved data-order generator.
    pub fn data_rng(&self, path: &Path) -> Result<RngState> {
        let bad = || LmError::file(path, "corrupt data-order generator state");
        if self.data_rng_seed.len() != 64 {
            return Err(bad());
        }
        let mut seed = [0u8; 32];
        for (i, b) in seed.iter_mut().enumerate() {
            *b = u8::from_str_radix(&self.data_rng_seed[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(RngState { seed, word_pos: self.data_rng_pos.parse().map_err(|_| bad())? })
    }
}

fn io(path: &Path, what: &str, e: std::io::Error) -> LmError {
    LmError::file(path, format!("{what}: {e}"))
}

/// Writes a checkpoint folder `dir/name` atomically and returns its path.
pub fn save_checkpoint(
    dir: &Path,
    name: &str,
    store: &ParamStore,
    optimizer: &AdamW,
    state: &TrainState,
    config: &TrainConfig,
    tokenizer_file: &Path,
) -> Result<PathBuf> {
    fs::create_dir_all(dir).map_err(|e| io(dir, "cannot create", e))?;
    let tmp = dir.join(format!(".{name}.tmp"));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, "cannot remove", e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| io(&tmp, "cannot create", e))?;
    store.save(&tmp.join(MODEL_FILE), None)?;
    optimizer.save_state(&tmp.join(OPTIMIZER_FILE))?;
    let state_json = serde_json::to_vec_pretty(state).expect("the state serializes");
    loam_nn::write_atomic(&tmp.join(STATE_FILE), &state_json)?;
    loam_nn::write_atomic(&tmp.join(CONFIG_FILE), config.to_toml().as_bytes())?;
    fs::copy(tokenizer_file, tmp.join(TOKENIZER_FILE)).map_err(|e| io(tokenizer_file, "cannot copy the tokenizer", e))?;
    let dest = dir.join(name);
    replace_dir(&tmp, &dest)?;
    Ok(dest)
}

/// Moves folder `from` to `to`, replacing `to`: the old folder stays until the new one is in
/// place.
pub fn replace_dir(from: &Path, to: &Path) -> Result<()> {
    let old = to.with_extension("old");
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| io(&old, "cannot remove", e))?;
    }
    if to.exists() {
        fs::rename(to, &old).map_err(|e| io(to, "cannot move aside", e))?;
    }
    fs::rename(from, to).map_err(|e| io(to, "cannot move into place", e))?;
    if old.exists() {
        fs::remove_dir_all(&old).map_err(|e| io(&old, "cannot remove", e))?;
    }
    Ok(())
}

/// Copies a checkpoint folder to `to` (e.g. the best one), replacing it atomically.
pub fn copy_checkpoint(from: &Path, to: &Path) -> Result<()> {
    let tmp = to.with_extension("tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| io(&tmp, "cannot remove", e))?;
    }
    fs::create_dir_all(&tmp).map_err(|e| io(&tmp, "cannot create", e))?;
    for entry in fs::read_dir(from).map_err(|e| io(from, "cannot list", e))? {
        let entry = entry.map_err(|e| io(from, "cannot list", e))?;
        fs::copy(entry.path(), tmp.join(entry.file_name())).map_err(|e| io(&entry.path(), "cannot copy", e))?;
    }
    replace_dir(&tmp, to)
}

/// The step of a checkpoint folder name `step-NNNNNN` (six or more digits).
pub(crate) fn step_of(name: &str) -> Option<usize> {
    name.strip_prefix("step-").filter(|d| d.len() >= 6 && d.bytes().all(|b| b.is_ascii_digit()))?.parse().ok()
}

/// Whether `dir` is a checkpoint loam wrote (it holds the loop state).
pub fn is_checkpoint_dir(dir: &Path) -> bool {
    dir.join(STATE_FILE).is_file()
}

fn names(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| io(dir, "cannot list", e))? {
        let entry = entry.map_err(|e| io(dir, "cannot list", e))?;
        out.push((entry.file_name().to_string_lossy().into_owned(), entry.path()));
    }
    Ok(out)
}

/// The step-numbered checkpoints in `dir` (`step-NNNNNN` folders holding `state.json`),
/// oldest first.
pub fn list_checkpoints(dir: &Path) -> Result<Vec<(usize, PathBuf)>> {
    let mut out: Vec<(usize, PathBuf)> =
        names(dir)?.into_iter().filter_map(|(name, path)| Some((step_of(&name)?, path))).filter(|(_, p)| is_checkpoint_dir(p)).collect();
    out.sort();
    Ok(out)
}

/// Every folder in `dir` that checkpointing writes: the checkpoints, and the temporary
/// (`.step-NNNNNN.tmp`) and set-aside (`step-NNNNNN.old`) folders a crash can leave.
pub fn loam_checkpoint_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = list_checkpoints(dir)?.into_iter().map(|(_, p)| p).collect();
    for (name, path) in names(dir)? {
        let left = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")).or_else(|| name.strip_suffix(".old"));
        if left.and_then(step_of).is_some() && path.is_dir() {
            out.push(path);
        }
    }
    Ok(out)
}

/// Removes all but the newest `keep` step checkpoints.
pub fn prune_checkpoints(dir: &Path, keep: usize) -> Result<()> {
    let all = list_checkpoints(dir)?;
    for (_, path) in all.iter().take(all.len().saturating_sub(keep)) {
        fs::remove_dir_all(path).map_err(|e| io(path, "cannot remove", e))?;
    }
    Ok(())
}

/// A model read back from a checkpoint or model folder.
pub struct LoadedModel {
    /// The model (its architecture is the config's).
    pub model: TrainedModel,
    /// Its parameters.
    pub store: ParamStore,
    /// Its tokenizer.
    pub tokenizer: AnyTokenizer,
    /// The training config it was made with.
    pub config: TrainConfig,
}

fn require(dir: &Path, file: &str) -> Result<PathBuf> {
    let p = dir.join(file);
    if !p.is_file() {
        return Err(LmError::file(dir, format!("not a loam model folder: `{file}` is missing")));
    }
    Ok(p)
}

/// Loads the model of a checkpoint (or any folder with `config.toml`, `model.safetensors`
/// and `tokenizer.json`).
pub fn load_model(dir: &Path) -> Result<LoadedModel> {
    let config = TrainConfig::load(&require(dir, CONFIG_FILE)?)?;
    let weights = require(dir, MODEL_FILE)?;
    let tokenizer = load_tokenizer(&require(dir, TOKENIZER_FILE)?)?;
    let store = ParamStore::new(config.run.seed);
    let model = TrainedModel::new(&config.model, &store)?;
    store.load(&weights)?;
    Ok(LoadedModel { model, store, tokenizer, config })
}

/// Reads a checkpoint's loop state.
pub fn load_state(dir: &Path) -> Result<TrainState> {
    let path = require(dir, STATE_FILE)?;
    let bytes = fs::read(&path).map_err(|e| io(&path, "cannot read", e))?;
    serde_json::from_slice(&bytes).map_err(|e| LmError::file(&path, format!("corrupt checkpoint state: {e}")))
}
