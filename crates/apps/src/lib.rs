//! `loam-apps`: the applications built on loam's models: a customer-service assistant, a
//! summarizer, semantic search, a product-copy writer, and an HTTP server.
//!
//! The applications land with their issues; this crate holds only its place in the layering today.

pub mod provider;
pub mod writer;
