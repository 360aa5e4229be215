//! `cargo xtask embed --model DIR --input FILE [--output FILE]`: sentence embeddings of each
//! line of a file, written as JSON lines `{"text":…,"embedding":[…]}`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use loam_lm::ModelKind;
use loam_lm::hf::{SentenceEncoder, minilm_dir, resolve_model};

/// Arguments of `cargo xtask embed`.
#[derive(clap::Args)]
pub struct EmbedArgs {
    /// A sentence-transformers model folder or hub id (default: all-MiniLM-L6-v2 from
    /// `LOAM_MINILM_DIR` or loam's cache, fetched when missing).
    #[arg(long)]
    model: Option<String>,
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

/// Embeds every line of the input and writes one JSON object per line, in input order.
pub fn run(args: EmbedArgs) -> Result<()> {
    let model = match &args.model {
        Some(model) => resolve_model(model, &mut |line| eprintln!("fetch: {line}"))?,
        None => minilm_dir()?,
    };
    let kind = ModelKind::detect(&model)?;
    if kind != ModelKind::Bert {
        bail!("{}: embed needs a BERT-family sentence encoder, this is a {kind:?} model", model.display());
    }
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
