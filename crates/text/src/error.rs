//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong in `loam-text`; each variant names what failed and where.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// An I/O operation on a file or directory failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done ("reading", "writing", "creating directory", ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file holds bytes that are not UTF-8 and lossy decoding was not allowed.
    #[error(
        "{path}: invalid UTF-8 at byte offset {offset} (--lossy-utf8, `lossy_utf8` in a config, replaces invalid bytes with U+FFFD)"
    )]
    InvalidUtf8 {
        /// The file concerned.
        path: PathBuf,
        /// Byte offset of the first invalid sequence.
        offset: u64,
    },
    /// A file looks binary (it holds NUL bytes) and cannot be read as text.
    #[error("{path}: looks like a binary file (NUL byte at offset {offset}), not text")]
    BinaryFile {
        /// The file concerned.
        path: PathBuf,
        /// Byte offset of the first NUL byte.
        offset: u64,
    },
    /// The corpus holds no text at all (no files, only empty files, or everything was filtered out).
    #[error("empty corpus: {0}")]
    EmptyCorpus(String),
    /// A directory holds no `.txt`, `.md` or `.html` file.
    #[error("{path}: directory holds no text files (.txt, .md, .html, .htm)")]
    NoTextFiles {
        /// The directory searched.
        path: PathBuf,
    },
    /// A tokenizer file or specification could not be parsed or used.
    #[error("tokenizer {what}: {message}")]
    Tokenizer {
        /// Which tokenizer or file.
        what: String,
        /// What went wrong.
        message: String,
    },
    /// A tokenizer specification string is not one of the accepted forms.
    #[error(
        "invalid tokenizer spec {spec:?}: {message} (expected `char`, `bpe:VOCAB`, `wordpiece:VOCAB`, `unigram:VOCAB` or a path to a tokenizer file)"
    )]
    InvalidSpec {
        /// The specification as given.
        spec: String,
        /// What is wrong with it.
        message: String,
    },
    /// Text holds a character that a character-level tokenizer does not know.
    #[error("character {ch:?} (U+{code:04X}) at char offset {offset} is not in the vocabulary")]
    UnknownChar {
        /// The character.
        ch: char,
        /// Its code point.
        code: u32,
        /// Its position in the text, counted in characters.
        offset: usize,
    },
    /// A token id is outside the vocabulary.
    #[error("token id {id} at position {position} is outside the vocabulary of size {vocab_size}")]
    UnknownId {
        /// The id.
        id: u32,
        /// Its position in the input.
        position: usize,
        /// The vocabulary size.
        vocab_size: usize,
    },
    /// The vocabulary does not fit the chosen token type of the shards.
    #[error("vocabulary of {vocab_size} tokens does not fit shard type {dtype} (max {max})")]
    VocabTooLarge {
        /// The vocabulary size.
        vocab_size: usize,
        /// The shard type name.
        dtype: &'static str,
        /// The largest vocabulary that type holds.
        max: usize,
    },
    /// A dataset directory or `meta.json` is malformed or inconsistent.
    #[error("dataset {path}: {message}")]
    Dataset {
        /// The file or directory concerned.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A request does not fit the data (window longer than the split, empty batch...).
    #[error("{0}")]
    InvalidRequest(String),
    /// A cleaning or configuration option is invalid.
    #[error("invalid option {option:?}: {message}")]
    InvalidOption {
        /// The option as given.
        option: String,
        /// What is wrong with it.
        message: String,
    },
    /// JSON could not be read or written.
    #[error("JSON in {path}: {source}")]
    Json {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
}

/// Result with [`TextError`].
pub type Result<T, E = TextError> = std::result::Result<T, E>;

impl TextError {
    /// An [`TextError::Io`] for `action` on `path`.
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TextError::Io { action, path: path.into(), source }
    }

    /// A [`TextError::Tokenizer`] from any displayable error.
    pub(crate) fn tokenizer(what: impl Into<String>, message: impl std::fmt::Display) -> Self {
        TextError::Tokenizer { what: what.into(), message: message.to_string() }
    }
}
