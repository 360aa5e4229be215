//! The words of a corpus and how often each occurs, for the tokenizer trainers: counted on all
//! threads, returned in one order that depends on neither hashing nor threads.

use std::collections::HashMap;

use rayon::prelude::*;

/// Counts the words that `process` (the tokenizer's normalizer and pre-tokenizer) makes of
/// `texts`, sorted by word.
pub(crate) fn count_words<I, S, F>(texts: I, process: F) -> tokenizers::Result<Vec<(String, u64)>>
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
