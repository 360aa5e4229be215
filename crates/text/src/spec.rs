//! Tokenizer specifications (`char`, `bpe:8000`, `path/to/tokenizer.json`) and loading any
//! saved tokenizer.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::char_tokenizer::CharTokenizer;
use crate::error::{Result, TextError};
use crate::hf_tokenizer::HfTokenizer;
use crate::tokenizer::Tokenizer;
use crate::train::{TrainKind, TokenizerTrainOptions};

/// Which tokenizer a dataset uses: built from the corpus, trained on it, or read from a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenizerSpec {
    /// `char`: the sorted distinct characters of the corpus.
    Char,
    /// `bpe:VOCAB`, `wordpiece:VOCAB`, `unigram:VOCAB`: trained on the corpus.
    Train(TokenizerTrainOptions),
    /// A path to a `tokenizer.json` (Hugging Face) or a saved character vocabulary.
    File(PathBuf),
}

impl FromStr for TokenizerSpec {
    type Err = TextError;

    fn from_str(s: &str) -> Result<Self> {
        let invalid = |message: &str| TextError::InvalidSpec { spec: s.to_owned(), message: message.to_owned() };
        if s == "char" {
            return Ok(TokenizerSpec::Char);
        }
        let kind = match s.split_once(':') {
            Some(("bpe", _)) => Some(TrainKind::Bpe),
            Some(("wordpiece", _)) => Some(TrainKind::WordPiece),
            Some(("unigram", _)) => Some(TrainKind::Unigram),
            _ => None,
        };
        if let (Some(kind), Some((_, vocab))) = (kind, s.split_once(':')) {
            let vocab_size: usize = vocab
                .replace('_', "")
                .parse()
                .map_err(|_| invalid("the vocabulary size is not a positive integer"))?;
            if vocab_size == 0 {
                return Err(invalid("the vocabulary size must be positive"));
            }
            return Ok(TokenizerSpec::Train(TokenizerTrainOptions::new(kind, vocab_size)));
        }
        if matches!(s, "bpe" | "wordpiece" | "unigram") {
            return Err(invalid("a trained tokenizer needs a vocabulary size, as in bpe:8000"));
        }
        if s.is_empty() {
            return Err(invalid("empty"));
        }
        // a bare word that names no file is a mistyped name, not a missing file
        if !s.contains(['/', '\\', '.']) && !Path::new(s).exists() {
            return Err(invalid("unknown tokenizer"));
        }
        Ok(TokenizerSpec::File(PathBuf::from(s)))
    }
}

/// The same text that [`TokenizerSpec::from_str`] reads.
impl fmt::Display for TokenizerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenizerSpec::Char => f.write_str("char"),
            TokenizerSpec::Train(o) => write!(f, "{}:{}", o.kind, o.vocab_size),
            TokenizerSpec::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Any tokenizer loam can load: the character-level one or a `tokenizers`-crate one.
#[derive(Clone, Debug)]
pub enum AnyTokenizer {
    /// Character level.
    Char(CharTokenizer),
    /// Hugging Face `tokenizer.json` (boxed: it is much larger than the character vocabulary).
    Hf(Box<HfTokenizer>),
}

impl AnyTokenizer {
    /// Appends the ids of `text` (no special tokens) to `out`.
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        match self {
            AnyTokenizer::Char(t) => t.encode_into(text, out),
            AnyTokenizer::Hf(t) => t.encode_into(text, out),
        }
    }

    fn as_dyn(&self) -> &dyn Tokenizer {
        match self {
            AnyTokenizer::Char(t) => t,
            AnyTokenizer::Hf(t) => t.as_ref(),
        }
    }
}

/// Reads a saved tokenizer: a character vocabulary written by loam, or any `tokenizer.json`.
pub fn load_tokenizer(path: &Path) -> Result<AnyTokenizer> {
    let bytes = std::fs::read(path).map_err(|e| TextError::io("reading", path, e))?;
    let tag = serde_json::from_slice::<serde_json::Value>(&bytes)
        .map_err(|e| TextError::Tokenizer { what: path.display().to_string(), message: format!("not JSON: {e}") })?;
    if tag.get("type").and_then(|t| t.as_str()) == Some("loam-char") {
        return CharTokenizer::load(path).map(AnyTokenizer::Char);
    }
    HfTokenizer::load(path).map(|t| AnyTokenizer::Hf(Box::new(t)))
}

impl Tokenizer for AnyTokenizer {
    fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        self.as_dyn().encode(text, add_special_tokens)
    }

    fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.as_dyn().decode(ids, skip_special_tokens)
    }

    fn vocab_size(&self) -> usize {
        self.as_dyn().vocab_size()
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.as_dyn().token_to_id(token)
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        self.as_dyn().id_to_token(id)
    }

    fn special_ids(&self) -> Vec<u32> {
        self.as_dyn().special_ids()
    }

    fn save(&self, path: &Path) -> Result<()> {
        self.as_dyn().save(path)
    }

    fn kind(&self) -> &'static str {
        self.as_dyn().kind()
    }

    fn num_special_tokens(&self) -> usize {
        self.as_dyn().num_special_tokens()
    }

    fn encode_truncated(&self, text: &str, add_special_tokens: bool, max_len: usize) -> Result<Vec<u32>> {
        self.as_dyn().encode_truncated(text, add_special_tokens, max_len)
    }

    fn pad_id(&self) -> Option<u32> {
        self.as_dyn().pad_id()
    }

    fn end_of_text_id(&self) -> Option<u32> {
        self.as_dyn().end_of_text_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_specs() {
        for s in ["char", "bpe:8000", "wordpiece:30522", "unigram:500", "models/tokenizer.json"] {
            assert_eq!(s.parse::<TokenizerSpec>().unwrap().to_string(), s);
        }
        assert_eq!(
            "bpe:8_000".parse::<TokenizerSpec>().unwrap(),
            TokenizerSpec::Train(TokenizerTrainOptions::new(TrainKind::Bpe, 8000))
        );
        for bad in ["bpe", "bpe:", "bpe:x", "unigram:0", ""] {
            assert!(matches!(bad.parse::<TokenizerSpec>(), Err(TextError::InvalidSpec { .. })), "{bad}");
        }
        // a mistyped name is reported as one, with the names that exist
        let err = "foo".parse::<TokenizerSpec>().unwrap_err().to_string();
        assert!(err.contains("unknown tokenizer") && err.contains("`char`, `bpe:VOCAB`"), "{err}");
        assert_eq!("foo.json".parse::<TokenizerSpec>().unwrap(), TokenizerSpec::File("foo.json".into()));
    }
}
