//! `cargo xtask chat --model DIR|ID`: a terminal chat with a model that has a chat template.
//! Each line of standard input is the user's turn; the reply streams as it is generated and
//! the conversation is kept. `/reset` forgets it, `/exit` (or end of input) ends. With
//! `--json FILE` (a messages file: a list of `{role, content}`, or `{"messages": [...]}`)
//! it prints the reply to those messages as one JSON object and exits.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use loam_lm::{Chat, ChatMessage};

use crate::model_arg::{self, MODEL_HELP, SamplingArgs};

/// Arguments of `cargo xtask chat`.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, help = MODEL_HELP)]
    model: String,
    /// The system message that opens the conversation.
    #[arg(long)]
    system: Option<String>,
    /// New tokens per reply at most.
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Reply to the conversation in this messages file, print it as JSON and exit.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The messages of a messages file: a list, or an object holding it as `messages`.
fn read_messages(path: &Path) -> Result<Vec<ChatMessage>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut value: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    if let Some(messages) = value.get_mut("messages") {
        value = messages.take();
    }
    serde_json::from_value(value)
        .with_context(|| format!("{}: not a messages file (a list of {{\"role\": …, \"content\": …}})", path.display()))
}

/// Runs the chat (or answers the messages file).
pub fn run(args: &Args) -> Result<()> {
    // out-of-range flags are refused before the model is read
    args.sampling.check()?;
    let model = model_arg::load(&args.model)?;
    let mut cfg = args.sampling.config(&model)?;
    cfg.max_new_tokens = args.max_new_tokens;
    let mut chat = Chat::new(&model, args.system.as_deref(), cfg)?;
    if let Some(path) = &args.json {
        let messages = read_messages(path)?;
        if messages.first().is_some_and(|m| m.role == "system") {
            chat.messages.clear();
        }
        chat.messages.extend(messages);
        let g = chat.reply(&mut |_| {})?;
        let reply = serde_json::json!({
            "role": "assistant",
            "content": g.text,
            "finish_reason": g.finish_reason,
            "prompt_tokens": g.prompt_tokens,
            "completion_tokens": g.ids.len(),
        });
        println!("{reply}");
        return Ok(());
    }
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!("chat with {} ({}): /reset forgets the conversation, /exit ends", args.model, model.model_type());
        eprint!("> ");
    }
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading standard input")?;
        match line.trim() {
            "" => continue,
            "/exit" => break,
            "/reset" => {
                chat.reset();
                eprintln!("(conversation reset)");
            }
            said => {
                chat.say(said, &mut |piece| {
                    let _ = write!(out, "{piece}");
                    let _ = out.flush();
                })?;
                writeln!(out)?;
            }
        }
        if interactive {
            eprint!("> ");
        }
    }
    Ok(())
}
