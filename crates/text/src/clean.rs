//! The cleaning pipeline: optional, composable steps applied in a fixed order, with counts.
//!
//! Order: Unicode normalization, HTML stripping, control-character removal, then line by line
//! whitespace normalization, masking, lowercasing, line length filters and duplicate-line
//! removal; documents are then filtered by length and duplicates dropped.
//!
//! Only Unicode category Cc is treated as control (tab and line breaks kept): format characters
//! such as the zero-width joiner inside emoji sequences and right-to-left marks are text.

use std::collections::HashSet;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick, is_nfkc_quick};

use crate::error::{Result, TextError};
use crate::html::strip_html;
use crate::mask::{MaskKinds, mask};
use crate::report::CleanReport;

/// A Unicode normalization form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// Canonical composition: changes no meaning, only the encoding of accents.
    Nfc,
    /// Compatibility composition: also folds full-width forms, ligatures and the like.
    Nfkc,
}

/// Which cleaning steps run; every step is off by default, so the default changes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanConfig {
    /// Unicode normalization form, if any.
    pub normalization: Option<Normalization>,
    /// Strip HTML tags, comments and scripts; decode entities.
    pub strip_html: bool,
    /// Remove control characters (Unicode Cc other than tab and line breaks).
    pub remove_control: bool,
    /// Map every space character to ' ', collapse runs, trim lines, keep at most one blank line
    /// in a row and none at the start or end of a document.
    pub normalize_whitespace: bool,
    /// Lowercase everything (Unicode-aware).
    pub lowercase: bool,
    /// Which spans to mask with placeholders.
    pub mask: MaskConfig,
    /// Drop a non-blank line seen before (after cleaning).
    pub dedup_lines: bool,
    /// Drop a document whose cleaned text was seen before.
    pub dedup_documents: bool,
    /// Drop non-blank lines shorter than this many characters.
    pub min_line_chars: Option<usize>,
    /// Drop lines longer than this many characters.
    pub max_line_chars: Option<usize>,
    /// Drop documents shorter than this many characters.
    pub min_doc_chars: Option<usize>,
    /// Drop documents longer than this many characters.
    pub max_doc_chars: Option<usize>,
}

/// Which spans the cleaner masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskConfig {
    /// Replace URLs with `<url>`.
    pub urls: bool,
    /// Replace e-mail addresses with `<email>`.
    pub emails: bool,
    /// Replace phone numbers with `<phone>`.
    pub phones: bool,
}

impl CleanConfig {
    /// A preset for scraped web text: NFC, HTML, control characters, whitespace, masks, dedup.
    pub fn web() -> Self {
        CleanConfig {
            normalization: Some(Normalization::Nfc),
            strip_html: true,
            remove_control: true,
            normalize_whitespace: true,
            mask: MaskConfig { urls: true, emails: true, phones: true },
            dedup_lines: true,
            dedup_documents: true,
            ..CleanConfig::default()
        }
    }

    /// Whether any step is enabled.
    pub fn is_noop(&self) -> bool {
        *self == CleanConfig::default()
    }
}

/// Parses a comma-separated list of steps: `none`, `nfc`, `nfkc`, `html`, `control`,
/// `whitespace`, `lower`, `urls`, `emails`, `phones`, `mask` (all three), `dedup-lines`,
/// `dedup-docs`, `min-line=N`, `max-line=N`, `min-doc=N`, `max-doc=N`, `web` (the preset).
impl FromStr for CleanConfig {
    type Err = TextError;

