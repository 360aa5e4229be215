//! `cargo xtask`: the command line of the loam workspace (tests, layer check, training,
//! benchmarks).

mod bench;
mod bench_matmul;
mod cargo;
mod check_layers;
mod measure;
mod pytorch;
mod record;
mod test;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Train a language model (not available yet).
    Train,
    /// Run a named benchmark and print its figures.
    Bench(bench::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.task {
        Task::Test(args) => test::run(&args),
        Task::CheckLayers => check_layers::run(),
        Task::Train => train::run(),
        Task::Bench(args) => bench::run(&args),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
