//! `cargo xtask quantize --model DIR --to int8|q4|bf16 --out DIR2 [--overwrite]`: a model
//! folder (GPT-2, BERT, Llama, Qwen2, T5, BART) with its linear layers' weights quantized,
//! which every command then loads with `--model DIR2`.

use std::path::PathBuf;

use anyhow::Result;
use loam_lm::quantize_folder;
use loam_tensor::{QuantFormat, kernel_path};

/// Arguments of `cargo xtask quantize`.
#[derive(clap::Args)]
pub struct Args {
    /// A Hugging Face model folder or hub id (GPT-2, BERT, Llama, Qwen2, T5, BART).
    #[arg(long)]
    model: String,
    /// The weight format: int8 (per output channel), q4 (4-bit groups of 32) or bf16.
    #[arg(long, value_parser = parse_format)]
    to: QuantFormat,
    /// The folder to write (created; an existing non-empty one needs --overwrite).
    #[arg(long)]
    out: PathBuf,
    /// Replace `--out` when it exists and is not empty.
    #[arg(long)]
    overwrite: bool,
}

/// A `--to` or `--quant` value as a format.
pub fn parse_format(s: &str) -> std::result::Result<QuantFormat, String> {
    QuantFormat::parse(s).map_err(|e| e.to_string())
}

/// Quantizes the model and prints what was written.
pub fn run(args: &Args) -> Result<()> {
    let src = loam_lm::hf::resolve_model(&args.model, &mut |line| eprintln!("fetch: {line}"))?;
    let r = quantize_folder(&src, args.to, &args.out, args.overwrite)?;
    let mb = |b: usize| b as f64 / 1e6;
    println!(
        "quantize: {} {} → {}: {} weight matrices, {:.1} MB in f32 → {:.1} MB {} ({:.2}x smaller); model.safetensors {:.1} MB; kernels {:?}",
        r.model_type,
        src.display(),
        args.out.display(),
        r.weights,
        mb(r.f32_bytes),
        mb(r.quantized_bytes),
        r.format,
        r.f32_bytes as f64 / r.quantized_bytes.max(1) as f64,
        r.file_bytes as f64 / 1e6,
        kernel_path()
    );
    Ok(())
}
