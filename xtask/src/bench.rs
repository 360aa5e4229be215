//! `cargo xtask bench NAME [--compare-pytorch] [--json] [--rounds N]`: named benchmarks.
//!
//! Each benchmark is one file `bench_<name>.rs` whose `run` returns the loam side's records;
//! its PyTorch side is `xtask/py/<name>.py`, printing the same JSON lines. To add one, add a
//! variant to [`BenchName`] and an arm in [`loam_records`].

use anyhow::{Result, bail};
use clap::ValueEnum;
use loam_tensor::{Device, QuantFormat};

use crate::record::{self, Record};
use crate::{
    bench_amx_f32_pairwise, bench_amx_pairwise, bench_block, bench_embed, bench_gemm_pairwise, bench_gpt2_generate, bench_gpt2_train, bench_llama_generate,
    bench_matmul, bench_search,
    bench_seq2seq_generate, bench_serve,
    bench_tokenize, bench_train_shakespeare, pytorch,
};

/// The named benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchName {
    /// Matrix products (GFLOP/s), softmax, layer norm, cross-entropy and add (GB/s).
    Matmul,
    /// Matrix products against PyTorch's own BLAS in this process, in alternating blocks of
    /// calls (GFLOP/s, pairwise ratio); always compares, needs python3 with torch.
    GemmPairwise,
    /// AMX products with bf16, int8 and 4-bit weights against the paths they replace, in this
    /// process, in alternating blocks of calls (GFLOP/s, pairwise ratio); loam only, needs AMX.
    AmxPairwise,
    /// f32 products on AMX (exact bf16 split) against the f32 FMA kernels, in this process, in
    /// alternating blocks of calls (GFLOP/s, pairwise ratio); loam only, needs AMX.
    AmxF32Pairwise,
    /// One pre-LN decoder block, forward + backward (ms/iter, tokens/s).
    Block,
    /// Tokenization throughput (MB/s) and dataset build time (loam only).
    Tokenize,
    /// The shakespeare-char training recipe: ms/iter, tokens/s, val_loss_full, memory.
    TrainShakespeare,
    /// all-MiniLM-L6-v2 sentence embeddings (sentences/s).
    Embed,
    /// GPT-2 124M-shaped greedy generation with the KV cache (tokens/s).
    Gpt2Generate,
    /// GPT-2 124M training steps at B×T = 16×1024 (tokens/s, MFU); bf16 autocast on CUDA;
    /// the PyTorch side eager and with torch.compile.
    Gpt2Train,
    /// SmolLM2-360M-shaped Llama: 256-token prompt processing and greedy decoding after it
    /// (tokens/s), f32 and bfloat16 weights.
    LlamaGenerate,
    /// flan-t5-small-shaped T5: greedy and beam-4 generation with the caches (tokens/s).
    Seq2seqGenerate,
    /// Semantic search at 10k and 100k chunks: indexing docs/s, queries/s, HNSW recall@10,
    /// memory (loam only).
    Search,
    /// The HTTP server under load on loopback: 64 × 20 assistant requests, 16 × 10 streamed
    /// generations (requests/s, p50, p99; loam only; `--database` for PostgreSQL).
    Serve,
}

impl BenchName {
    /// The benchmark's name on the command line and in its records.
    fn name(self) -> &'static str {
        match self {
            BenchName::Matmul => "matmul",
            BenchName::GemmPairwise => "gemm-pairwise",
            BenchName::AmxPairwise => "amx-pairwise",
            BenchName::AmxF32Pairwise => "amx-f32-pairwise",
            BenchName::Block => "block",
            BenchName::Tokenize => "tokenize",
            BenchName::TrainShakespeare => "train-shakespeare",
            BenchName::Embed => "embed",
            BenchName::Gpt2Generate => "gpt2-generate",
            BenchName::Gpt2Train => "gpt2-train",
            BenchName::LlamaGenerate => "llama-generate",
            BenchName::Seq2seqGenerate => "seq2seq-generate",
            BenchName::Search => "search",
            BenchName::Serve => "serve",
        }
    }
}

