//! Conversations and their turns, as stored.

use serde::{Deserialize, Serialize};

use crate::provider::Role;

/// Where a conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConversationStatus {
    /// The assistant is answering.
    Open,
    /// A ticket was opened and a person takes over.
    HandedOff,
    /// Finished.
    Closed,
}

impl ConversationStatus {
    /// The status as stored (`open`, `handed-off`, `closed`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationStatus::Open => "open",
            ConversationStatus::HandedOff => "handed-off",
            ConversationStatus::Closed => "closed",
        }
    }

    /// The status named `name` as stored, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        [
            ConversationStatus::Open,
            ConversationStatus::HandedOff,
            ConversationStatus::Closed,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// A conversation's header: its turns are loaded with [`super::Storage::turns`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// A random id (a UUID in text form).
    pub id: String,
    /// When it was created, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When a turn was last appended or its status changed, in milliseconds since the epoch.
    pub updated_at: i64,
    /// Where it came from (`web`, `api`, …), as the caller names it.
    pub channel: String,
    /// Free-form data the caller attached (a JSON value; `null` when none).
    pub metadata: serde_json::Value,
    /// Where it stands.
    pub status: ConversationStatus,
}

/// A turn to append: the text must already be masked of personal data by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTurn {
    /// Who wrote it.
    pub role: Role,
    /// What was written (PII already masked).
    pub text: String,
    /// What the assistant decided for it (entry id, confidence, …), as JSON.
    pub outcome: Option<serde_json::Value>,
}

impl NewTurn {
    /// A turn by `role` with no outcome.
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        NewTurn {
            role,
            text: text.into(),
            outcome: None,
        }
    }

    /// The same turn with the assistant's outcome attached.
    pub fn with_outcome(self, outcome: serde_json::Value) -> Self {
        NewTurn {
            outcome: Some(outcome),
            ..self
        }
    }
}

/// A stored turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    /// The conversation it belongs to.
    pub conversation_id: String,
    /// Its position in the conversation, from 1, without gaps.
    pub seq: i64,
    /// Who wrote it.
    pub role: Role,
    /// What was written (PII masked by the caller).
    pub text: String,
    /// The assistant's outcome, as JSON, if one was stored.
    pub outcome: Option<serde_json::Value>,
    /// When it was appended, in milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// The role stored as `name`, if it is one.
pub(crate) fn parse_role(name: &str) -> Option<Role> {
    [Role::System, Role::User, Role::Assistant]
        .into_iter()
        .find(|r| r.name() == name)
}
