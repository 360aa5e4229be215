//! Stop-word removal for retrieval and keyword extraction, in English and Chinese.
//!
//! The lists are NLTK's (English 198 words, Chinese 841), through the `stop-words` crate.
//! Stop words are for search and keywords only: a language model must see them to learn to
//! write, so the dataset builder never removes them.
//!
//! Chinese has no spaces between words; without a segmenter, [`StopWords::content_words`]
//! removes the longest stop word that starts at each position of a run of ideographs and keeps
//! the stretches between them as content.

use std::collections::HashSet;

use unicode_normalization::char::is_combining_mark;

/// A language with a built-in stop-word list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Language {
    /// English (NLTK list).
    English,
    /// Chinese (NLTK list).
    Chinese,
}

impl Language {
    /// The ISO 639-1 code of the language.
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Chinese => "zh",
        }
    }
}

/// A set of stop words, matched case-insensitively.
#[derive(Clone, Debug, Default)]
pub struct StopWords {
    words: HashSet<String>,
    longest_cjk: usize,
}

impl StopWords {
    /// The built-in lists of the given languages, merged.
    pub fn new(languages: &[Language]) -> Self {
        let words = languages
            .iter()
            .flat_map(|l| stop_words::lookup(l.code()).unwrap_or_default().iter().copied());
        StopWords::from_words(words)
    }

    /// English and Chinese together, for mixed text.
    pub fn english_and_chinese() -> Self {
        StopWords::new(&[Language::English, Language::Chinese])
    }

    /// A set made of the given words (trimmed, lowercased, empty ones ignored).
    pub fn from_words<I, S>(words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = StopWords::default();
        set.extend(words);
        set
    }

    /// Adds words to the set.
    pub fn extend<I, S>(&mut self, words: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for w in words {
            let w = w.as_ref().trim().to_lowercase();
            if w.is_empty() {
                continue;
            }
            if w.chars().all(is_cjk) {
                self.longest_cjk = self.longest_cjk.max(w.chars().count());
            }
            self.words.insert(w);
        }
    }

    /// Number of words in the set.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether `word` is a stop word (case-insensitive).
    pub fn contains(&self, word: &str) -> bool {
        self.words.contains(word) || self.words.contains(&word.to_lowercase())
    }

    /// The tokens that are not stop words, in order.
    pub fn remove<'a>(&self, tokens: &[&'a str]) -> Vec<&'a str> {
        tokens.iter().copied().filter(|t| !self.contains(t)).collect()
    }

    /// Splits `text` into words and returns those that are not stop words, in order.
    ///
    /// A word is a run of letters, digits, combining marks and inner apostrophes; a run of
    /// Chinese ideographs is cut around the stop words it contains.
    pub fn content_words<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut out = Vec::new();
        for word in words(text) {
            if word.chars().next().is_some_and(is_cjk) {
                self.cjk_content(word, &mut out);
            } else if !self.contains(word) {
                out.push(word);
            }
        }
        out
    }

    /// Pushes the stretches of a run of ideographs that lie between stop words.
    fn cjk_content<'a>(&self, run: &'a str, out: &mut Vec<&'a str>) {
        let idx: Vec<usize> = run.char_indices().map(|(i, _)| i).chain(std::iter::once(run.len())).collect();
        let chars = idx.len() - 1;
        let mut content_start = 0;
        let mut i = 0;
        while i < chars {
            let longest = (1..=self.longest_cjk.min(chars - i))
                .rev()
                .find(|&n| self.words.contains(&run[idx[i]..idx[i + n]]));
            match longest {
                Some(n) => {
                    if content_start < i {
                        out.push(&run[idx[content_start]..idx[i]]);
                    }
                    i += n;
                    content_start = i;
                }
                None => i += 1,
            }
        }
        if content_start < chars {
            out.push(&run[idx[content_start]..]);
        }
    }
}

/// Splits text into words: ideograph runs, and runs of other letters, digits and marks.
fn words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<(usize, bool)> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        let cjk = is_cjk(c);
        let inner_apostrophe = matches!(c, '\'' | '’')
            && start.is_some_and(|(_, k)| !k)
            && next.is_some_and(char::is_alphanumeric);
        let wordy = c.is_alphanumeric() || is_combining_mark(c) || inner_apostrophe;
        match start {
            Some((s, k)) if !wordy || k != cjk => {
                out.push(&text[s..i]);
                start = wordy.then_some((i, cjk));
            }
            None if wordy => start = Some((i, cjk)),
            _ => {}
        }
    }
    if let Some((s, _)) = start {
        out.push(&text[s..]);
    }
    out
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_content_words() {
        let sw = StopWords::new(&[Language::English]);
        assert!(sw.contains("The") && sw.contains("didn't") && !sw.contains("rust"));
        assert_eq!(
            sw.content_words("The quick brown fox didn't jump over the lazy dog's café."),
            vec!["quick", "brown", "fox", "jump", "lazy", "dog's", "café"]
        );
    }

    #[test]
    fn chinese_content_words() {
        let sw = StopWords::new(&[Language::Chinese]);
        assert!(sw.len() > 700);
        assert_eq!(sw.content_words("我们的公园和图书馆"), vec!["公园", "图书馆"]);
    }

    #[test]
    fn mixed_text_keeps_marks_and_other_scripts() {
        let sw = StopWords::english_and_chinese();
        assert_eq!(
            sw.content_words("the naïve café 的 Rust 🦀 مرحبا ñ"),
            vec!["naïve", "café", "Rust", "مرحبا", "ñ"]
        );
    }

    #[test]
    fn custom_words_and_token_removal() {
        let sw = StopWords::from_words(["Foo", " bar ", ""]);
        assert_eq!(sw.len(), 2);
        assert_eq!(sw.remove(&["foo", "BAR", "baz"]), vec!["baz"]);
    }
}
