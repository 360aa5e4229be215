//! Feedback that a person gives on a conversation or one of its turns.

use serde::{Deserialize, Serialize};

use super::{Result, StoreError};

/// A rating: thumbs up or down, or 1 to 5 stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rating {
    /// Helpful.
    Up,
    /// Not helpful.
    Down,
    /// 1 (worst) to 5 (best) stars.
    Stars(u8),
}

impl Rating {
    /// The rating as stored (`up`, `down`, `1` … `5`); stars outside 1–5 are an error.
    pub fn to_stored(self) -> Result<String> {
        match self {
            Rating::Up => Ok("up".into()),
            Rating::Down => Ok("down".into()),
            Rating::Stars(n @ 1..=5) => Ok(n.to_string()),
            Rating::Stars(n) => Err(StoreError::Invalid {
                op: "add_feedback",
                message: format!("{n} stars: a rating has 1 to 5"),
            }),
        }
    }

    /// The rating stored as `text`, if it is one.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "up" => Some(Rating::Up),
            "down" => Some(Rating::Down),
            _ => text
                .parse::<u8>()
                .ok()
                .filter(|n| (1..=5).contains(n))
                .map(Rating::Stars),
        }
    }
}

/// Feedback on a conversation, or on one of its turns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// The conversation rated.
    pub conversation_id: String,
    /// The turn rated (its seq), or `None` for the conversation as a whole.
    pub turn_seq: Option<i64>,
    /// The rating.
    pub rating: Rating,
    /// What the person wrote, if anything (PII masked by the caller).
    pub comment: Option<String>,
    /// When it was given, in milliseconds since the Unix epoch (set by the store).
    pub created_at: i64,
}
