//! The extractive summarizer: split the document into sentences, rank them with TextRank over
//! sentence similarity, pick them with MMR, and return them in document order.

use loam_lm::hf::SentenceEncoder;
use loam_text::{StopWords, split_sentences};

use super::features::{is_cjk, sparse_dot, tfidf_vectors};
use super::mmr::mmr_select;
use super::textrank::textrank;
use crate::error::{AppsError, Result};

/// MMR's default trade-off: relevance and novelty weighed equally (an exact repeat of a chosen
/// sentence scores 0).
pub const DEFAULT_LAMBDA: f64 = 0.5;

/// How long a summary is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Length {
    /// This many sentences (all of them when the document has fewer).
    Sentences(usize),
    /// This fraction of the document's sentences, rounded up (at least one).
    Ratio(f64),
}

impl Length {
    /// Sentences to keep out of `total`.
    pub fn count(self, total: usize) -> Result<usize> {
        match self {
            Length::Sentences(0) => Err(AppsError::Config("a summary needs at least one sentence".into())),
            Length::Sentences(n) => Ok(n.min(total)),
            Length::Ratio(r) if !(r > 0.0 && r <= 1.0) => Err(AppsError::Config(format!("the ratio must be in (0, 1], not {r}"))),
            Length::Ratio(r) => Ok(((r * total as f64).ceil() as usize).clamp(1, total)),
        }
    }
}

/// How the sentences were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// TextRank over TF-IDF cosine similarity, then MMR.
    TextRankTfidf,
    /// TextRank over sentence-embedding cosine similarity, then MMR.
    TextRankEmbeddings,
    /// The first sentences (the baseline).
    Lead,
}

impl Method {
    /// A short name: `textrank-tfidf`, `textrank-embeddings` or `lead`.
    pub fn name(self) -> &'static str {
        match self {
            Method::TextRankTfidf => "textrank-tfidf",
            Method::TextRankEmbeddings => "textrank-embeddings",
            Method::Lead => "lead",
        }
    }
}

/// One sentence of a summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Extract {
    /// Its position among the document's sentences (0-based).
    pub index: usize,
    /// The sentence.
    pub text: String,
    /// Its TextRank score (for the lead baseline, 1 for every sentence).
    pub score: f64,
}

/// An extractive summary: sentences of the document, in document order.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The chosen sentences, in document order.
    pub sentences: Vec<Extract>,
    /// Sentences in the document.
    pub total_sentences: usize,
    /// How they were chosen.
    pub method: Method,
}

impl Summary {
    /// The sentences joined: by a space, or by nothing between two Chinese sentences.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for s in &self.sentences {
            let prev_cjk = out.chars().last().is_some_and(|c| is_cjk(c) || "。！？」』）”".contains(c));
            let next_cjk = s.text.chars().next().is_some_and(|c| is_cjk(c) || "「『（“".contains(c));
            if !out.is_empty() && (!prev_cjk || !next_cjk) {
                out.push(' ');
            }
            out.push_str(&s.text);
        }
        out
    }
}

/// The sentences of `text`, or an error when it is empty or not text.
pub fn document_sentences(text: &str) -> Result<Vec<&str>> {
    let controls = text.chars().filter(|&c| c.is_control() && !matches!(c, '\n' | '\r' | '\t' | '\u{c}')).count();
    if text.contains('\0') || controls * 100 > text.chars().count() {
        return Err(AppsError::Input(format!("the document looks binary ({controls} control characters), not text")));
    }
    let sentences = split_sentences(text);
    if sentences.is_empty() {
        return Err(AppsError::Input("the document is empty: nothing to summarize".into()));
    }
    Ok(sentences)
}

/// The lead-N baseline: the document's first sentences.
pub fn lead(text: &str, length: Length) -> Result<Summary> {
    let sentences = document_sentences(text)?;
    let k = length.count(sentences.len())?;
    let extracts = sentences[..k].iter().enumerate().map(|(index, s)| Extract { index, text: s.to_string(), score: 1.0 }).collect();
    Ok(Summary { sentences: extracts, total_sentences: sentences.len(), method: Method::Lead })
}

/// An extractive summarizer: TextRank over sentence embeddings when it has an encoder, over
/// TF-IDF cosine otherwise, with MMR against redundancy.
#[derive(Debug, Clone)]
pub struct Summarizer<'a> {
    encoder: Option<&'a SentenceEncoder>,
    stop_words: StopWords,
    /// MMR's λ: 1 ranks by TextRank alone; lower values favour sentences unlike those chosen.
    pub lambda: f64,
}

impl Default for Summarizer<'_> {
    fn default() -> Self {
        Summarizer::tfidf()
    }
}

impl<'a> Summarizer<'a> {
    /// A summarizer over TF-IDF similarity (English and Chinese stop words removed).
    pub fn tfidf() -> Summarizer<'a> {
        Summarizer { encoder: None, stop_words: StopWords::english_and_chinese(), lambda: DEFAULT_LAMBDA }
    }

    /// A summarizer over the cosine similarity of `encoder`'s sentence embeddings.
    pub fn with_encoder(encoder: &'a SentenceEncoder) -> Summarizer<'a> {
        Summarizer { encoder: Some(encoder), ..Summarizer::tfidf() }
    }

    /// The method this summarizer uses.
    pub fn method(&self) -> Method {
        if self.encoder.is_some() { Method::TextRankEmbeddings } else { Method::TextRankTfidf }
    }

    /// The summary of `text`, `length` long.
    pub fn summarize(&self, text: &str, length: Length) -> Result<Summary> {
        let sentences = document_sentences(text)?;
        let k = length.count(sentences.len())?;
        let sim = self.similarity(&sentences)?;
        let scores = textrank(&sim);
        let mut chosen = mmr_select(&scores, &sim, k, self.lambda);
        chosen.sort_unstable();
        let extracts = chosen.into_iter().map(|i| Extract { index: i, text: sentences[i].to_string(), score: scores[i] }).collect();
        Ok(Summary { sentences: extracts, total_sentences: sentences.len(), method: self.method() })
    }

    /// Pairwise cosine similarity of the sentences (`n × n`).
    fn similarity(&self, sentences: &[&str]) -> Result<Vec<Vec<f64>>> {
        let n = sentences.len();
        let sim = match self.encoder {
            Some(encoder) => {
                let vectors = encoder.encode(sentences)?;
                let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum::<f64>();
                (0..n).map(|i| (0..n).map(|j| dot(&vectors[i], &vectors[j])).collect()).collect()
            }
            None => {
                let vectors = tfidf_vectors(sentences, &self.stop_words);
                (0..n).map(|i| (0..n).map(|j| sparse_dot(&vectors[i], &vectors[j])).collect()).collect()
            }
        };
        Ok(sim)
    }
}
