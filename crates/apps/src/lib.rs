//! `loam-apps`: the applications built on loam's models. Today: semantic search ([`search`]:
//! dense, BM25 and hybrid over one index) and an extractive summarizer ([`summarize`]); a
//! product-copy writer, a customer-service assistant and an HTTP server land with their issues
//! (see DESIGN.md, "The apps crate").
//!
//! ```
//! use loam_apps::summarize::{Length, Summarizer};
//!
//! let text = "The shop will close early on Friday. Staff training starts at four. \
//!             Orders placed online still ship on Friday. The shop reopens on Saturday at nine.";
//! let summary = Summarizer::tfidf().summarize(text, Length::Ratio(0.5))?;
//! assert_eq!(summary.sentences.len(), 2);
//! println!("{}", summary.text());
//! # Ok::<(), loam_apps::AppsError>(())
//! ```

mod error;
pub mod search;
pub mod summarize;

pub use error::{AppsError, Result};
