//! ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum as Google's `rouge-score` package computes them.
//!
//! ```
//! use loam_lm::metrics::rouge::RougeScorer;
//!
//! let scores = RougeScorer::default().score("testing one two", "testing");
//! assert_eq!(scores.rouge1.precision, 1.0);
//! assert!((scores.rouge1.recall - 1.0 / 3.0).abs() < 1e-12);
//! assert!((scores.rouge1.fmeasure - 0.5).abs() < 1e-12);
//! ```
//!
//! Tokens: the text is lower-cased, everything but `[a-z0-9]` becomes a space, and, with
//! stemming, tokens longer than 3 characters are Porter-stemmed (NLTK's stemmer, see
//! [`porter_stem`]). ROUGE-N counts clipped n-gram overlap; ROUGE-L is the longest common
//! subsequence of the two token lists; ROUGE-Lsum splits both texts on newlines and sums, per
//! reference sentence, the union of its LCS with each candidate sentence, each token counted
//! at most as often as it occurs on both sides. F = 2PR / (P + R), and every score of an
//! empty side is 0.
//!
//! **Chinese.** rouge-score's tokenizer drops every character outside `[a-z0-9]`, so a
//! Chinese summary scores 0 against anything. loam keeps each CJK ideograph as a token of its
//! own (Chinese has no spaces, and a character is the unit that word segmenters disagree on
//! least), so ROUGE-1 of Chinese text is character overlap and ROUGE-2 character-bigram
//! overlap, the usual practice for Chinese summarization. Text without ideographs is
//! tokenized exactly as rouge-score does; mixed text gets both kinds of token.

mod porter;

use std::collections::HashMap;

pub use porter::porter_stem;

/// Precision, recall and F-measure of one ROUGE variant.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Score {
    /// Matches over the prediction's length.
    pub precision: f64,
    /// Matches over the target's length.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub fmeasure: f64,
}

impl Score {
    /// The score of `matches` over a prediction of `predicted` and a target of `target` units.
    fn from_counts(matches: usize, predicted: usize, target: usize) -> Score {
        let precision = matches as f64 / predicted.max(1) as f64;
        let recall = matches as f64 / target.max(1) as f64;
        Score { precision, recall, fmeasure: fmeasure(precision, recall) }
    }
}

/// 2PR / (P + R), or 0 when P + R is 0.
pub fn fmeasure(precision: f64, recall: f64) -> f64 {
    if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 }
}

/// The four ROUGE variants of one (target, prediction) pair.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct RougeScores {
    /// Unigram overlap.
    pub rouge1: Score,
    /// Bigram overlap.
    pub rouge2: Score,
    /// Longest common subsequence over the whole texts.
    #[serde(rename = "rougeL")]
    pub rouge_l: Score,
    /// Summary-level LCS over newline-separated sentences.
    #[serde(rename = "rougeLsum")]
    pub rouge_lsum: Score,
}

impl RougeScores {
    /// The variants with their rouge-score names, in the order rouge1, rouge2, rougeL, rougeLsum.
    pub fn named(&self) -> [(&'static str, Score); 4] {
        [("rouge1", self.rouge1), ("rouge2", self.rouge2), ("rougeL", self.rouge_l), ("rougeLsum", self.rouge_lsum)]
    }

    /// The plain mean of each precision, recall and F over `pairs` (all zero when empty).
    /// rouge-score's `BootstrapAggregator` reports a resampled estimate of the same mean as
    /// its `mid`; this is the exact value.
    pub fn mean(pairs: &[RougeScores]) -> RougeScores {
        let n = pairs.len().max(1) as f64;
        let avg = |pick: fn(&RougeScores) -> Score| {
            let (p, r, f) = pairs.iter().map(pick).fold((0.0, 0.0, 0.0), |(p, r, f), s| (p + s.precision, r + s.recall, f + s.fmeasure));
            Score { precision: p / n, recall: r / n, fmeasure: f / n }
        };
        RougeScores { rouge1: avg(|s| s.rouge1), rouge2: avg(|s| s.rouge2), rouge_l: avg(|s| s.rouge_l), rouge_lsum: avg(|s| s.rouge_lsum) }
    }
}

/// Scores summaries against references: rouge-score's `RougeScorer(["rouge1", "rouge2",
/// "rougeL", "rougeLsum"], use_stemmer=stem)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RougeScorer {
    /// Porter-stem tokens longer than 3 characters.
    pub stem: bool,
}

impl RougeScorer {
    /// A scorer that stems (`true`) or not.
    pub fn new(stem: bool) -> RougeScorer {
        RougeScorer { stem }
    }

    /// The tokens of `text` (see the module documentation).
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        tokenize(text, self.stem)
    }

    /// All four variants of `prediction` scored against `target`.
    pub fn score(&self, target: &str, prediction: &str) -> RougeScores {
        let target_tokens = self.tokenize(target);
        let prediction_tokens = self.tokenize(prediction);
        let sentences = |text: &str| text.split('\n').filter(|s| !s.is_empty()).map(|s| self.tokenize(s)).collect::<Vec<_>>();
        RougeScores {
            rouge1: rouge_n(&target_tokens, &prediction_tokens, 1),
            rouge2: rouge_n(&target_tokens, &prediction_tokens, 2),
            rouge_l: rouge_l(&target_tokens, &prediction_tokens),
            rouge_lsum: rouge_lsum(&sentences(target), &sentences(prediction)),
        }
    }

    /// Against several references: for each variant, the score of the reference with the
    /// highest F (the first on ties), as rouge-score's `score_multi`. No reference scores 0.
    pub fn score_multi(&self, targets: &[&str], prediction: &str) -> RougeScores {
        let all: Vec<RougeScores> = targets.iter().map(|t| self.score(t, prediction)).collect();
        let best = |pick: fn(&RougeScores) -> Score| {
            all.iter().map(pick).fold(None, |best: Option<Score>, s| match best {
                Some(b) if b.fmeasure >= s.fmeasure => Some(b),
                _ => Some(s),
            })
        };
        let or_zero = |s: Option<Score>| s.unwrap_or_default();
        RougeScores {
            rouge1: or_zero(best(|s| s.rouge1)),
            rouge2: or_zero(best(|s| s.rouge2)),
            rouge_l: or_zero(best(|s| s.rouge_l)),
            rouge_lsum: or_zero(best(|s| s.rouge_lsum)),
        }
    }
}

