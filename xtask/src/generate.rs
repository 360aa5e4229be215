//! `cargo xtask generate`: continues a prompt with any model (a loam run, a Hugging Face
//! folder or a hub id), streaming to stdout. `--model gpt2 --prompt "The quick brown fox"
//! --max-length 50` is `transformers`' first program: greedy (as `generation_config.json`
//! says), `max_length` counting the prompt, the prompt and its continuation printed.
//!
//! With an encoder–decoder (T5, BART) the prompt is the source (`"summarize: …"`) and the
//! output its target; `--num-beams` runs beam search with either kind of model (sampled beams
//! when sampling is on), and `--stop` strings end greedy, sampled and beam decoding alike.

use std::io::Write;

use anyhow::{Result, bail};
use loam_lm::{AutoModel, BeamConfig, FinishReason, GenerationConfig, Hypothesis, beam_search_seq2seq_stopping, beam_search_stopping, generate, generate_seq2seq_text, text_until_stop};
use loam_tensor::{Device, QuantFormat};
use loam_text::Tokenizer;
use serde_json::json;

use crate::beam_args::BeamArgs;
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
    /// Tokens at most, the prompt's included (as `transformers`' `max_length`; for an
    /// encoder–decoder, the target's with its start token).
    #[arg(long)]
    max_length: Option<usize>,
    #[command(flatten)]
    sampling: SamplingArgs,
    #[command(flatten)]
    beams: BeamArgs,
    /// Ban repeating n-grams of this size (0: off).
    #[arg(long, default_value_t = 0)]
    no_repeat_ngram_size: usize,
    /// Stop as soon as the new text holds this string, cut before it (repeatable; greedy,
    /// sampling and beams).
    #[arg(long)]
    stop: Vec<String>,
    /// Stop at this token id (repeatable), besides the model's EOS ids.
    #[arg(long)]
    stop_token: Vec<u32>,
    /// Print one JSON object with the text and the token ids instead of streaming.
    #[arg(long)]
    json: bool,    /// Device: `cpu`, `cuda` (GPU 0) or `cuda:N` (loam built with `--features cuda`; loam
    /// runs and GPT-2 only).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Generate with the linear layers (and the head) quantized in memory: int8, q4 or bf16,
    /// on the CPU; any model, a loam run folder included. A folder written by `cargo xtask
    /// quantize` computes the same without it.
    #[arg(long, value_parser = crate::quantize::parse_format)]
    quant: Option<QuantFormat>,
}

/// Streams the continuation (or prints it as JSON).
pub fn run(args: &Args) -> Result<()> {
    // out-of-range flags are refused before the model is read
    args.sampling.check()?;
    args.beams.config()?;
    let device = loam_lm::select_device(&args.device)?;
    if device != Device::Cpu && args.quant.is_some() {
        bail!("--quant runs on the CPU only; leave it out with --device {device}");
    }
    let mut m = model_arg::load(&args.model)?;
    if let Some(format) = args.quant {
        m.quantize(format)?;
    }
    let m = m.to_device(device)?;
    let mut cfg = args.sampling.config(&m)?;
    let beam = args.beams.config()?;
    if m.seq2seq_lm().is_some() {
        return run_seq2seq(args, &m, cfg, beam);
    }
    let model = m.causal_lm()?;
    // a prompt the vocabulary cannot spell is refused before it is echoed
    let prompt_ids = m.tokenizer.encode(&args.prompt, false)?;
    let prompt_tokens = prompt_ids.len();
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
    if let Some(beam) = beam {
        let prompt: Vec<usize> = prompt_ids.iter().map(|&i| i as usize).collect();
        let hyps = beam_search_stopping(model, &prompt, &cfg, &beam, &m.tokenizer)?;
        return print_hypotheses(&m, args, &hyps, prompt_tokens, true);
    }
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

/// Generates the target of the prompt with an encoder–decoder: greedy, sampled or beams.
fn run_seq2seq(args: &Args, m: &AutoModel, mut cfg: GenerationConfig, beam: Option<BeamConfig>) -> Result<()> {
    let Some(model) = m.seq2seq_lm() else { bail!("{} is not an encoder–decoder", m.model_type()) };
    // the source with the tokenizer's special tokens (T5 and BART end it with </s>)
    let source: Vec<usize> = m.tokenizer.encode(&args.prompt, true)?.into_iter().map(|i| i as usize).collect();
    cfg.max_new_tokens = match args.max_length {
        // transformers' max_length counts the decoder start token
        Some(0 | 1) => bail!("--max-length must leave room after the decoder start token (2 or more)"),
        Some(max_length) => max_length - 1,
        None => args.max_new_tokens.unwrap_or(DEFAULT_NEW_TOKENS),
    };
    cfg.no_repeat_ngram_size = args.no_repeat_ngram_size;
    if cfg.eos_ids.is_empty() {
        cfg.eos_ids = model.eos_token_ids();
    }
    cfg.eos_ids.extend(&args.stop_token);
    cfg.stop_strings = args.stop.clone();
    let hyps = match beam {
        Some(beam) => beam_search_seq2seq_stopping(model, &source, &cfg, &beam, &m.tokenizer)?,
        None => {
            let g = generate_seq2seq_text(model, &m.tokenizer, &source, &cfg)?;
            vec![Hypothesis { ids: g.ids.iter().map(|&i| i as usize).collect(), score: f32::NAN, finish_reason: g.finish_reason }]
        }
    };
    print_hypotheses(m, args, &hyps, source.len(), false)
}

/// Prints the hypotheses: their text (after the prompt when `echo`; cut before a `--stop`
/// string), each under a line with
/// its rank and score when there are several, or one JSON object with the text, ids and
/// finish reason of the best and, for beams, of all of them.
fn print_hypotheses(m: &AutoModel, args: &Args, hyps: &[Hypothesis], prompt_tokens: usize, echo: bool) -> Result<()> {
    let texts = hyps
        .iter()
        .map(|h| Ok(text_until_stop(&m.tokenizer, &h.ids, &args.stop)?.0))
        .collect::<Result<Vec<String>>>()?;
    let Some(best) = hyps.first() else { bail!("no hypothesis was produced") };
    if args.json {
        let mut out = json!({ "prompt": args.prompt, "text": texts[0], "ids": best.ids, "finish_reason": best.finish_reason, "prompt_tokens": prompt_tokens });
        if best.score.is_finite() {
            out["sequences"] = hyps
                .iter()
                .zip(&texts)
                .map(|(h, t)| json!({ "text": t, "ids": h.ids, "score": h.score, "finish_reason": h.finish_reason }))
                .collect();
        }
        println!("{out}");
        return Ok(());
    }
    for (i, (h, text)) in hyps.iter().zip(&texts).enumerate() {
        if hyps.len() > 1 {
            let reason = if h.finish_reason == FinishReason::Length { "length" } else { "stop" };
            println!("--- {} (score {:.4}, {reason})", i + 1, h.score);
        }
        let prefix = if echo { args.prompt.as_str() } else { "" };
        println!("{prefix}{text}");
    }
    Ok(())
}
