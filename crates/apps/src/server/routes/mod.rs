//! The route handlers, one file per group of endpoints.

pub mod assistant;
pub mod chat;
pub mod embeddings;
pub mod generate;
pub mod info;
pub mod search;
pub mod summarize;
pub mod tickets;