/// Whether `c` is a CJK ideograph (the basic block, extensions A–G and the compatibility block).
fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// rouge-score's tokenizer, with each CJK ideograph a token of its own.
pub fn tokenize(text: &str, stem: bool) -> Vec<String> {
    let lower = text.to_lowercase();
    let mut tokens = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, tokens: &mut Vec<String>| {
        if !word.is_empty() {
            tokens.push(if stem && word.len() > 3 { porter_stem(word) } else { word.clone() });
            word.clear();
        }
    };
    for c in lower.chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            word.push(c);
        } else {
            flush(&mut word, &mut tokens);
            if is_cjk(c) {
                tokens.push(c.to_string());
            }
        }
    }
    flush(&mut word, &mut tokens);
    tokens
}

/// Counts of each n-gram of `tokens`.
fn ngrams(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    if n > 0 {
        for gram in tokens.windows(n) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

/// ROUGE-N: n-gram overlap, each n-gram counted at most as often as in the target.
pub fn rouge_n(target: &[String], prediction: &[String], n: usize) -> Score {
    let target_grams = ngrams(target, n);
    let prediction_grams = ngrams(prediction, n);
    let overlap = target_grams.iter().map(|(g, &c)| c.min(prediction_grams.get(g).copied().unwrap_or(0))).sum();
    Score::from_counts(overlap, prediction_grams.values().sum(), target_grams.values().sum())
}

/// ROUGE-L: the longest common subsequence over the prediction's and the target's lengths.
pub fn rouge_l(target: &[String], prediction: &[String]) -> Score {
    if target.is_empty() || prediction.is_empty() {
        return Score::default();
    }
    let table = lcs_table(target, prediction);
    Score::from_counts(table[target.len()][prediction.len()], prediction.len(), target.len())
}

/// ROUGE-Lsum: summary-level LCS (section 3.2 of Lin's ROUGE paper, as ROUGE 1.5.5 and
/// rouge-score implement it) over tokenized sentences.
pub fn rouge_lsum(target: &[Vec<String>], prediction: &[Vec<String>]) -> Score {
    let m: usize = target.iter().map(Vec::len).sum();
    let n: usize = prediction.iter().map(Vec::len).sum();
    if m == 0 || n == 0 {
        return Score::default();
    }
    let mut left_target: HashMap<&str, usize> = HashMap::new();
    let mut left_prediction: HashMap<&str, usize> = HashMap::new();
    for t in target.iter().flatten() {
        *left_target.entry(t).or_insert(0) += 1;
    }
    for t in prediction.iter().flatten() {
        *left_prediction.entry(t).or_insert(0) += 1;
    }
    let mut hits = 0;
    for sentence in target {
        for token in union_lcs(sentence, prediction) {
            let (Some(r), Some(c)) = (left_target.get_mut(token), left_prediction.get_mut(token)) else { continue };
            if *r > 0 && *c > 0 {
                hits += 1;
                *r -= 1;
                *c -= 1;
            }
        }
    }
    Score::from_counts(hits, n, m)
}

/// The tokens of `reference` on one LCS with any of `candidates`, in reference order.
fn union_lcs<'a>(reference: &'a [String], candidates: &[Vec<String>]) -> Vec<&'a str> {
    let mut on_lcs = vec![false; reference.len()];
    for candidate in candidates {
        for i in lcs_indices(reference, candidate) {
            on_lcs[i] = true;
        }
    }
    reference.iter().zip(on_lcs).filter(|(_, on)| *on).map(|(t, _)| t.as_str()).collect()
}

/// `table[i][j]`: the LCS length of `a[..i]` and `b[..j]`.
fn lcs_table(a: &[String], b: &[String]) -> Vec<Vec<usize>> {
    let mut table = vec![vec![0; b.len() + 1]; a.len() + 1];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i][j] = if a[i - 1] == b[j - 1] { table[i - 1][j - 1] + 1 } else { table[i - 1][j].max(table[i][j - 1]) };
        }
    }
    table
}

/// Indices into `reference` of one LCS with `candidate`: rouge-score's backtrack, which
/// prefers to drop a candidate token when that keeps a longer LCS.
fn lcs_indices(reference: &[String], candidate: &[String]) -> Vec<usize> {
    let table = lcs_table(reference, candidate);
    let (mut i, mut j) = (reference.len(), candidate.len());
    let mut indices = Vec::new();
    while i > 0 && j > 0 {
        if reference[i - 1] == candidate[j - 1] {
            indices.push(i - 1);
            i -= 1;
            j -= 1;
        } else if table[i][j - 1] > table[i - 1][j] {
            j -= 1;
        } else {
            i -= 1;
        }
    }
    indices.reverse();
    indices
}
