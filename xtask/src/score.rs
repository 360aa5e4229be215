//! `cargo xtask score --metric rouge|bleu --hyp FILE --ref FILE... [--json] [--stem]
//! [--tokenize 13a|none|zh]`: ROUGE (rouge-score's) or BLEU (sacreBLEU's) of a file of
//! hypotheses, one per line, against one or more reference files with the same number of lines.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use loam_lm::metrics::bleu::{Bleu, Tokenize};
use loam_lm::metrics::rouge::{RougeScorer, RougeScores};

/// Which metric to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MetricKind {
    /// ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum per line, then their means.
    Rouge,
    /// Corpus BLEU with its n-gram precisions and brevity penalty.
    Bleu,
}

/// Arguments of `cargo xtask score`.
#[derive(clap::Args)]
pub struct Args {
    /// The metric.
    #[arg(long, value_enum)]
    metric: MetricKind,
    /// Hypotheses (system outputs), one per line, UTF-8.
    #[arg(long)]
    hyp: PathBuf,
    /// References, one per line; several files give several references per line (ROUGE keeps
    /// the best-scoring one per variant, BLEU uses all).
    #[arg(long = "ref", required = true, num_args = 1..)]
    refs: Vec<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// ROUGE: Porter-stem tokens longer than 3 characters.
    #[arg(long)]
    stem: bool,
    /// BLEU: the tokenizer (13a, none or zh).
    #[arg(long)]
    tokenize: Option<String>,
}

/// Prints the scores.
pub fn run(args: &Args) -> Result<()> {
    print!("{}", report(args)?);
    Ok(())
}

/// The text (or JSON) that `run` prints.
fn report(args: &Args) -> Result<String> {
    let hyps = read_lines(&args.hyp)?;
    let refs = args.refs.iter().map(|p| read_lines(p)).collect::<Result<Vec<_>>>()?;
    if hyps.is_empty() {
        bail!("{} has no lines to score", args.hyp.display());
    }
    for (path, lines) in args.refs.iter().zip(&refs) {
        if lines.len() != hyps.len() {
            bail!("{} has {} lines but {} has {}: each hypothesis needs one reference line", path.display(), lines.len(), args.hyp.display(), hyps.len());
        }
    }
    match args.metric {
        MetricKind::Rouge => {
            if args.tokenize.is_some() {
                bail!("--tokenize applies to BLEU only (ROUGE tokenizes as rouge-score, with Chinese by character)");
            }
            rouge_report(&hyps, &refs, args.stem, args.json)
        }
        MetricKind::Bleu => {
            if args.stem {
                bail!("--stem applies to ROUGE only");
            }
            let tokenize = match &args.tokenize {
                Some(name) => name.parse()?,
                None => Tokenize::V13a,
            };
            bleu_report(&hyps, &refs, tokenize, args.json)
        }
    }
}

/// The lines of a UTF-8 file (without their `\n` or `\r\n`).
fn read_lines(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{}: not UTF-8 text (invalid byte at offset {})", path.display(), e.utf8_error().valid_up_to()))?;
    Ok(text.lines().map(str::to_string).collect())
}

fn rouge_report(hyps: &[String], refs: &[Vec<String>], stem: bool, json: bool) -> Result<String> {
    let scorer = RougeScorer::new(stem);
    let per_line: Vec<RougeScores> = hyps
        .iter()
        .enumerate()
        .map(|(i, hyp)| {
            let targets: Vec<&str> = refs.iter().map(|r| r[i].as_str()).collect();
            scorer.score_multi(&targets, hyp)
        })
        .collect();
    let mean = RougeScores::mean(&per_line);
    if json {
        let value = serde_json::json!({ "metric": "rouge", "stem": stem, "lines": per_line, "mean": mean });
        return Ok(format!("{value}\n"));
    }
    let mut out = String::new();
    for (i, s) in per_line.iter().enumerate() {
        let cells: Vec<String> = s.named().iter().map(|(name, v)| format!("{name} {:.4}", v.fmeasure)).collect();
        writeln!(out, "line {}: F {}", i + 1, cells.join("  "))?;
    }
    writeln!(out, "mean over {} lines{}:", per_line.len(), if stem { " (stemmed)" } else { "" })?;
    writeln!(out, "{:<10} {:>9} {:>9} {:>9}", "", "precision", "recall", "F")?;
    for (name, v) in mean.named() {
        writeln!(out, "{name:<10} {:>9.4} {:>9.4} {:>9.4}", v.precision, v.recall, v.fmeasure)?;
    }
    Ok(out)
}

