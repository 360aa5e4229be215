//! BLEU as sacreBLEU computes it by default: corpus-level, 13a tokenization, n-grams 1–4
//! with counts clipped by the most any one reference has, the reference length closest to
//! each hypothesis (the shorter on ties), brevity penalty exp(1 − r/c) when c < r, and 'exp'
//! smoothing (the k-th n-gram order with no match gets precision 1/(2^k · total)).
//!
//! ```
//! use loam_lm::metrics::bleu::{Bleu, corpus_bleu};
//!
//! let hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."];
//! let refs1 = ["The dog bit the man.", "It was not unexpected.", "The man bit him first."];
//! let refs2 = ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."];
//! let bleu = corpus_bleu(&hyps, &[&refs1[..], &refs2[..]])?;
//! assert!((bleu.score - 48.530827).abs() < 1e-6);
//! assert_eq!(bleu.to_string(), "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)");
//! # Ok::<(), loam_lm::LmError>(())
//! ```
//!
//! Sentence BLEU ([`sentence_bleu`]) is sacreBLEU's `sentence_bleu`: the same statistics over
//! one segment, with effective order (orders the hypothesis is too short for are left out of
//! the geometric mean).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

use crate::error::{LmError, Result};

/// Longest n-gram counted.
pub const MAX_NGRAM_ORDER: usize = 4;

/// How segments are split into tokens before n-grams are counted (sacreBLEU's `--tokenize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tokenize {
    /// mteval-v13a, WMT's standard: punctuation and symbols split off, except periods and
    /// commas inside numbers.
    #[default]
    V13a,
    /// Split on white space only (the text is already tokenized).
    None,
    /// Each Chinese character a token, the rest as 13a's punctuation rules.
    Zh,
}

impl Tokenize {
    /// The tokenizer's sacreBLEU name.
    pub fn name(self) -> &'static str {
        match self {
            Tokenize::V13a => "13a",
            Tokenize::None => "none",
            Tokenize::Zh => "zh",
        }
    }

    /// `line` tokenized, tokens separated by single spaces.
    pub fn apply(self, line: &str) -> String {
        match self {
            Tokenize::None => line.to_string(),
            Tokenize::V13a => {
                let mut line = line.replace("<skipped>", "").replace("-\n", "").replace('\n', " ");
                if line.contains('&') {
                    line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
                }
                punctuation(&format!(" {line} "))
            }
            Tokenize::Zh => {
                let mut spaced = String::new();
                for c in line.trim_matches(is_py_space).chars() {
                    if is_sacrebleu_chinese(c) {
                        spaced.extend([' ', c, ' ']);
                    } else {
                        spaced.push(c);
                    }
                }
                punctuation(&spaced)
            }
        }
    }
}

impl FromStr for Tokenize {
    type Err = LmError;

    fn from_str(s: &str) -> Result<Tokenize> {
        match s {
            "13a" => Ok(Tokenize::V13a),
            "none" => Ok(Tokenize::None),
            "zh" => Ok(Tokenize::Zh),
            other => Err(LmError::Config(format!("unknown BLEU tokenizer {other:?} (expected 13a, none or zh)"))),
        }
    }
}

/// sacreBLEU's `TokenizerRegexp`: the four substitutions shared by 13a and zh, then white
/// space collapsed.
fn punctuation(line: &str) -> String {
    static RULES: LazyLock<[(Regex, &str); 4]> = LazyLock::new(|| {
        let re = |p: &str| Regex::new(p).expect("valid pattern");
        [
            (re(r"([\{-~\[-` -&\(-\+:-@/])"), " ${1} "),
            (re(r"([^0-9])([\.,])"), "${1} ${2} "),
            (re(r"([\.,])([^0-9])"), " ${1} ${2}"),
            (re(r"([0-9])(-)"), "${1} ${2} "),
        ]
    });
    let mut line = line.to_string();
    for (re, replacement) in RULES.iter() {
        line = re.replace_all(&line, *replacement).into_owned();
    }
    py_split(&line).collect::<Vec<_>>().join(" ")
}

