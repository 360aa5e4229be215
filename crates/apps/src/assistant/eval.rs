//! Measuring the assistant: labelled single messages (in scope, with their entry, and out of
//! scope, which must not be answered), labelled dialogues for memory, a BM25 baseline, and the
//! fit of the confidence temperature.

use std::path::Path;

use serde::Deserialize;

use crate::assistant::engine::{Assistant, Outcome, Turn};
use crate::assistant::error::{AssistantError, Result};
use crate::assistant::knowledge_base::KnowledgeBase;
use crate::assistant::lexical::Lexical;
use crate::assistant::policy::{confidences, entry_text, ranked};

/// A message and the entry that answers it (`None`: out of scope, must not be answered).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelledQuery {
    /// The message.
    pub query: String,
    /// The entry id, or `null` when the shop's knowledge base does not cover it.
    pub expected: Option<String>,
}

/// One user turn of a labelled dialogue.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialogueTurn {
    /// What the user writes.
    pub user: String,
    /// The entry that must answer it.
    pub expected: String,
}

/// A labelled dialogue of two or more turns.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dialogue {
    /// The user's turns, in order.
    pub turns: Vec<DialogueTurn>,
}

/// Reads `{"query", "expected"}` lines.
pub fn read_labelled(path: &Path) -> Result<Vec<LabelledQuery>> {
    read_jsonl(path)
}

/// Reads `{"turns": [{"user", "expected"}, …]}` lines.
pub fn read_dialogues(path: &Path) -> Result<Vec<Dialogue>> {
    let dialogues: Vec<Dialogue> = read_jsonl(path)?;
    match dialogues.iter().position(|d| d.turns.is_empty()) {
        Some(i) => Err(AssistantError::file(
            path,
            format!("dialogue {} has no turns", i + 1),
        )),
        None => Ok(dialogues),
    }
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| AssistantError::file(path, e.to_string()))?;
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        out.push(
            serde_json::from_str(line)
                .map_err(|e| AssistantError::file(path, format!("line {}: {e}", n + 1)))?,
        );
    }
    Ok(out)
}

/// How a policy did on labelled single messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SingleTurnReport {
    /// In-scope messages.
    pub in_scope: usize,
    /// … answered with their entry.
    pub correct: usize,
    /// … answered with another entry.
    pub wrong: usize,
    /// Out-of-scope messages.
    pub out_of_scope: usize,
    /// … not answered (rephrase or hand-off).
    pub rejected: usize,
}

impl SingleTurnReport {
    /// Share of in-scope messages answered right.
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct, self.in_scope)
    }

    /// Share of all messages answered with a wrong entry (out-of-scope answers included).
    pub fn answered_wrong(&self) -> f64 {
        ratio(
            self.wrong + self.out_of_scope - self.rejected,
            self.in_scope + self.out_of_scope,
        )
    }

    /// Share of out-of-scope messages not answered.
    pub fn rejection(&self) -> f64 {
        ratio(self.rejected, self.out_of_scope)
    }

    fn count(&mut self, expected: Option<&str>, answered: Option<&str>) {
        match expected {
            Some(e) => {
                self.in_scope += 1;
                match answered {
                    Some(a) if a == e => self.correct += 1,
                    Some(_) => self.wrong += 1,
                    None => {}
                }
            }
            None => {
                self.out_of_scope += 1;
                self.rejected += usize::from(answered.is_none());
            }
        }
    }
}

/// How the assistant did on labelled dialogues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DialogueReport {
    /// User turns.
    pub turns: usize,
    /// … answered with their entry.
    pub correct: usize,
    /// Turns after the first.
    pub follow_ups: usize,
    /// … answered with their entry.
    pub follow_ups_correct: usize,
}

impl DialogueReport {
    /// Share of all turns answered right.
    pub fn accuracy(&self) -> f64 {
        ratio(self.correct, self.turns)
    }

