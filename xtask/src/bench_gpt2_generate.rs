//! The loam side of `cargo xtask bench gpt2-generate`: a GPT-2 124M-shaped model with random
//! weights, greedy decoding with the KV cache, batch 1, a 16-token prompt and 128 new tokens,
//! in tokens per second, and the weight bytes read per second that this implies (decoding one
//! sequence reads every weight once per token, so memory bandwidth bounds it).
//!
//! With `--quant int8|q4|bf16` the loam side decodes with quantized linear layers and head
//! (the model quantized in memory, as `cargo xtask quantize` writes it), reports the bytes one
//! token reads and the fraction of the machine's read bandwidth (measured in the same run)
//! that its tokens per second imply.
//!
//! With `--batch B` ([`run_batch`]), `B` sequences with prompts of 16, 14, 12 and 10 tokens in
//! turn decode 128 tokens each together ([`DecodeBatch`]: one pass over the weights per step),
//! and the figure is aggregate tokens per second; `--quant` applies there too.
//!
//! With `--device cuda`, the model is built on the host and copied to the GPU, and each
//! decoding step reads its logits back (as sampling needs them on the host).
//!
//! The shape, prompt and timing rule match `xtask/py/gpt2-generate.py` (Hugging Face
//! transformers), so the two sides line up by case.

use std::time::Instant;

use anyhow::{Result, bail};
use loam_lm::{Architecture, DecodeBatch, GenerationConfig, Gpt, GptConfig, SeqEvent, generate_ids};
use loam_nn::ParamStore;
use loam_tensor::{Device, QuantFormat};

use crate::bandwidth;
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

/// The case name of the PyTorch side on `device`: `case`, marked on a GPU.
fn on_device(case: String, device: Device) -> String {
    if device == Device::Cpu { case } else { format!("{case}, cuda") }
}

/// One warm-up run, then the median of [`RUNS`] timed runs, with random weights or the GPT-2
/// `model` (a folder or hub id), its weights in `quant` when given (on the CPU only), on
/// `device`.
pub fn run(model: Option<&str>, quant: Option<QuantFormat>, device: Device) -> Result<Vec<Record>> {
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
    // every new token reads every weight once (the output head is the tied embedding; of the
    // position table, one row): the memory traffic that bounds decoding at batch 1
    let f32_bytes: usize = store
        .params()
        .iter()
        .filter(|(name, _)| !name.ends_with("wpe.weight"))
        .map(|(_, p)| p.elem_count() * size_of::<f32>())
        .sum();
    // the host copy goes once the model is on the device
    let (gpt, store) = {
        let moved = gpt.to_device(&store, device)?;
        drop((gpt, store));
        moved
    };
    let (gpt, weight_bytes) = match quant {
        None => (gpt, f32_bytes),
        Some(format) => {
            let mut q = gpt.quantize(format)?;
            drop((gpt, store));
            // each quantized matrix replaces its f32 bytes; a quantized tied head is read in
            // place of the f32 embedding
            let mut bytes = f32_bytes;
            for l in q.linears_mut() {
                bytes = bytes - 4 * l.d_in() * l.d_out() + l.weight.bytes();
            }
            if let Some(head) = q.tied_head() {
                bytes = bytes - 4 * head.shape()[0] * head.shape()[1] + head.bytes();
            }
            (q, bytes)
        }
    };
    if let Some(format) = quant {
        eprintln!("bench gpt2-generate: loam weights {format} (PyTorch: f32)");
    }
    generate_secs(&gpt, 8)?;
    let mut times = (0..RUNS).map(|_| generate_secs(&gpt, NEW_TOKENS)).collect::<Result<Vec<_>>>()?;
    times.sort_by(f64::total_cmp);
    let secs = times[RUNS / 2];
    let gb_per_s = weight_bytes as f64 * NEW_TOKENS as f64 / secs / 1e9;
    let mut figures = vec![
        ("tokens_per_s", NEW_TOKENS as f64 / secs),
        ("ms_per_iter", secs * 1e3 / NEW_TOKENS as f64),
        ("gb_per_s", gb_per_s),
        ("mb_per_token", weight_bytes as f64 / 1e6),
    ];
    let mut records = Vec::new();
    if quant.is_some() {
        let (read, copy) = bandwidth::measure();
        figures.push(("bandwidth_fraction", gb_per_s / read));
        records.push(Record::loam("gpt2-generate", "memory bandwidth (read / copy loop)", &[("read_gb_per_s", read), ("copy_gb_per_s", copy)]));
    }
    records.insert(0, Record::loam("gpt2-generate", &on_device(case, device), &figures));
    Ok(records)
}

/// The prompt of row `r` of a batch: 16, 14, 12 or 10 ids, different in every row.
pub fn batch_prompt(vocab: usize, r: usize) -> Vec<usize> {
    (0..PROMPT - 2 * (r % 4)).map(|i| (i * 3001 + r * 7919 + 17) % vocab).collect()
}

/// Seconds for `b` sequences to generate `n` tokens each, greedily, decoded together.
fn batch_secs(gpt: &Gpt, b: usize, n: usize) -> Result<f64> {
    let cfg = GenerationConfig { max_new_tokens: n, ..GenerationConfig::default() };
    let start = Instant::now();
    let mut batch = DecodeBatch::new(gpt);
    let mut tokens = 0;
    let count = |events: Vec<SeqEvent>| events.iter().filter(|e| matches!(e, SeqEvent::Token { .. })).count();
    for r in 0..b {
        tokens += count(batch.admit(r as u64, &batch_prompt(gpt.config.vocab_size, r), &cfg)?);
    }
    while !batch.is_empty() {
        tokens += count(batch.step()?);
    }
    anyhow::ensure!(tokens == b * n, "generated {tokens} tokens, expected {}", b * n);
    Ok(start.elapsed().as_secs_f64())
}

/// The name of batched `case` with loam's weights in `format` (PyTorch's stay f32).
pub fn quant_case(case: &str, format: QuantFormat) -> String {
    format!("{case}, loam {format} vs f32")
}

/// Batch `b` with random GPT-2 124M weights on `device`, in `quant` when given (on the CPU
/// only): one warm-up, then the median of [`RUNS`] timed runs, in aggregate tokens per second.
pub fn run_batch(b: usize, quant: Option<QuantFormat>, device: Device) -> Result<Vec<Record>> {
    let store = ParamStore::new(0);
    let (gpt, _store) = Gpt::new(&GptConfig::default(), &store)?.to_device(&store, device)?;
    let (gpt, weights) = match quant {
        None => (gpt, None),
        Some(format) => {
            eprintln!("bench gpt2-generate: loam weights {format} (PyTorch: f32)");
            (gpt.quantize(format)?, Some(format))
        }
    };
    batch_secs(&gpt, b, 8)?;
    let mut times = (0..RUNS).map(|_| batch_secs(&gpt, b, NEW_TOKENS)).collect::<Result<Vec<_>>>()?;
    times.sort_by(f64::total_cmp);
    let secs = times[RUNS / 2];
    let case = format!("gpt2-124M greedy, cache, batch {b}, 16/14/12/10+128");
    let case = on_device(weights.map_or(case.clone(), |format| quant_case(&case, format)), device);
    Ok(vec![Record::loam(
        "gpt2-generate",
        &case,
        &[("tokens_per_s", (b * NEW_TOKENS) as f64 / secs), ("ms_per_iter", secs * 1e3 / NEW_TOKENS as f64)],
    )])
}
