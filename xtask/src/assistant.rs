//! `cargo xtask assistant chat|eval`: the customer-service assistant in the terminal.
//!
//! `chat [--kb PATH]` talks to the assistant line by line (no server), printing each reply
//! and what was decided; `/reset` starts a new conversation, `/exit` or end of input ends.
//! `eval` measures it on the labelled sets of `crates/apps/data/dialogues/`: the confidence
//! temperature fitted on `calibrate.jsonl`; accuracy, answered-wrong rate and out-of-scope
//! rejection on `single.jsonl` for the assistant, for embeddings alone and for a BM25 top-1
//! baseline; and follow-up accuracy on `memory.jsonl` with memory and without.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;
use loam_apps::assistant::{
    Assistant, AssistantConfig, KnowledgeBase, Outcome, SingleTurnReport, Turn, bm25_baseline,
    evaluate_dialogues, evaluate_single, fit_temperature, read_dialogues, read_labelled,
};
use loam_apps::search::EncoderEmbedder;
use loam_lm::hf::minilm_dir;

/// Arguments of `cargo xtask assistant`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Settings shared by both commands.
#[derive(clap::Args)]
struct Common {
    /// A knowledge base: a .toml, .json or .md file, or a folder of them (default: the
    /// built-in example shop).
    #[arg(long)]
    kb: Option<PathBuf>,
    /// The all-MiniLM-L6-v2 folder (default: `LOAM_MINILM_DIR`, or loam's cache, fetched once).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Softmax temperature of the confidence (default: the assistant's).
    #[arg(long)]
    temperature: Option<f32>,
    /// Score of the "none of them" option (default: the assistant's).
    #[arg(long)]
    none_score: Option<f32>,
    /// Weight of the BM25 bonus (default: the assistant's).
    #[arg(long)]
    lexical_weight: Option<f32>,
    /// Weight of the last topic in a follow-up (default: the assistant's).
    #[arg(long)]
    memory_weight: Option<f32>,
}

#[derive(Subcommand)]
enum Command {
    /// Talk to the assistant in the terminal.
    Chat {
        #[command(flatten)]
        common: Common,
    },
    /// Measure the assistant on labelled messages and dialogues.
    Eval {
        #[command(flatten)]
        common: Common,
        /// Labelled single messages (`{"query","expected"}` lines; `expected: null` for out of scope).
        #[arg(long)]
        queries: Option<PathBuf>,
        /// Labelled messages the temperature is fitted on.
        #[arg(long)]
        calibrate: Option<PathBuf>,
        /// Labelled dialogues (`{"turns":[{"user","expected"}]}` lines).
        #[arg(long)]
        dialogues: Option<PathBuf>,
    },
}

/// Runs `cargo xtask assistant`.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Chat { common } => chat(&build(&common)?),
        Command::Eval {
            common,
            queries,
            calibrate,
            dialogues,
        } => {
            let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/apps/data/dialogues");
            let queries = queries.unwrap_or_else(|| data.join("single.jsonl"));
            let calibrate = calibrate.unwrap_or_else(|| data.join("calibrate.jsonl"));
            let dialogues = dialogues.unwrap_or_else(|| data.join("memory.jsonl"));
            eval(&build(&common)?, &queries, &calibrate, &dialogues)
        }
    }
}

/// The assistant the options describe.
fn build(common: &Common) -> Result<Assistant> {
    let kb = match &common.kb {
        Some(path) => KnowledgeBase::load(path)?,
        None => KnowledgeBase::example(),
    };
    let dir = match &common.model {
        Some(dir) => dir.clone(),
        None => minilm_dir()?,
    };
    let embedder = EncoderEmbedder::from_dir(&dir)
        .with_context(|| format!("loading the sentence encoder in {}", dir.display()))?;
    let defaults = AssistantConfig::default();
    let config = AssistantConfig {
        temperature: common.temperature.unwrap_or(defaults.temperature),
        none_score: common.none_score.unwrap_or(defaults.none_score),
        lexical_weight: common.lexical_weight.unwrap_or(defaults.lexical_weight),
        memory_weight: common.memory_weight.unwrap_or(defaults.memory_weight),
        ..defaults
    };
    let start = Instant::now();
    let assistant = Assistant::new(kb, Arc::new(embedder), config)?;
    eprintln!(
        "{} entries embedded with {} in {:.1}s",
        assistant.knowledge_base().len(),
        assistant.encoder(),
        start.elapsed().as_secs_f64()
    );
    Ok(assistant)
}

