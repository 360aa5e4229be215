//! The loam side of `cargo xtask bench seq2seq-generate`: a flan-t5-small-shaped T5 (8 + 8
//! blocks, d_model 512, 6 heads of 64, gated-GELU feed-forward of 1024, 32128 tokens, untied
//! head) with random weights, a 64-token source, 64 new tokens greedy and with 4 beams, in new
//! tokens per second (the source's encoding included). With `--quant` the loam side's
//! projections and head are int8, q4 or bf16 (quantized in memory); PyTorch stays f32.
//!
//! The shape, source, token counts and timing rule match `xtask/py/seq2seq-generate.py`
//! (Hugging Face transformers): EOS is never chosen (transformers bans it with
//! `min_new_tokens`, loam is given no EOS id), so both sides decode every step.

use std::time::Instant;

use anyhow::Result;
use loam_lm::hf::{T5, T5Config};
use loam_lm::{BeamConfig, GenerationConfig, beam_search_seq2seq, generate_seq2seq};
use loam_nn::ParamStore;
use loam_tensor::QuantFormat;

use crate::bench_gpt2_generate::quant_case;
use crate::record::Record;

/// Source length.
const SOURCE: usize = 64;
/// New tokens per timed run.
const NEW_TOKENS: usize = 64;
/// Timed runs; the median counts.
const RUNS: usize = 3;

/// flan-t5-small's shape.
fn flan_t5_small() -> Result<T5Config> {
    Ok(serde_json::from_value(serde_json::json!({
        "vocab_size": 32128, "d_model": 512, "d_kv": 64, "d_ff": 1024, "num_layers": 8,
        "num_decoder_layers": 8, "num_heads": 6, "feed_forward_proj": "gated-gelu",
        "tie_word_embeddings": false, "decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 1
    }))?)
}

/// The source both sides use: 64 ids spread over the vocabulary.
pub fn source(vocab: usize) -> Vec<usize> {
    (0..SOURCE).map(|i| (i * 3001 + 17) % vocab).collect()
}

/// Seconds to generate `n` tokens greedily (`beams` 1) or with `beams` beams.
fn generate_secs(t5: &T5, beams: usize, n: usize) -> Result<f64> {
    let cfg = GenerationConfig {
        max_new_tokens: n,
        ..GenerationConfig::default()
    };
    let src = source(t5.config.vocab_size);
    let start = Instant::now();
    let got = if beams == 1 {
        generate_seq2seq(t5, &src, &cfg, &mut |_| true)?.0.len()
    } else {
        let beam = BeamConfig {
            num_beams: beams,
            ..BeamConfig::default()
        };
        beam_search_seq2seq(t5, &src, &cfg, &beam)?
            .remove(0)
            .ids
            .len()
    };
    anyhow::ensure!(got == n, "generated {got} tokens, expected {n}");
    Ok(start.elapsed().as_secs_f64())
}

/// For greedy and 4 beams: one warm-up run, then the median of [`RUNS`] timed runs; the model's
/// projections and head in `quant` when given.
pub fn run(quant: Option<QuantFormat>) -> Result<Vec<Record>> {
    let store = ParamStore::new(0);
    let mut t5 = T5::new(&flan_t5_small()?, &store)?;
    if let Some(format) = quant {
        eprintln!("bench seq2seq-generate: loam weights {format} (PyTorch: f32)");
        t5 = t5.quantize(format)?;
    }
    let mut records = Vec::new();
    for (beams, case) in [
        (1, "flan-t5-small greedy, 64+64"),
        (4, "flan-t5-small beam-4, 64+64"),
    ] {
        generate_secs(&t5, beams, 4)?;
        let mut times = (0..RUNS)
            .map(|_| generate_secs(&t5, beams, NEW_TOKENS))
            .collect::<Result<Vec<_>>>()?;
        times.sort_by(f64::total_cmp);
        let secs = times[RUNS / 2];
        records.push(Record::loam(
            "seq2seq-generate",
            &quant.map_or_else(|| case.to_string(), |format| quant_case(case, format)),
            &[
                ("tokens_per_s", NEW_TOKENS as f64 / secs),
                ("ms_per_iter", secs * 1e3 / NEW_TOKENS as f64),
            ],
        ));
    }
    Ok(records)
}
