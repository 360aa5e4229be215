//! Summaries. Extractive ones: TextRank over sentence similarity (sentence embeddings when an
//! encoder is given, TF-IDF cosine otherwise), maximal marginal relevance against redundancy,
//! sentences returned in document order, by count or by ratio. English and Chinese: sentences
//! come from `loam_text::split_sentences` and stop words from `loam_text::StopWords`; Chinese
//! TF-IDF terms are character unigrams and bigrams. [`lead`] is the lead-N baseline.
//! Abstractive ones ([`abstractive`]) are written by a generative model through any
//! [`crate::provider::Provider`], from a prompt template.
//!
//! ```
//! use loam_apps::summarize::{Length, Summarizer};
//!
//! let text = "Our shop opens a second store in May. The new store is on Elm Street. \
//!             The Elm Street store sells bikes and bike parts. Parking is free.";
//! let summary = Summarizer::tfidf().summarize(text, Length::Sentences(2))?;
//! assert_eq!(summary.sentences.len(), 2);
//! assert!(summary.sentences[0].index < summary.sentences[1].index);
//! # Ok::<(), loam_apps::AppsError>(())
//! ```

mod abstractive;
mod features;
mod mmr;
mod summarizer;
mod textrank;

pub use abstractive::{abstractive, abstractive_prompt};
pub use features::{SparseVector, sparse_dot, terms, tfidf_vectors};
pub use mmr::mmr_select;
pub use summarizer::{DEFAULT_LAMBDA, Extract, Length, Method, Summarizer, Summary, document_sentences, lead};
pub use textrank::{DAMPING, textrank};