    /// Share of turns after the first answered right.
    pub fn follow_up_accuracy(&self) -> f64 {
        ratio(self.follow_ups_correct, self.follow_ups)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Each message alone, as a new conversation.
pub fn evaluate_single(
    assistant: &Assistant,
    queries: &[LabelledQuery],
) -> Result<SingleTurnReport> {
    let mut report = SingleTurnReport::default();
    for q in queries {
        let reply = assistant.reply(&[], &q.query)?;
        report.count(q.expected.as_deref(), answered(&reply.outcome));
    }
    Ok(report)
}

/// Each dialogue played turn by turn, the assistant's own replies kept in the history.
pub fn evaluate_dialogues(assistant: &Assistant, dialogues: &[Dialogue]) -> Result<DialogueReport> {
    let mut report = DialogueReport::default();
    for d in dialogues {
        let mut history = Vec::new();
        for (i, turn) in d.turns.iter().enumerate() {
            let reply = assistant.reply(&history, &turn.user)?;
            let right = answered(&reply.outcome) == Some(turn.expected.as_str());
            report.turns += 1;
            report.correct += usize::from(right);
            if i > 0 {
                report.follow_ups += 1;
                report.follow_ups_correct += usize::from(right);
            }
            history.push(Turn::user(turn.user.clone()));
            history.push(Turn::assistant(&reply));
        }
    }
    Ok(report)
}

/// The baseline: BM25 over the entries' questions, the top entry always answered (a message
/// sharing no word with any entry is left unanswered).
pub fn bm25_baseline(kb: &KnowledgeBase, queries: &[LabelledQuery]) -> SingleTurnReport {
    let lexical = Lexical::new(&kb.entries().iter().map(entry_text).collect::<Vec<_>>());
    let mut report = SingleTurnReport::default();
    for q in queries {
        let scores = lexical.scores(&q.query);
        let best = ranked(&scores, 1)
            .first()
            .copied()
            .filter(|&i| scores[i] > 0.0);
        report.count(
            q.expected.as_deref(),
            best.map(|i| kb.entries()[i].id.as_str()),
        );
    }
    report
}

/// The softmax temperature and "none of them" score that minimize the mean negative
/// log-likelihood of the right answer over `queries` (the entry, or "none" for out-of-scope
/// ones), searched on a grid (temperature log-spaced from 0.005 to 0.5, none score from 0 to 1
/// by 0.01); returns them with that likelihood.
pub fn fit_temperature(
    assistant: &Assistant,
    queries: &[LabelledQuery],
) -> Result<(f32, f32, f64)> {
    let mut cases = Vec::new();
    for q in queries {
        let (kb, scores) = assistant.entry_scores(&[], &q.query)?;
        let right = match &q.expected {
            Some(e) => Some(kb.position(e).ok_or_else(|| {
                AssistantError::Invalid(format!(
                    "`{e}` (for {:?}) is not in the knowledge base",
                    q.query
                ))
            })?),
            None => None,
        };
        cases.push((scores, right));
    }
    if cases.is_empty() {
        return Err(AssistantError::Invalid(
            "no query to fit the temperature on".into(),
        ));
    }
    let mut best = (1.0f32, 0.0f32, f64::INFINITY);
    for step in 0..=60 {
        let t = 0.005f32 * 100f32.powf(step as f32 / 60.0);
        for k in 0..=100 {
            let none = k as f32 / 100.0;
            let nll = cases
                .iter()
                .map(|(s, right)| {
                    let c = confidences(s, t, none);
                    let p = match right {
                        Some(r) => c[*r],
                        None => 1.0 - c.iter().sum::<f32>(),
                    };
                    -f64::from(p.max(1e-12)).ln()
                })
                .sum::<f64>()
                / cases.len() as f64;
            if nll < best.2 {
                best = (t, none, nll);
            }
        }
    }
    Ok(best)
}

/// The entry an outcome answered with.
fn answered(outcome: &Outcome) -> Option<&str> {
    match outcome {
        Outcome::Answered { entry_id, .. } => Some(entry_id),
        _ => None,
    }
}
