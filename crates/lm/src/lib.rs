//! `loam-lm`: language models (GPT, BERT), the training loop, perplexity and generation.
//!
//! The models land with the lm issue; this crate holds only its place in the layering today.
