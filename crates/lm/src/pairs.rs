//! (source, target) pairs for sequence-to-sequence training, read from JSON lines (`source`
//! and `target` keys) or TSV (two columns), and batched as padded ids.

use std::path::Path;

use loam_text::Tokenizer;
use serde_json::Value;

use crate::error::{LmError, Result};
use crate::seq2seq::{IGNORE_INDEX, Seq2SeqBatch};

/// One training example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The input text.
    pub source: String,
    /// The text the model should write.
    pub target: String,
}

/// Reads pairs from `path`: JSON lines (`.jsonl`, `.json`) with string `source` and `target`
/// keys, or TSV (`.tsv`) with the source and the target in two tab-separated columns. Blank
/// lines are skipped; invalid UTF-8, a missing key or column, an empty source or target, or a
/// file without pairs is an error naming the file and line.
pub fn read_pairs(path: &Path) -> Result<Vec<Pair>> {
    let jsonl = match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl" | "json") => true,
        Some("tsv") => false,
        _ => {
            return Err(LmError::file(
                path,
                "pairs must be a .jsonl (source/target keys) or .tsv (two columns) file",
            ));
        }
    };
    let bytes =
        std::fs::read(path).map_err(|e| LmError::file(path, format!("cannot read: {e}")))?;
    let mut pairs = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let at = |msg: String| LmError::file(path, format!("line {}: {msg}", i + 1));
        let line = std::str::from_utf8(raw)
            .map_err(|e| at(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let pair = if jsonl {
            json_pair(line)
        } else {
            tsv_pair(line)
        }
        .map_err(at)?;
        for (what, text) in [("source", &pair.source), ("target", &pair.target)] {
            if text.trim().is_empty() {
                return Err(at(format!("the {what} is empty")));
            }
        }
        pairs.push(pair);
    }
    if pairs.is_empty() {
        return Err(LmError::file(path, "holds no pairs"));
    }
    Ok(pairs)
}

fn json_pair(line: &str) -> std::result::Result<Pair, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let field = |key: &str| match v.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(format!("`{key}` is not a string")),
        None => Err(format!("no `{key}` key")),
    };
    Ok(Pair {
        source: field("source")?,
        target: field("target")?,
    })
}

fn tsv_pair(line: &str) -> std::result::Result<Pair, String> {
    let cols: Vec<&str> = line.split('\t').collect();
    match cols.as_slice() {
        [source, target] => Ok(Pair {
            source: source.to_string(),
            target: target.to_string(),
        }),
        _ => Err(format!(
            "expected two tab-separated columns (source, target), found {}",
            cols.len()
        )),
    }
}

/// Pairs as ids: the source with the end id, the target without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPair {
    /// Source ids, ending with the end id.
    pub source: Vec<usize>,
    /// Target ids.
    pub target: Vec<usize>,
}

/// Encodes `pairs` with the source and target tokenizers (the same one for a shared
/// vocabulary). A source longer than `block_size` ids (end id included) or a target longer
/// than `block_size − 1` is an error naming the pair.
pub fn encode_pairs(
    pairs: &[Pair],
    source_tokenizer: &dyn Tokenizer,
    target_tokenizer: &dyn Tokenizer,
    eos_id: usize,
    block_size: usize,
) -> Result<Vec<EncodedPair>> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let ids = |t: &dyn Tokenizer, text: &str| -> Result<Vec<usize>> {
                Ok(t.encode(text, false)?.into_iter().map(|id| id as usize).collect())
            };
            let mut source = ids(source_tokenizer, &p.source)?;
            source.push(eos_id);
            let target = ids(target_tokenizer, &p.target)?;
            if source.len() > block_size || target.len() >= block_size {
                return Err(LmError::Config(format!(
                    "pair {}: {} source and {} target ids (with the end id) do not fit block_size {block_size}",
                    i + 1,
                    source.len(),
                    target.len() + 1
                )));
            }
            Ok(EncodedPair { source, target })
        })
        .collect()
}

/// A padded batch of `pairs`: decoder inputs are the start id then the target, labels the
/// target then the end id ([`IGNORE_INDEX`] on padding).
pub fn make_batch(
    pairs: &[&EncodedPair],
    pad_id: usize,
    bos_id: usize,
    eos_id: usize,
) -> Seq2SeqBatch {
    let b = pairs.len();
    let s = pairs.iter().map(|p| p.source.len()).max().unwrap_or(1);
    let t = pairs.iter().map(|p| p.target.len() + 1).max().unwrap_or(1);
    let (mut src, mut tgt_in, mut labels) = (
        Vec::with_capacity(b * s),
        Vec::with_capacity(b * t),
        Vec::with_capacity(b * t),
    );
    for p in pairs {
        src.extend(
            p.source
                .iter()
                .copied()
                .chain(std::iter::repeat(pad_id))
                .take(s),
        );
        let input = std::iter::once(bos_id).chain(p.target.iter().copied());
        tgt_in.extend(input.chain(std::iter::repeat(pad_id)).take(t));
        let label = p
            .target
            .iter()
            .map(|&id| id as i64)
            .chain(std::iter::once(eos_id as i64));
        labels.extend(label.chain(std::iter::repeat(IGNORE_INDEX)).take(t));
    }
    Seq2SeqBatch {
        b,
        s,
        src,
        src_lengths: pairs.iter().map(|p| p.source.len()).collect(),
        t,
        tgt_in,
        labels,
    }
}
