//! Conversation memory: a follow-up ("and how long does that take?", "what about for
//! Canada?", "那退货呢？") is read together with the topic of the last answered turn.
//!
//! A message is a follow-up when it opens as one ("and …", "what about …", "那…", "还有…"),
//! ends as one ("…呢？"), points back ("it", "that", "这个", "它"), or is very short (six words
//! or fewer, six ideographs or fewer). Its entry scores are then those of the topic and the
//! message joined in one query, averaged with weight `memory_weight` with those of the message
//! alone, where the topic is the first question of the entry that answered the last answered
//! turn: the message picks the aspect, the topic keeps the subject.

use crate::assistant::engine::{Outcome, Turn};
use crate::assistant::lang::{Lang, is_cjk};

/// An English message of this many words or fewer is read as a follow-up.
const MAX_SHORT_WORDS: usize = 6;
/// English openings of a follow-up.
const EN_OPENINGS: [&str; 9] = [
    "and ",
    "what about",
    "how about",
    "also ",
    "what if",
    "but ",
    "same for",
    "then ",
    "ok and",
];
/// English words that point back to the previous topic.
const EN_POINTERS: [&str; 8] = [
    "it", "that", "this", "those", "these", "them", "there", "one",
];
/// Chinese openings of a follow-up.
const ZH_OPENINGS: [&str; 7] = ["那", "还有", "如果", "另外", "那么", "而且", "也"];
/// Chinese words that point back.
const ZH_POINTERS: [&str; 6] = ["它", "这个", "那个", "这样", "这些", "那些"];

/// True when `message` reads as a follow-up of the previous turn.
pub fn is_follow_up(message: &str) -> bool {
    let text = message.trim().to_lowercase();
    match Lang::detect(&text) {
        Lang::En => {
            let words: Vec<&str> = text
                .split(|c: char| !c.is_alphanumeric() && c != '\'')
                .filter(|w| !w.is_empty())
                .collect();
            words.len() <= MAX_SHORT_WORDS
                || EN_OPENINGS.iter().any(|o| text.starts_with(o))
                || words.iter().any(|w| EN_POINTERS.contains(w))
        }
        Lang::Zh => {
            let ideographs = text.chars().filter(|&c| is_cjk(c)).count();
            let core = text.trim_end_matches(|c: char| {
                c.is_ascii_punctuation() || "？。！，?".contains(c) || c.is_whitespace()
            });
            ideographs <= 6
                || core.ends_with('呢')
                || ZH_OPENINGS.iter().any(|o| text.starts_with(o))
                || ZH_POINTERS.iter().any(|p| text.contains(p))
        }
    }
}

/// The entry id of the last answered turn of `history`.
pub fn last_topic(history: &[Turn]) -> Option<&str> {
    history.iter().rev().find_map(|t| match &t.outcome {
        Some(Outcome::Answered { entry_id, .. }) => Some(entry_id.as_str()),
        _ => None,
    })
}
