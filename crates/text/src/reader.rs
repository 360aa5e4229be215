//! Reading token datasets: memory-mapped shards, random training windows from a seed, and
//! sequential non-overlapping windows for evaluation.
//!
//! A split reads as one sequence (its shards concatenated), so windows may cross shards. A
//! window of `block` tokens at `i` is `x = tokens[i .. i+block]`, `y = tokens[i+1 .. i+block+1]`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, TextError};
use crate::meta::DatasetMeta;
use crate::shard::{TokenDtype, ShardInfo};

/// A dataset directory written by [`crate::build_dataset`].
#[derive(Debug)]
pub struct TokenDataset {
    dir: PathBuf,
    meta: DatasetMeta,
}

/// Which split to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// Training data.
    Train,
    /// Validation data.
    Val,
}

impl TokenDataset {
    /// Opens the dataset in `dir` (reads and checks `meta.json`).
    pub fn open(dir: &Path) -> Result<Self> {
        Ok(TokenDataset { dir: dir.to_owned(), meta: DatasetMeta::load(dir)? })
    }

    /// The contents of `meta.json`.
    pub fn meta(&self) -> &DatasetMeta {
        &self.meta
    }

    /// Path of the dataset's tokenizer file.
    pub fn tokenizer_path(&self) -> PathBuf {
        self.dir.join(&self.meta.tokenizer.file)
    }

    /// Memory-maps the shards of one split.
    pub fn split(&self, split: Split) -> Result<TokenSplit> {
        let shards = match split {
            Split::Train => &self.meta.train_shards,
            Split::Val => &self.meta.val_shards,
        };
        TokenSplit::map(&self.dir, shards, self.meta.dtype)
    }

    /// Recomputes every shard's SHA-256 and compares it with `meta.json`.
    pub fn verify(&self) -> Result<()> {
        for shard in self.meta.train_shards.iter().chain(&self.meta.val_shards) {
            let path = self.dir.join(&shard.file);
            let sum = crate::corpus::sha256_file(&path)?;
            if sum != shard.sha256 {
                return Err(TextError::Dataset { path, message: format!("SHA-256 {sum} differs from meta.json's {}", shard.sha256) });
            }
        }
        Ok(())
    }
}

/// The tokens of one split, memory-mapped (or held in memory, for tests and small data).
#[derive(Debug)]
pub struct TokenSplit {
    parts: Vec<Part>,
    starts: Vec<usize>,
    len: usize,
}

#[derive(Debug)]
enum Part {
    Mapped(Mmap, TokenDtype),
    Memory(Vec<u32>),
}

impl Part {
    #[inline]
    fn get(&self, i: usize) -> u32 {
        match self {
            Part::Mapped(map, dtype) => dtype.read(map, i),
            Part::Memory(v) => v[i],
        }
    }
}

impl TokenSplit {
    /// Maps the given shards of `dir`, checking each file's size against its token count.
    pub fn map(dir: &Path, shards: &[ShardInfo], dtype: TokenDtype) -> Result<Self> {
        let mut parts = Vec::with_capacity(shards.len());
        let mut starts = Vec::with_capacity(shards.len());
        let mut len = 0usize;
        for shard in shards.iter().filter(|s| s.tokens > 0) {
            let path = dir.join(&shard.file);
            let file = File::open(&path).map_err(|e| TextError::io("opening shard", &path, e))?;
            let size = file.metadata().map_err(|e| TextError::io("inspecting shard", &path, e))?.len();
            if size != shard.tokens * dtype.size() as u64 {
                return Err(TextError::Dataset {
                    path,
                    message: format!("{size} bytes, but meta.json says {} {} tokens", shard.tokens, dtype.name()),
                });
            }
            // SAFETY: the shard is opened read-only; loam writes shards atomically (temp file
            // and rename) and never modifies one in place, so the mapped bytes do not change.
            let map = unsafe { Mmap::map(&file) }.map_err(|e| TextError::io("memory-mapping", &path, e))?;
            starts.push(len);
            len += shard.tokens as usize;
            parts.push(Part::Mapped(map, dtype));
        }
        Ok(TokenSplit { parts, starts, len })
    }

