//! `loam-text`: cleaning, sentence splitting, stop words, tokenizers and token datasets.
//!
//! ```
//! use loam_text::{CharTokenizer, CleanConfig, Cleaner, Tokenizer, TokenSplit, split_sentences};
//!
//! // Clean: strip HTML, normalize white space, mask e-mail addresses.
//! let mut cleaner = Cleaner::new("html,whitespace,emails".parse()?);
//! let text = cleaner.clean_document("<p>Write to  ann@example.org. Dr. Lee  replies!</p>").unwrap();
//! assert_eq!(text, "Write to <email>. Dr. Lee replies!\n");
//! assert_eq!(cleaner.report().emails_masked, 1);
//!
//! // Split sentences; "Dr." does not end one.
//! assert_eq!(split_sentences(&text), ["Write to <email>.", "Dr. Lee replies!"]);
//!
//! // Tokenize at character level and read training windows (y is x shifted by one).
//! let tokenizer = CharTokenizer::from_text(&text);
//! let ids = tokenizer.encode(&text, false)?;
//! assert_eq!(tokenizer.decode(&ids, false)?, text);
//! let split = TokenSplit::from_tokens(ids.clone());
//! let batch = split.random_windows(8, 1337)?.next_batch(4);
//! assert_eq!(batch.x[1..8], batch.y[..7]);
//! # Ok::<(), loam_text::TextError>(())
//! ```
//!
//! Building a dataset from a corpus directory is [`build_dataset`] (the `cargo xtask data`
//! command); reading it back is [`TokenDataset`]. See `docs/text.md` for the options, the
//! tokenizer specs and the shard format.

mod char_tokenizer;
mod check_digit;
mod clean;
mod corpus;
mod dataset;
mod error;
mod fsutil;
mod hf_tokenizer;
mod html;
mod mask;
mod meta;
mod mlm;
mod reader;
mod report;
mod sentences;
mod shard;
mod spec;
mod stopwords;
mod tokenizer;
mod train;
mod unigram_trainer;
mod word_counts;
mod wordpiece_trainer;

pub use char_tokenizer::CharTokenizer;
pub use clean::{CleanConfig, Cleaner, MaskConfig, Normalization, clean};
pub use corpus::{Chunk, Chunks, Corpus, CorpusOptions, SourceFile, TEXT_EXTENSIONS, sha256_file, split_lines};
pub use dataset::{DatasetConfig, SplitMode, TOKENIZER_FILE, build_dataset, remove_dataset};
pub use error::{Result, TextError};
pub use hf_tokenizer::HfTokenizer;
pub use html::{HtmlStats, decode_entities, strip_html};
pub use check_digit::{chinese_id_check_char, chinese_id_valid, iban_valid, luhn_valid, ssn_valid};
pub use mask::{
    CARD_PLACEHOLDER, EMAIL_PLACEHOLDER, IBAN_PLACEHOLDER, ID_PLACEHOLDER, MaskCounts, MaskKind, MaskKinds, MaskSpan, PHONE_PLACEHOLDER,
    URL_PLACEHOLDER, find_spans, mask,
};
pub use meta::{DatasetMeta, META_FORMAT, META_VERSION, SourceInfo, SplitInfo, TokenCounts, TokenizerInfo};
pub use mlm::{IGNORE_INDEX, MlmBatch, MlmCollator, MlmConfig, word_continuations};
pub use reader::{Batch, RandomWindows, SequentialWindows, Split, TokenDataset, TokenSplit};
pub use report::CleanReport;
pub use sentences::split_sentences;
pub use shard::{ShardInfo, ShardWriter, TokenDtype};
pub use spec::{AnyTokenizer, TokenizerSpec, load_tokenizer};
pub use stopwords::{Language, StopWords};
pub use tokenizer::{BatchEncoding, BatchOptions, Padding, Tokenizer, pad_batch};
pub use train::{TokenizerTrainOptions, TrainKind, train_tokenizer};
