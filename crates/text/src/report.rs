//! Counts of what cleaning and corpus reading changed, dropped or skipped.

use std::fmt;
use std::ops::AddAssign;

use serde::{Deserialize, Serialize};

/// What a [`crate::Cleaner`] and the corpus reader changed or dropped; all counts.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanReport {
    /// Documents given to the cleaner.
    pub documents_in: u64,
    /// Documents kept.
    pub documents_out: u64,
    /// Lines seen.
    pub lines_in: u64,
    /// Lines kept.
    pub lines_out: u64,
    /// Characters seen.
    pub chars_in: u64,
    /// Characters kept.
    pub chars_out: u64,
    /// Texts that Unicode normalization changed.
    pub texts_renormalized: u64,
    /// HTML tags and comments removed.
    pub html_tags_removed: u64,
    /// HTML entities decoded.
    pub html_entities_decoded: u64,
    /// Control characters removed.
    pub control_chars_removed: u64,
    /// Lines whose whitespace was normalized.
    pub whitespace_lines_changed: u64,
    /// Blank lines dropped (runs of blank lines collapsed to one).
    pub blank_lines_dropped: u64,
    /// Upper-case characters lowercased.
    pub chars_lowercased: u64,
    /// URLs masked.
    pub urls_masked: u64,
    /// E-mail addresses masked.
    pub emails_masked: u64,
    /// Phone numbers masked.
    pub phones_masked: u64,
    /// Lines dropped as duplicates.
    pub duplicate_lines_dropped: u64,
    /// Lines dropped as too short.
    pub short_lines_dropped: u64,
    /// Lines dropped as too long.
    pub long_lines_dropped: u64,
    /// Documents dropped as duplicates.
    pub duplicate_documents_dropped: u64,
    /// Documents dropped as too short.
    pub short_documents_dropped: u64,
    /// Documents dropped as too long.
    pub long_documents_dropped: u64,
    /// Invalid UTF-8 sequences replaced with U+FFFD by lossy decoding.
    pub invalid_utf8_replaced: u64,
    /// Files skipped (binary, empty, or duplicates of another file), each with its reason.
    pub files_skipped: Vec<String>,
}

impl AddAssign<&CleanReport> for CleanReport {
    fn add_assign(&mut self, o: &CleanReport) {
        self.documents_in += o.documents_in;
        self.documents_out += o.documents_out;
        self.lines_in += o.lines_in;
        self.lines_out += o.lines_out;
        self.chars_in += o.chars_in;
        self.chars_out += o.chars_out;
        self.texts_renormalized += o.texts_renormalized;
        self.html_tags_removed += o.html_tags_removed;
        self.html_entities_decoded += o.html_entities_decoded;
        self.control_chars_removed += o.control_chars_removed;
        self.whitespace_lines_changed += o.whitespace_lines_changed;
        self.blank_lines_dropped += o.blank_lines_dropped;
        self.chars_lowercased += o.chars_lowercased;
        self.urls_masked += o.urls_masked;
        self.emails_masked += o.emails_masked;
        self.phones_masked += o.phones_masked;
        self.duplicate_lines_dropped += o.duplicate_lines_dropped;
        self.short_lines_dropped += o.short_lines_dropped;
        self.long_lines_dropped += o.long_lines_dropped;
        self.duplicate_documents_dropped += o.duplicate_documents_dropped;
        self.short_documents_dropped += o.short_documents_dropped;
        self.long_documents_dropped += o.long_documents_dropped;
        self.invalid_utf8_replaced += o.invalid_utf8_replaced;
        self.files_skipped.extend(o.files_skipped.iter().cloned());
    }
}

/// One line per non-zero count after the totals, then one line per skipped file.
impl fmt::Display for CleanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "documents {} -> {}, lines {} -> {}, chars {} -> {}",
            self.documents_in, self.documents_out, self.lines_in, self.lines_out, self.chars_in, self.chars_out
        )?;
        let counts = [
            ("texts renormalized", self.texts_renormalized),
            ("HTML tags removed", self.html_tags_removed),
            ("HTML entities decoded", self.html_entities_decoded),
            ("control characters removed", self.control_chars_removed),
            ("lines with whitespace normalized", self.whitespace_lines_changed),
            ("blank lines dropped", self.blank_lines_dropped),
            ("characters lowercased", self.chars_lowercased),
            ("URLs masked", self.urls_masked),
            ("e-mail addresses masked", self.emails_masked),
            ("phone numbers masked", self.phones_masked),
            ("duplicate lines dropped", self.duplicate_lines_dropped),
            ("short lines dropped", self.short_lines_dropped),
            ("long lines dropped", self.long_lines_dropped),
            ("duplicate documents dropped", self.duplicate_documents_dropped),
            ("short documents dropped", self.short_documents_dropped),
            ("long documents dropped", self.long_documents_dropped),
            ("invalid UTF-8 sequences replaced", self.invalid_utf8_replaced),
        ];
        for (name, n) in counts.iter().filter(|(_, n)| *n > 0) {
            writeln!(f, "  {name}: {n}")?;
        }
        for skip in &self.files_skipped {
            writeln!(f, "  skipped {skip}")?;
        }
        Ok(())
    }
}
