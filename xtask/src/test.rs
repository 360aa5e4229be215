//! `cargo xtask test`: the workspace's tests in the optimized profile, then the layer check.

use anyhow::{Context, Result, bail};

use crate::{cargo, check_layers};

/// Arguments of `cargo xtask test`.
#[derive(clap::Args)]
pub struct Args {
    /// Extra arguments of `cargo test` (e.g. `-p loam-tensor`, which replaces `--workspace`).
    #[arg(allow_hyphen_values = true)]
    cargo_args: Vec<String>,
    /// Arguments after `--`, passed on to the test binaries (e.g. `--nocapture`).
    #[arg(last = true)]
    test_args: Vec<String>,
}

/// Runs `cargo test --release` on the workspace (or the packages named) with the extra
/// arguments, then `check-layers`.
pub fn run(args: &Args) -> Result<()> {
    let mut command = cargo::command();
    command.args(["test", "--release"]);
    if !args
        .cargo_args
        .iter()
        .any(|a| a.starts_with("-p") || a.starts_with("--package"))
    {
        command.arg("--workspace");
    }
    command.args(&args.cargo_args);
    if !args.test_args.is_empty() {
        command.arg("--").args(&args.test_args);
    }
    let status = command.status().context("could not start `cargo test`")?;
    if !status.success() {
        bail!("`cargo test --release` failed ({status})");
    }
    check_layers::run()
}
