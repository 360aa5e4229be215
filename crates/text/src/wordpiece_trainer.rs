//! WordPiece training that learns the same vocabulary, with the same ids, from the same corpus.
//!
//! WordPiece is trained as BPE over words whose characters after the first carry the `##`
//! prefix: the most frequent pair of adjacent symbols becomes a new symbol, until the vocabulary
//! is full or no pair occurs `min_frequency` times. The `tokenizers` crate's own trainer numbers
//! the `##` characters in hash-map order and breaks equal counts by those numbers, so two runs on
//! one corpus learn different vocabularies. Here every id follows from the text alone: the
//! special tokens first, then the corpus's characters in code-point order, then their `##` forms
//! in the same order, then each new symbol as it is learned. Equal counts go to the pair with the
//! smaller ids.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use ahash::AHashMap;
use tokenizers::AddedToken;
use tokenizers::models::ModelWrapper;
use tokenizers::models::wordpiece::WordPiece;

use crate::word_counts::LearnFromWords;

/// The mark of a symbol that continues a word.
const PREFIX: &str = "##";

/// Two adjacent symbols, by id.
type Pair = (u32, u32);

/// A reproducible WordPiece trainer (for `tokenizers::Tokenizer::train` through
/// [`WordCountTrainer`](crate::word_counts::WordCountTrainer)).
pub(crate) struct WordPieceTrainer {
    vocab_size: usize,
    min_frequency: u64,
    special_tokens: Vec<AddedToken>,
    unk_token: String,
}

impl WordPieceTrainer {
    /// A trainer for at most `vocab_size` tokens (unless the corpus has more distinct characters)
    /// that merges pairs seen at least `min_frequency` times.
    pub(crate) fn new(
        vocab_size: usize,
        min_frequency: u64,
        special_tokens: Vec<AddedToken>,
        unk_token: String,
    ) -> Self {
        WordPieceTrainer { vocab_size, min_frequency, special_tokens, unk_token }
    }

    /// The vocabulary learned from `words` (with their counts, sorted by word), indexed by id.
    fn vocabulary(&self, words: &[(String, u64)]) -> Vec<String> {
        let mut vocab = Vocabulary::default();
        for token in &self.special_tokens {
            vocab.id(&token.content);
        }
        let chars: BTreeSet<char> = words.iter().flat_map(|(w, _)| w.chars()).collect();
        let continuing: BTreeSet<char> = words.iter().flat_map(|(w, _)| w.chars().skip(1)).collect();
        for c in chars {
            vocab.id(&c.to_string());
        }
        for c in continuing {
            vocab.id(&format!("{PREFIX}{c}"));
        }
        let counts: Vec<i64> = words.iter().map(|&(_, n)| i64::try_from(n).unwrap_or(i64::MAX)).collect();
        let mut words: Vec<Vec<u32>> = words
            .iter()
            .map(|(w, _)| {
                w.char_indices()
                    .map(|(at, c)| if at == 0 { vocab.id(&c.to_string()) } else { vocab.id(&format!("{PREFIX}{c}")) })
                    .collect()
            })
            .collect();

        let mut pairs = PairCounts::default();
        for (i, word) in words.iter().enumerate() {
            for w in word.windows(2) {
                pairs.add((w[0], w[1]), counts[i], i);
            }
        }
        let mut queue: BinaryHeap<(i64, Reverse<Pair>)> = pairs.counts.iter().map(|(&p, &n)| (n, Reverse(p))).collect();
        let min_frequency = i64::try_from(self.min_frequency.max(1)).unwrap_or(i64::MAX);
        while vocab.tokens.len() < self.vocab_size {
            let Some((count, Reverse(pair))) = queue.pop() else { break };
            let now = pairs.count(pair);
            if count != now {
                // A stale entry: the pair's count changed since it was queued.
                if now > 0 {
                    queue.push((now, Reverse(pair)));
                }
                continue;
            }
            if count < min_frequency {
                break;
            }
            let right = &vocab.tokens[pair.1 as usize];
            let merged = format!("{}{}", vocab.tokens[pair.0 as usize], right.strip_prefix(PREFIX).unwrap_or(right));
            let id = vocab.id(&merged);
            let mut grown = Vec::new();
            let mut change: Vec<(Pair, i64)> = Vec::new();
            for i in pairs.take_positions(pair) {
                let Some(new) = merge(&words[i], pair, id) else { continue };
                change.clear();
                let old = words[i].windows(2).map(|w| ((w[0], w[1]), -1));
                for (p, d) in old.chain(new.windows(2).map(|w| ((w[0], w[1]), 1))) {
                    match change.iter_mut().find(|(q, _)| *q == p) {
                        Some((_, n)) => *n += d,
                        None => change.push((p, d)),
                    }
                }
                for &(p, d) in change.iter().filter(|(_, d)| *d != 0) {
                    pairs.add(p, d * counts[i], i);
                    if d > 0 {
                        grown.push(p);
                    }
                }
                words[i] = new;
            }
            grown.sort_unstable();
            grown.dedup();
            for p in grown {
                let n = pairs.count(p);
                if n > 0 {
                    queue.push((n, Reverse(p)));
                }
            }
        }
        vocab.tokens
    }
}