    fn from_str(s: &str) -> Result<Self> {
        let mut c = CleanConfig::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            let number = || -> Result<Option<usize>> {
                let v = value.ok_or_else(|| bad(item, "needs a number, as in min-line=10"))?;
                v.parse().map(Some).map_err(|_| bad(item, "not a non-negative integer"))
            };
            match key {
                "none" => c = CleanConfig::default(),
                "web" => c = CleanConfig::web(),
                "nfc" => c.normalization = Some(Normalization::Nfc),
                "nfkc" => c.normalization = Some(Normalization::Nfkc),
                "html" => c.strip_html = true,
                "control" => c.remove_control = true,
                "whitespace" => c.normalize_whitespace = true,
                "lower" => c.lowercase = true,
                "urls" => c.mask.urls = true,
                "emails" => c.mask.emails = true,
                "phones" => c.mask.phones = true,
                "mask" => c.mask = MaskConfig { urls: true, emails: true, phones: true },
                "dedup-lines" => c.dedup_lines = true,
                "dedup-docs" => c.dedup_documents = true,
                "min-line" => c.min_line_chars = number()?,
                "max-line" => c.max_line_chars = number()?,
                "min-doc" => c.min_doc_chars = number()?,
                "max-doc" => c.max_doc_chars = number()?,
                _ => return Err(bad(item, "unknown cleaning step")),
            }
        }
        Ok(c)
    }
}

/// The same comma-separated list that [`CleanConfig::from_str`] reads.
impl fmt::Display for CleanConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = Vec::new();
        match self.normalization {
            Some(Normalization::Nfc) => items.push("nfc".into()),
            Some(Normalization::Nfkc) => items.push("nfkc".into()),
            None => {}
        }
        let flags = [
            (self.strip_html, "html"),
            (self.remove_control, "control"),
            (self.normalize_whitespace, "whitespace"),
            (self.lowercase, "lower"),
            (self.mask.urls, "urls"),
            (self.mask.emails, "emails"),
            (self.mask.phones, "phones"),
            (self.dedup_lines, "dedup-lines"),
            (self.dedup_documents, "dedup-docs"),
        ];
        items.extend(flags.iter().filter(|(on, _)| *on).map(|(_, name)| name.to_string()));
        let limits = [
            (self.min_line_chars, "min-line"),
            (self.max_line_chars, "max-line"),
            (self.min_doc_chars, "min-doc"),
            (self.max_doc_chars, "max-doc"),
        ];
        items.extend(limits.iter().filter_map(|(v, name)| v.map(|v| format!("{name}={v}"))));
        if items.is_empty() {
            items.push("none".into());
        }
        f.write_str(&items.join(","))
    }
}

fn bad(option: &str, message: &str) -> TextError {
    TextError::InvalidOption { option: option.to_owned(), message: message.to_owned() }
}

/// Runs a [`CleanConfig`] over texts, remembering what it saw (for deduplication) and counting
/// what it changed or dropped.
#[derive(Debug)]
pub struct Cleaner {
    config: CleanConfig,
    seen_lines: HashSet<u64>,
    seen_documents: HashSet<u64>,
    blank_run: usize,
    report: CleanReport,
}

impl Cleaner {
    /// A cleaner that applies `config`.
    pub fn new(config: CleanConfig) -> Self {
        Cleaner {
            config,
            seen_lines: HashSet::new(),
            seen_documents: HashSet::new(),
            blank_run: 0,
            report: CleanReport::default(),
        }
    }

    /// The configuration this cleaner applies.
    pub fn config(&self) -> &CleanConfig {
        &self.config
    }

    /// Counts of what was changed and dropped so far.
    pub fn report(&self) -> &CleanReport {
        &self.report
    }

    /// Mutable access to the counts, for readers that add their own (invalid UTF-8, skips).
    pub fn report_mut(&mut self) -> &mut CleanReport {
        &mut self.report
    }

    /// Cleans one whole document; `None` when a document filter or deduplication dropped it.
    pub fn clean_document(&mut self, text: &str) -> Option<String> {
        self.report.documents_in += 1;
        self.blank_run = 1;
        let mut cleaned = self.clean_text(text);
        if self.config.normalize_whitespace {
            while cleaned.ends_with("\n\n") {
                cleaned.pop();
                self.report.blank_lines_dropped += 1;
                self.report.lines_out -= 1;
                self.report.chars_out -= 1;
            }
        }
        let chars = cleaned.chars().count();
        if self.config.min_doc_chars.is_some_and(|min| chars < min) {
            self.report.short_documents_dropped += 1;
            return None;
        }
        if self.config.max_doc_chars.is_some_and(|max| chars > max) {
            self.report.long_documents_dropped += 1;
            return None;
        }
        if self.config.dedup_documents && !self.seen_documents.insert(fingerprint(&cleaned)) {
            self.report.duplicate_documents_dropped += 1;
            return None;
        }
        self.report.documents_out += 1;
        Some(cleaned)
    }

