//! The assistant: stateless over the conversation (the caller keeps the turns, so several
//! replicas can serve one conversation), with a knowledge base that can be swapped while
//! conversations go on.

use std::sync::{Arc, PoisonError, RwLock};

use serde::{Deserialize, Serialize};

use crate::assistant::error::{AssistantError, Result};
use crate::assistant::grounding::{Phrasing, phrase};
use crate::assistant::handoff::{HandoffReason, asks_for_person};
use crate::assistant::knowledge_base::KnowledgeBase;
use crate::assistant::lang::Lang;
use crate::assistant::memory::{is_follow_up, last_topic};
use crate::assistant::policy::{EntryIndex, Scores, confidences, confident, embed, ranked};
use crate::provider::{ChatMessage, OnText, Provider, Role};
use crate::search::Embedder;

/// How the assistant decides. The defaults are Rasa's (threshold 0.3, gap 0.1, hand off at the
/// second miss in a row) and the temperature and weights measured on the example shop (see
/// `docs/apps.md`, "Assistant").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssistantConfig {
    /// Answer only when the best entry's confidence is at least this.
    pub threshold: f32,
    /// … and leads the runner-up's by at least this.
    pub gap: f32,
    /// Hand off when this many messages in a row were not answered (this one included).
    pub max_misses: usize,
    /// Softmax temperature that turns entry scores into confidences.
    pub temperature: f32,
    /// The score of the "none of them" option in that softmax (the out-of-scope level).
    pub none_score: f32,
    /// Weight of the bounded BM25 bonus in an entry's score (0: embeddings only).
    pub lexical_weight: f32,
    /// Read a follow-up together with the last answered topic.
    pub memory: bool,
    /// Weight of the message's own scores, against those of the topic and message joined, in
    /// a follow-up's scores.
    pub memory_weight: f32,
}

impl Default for AssistantConfig {
    fn default() -> Self {
        AssistantConfig {
            threshold: 0.3,
            gap: 0.1,
            max_misses: 2,
            temperature: 0.0368,
            none_score: 0.49,
            lexical_weight: 0.1,
            memory: true,
            memory_weight: 0.5,
        }
    }
}

/// One turn of a conversation, as the caller stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub text: String,
    /// What the assistant decided (assistant turns).
    pub outcome: Option<Outcome>,
}

impl Turn {
    /// A user's message.
    pub fn user(text: impl Into<String>) -> Turn {
        Turn {
            role: Role::User,
            text: text.into(),
            outcome: None,
        }
    }

    /// The assistant's reply.
    pub fn assistant(reply: &Reply) -> Turn {
        Turn {
            role: Role::Assistant,
            text: reply.text.clone(),
            outcome: Some(reply.outcome.clone()),
        }
    }
}

/// What the assistant did with a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Outcome {
    /// Answered from an entry.
    Answered {
        /// The entry.
        entry_id: String,
        /// Its confidence.
        confidence: f32,
    },
    /// Asked to rephrase, offering the nearest topics.
    Rephrase {
        /// The first questions of the two nearest entries.
        suggestions: Vec<String>,
    },
    /// Handed to a person.
    Handoff {
        /// Why.
        reason: HandoffReason,
    },
    /// Refused by the safety layer.
    Blocked {
        /// What kind of message it was.
        category: String,
    },
}

/// An entry considered for a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// The entry.
    pub entry_id: String,
    /// Its score (cosine plus BM25 bonus, plus the topic's for a follow-up).
    pub score: f32,
    /// Its confidence (softmax of the scores).
    pub confidence: f32,
}

/// The assistant's answer to a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// What to show the user.
    pub text: String,
    /// What was decided.
    pub outcome: Outcome,
    /// The language of the message, and of the reply.
    pub lang: Lang,
    /// The message as retrieved: with the topic it follows up on, `topic → message`.
    pub resolved_query: String,
    /// The best three entries, for debugging and logs.
    pub candidates: Vec<Candidate>,
    /// The model's rewrite and its check, when a provider phrases answers.
    pub phrasing: Option<Phrasing>,
}

/// A knowledge base and its embedded questions, swapped as one.
#[derive(Debug)]
struct Prepared {
    kb: Arc<KnowledgeBase>,
    index: EntryIndex,
}

/// The customer-service assistant (see the module docs).
pub struct Assistant {
    prepared: RwLock<Arc<Prepared>>,
    embedder: Arc<dyn Embedder + Send + Sync>,
    provider: Option<Arc<dyn Provider>>,
    config: AssistantConfig,
}