/// Arguments of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    /// The benchmark to run.
    name: BenchName,
    /// Also run the PyTorch side (python3 with torch) and show the loam/PyTorch ratio.
    #[arg(long)]
    compare_pytorch: bool,
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// The corpus of `tokenize` and `train-shakespeare` (default: `LOAM_TINYSHAKESPEARE`).
    #[arg(long)]
    corpus: Option<std::path::PathBuf>,
    /// Optimizer steps of `train-shakespeare` (default: the recipe's 2000), on both sides;
    /// timed steps of `gpt2-train` (default 10).
    #[arg(long)]
    iters: Option<usize>,
    /// The device of `gpt2-train` and `gpt2-generate`, for both sides: cpu, cuda or cuda:N
    /// (loam built with `--features cuda`).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Run loam and PyTorch alternately this many times and report each figure's median over
    /// the rounds: on a shared machine the speed drifts by tens of percent within seconds, and
    /// alternating exposes both sides to the same drift.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=50))]
    rounds: u32,
    /// The model of `gpt2-generate` (a GPT-2 folder or hub id, instead of random weights) and
    /// of `embed` (instead of all-MiniLM-L6-v2); loam side only.
    #[arg(long)]
    model: Option<String>,
    /// The loam side's weight format for `gpt2-generate`, `seq2seq-generate` and `embed`: int8,
    /// q4 or bf16 (linear layers, and GPT-2's tied head, quantized in memory); f32 when not
    /// given.
    #[arg(long, value_parser = crate::quantize::parse_format)]
    quant: Option<QuantFormat>,
    /// The database of `serve` (default: SQLite in a temporary folder), e.g. postgres://…
    #[arg(long)]
    database: Option<String>,
    /// Sequences decoded together by `gpt2-generate` (prompts of 16, 14, 12 and 10 tokens in
    /// turn, left-padded on the PyTorch side); the figure is aggregate tokens per second.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    batch: u32,
}

/// The loam side's records of `name` on `device`.
fn loam_records(args: &Args, device: Device) -> Result<Vec<Record>> {
    match args.name {
        BenchName::Matmul => bench_matmul::run(),
        BenchName::GemmPairwise => bench_gemm_pairwise::run(rayon::current_num_threads()),
        BenchName::AmxPairwise => bench_amx_pairwise::run(),
        BenchName::AmxF32Pairwise => bench_amx_f32_pairwise::run(),
        BenchName::Block => bench_block::run(),
        BenchName::Tokenize => bench_tokenize::run(args.corpus.clone()),
        BenchName::TrainShakespeare => {
            bench_train_shakespeare::run_loam(&bench_train_shakespeare::corpus(args.corpus.as_deref())?, args.iters)
        }
        BenchName::Embed => bench_embed::run(args.model.as_deref(), args.quant),
        BenchName::Gpt2Generate if args.batch > 1 => bench_gpt2_generate::run_batch(args.batch as usize, args.quant, device),
        BenchName::Gpt2Generate => bench_gpt2_generate::run(args.model.as_deref(), args.quant, device),
        BenchName::Gpt2Train => bench_gpt2_train::run(device, args.iters),
        BenchName::LlamaGenerate => bench_llama_generate::run(),
        BenchName::Seq2seqGenerate => bench_seq2seq_generate::run(args.quant),
        BenchName::Search => bench_search::run(),
        BenchName::Serve => bench_serve::run(args.database.as_deref()),
    }
}

/// The PyTorch side's records of `name` on `threads` threads and `device`.
fn pytorch_records(args: &Args, threads: usize, device: Device) -> Result<Vec<Record>> {
    let on = device.to_string();
    let steps = args.iters.unwrap_or(bench_gpt2_train::STEPS).to_string();
    match args.name {
        BenchName::TrainShakespeare => bench_train_shakespeare::run_pytorch(
            &bench_train_shakespeare::corpus(args.corpus.as_deref())?,
            threads,
            args.iters,
        ),
        BenchName::Gpt2Generate => {
            let mut records = pytorch::run_with(args.name.name(), threads, &["--batch", &args.batch.to_string(), "--device", &on])?;
            // the batched case names loam's weight format: PyTorch's f32 row is its reference
            if let (Some(format), true) = (args.quant, args.batch > 1) {
                records.iter_mut().for_each(|r| r.case = bench_gpt2_generate::quant_case(&r.case, format));
            }
            Ok(records)
        }
        BenchName::Seq2seqGenerate => {
            let mut records = pytorch::run(args.name.name(), threads)?;
            // loam's case names its weight format: PyTorch's f32 row is its reference
            if let Some(format) = args.quant {
                records.iter_mut().for_each(|r| r.case = bench_gpt2_generate::quant_case(&r.case, format));
            }
            Ok(records)
        }
        BenchName::Gpt2Train => {
            let compile = if device == Device::Cpu { "off" } else { "both" };
            pytorch::run_with(args.name.name(), threads, &["--device", &on, "--steps", &steps, "--compile", compile])
        }
        other => pytorch::run(other.name(), threads),
    }
}

