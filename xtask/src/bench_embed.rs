//! The loam side of `cargo xtask bench embed`: all-MiniLM-L6-v2 sentence embeddings of 512
//! short sentences in batches of 32, in sentences per second.
//!
//! The sentences and timing rule match `xtask/py/embed.py` (sentence-transformers), so the
//! two sides line up by case. The model comes from `LOAM_MINILM_DIR` or loam's cache.

use std::time::Duration;

use anyhow::{Context, Result};
use loam_lm::hf::{SentenceEncoder, minilm_dir, resolve_model};
use loam_tensor::QuantFormat;

use crate::measure::median_secs;
use crate::record::Record;

/// Timed-repeat budget (one repeat embeds all the sentences, about a second).
const BUDGET: Duration = Duration::from_secs(4);
/// Sentences per run.
const SENTENCES: usize = 512;
/// Sentences per forward pass.
const BATCH: usize = 32;

/// The benchmark's sentences: 512 short customer-service lines from three word lists (the
/// same as the PyTorch side's).
pub fn short_sentences(n: usize) -> Vec<String> {
    const SUBJECTS: [&str; 8] =
        ["The customer", "My order", "Our team", "The weather", "This phone", "Your account", "The package", "A refund"];
    const VERBS: [&str; 8] = [
        "arrived late",
        "needs a password reset",
        "looks great today",
        "was charged twice",
        "cannot sign in",
        "ships to Canada",
        "broke after a week",
        "is ready for pickup",
    ];
    const ENDINGS: [&str; 8] =
        ["", " again", " this morning", " as expected", " without notice", " last night", " for the second time", " according to support"];
    (0..n).map(|i| format!("{} {}{}.", SUBJECTS[i % 8], VERBS[(i / 8) % 8], ENDINGS[(i / 64) % 8])).collect()
}

/// Embeds the sentences repeatedly with `model` (a folder or hub id; all-MiniLM-L6-v2 when
/// `None`), its linear layers in `quant` when given, and returns the loam record.
pub fn run(model: Option<&str>, quant: Option<QuantFormat>) -> Result<Vec<Record>> {
    let dir = match model {
        Some(model) => resolve_model(model, &mut |line| eprintln!("fetch: {line}"))?,
        None => minilm_dir()?,
    };
    let mut encoder = SentenceEncoder::from_dir(&dir).with_context(|| format!("loading {}", dir.display()))?;
    encoder.batch_size = BATCH;
    if let Some(format) = quant {
        eprintln!("bench embed: loam weights {format} (sentence-transformers: f32)");
        encoder.model = encoder.model.quantize(format)?;
    }
    let sentences = short_sentences(SENTENCES);
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    let secs = median_secs(BUDGET, || encoder.encode(&texts))?;
    Ok(vec![Record::loam(
        "embed",
        "all-MiniLM-L6-v2 512 short, batch 32",
        &[("sentences_per_s", SENTENCES as f64 / secs), ("ms_per_iter", secs * 1e3)],
    )])
}
