//! BM25 over the index's chunks, with Lucene's non-negative idf.
//!
//! score(q, c) = Σ over distinct query terms t of
//! idf(t) · tf(t, c) · (k1 + 1) / (tf(t, c) + k1 · (1 − b + b · |c| / avgdl)),
//! idf(t) = ln(1 + (N − df(t) + 0.5) / (df(t) + 0.5)), where N is the number of live chunks,
//! |c| a chunk's length in terms and avgdl their mean. Terms come from [`Analyzer`], which
//! folds English plurals ("refunds" → "refund") but does no other stemming.

use std::collections::HashMap;

use loam_text::{CleanConfig, Cleaner, Normalization, StopWords};
use serde::{Deserialize, Serialize};

use crate::search::dense::top_k;

/// The BM25 parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bm25Params {
    /// Term-frequency saturation (default 1.2).
    pub k1: f32,
    /// Length normalization, 0 (none) to 1 (full) (default 0.75).
    pub b: f32,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params { k1: 1.2, b: 0.75 }
    }
}

/// Turns text into BM25 terms: NFKC, HTML stripped, control characters removed, lowercased
/// (loam-text's cleaner), then the words that are not English or Chinese stop words, each
/// with its English plural folded (Lucene's minimal English stemmer: "parcels" → "parcel",
/// "deliveries" → "delivery"; "glass" and "shoes" kept as they are).
#[derive(Clone, Debug)]
pub struct Analyzer {
    config: CleanConfig,
    stop_words: StopWords,
}

impl Default for Analyzer {
    fn default() -> Self {
        let config = CleanConfig {
            normalization: Some(Normalization::Nfkc),
            strip_html: true,
            remove_control: true,
            normalize_whitespace: true,
            lowercase: true,
            ..CleanConfig::default()
        };
        Analyzer { config, stop_words: StopWords::english_and_chinese() }
    }
}

impl Analyzer {
    /// The terms of `text`, in order, repeats kept.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let cleaned = Cleaner::new(self.config.clone()).clean_document(text).unwrap_or_default();
        self.stop_words.content_words(&cleaned).into_iter().map(singular).collect()
    }
}

/// `word` without its English plural ending, as Lucene's `EnglishMinimalStemmer`: `-ies`
/// becomes `-y` (not after a or e); a final `s` is dropped unless it follows `u`, `s`, or an
/// `e` that follows a vowel.
fn singular(word: &str) -> String {
    let b = word.as_bytes();
    let n = b.len();
    if n < 3 || b[n - 1] != b's' || !word.is_ascii() {
        return word.to_owned();
    }
    match b[n - 2] {
        b'u' | b's' => word.to_owned(),
        b'e' if n > 3 && b[n - 3] == b'i' && b[n - 4] != b'a' && b[n - 4] != b'e' => format!("{}y", &word[..n - 3]),
        b'e' if matches!(b[n - 3], b'i' | b'a' | b'o' | b'e') => word.to_owned(),
        _ => word[..n - 1].to_owned(),
    }
}

/// Postings and statistics of the live chunks, by slot.
#[derive(Debug, Default)]
pub(crate) struct Bm25 {
    params: Bm25Params,
    analyzer: Analyzer,
    vocab: HashMap<String, u32>,
    /// Live chunks holding each term.
    df: Vec<u32>,
    /// (slot, term frequency) of each term's live chunks.
    postings: Vec<Vec<(u32, u32)>>,
    /// Distinct terms of each slot (empty once removed).
    slot_terms: Vec<Vec<u32>>,
    /// Length in terms of each slot.
    lengths: Vec<u32>,
    live: usize,
    total_len: u64,
}

impl Bm25 {
    /// An empty index.
    pub(crate) fn new(params: Bm25Params) -> Self {
        Bm25 { params, ..Bm25::default() }
    }

    /// Adds the chunk `text` as `slot`.
    pub(crate) fn insert(&mut self, slot: u32, text: &str) {
        let terms = self.analyzer.terms(text);
        let mut counts: HashMap<u32, u32> = HashMap::new();
        for term in &terms {
            let next = self.vocab.len() as u32;
            let id = *self.vocab.entry(term.clone()).or_insert(next);
            if id == next {
                self.df.push(0);
                self.postings.push(Vec::new());
            }
            *counts.entry(id).or_default() += 1;
        }
        let s = slot as usize;
        if self.slot_terms.len() <= s {
            self.slot_terms.resize(s + 1, Vec::new());
            self.lengths.resize(s + 1, 0);
        }
        let mut ids: Vec<u32> = counts.keys().copied().collect();
        ids.sort_unstable();
        for &id in &ids {
            self.df[id as usize] += 1;
            self.postings[id as usize].push((slot, counts[&id]));
        }
        self.slot_terms[s] = ids;
        self.lengths[s] = terms.len() as u32;
        self.live += 1;
        self.total_len += terms.len() as u64;
    }

    /// Removes `slot`.
    pub(crate) fn remove(&mut self, slot: u32) {
        let Some(ids) = self.slot_terms.get_mut(slot as usize).map(std::mem::take) else {
            return;
        };
        for id in ids {
            self.df[id as usize] -= 1;
            self.postings[id as usize].retain(|&(s, _)| s != slot);
        }
        self.live -= 1;
        self.total_len -= u64::from(std::mem::take(&mut self.lengths[slot as usize]));
    }

    /// The `k` best-scoring slots for `query`, best first; chunks sharing no term with the
    /// query are not returned.
    pub(crate) fn search(&self, query: &str, k: usize) -> Vec<(u32, f32)> {
        if self.live == 0 {
            return Vec::new();
        }
        let Bm25Params { k1, b } = self.params;
        let n = self.live as f32;
        let avgdl = (self.total_len as f32 / n).max(1e-9);
        let mut terms = self.analyzer.terms(query);
        terms.sort();
        terms.dedup();
        let mut scores: HashMap<u32, f32> = HashMap::new();
        for id in terms.iter().filter_map(|t| self.vocab.get(t)) {
            let df = self.df[*id as usize] as f32;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for &(slot, tf) in &self.postings[*id as usize] {
                let tf = tf as f32;
                let norm = k1 * (1.0 - b + b * self.lengths[slot as usize] as f32 / avgdl);
                *scores.entry(slot).or_default() += idf * tf * (k1 + 1.0) / (tf + norm);
            }
        }
        top_k(scores.into_iter().collect(), k)
    }
}