/// Runs the benchmark (and its PyTorch side when asked) and prints its figures.
pub fn run(args: &Args) -> Result<()> {
    if args.compare_pytorch && matches!(args.name, BenchName::Search | BenchName::Serve | BenchName::AmxPairwise | BenchName::AmxF32Pairwise) {
        bail!("bench {} has no PyTorch side; run it without --compare-pytorch", args.name.name());
    }
    if args.database.is_some() && args.name != BenchName::Serve {
        bail!("--database applies to bench serve");
    }
    if args.compare_pytorch && args.name == BenchName::Tokenize {
        bail!("bench tokenize has no PyTorch side (its reference is the tokenizers crate it runs on); run it without --compare-pytorch");
    }
    if args.model.is_some() && !matches!(args.name, BenchName::Embed | BenchName::Gpt2Generate) {
        bail!("--model applies to bench gpt2-generate and embed");
    }
    let quantizable = matches!(args.name, BenchName::Embed | BenchName::Gpt2Generate | BenchName::Seq2seqGenerate);
    if args.quant.is_some() && !quantizable {
        bail!("--quant applies to bench gpt2-generate, seq2seq-generate and embed");
    }
    if args.batch > 1 && args.name != BenchName::Gpt2Generate {
        bail!("--batch applies to bench gpt2-generate only");
    }
    if args.batch > 1 && args.model.is_some() {
        bail!("--batch runs the GPT-2 124M shape with random weights; leave out --model");
    }
    let device = loam_lm::select_device(&args.device)?;
    if device != Device::Cpu && !matches!(args.name, BenchName::Gpt2Train | BenchName::Gpt2Generate) {
        bail!("--device applies to bench gpt2-train and gpt2-generate");
    }
    if device != Device::Cpu && args.quant.is_some() {
        bail!("--quant runs on the CPU only; leave it out with --device {device}");
    }
    if args.iters.is_some() && !matches!(args.name, BenchName::TrainShakespeare | BenchName::Gpt2Train) {
        bail!("--iters applies to bench train-shakespeare and gpt2-train");
    }
    if args.model.is_some() && args.compare_pytorch {
        bail!("--model runs the loam side only: the PyTorch side of bench {} has its own model", args.name.name());
    }
    // gemm-pairwise measures both sides in one process, always
    let compare_pytorch = args.compare_pytorch && args.name != BenchName::GemmPairwise;
    if compare_pytorch {
        pytorch::ensure_available()?;
    }
    let threads = rayon::current_num_threads();
    let name = args.name.name();
    if cfg!(debug_assertions) {
        eprintln!(
            "note: this build has debug assertions on, which slow loam's kernels 2-4x; \
             `cargo xtask` (the release profile) builds without them"
        );
    }
    let on = if device == Device::Cpu { format!("{threads} threads") } else { device.to_string() };
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        let of = if args.rounds > 1 { format!(" (round {round} of {})", args.rounds) } else { String::new() };
        eprintln!("bench {name}: loam, {on}{of}");
        let mut records = loam_records(args, device)?;
        if compare_pytorch {
            eprintln!("bench {name}: pytorch, {on}{of}");
            records.extend(pytorch_records(args, threads, device)?);
        }
        rounds.push(records);
    }
    let records = record::median_of_rounds(&rounds);
    if !args.json {
        println!("{name}, {on} (loam/pytorch: loam's figure divided by PyTorch's)");
    }
    record::print(&records, args.json);
    Ok(())
}