/// Python's `str.isspace` for one character: Unicode white space plus the four ASCII
/// separators U+001C–U+001F, which Rust does not count.
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.split()`.
fn py_split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_py_space).filter(|t| !t.is_empty())
}

/// sacreBLEU's `_is_chinese_char`. Its table writes two five-digit code points as `\u` escapes,
/// which Python reads as four digits and a character (`'\u20000'` is U+2000 then `0`); the
/// string comparisons then accept U+2001–U+2A6D and U+2F81–U+2FA1 in their place, and not the
/// supplementary-plane ideographs. That is what sacreBLEU scores, so it is copied.
fn is_sacrebleu_chinese(c: char) -> bool {
    // The table's ranges, less those inside U+2001–U+2A6D (U+2600–U+27BF) or U+2F00–U+2FDF
    // (U+2F81–U+2FA1).
    matches!(c as u32,
        0x2001..=0x2A6D | 0x2E80..=0x2EFF | 0x2F00..=0x2FDF | 0x2FF0..=0x2FFF | 0x3000..=0x303F
        | 0x3100..=0x312F | 0x31A0..=0x31BF | 0x31C0..=0x31EF | 0x3200..=0x32FF | 0x3300..=0x33FF
        | 0x3400..=0x4DB5 | 0x4E00..=0x9FBB | 0xF900..=0xFA2D | 0xFA30..=0xFA6A | 0xFA70..=0xFAD9
        | 0xFE10..=0xFE1F | 0xFE30..=0xFE4F | 0xFF00..=0xFFEF)
}

/// A BLEU score with the statistics behind it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BleuScore {
    /// BLEU, 0–100.
    pub score: f64,
    /// Matched (clipped) n-grams of each order, 1 to 4.
    pub counts: [usize; MAX_NGRAM_ORDER],
    /// Hypothesis n-grams of each order.
    pub totals: [usize; MAX_NGRAM_ORDER],
    /// Smoothed precision of each order, 0–100.
    pub precisions: [f64; MAX_NGRAM_ORDER],
    /// Brevity penalty.
    pub bp: f64,
    /// Hypothesis tokens.
    pub sys_len: usize,
    /// Closest-reference tokens, summed over segments.
    pub ref_len: usize,
}

impl BleuScore {
    /// Hypothesis length over reference length (0 with no reference tokens).
    pub fn ratio(&self) -> f64 {
        if self.ref_len == 0 { 0.0 } else { self.sys_len as f64 / self.ref_len as f64 }
    }
}

impl fmt::Display for BleuScore {
    /// sacreBLEU's line: `BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let precisions: Vec<String> = self.precisions.iter().map(|p| format!("{p:.1}")).collect();
        write!(
            f,
            "BLEU = {:.2} {} (BP = {:.3} ratio = {:.3} hyp_len = {} ref_len = {})",
            self.score,
            precisions.join("/"),
            self.bp,
            self.ratio(),
            self.sys_len,
            self.ref_len
        )
    }
}

/// A BLEU configuration; the default is sacreBLEU's `BLEU()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bleu {
    /// The tokenizer.
    pub tokenize: Tokenize,
    /// Lower-case hypotheses and references first (`-lc`).
    pub lowercase: bool,
    /// Average only over the n-gram orders the hypotheses have (sentence BLEU uses it).
    pub effective_order: bool,
}

/// Sufficient statistics of one segment or a whole corpus.
#[derive(Debug, Clone, Copy, Default)]
struct Stats {
    sys_len: usize,
    ref_len: usize,
    correct: [usize; MAX_NGRAM_ORDER],
    total: [usize; MAX_NGRAM_ORDER],
}

impl Bleu {
    /// Corpus BLEU of `hypotheses` against reference streams: `references[k][i]` is the k-th
    /// reference of segment i. Every stream must have one line per hypothesis.
    pub fn corpus_score(&self, hypotheses: &[&str], references: &[&[&str]]) -> Result<BleuScore> {
        if references.is_empty() {
            return Err(LmError::Config("BLEU needs at least one reference stream".into()));
        }
        if let Some((k, stream)) = references.iter().enumerate().find(|(_, s)| s.len() != hypotheses.len()) {
            return Err(LmError::Config(format!(
                "BLEU: reference stream {} has {} segments, the hypotheses {}",
                k + 1,
                stream.len(),
                hypotheses.len()
            )));
        }
        let mut sum = Stats::default();
        for (i, hypothesis) in hypotheses.iter().enumerate() {
            let refs: Vec<&str> = references.iter().map(|stream| stream[i]).collect();
            let s = self.segment_stats(hypothesis, &refs);
            sum.sys_len += s.sys_len;
            sum.ref_len += s.ref_len;
            for n in 0..MAX_NGRAM_ORDER {
                sum.correct[n] += s.correct[n];
                sum.total[n] += s.total[n];
            }
        }
        Ok(self.compute(&sum))
    }