fn chat(assistant: &Assistant) -> Result<()> {
    let mut history: Vec<Turn> = Vec::new();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    eprintln!("Ask a question (/reset for a new conversation, /exit to end).");
    for line in stdin.lock().lines() {
        let line = line.context("reading standard input")?;
        match line.trim() {
            "" => continue,
            "/exit" => break,
            "/reset" => {
                history.clear();
                continue;
            }
            _ => {}
        }
        let reply = assistant.reply_stream(&history, &line, &mut |piece| {
            print!("{piece}");
            out.flush().is_ok()
        })?;
        let what = match &reply.outcome {
            Outcome::Answered {
                entry_id,
                confidence,
            } => format!("answered `{entry_id}`, confidence {confidence:.2}"),
            Outcome::Rephrase { .. } => "asked to rephrase".to_string(),
            Outcome::Handoff { reason } => format!("handed off ({reason:?})"),
            Outcome::Blocked { category } => format!("blocked ({category})"),
        };
        println!("\n  [{what}; query: {}]", reply.resolved_query);
        history.push(Turn::user(line));
        history.push(Turn::assistant(&reply));
    }
    Ok(())
}

fn eval(assistant: &Assistant, queries: &Path, calibrate: &Path, dialogues: &Path) -> Result<()> {
    let queries = read_labelled(queries)?;
    let calibration = read_labelled(calibrate)?;
    let dialogues = read_dialogues(dialogues)?;
    let config = assistant.config().clone();
    let (t, none, nll) = fit_temperature(assistant, &calibration)?;
    println!(
        "fitted on {} calibration queries: temperature {t:.4}, none score {none:.2} (mean NLL {nll:.3}); in use: {}, {}",
        calibration.len(),
        config.temperature,
        config.none_score
    );
    let oos = queries.iter().filter(|q| q.expected.is_none()).count();
    println!(
        "\nsingle messages: {} ({} in scope, {oos} out of scope)",
        queries.len(),
        queries.len() - oos
    );
    println!(
        "{:<44} {:>9} {:>15} {:>14}",
        "policy", "accuracy", "answered wrong", "OOS rejected"
    );
    let start = Instant::now();
    let row = |name: &str, r: SingleTurnReport| {
        println!(
            "{name:<44} {:>9.3} {:>15.3} {:>14.3}",
            r.accuracy(),
            r.answered_wrong(),
            r.rejection()
        );
    };
    row(
        "assistant (MiniLM + BM25 bonus, threshold)",
        evaluate_single(assistant, &queries)?,
    );
    let seconds = start.elapsed().as_secs_f64();
    let dense = assistant.reconfigured(AssistantConfig {
        lexical_weight: 0.0,
        ..config.clone()
    })?;
    row(
        "MiniLM only (same threshold and gap)",
        evaluate_single(&dense, &queries)?,
    );
    row(
        "BM25 top-1, no threshold (baseline)",
        bm25_baseline(&assistant.knowledge_base(), &queries),
    );
    let turns: usize = dialogues.iter().map(|d| d.turns.len()).sum();
    println!("\ndialogues: {} ({turns} user turns)", dialogues.len());
    println!("{:<44} {:>9} {:>15}", "memory", "all turns", "follow-ups");
    for (name, memory) in [("with memory", true), ("without memory", false)] {
        let a = assistant.reconfigured(AssistantConfig {
            memory,
            ..config.clone()
        })?;
        let r = evaluate_dialogues(&a, &dialogues)?;
        println!(
            "{name:<44} {:>9.3} {:>15.3}   ({}/{} follow-ups right)",
            r.accuracy(),
            r.follow_up_accuracy(),
            r.follow_ups_correct,
            r.follow_ups
        );
    }
    println!(
        "\n{:.1} ms per message (the assistant, single messages)",
        1000.0 * seconds / queries.len() as f64
    );
    Ok(())
}
