//! Handoff tickets: a person takes over a conversation, with its transcript attached.

use serde::{Deserialize, Serialize};

use super::TurnRecord;

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TicketStatus {
    /// Waiting for a person.
    Open,
    /// A person is on it.
    InProgress,
    /// Done.
    Resolved,
}

impl TicketStatus {
    /// The status as stored (`open`, `in-progress`, `resolved`).
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::InProgress => "in-progress",
            TicketStatus::Resolved => "resolved",
        }
    }

    /// The status named `name` as stored, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        [
            TicketStatus::Open,
            TicketStatus::InProgress,
            TicketStatus::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// A handoff ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// A random id (a UUID in text form).
    pub id: String,
    /// A short number for people to quote (from 1001, increasing).
    pub number: i64,
    /// The conversation handed off.
    pub conversation_id: String,
    /// Why it was handed off (`asked for a person`, `3 misses`, …).
    pub reason: String,
    /// The conversation's turns when the ticket was opened.
    pub transcript: Vec<TurnRecord>,
    /// Where it stands.
    pub status: TicketStatus,
    /// Who took it, if anyone.
    pub assignee: Option<String>,
    /// When it was opened, in milliseconds since the Unix epoch.
    pub created_at: i64,
    /// When it last changed, in milliseconds since the Unix epoch.
    pub updated_at: i64,
}

/// A change to a ticket: the fields that are `Some` are set.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TicketUpdate {
    /// The new status.
    pub status: Option<TicketStatus>,
    /// The new assignee.
    pub assignee: Option<String>,
}
