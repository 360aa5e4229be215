//! BM25 over whole entries (their questions joined), with Chinese read as character bigrams.
//!
//! The search module's [`Analyzer`] cleans the text and drops stop words; it keeps a run of
//! ideographs between stop words as one term, which almost never repeats between a customer's
//! question and an entry ("退货要多久" against "退货需要多长时间"). Here such a run becomes its
//! overlapping character bigrams (a single ideograph stays a unigram), the usual indexing unit
//! of Chinese BM25 without a segmenter. Scores follow the search module's formula: Lucene's
//! non-negative idf, k1 = 1.2, b = 0.75.

use std::collections::HashMap;

use crate::assistant::lang::is_cjk;
use crate::search::{Analyzer, Bm25Params};

/// BM25 statistics of a fixed set of entries.
#[derive(Debug)]
pub(crate) struct Lexical {
    analyzer: Analyzer,
    params: Bm25Params,
    /// Term counts of each entry.
    docs: Vec<HashMap<String, u32>>,
    /// Length in terms of each entry.
    lengths: Vec<u32>,
    /// Entries holding each term.
    df: HashMap<String, u32>,
    avgdl: f32,
}

impl Lexical {
    /// Indexes one text per entry.
    pub(crate) fn new(texts: &[String]) -> Lexical {
        let analyzer = Analyzer::default();
        let mut docs = Vec::with_capacity(texts.len());
        let mut lengths = Vec::with_capacity(texts.len());
        let mut df: HashMap<String, u32> = HashMap::new();
        for text in texts {
            let terms = terms(&analyzer, text);
            lengths.push(terms.len() as u32);
            let mut counts: HashMap<String, u32> = HashMap::new();
            for t in terms {
                *counts.entry(t).or_default() += 1;
            }
            for t in counts.keys() {
                *df.entry(t.clone()).or_default() += 1;
            }
            docs.push(counts);
        }
        let avgdl =
            (lengths.iter().map(|&l| l as f32).sum::<f32>() / texts.len().max(1) as f32).max(1e-9);
        Lexical {
            analyzer,
            params: Bm25Params::default(),
            docs,
            lengths,
            df,
            avgdl,
        }
    }

    /// The BM25 score of every entry for `query` (0 for an entry sharing no term with it).
    pub(crate) fn scores(&self, query: &str) -> Vec<f32> {
        let mut q = terms(&self.analyzer, query);
        q.sort();
        q.dedup();
        let Bm25Params { k1, b } = self.params;
        let n = self.docs.len() as f32;
        let idf: Vec<(&String, f32)> = q
            .iter()
            .filter_map(|t| {
                self.df
                    .get(t)
                    .map(|&df| (t, (1.0 + (n - df as f32 + 0.5) / (df as f32 + 0.5)).ln()))
            })
            .collect();
        self.docs
            .iter()
            .zip(&self.lengths)
            .map(|(doc, &len)| {
                let norm = k1 * (1.0 - b + b * len as f32 / self.avgdl);
                idf.iter()
                    .filter_map(|(t, idf)| {
                        doc.get(*t)
                            .map(|&tf| idf * tf as f32 * (k1 + 1.0) / (tf as f32 + norm))
                    })
                    .sum()
            })
            .collect()
    }
}

/// TF-IDF vectors of character unigrams and bigrams (and of words, outside Chinese) of each
/// question variant, compared by cosine: the similarity used for Chinese, which
/// all-MiniLM-L6-v2 does not read (its cosines between any two Chinese questions are near 1).
#[derive(Debug)]
pub(crate) struct NgramCosine {
    analyzer: Analyzer,
    idf: HashMap<String, f32>,
    /// Unit TF-IDF vector of each variant.
    vectors: Vec<HashMap<String, f32>>,
}

impl NgramCosine {
    /// Vectors of `texts` (one per question variant).
    pub(crate) fn new(texts: &[&str]) -> NgramCosine {
        let analyzer = Analyzer::default();
        let counts: Vec<HashMap<String, f32>> =
            texts.iter().map(|t| ngram_counts(&analyzer, t)).collect();
        let mut df: HashMap<String, f32> = HashMap::new();
        for c in &counts {
            for t in c.keys() {
                *df.entry(t.clone()).or_default() += 1.0;
            }
        }
        let n = texts.len() as f32;
        let idf: HashMap<String, f32> = df
            .into_iter()
            .map(|(t, d)| (t, (1.0 + n / d).ln()))
            .collect();
        let mut cosine = NgramCosine {
            analyzer,
            idf,
            vectors: Vec::new(),
        };
        cosine.vectors = counts.into_iter().map(|c| cosine.weigh(c)).collect();
        cosine
    }

    /// The cosine between `query` and each variant.
    pub(crate) fn cosines(&self, query: &str) -> Vec<f32> {
        let q = self.weigh(ngram_counts(&self.analyzer, query));
        self.vectors
            .iter()
            .map(|v| q.iter().filter_map(|(t, w)| v.get(t).map(|x| w * x)).sum())
            .collect()
    }

    /// Counts weighted by idf (terms never seen in a variant dropped) and scaled to unit length.
    fn weigh(&self, counts: HashMap<String, f32>) -> HashMap<String, f32> {
        let mut v: HashMap<String, f32> = counts
            .into_iter()
            .filter_map(|(t, c)| self.idf.get(&t).map(|idf| (t, c * idf)))
            .collect();
        let norm = v.values().map(|x| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.values_mut().for_each(|x| *x /= norm);
        }
        v
    }
}

/// Term counts of `text`: the BM25 terms (Chinese as bigrams), plus every single ideograph of
/// them. Stop words are left out: keeping them ("的", "了", "可以") was measured worse on the
/// labelled Chinese messages (accuracy 0.52 against 0.68).
fn ngram_counts(analyzer: &Analyzer, text: &str) -> HashMap<String, f32> {
    let mut counts: HashMap<String, f32> = HashMap::new();
    for term in terms(analyzer, text) {
        *counts.entry(term).or_default() += 1.0;
    }
    for c in analyzer
        .terms(text)
        .iter()
        .flat_map(|t| t.chars())
        .filter(|&c| is_cjk(c))
    {
        *counts.entry(c.to_string()).or_default() += 1.0;
    }
    counts
}

/// The analyzer's terms, each run of ideographs split into character bigrams.
pub(crate) fn terms(analyzer: &Analyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for term in analyzer.terms(text) {
        if !term.chars().any(is_cjk) {
            out.push(term);
            continue;
        }
        let chars: Vec<char> = term.chars().collect();
        if chars.len() == 1 {
            out.push(term);
        } else {
            out.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
        }
    }
    out
}