/// `word` with every occurrence of `pair`, left to right, replaced by `id`; `None` if it has none.
fn merge(word: &[u32], pair: Pair, id: u32) -> Option<Vec<u32>> {
    let mut out = Vec::with_capacity(word.len());
    let mut i = 0;
    while i < word.len() {
        if i + 1 < word.len() && (word[i], word[i + 1]) == pair {
            out.push(id);
            i += 2;
        } else {
            out.push(word[i]);
            i += 1;
        }
    }
    (out.len() < word.len()).then_some(out)
}

/// Tokens by id and ids by token.
#[derive(Default)]
struct Vocabulary {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Vocabulary {
    /// The id of `token`, given the next free one if it is new.
    fn id(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        let id = self.tokens.len() as u32;
        self.tokens.push(token.to_owned());
        self.ids.insert(token.to_owned(), id);
        id
    }
}

/// How often each pair occurs in the corpus, and the words it may occur in.
#[derive(Default)]
struct PairCounts {
    counts: HashMap<Pair, i64>,
    /// The words the pair was formed in since it was last merged, each once per time it was.
    positions: HashMap<Pair, Vec<usize>>,
}

impl PairCounts {
    /// Adds `n` occurrences (or takes them away, if negative) of `pair` in word `word`.
    fn add(&mut self, pair: Pair, n: i64, word: usize) {
        *self.counts.entry(pair).or_default() += n;
        if n > 0 {
            let at = self.positions.entry(pair).or_default();
            if at.last() != Some(&word) {
                at.push(word);
            }
        }
    }

    fn count(&self, pair: Pair) -> i64 {
        self.counts.get(&pair).copied().unwrap_or(0)
    }

    /// The words `pair` may occur in, forgotten here: merging it removes it from all of them.
    fn take_positions(&mut self, pair: Pair) -> Vec<usize> {
        self.positions.remove(&pair).unwrap_or_default()
    }
}

impl LearnFromWords for WordPieceTrainer {
    fn learn(&self, words: &[(String, u64)], model: &mut ModelWrapper) -> tokenizers::Result<Vec<AddedToken>> {
        let vocab: AHashMap<String, u32> = self.vocabulary(words).into_iter().zip(0..).collect();
        let wordpiece = WordPiece::builder()
            .vocab(vocab)
            .unk_token(self.unk_token.clone())
            .continuing_subword_prefix(PREFIX.to_owned())
            .build()?;
        *model = ModelWrapper::WordPiece(wordpiece);
        Ok(self.special_tokens.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn learn(words: &[(&str, u64)], vocab_size: usize) -> Vec<String> {
        let trainer = WordPieceTrainer::new(vocab_size, 2, vec![AddedToken::from("[UNK]", true)], "[UNK]".into());
        trainer.vocabulary(&words.iter().map(|&(w, n)| (w.to_owned(), n)).collect::<Vec<_>>())
    }

    #[test]
    fn merges_the_most_frequent_pair_and_breaks_ties_by_the_smaller_ids() {
        let words = [("ab", 1), ("abc", 2), ("cd", 3), ("dd", 1)];
        // (a, ##b) and (c, ##d) both occur 3 times: (a, ##b) has the smaller ids. Then (ab, ##c)
        // twice; (##b, ##c) went with the first merge, and (d, ##d) occurs once, below 2.
        let expected = ["[UNK]", "a", "b", "c", "d", "##b", "##c", "##d", "ab", "cd", "abc"];
        assert_eq!(learn(&words, 100), expected);
        assert_eq!(learn(&words, 9), expected[..9]);
    }

    #[test]
    fn continuing_pieces_merge_with_one_prefix_and_repeated_pairs_left_to_right() {
        // "aaaa" is a ##a ##a ##a: (##a, ##a) occurs twice per word and merges left to right,
        // to a ##aa ##a. Then (a, ##aa) ties with (##aa, ##a) and has the smaller ids.
        assert_eq!(learn(&[("aaaa", 2)], 100), ["[UNK]", "a", "##a", "##aa", "aaa", "aaaa"]);
    }
}