    /// BLEU of one hypothesis against its references (none gives a reference length of 0).
    pub fn sentence_score(&self, hypothesis: &str, references: &[&str]) -> BleuScore {
        self.compute(&self.segment_stats(hypothesis, references))
    }

    /// sacreBLEU's signature for `nrefs` references, as `nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp`.
    pub fn signature(&self, nrefs: usize) -> String {
        let case = if self.lowercase { "lc" } else { "mixed" };
        let eff = if self.effective_order { "yes" } else { "no" };
        format!("nrefs:{nrefs}|case:{case}|eff:{eff}|tok:{}|smooth:exp", self.tokenize.name())
    }

    fn preprocess(&self, segment: &str) -> String {
        let segment = if self.lowercase { segment.to_lowercase() } else { segment.to_string() };
        self.tokenize.apply(segment.trim_end_matches(is_py_space))
    }

    fn segment_stats(&self, hypothesis: &str, references: &[&str]) -> Stats {
        let mut max_ref: HashMap<Vec<String>, usize> = HashMap::new();
        let mut ref_lens = Vec::with_capacity(references.len());
        for reference in references {
            let (grams, len) = ngram_counts(&self.preprocess(reference));
            ref_lens.push(len);
            for (gram, count) in grams {
                let slot = max_ref.entry(gram).or_insert(0);
                *slot = (*slot).max(count);
            }
        }
        let (grams, sys_len) = ngram_counts(&self.preprocess(hypothesis));
        let mut stats = Stats { sys_len, ref_len: closest_ref_len(sys_len, &ref_lens), ..Stats::default() };
        for (gram, count) in grams {
            let n = gram.len() - 1;
            stats.total[n] += count;
            stats.correct[n] += count.min(max_ref.get(&gram).copied().unwrap_or(0));
        }
        stats
    }

    /// sacreBLEU's `compute_bleu` with 'exp' smoothing.
    fn compute(&self, s: &Stats) -> BleuScore {
        let bp = if s.sys_len < s.ref_len {
            if s.sys_len > 0 { (1.0 - s.ref_len as f64 / s.sys_len as f64).exp() } else { 0.0 }
        } else {
            1.0
        };
        let mut precisions = [0.0; MAX_NGRAM_ORDER];
        let mut score = 0.0;
        if s.correct.iter().any(|&c| c > 0) {
            let mut smooth = 1.0;
            let mut eff_order = MAX_NGRAM_ORDER;
            for (n, (precision, (&correct, &total))) in precisions.iter_mut().zip(s.correct.iter().zip(&s.total)).enumerate() {
                if total == 0 {
                    break;
                }
                if self.effective_order {
                    eff_order = n + 1;
                }
                *precision = if correct == 0 {
                    smooth *= 2.0;
                    100.0 / (smooth * total as f64)
                } else {
                    100.0 * correct as f64 / total as f64
                };
            }
            let log_sum: f64 = precisions[..eff_order].iter().map(|&p| if p == 0.0 { -9_999_999_999.0 } else { p.ln() }).sum();
            score = bp * (log_sum / eff_order as f64).exp();
        }
        BleuScore { score, counts: s.correct, totals: s.total, precisions, bp, sys_len: s.sys_len, ref_len: s.ref_len }
    }
}

/// Counts of every 1- to 4-gram of the white-space tokens of `line`, and the token count.
fn ngram_counts(line: &str) -> (HashMap<Vec<String>, usize>, usize) {
    let tokens: Vec<String> = py_split(line).map(str::to_string).collect();
    let mut counts = HashMap::new();
    for n in 1..=MAX_NGRAM_ORDER {
        for gram in tokens.windows(n) {
            *counts.entry(gram.to_vec()).or_insert(0) += 1;
        }
    }
    (counts, tokens.len())
}

/// The reference length closest to `hyp_len`, the shorter on ties (0 with none).
fn closest_ref_len(hyp_len: usize, ref_lens: &[usize]) -> usize {
    ref_lens.iter().copied().min_by_key(|&r| (r.abs_diff(hyp_len), r)).unwrap_or(0)
}

/// sacreBLEU's `corpus_bleu(hypotheses, references)` with its defaults.
pub fn corpus_bleu(hypotheses: &[&str], references: &[&[&str]]) -> Result<BleuScore> {
    Bleu::default().corpus_score(hypotheses, references)
}

/// sacreBLEU's `sentence_bleu(hypothesis, references)`: defaults and effective order.
pub fn sentence_bleu(hypothesis: &str, references: &[&str]) -> BleuScore {
    Bleu { effective_order: true, ..Bleu::default() }.sentence_score(hypothesis, references)
}
