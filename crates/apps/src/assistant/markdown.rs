//! The Markdown form of a knowledge base, for people who edit answers in a text editor:
//!
//! ```text
//! # Anything before the first entry is ignored (a title, notes)
//!
//! ## returns-how
//! Q: How do I return an item?
//! Q: How do I send something back?
//! Tags: returns, refunds
//! Follow-ups: refund-time, returns-cost
//! Lang: en
//!
//! Start your return at https://shop.example/returns, print the label and drop the
//! parcel at any post office.
//! ```
//!
//! Each `## id` heading opens an entry; `Q:` lines are its questions; `Tags:`, `Follow-ups:`
//! and `Lang:` lines (optional) take comma-separated values; every other non-empty line is the
//! answer, its lines joined by spaces and its paragraphs by a blank line.

use std::path::Path;

use crate::assistant::error::{AssistantError, Result};
use crate::assistant::knowledge_base::RawEntry;
use crate::assistant::lang::Lang;

/// The entries of a Markdown knowledge base.
pub(crate) fn parse(text: &str, origin: &Path) -> Result<Vec<RawEntry>> {
    let mut entries: Vec<RawEntry> = Vec::new();
    let mut paragraphs: Vec<Vec<String>> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        let bad = |msg: String| AssistantError::file(origin, format!("line {line_no}: {msg}"));
        let trimmed = line.trim();
        if let Some(id) = trimmed.strip_prefix("## ") {
            finish(&mut entries, &mut paragraphs);
            entries.push(RawEntry {
                id: id.trim().to_string(),
                questions: Vec::new(),
                answer: String::new(),
                tags: Vec::new(),
                follow_ups: Vec::new(),
                lang: None,
            });
            continue;
        }
        let Some(entry) = entries.last_mut() else {
            continue;
        };
        if trimmed.starts_with('#') {
            return Err(bad(format!(
                "a heading inside entry `{}`: entries open with `## id`",
                entry.id
            )));
        }
        if let Some(q) = field(trimmed, "q") {
            entry.questions.push(q.to_string());
        } else if let Some(tags) = field(trimmed, "tags") {
            entry.tags.extend(list(tags));
        } else if let Some(follow_ups) = field(trimmed, "follow-ups") {
            entry.follow_ups.extend(list(follow_ups));
        } else if let Some(lang) = field(trimmed, "lang") {
            entry.lang = Some(match lang.to_ascii_lowercase().as_str() {
                "en" => Lang::En,
                "zh" => Lang::Zh,
                other => return Err(bad(format!("unknown language `{other}` (en or zh)"))),
            });
        } else if trimmed.is_empty() {
            if paragraphs.last().is_some_and(|p| !p.is_empty()) {
                paragraphs.push(Vec::new());
            }
        } else {
            match paragraphs.last_mut() {
                Some(p) => p.push(trimmed.to_string()),
                None => paragraphs.push(vec![trimmed.to_string()]),
            }
        }
    }
    finish(&mut entries, &mut paragraphs);
    if entries.is_empty() {
        return Err(AssistantError::file(
            origin,
            "no entries: each entry opens with a `## id` heading",
        ));
    }
    Ok(entries)
}

/// The value of a `Name: value` line (name compared without case).
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let (key, value) = line.split_once(':')?;
    key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
}

/// The comma-separated values of a field.
fn list(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// Gives the last entry the answer gathered so far.
fn finish(entries: &mut [RawEntry], paragraphs: &mut Vec<Vec<String>>) {
    if let Some(entry) = entries.last_mut() {
        let text: Vec<String> = paragraphs
            .drain(..)
            .filter(|p| !p.is_empty())
            .map(|p| p.join(" "))
            .collect();
        entry.answer = text.join("\n\n");
    }
}
