//! `cargo xtask embed --model DIR --input FILE [--output FILE]`: sentence embeddings of each
//! line of a file, written as JSON lines `{"text":…,"embedding":[…]}`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use loam_lm::hf::{SentenceEncoder, minilm_dir};

/// Arguments of `cargo xtask embed`.
#[derive(clap::Args)]
pub struct EmbedArgs {
    /// A sentence-transformers model folder (default: all-MiniLM-L6-v2 from `LOAM_MINILM_DIR`
    /// or loam's cache, fetched when missing).
    #[arg(long)]
    model: Option<PathBuf>,
    /// A UTF-8 text file: one sentence per line (`-` reads standard input).
    #[arg(long)]
    input: PathBuf,
    /// Where to write the JSON lines (default: standard output).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Sentences per forward pass.
    #[arg(long, default_value_t = loam_lm::hf::DEFAULT_BATCH_SIZE)]
    batch_size: usize,
}

/// Refuses a model folder whose `config.json` names a model type other than BERT (a GPT-2
/// folder, say), before its config is read as a BERT one; a folder without it is left to the
/// loader's own errors.
fn check_model_type(dir: &Path) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(dir.join("config.json")) else { return Ok(()) };
    let config: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("reading {}", dir.join("config.json").display()))?;
    match config["model_type"].as_str() {
        Some(kind) if kind != "bert" => {
            anyhow::bail!("{}: model type `{kind}` is not supported by embed, which takes BERT-family sentence encoders (`bert`)", dir.display())
        }
        _ => Ok(()),
    }
}

/// Embeds every line of the input and writes one JSON object per line, in input order.
pub fn run(args: EmbedArgs) -> Result<()> {
    let model = match args.model {
        Some(dir) => dir,
        None => minilm_dir()?,
    };
    check_model_type(&model)?;
    let mut encoder = SentenceEncoder::from_dir(&model).with_context(|| format!("loading {}", model.display()))?;
    encoder.batch_size = args.batch_size.max(1);
    let text = if args.input.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading standard input")?
    } else {
        std::fs::read_to_string(&args.input).with_context(|| format!("reading {}", args.input.display()))?
    };
    let lines: Vec<&str> = text.lines().collect();
    let embeddings = encoder.encode(&lines)?;
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(sink);
    for (line, embedding) in lines.iter().zip(&embeddings) {
        let text = serde_json::to_string(line)?;
        let vector = serde_json::to_string(embedding)?;
        writeln!(out, "{{\"text\":{text},\"embedding\":{vector}}}")?;
    }
    out.flush()?;
    eprintln!("embed: {} sentences, {} dimensions, model {}", lines.len(), encoder.dim(), model.display());
    Ok(())
}
