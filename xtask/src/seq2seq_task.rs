//! `cargo xtask seq2seq-data --task dates|reverse|sort --out DIR [--train N] [--valid N]
//! [--seed S] [--format jsonl|tsv]`: synthetic (source, target) pairs for training the
//! encoder–decoder from scratch, written as `DIR/train.jsonl` and `DIR/valid.jsonl` (or `.tsv`).
//! No validation source appears in the training file, so exact match on it is held out.
//!
//! - `dates`: a date in one of five human formats ("March 5, 2021", "5 Mar 2021",
//!   "Friday, March 5, 2021", "05.03.2021", "mar 5 2021") → ISO 8601 ("2021-03-05").
//! - `reverse`: a string of 4 to 12 letters → the same letters in reverse order.
//! - `sort`: a string of 4 to 12 letters → the same letters sorted.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use loam_tensor::Rng;

/// Which task to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Task {
    /// Dates between formats.
    Dates,
    /// Reversing letter sequences.
    Reverse,
    /// Sorting letter sequences.
    Sort,
}

/// How the pairs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// JSON lines with `source` and `target` keys.
    Jsonl,
    /// Two tab-separated columns.
    Tsv,
}

/// Arguments of `cargo xtask seq2seq-data`.
#[derive(clap::Args)]
pub struct Args {
    /// The task.
    #[arg(long, value_enum)]
    task: Task,
    /// Output folder (created).
    #[arg(long)]
    out: PathBuf,
    /// Training pairs.
    #[arg(long, default_value_t = 20_000)]
    train: usize,
    /// Validation pairs (their sources are not in the training file).
    #[arg(long, default_value_t = 500)]
    valid: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1337)]
    seed: u64,
    /// File format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    format: Format,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Monday = 0 (Sakamoto's method).
fn weekday(y: u32, m: u32, d: u32) -> usize {
    const T: [u32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
    let y = if m < 3 { y - 1 } else { y };
    let sunday_first = (y + y / 4 - y / 100 + y / 400 + T[m as usize - 1] + d) % 7;
    ((sunday_first + 6) % 7) as usize
}

/// One pair of `task`.
fn pair(task: Task, rng: &mut Rng) -> (String, String) {
    let mut pick = |n: u32| rng.below(n as u64) as u32;
    match task {
        Task::Dates => {
            let y = 1950 + pick(100);
            let m = 1 + pick(12);
            let d = 1 + pick(days_in_month(y, m));
            let month = MONTHS[m as usize - 1];
            let source = match pick(5) {
                0 => format!("{month} {d}, {y}"),
                1 => format!("{d} {} {y}", &month[..3]),
                2 => format!("{}, {month} {d}, {y}", WEEKDAYS[weekday(y, m, d)]),
                3 => format!("{d:02}.{m:02}.{y}"),
                _ => format!("{} {d} {y}", month[..3].to_lowercase()),
            };
            (source, format!("{y}-{m:02}-{d:02}"))
        }
        Task::Reverse | Task::Sort => {
            let len = 4 + pick(9) as usize;
            let letters: Vec<char> = (0..len).map(|_| (b'a' + pick(26) as u8) as char).collect();
            let mut out = letters.clone();
            if task == Task::Reverse {
                out.reverse();
            } else {
                out.sort_unstable();
            }
            (letters.iter().collect(), out.iter().collect())
        }
    }
}

/// `n_valid` validation pairs, then `n_train` training pairs whose sources differ from them.
fn generate(
    task: Task,
    n_train: usize,
    n_valid: usize,
    seed: u64,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>)> {
    let mut rng = Rng::new(seed);
    let mut seen = HashSet::new();
    let mut valid = Vec::with_capacity(n_valid);
    let mut tries = 0usize;
    while valid.len() < n_valid {
        let p = pair(task, &mut rng);
        if seen.insert(p.0.clone()) {
            valid.push(p);
        }
        tries += 1;
        if tries > 100 * (n_valid + n_train) {
            bail!("the {task:?} task has too few distinct sources for {n_valid} validation pairs");
        }
    }
    let mut train = Vec::with_capacity(n_train);
    while train.len() < n_train {
        let p = pair(task, &mut rng);
        if !seen.contains(&p.0) {
            train.push(p);
        }
        tries += 1;
        if tries > 100 * (n_valid + n_train) {
            bail!("the {task:?} task has too few distinct sources outside the validation set");
        }
    }
    Ok((train, valid))
}

fn write(path: &Path, pairs: &[(String, String)], format: Format) -> Result<()> {
    let mut text = String::new();
    for (s, t) in pairs {
        match format {
            Format::Jsonl => {
                text.push_str(&serde_json::json!({"source": s, "target": t}).to_string())
            }
            Format::Tsv => text.push_str(&format!("{s}\t{t}")),
        }
        text.push('\n');
    }
    loam_nn::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Writes the two files and prints what it wrote.
pub fn run(args: &Args) -> Result<()> {
    if args.train == 0 || args.valid == 0 {
        bail!("--train and --valid must be positive");
    }
    let (train, valid) = generate(args.task, args.train, args.valid, args.seed)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let ext = match args.format {
        Format::Jsonl => "jsonl",
        Format::Tsv => "tsv",
    };
    let (train_path, valid_path) = (
        args.out.join(format!("train.{ext}")),
        args.out.join(format!("valid.{ext}")),
    );
    write(&train_path, &train, args.format)?;
    write(&valid_path, &valid, args.format)?;
    println!(
        "wrote {} training pairs to {}",
        train.len(),
        train_path.display()
    );
    println!(
        "wrote {} validation pairs to {}",
        valid.len(),
        valid_path.display()
    );
    for (s, t) in valid.iter().take(3) {
        println!("  {s:?} → {t:?}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_valid_and_weekdays_right() {
        assert_eq!(weekday(2021, 3, 5), 4, "5 March 2021 was a Friday");
        assert_eq!(weekday(2000, 1, 1), 5, "1 January 2000 was a Saturday");
        let (train, valid) = generate(Task::Dates, 300, 50, 7).unwrap();
        for (s, t) in train.iter().chain(&valid) {
            let parts: Vec<u32> = t.split('-').map(|p| p.parse().unwrap()).collect();
            assert!(
                parts[1] >= 1
                    && parts[1] <= 12
                    && parts[2] >= 1
                    && parts[2] <= days_in_month(parts[0], parts[1]),
                "{t}"
            );
            assert!(s.contains(&parts[0].to_string()), "{s} → {t}");
        }
    }

    #[test]
    fn validation_sources_are_held_out_and_targets_follow_the_task() {
        let (train, valid) = generate(Task::Sort, 2000, 200, 1).unwrap();
        let held: HashSet<&String> = valid.iter().map(|p| &p.0).collect();
        assert!(train.iter().all(|p| !held.contains(&p.0)));
        for (s, t) in &train {
            let mut v: Vec<char> = s.chars().collect();
            v.sort_unstable();
            assert_eq!(&v.into_iter().collect::<String>(), t);
        }
        let (train, _) = generate(Task::Reverse, 10, 1, 1).unwrap();
        let (s, t) = &train[0];
        assert_eq!(s.chars().rev().collect::<String>(), *t);
        assert_eq!(
            generate(Task::Dates, 10, 5, 3).unwrap(),
            generate(Task::Dates, 10, 5, 3).unwrap(),
            "seeded"
        );
    }
}