    /// A split held in memory.
    pub fn from_tokens(tokens: Vec<u32>) -> Self {
        let len = tokens.len();
        TokenSplit { parts: vec![Part::Memory(tokens)], starts: vec![0], len }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the split holds no token.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies `out.len()` tokens starting at `start` into `out`.
    pub fn read_into(&self, start: usize, out: &mut [u32]) -> Result<()> {
        let end = start.checked_add(out.len()).filter(|&e| e <= self.len).ok_or_else(|| {
            TextError::InvalidRequest(format!("tokens {start}..{} are outside a split of {}", start + out.len(), self.len))
        })?;
        let mut part = self.starts.partition_point(|&s| s <= start).saturating_sub(1);
        let mut pos = start;
        while pos < end {
            let base = self.starts[part];
            let part_end = self.starts.get(part + 1).copied().unwrap_or(self.len);
            let stop = end.min(part_end);
            for (o, i) in out[pos - start..stop - start].iter_mut().zip(pos - base..stop - base) {
                *o = self.parts[part].get(i);
            }
            pos = stop;
            part += 1;
        }
        Ok(())
    }

    /// The tokens `start .. start + len`.
    pub fn tokens(&self, start: usize, len: usize) -> Result<Vec<u32>> {
        let mut out = vec![0; len];
        self.read_into(start, &mut out)?;
        Ok(out)
    }

    /// Random training windows of `block` tokens, drawn from `seed` (nanoGPT's `get_batch`:
    /// starts uniform in `0 .. len - block`).
    pub fn random_windows(&self, block: usize, seed: u64) -> Result<RandomWindows<'_>> {
        self.check_block(block)?;
        Ok(RandomWindows { split: self, block, rng: ChaCha8Rng::seed_from_u64(seed) })
    }

    /// Every non-overlapping window of `block` tokens, in order: starts `0, block, 2·block, …`
    /// while the shifted targets fit.
    pub fn sequential_windows(&self, block: usize) -> Result<SequentialWindows<'_>> {
        self.check_block(block)?;
        Ok(SequentialWindows { split: self, block, next: 0, count: (self.len - 1) / block })
    }

    fn check_block(&self, block: usize) -> Result<()> {
        if block == 0 || block >= self.len {
            return Err(TextError::InvalidRequest(format!(
                "a window of {block} tokens needs a split of more than {block} tokens (this one has {})",
                self.len
            )));
        }
        Ok(())
    }

    /// Reads the window at `start` into a batch row.
    fn window_into(&self, start: usize, block: usize, x: &mut Vec<u32>, y: &mut Vec<u32>) {
        let mut buf = vec![0; block + 1];
        self.read_into(start, &mut buf).expect("window bounds are checked by the caller");
        x.extend_from_slice(&buf[..block]);
        y.extend_from_slice(&buf[1..]);
    }
}

/// A batch of windows: `x` and `y` are `batch × block`, row-major; `y` is `x` shifted by one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    /// Inputs.
    pub x: Vec<u32>,
    /// Targets.
    pub y: Vec<u32>,
    /// Rows.
    pub batch_size: usize,
    /// Tokens per row.
    pub block: usize,
    /// Start of each row in the split.
    pub starts: Vec<usize>,
}

/// Random windows from a seed; see [`TokenSplit::random_windows`].
pub struct RandomWindows<'a> {
    split: &'a TokenSplit,
    block: usize,
    rng: ChaCha8Rng,
}

