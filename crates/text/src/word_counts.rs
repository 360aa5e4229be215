//! The words of a corpus and how often each occurs, for the tokenizer trainers: counted on all
//! threads, returned in one order that depends on neither hashing nor threads.

use std::collections::HashMap;

use rayon::prelude::*;
use tokenizers::models::ModelWrapper;
use tokenizers::{AddedToken, Trainer};

/// A tokenizer model learned from the corpus's counted words.
pub(crate) trait LearnFromWords: Sync {
    /// Sets `model` to what `words` (with their counts, sorted by word) teach; returns the
    /// special tokens to add to the tokenizer.
    fn learn(&self, words: &[(String, u64)], model: &mut ModelWrapper) -> tokenizers::Result<Vec<AddedToken>>;
}

/// A [`LearnFromWords`] as a trainer for `tokenizers::Tokenizer::train`: fed the corpus, it
/// counts the words ([`count_words`]), then learns from them.
pub(crate) struct WordCountTrainer<T> {
    learner: T,
    /// The corpus's words and their counts, sorted by word.
    words: Vec<(String, u64)>,
}

impl<T> WordCountTrainer<T> {
    pub(crate) fn new(learner: T) -> Self {
        WordCountTrainer { learner, words: Vec::new() }
    }
}

impl<T: LearnFromWords> Trainer for WordCountTrainer<T> {
    type Model = ModelWrapper;

    fn should_show_progress(&self) -> bool {
        false
    }

    fn train(&self, model: &mut ModelWrapper) -> tokenizers::Result<Vec<AddedToken>> {
        self.learner.learn(&self.words, model)
    }

    fn feed<I, S, F>(&mut self, texts: I, process: F) -> tokenizers::Result<()>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
        F: Fn(&str) -> tokenizers::Result<Vec<String>> + Sync,
    {
        self.words = count_words(texts, process)?;
        Ok(())
    }
}

/// Counts the words that `process` (the tokenizer's normalizer and pre-tokenizer) makes of
/// `texts`, sorted by word.
fn count_words<I, S, F>(texts: I, process: F) -> tokenizers::Result<Vec<(String, u64)>>
where
    I: Iterator<Item = S> + Send,
    S: AsRef<str> + Send,
    F: Fn(&str) -> tokenizers::Result<Vec<String>> + Sync,
{
    let counts = texts
        .par_bridge()
        .try_fold(HashMap::new, |mut counts: HashMap<String, u64>, text| {
            for word in process(text.as_ref())? {
                *counts.entry(word).or_default() += 1;
            }
            Ok::<_, tokenizers::Error>(counts)
        })
        .try_reduce(HashMap::new, |mut a, mut b| {
            if a.len() < b.len() {
                std::mem::swap(&mut a, &mut b);
            }
            for (word, n) in b {
                *a.entry(word).or_default() += n;
            }
            Ok(a)
        })?;
    let mut words: Vec<(String, u64)> = counts.into_iter().collect();
    words.sort_unstable();
    Ok(words)
}
