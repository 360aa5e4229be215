//! Finding, checking and streaming the text files of a corpus.
//!
//! A corpus is one file, or a directory searched recursively for `.txt`, `.md`, `.html` and
//! `.htm` files (hidden ones skipped), in sorted path order; each file is one document.
//! [`Corpus::open`] reads every file once to checksum it and to find binary files and invalid
//! UTF-8 before anything is written. [`Corpus::chunks`] then streams the files in pieces of
//! about `chunk_bytes`, cut at the start of a line, so memory stays bounded whatever the size of
//! the corpus; HTML files are read whole, since a tag may span lines.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Result, TextError};

/// Extensions of the files a corpus directory is searched for.
pub const TEXT_EXTENSIONS: &[&str] = &["txt", "md", "html", "htm"];

/// Size of the blocks files are read in.
const READ_BLOCK: usize = 1 << 16;

/// How a corpus is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorpusOptions {
    /// Replace invalid UTF-8 with U+FFFD (counted) instead of failing.
    pub lossy_utf8: bool,
    /// Target size in bytes of the pieces [`Corpus::chunks`] yields.
    pub chunk_bytes: usize,
    /// Skip a file whose bytes equal those of an earlier file.
    pub skip_duplicate_files: bool,
}

impl Default for CorpusOptions {
    fn default() -> Self {
        CorpusOptions { lossy_utf8: false, chunk_bytes: 8 << 20, skip_duplicate_files: false }
    }
}

/// One text file of a corpus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its path relative to the corpus root (its name, for a single-file corpus).
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// SHA-256 of its bytes, in hex.
    pub sha256: String,
    /// Whether it is HTML (by extension).
    pub html: bool,
    /// Invalid UTF-8 sequences it holds (only non-zero with lossy decoding).
    pub invalid_utf8: u64,
}

/// A checked list of corpus files.
#[derive(Clone, Debug)]
pub struct Corpus {
    files: Vec<SourceFile>,
    skipped: Vec<String>,
    options: CorpusOptions,
}

/// A piece of one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Index of the file in [`Corpus::files`].
    pub file: usize,
    /// Whether this is the first piece of the file.
    pub first: bool,
    /// Whether this is the last piece of the file.
    pub last: bool,
    /// The text.
    pub text: String,
}

impl Corpus {
    /// Finds and checks the files of the corpus at `path` (a file or a directory).
    pub fn open(path: &Path, options: CorpusOptions) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| TextError::io("opening corpus", path, e))?;
        let single = !meta.is_dir();
        let paths = if single {
            vec![path.to_owned()]
        } else {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort();
            if found.is_empty() {
                return Err(TextError::NoTextFiles { path: path.to_owned() });
            }
            found
        };
        let mut corpus = Corpus { files: Vec::new(), skipped: Vec::new(), options };
        for p in paths {
            let name = if single {
                p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned())
            } else {
                p.strip_prefix(path).unwrap_or(&p).to_string_lossy().into_owned()
            };
            let scan = scan_file(&p)?;
            if let Some(offset) = scan.nul_at {
                if single {
                    return Err(TextError::BinaryFile { path: p, offset });
                }
                corpus.skipped.push(format!("{name}: binary (NUL byte at offset {offset})"));
                continue;
            }
            if let Some(offset) = scan.first_invalid.filter(|_| !corpus.options.lossy_utf8) {
                return Err(TextError::InvalidUtf8 { path: p, offset });
            }
            if scan.bytes == 0 {
                corpus.skipped.push(format!("{name}: empty"));
                continue;
            }
            let twin = corpus.files.iter().find(|f| f.sha256 == scan.sha256);
            if let Some(twin) = twin.filter(|_| corpus.options.skip_duplicate_files) {
                corpus.skipped.push(format!("{name}: same bytes as {}", twin.name));
                continue;
            }
            let html = has_extension(&p, &["html", "htm"]);
            corpus.files.push(SourceFile {
                path: p,
                name,
                bytes: scan.bytes,
                sha256: scan.sha256,
                html,
                invalid_utf8: scan.invalid,
            });
        }
        if corpus.files.is_empty() {
            let why = if corpus.skipped.is_empty() { "no files".to_owned() } else { corpus.skipped.join("; ") };
            return Err(TextError::EmptyCorpus(format!("{}: no usable text ({why})", path.display())));
        }
        Ok(corpus)
    }

    /// The files, in reading order.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// Files left out, each with its reason.
    pub fn skipped(&self) -> &[String] {
        &self.skipped
    }

    /// Total invalid UTF-8 sequences replaced by lossy decoding.
    pub fn invalid_utf8(&self) -> u64 {
        self.files.iter().map(|f| f.invalid_utf8).sum()
    }

    /// Streams the files in pieces cut at line starts.
    pub fn chunks(&self) -> Chunks<'_> {
        Chunks { corpus: self, file: 0, reader: None, carry: Vec::new(), offset: 0, first: true }
    }
}

