//! Token shards: flat little-endian files of token ids, written atomically.
//!
//! A shard holds nothing but ids, `u16` when the vocabulary has at most 65,536 tokens and
//! `u32` otherwise (nanoGPT's `train.bin` layout for `u16`); `meta.json` says which. A split
//! (`train`, `val`) is the concatenation of its shards `train_0000.bin`, `train_0001.bin`, ...

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::corpus::hex;
use crate::error::{Result, TextError};
use crate::fsutil::AtomicFile;

/// The integer type of the ids in a shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenDtype {
    /// Unsigned 16-bit little-endian.
    U16,
    /// Unsigned 32-bit little-endian.
    U32,
}

impl TokenDtype {
    /// The smallest type that holds every id of a vocabulary of `vocab_size`.
    pub fn for_vocab(vocab_size: usize) -> TokenDtype {
        if vocab_size <= TokenDtype::U16.max_vocab() { TokenDtype::U16 } else { TokenDtype::U32 }
    }

    /// Bytes per id.
    pub fn size(self) -> usize {
        match self {
            TokenDtype::U16 => 2,
            TokenDtype::U32 => 4,
        }
    }

    /// The largest vocabulary this type holds.
    pub fn max_vocab(self) -> usize {
        match self {
            TokenDtype::U16 => 1 << 16,
            TokenDtype::U32 => 1 << 32,
        }
    }

    /// The type's name as `meta.json` writes it.
    pub fn name(self) -> &'static str {
        match self {
            TokenDtype::U16 => "u16",
            TokenDtype::U32 => "u32",
        }
    }

    /// Checks that a vocabulary of `vocab_size` fits this type.
    pub fn check_vocab(self, vocab_size: usize) -> Result<()> {
        if vocab_size > self.max_vocab() {
            return Err(TextError::VocabTooLarge { vocab_size, dtype: self.name(), max: self.max_vocab() });
        }
        Ok(())
    }

    /// Decodes the id at index `i` of little-endian `bytes`.
    #[inline]
    pub fn read(self, bytes: &[u8], i: usize) -> u32 {
        match self {
            TokenDtype::U16 => u32::from(u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]])),
            TokenDtype::U32 => u32::from_le_bytes([bytes[4 * i], bytes[4 * i + 1], bytes[4 * i + 2], bytes[4 * i + 3]]),
        }
    }
}

/// One written shard, as `meta.json` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// File name, relative to the dataset directory.
    pub file: String,
    /// Number of ids.
    pub tokens: u64,
    /// SHA-256 of the file, in hex.
    pub sha256: String,
}

/// Writes the ids of one split into shards of at most `shard_tokens` ids each.
pub struct ShardWriter {
    dir: PathBuf,
    split: String,
    dtype: TokenDtype,
    vocab_size: usize,
    shard_tokens: u64,
    current: Option<(AtomicFile, Sha256, u64)>,
    first_index: usize,
    done: Vec<ShardInfo>,
    buf: Vec<u8>,
}

impl ShardWriter {
    /// A writer of `{split}_NNNN.bin` files in `dir`.
    pub fn new(dir: &Path, split: &str, dtype: TokenDtype, vocab_size: usize, shard_tokens: u64) -> Result<Self> {
        dtype.check_vocab(vocab_size)?;
        if shard_tokens == 0 {
            return Err(TextError::InvalidOption { option: "shard tokens 0".into(), message: "must be positive".into() });
        }
        Ok(ShardWriter {
            dir: dir.to_owned(),
            split: split.to_owned(),
            dtype,
            vocab_size,
            shard_tokens,
            current: None,
            first_index: 0,
            done: Vec::new(),
            buf: Vec::new(),
        })
    }

    /// Numbers this writer's shards from `index` on (to rewrite the tail of a split).
    pub fn first_index(mut self, index: usize) -> Self {
        self.first_index = index;
        self
    }

    /// The id type written.
    pub fn dtype(&self) -> TokenDtype {
        self.dtype
    }

    /// The vocabulary size ids are checked against.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// The most ids per shard.
    pub fn shard_tokens(&self) -> u64 {
        self.shard_tokens
    }

    fn shard_name(&self) -> String {
        format!("{}_{:04}.bin", self.split, self.first_index + self.done.len())
    }

    /// Appends ids, checking each is inside the vocabulary.
    pub fn write(&mut self, mut ids: &[u32]) -> Result<()> {
        if let Some(bad) = ids.iter().position(|&id| id as usize >= self.vocab_size) {
            return Err(TextError::UnknownId { id: ids[bad], position: bad, vocab_size: self.vocab_size });
        }
        while !ids.is_empty() {
            if self.current.is_none() {
                let name = self.shard_name();
                self.current = Some((AtomicFile::create(&self.dir.join(name))?, Sha256::new(), 0));
            }
            let (file, hasher, count) = self.current.as_mut().expect("shard opened above");
            let room = (self.shard_tokens - *count) as usize;
            let (now, later) = ids.split_at(room.min(ids.len()));
            self.buf.clear();
            match self.dtype {
                TokenDtype::U16 => now.iter().for_each(|&id| self.buf.extend_from_slice(&(id as u16).to_le_bytes())),
                TokenDtype::U32 => now.iter().for_each(|&id| self.buf.extend_from_slice(&id.to_le_bytes())),
            }
            file.write_all(&self.buf)?;
            hasher.update(&self.buf);
            *count += now.len() as u64;
            if *count == self.shard_tokens {
                self.close_current()?;
            }
            ids = later;
        }
        Ok(())
    }

    /// Ids written so far.
    pub fn tokens(&self) -> u64 {
        self.done.iter().map(|s| s.tokens).sum::<u64>() + self.current.as_ref().map_or(0, |c| c.2)
    }

    /// Closes the last shard and returns the list of shards.
    pub fn finish(mut self) -> Result<Vec<ShardInfo>> {
        self.close_current()?;
        Ok(self.done)
    }

    fn close_current(&mut self) -> Result<()> {
        if let Some((file, hasher, tokens)) = self.current.take() {
            file.commit()?;
            let name = self.shard_name();
            self.done.push(ShardInfo { file: name, tokens, sha256: hex(&hasher.finalize()) });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_choice_and_limits() {
        assert_eq!(TokenDtype::for_vocab(65), TokenDtype::U16);
        assert_eq!(TokenDtype::for_vocab(65_536), TokenDtype::U16);
        assert_eq!(TokenDtype::for_vocab(65_537), TokenDtype::U32);
        assert!(matches!(TokenDtype::U16.check_vocab(70_000), Err(TextError::VocabTooLarge { .. })));
        let bytes = [0x34, 0x12, 0xFF, 0xFF];
        assert_eq!((TokenDtype::U16.read(&bytes, 0), TokenDtype::U16.read(&bytes, 1)), (0x1234, 0xFFFF));
        assert_eq!(TokenDtype::U32.read(&bytes, 0), 0xFFFF_1234);
    }
}
