//! The loam side of `cargo xtask bench llama-generate`: a Llama at SmolLM2-360M's shape (960
//! wide, 32 layers, 15 heads over 5 k/v heads, SwiGLU 2560, 49152 tokens, tied head) with
//! random weights, batch 1, a 256-token prompt, in f32 and with bfloat16 weights. Two figures
//! per dtype: prompt processing (one forward over the 256 tokens with the logits of the last
//! position only, as generation's first step computes them; tokens/s) and greedy decoding
//! with the KV cache after that prompt (tokens/s of the new tokens alone: the time of
//! 1 + `NEW_TOKENS` tokens less the time of 1, so the prompt is not counted).
//!
//! The shape, prompt and timing rule match `xtask/py/llama-generate.py` (Hugging Face
//! transformers' `LlamaForCausalLM`), so the two sides line up by case.

use std::time::Instant;

use anyhow::Result;
use loam_lm::{GenerationConfig, Llama, LlamaConfig, generate_ids};
use loam_nn::{Ctx, ParamStore};
use loam_tensor::no_grad;

use crate::record::Record;

/// Prompt length.
const PROMPT: usize = 256;
/// New tokens of a timed decoding run (after the first).
const NEW_TOKENS: usize = 32;
/// Timed runs; the median counts.
const RUNS: usize = 3;

/// SmolLM2-360M's shape.
pub fn config() -> LlamaConfig {
    LlamaConfig {
        n_layer: 32,
        n_head: 15,
        n_kv_head: 5,
        n_embd: 960,
        head_dim: None,
        intermediate_size: 2560,
        block_size: 8192,
        vocab_size: 49152,
        rms_norm_eps: 1e-5,
        rope_theta: 100_000.0,
        rope_scaling: None,
        attention_bias: false,
        attention_out_bias: false,
        tie_embeddings: true,
        initializer_range: 0.02,
    }
}

/// The prompt both sides use: 256 ids spread over the vocabulary.
fn prompt(vocab: usize) -> Vec<usize> {
    (0..PROMPT).map(|i| (i * 3001 + 17) % vocab).collect()
}

/// Seconds of one forward over the prompt (a fresh cache and the last position's logits, as
/// generation's first step).
fn prompt_secs(model: &Llama) -> Result<f64> {
    let _g = no_grad();
    let ids = prompt(model.config.vocab_size);
    let mut cache = model.new_cache();
    let start = Instant::now();
    model.forward_last(&ids, 1, ids.len(), None, Some(&mut cache), &mut Ctx::eval())?;
    Ok(start.elapsed().as_secs_f64())
}

/// Seconds to generate `n` tokens greedily after the prompt.
fn generate_secs(model: &Llama, n: usize) -> Result<f64> {
    let cfg = GenerationConfig { max_new_tokens: n, ..GenerationConfig::default() };
    let start = Instant::now();
    let (out, _) = generate_ids(model, &prompt(model.config.vocab_size), &cfg, true, &mut |_| true)?;
    anyhow::ensure!(out.len() == n, "generated {} tokens, expected {n}", out.len());
    Ok(start.elapsed().as_secs_f64())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// The two records of one dtype: one warm-up, then medians of [`RUNS`] timed runs.
fn measure(model: &Llama, dtype: &str) -> Result<Vec<Record>> {
    generate_secs(model, 2)?;
    let prompt = median((0..RUNS).map(|_| prompt_secs(model)).collect::<Result<_>>()?);
    let one = median((0..RUNS).map(|_| generate_secs(model, 1)).collect::<Result<_>>()?);
    let many = median((0..RUNS).map(|_| generate_secs(model, 1 + NEW_TOKENS)).collect::<Result<_>>()?);
    let decode = (many - one).max(1e-9);
    Ok(vec![
        Record::loam(
            "llama-generate",
            &format!("smollm2-360M {dtype} prompt 256"),
            &[("tokens_per_s", PROMPT as f64 / prompt), ("ms_per_iter", prompt * 1e3)],
        ),
        Record::loam(
            "llama-generate",
            &format!("smollm2-360M {dtype} greedy after 256"),
            &[
                ("tokens_per_s", NEW_TOKENS as f64 / decode),
                ("ms_per_iter", decode * 1e3 / NEW_TOKENS as f64),
                ("gb_per_s", model.weight_bytes() as f64 * NEW_TOKENS as f64 / decode / 1e9),
            ],
        ),
    ])
}

/// f32, then bfloat16 weights (the f32 model is dropped before the bf16 one is timed).
pub fn run() -> Result<Vec<Record>> {
    let model = Llama::new(&config(), &ParamStore::new(0))?;
    let mut records = measure(&model, "f32")?;
    let bf16 = model.to_bf16()?;
    drop(model);
    records.extend(measure(&bf16, "bf16")?);
    Ok(records)
}
