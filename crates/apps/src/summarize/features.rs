//! TF-IDF sentence vectors: English content words (stop words removed, Porter-stemmed) and, for
//! Chinese, character unigrams and bigrams of the text between stop words, since Chinese has
//! no spaces and a segmenter is more than a summarizer needs.

use std::collections::HashMap;

use loam_lm::metrics::rouge::porter_stem;
use loam_text::StopWords;

/// A sparse vector: term index → weight, sorted by index.
pub type SparseVector = Vec<(usize, f64)>;

/// The terms of one sentence, with repeats.
pub fn terms(sentence: &str, stop_words: &StopWords) -> Vec<String> {
    let mut out = Vec::new();
    for word in stop_words.content_words(sentence) {
        let chars: Vec<char> = word.chars().collect();
        if chars.first().is_some_and(|&c| is_cjk(c)) {
            out.extend(chars.iter().map(char::to_string));
            out.extend(chars.windows(2).map(|p| p.iter().collect::<String>()));
        } else {
            out.push(porter_stem(word));
        }
    }
    out
}

/// Whether `c` is a CJK ideograph.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// Unit-length TF-IDF vectors of `sentences`, the document's sentences standing in for the
/// corpus: tf is the raw count, idf = ln((1 + n) / (1 + df)) + 1 (scikit-learn's smoothed idf).
pub fn tfidf_vectors(sentences: &[&str], stop_words: &StopWords) -> Vec<SparseVector> {
    let mut vocabulary: HashMap<String, usize> = HashMap::new();
    let counted: Vec<HashMap<usize, f64>> = sentences
        .iter()
        .map(|s| {
            let mut counts = HashMap::new();
            for term in terms(s, stop_words) {
                let next = vocabulary.len();
                let id = *vocabulary.entry(term).or_insert(next);
                *counts.entry(id).or_insert(0.0) += 1.0;
            }
            counts
        })
        .collect();
    let mut df = vec![0.0f64; vocabulary.len()];
    for counts in &counted {
        for &id in counts.keys() {
            df[id] += 1.0;
        }
    }
    let n = sentences.len() as f64;
    counted
        .into_iter()
        .map(|counts| {
            let mut v: SparseVector = counts.into_iter().map(|(id, tf)| (id, tf * (((1.0 + n) / (1.0 + df[id])).ln() + 1.0))).collect();
            v.sort_unstable_by_key(|&(id, _)| id);
            let norm = v.iter().map(|(_, w)| w * w).sum::<f64>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|(_, w)| *w /= norm);
            }
            v
        })
        .collect()
}

/// The dot product of two sorted sparse vectors (their cosine, as both have unit length).
pub fn sparse_dot(a: &SparseVector, b: &SparseVector) -> f64 {
    let (mut i, mut j, mut dot) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                dot += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    dot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_terms_are_stemmed_content_words_and_chinese_terms_character_ngrams() {
        let sw = StopWords::english_and_chinese();
        assert_eq!(terms("The orders were shipped quickly", &sw), ["order", "ship", "quickli"]);
        assert_eq!(terms("新款外套", &sw), ["新", "款", "外", "套", "新款", "款外", "外套"]);
    }

    #[test]
    fn tfidf_cosine_is_one_for_equal_sentences_and_zero_for_disjoint_ones() {
        let sw = StopWords::english_and_chinese();
        let v = tfidf_vectors(&["Red shoes on sale", "Red shoes on sale", "Delivery takes two days"], &sw);
        assert!((sparse_dot(&v[0], &v[1]) - 1.0).abs() < 1e-12);
        assert_eq!(sparse_dot(&v[0], &v[2]), 0.0);
    }
}
