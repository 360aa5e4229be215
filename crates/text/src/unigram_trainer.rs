//! Unigram training on the corpus's words in a fixed order.
//!
//! The `tokenizers` crate's Unigram trainer leaves two things to hash order, which changes from
//! run to run, so that one corpus gave different ids each time:
//! - the order of the words: its sums of expected counts then differ in the last bits and pieces
//!   of nearly equal score swap places. This trainer counts the words itself (`word_counts`) and
//!   gives them to the crate's EM in sorted order.
//! - the characters that EM dropped: the crate keeps every character of the corpus, and gives
//!   those it brings back the lowest score plus 0.0001, 0.0002, … in hash-set order. This trainer
//!   gives them the same scores in code-point order, and orders pieces of equal score by text.
//!
//! EM's sums are split over the threads, so the result is the same for the same number of threads
//! (`RAYON_NUM_THREADS`), not across machines with different numbers.

use std::collections::BTreeSet;

use tokenizers::AddedToken;
use tokenizers::models::ModelWrapper;
use tokenizers::models::unigram::{Unigram, UnigramTrainer};

use crate::word_counts::LearnFromWords;

/// The crate's Unigram trainer, fed in sorted order (for `tokenizers::Tokenizer::train`
/// through [`WordCountTrainer`](crate::word_counts::WordCountTrainer)).
pub(crate) struct SortedUnigramTrainer(pub(crate) UnigramTrainer);

/// `pieces` after the first `front` in an order that does not depend on hashing: the characters
/// (of `chars`) that the crate brought back after EM get their scores in code-point order, and
/// pieces of equal score are ordered by text.
fn canonical(mut pieces: Vec<(String, f64)>, front: usize, chars: &BTreeSet<char>) -> Vec<(String, f64)> {
    let rest = &mut pieces[front..];
    // The crate's scores for the characters it brings back, in the order it gives them.
    let lowest = rest.iter().map(|(_, score)| *score).fold(f64::INFINITY, f64::min);
    let mut penalty = 0.0;
    let mut scores = Vec::with_capacity(chars.len());
    for _ in 0..chars.len() {
        scores.push(lowest + penalty);
        penalty += 0.0001;
    }
    let mut brought_back: Vec<usize> = (0..rest.len())
        .filter(|&i| {
            let mut c = rest[i].0.chars();
            c.next().is_some_and(|c| chars.contains(&c)) && c.next().is_none() && scores.contains(&rest[i].1)
        })
        .collect();
    // Which character had which of these scores was hash order: give them out in code-point order.
    let mut taken: Vec<f64> = brought_back.iter().map(|&i| rest[i].1).collect();
    taken.sort_by(f64::total_cmp);
    brought_back.sort_by(|&a, &b| rest[a].0.cmp(&rest[b].0));
    for (i, score) in brought_back.into_iter().zip(taken) {
        rest[i].1 = score;
    }
    rest.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    pieces
}

impl LearnFromWords for SortedUnigramTrainer {
    fn learn(&self, words: &[(String, u64)], model: &mut ModelWrapper) -> tokenizers::Result<Vec<AddedToken>> {
        // The crate counts in u32; a word seen more often than that counts as u32::MAX.
        let sentences = words.iter().map(|(w, n)| (w.clone(), u32::try_from(*n).unwrap_or(u32::MAX))).collect();
        let mut unigram = Unigram::default();
        let special_tokens = self.0.do_train(sentences, &mut unigram)?;
        // The crate puts the special tokens first, and the unknown token before them if it is not one.
        let unk = self.0.unk_token.as_deref();
        let unk_first = unk.is_some_and(|u| !special_tokens.iter().any(|t| t.content == u));
        let front = special_tokens.len() + usize::from(unk_first);
        let chars: BTreeSet<char> = words.iter().flat_map(|(w, _)| w.chars()).collect();
        let pieces = canonical(unigram.iter().cloned().collect(), front, &chars);
        let unk_id = unk.and_then(|u| pieces.iter().position(|(p, _)| p == u));
        *model = ModelWrapper::Unigram(Unigram::from(pieces, unk_id, unigram.byte_fallback())?);
        Ok(special_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_brought_back_get_their_scores_in_code_point_order() {
        let low = -5.0;
        let steps = [low, low + 0.0001, low + (0.0001 + 0.0001)];
        let piece = |t: &str, s: f64| (t.to_owned(), s);
        // As the crate might give them: c, a, b in hash order, and two pieces of equal score.
        let pieces = vec![
            piece("<unk>", 0.0),
            piece("the", -2.0),
            piece("y", -4.0),
            piece("x", -4.0),
            piece("a", steps[1]),
            piece("b", steps[2]),
            piece("c", steps[0]),
        ];
        let chars: BTreeSet<char> = "abcehtxy".chars().collect();
        let expected = [
            piece("<unk>", 0.0),
            piece("the", -2.0),
            piece("x", -4.0),
            piece("y", -4.0),
            piece("c", steps[2]),
            piece("b", steps[1]),
            piece("a", steps[0]),
        ];
        assert_eq!(canonical(pieces, 1, &chars), expected);
    }
}
