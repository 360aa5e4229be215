//! `cargo xtask generate`: continues a prompt with any model (a loam run, a Hugging Face
//! folder or a hub id), streaming to stdout. `--model gpt2 --prompt "The quick brown fox"
//! --max-length 50` is `transformers`' first program: greedy (as `generation_config.json`
//! says), `max_length` counting the prompt, the prompt and its continuation printed.

use std::io::Write;

use anyhow::{Result, bail};
use loam_lm::generate;
use loam_text::Tokenizer;

use crate::model_arg::{self, MODEL_HELP, SamplingArgs};

/// New tokens when neither --max-new-tokens nor --max-length is given.
const DEFAULT_NEW_TOKENS: usize = 200;

/// Arguments of `cargo xtask generate`.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, help = MODEL_HELP)]
    model: String,
    /// The text to continue.
    #[arg(long)]
    prompt: String,
    /// New tokens at most (default 200).
    #[arg(long, conflicts_with = "max_length")]
    max_new_tokens: Option<usize>,
    /// Tokens at most, the prompt's included (as `transformers`' `max_length`).
    #[arg(long)]
    max_length: Option<usize>,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Ban repeating n-grams of this size (0: off).
    #[arg(long, default_value_t = 0)]
    no_repeat_ngram_size: usize,
    /// Stop at this string (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Stop at this token id (repeatable), besides the model's EOS ids.
    #[arg(long)]
    stop_token: Vec<u32>,
    /// Print one JSON object with the text and the token ids instead of streaming.
    #[arg(long)]
    json: bool,
}

/// Streams the continuation (or prints it as JSON).
pub fn run(args: &Args) -> Result<()> {
    // out-of-range flags are refused before the model is read
    args.sampling.check()?;
    let m = model_arg::load(&args.model)?;
    let model = m.causal_lm()?;
    let mut cfg = args.sampling.config(&m)?;
    // a prompt the vocabulary cannot spell is refused before it is echoed
    let prompt_tokens = m.tokenizer.encode(&args.prompt, false)?.len();
    cfg.max_new_tokens = match args.max_length {
        Some(max_length) => {
            if max_length <= prompt_tokens {
                bail!("--max-length {max_length} leaves no room: the prompt alone is {prompt_tokens} tokens");
            }
            max_length - prompt_tokens
        }
        None => args.max_new_tokens.unwrap_or(DEFAULT_NEW_TOKENS),
    };
    cfg.no_repeat_ngram_size = args.no_repeat_ngram_size;
    cfg.eos_ids.extend(&args.stop_token);
    cfg.stop_strings = args.stop.clone();
    let mut out = std::io::stdout().lock();
    if !args.json {
        write!(out, "{}", args.prompt)?;
    }
    let json = args.json;
    let g = generate(model, &m.tokenizer, &args.prompt, &cfg, &mut |piece| {
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
