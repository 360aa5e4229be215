//! Scoring the safety layer on labelled sets: block rate per category on attack prompts,
//! false-block rate on benign look-alikes, and precision/recall of personal-data masking.
//!
//! Prompt sets are JSON lines `{"id", "category", "lang", "split", "text"}` (`category` is
//! `allow` for benign prompts, which also name the category they resemble in `like`; `split` is
//! `dev`, written while the rules were made, or `heldout`, written after they were fixed).
//! The PII set is JSON lines `{"text", "pii": [[KIND, VALUE], …]}` with KIND a
//! [`PiiKind::name`] and VALUE as it appears in the text.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{Category, PiiKind, Safety};
use crate::{AppsError, Result};

/// One labelled prompt.
#[derive(Clone, Debug, Deserialize)]
pub struct LabelledPrompt {
    /// A stable id (`inj-en-03`).
    pub id: String,
    /// The expected category, or `allow` for a benign prompt.
    pub category: String,
    /// For a benign prompt, the category it resembles.
    #[serde(default)]
    pub like: Option<String>,
    /// `en` or `zh`.
    pub lang: String,
    /// `dev` or `heldout`.
    pub split: String,
    /// The prompt.
    pub text: String,
}

impl LabelledPrompt {
    /// The expected category; `None` for a benign prompt.
    pub fn expected(&self) -> Option<Category> {
        Category::from_name(&self.category)
    }
}

/// One labelled text of the PII set.
#[derive(Clone, Debug, Deserialize)]
pub struct PiiCase {
    /// The text.
    pub text: String,
    /// Its personal data: kind name and the value as written.
    pub pii: Vec<(String, String)>,
}

/// Reads a JSON-lines file of `T`, naming the file and line of a bad record.
pub fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AppsError::Input(format!("reading {}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(line)
            .map_err(|e| AppsError::Input(format!("{} line {}: {e}", path.display(), i + 1)))?;
        out.push(record);
    }
    Ok(out)
}

/// Reads prompts and checks their labels (category, split and language names).
pub fn read_prompts(path: &Path) -> Result<Vec<LabelledPrompt>> {
    let prompts: Vec<LabelledPrompt> = read_jsonl(path)?;
    for p in &prompts {
        let category_ok = p.category == "allow" || p.expected().is_some();
        let like_ok = p
            .like
            .as_deref()
            .is_none_or(|l| Category::from_name(l).is_some());
        if !category_ok
            || !like_ok
            || !["dev", "heldout"].contains(&p.split.as_str())
            || !["en", "zh"].contains(&p.lang.as_str())
        {
            return Err(AppsError::Input(format!(
                "{}: prompt {} has a bad category, like, split or lang",
                path.display(),
                p.id
            )));
        }
    }
    Ok(prompts)
}

/// Blocked out of total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rate {
    /// Prompts blocked.
    pub blocked: usize,
    /// Prompts in all.
    pub total: usize,
}

impl Rate {
    /// `blocked / total` (0 when empty).
    pub fn ratio(self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.blocked as f64 / self.total as f64
        }
    }

    fn add(&mut self, blocked: bool) {
        self.total += 1;
        self.blocked += usize::from(blocked);
    }
}

/// Block rates of a prompt set, keyed by (category name or `allow`, split); benign prompts
/// count as blocked when anything blocks them.
#[derive(Clone, Debug, Default)]
pub struct PromptReport {
    /// Rates per (category, split).
    pub rates: BTreeMap<(String, String), Rate>,
    /// Attack prompts blocked under a different category than labelled.
    pub wrong_category: usize,
    /// Ids of attacks that passed and benign prompts that were blocked.
    pub misses: Vec<String>,
}

impl PromptReport {
    /// The rate of `category` (`allow` for benign) over the splits named (`None`: all).
    pub fn rate(&self, category: &str, split: Option<&str>) -> Rate {
        self.rates
            .iter()
            .filter(|((c, s), _)| c == category && split.is_none_or(|x| x == s))
            .fold(Rate::default(), |acc, (_, r)| Rate {
                blocked: acc.blocked + r.blocked,
                total: acc.total + r.total,
            })
    }
}

/// Runs `check_input` on every prompt.
pub fn score_prompts(safety: &Safety, prompts: &[LabelledPrompt]) -> PromptReport {
    let mut report = PromptReport::default();
    for p in prompts {
        let verdict = safety.check_input(&p.text);
        let blocked = verdict.is_block();
        report
            .rates
            .entry((p.category.clone(), p.split.clone()))
            .or_default()
            .add(blocked);
        if let (Some(expected), super::Verdict::Block { category, .. }) = (p.expected(), &verdict)
            && *category != expected
        {
            report.wrong_category += 1;
        }
        if blocked != p.expected().is_some() {
            report.misses.push(p.id.clone());
        }
    }
    report
}

/// True positives, false positives and false negatives of one PII kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Labelled spans masked as their kind.
    pub tp: usize,
    /// Masked spans that are not a labelled span of that kind.
    pub fp: usize,
    /// Labelled spans not masked as their kind.
    pub fn_: usize,
}

impl Counts {
    /// tp / (tp + fp), 1 when nothing was masked.
    pub fn precision(self) -> f64 {
        if self.tp + self.fp == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fp) as f64
        }
    }

    /// tp / (tp + fn), 1 when nothing was labelled.
    pub fn recall(self) -> f64 {
        if self.tp + self.fn_ == 0 {
            1.0
        } else {
            self.tp as f64 / (self.tp + self.fn_) as f64
        }
    }
}

/// Precision and recall of [`Safety::pii_spans`] per kind; a labelled value counts as found
/// when a span of its kind covers exactly its characters.
pub fn score_pii(safety: &Safety, cases: &[PiiCase]) -> Result<BTreeMap<PiiKind, Counts>> {
    let mut counts: BTreeMap<PiiKind, Counts> = PiiKind::ALL
        .into_iter()
        .map(|k| (k, Counts::default()))
        .collect();
    for case in cases {
        let mut expected = Vec::new();
        for (kind, value) in &case.pii {
            let kind = PiiKind::from_name(kind).ok_or_else(|| {
                AppsError::Input(format!("unknown PII kind `{kind}` in {:?}", case.text))
            })?;
            let start = case
                .text
                .find(value.as_str())
                .ok_or_else(|| AppsError::Input(format!("`{value}` is not in {:?}", case.text)))?;
            expected.push((kind, start, start + value.len()));
        }
        let found: Vec<(PiiKind, usize, usize)> = safety
            .pii_spans(&case.text)
            .into_iter()
            .map(|(s, k)| (k, s.start, s.end))
            .collect();
        for e in &expected {
            let c = counts.entry(e.0).or_default();
            if found.contains(e) {
                c.tp += 1
            } else {
                c.fn_ += 1
            }
        }
        for f in &found {
            if !expected.contains(f) {
                counts.entry(f.0).or_default().fp += 1;
            }
        }
    }
    Ok(counts)
}
