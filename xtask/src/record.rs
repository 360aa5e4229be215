//! Benchmark results: one record per (implementation, case), printed as JSON lines or as a
//! table with the loam/PyTorch ratio.

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::measure::median;

/// Figures in the order a table shows them; every figure's name carries its unit.
const FIGURE_ORDER: [&str; 8] = [
    "gflops",
    "gb_per_s",
    "tokens_per_s",
    "sentences_per_s",
    "ms_per_iter",
    "val_loss_full",
    "peak_rss_mb",
    "wall_s",
];

/// The figures of one benchmark case measured on one implementation.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Benchmark name (`matmul`, ...).
    pub bench: String,
    /// Implementation: `loam` or `pytorch`.
    pub imp: String,
    /// Case within the benchmark (`n=1024`, `softmax [4096,1024]`, ...).
    pub case: String,
    /// Named figures, each name ending in its unit (`gflops`, `ms_per_iter`, ...).
    pub figures: Vec<(String, f64)>,
}

impl Record {
    /// A loam record of `bench` / `case` with the given figures.
    pub fn loam(bench: &str, case: &str, figures: &[(&str, f64)]) -> Self {
        Record {
            bench: bench.to_owned(),
            imp: "loam".to_owned(),
            case: case.to_owned(),
            figures: figures.iter().map(|&(k, v)| (k.to_owned(), v)).collect(),
        }
    }

    /// The record as one JSON object: `{"bench":…,"impl":…,"case":…, <figures>}`.
    pub fn to_json(&self) -> String {
        let text = |s: &str| Value::from(s).to_string();
        let mut line = format!(
            "{{\"bench\":{},\"impl\":{},\"case\":{}",
            text(&self.bench),
            text(&self.imp),
            text(&self.case)
        );
        for (name, value) in &self.figures {
            line.push_str(&format!(",{}:{}", text(name), Value::from(*value)));
        }
        line.push('}');
        line
    }

    /// Parses one JSON line written by a benchmark script (the format of [`Record::to_json`]).
    pub fn from_json(line: &str) -> Result<Self> {
        let value: Value =
            serde_json::from_str(line).with_context(|| format!("not a JSON object: {line}"))?;
        let map = value
            .as_object()
            .with_context(|| format!("not a JSON object: {line}"))?;
        let text = |key: &str| {
            map.get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .with_context(|| format!("`{key}` missing in {line}"))
        };
        let mut figures = Vec::new();
        for (name, value) in map {
            if !matches!(name.as_str(), "bench" | "impl" | "case") {
                let Some(number) = value.as_f64() else {
                    bail!("figure `{name}` is not a number in {line}");
                };
                figures.push((name.clone(), number));
            }
        }
        Ok(Record {
            bench: text("bench")?,
            imp: text("impl")?,
            case: text("case")?,
            figures,
        })
    }

    fn figure(&self, name: &str) -> Option<f64> {
        self.figures
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
    }
}

/// Throughput figures: a case that has one shows no `ms_per_iter` in the table (the same
/// measurement; JSON lines keep both).
const THROUGHPUTS: [&str; 4] = ["gflops", "gb_per_s", "tokens_per_s", "sentences_per_s"];

/// One record per (implementation, case) from several rounds of the same benchmark: each
/// figure is the median of its rounds (the upper middle one of an even count). Records keep
/// the order of their first round.
pub fn median_of_rounds(rounds: &[Vec<Record>]) -> Vec<Record> {
    let Some(first) = rounds.first() else { return Vec::new() };
    first
        .iter()
        .map(|r| {
            let same = |o: &&Record| o.imp == r.imp && o.case == r.case;
            let figures = r
                .figures
                .iter()
                .map(|(name, _)| {
                    let mut values: Vec<f64> = rounds
                        .iter()
                        .flat_map(|round| round.iter().filter(same))
                        .filter_map(|o| o.figures.iter().find(|(n, _)| n == name).map(|&(_, v)| v))
                        .collect();
                    (name.clone(), median(&mut values))
                })
                .collect();
            Record { figures, ..r.clone() }
        })
        .collect()
}

/// Where a figure goes in a table: known figures in [`FIGURE_ORDER`], others after them.
fn rank(name: &str) -> usize {
    FIGURE_ORDER
        .iter()
        .position(|&f| f == name)
        .unwrap_or(FIGURE_ORDER.len())
}

/// Prints records as JSON lines, or as a table with one row per case and figure.
pub fn print(records: &[Record], json: bool) {
    if json {
        for record in records {
            println!("{}", record.to_json());
        }
    } else {
        print!("{}", table(records));
    }
}

