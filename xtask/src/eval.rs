//! `cargo xtask eval`: perplexity of a model (a loam run, a Hugging Face folder or a hub id)
//! on a text file; for a masked LM (a loam MLM run, a `BertForMaskedLM`), the masked-token
//! accuracy and MLM perplexity on windows masked with a fixed seed.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use loam_lm::{Architecture, AutoModel, CausalLm, GenerationConfig, MlmScoreOptions, generate_ids, mlm_score, perplexity};
use loam_text::Tokenizer;

use crate::model_arg::{self, MODEL_HELP};

/// Arguments of `cargo xtask eval`.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, help = MODEL_HELP)]
    model: String,
    /// The text to score (UTF-8).
    #[arg(long)]
    corpus: PathBuf,
    /// Slide the window by this many tokens (each scored token sees up to a block of
    /// context); non-overlapping windows otherwise.
    #[arg(long)]
    stride: Option<usize>,
    /// Windows per forward pass (at least 1).
    #[arg(long, default_value_t = 16, value_parser = at_least_one)]
    batch: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Masked LM: the seed of the masking (the same seed, the same figures).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Masked LM: mask whole words (a token and its `##` pieces); a loam run's config can
    /// also ask for it.
    #[arg(long)]
    whole_word_mask: bool,
    /// Evaluate with the linear layers quantized in memory: int8, q4 or bf16; also prints the
    /// greedy agreement with the f32 model (prompts taken from the corpus).
    #[arg(long, value_parser = crate::quantize::parse_format)]
    quant: Option<loam_tensor::QuantFormat>,
    /// Device: `cpu`, `cuda` (GPU 0) or `cuda:N` (loam built with `--features cuda`; loam
    /// runs and GPT-2 only; not with --quant).
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// A count that must be at least 1.
fn at_least_one(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Prints mean NLL, perplexity and bits per token and per character.
pub fn run(args: &Args) -> Result<()> {
    let device = loam_lm::select_device(&args.device)?;
    if device != loam_tensor::Device::Cpu && args.quant.is_some() {
        bail!("--quant runs on the CPU only; leave it out with --device {device}");
    }
    let mut m = model_arg::load(&args.model)?.to_device(device)?;
    let f32_model = match args.quant {
        Some(format) => {
            let exact = model_arg::load(&args.model)?;
            m.quantize(format)?;
            Some(exact)
        }
        None => None,
    };
    let text = std::fs::read_to_string(&args.corpus).with_context(|| format!("reading {}", args.corpus.display()))?;
    if m.masked_lm().is_ok() {
        return run_masked(args, &m, &text);
    }
    let ids: Vec<usize> = m.tokenizer.encode(&text, false)?.into_iter().map(|i| i as usize).collect();
    let chars_of = |t: &[usize]| {
        let ids: Vec<u32> = t.iter().map(|&i| i as u32).collect();
        m.tokenizer.decode(&ids, false).map_or(t.len(), |s| s.chars().count())
    };
    let p = perplexity(m.causal_lm()?, &ids, args.stride, args.batch, &chars_of)?;
    let agreement = match &f32_model {
        Some(exact) => Some(greedy_agreement(exact.causal_lm()?, m.causal_lm()?, &ids)?),
        None => None,
    };
    let unit = m.tokenizer.kind();
    if args.json {
        let mut v = serde_json::to_value(p)?;
        v["token_unit"] = unit.into();
        if let (Some(format), Some(a)) = (args.quant, agreement) {
            v["quant"] = format.name().into();
            v["greedy_agreement"] = a.into();
        }
        println!("{v}");
    } else {
        println!("tokens scored    {} ({unit} tokens), {} characters", p.tokens, p.chars);
        println!("mean NLL         {:.4} nats/token", p.mean_nll);
        println!("perplexity       {:.4} per {unit} token", p.perplexity);
        println!("bits per token   {:.4}", p.bits_per_token);
        println!("bits per char    {:.4}", p.bits_per_char);
        if let (Some(format), Some(a)) = (args.quant, agreement) {
            println!(
                "greedy agreement {:.4} of {AGREE_PROMPTS} × {AGREE_TOKENS} tokens the same as f32 ({format} weights)",
                a
            );
        }
    }
    Ok(())
}

/// Prints the masked-token accuracy and the MLM perplexity of a masked LM: every
/// non-overlapping window of the model's positions, masked with `--seed` (BERT's 15%, 80/10/10).
fn run_masked(args: &Args, m: &AutoModel, text: &str) -> Result<()> {
    if args.stride.is_some() {
        bail!("--stride applies to causal language models; a masked LM is scored on non-overlapping windows");
    }
    let model = m.masked_lm()?;
    let (mask_prob, whole_word) = match &m.architecture {
        Architecture::LoamRun { config, .. } => (config.data.mask_prob, config.data.whole_word_mask || args.whole_word_mask),
        _ => (0.15, args.whole_word_mask),
    };
    let block = model.bert.config.max_position_embeddings;
    let ids = m.tokenizer.encode(text, false)?;
    let options = MlmScoreOptions { block, batch: args.batch, seed: args.seed, mask_prob, whole_word };
    let s = mlm_score(model, &m.tokenizer, &ids, &options)?;
    if args.json {
        let mut v = serde_json::to_value(s)?;
        v["seed"] = args.seed.into();
        v["whole_word_mask"] = whole_word.into();
        println!("{v}");
    } else {
        println!("windows          {} of {block} tokens, masking seed {}{}", s.windows, args.seed, if whole_word { ", whole words" } else { "" });
        println!("masked tokens    {}", s.masked);
        println!("mean NLL         {:.4} nats/masked token", s.mean_nll);
        println!("MLM perplexity   {:.4}", s.perplexity);
        println!("masked accuracy  {:.4}", s.accuracy);
    }
    Ok(())
}

/// Prompts of the greedy agreement check, spread over the corpus.
const AGREE_PROMPTS: usize = 8;
/// Prompt tokens and generated tokens of each.
const AGREE_PROMPT_LEN: usize = 16;
/// Tokens generated greedily after each prompt.
const AGREE_TOKENS: usize = 32;

/// The fraction of greedy tokens (position by position) that `quantized` generates as `exact`
/// does, after [`AGREE_PROMPTS`] prompts taken at even steps through `ids`.
fn greedy_agreement(exact: &dyn CausalLm, quantized: &dyn CausalLm, ids: &[usize]) -> Result<f64> {
    anyhow::ensure!(ids.len() >= AGREE_PROMPT_LEN, "the corpus is shorter than a {AGREE_PROMPT_LEN}-token prompt");
    let cfg = GenerationConfig { max_new_tokens: AGREE_TOKENS, ..GenerationConfig::default() };
    let step = (ids.len() - AGREE_PROMPT_LEN) / AGREE_PROMPTS;
    let (mut same, mut total) = (0usize, 0usize);
    for i in 0..AGREE_PROMPTS {
        let prompt = &ids[i * step..i * step + AGREE_PROMPT_LEN];
        let (a, _) = generate_ids(exact, prompt, &cfg, true, &mut |_| true)?;
        let (b, _) = generate_ids(quantized, prompt, &cfg, true, &mut |_| true)?;
        same += a.iter().zip(&b).filter(|(x, y)| x == y).count();
        total += a.len().max(b.len());
    }
    Ok(same as f64 / total.max(1) as f64)
}
