//! The index file: one file, written atomically (temporary file, fsync, rename).
//!
//! Layout (integers little-endian):
//! `LOAMSRCH` · version u32 · header length u32 · header (JSON: the encoder's identity and
//! counts) · body length u64 · body (CBOR: settings, documents, chunks, vectors and HNSW
//! graph) · CRC-32 of everything before it, u32.
//! The BM25 statistics are not stored: they are recomputed from the chunks on load.
//! A truncated file, a flipped byte (the checksum), another format or an index built with
//! another encoder is refused with an error naming the file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::search::bm25::Bm25;
use crate::search::dense::DenseIndex;
use crate::search::embedder::EncoderIdentity;
use crate::search::error::{Result, SearchError};
use crate::search::index::{ChunkRecord, DocRecord, IndexConfig, SearchIndex};

const MAGIC: &[u8; 8] = b"LOAMSRCH";
const VERSION: u32 = 1;
/// Magic, version and header length.
const PREFIX: usize = 16;

/// The JSON header: readable without decoding the body.
#[derive(Serialize, Deserialize)]
struct Header {
    encoder: EncoderIdentity,
    documents: usize,
    chunks: usize,
}

/// The body, as written.
#[derive(Serialize)]
struct BodyRef<'a> {
    config: &'a IndexConfig,
    docs: &'a BTreeMap<String, DocRecord>,
    chunks: &'a [Option<ChunkRecord>],
    dense: &'a DenseIndex,
}

/// The body, as read.
#[derive(Deserialize)]
struct Body {
    config: IndexConfig,
    docs: BTreeMap<String, DocRecord>,
    chunks: Vec<Option<ChunkRecord>>,
    dense: DenseIndex,
}

impl SearchIndex {
    /// Writes the index to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let header = Header { encoder: self.identity.clone(), documents: self.len(), chunks: self.chunk_count() };
        let header = serde_json::to_vec(&header).map_err(|e| SearchError::file(path, format!("cannot encode the header: {e}")))?;
        let body = BodyRef { config: &self.config, docs: &self.docs, chunks: &self.chunks, dense: &self.dense };
        let mut body_bytes = Vec::new();
        ciborium::into_writer(&body, &mut body_bytes).map_err(|e| SearchError::file(path, format!("cannot encode the index: {e}")))?;
        let mut bytes = Vec::with_capacity(PREFIX + header.len() + 8 + body_bytes.len() + 4);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&VERSION.to_le_bytes());
        bytes.extend_from_slice(&(header.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&(body_bytes.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&body_bytes);
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        loam_nn::write_atomic(path, &bytes).map_err(|e| SearchError::file(path, e.to_string()))
    }

    /// Reads the index at `path`, which must have been built with the encoder `expected`.
    pub fn load(path: &Path, expected: &EncoderIdentity) -> Result<SearchIndex> {
        let bytes = std::fs::read(path).map_err(|e| SearchError::file(path, format!("cannot read: {e}")))?;
        let (header, body) = split(path, &bytes)?;
        if header.encoder != *expected {
            return Err(SearchError::ModelMismatch {
                path: path.to_owned(),
                stored: Box::new(header.encoder),
                given: Box::new(expected.clone()),
            });
        }
        let corrupt = |msg: String| SearchError::file(path, format!("corrupt index: {msg}"));
        let body: Body = ciborium::from_reader(body).map_err(|e| corrupt(e.to_string()))?;
        body.dense.check(header.encoder.dim).map_err(corrupt)?;
        for (id, doc) in &body.docs {
            let owned = |&slot: &u32| body.chunks.get(slot as usize).and_then(Option::as_ref).is_some_and(|c| c.doc == *id);
            if !doc.slots.iter().all(owned) {
                return Err(corrupt(format!("document `{id}` lists chunks it does not own")));
            }
        }
        let mut bm25 = Bm25::new(body.config.bm25);
        for (slot, chunk) in body.chunks.iter().enumerate() {
            if let Some(chunk) = chunk {
                bm25.insert(slot as u32, &chunk.text);
            }
        }
        Ok(SearchIndex {
            identity: header.encoder,
            config: body.config,
            docs: body.docs,
            chunks: body.chunks,
            dense: body.dense,
            bm25,
        })
    }

    /// The encoder recorded in the index file at `path` (reads and checks the whole file).
    pub fn read_identity(path: &Path) -> Result<EncoderIdentity> {
        let bytes = std::fs::read(path).map_err(|e| SearchError::file(path, format!("cannot read: {e}")))?;
        Ok(split(path, &bytes)?.0.encoder)
    }
}

/// Checks the framing and checksum of an index file; returns its header and body bytes.
fn split<'a>(path: &Path, bytes: &'a [u8]) -> Result<(Header, &'a [u8])> {
    let err = |msg: String| SearchError::file(path, msg);
    if bytes.len() < PREFIX || &bytes[..8] != MAGIC {
        return Err(err("not a loam search index (it does not start with LOAMSRCH)".into()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(err(format!("index format version {version}; this build reads version {VERSION}")));
    }
    let header_len = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
    let body_at = PREFIX + header_len + 8;
    let truncated = |needed: usize| err(format!("truncated: {} bytes, but its lengths need at least {needed}", bytes.len()));
    if bytes.len() < body_at + 4 {
        return Err(truncated(body_at + 4));
    }
    let body_len = u64::from_le_bytes(bytes[body_at - 8..body_at].try_into().expect("8 bytes"));
    let expected = (body_at as u64).saturating_add(body_len).saturating_add(4);
    if (bytes.len() as u64) < expected {
        return Err(truncated(expected as usize));
    }
    if bytes.len() as u64 > expected {
        return Err(err(format!("{} bytes, but its lengths say {expected}: data after the end", bytes.len())));
    }
    let end = bytes.len() - 4;
    let stored = u32::from_le_bytes(bytes[end..].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..end]) != stored {
        return Err(err("corrupt index: checksum mismatch (the file was damaged after it was written)".into()));
    }
    let header: Header = serde_json::from_slice(&bytes[PREFIX..PREFIX + header_len])
        .map_err(|e| err(format!("corrupt index header: {e}")))?;
    Ok((header, &bytes[body_at..end]))
}