/// A readable table: case, figure, loam, PyTorch and loam/PyTorch for each case and figure
/// (`ms_per_iter` only where the case has no throughput figure).
pub fn table(records: &[Record]) -> String {
    let mut cases: Vec<&str> = Vec::new();
    for record in records {
        if !cases.contains(&record.case.as_str()) {
            cases.push(&record.case);
        }
    }
    let header = ["case", "figure", "loam", "pytorch", "loam/pytorch"].map(str::to_owned);
    let mut rows = vec![header];
    for case in cases {
        let side = |imp: &str| records.iter().find(|r| r.case == case && r.imp == imp);
        let (loam, torch) = (side("loam"), side("pytorch"));
        let mut names: Vec<&str> = records
            .iter()
            .filter(|r| r.case == case)
            .flat_map(|r| r.figures.iter().map(|(n, _)| n.as_str()))
            .collect();
        names.sort_by_key(|n| (rank(n), *n));
        names.dedup();
        if names.iter().any(|n| THROUGHPUTS.contains(n)) {
            names.retain(|&n| n != "ms_per_iter");
        }
        for name in names {
            let l = loam.and_then(|r| r.figure(name));
            let t = torch.and_then(|r| r.figure(name));
            let ratio = match (l, t) {
                (Some(l), Some(t)) if t != 0.0 => format!("{:.2}", l / t),
                _ => "-".to_owned(),
            };
            let show = |v: Option<f64>| v.map_or("-".to_owned(), number);
            rows.push([case.to_owned(), name.to_owned(), show(l), show(t), ratio]);
        }
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| {
                if c < 2 {
                    format!("{cell:<w$}")
                } else {
                    format!("{cell:>w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// A figure with three significant digits or at least one decimal.
fn number(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn rounds_combine_to_the_median_of_each_figure() {
        let r = |imp: &str, v: f64| Record { imp: imp.to_owned(), ..Record::loam("matmul", "n=8", &[("gflops", v), ("ms_per_iter", 1.0 / v)]) };
        let rounds = vec![vec![r("loam", 3.0), r("pytorch", 10.0)], vec![r("loam", 1.0), r("pytorch", 30.0)], vec![r("loam", 2.0), r("pytorch", 20.0)]];
        let combined = median_of_rounds(&rounds);
        assert_eq!(combined.len(), 2);
        assert_eq!(combined[0].figures, vec![("gflops".to_owned(), 2.0), ("ms_per_iter".to_owned(), 0.5)]);
        assert_eq!(combined[1].imp, "pytorch");
        assert_eq!(combined[1].figures[0], ("gflops".to_owned(), 20.0));
    }
    use super::*;

    #[test]
    fn json_round_trip() {
        let record = Record::loam(
            "matmul",
            "n=256",
            &[("gflops", 150.5), ("ms_per_iter", 0.25)],
        );
        let line = record.to_json();
        assert!(
            line.starts_with(r#"{"bench":"matmul","impl":"loam","case":"n=256""#),
            "{line}"
        );
        let mut back = Record::from_json(&line).unwrap();
        back.figures.sort_by(|a, b| a.0.cmp(&b.0));
        let mut expected = record.clone();
        expected.figures.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(back, expected);
    }

    #[test]
    fn bad_lines_are_errors() {
        assert!(Record::from_json("not json").is_err());
        assert!(Record::from_json(r#"{"bench":"matmul","impl":"pytorch"}"#).is_err());
        assert!(
            Record::from_json(r#"{"bench":"m","impl":"p","case":"c","gflops":"fast"}"#).is_err()
        );
    }

    #[test]
    fn table_shows_ratio_and_missing_sides() {
        let mut torch = Record::loam("matmul", "n=256", &[("gflops", 100.0)]);
        torch.imp = "pytorch".into();
        let records = [
            Record::loam(
                "matmul",
                "n=256",
                &[("ms_per_iter", 0.2), ("gflops", 150.0)],
            ),
            torch,
            Record::loam(
                "train",
                "shakespeare",
                &[("val_loss_full", 1.9), ("ms_per_iter", 40.0)],
            ),
        ];
        let text = table(&records);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[1].starts_with("n=256")
                && lines[1].contains("gflops")
                && lines[1].ends_with("1.50"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("shakespeare")
                && lines[2].contains("ms_per_iter")
                && lines[2].ends_with('-')
        );
        assert!(lines[3].contains("val_loss_full"), "{text}");
    }
}
