//! loam's own encoder–decoder Transformer, trained from scratch on (source, target) pairs:
//! its config, the model, the label-smoothed loss, a character vocabulary and the export in
//! Hugging Face BART layout.

mod config;
mod decoding;
mod evaluate;
mod export;
mod loss;
mod model;
mod vocab;

pub use config::{PositionKind, Seq2SeqConfig};
pub use evaluate::{Seq2SeqScores, evaluate};
pub use export::{BART_CONFIG_FILE, GENERATION_CONFIG_FILE, bart_config, export_bart};
pub use loss::{IGNORE_INDEX, label_smoothed_cross_entropy};
pub use model::{LEARNED_POSITION_OFFSET, Seq2Seq, Seq2SeqBatch};
pub use vocab::{SPECIAL_TOKENS, char_tokenizer, char_tokenizer_json};
