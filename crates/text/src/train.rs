//! Training byte-level BPE, WordPiece and Unigram tokenizers on a corpus, reproducibly: the same
//! corpus and options give the same tokenizer, ids included. BPE is the `tokenizers` crate's
//! trainer; WordPiece is loam's (`wordpiece_trainer`); Unigram is the crate's EM fed in a fixed
//! order (`unigram_trainer`).
//!
//! - **bpe**: GPT-2 style byte-level BPE. Every byte is in the vocabulary, so nothing is ever
//!   unknown and decoding gives back the exact text. Special token `<|endoftext|>`.
//! - **wordpiece**: BERT style (cased: no lowercasing, accents kept), splitting on white space,
//!   punctuation and around each CJK ideograph; adds `[CLS] … [SEP]` when asked.
//!   Special tokens `[PAD] [UNK] [CLS] [SEP] [MASK]`.
//! - **unigram**: SentencePiece style, spaces marked with `▁`. Special tokens
//!   `<pad> <unk> <s> </s> <mask>`.

use std::fmt;

use serde::{Deserialize, Serialize};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::decoders::metaspace::Metaspace as MetaspaceDecoder;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::TrainerWrapper;
use tokenizers::models::bpe::{BPE, BpeTrainerBuilder};
use tokenizers::models::unigram::{Unigram, UnigramTrainerBuilder};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::processors::bert::BertProcessing;
use tokenizers::AddedToken;

use crate::error::{Result, TextError};
use crate::hf_tokenizer::HfTokenizer;
use crate::unigram_trainer::SortedUnigramTrainer;
use crate::word_counts::WordCountTrainer;
use crate::wordpiece_trainer::WordPieceTrainer;

/// A kind of trainable subword model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrainKind {
    /// Byte-level BPE (GPT-2).
    Bpe,
    /// WordPiece (BERT).
    WordPiece,
    /// Unigram (SentencePiece).
    Unigram,
}

impl TrainKind {
    /// The special tokens a model of this kind gets unless others are given.
    pub fn default_special_tokens(self) -> Vec<String> {
        let tokens: &[&str] = match self {
            TrainKind::Bpe => &["<|endoftext|>"],
            TrainKind::WordPiece => &["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
            TrainKind::Unigram => &["<pad>", "<unk>", "<s>", "</s>", "<mask>"],
        };
        tokens.iter().map(|t| t.to_string()).collect()
    }

    /// The smallest vocabulary that training accepts for this kind.
    fn min_vocab(self, specials: usize) -> usize {
        match self {
            TrainKind::Bpe => 256 + specials,
            TrainKind::WordPiece | TrainKind::Unigram => specials + 1,
        }
    }
}

/// The spec name of the kind: `bpe`, `wordpiece`, `unigram`.
impl fmt::Display for TrainKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrainKind::Bpe => "bpe",
            TrainKind::WordPiece => "wordpiece",
            TrainKind::Unigram => "unigram",
        })
    }
}

/// What to train.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenizerTrainOptions {
    /// The model kind.
    pub kind: TrainKind,
    /// Target vocabulary size, special tokens included.
    pub vocab_size: usize,
    /// Minimum number of occurrences for a merge (BPE, WordPiece).
    pub min_frequency: u64,
    /// Special tokens, given the first ids; the kind's defaults when `None`.
    pub special_tokens: Option<Vec<String>>,
}

impl TokenizerTrainOptions {
    /// Options for `kind` with `vocab_size`, default special tokens and minimum frequency 2.
    pub fn new(kind: TrainKind, vocab_size: usize) -> Self {
        TokenizerTrainOptions { kind, vocab_size, min_frequency: 2, special_tokens: None }
    }
}

/// Trains a tokenizer on `texts` (any number of pieces of the corpus, read once).
pub fn train_tokenizer<I, S>(options: &TokenizerTrainOptions, texts: I) -> Result<HfTokenizer>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
{
    let what = format!("training {}", options.kind);
    let fail = |e: tokenizers::Error| TextError::tokenizer(what.clone(), e);
    let specials = options.special_tokens.clone().unwrap_or_else(|| options.kind.default_special_tokens());
    let min = options.kind.min_vocab(specials.len());
    if options.vocab_size < min {
        return Err(TextError::InvalidOption {
            option: format!("vocab size {}", options.vocab_size),
            message: format!("{} needs at least {min} (its base alphabet and special tokens)", options.kind),
        });
    }
    let added: Vec<AddedToken> = specials.iter().map(|t| AddedToken::from(t.clone(), true)).collect();
    let mut tokenizer = match options.kind {
        TrainKind::Bpe => {
            let mut t = tokenizers::Tokenizer::new(BPE::default());
            t.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
            t.with_post_processor(Some(ByteLevel::new(false, true, true)));
            t.with_decoder(Some(ByteLevelDecoder::default()));
            let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
                .show_progress(false)
                .vocab_size(options.vocab_size)
                .min_frequency(options.min_frequency)
                .special_tokens(added)
                .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
                .build()
                .into();
            t.train(&mut trainer, texts).map_err(fail)?;
            t
        }
        TrainKind::WordPiece => {
            let unk = pick(&specials, &["[UNK]", "<unk>"]).unwrap_or("[UNK]").to_owned();
            let mut t = tokenizers::Tokenizer::new(WordPiece::default());
            t.with_normalizer(Some(BertNormalizer::new(true, true, Some(false), false)));
            t.with_pre_tokenizer(Some(BertPreTokenizer));
            t.with_decoder(Some(WordPieceDecoder::default()));
            let learner = WordPieceTrainer::new(options.vocab_size, options.min_frequency, added, unk);
            t.train(&mut WordCountTrainer::new(learner), texts).map_err(fail)?;
            t
        }
        TrainKind::Unigram => {
            let unk = pick(&specials, &["<unk>", "[UNK]"]).map(str::to_owned);
            let mut t = tokenizers::Tokenizer::new(Unigram::default());
            t.with_pre_tokenizer(Some(Metaspace::new('▁', PrependScheme::Always, true)));
            t.with_decoder(Some(MetaspaceDecoder::new('▁', PrependScheme::Always, true)));
            let inner = UnigramTrainerBuilder::default()
                .show_progress(false)
                .vocab_size(options.vocab_size as u32)
                .special_tokens(added)
                .unk_token(unk)
                .build()
                .map_err(|e| TextError::tokenizer(what.clone(), e))?;
            t.train(&mut WordCountTrainer::new(SortedUnigramTrainer(inner)), texts).map_err(fail)?;
            t
        }
    };
    if options.kind == TrainKind::WordPiece {
        let id = |name: &str| tokenizer.token_to_id(name).map(|id| (name.to_owned(), id));
        if let (Some(sep), Some(cls)) = (id("[SEP]"), id("[CLS]")) {
            tokenizer.with_post_processor(Some(BertProcessing::new(sep, cls)));
        }
    }
    if tokenizer.get_vocab_size(true) <= specials.len() {
        return Err(TextError::EmptyCorpus(format!("{what}: the corpus gave no tokens to learn")));
    }
    HfTokenizer::from_inner(tokenizer)
}

/// The first of `names` that is among `specials`.
fn pick<'a>(specials: &'a [String], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| specials.iter().find(|s| s == n)).map(String::as_str)
}
