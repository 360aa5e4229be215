//! `loam-server`: loam's OpenAI-compatible HTTP server (see `loam_apps::server`). Takes the
//! same flags as `cargo xtask serve`; errors are printed on one line with a non-zero exit.

use std::process::ExitCode;

use clap::Parser;
use loam_apps::server::{ServeArgs, run};

/// loam's OpenAI-compatible HTTP server.
#[derive(Parser)]
#[command(name = "loam-server", about = "loam's OpenAI-compatible HTTP server")]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli.args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
