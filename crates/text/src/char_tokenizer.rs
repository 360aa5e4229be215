//! The character-level tokenizer of the shakespeare-char benchmark: one id per distinct
//! character (Unicode scalar value) of the corpus, ids in sorted character order.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TextError};
use crate::fsutil::{read_to_string, write_atomic};
use crate::tokenizer::Tokenizer;

/// The tag that marks a character vocabulary file.
const FILE_KIND: &str = "loam-char";

/// A character-level tokenizer; it has no special tokens and rejects unknown characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharTokenizer {
    chars: Vec<char>,
    ascii: Box<[u32; 128]>,
    other: HashMap<char, u32>,
}

/// On-disk form: `{"type": "loam-char", "chars": ["\n", " ", "!", ...]}`.
#[derive(Serialize, Deserialize)]
struct CharFile {
    #[serde(rename = "type")]
    kind: String,
    chars: Vec<String>,
}

impl CharTokenizer {
    /// The vocabulary of the distinct characters of `text`, sorted.
    pub fn from_text(text: &str) -> Self {
        let mut set = BTreeSet::new();
        set.extend(text.chars());
        CharTokenizer::from_chars(set)
    }

    /// A vocabulary of the given characters (duplicates removed, sorted).
    pub fn from_chars(chars: impl IntoIterator<Item = char>) -> Self {
        let set: BTreeSet<char> = chars.into_iter().collect();
        let chars: Vec<char> = set.into_iter().collect();
        let mut ascii = Box::new([u32::MAX; 128]);
        let mut other = HashMap::new();
        for (id, &c) in chars.iter().enumerate() {
            let id = id as u32;
            if c.is_ascii() {
                ascii[c as usize] = id;
            } else {
                other.insert(c, id);
            }
        }
        CharTokenizer { chars, ascii, other }
    }

    /// Reads a vocabulary written by [`Tokenizer::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_to_string(path)?;
        CharTokenizer::from_json(&text).map_err(|message| TextError::Tokenizer {
            what: path.display().to_string(),
            message,
        })
    }

    /// Parses the JSON form of a character vocabulary.
    pub(crate) fn from_json(text: &str) -> std::result::Result<Self, String> {
        let file: CharFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if file.kind != FILE_KIND {
            return Err(format!("\"type\" is {:?}, expected {FILE_KIND:?}", file.kind));
        }
        let mut chars = Vec::with_capacity(file.chars.len());
        for (i, s) in file.chars.iter().enumerate() {
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => chars.push(c),
                _ => return Err(format!("entry {i} ({s:?}) is not exactly one character")),
            }
        }
        let tokenizer = CharTokenizer::from_chars(chars.iter().copied());
        if tokenizer.chars != chars {
            return Err("characters are not sorted and distinct".into());
        }
        Ok(tokenizer)
    }

    /// The vocabulary, in id order.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// The id of one character.
    pub fn id_of(&self, c: char) -> Option<u32> {
        if c.is_ascii() {
            let id = self.ascii[c as usize];
            (id != u32::MAX).then_some(id)
        } else {
            self.other.get(&c).copied()
        }
    }

    /// Appends the ids of `text` to `out`, which is the fast path of dataset building.
    pub fn encode_into(&self, text: &str, out: &mut Vec<u32>) -> Result<()> {
        out.reserve(text.len());
        for (offset, c) in text.chars().enumerate() {
            match self.id_of(c) {
                Some(id) => out.push(id),
                None => return Err(TextError::UnknownChar { ch: c, code: c as u32, offset }),
            }
        }
        Ok(())
    }
}

impl Tokenizer for CharTokenizer {
    fn encode(&self, text: &str, _add_special_tokens: bool) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        self.encode_into(text, &mut out)?;
        Ok(out)
    }

    fn decode(&self, ids: &[u32], _skip_special_tokens: bool) -> Result<String> {
        let mut out = String::with_capacity(ids.len());
        for (position, &id) in ids.iter().enumerate() {
            let c = self.chars.get(id as usize).ok_or(TextError::UnknownId {
                id,
                position,
                vocab_size: self.chars.len(),
            })?;
            out.push(*c);
        }
        Ok(out)
    }

    fn vocab_size(&self) -> usize {
        self.chars.len()
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        let mut it = token.chars();
        match (it.next(), it.next()) {
            (Some(c), None) => self.id_of(c),
            _ => None,
        }
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        self.chars.get(id as usize).map(|c| c.to_string())
    }

    fn special_ids(&self) -> Vec<u32> {
        Vec::new()
    }

    fn save(&self, path: &Path) -> Result<()> {
        let file = CharFile {
            kind: FILE_KIND.into(),
            chars: self.chars.iter().map(|c| c.to_string()).collect(),
        };
        let json = serde_json::to_string_pretty(&file).map_err(|source| TextError::Json {
            path: path.to_owned(),
            source,
        })?;
        write_atomic(path, json.as_bytes())
    }

    fn kind(&self) -> &'static str {
        "char"
    }

    fn pad_id(&self) -> Option<u32> {
        None
    }

    fn end_of_text_id(&self) -> Option<u32> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_vocabulary_and_round_trip() {
        let text = "hello, 世界! 👋🏽 e\u{301} שלום";
        let tok = CharTokenizer::from_text(text);
        let mut sorted: Vec<char> = tok.chars().to_vec();
        sorted.sort();
        assert_eq!(tok.chars(), sorted.as_slice());
        let ids = tok.encode(text, true).unwrap();
        assert_eq!(ids.len(), text.chars().count());
        assert_eq!(tok.decode(&ids, false).unwrap(), text);
    }

    #[test]
    fn unknown_char_and_id_are_errors() {
        let tok = CharTokenizer::from_text("abc");
        match tok.encode("abz", false) {
            Err(TextError::UnknownChar { ch: 'z', offset: 2, .. }) => {}
            other => panic!("expected UnknownChar, got {other:?}"),
        }
        assert!(matches!(tok.decode(&[0, 3], false), Err(TextError::UnknownId { id: 3, position: 1, .. })));
    }

    #[test]
    fn json_form_is_checked() {
        let tok = CharTokenizer::from_text("ba\n");
        assert!(CharTokenizer::from_json(r#"{"type":"loam-char","chars":["\n","a","b"]}"#).unwrap() == tok);
        assert!(CharTokenizer::from_json(r#"{"type":"loam-char","chars":["b","a"]}"#).is_err());
        assert!(CharTokenizer::from_json(r#"{"type":"loam-char","chars":["ab"]}"#).is_err());
        assert!(CharTokenizer::from_json(r#"{"type":"bpe"}"#).is_err());
    }
}
