//! `cargo xtask generate`: continues a prompt with a trained model, streaming to stdout.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use loam_lm::{GenerationConfig, generate, load_model};
use loam_text::Tokenizer;

/// Arguments of `cargo xtask generate`.
#[derive(clap::Args)]
pub struct Args {
    /// A model folder (a checkpoint, e.g. runs/default/best).
    #[arg(long)]
    model: PathBuf,
    /// The text to continue.
    #[arg(long)]
    prompt: String,
    /// New tokens at most.
    #[arg(long, default_value_t = 200)]
    max_new_tokens: usize,
    /// Sampling temperature, ≥ 0 (0 is greedy); sampling is on unless --greedy.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Keep the k most likely tokens.
    #[arg(long)]
    top_k: Option<usize>,
    /// Keep the smallest set with probability ≥ p, p in (0, 1].
    #[arg(long)]
    top_p: Option<f32>,
    /// Keep tokens with probability ≥ min_p × the largest, min_p in [0, 1].
    #[arg(long)]
    min_p: Option<f32>,
    /// Penalty on tokens already present, > 0 (1: off).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f32,
    /// Ban repeating n-grams of this size (0: off).
    #[arg(long, default_value_t = 0)]
    no_repeat_ngram_size: usize,
    /// Stop at this string (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Stop at this token id (repeatable).
    #[arg(long)]
    stop_token: Vec<u32>,
    /// Seed of the sampling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Take the most likely token each step.
    #[arg(long)]
    greedy: bool,
    /// Print one JSON object with the text and the token ids instead of streaming.
    #[arg(long)]
    json: bool,
}

/// Streams the continuation (or prints it as JSON).
pub fn run(args: &Args) -> Result<()> {
    let cfg = GenerationConfig {
        max_new_tokens: args.max_new_tokens,
        do_sample: !args.greedy,
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repetition_penalty: args.repetition_penalty,
        no_repeat_ngram_size: args.no_repeat_ngram_size,
        eos_ids: args.stop_token.clone(),
        stop_strings: args.stop.clone(),
        seed: args.seed,
    };
    // refused before the model is read
    cfg.validate()?;
    let m = load_model(&args.model)?;
    // a prompt the vocabulary cannot spell is refused before it is echoed
    m.tokenizer.encode(&args.prompt, false)?;
    let mut out = std::io::stdout().lock();
    if !args.json {
        write!(out, "{}", args.prompt)?;
    }
    let json = args.json;
    let g = generate(&m.gpt, &m.tokenizer, &args.prompt, &cfg, &mut |piece| {
        if !json {
            let _ = write!(out, "{piece}");
            let _ = out.flush();
        }
    })?;
    if json {
        println!("{}", serde_json::json!({ "prompt": args.prompt, "text": g.text, "ids": g.ids, "finish_reason": g.finish_reason, "prompt_tokens": g.prompt_tokens }));
    } else {
        writeln!(out)?;
    }
    Ok(())
}