/// Iterator over the pieces of a corpus; see [`Corpus::chunks`].
pub struct Chunks<'a> {
    corpus: &'a Corpus,
    file: usize,
    reader: Option<File>,
    carry: Vec<u8>,
    offset: u64,
    first: bool,
}

impl Iterator for Chunks<'_> {
    type Item = Result<Chunk>;

    fn next(&mut self) -> Option<Self::Item> {
        let source = self.corpus.files.get(self.file)?;
        Some(self.next_chunk(source))
    }
}

impl Chunks<'_> {
    fn next_chunk(&mut self, source: &SourceFile) -> Result<Chunk> {
        let path = &source.path;
        if self.reader.is_none() {
            self.reader = Some(File::open(path).map_err(|e| TextError::io("reading", path, e))?);
        }
        let limit = if source.html { usize::MAX } else { self.corpus.options.chunk_bytes.max(1) };
        let mut eof = false;
        let reader = self.reader.as_mut().expect("reader opened above");
        while self.carry.len() < limit {
            let len = self.carry.len();
            self.carry.resize(len + READ_BLOCK, 0);
            let n = reader.read(&mut self.carry[len..]).map_err(|e| TextError::io("reading", path, e))?;
            self.carry.truncate(len + n);
            if n == 0 {
                eof = true;
                break;
            }
        }
        let cut = if eof { self.carry.len() } else { cut_point(&self.carry, limit) };
        let rest = self.carry.split_off(cut);
        let bytes = std::mem::replace(&mut self.carry, rest);
        let start = self.offset;
        self.offset += bytes.len() as u64;
        let mut text = if self.corpus.options.lossy_utf8 {
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            String::from_utf8(bytes).map_err(|e| TextError::InvalidUtf8 {
                path: path.clone(),
                offset: start + e.utf8_error().valid_up_to() as u64,
            })?
        };
        if self.first && text.starts_with('\u{FEFF}') {
            text.drain(..'\u{FEFF}'.len_utf8());
        }
        let chunk = Chunk { file: self.file, first: self.first, last: eof && self.carry.is_empty(), text };
        self.first = false;
        if chunk.last {
            self.file += 1;
            self.reader = None;
            self.offset = 0;
            self.first = true;
        }
        Ok(chunk)
    }
}

/// Where to cut a buffer of at least `limit` bytes: before the last line that starts with a
/// non-space character, else after the last line break, else at the last character boundary
/// (a line longer than the buffer).
fn cut_point(buf: &[u8], limit: usize) -> usize {
    let window = &buf[..limit.min(buf.len())];
    let line_start = (1..window.len()).rev().find(|&p| window[p - 1] == b'\n' && !window[p].is_ascii_whitespace());
    if let Some(p) = line_start {
        return p;
    }
    if let Some(p) = window.iter().rposition(|&b| b == b'\n') {
        return p + 1;
    }
    let boundary = (1..window.len()).rev().find(|&p| (window[p] & 0xC0) != 0x80);
    boundary.unwrap_or(window.len())
}

