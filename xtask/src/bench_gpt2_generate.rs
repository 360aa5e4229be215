//! The loam side of `cargo xtask bench gpt2-generate`: a GPT-2 124M-shaped model with random
//! weights, greedy decoding with the KV cache, batch 1, a 16-token prompt and 128 new tokens,
//! in tokens per second, and the weight bytes read per second that this implies (decoding one
//! sequence reads every weight once per token, so memory bandwidth bounds it).
//!
//! The shape, prompt and timing rule match `xtask/py/gpt2-generate.py` (Hugging Face
//! transformers), so the two sides line up by case.

use std::time::Instant;

use anyhow::{Result, bail};
use loam_lm::{Architecture, GenerationConfig, Gpt, GptConfig, generate_ids};
use loam_nn::ParamStore;

use crate::model_arg;
use crate::record::Record;

/// Prompt length.
const PROMPT: usize = 16;
/// New tokens per timed run.
const NEW_TOKENS: usize = 128;
/// Timed runs; the median counts.
const RUNS: usize = 3;

/// The prompt both sides use: 16 ids spread over the vocabulary.
pub fn prompt(vocab: usize) -> Vec<usize> {
    (0..PROMPT).map(|i| (i * 3001 + 17) % vocab).collect()
}

/// Seconds to generate `n` tokens greedily after the prompt.
fn generate_secs(gpt: &Gpt, n: usize) -> Result<f64> {
    let cfg = GenerationConfig { max_new_tokens: n, ..GenerationConfig::default() };
    let start = Instant::now();
    let (out, _) = generate_ids(gpt, &prompt(gpt.config.vocab_size), &cfg, true, &mut |_| true)?;
    anyhow::ensure!(out.len() == n, "generated {} tokens, expected {n}", out.len());
    Ok(start.elapsed().as_secs_f64())
}

/// One warm-up run, then the median of [`RUNS`] timed runs, with random weights or the GPT-2
/// `model` (a folder or hub id).
pub fn run(model: Option<&str>) -> Result<Vec<Record>> {
    let (gpt, store, case) = match model {
        None => {
            let store = ParamStore::new(0);
            (Gpt::new(&GptConfig::default(), &store)?, store, "gpt2-124M greedy, cache, 16+128".to_string())
        }
        Some(name) => match model_arg::load(name)?.architecture {
            Architecture::Gpt2(g) => (g.model, g.store, format!("{name} greedy, cache, 16+128")),
            _ => bail!("bench gpt2-generate --model takes a GPT-2 model; {name} is not one"),
        },
    };
    generate_secs(&gpt, 8)?;
    let mut times = (0..RUNS).map(|_| generate_secs(&gpt, NEW_TOKENS)).collect::<Result<Vec<_>>>()?;
    times.sort_by(f64::total_cmp);
    let secs = times[RUNS / 2];
    // every new token reads every weight once (the output head is the tied embedding; of the
    // position table, one row): the memory traffic that bounds decoding at batch 1
    let weight_bytes: usize = store
        .params()
        .iter()
        .filter(|(name, _)| !name.ends_with("wpe.weight"))
        .map(|(_, p)| p.elem_count() * size_of::<f32>())
        .sum();
    Ok(vec![Record::loam(
        "gpt2-generate",
        &case,
        &[
            ("tokens_per_s", NEW_TOKENS as f64 / secs),
            ("ms_per_iter", secs * 1e3 / NEW_TOKENS as f64),
            ("gb_per_s", weight_bytes as f64 * NEW_TOKENS as f64 / secs / 1e9),
        ],
    )])
}
