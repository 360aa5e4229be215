//! `cargo xtask`: the command line of the loam workspace (tests, layer check, data, training,
//! evaluation, generation, pretrained models, benchmarks, scoring, summaries, the assistant and
//! its safety layer).

mod assistant;
mod beam_args;
mod bandwidth;
mod bench;
mod bench_amx_f32_pairwise;
mod bench_amx_pairwise;
mod bench_block;
mod bench_embed;
mod bench_gemm_pairwise;
mod bench_gpt2_generate;
mod bench_gpt2_train;
mod bench_llama_generate;
mod bench_matmul;
mod bench_search;
mod bench_seq2seq_generate;
mod bench_serve;
mod bench_tokenize;
mod bench_train_shakespeare;
mod cargo;
mod chat;
mod check_layers;
mod data;
mod embed;
mod eval;
mod export;
mod fetch_model;
mod fill_mask;
mod generate;
mod measure;
mod model_arg;
mod provider_arg;
mod pytorch;
mod quantize;
mod record;
mod safety;
mod score;
mod summarize;
mod search;
mod search_map;
mod seq2seq_task;
mod serve;
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
    /// Train a GPT, Llama or BERT (the built-in GPT run without arguments).
    Train(train::Args),
    /// Perplexity of a trained model on a text file (masked-token accuracy and MLM
    /// perplexity for a masked LM).
    Eval(eval::Args),
    /// Write a loam encoder–decoder run in Hugging Face's BART layout.
    Export(export::Args),
    /// The likeliest tokens at each [MASK] of a text, with a masked language model.
    FillMask(fill_mask::Args),
    /// Continue a prompt with any model (run folder, Hugging Face folder or hub id), streaming.
    Generate(generate::Args),
    /// Chat in the terminal with a model that has a chat template (or answer a messages file).
    Chat(chat::Args),
    /// Sentence embeddings of a file's lines with a BERT-family model, as JSON lines.
    Embed(embed::EmbedArgs),
    /// Obtain a pretrained model (a pinned one, or any hub id) and cache it.
    FetchModel(fetch_model::FetchModelArgs),
    /// Run a named benchmark and print its figures.
    Bench(bench::Args),
    /// Quantize a model folder's linear layers to int8, 4-bit or bf16 (a new folder).
    Quantize(quantize::Args),
    /// ROUGE or BLEU of a file of hypotheses against reference files, line by line.
    Score(score::Args),
    /// An extractive summary of a text file (TextRank, sentences in document order).
    Summarize(summarize::Args),
    /// Semantic search: index a folder, query an index, score labelled queries.
    Search(search::Args),
    /// Synthetic (source, target) pairs for the encoder–decoder: dates, reverse or sort.
    Seq2seqData(seq2seq_task::Args),
    /// Product descriptions or ad copy for a file of products, checked against constraints.
    Write(write::Args),
    /// The support assistant's safety layer: score it on the labelled sets, or check one text.
    Safety(safety::Args),
    /// The OpenAI-compatible HTTP server (chat, completions, embeddings, search, the web page).
    Serve(loam_apps::server::ServeArgs),
    /// The customer-service assistant: chat in the terminal, or measure it on labelled sets.
    Assistant(assistant::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.task {
        Task::Test(args) => test::run(&args),
        Task::CheckLayers => check_layers::run(),
        Task::Data(args) => data::run(args),
        Task::Train(args) => train::run(&args),
        Task::Eval(args) => eval::run(&args),
        Task::Export(args) => export::run(&args),
        Task::FillMask(args) => fill_mask::run(&args),
        Task::Generate(args) => generate::run(&args),
        Task::Chat(args) => chat::run(&args),
        Task::Embed(args) => embed::run(args),
        Task::FetchModel(args) => fetch_model::run(args),
        Task::Bench(args) => bench::run(&args),
        Task::Quantize(args) => quantize::run(&args),
        Task::Score(args) => score::run(&args),
        Task::Summarize(args) => summarize::run(&args),
        Task::Search(args) => search::run(args),
        Task::Seq2seqData(args) => seq2seq_task::run(&args),
        Task::Write(args) => write::run(&args),
        Task::Safety(args) => safety::run(args),
        Task::Serve(args) => serve::run(&args),
        Task::Assistant(args) => assistant::run(args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<train::Interrupted>() => {
            eprintln!("{err}");
            ExitCode::from(130)
        }
        Err(err) => {
            eprintln!("error: {}", one_line(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, `a: b: c`, leaving out a cause whose text the line
/// already holds (errors that print their source, as I/O errors often do, would repeat it).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_os_error_is_printed_once() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let wrapped = anyhow::Error::new(loam_text::TextError::Io { action: "opening corpus", path: "c.txt".into(), source: io }).context("building a dataset");
        let line = one_line(&wrapped);
        assert_eq!(line.matches("entity not found").count(), 1, "{line}");
        assert!(line.starts_with("building a dataset: opening corpus c.txt: "), "{line}");
    }
}