fn bleu_report(hyps: &[String], refs: &[Vec<String>], tokenize: Tokenize, json: bool) -> Result<String> {
    let bleu = Bleu { tokenize, ..Bleu::default() };
    let hyps: Vec<&str> = hyps.iter().map(String::as_str).collect();
    let streams: Vec<Vec<&str>> = refs.iter().map(|r| r.iter().map(String::as_str).collect()).collect();
    let streams: Vec<&[&str]> = streams.iter().map(Vec::as_slice).collect();
    let score = bleu.corpus_score(&hyps, &streams)?;
    let signature = format!("{}|version:loam-{}", bleu.signature(refs.len()), env!("CARGO_PKG_VERSION"));
    if json {
        let value = serde_json::json!({
            "metric": "bleu",
            "score": score.score,
            "counts": score.counts,
            "totals": score.totals,
            "precisions": score.precisions,
            "bp": score.bp,
            "ratio": score.ratio(),
            "sys_len": score.sys_len,
            "ref_len": score.ref_len,
            "signature": signature,
            "verbose_score": score.to_string(),
        });
        return Ok(format!("{value}\n"));
    }
    Ok(format!("{score}\n{signature}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes `content` to a fresh file in the temporary folder.
    fn file(name: &str, content: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("loam-score-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, content).expect("write");
        path
    }

    fn args(metric: MetricKind, hyp: PathBuf, refs: Vec<PathBuf>) -> Args {
        Args { metric, hyp, refs, json: false, stem: false, tokenize: None }
    }

    #[test]
    fn bleu_prints_sacrebleu_line_and_signature() {
        let hyp = file("bleu-hyp.txt", b"The dog bit the man.\nIt wasn't surprising.\nThe man had just bitten him.\n");
        let r1 = file("bleu-r1.txt", b"The dog bit the man.\nIt was not unexpected.\nThe man bit him first.\n");
        let r2 = file("bleu-r2.txt", b"The dog had bit the man.\nNo one was surprised.\nThe man had bitten the dog.\n");
        let out = report(&args(MetricKind::Bleu, hyp.clone(), vec![r1.clone(), r2.clone()])).expect("score");
        assert!(out.starts_with("BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)\n"), "{out}");
        assert!(out.contains("nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp"), "{out}");
        let json = Args { json: true, tokenize: Some("none".into()), ..args(MetricKind::Bleu, hyp, vec![r1, r2]) };
        let value: serde_json::Value = serde_json::from_str(&report(&json).expect("score")).expect("JSON");
        assert!((value["score"].as_f64().expect("score") - 49.1919566).abs() < 1e-6, "{value}");
    }

    #[test]
    fn rouge_prints_each_line_and_the_means() {
        let hyp = file("rouge-hyp.txt", b"testing\ntesting one\n");
        let target = file("rouge-ref.txt", b"testing one two\ntesting one two\n");
        let out = report(&args(MetricKind::Rouge, hyp.clone(), vec![target.clone()])).expect("score");
        assert!(out.contains("line 1: F rouge1 0.5000  rouge2 0.0000  rougeL 0.5000  rougeLsum 0.5000"), "{out}");
        // rouge1: P (1 + 1)/2, R (1/3 + 2/3)/2, F (1/2 + 4/5)/2
        assert!(out.contains("rouge1        1.0000    0.5000    0.6500"), "{out}");
        let json = Args { json: true, ..args(MetricKind::Rouge, hyp, vec![target]) };
        let value: serde_json::Value = serde_json::from_str(&report(&json).expect("score")).expect("JSON");
        assert!((value["mean"]["rouge2"]["fmeasure"].as_f64().expect("F") - 1.0 / 3.0).abs() < 1e-12, "{value}");
        assert_eq!(value["lines"].as_array().expect("lines").len(), 2);
    }

    #[test]
    fn bad_input_is_one_clear_error() {
        let two = file("two.txt", b"a b\nc d\n");
        let three = file("three.txt", b"a b\nc d\ne f\n");
        let err = report(&args(MetricKind::Bleu, three.clone(), vec![two.clone()])).expect_err("line counts differ");
        assert!(err.to_string().contains("two.txt has 2 lines but") && err.to_string().contains("three.txt has 3"), "{err}");
        let missing = two.with_file_name("no-such-file.txt");
        let err = report(&args(MetricKind::Rouge, two.clone(), vec![missing])).expect_err("missing file");
        assert!(format!("{err:#}").contains("reading") && format!("{err:#}").contains("no-such-file.txt"), "{err:#}");
        let binary = file("binary.txt", b"ok\n\xff\xfe\n");
        let err = report(&args(MetricKind::Rouge, binary, vec![two.clone()])).expect_err("not UTF-8");
        assert!(err.to_string().contains("not UTF-8 text (invalid byte at offset 3)"), "{err}");
        let empty = file("empty.txt", b"");
        let err = report(&args(MetricKind::Bleu, empty.clone(), vec![empty])).expect_err("nothing to score");
        assert!(err.to_string().contains("has no lines"), "{err}");
        let stem = Args { stem: true, ..args(MetricKind::Bleu, two.clone(), vec![two.clone()]) };
        assert!(report(&stem).expect_err("stem is ROUGE's").to_string().contains("--stem applies to ROUGE only"));
        let tok = Args { tokenize: Some("intl".into()), ..args(MetricKind::Bleu, two.clone(), vec![two]) };
        assert!(report(&tok).expect_err("unknown tokenizer").to_string().contains("unknown BLEU tokenizer"));
    }
}
