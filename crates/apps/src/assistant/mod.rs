//! The customer-service assistant: answers a shop's customers from a knowledge base when it is
//! confident, asks them to rephrase when it is not (offering the two nearest topics), and hands
//! the conversation to a person after repeated misses or on request. It reads follow-ups
//! against the conversation, replies in the customer's language (English or Chinese), and can
//! have a model phrase its answers, keeping a rewrite only when it adds nothing to the entry.
//!
//! The assistant keeps no conversation: the caller passes the turns so far with each message,
//! so conversations can live in a database and several server replicas can serve one.
//!
//! ```
//! use std::sync::Arc;
//! use loam_apps::assistant::{Assistant, AssistantConfig, KnowledgeBase, Outcome, Turn};
//! use loam_apps::search::HashingEmbedder;
//!
//! let kb = KnowledgeBase::example();
//! let assistant = Assistant::new(kb, Arc::new(HashingEmbedder::new(256)), AssistantConfig::default())?;
//! let reply = assistant.reply(&[], "Can I talk to a human?")?;
//! assert!(matches!(reply.outcome, Outcome::Handoff { .. }));
//! let history = vec![Turn::user("Can I talk to a human?"), Turn::assistant(&reply)];
//! assert_eq!(history.len(), 2);
//! # Ok::<(), loam_apps::assistant::AssistantError>(())
//! ```
//!
//! See `docs/apps.md` (section "Assistant") for the commands and the measured quality.

mod engine;
mod error;
mod eval;
mod grounding;
mod handoff;
mod knowledge_base;
mod lang;
mod lexical;
mod markdown;
mod memory;
mod numbers;
mod policy;

pub use engine::{Assistant, AssistantConfig, Candidate, Outcome, Reply, Turn};
pub use error::{AssistantError, Result};
pub use eval::{
    Dialogue, DialogueReport, DialogueTurn, LabelledQuery, SingleTurnReport, bm25_baseline,
    evaluate_dialogues, evaluate_single, fit_temperature, read_dialogues, read_labelled,
};
pub use grounding::{Drift, Phrasing, check_grounding};
pub use handoff::{HandoffReason, asks_for_person};
pub use knowledge_base::{Entry, Format, KnowledgeBase};
pub use lang::Lang;
pub use memory::{is_follow_up, last_topic};
pub use policy::{confidences, confident};
