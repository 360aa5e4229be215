//! `cargo xtask safety eval [--dir DIR] [--rules FILE] [--misses]`: scores the assistant's
//! safety layer on its labelled sets (`redteam.jsonl`, `benign.jsonl`, `pii.jsonl` in DIR,
//! by default `crates/apps/data/safety`): block rate per category and split, false-block rate,
//! and precision/recall of personal-data masking per kind.
//!
//! `cargo xtask safety check "TEXT"` prints the input verdict, the output verdict and the
//! masked text of one text.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Subcommand;
use loam_apps::safety::eval::{
    Counts, PiiCase, Rate, read_jsonl, read_prompts, score_pii, score_prompts,
};
use loam_apps::safety::{Category, Safety, SafetyConfig, Verdict};

/// Arguments of `cargo xtask safety`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Block rate, false-block rate and PII masking precision/recall on the labelled sets.
    Eval {
        /// The folder with redteam.jsonl, benign.jsonl and pii.jsonl.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A rules file to use instead of the built-in rules.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Also list the ids of attacks that passed and benign prompts that were blocked.
        #[arg(long)]
        misses: bool,
    },
    /// The verdicts and masked form of one text.
    Check {
        /// The text.
        text: String,
        /// A rules file to use instead of the built-in rules.
        #[arg(long)]
        rules: Option<PathBuf>,
    },
}

/// Runs the command.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Eval { dir, rules, misses } => {
            let dir = dir.unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/apps/data/safety")
            });
            let safety = Safety::new(SafetyConfig {
                rules,
                ..SafetyConfig::default()
            })?;
            print!("{}", eval_report(&safety, &dir, misses)?);
        }
        Command::Check { text, rules } => {
            let safety = Safety::new(SafetyConfig {
                rules,
                ..SafetyConfig::default()
            })?;
            let rule = |input| {
                safety
                    .matching_rule(&text, input)
                    .map_or(String::new(), |(_, line)| format!(" (rule line {line})"))
            };
            println!(
                "input:  {}{}",
                verdict_line(&safety.check_input(&text)),
                rule(true)
            );
            println!(
                "output: {}{}",
                verdict_line(&safety.check_output(&text)),
                rule(false)
            );
            println!("masked: {}", safety.mask_pii(&text).text);
        }
    }
    Ok(())
}

/// `allow` or `block CATEGORY: reply`.
fn verdict_line(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Allow => "allow".to_owned(),
        Verdict::Block { category, reply } => format!("block {}: {reply}", category.name()),
    }
}

/// The printed report of `safety eval`.
fn eval_report(safety: &Safety, dir: &Path, misses: bool) -> Result<String> {
    let attacks = read_prompts(&dir.join("redteam.jsonl"))?;
    let benign = read_prompts(&dir.join("benign.jsonl"))?;
    let pii: Vec<PiiCase> = read_jsonl(&dir.join("pii.jsonl"))?;
    let mut all = attacks.clone();
    all.extend(benign.iter().cloned());
    let report = score_prompts(safety, &all);
    let pct = |r: Rate| {
        format!(
            "{:5.1}% ({:>3}/{:<3})",
            100.0 * r.ratio(),
            r.blocked,
            r.total
        )
    };
    let mut out = String::new();
    writeln!(
        out,
        "block rate (attacks, higher is better)   dev               held-out          all"
    )?;
    for category in [Category::Abuse, Category::Injection, Category::OthersData] {
        let name = category.name();
        let cells = [Some("dev"), Some("heldout"), None].map(|s| pct(report.rate(name, s)));
        writeln!(out, "  {name:<38} {}", cells.join("  "))?;
    }
    let attack_cells = [Some("dev"), Some("heldout"), None].map(|s| {
        let r = [Category::Abuse, Category::Injection, Category::OthersData]
            .iter()
            .fold(Rate::default(), |acc, c| {
                let r = report.rate(c.name(), s);
                Rate {
                    blocked: acc.blocked + r.blocked,
                    total: acc.total + r.total,
                }
            });
        pct(r)
    });
    writeln!(out, "  {:<38} {}", "all attacks", attack_cells.join("  "))?;
    let benign_cells = [Some("dev"), Some("heldout"), None].map(|s| pct(report.rate("allow", s)));
    writeln!(out, "false-block rate (benign, lower is better)")?;
    writeln!(
        out,
        "  {:<38} {}",
        "benign look-alikes",
        benign_cells.join("  ")
    )?;
    writeln!(
        out,
        "attacks blocked under another category: {}",
        report.wrong_category
    )?;
    writeln!(
        out,
        "PII masking ({} texts)                    precision  recall   tp  fp  fn",
        pii.len()
    )?;
    let counts = score_pii(safety, &pii)?;
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (kind, c) in &counts {
        writeln!(
            out,
            "  {:<38} {:>9.3}  {:>6.3}  {:>3} {:>3} {:>3}",
            kind.name(),
            c.precision(),
            c.recall(),
            c.tp,
            c.fp,
            c.fn_
        )?;
        (tp, fp, fn_) = (tp + c.tp, fp + c.fp, fn_ + c.fn_);
    }
    let total = Counts { tp, fp, fn_ };
    writeln!(
        out,
        "  {:<38} {:>9.3}  {:>6.3}  {:>3} {:>3} {:>3}",
        "all",
        total.precision(),
        total.recall(),
        tp,
        fp,
        fn_
    )?;
    if misses {
        writeln!(out, "misses: {}", report.misses.join(" "))?;
    }
    Ok(out)
}
