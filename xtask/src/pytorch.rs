//! The PyTorch side of a benchmark: `python3 xtask/py/<bench>.py`, which prints the same JSON
//! lines as the loam side.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::record::Record;

/// The script that measures `bench` with PyTorch: in the source tree the binary was built
/// from, else (a binary copied to another machine, as scripts/gpu-check.sh does) in
/// `xtask/py/` under the current directory.
fn script(bench: &str) -> PathBuf {
    let file = format!("{bench}.py");
    let built_from = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("py").join(&file);
    if built_from.is_file() {
        built_from
    } else {
        PathBuf::from("xtask").join("py").join(file)
    }
}

/// Fails with one line when `python3` or its `torch` package is missing.
pub fn ensure_available() -> Result<()> {
    let probe = Command::new("python3")
        .args(["-c", "import torch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match probe {
        Err(_) => bail!("--compare-pytorch needs python3, which was not found"),
        Ok(status) if !status.success() => {
            bail!("--compare-pytorch needs torch in python3 (pip install torch numpy)")
        }
        Ok(_) => Ok(()),
    }
}

/// Runs the PyTorch script of `bench` on `threads` threads and parses its records.
pub fn run(bench: &str, threads: usize) -> Result<Vec<Record>> {
    run_with(bench, threads, &[])
}

/// Runs the PyTorch script of `bench` on `threads` threads with more arguments `extra`.
pub fn run_with(bench: &str, threads: usize, extra: &[&str]) -> Result<Vec<Record>> {
    let path = script(bench);
    let output = Command::new("python3")
        .arg(&path)
        .args(["--threads", &threads.to_string()])
        .args(extra)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start python3 {}", path.display()))?;
    if !output.status.success() {
        bail!("python3 {} failed ({})", path.display(), output.status);
    }
    let stdout = String::from_utf8(output.stdout).context("PyTorch script printed non-UTF-8")?;
    stdout
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(Record::from_json)
        .collect::<Result<Vec<_>>>()
        .with_context(|| format!("reading the output of {}", path.display()))
}