impl Assistant {
    /// An assistant over `kb`, embedding its questions with `embedder` (all-MiniLM-L6-v2).
    pub fn new(
        kb: KnowledgeBase,
        embedder: Arc<dyn Embedder + Send + Sync>,
        config: AssistantConfig,
    ) -> Result<Assistant> {
        check_config(&config)?;
        let index = EntryIndex::build(&kb, embedder.as_ref())?;
        let prepared = RwLock::new(Arc::new(Prepared {
            kb: Arc::new(kb),
            index,
        }));
        Ok(Assistant {
            prepared,
            embedder,
            provider: None,
            config,
        })
    }

    /// Phrases answers with `provider`, keeping a rewrite only when it is grounded in the entry.
    pub fn with_provider(mut self, provider: Arc<dyn Provider>) -> Assistant {
        self.provider = Some(provider);
        self
    }

    /// The same knowledge base, embedder and provider under another configuration (nothing is
    /// embedded again).
    pub fn reconfigured(&self, config: AssistantConfig) -> Result<Assistant> {
        check_config(&config)?;
        let prepared = RwLock::new(self.current());
        Ok(Assistant {
            prepared,
            embedder: self.embedder.clone(),
            provider: self.provider.clone(),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AssistantConfig {
        &self.config
    }

    /// The knowledge base in use.
    pub fn knowledge_base(&self) -> Arc<KnowledgeBase> {
        self.current().kb.clone()
    }

    /// Swaps in `kb` once its questions are embedded; replies in progress finish on the old one,
    /// and conversations go on (a topic whose entry is gone is simply forgotten).
    pub fn reload(&self, kb: KnowledgeBase) -> Result<()> {
        let index = EntryIndex::build(&kb, self.embedder.as_ref())?;
        let fresh = Arc::new(Prepared {
            kb: Arc::new(kb),
            index,
        });
        *self
            .prepared
            .write()
            .unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// Answers `message`, the conversation so far being `history`.
    pub fn reply(&self, history: &[Turn], message: &str) -> Result<Reply> {
        let message = message.trim();
        if message.is_empty() {
            return Err(AssistantError::Invalid("the message is empty".into()));
        }
        let lang = Lang::detect(message);
        let prepared = self.current();
        if asks_for_person(message) {
            return Ok(handoff(
                lang,
                HandoffReason::Requested,
                message.to_string(),
                Vec::new(),
            ));
        }
        let (resolved_query, scores) = self.scores(&prepared, history, message, lang)?;
        let conf = confidences(&scores, self.config.temperature, self.config.none_score);
        let top = ranked(&conf, 3);
        let kb = &prepared.kb;
        let candidates: Vec<Candidate> = top
            .iter()
            .filter_map(|&i| {
                scores[i].map(|s| Candidate {
                    entry_id: kb.entries()[i].id.clone(),
                    score: s,
                    confidence: conf[i],
                })
            })
            .collect();
        let (best, runner_up) = (top[0], top.get(1).map_or(0.0, |&i| conf[i]));
        if confident(
            conf[best],
            runner_up,
            self.config.threshold,
            self.config.gap,
        ) {
            let entry = &kb.entries()[best];
            let outcome = Outcome::Answered {
                entry_id: entry.id.clone(),
                confidence: conf[best],
            };
            let (text, phrasing) = self.phrase(history, message, &entry.answer, lang)?;
            return Ok(Reply {
                text,
                outcome,
                lang,
                resolved_query,
                candidates,
                phrasing,
            });
        }
        let misses = 1 + history
            .iter()
            .rev()
            .filter(|t| t.role == Role::Assistant)
            .take_while(|t| matches!(t.outcome, Some(Outcome::Rephrase { .. })))
            .count();
        if misses >= self.config.max_misses {
            return Ok(handoff(
                lang,
                HandoffReason::Misses { count: misses },
                resolved_query,
                candidates,
            ));
        }
        let suggestions: Vec<String> = top
            .iter()
            .take(2)
            .map(|&i| kb.entries()[i].questions[0].clone())
            .collect();
        let text = lang.rephrase(&suggestions);
        Ok(Reply {
            text,
            outcome: Outcome::Rephrase { suggestions },
            lang,
            resolved_query,
            candidates,
            phrasing: None,
        })
    }

    /// As [`Assistant::reply`], giving the reply's text to `on_text` piece by piece (a word, or
    /// a few ideographs, at a time) until it returns false. The reply is decided, and a rewrite
    /// checked, before the first piece is sent.
    pub fn reply_stream(
        &self,
        history: &[Turn],
        message: &str,
        on_text: OnText<'_>,
    ) -> Result<Reply> {
        let reply = self.reply(history, message)?;
        for piece in pieces(&reply.text) {
            if !on_text(piece) {
                break;
            }
        }
        Ok(reply)
    }

    /// The knowledge base and the score of every entry for `message` (`None`: another
    /// language), for evaluation and calibration.
    pub(crate) fn entry_scores(
        &self,
        history: &[Turn],
        message: &str,
    ) -> Result<(Arc<KnowledgeBase>, Scores)> {
        let prepared = self.current();
        let (_, scores) = self.scores(&prepared, history, message, Lang::detect(message))?;
        Ok((prepared.kb.clone(), scores))
    }

    /// The resolved query and the scores of every entry for `message`.
    fn scores(
        &self,
        prepared: &Prepared,
        history: &[Turn],
        message: &str,
        lang: Lang,
    ) -> Result<(String, Scores)> {
        let topic = last_topic(history)
            .filter(|_| self.config.memory && is_follow_up(message))
            .and_then(|id| prepared.kb.get(id))
            .map(|e| e.questions[0].as_str());
        let joined = topic.map(|t| format!("{t} {message}"));
        let texts: Vec<&str> = std::iter::once(message).chain(joined.as_deref()).collect();
        let vectors = embed(self.embedder.as_ref(), &texts)?;
        let weight = self.config.lexical_weight;
        let mut scores = prepared.index.scores(message, &vectors[0], lang, weight);
        let Some(topic) = topic else {
            return Ok((message.to_string(), scores));
        };
        let joined = format!("{topic} {message}");
        let joined_scores = prepared.index.scores(&joined, &vectors[1], lang, weight);
        for (s, j) in scores.iter_mut().zip(joined_scores) {
            *s = s.zip(j).map(|(s, j)| {
                (j + self.config.memory_weight * s) / (1.0 + self.config.memory_weight)
            });
        }
        Ok((format!("{topic} → {message}"), scores))
    }

    /// The answer's text: a grounded rewrite when a provider is set, else the stored answer.
    fn phrase(
        &self,
        history: &[Turn],
        message: &str,
        answer: &str,
        lang: Lang,
    ) -> Result<(String, Option<Phrasing>)> {
        let Some(provider) = &self.provider else {
            return Ok((answer.to_string(), None));
        };
        let mut messages: Vec<ChatMessage> = history
            .iter()
            .rev()
            .take(6)
            .rev()
            .filter(|t| t.role != Role::System)
            .map(|t| ChatMessage::new(t.role, t.text.clone()))
            .collect();
        messages.push(ChatMessage::new(Role::User, message));
        let phrasing = phrase(provider.as_ref(), &messages, answer, lang)?;
        let text = if phrasing.drift.is_empty() {
            phrasing.generated.clone()
        } else {
            answer.to_string()
        };
        Ok((text, Some(phrasing)))
    }

    fn current(&self) -> Arc<Prepared> {
        self.prepared
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The encoder the knowledge base was embedded with, for `/ready` and logs.
    pub fn encoder(&self) -> String {
        self.current().index.identity().to_string()
    }
}

/// A hand-off reply.
fn handoff(
    lang: Lang,
    reason: HandoffReason,
    resolved_query: String,
    candidates: Vec<Candidate>,
) -> Reply {
    Reply {
        text: lang.handoff(),
        outcome: Outcome::Handoff { reason },
        lang,
        resolved_query,
        candidates,
        phrasing: None,
    }
}

/// Refuses settings that cannot work.
fn check_config(c: &AssistantConfig) -> Result<()> {
    let unit = |x: f32| (0.0..=1.0).contains(&x);
    if !unit(c.threshold) || !unit(c.gap) {
        return Err(AssistantError::Invalid(format!(
            "threshold ({}) and gap ({}) must lie in [0, 1]",
            c.threshold, c.gap
        )));
    }
    let positive = c.temperature.is_finite() && c.temperature > 0.0;
    if !positive {
        return Err(AssistantError::Invalid(format!(
            "the temperature must be > 0, got {}",
            c.temperature
        )));
    }
    if c.max_misses == 0 {
        return Err(AssistantError::Invalid(
            "max_misses must be at least 1".into(),
        ));
    }
    let weight = |w: f32| w.is_finite() && w >= 0.0;
    if !weight(c.lexical_weight) || !weight(c.memory_weight) {
        return Err(AssistantError::Invalid(
            "the lexical and memory weights must be finite and ≥ 0".into(),
        ));
    }
    Ok(())
}

/// The text in streaming pieces: each word with the space after it; ideographs three at a time.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut ideographs = 0;
    for (i, c) in text.char_indices() {
        let end = i + c.len_utf8();
        if crate::assistant::lang::is_cjk(c) {
            ideographs += 1;
        }
        if c == ' ' || ideographs == 3 || end == text.len() {
            out.push(&text[start..end]);
            start = end;
            ideographs = 0;
        }
    }
    out
}