impl RandomWindows<'_> {
    /// The next `batch_size` windows.
    pub fn next_batch(&mut self, batch_size: usize) -> Batch {
        let block = self.block;
        let mut batch = Batch { x: Vec::with_capacity(batch_size * block), y: Vec::with_capacity(batch_size * block), batch_size, block, starts: Vec::with_capacity(batch_size) };
        for _ in 0..batch_size {
            let start = self.rng.random_range(0..self.split.len - block);
            self.split.window_into(start, block, &mut batch.x, &mut batch.y);
            batch.starts.push(start);
        }
        batch
    }
}

/// Sequential non-overlapping windows; see [`TokenSplit::sequential_windows`].
pub struct SequentialWindows<'a> {
    split: &'a TokenSplit,
    block: usize,
    next: usize,
    count: usize,
}

impl SequentialWindows<'_> {
    /// The next up-to-`batch_size` windows, or `None` when all were given.
    pub fn next_batch(&mut self, batch_size: usize) -> Option<Batch> {
        let rows = batch_size.min(self.count - self.next);
        if rows == 0 {
            return None;
        }
        let block = self.block;
        let mut batch = Batch { x: Vec::with_capacity(rows * block), y: Vec::with_capacity(rows * block), batch_size: rows, block, starts: Vec::with_capacity(rows) };
        for k in self.next..self.next + rows {
            self.split.window_into(k * block, block, &mut batch.x, &mut batch.y);
            batch.starts.push(k * block);
        }
        self.next += rows;
        Some(batch)
    }

    /// Number of windows in all.
    pub fn total(&self) -> usize {
        self.count
    }
}

/// Calls `f` with the ids of a shard file, a block at a time.
pub(crate) fn stream_shard(path: &Path, dtype: TokenDtype, mut f: impl FnMut(&[u32]) -> Result<()>) -> Result<()> {
    let mut file = File::open(path).map_err(|e| TextError::io("reading shard", path, e))?;
    let mut bytes = vec![0u8; 1 << 20];
    let mut ids = Vec::with_capacity(bytes.len() / dtype.size());
    let mut filled = 0;
    loop {
        let n = file.read(&mut bytes[filled..]).map_err(|e| TextError::io("reading shard", path, e))?;
        filled += n;
        let whole = filled / dtype.size() * dtype.size();
        if n == 0 || whole == bytes.len() {
            ids.clear();
            ids.extend((0..whole / dtype.size()).map(|i| dtype.read(&bytes, i)));
            f(&ids)?;
            bytes.copy_within(whole..filled, 0);
            filled -= whole;
        }
        if n == 0 {
            if filled != 0 {
                return Err(TextError::Dataset { path: path.to_owned(), message: format!("{filled} trailing bytes after the last {} id", dtype.name()) });
            }
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cross_parts_and_match_tokens() {
        let tokens: Vec<u32> = (0..100).collect();
        let mut split = TokenSplit::from_tokens(tokens[..40].to_vec());
        split.parts.push(Part::Memory(tokens[40..].to_vec()));
        split.starts.push(40);
        split.len = 100;
        assert_eq!(split.tokens(35, 10).unwrap(), (35..45).collect::<Vec<u32>>());
        let mut w = split.random_windows(8, 7).unwrap();
        let b = w.next_batch(50);
        for (r, &s) in b.starts.iter().enumerate() {
            assert!(s < 92);
            assert_eq!(b.x[r * 8..(r + 1) * 8], tokens[s..s + 8]);
            assert_eq!(b.y[r * 8..(r + 1) * 8], tokens[s + 1..s + 9]);
        }
        let mut seq = split.sequential_windows(10).unwrap();
        assert_eq!(seq.total(), 9);
        let first = seq.next_batch(4).unwrap();
        assert_eq!(first.starts, vec![0, 10, 20, 30]);
        assert_eq!(seq.next_batch(4).unwrap().batch_size, 4);
        assert_eq!(seq.next_batch(4).unwrap().starts, vec![80]);
        assert!(seq.next_batch(4).is_none());
        assert!(split.tokens(95, 6).is_err());
        assert!(split.random_windows(100, 0).is_err());
    }
}