    /// Starts a new document made of several [`Cleaner::clean_chunk`] calls.
    pub fn begin_document(&mut self) {
        self.report.documents_in += 1;
        self.report.documents_out += 1;
        self.blank_run = 1;
    }

    /// Cleans one piece of a document too large to hold whole; pieces must be cut at line
    /// starts. Document filters and document deduplication do not apply to pieces.
    pub fn clean_chunk(&mut self, text: &str) -> String {
        self.clean_text(text)
    }

    /// Applies every text and line step to `text`.
    fn clean_text(&mut self, text: &str) -> String {
        self.report.chars_in += text.chars().count() as u64;
        if self.config.is_noop() {
            self.report.chars_out += text.chars().count() as u64;
            self.report.lines_in += count_lines(text);
            self.report.lines_out += count_lines(text);
            return text.to_owned();
        }
        let mut text = match self.config.normalization {
            Some(form) => self.normalize(text, form),
            None => text.to_owned(),
        };
        if self.config.strip_html {
            let (stripped, stats) = strip_html(&text);
            self.report.html_tags_removed += stats.tags_removed as u64;
            self.report.html_entities_decoded += stats.entities_decoded as u64;
            text = stripped;
        }
        if self.config.remove_control {
            let before = text.len();
            text.retain(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r'));
            self.report.control_chars_removed += (before - text.len()) as u64;
        }
        let mut out = String::with_capacity(text.len());
        for raw in text.split_inclusive('\n') {
            self.report.lines_in += 1;
            let (body, newline) = match raw.strip_suffix('\n') {
                Some(body) => (body, true),
                None => (raw, false),
            };
            if let Some(line) = self.clean_line(body) {
                self.report.lines_out += 1;
                self.report.chars_out += line.chars().count() as u64 + u64::from(newline);
                out.push_str(&line);
                if newline {
                    out.push('\n');
                }
            }
        }
        out
    }

    /// Cleans one line (without its `\n`); `None` drops it.
    fn clean_line(&mut self, body: &str) -> Option<String> {
        let mut line = if self.config.normalize_whitespace {
            let normalized = normalize_spaces(body);
            if normalized != body {
                self.report.whitespace_lines_changed += 1;
            }
            normalized
        } else {
            body.to_owned()
        };
        let kinds = MaskKinds {
            urls: self.config.mask.urls,
            emails: self.config.mask.emails,
            phones: self.config.mask.phones,
            ..MaskKinds::default()
        };
        if kinds != MaskKinds::default() {
            let (masked, counts) = mask(&line, kinds);
            self.report.urls_masked += counts.urls as u64;
            self.report.emails_masked += counts.emails as u64;
            self.report.phones_masked += counts.phones as u64;
            line = masked;
        }
        if self.config.lowercase {
            let upper = line.chars().filter(|c| c.is_uppercase()).count();
            if upper > 0 {
                self.report.chars_lowercased += upper as u64;
                line = line.to_lowercase();
            }
        }
        let blank = line.trim().is_empty();
        if blank {
            self.blank_run += 1;
            if self.config.normalize_whitespace && self.blank_run > 1 {
                self.report.blank_lines_dropped += 1;
                return None;
            }
            return Some(line);
        }
        let chars = line.chars().count();
        if self.config.min_line_chars.is_some_and(|min| chars < min) {
            self.report.short_lines_dropped += 1;
            return None;
        }
        if self.config.max_line_chars.is_some_and(|max| chars > max) {
            self.report.long_lines_dropped += 1;
            return None;
        }
        if self.config.dedup_lines && !self.seen_lines.insert(fingerprint(&line)) {
            self.report.duplicate_lines_dropped += 1;
            return None;
        }
        self.blank_run = 0;
        Some(line)
    }

    /// Normalizes `text` to `form`, counting texts that changed.
    fn normalize(&mut self, text: &str, form: Normalization) -> String {
        let quick = match form {
            Normalization::Nfc => is_nfc_quick(text.chars()),
            Normalization::Nfkc => is_nfkc_quick(text.chars()),
        };
        if quick == IsNormalized::Yes {
            return text.to_owned();
        }
        let normalized: String = match form {
            Normalization::Nfc => text.nfc().collect(),
            Normalization::Nfkc => text.nfkc().collect(),
        };
        if normalized != text {
            self.report.texts_renormalized += 1;
        }
        normalized
    }
}

/// Cleans one document with `config`; returns the text (`None` if dropped) and the counts.
pub fn clean(text: &str, config: &CleanConfig) -> (Option<String>, CleanReport) {
    let mut cleaner = Cleaner::new(config.clone());
    let out = cleaner.clean_document(text);
    (out, cleaner.report)
}

/// Maps every whitespace character to ' ', collapses runs and trims both ends of a line.
fn normalize_spaces(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for word in line.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

fn count_lines(text: &str) -> u64 {
    text.split_inclusive('\n').count() as u64
}

/// A 64-bit fingerprint of a text, stable across runs (fixed SipHash keys).
fn fingerprint(text: &str) -> u64 {
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_changes_nothing() {
        let text = "  Mixed\tCASE <b>html</b> &amp; http://x.io\r\n\n\n\nend";
        let (out, report) = clean(text, &CleanConfig::default());
        assert_eq!(out.as_deref(), Some(text));
        assert_eq!(report.chars_in, report.chars_out);
    }

    #[test]
    fn spec_round_trips_through_display() {
        let c: CleanConfig = "nfkc,html,whitespace,lower,mask,dedup-lines,min-line=3,max-doc=100".parse().unwrap();
        assert_eq!(c.to_string().parse::<CleanConfig>().unwrap(), c);
        assert!("min-line=x".parse::<CleanConfig>().is_err());
        assert!("shout".parse::<CleanConfig>().is_err());
        assert_eq!("none".parse::<CleanConfig>().unwrap(), CleanConfig::default());
    }

    #[test]
    fn whitespace_control_and_blank_lines() {
        let config: CleanConfig = "control,whitespace".parse().unwrap();
        let (out, report) = clean("a\u{0007}b \u{00A0}\t c  \r\n\n\n\n\u{3000}d\u{000B}\n", &config);
        assert_eq!(out.as_deref(), Some("ab c\n\nd\n"));
        assert_eq!(report.control_chars_removed, 2);
        assert_eq!(report.blank_lines_dropped, 2);
    }

    #[test]
    fn dedup_and_length_filters() {
        let config: CleanConfig = "dedup-lines,min-line=3,max-line=10,min-doc=2".parse().unwrap();
        let mut cleaner = Cleaner::new(config);
        let doc = "hello\nhi\nhello\n\nthis line is far too long\nworld\n";
        assert_eq!(cleaner.clean_document(doc).as_deref(), Some("hello\n\nworld\n"));
        assert_eq!(cleaner.clean_document("hello\nworld\n"), None);
        let r = cleaner.report();
        assert_eq!((r.duplicate_lines_dropped, r.short_lines_dropped, r.long_lines_dropped), (3, 1, 1));
        assert_eq!((r.documents_in, r.documents_out, r.short_documents_dropped), (2, 1, 1));

        let mut cleaner = Cleaner::new("dedup-docs".parse().unwrap());
        assert_eq!(cleaner.clean_document("a\nb").as_deref(), Some("a\nb"));
        assert_eq!(cleaner.clean_document("a\nb"), None);
        assert_eq!(cleaner.report().duplicate_documents_dropped, 1);
    }

    #[test]
    fn nfc_composes_and_nfkc_folds() {
        let (out, report) = clean("Cafe\u{301} \u{FF21}", &"nfc".parse().unwrap());
        assert_eq!(out.as_deref(), Some("Caf\u{e9} \u{FF21}"));
        assert_eq!(report.texts_renormalized, 1);
        let (out, _) = clean("Cafe\u{301} \u{FF21}", &"nfkc".parse().unwrap());
        assert_eq!(out.as_deref(), Some("Caf\u{e9} A"));
    }
}