/// Cuts `text` into pieces of at most `max` bytes at line starts where it can (a line longer
/// than `max` is cut at a character boundary), as the dataset builder feeds `tokenizers` models.
pub fn split_lines(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let cut = cut_point(rest.as_bytes(), max).max(1);
        let cut = (cut..=rest.len()).find(|&c| rest.is_char_boundary(c)).unwrap_or(rest.len());
        pieces.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

/// What one read through a file found.
struct Scan {
    bytes: u64,
    sha256: String,
    nul_at: Option<u64>,
    first_invalid: Option<u64>,
    invalid: u64,
}

/// Reads a file once: size, checksum, first NUL byte, invalid UTF-8 sequences.
fn scan_file(path: &Path) -> Result<Scan> {
    let mut file = File::open(path).map_err(|e| TextError::io("reading", path, e))?;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; READ_BLOCK];
    let mut pending: Vec<u8> = Vec::new();
    let mut scan = Scan { bytes: 0, sha256: String::new(), nul_at: None, first_invalid: None, invalid: 0 };
    loop {
        let n = file.read(&mut block).map_err(|e| TextError::io("reading", path, e))?;
        let data = &block[..n];
        hasher.update(data);
        if scan.nul_at.is_none() {
            scan.nul_at = data.iter().position(|&b| b == 0).map(|p| scan.bytes + p as u64);
        }
        let pending_start = scan.bytes - pending.len() as u64;
        scan.bytes += n as u64;
        pending.extend_from_slice(data);
        let consumed = check_utf8(&pending, n == 0, pending_start, &mut scan);
        pending.drain(..consumed);
        if n == 0 {
            break;
        }
    }
    scan.sha256 = hex(&hasher.finalize());
    Ok(scan)
}

/// Validates `buf` (which starts at file offset `start`), recording invalid sequences; returns
/// how many bytes are done with (an incomplete sequence at the end waits for more unless `eof`).
fn check_utf8(buf: &[u8], eof: bool, start: u64, scan: &mut Scan) -> usize {
    let mut pos = 0;
    loop {
        match std::str::from_utf8(&buf[pos..]) {
            Ok(_) => return buf.len(),
            Err(e) => {
                let bad = pos + e.valid_up_to();
                let len = match e.error_len() {
                    Some(len) => len,
                    None if eof => buf.len() - bad,
                    None => return bad,
                };
                scan.invalid += 1;
                scan.first_invalid.get_or_insert(start + bad as u64);
                pos = bad + len;
            }
        }
    }
}

/// Lower-case hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a file, in hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    scan_file(path).map(|s| s.sha256)
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// Collects text files under `dir`, skipping hidden entries.
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| TextError::io("listing", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| TextError::io("listing", dir, e))?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(|e| TextError::io("inspecting", &path, e))?;
        if kind.is_dir() {
            walk(&path, found)?;
        } else if has_extension(&path, TEXT_EXTENSIONS) {
            found.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_points() {
        assert_eq!(cut_point(b"ab\ncd\nef", 8), 6);
        assert_eq!(cut_point(b"ab\n\n\ncd", 7), 5);
        assert_eq!(cut_point(b"ab\n  ", 5), 3);
        assert_eq!(cut_point("aé€".as_bytes(), 6), 3);
    }

    #[test]
    fn split_lines_covers_the_text() {
        let text = "one line\nsecond line\n\nthird 世界 line that is long\n";
        for max in [1, 3, 8, 16, 100] {
            let pieces = split_lines(text, max);
            assert_eq!(pieces.concat(), text, "max {max}");
        }
        assert_eq!(split_lines(text, 16)[0], "one line\n");
    }

    #[test]
    fn utf8_check_counts_and_carries() {
        let mut scan = Scan { bytes: 0, sha256: String::new(), nul_at: None, first_invalid: None, invalid: 0 };
        let euro = "€".as_bytes();
        assert_eq!(check_utf8(&[b'a', euro[0], euro[1]], false, 0, &mut scan), 1);
        assert_eq!(scan.invalid, 0);
        assert_eq!(check_utf8(&[b'a', 0xFF, b'b', 0xC3], true, 10, &mut scan), 4);
        assert_eq!((scan.invalid, scan.first_invalid), (2, Some(11)));
    }
}
