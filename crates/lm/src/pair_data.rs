//! The pair data of a `seq2seq` run: the (source, target) pairs of `[data] train` and
//! `valid`, the character tokenizer built from the training pairs (kept in the run folder as
//! `data/tokenizer.json`, reused when resuming, copied into every checkpoint) and the pairs
//! as ids.

use std::path::{Path, PathBuf};

use loam_text::{HfTokenizer, Tokenizer};

use crate::error::{LmError, Result};
use crate::pairs::{EncodedPair, Pair, encode_pairs, read_pairs};
use crate::run_checkpoint::TOKENIZER_FILE;
use crate::run_folder::RunFolder;
use crate::seq2seq::{Seq2SeqConfig, char_tokenizer_json};
use crate::train_config::TrainConfig;

/// The pairs of a run, its tokenizer and the pairs as ids.
pub(crate) struct PairData {
    /// The character tokenizer of the training pairs.
    pub tokenizer: HfTokenizer,
    /// Its `tokenizer.json` in the run folder.
    pub tokenizer_path: PathBuf,
    /// The training pairs as ids.
    pub train: Vec<EncodedPair>,
    /// The held-out pairs as ids.
    pub valid: Vec<EncodedPair>,
    /// The held-out pairs as text, for samples.
    pub valid_text: Vec<Pair>,
}

impl PairData {
    /// Reads the pairs of `config`, writes the character tokenizer of the training pairs into
    /// the run folder (or, when resuming, reuses the one there) and encodes both files; a pair
    /// longer than `block_size` is an error naming its file.
    pub fn open(config: &TrainConfig, folder: &RunFolder, reuse: bool) -> Result<PairData> {
        let file = |p: &Option<PathBuf>, key: &str| {
            p.clone().ok_or_else(|| {
                LmError::Config(format!("objective = \"seq2seq\" needs [data] {key}"))
            })
        };
        let (train_path, valid_path) = (
            file(&config.data.train, "train")?,
            file(&config.data.valid, "valid")?,
        );
        let train = read_pairs(&train_path)?;
        let valid_text = read_pairs(&valid_path)?;
        let tokenizer_path = folder.data().join(TOKENIZER_FILE);
        if !(reuse && tokenizer_path.is_file()) {
            std::fs::create_dir_all(folder.data())
                .map_err(|e| LmError::file(folder.data(), format!("cannot create: {e}")))?;
            let json = char_tokenizer_json(
                train
                    .iter()
                    .flat_map(|p| [p.source.as_str(), p.target.as_str()]),
            );
            loam_nn::write_atomic(&tokenizer_path, json.as_bytes())?;
        }
        let tokenizer = HfTokenizer::load(&tokenizer_path)?;
        let (eos, block) = (Seq2SeqConfig::default().eos_id, config.model.block_size);
        let encode = |pairs: &[Pair], path: &Path| {
            encode_pairs(pairs, &tokenizer, &tokenizer, eos, block)
                .map_err(|e| LmError::file(path, e.to_string()))
        };
        let train = encode(&train, &train_path)?;
        let valid = encode(&valid_text, &valid_path)?;
        Ok(PairData {
            tokenizer,
            tokenizer_path,
            train,
            valid,
            valid_text,
        })
    }

    /// `config` with the vocabulary size of the tokenizer when it gives none, checked against
    /// the tokenizer.
    pub fn fit(&self, mut config: TrainConfig) -> Result<TrainConfig> {
        let vocab = self.tokenizer.vocab_size();
        if config.model.vocab_size == 0 {
            config.model.vocab_size = vocab;
        }
        if config.model.vocab_size < vocab {
            return Err(LmError::Config(format!(
                "model vocab_size {} is smaller than the tokenizer's {vocab}",
                config.model.vocab_size
            )));
        }
        Ok(config)
    }
}
