//! `cargo xtask bench NAME [--compare-pytorch] [--json]`: named benchmarks.
//!
//! Each benchmark is one file `bench_<name>.rs` whose `run` returns the loam side's records;
//! its PyTorch side is `xtask/py/<name>.py`, printing the same JSON lines. To add one, add a
//! variant to [`BenchName`] and an arm in [`loam_records`].

use anyhow::Result;
use clap::ValueEnum;

use crate::record::{self, Record};
use crate::{bench_matmul, pytorch};

/// The named benchmarks.
///
/// Slot for `tokenize` (to be wired): the text crate's benchmark is `bench_tokenize.rs` with
/// `pub fn run(corpus: Option<PathBuf>, json: bool) -> anyhow::Result<()>`. It prints its own
/// figures, so it takes a variant here, a `--corpus` option in [`Args`], and an arm at the top
/// of [`run`] that returns `bench_tokenize::run(args.corpus.clone(), args.json)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BenchName {
    /// Matrix products (GFLOP/s), softmax, layer norm, cross-entropy and add (GB/s).
    Matmul,
}

impl BenchName {
    /// The benchmark's name on the command line and in its records.
    fn name(self) -> &'static str {
        match self {
            BenchName::Matmul => "matmul",
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
}

/// The loam side's records of `name`.
fn loam_records(name: BenchName) -> Result<Vec<Record>> {
    match name {
        BenchName::Matmul => bench_matmul::run(),
    }
}

/// Runs the benchmark (and its PyTorch side when asked) and prints its figures.
pub fn run(args: &Args) -> Result<()> {
    if args.compare_pytorch {
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
    eprintln!("bench {name}: loam, {threads} threads");
    let mut records = loam_records(args.name)?;
    if args.compare_pytorch {
        eprintln!("bench {name}: pytorch, {threads} threads");
        records.extend(pytorch::run(name, threads)?);
    }
    if !args.json {
        println!("{name}, {threads} threads (loam/pytorch: loam's figure divided by PyTorch's)");
    }
    record::print(&records, args.json);
    Ok(())
}
