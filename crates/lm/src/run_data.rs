//! The token data of a run: the dataset built from the corpus in the run folder (or reused
//! when resuming), its tokenizer and its splits, shared by the objectives that train on token
//! windows; and [`TrainData`], the data of any run: token windows or pairs.

use std::path::PathBuf;

use loam_text::{
    AnyTokenizer, CleanConfig, DatasetConfig, Normalization, Split, TokenDataset, TokenSplit, Tokenizer, TokenizerSpec,
    build_dataset, load_tokenizer,
};

use crate::default_corpus::default_corpus;
use crate::error::{LmError, Result};
use crate::objective::ObjectiveKind;
use crate::pair_data::PairData;
use crate::run_folder::RunFolder;
use crate::train_config::TrainConfig;

/// The token dataset of a run, its tokenizer and its splits.
pub(crate) struct RunData {
    /// The dataset in the run folder.
    pub dataset: TokenDataset,
    /// Its tokenizer.
    pub tokenizer: AnyTokenizer,
    /// The training split.
    pub train: TokenSplit,
    /// The validation split.
    pub val: TokenSplit,
    /// The whole validation split, for the full validation loss.
    pub val_tokens: Vec<usize>,
    /// A prompt the vocabulary can spell, for sample prompts it cannot.
    pub fallback: String,
}

impl RunData {
    /// Builds the dataset in the run folder (or reuses it, when resuming) and opens it.
    pub fn open(config: &TrainConfig, folder: &RunFolder, reuse: bool) -> Result<RunData> {
        let data_dir = folder.data();
        if !(reuse && data_dir.join("meta.json").is_file()) {
            build_run_dataset(config, folder)?;
        }
        let dataset = TokenDataset::open(&data_dir)?;
        let tokenizer = load_tokenizer(&dataset.tokenizer_path())?;
        let (train, val) = (dataset.split(Split::Train)?, dataset.split(Split::Val)?);
        let val_tokens: Vec<usize> = val.tokens(0, val.len())?.iter().map(|&t| t as usize).collect();
        let first = *val_tokens.first().ok_or_else(|| LmError::Config("the validation split is empty".into()))?;
        let fallback = tokenizer.decode(&[first as u32], true)?;
        Ok(RunData { dataset, tokenizer, train, val, val_tokens, fallback })
    }

    /// `config` with the vocabulary size of the tokenizer when it gives none, checked against
    /// the tokenizer and the split sizes.
    pub fn fit(&self, mut config: TrainConfig) -> Result<TrainConfig> {
        let vocab = self.tokenizer.vocab_size();
        if config.model.vocab_size == 0 {
            config.model.vocab_size = vocab;
        }
        if config.model.vocab_size < vocab {
            return Err(LmError::Config(format!("model vocab_size {} is smaller than the tokenizer's {vocab}", config.model.vocab_size)));
        }
        let block = config.model.block_size;
        for (name, split) in [("training", &self.train), ("validation", &self.val)] {
            if split.len() <= block + 1 {
                return Err(LmError::Config(format!("the {name} split has {} tokens, too few for windows of {block}", split.len())));
            }
        }
        Ok(config)
    }
}

/// What a run trains on: token windows (`clm`, `mlm`) or pairs (`seq2seq`), each boxed (both
/// are large).
pub(crate) enum TrainData {
    /// The token dataset of a corpus.
    Tokens(Box<RunData>),
    /// (source, target) pairs.
    Pairs(Box<PairData>),
}

impl TrainData {
    /// The data of `config`'s objective, built in the run folder (or reused when resuming).
    pub fn open(config: &TrainConfig, folder: &RunFolder, reuse: bool) -> Result<TrainData> {
        Ok(match config.model.objective {
            ObjectiveKind::Seq2seq => TrainData::Pairs(Box::new(PairData::open(config, folder, reuse)?)),
            ObjectiveKind::Clm | ObjectiveKind::Mlm => TrainData::Tokens(Box::new(RunData::open(config, folder, reuse)?)),
        })
    }

    /// `config` with the tokenizer's vocabulary size when it gives none, checked against the
    /// data.
    pub fn fit(&self, config: TrainConfig) -> Result<TrainConfig> {
        match self {
            TrainData::Tokens(d) => d.fit(config),
            TrainData::Pairs(d) => d.fit(config),
        }
    }

    /// The `tokenizer.json` every checkpoint copies.
    pub fn tokenizer_path(&self) -> PathBuf {
        match self {
            TrainData::Tokens(d) => d.dataset.tokenizer_path(),
            TrainData::Pairs(d) => d.tokenizer_path.clone(),
        }
    }
}

/// Builds the token dataset of `config` in the run folder; without a corpus, from the
/// built-in one, written next to it.
fn build_run_dataset(config: &TrainConfig, folder: &RunFolder) -> Result<()> {
    let (corpus, clean) = match &config.data.corpus {
        Some(p) => (p.clone(), CleanConfig::default()),
        None => {
            let src = folder.default_corpus();
            loam_nn::write_atomic(&src, default_corpus(config.run.seed, 400_000).as_bytes())?;
            let clean = CleanConfig {
                normalization: Some(Normalization::Nfc),
                remove_control: true,
                normalize_whitespace: true,
                ..CleanConfig::default()
            };
            (src, clean)
        }
    };
    let spec: TokenizerSpec = config.data.tokenizer.parse()?;
    let mut dc = DatasetConfig::new(corpus, folder.data(), spec);
    dc.clean = clean;
    dc.val_fraction = config.data.val_fraction;
    dc.lossy_utf8 = config.data.lossy_utf8;
    build_dataset(&dc)?;
    Ok(())
}
