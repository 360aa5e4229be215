//! The retrieval policy: a score for every entry, a calibrated confidence, and the decision to
//! answer, to ask for a rephrasing, or to hand off.
//!
//! An entry's score is the best cosine similarity between the query and any of its question
//! variants (all-MiniLM-L6-v2 embeddings), plus `lexical_weight · b / (b + 1)` where `b` is
//! the entry's BM25 score (a bounded bonus for shared words). The confidence is a softmax over
//! the scores of the entries in the message's language and of a "none of them" option (a fixed
//! out-of-scope score), with the temperature and that score fitted on labelled queries, in
//! scope and out of scope (`cargo xtask assistant eval` fits them on
//! `dialogues/calibrate.jsonl`): it estimates the probability that an entry is the right one,
//! as the confidence of Rasa's intent classifier does, so Rasa's defaults (answer at ≥ 0.3 when
//! ahead of the runner-up by ≥ 0.1) mean what they mean there.
//!
//! all-MiniLM-L6-v2 reads English only: between any two Chinese questions its cosine is near 1
//! (measured on the example shop). Chinese messages are therefore compared with the question
//! variants by the cosine of TF-IDF vectors of character unigrams and bigrams instead.

use crate::assistant::error::{AssistantError, Result};
use crate::assistant::knowledge_base::KnowledgeBase;
use crate::assistant::lang::Lang;
use crate::assistant::lexical::{Lexical, NgramCosine};
use crate::search::{Embedder, EncoderIdentity};

/// The embeddings and BM25 statistics of a knowledge base's question variants.
#[derive(Debug)]
pub(crate) struct EntryIndex {
    /// One unit vector per question variant.
    vectors: Vec<Vec<f32>>,
    /// The entry of each variant.
    owner: Vec<usize>,
    /// The language of each entry.
    langs: Vec<Lang>,
    lexical: Lexical,
    /// Character n-gram similarity of each variant, for Chinese.
    ngrams: NgramCosine,
    identity: EncoderIdentity,
}

/// What is compared for one query: a score per entry (`None` for entries in another
/// language).
pub(crate) type Scores = Vec<Option<f32>>;

impl EntryIndex {
    /// Embeds every question variant of `kb`.
    pub(crate) fn build(kb: &KnowledgeBase, embedder: &dyn Embedder) -> Result<EntryIndex> {
        let mut texts = Vec::new();
        let mut owner = Vec::new();
        for (i, e) in kb.entries().iter().enumerate() {
            for q in &e.questions {
                texts.push(q.as_str());
                owner.push(i);
            }
        }
        let vectors = embed(embedder, &texts)?;
        let ngrams = NgramCosine::new(&texts);
        let lexical = Lexical::new(&kb.entries().iter().map(entry_text).collect::<Vec<_>>());
        let langs = kb.entries().iter().map(|e| e.lang).collect();
        Ok(EntryIndex {
            vectors,
            owner,
            langs,
            lexical,
            ngrams,
            identity: embedder.identity(),
        })
    }

    /// The encoder the variants were embedded with.
    pub(crate) fn identity(&self) -> &EncoderIdentity {
        &self.identity
    }

    /// The score of every entry in `lang` (every entry when none is in `lang`) for a query
    /// whose embedding is `vector`.
    pub(crate) fn scores(
        &self,
        query: &str,
        vector: &[f32],
        lang: Lang,
        lexical_weight: f32,
    ) -> Scores {
        let any_in_lang = self.langs.contains(&lang);
        let mut dense = vec![f32::NEG_INFINITY; self.langs.len()];
        let ngrams = if lang == Lang::Zh {
            self.ngrams.cosines(query)
        } else {
            Vec::new()
        };
        for (k, (v, &i)) in self.vectors.iter().zip(&self.owner).enumerate() {
            let cos: f32 = match ngrams.get(k) {
                Some(&c) => c,
                None => v.iter().zip(vector).map(|(a, b)| a * b).sum(),
            };
            dense[i] = dense[i].max(cos);
        }
        let bm25 = if lexical_weight > 0.0 {
            self.lexical.scores(query)
        } else {
            vec![0.0; dense.len()]
        };
        dense
            .iter()
            .zip(&bm25)
            .zip(&self.langs)
            .map(|((&d, &b), &l)| {
                (!any_in_lang || l == lang).then(|| d + lexical_weight * b / (b + 1.0))
            })
            .collect()
    }
}

/// What BM25 reads of an entry: its questions and its answer.
pub(crate) fn entry_text(e: &crate::assistant::knowledge_base::Entry) -> String {
    format!("{}\n{}", e.questions.join("\n"), e.answer)
}

/// Embeds `texts`, checking that each vector has the encoder's width.
pub(crate) fn embed(embedder: &dyn Embedder, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
    let vectors = embedder.embed(texts)?;
    let dim = embedder.identity().dim;
    if vectors.len() != texts.len() || vectors.iter().any(|v| v.len() != dim) {
        return Err(AssistantError::Invalid(format!(
            "the embedder returned {} vectors for {} texts, or a vector not of width {dim}",
            vectors.len(),
            texts.len()
        )));
    }
    Ok(vectors)
}

/// The softmax at `temperature` over the entries' scores and a "none of them" option scored
/// `none_score` (entries without a score get 0); the probability of "none" is left out, so the
/// confidences sum to less than 1 when no entry stands out from the out-of-scope level.
pub fn confidences(scores: &[Option<f32>], temperature: f32, none_score: f32) -> Vec<f32> {
    let t = temperature.max(1e-6);
    let max = scores.iter().flatten().fold(none_score, |m, &s| m.max(s));
    let exp: Vec<f32> = scores
        .iter()
        .map(|s| s.map_or(0.0, |s| ((s - max) / t).exp()))
        .collect();
    let sum: f32 = exp.iter().sum::<f32>() + ((none_score - max) / t).exp();
    exp.iter().map(|e| e / sum).collect()
}

/// The positions of the `k` highest values, best first (ties by position).
pub(crate) fn ranked(values: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// True when the best confidence reaches `threshold` and leads the runner-up by `gap`.
pub fn confident(best: f32, runner_up: f32, threshold: f32, gap: f32) -> bool {
    best >= threshold && best - runner_up >= gap
}
