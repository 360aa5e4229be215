//! Chunking: a document cut into runs of whole sentences, each run overlapping the last.

use serde::{Deserialize, Serialize};

use loam_text::split_sentences;

/// How documents are cut into chunks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkConfig {
    /// Most words in a chunk (default 120, well inside all-MiniLM-L6-v2's 256 tokens); a
    /// longer sentence is cut into pieces of this many words.
    pub max_words: usize,
    /// Sentences each chunk repeats from the end of the one before (default 1).
    pub overlap_sentences: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig { max_words: 120, overlap_sentences: 1 }
    }
}

/// Cuts `text` into chunks of whole sentences (at most `max_words` words each, at least one
/// sentence), each starting `overlap_sentences` sentences before the previous one ended.
/// Chunks are in document order; a text with no words gives none.
pub fn chunk_text(text: &str, config: &ChunkConfig) -> Vec<String> {
    let max_words = config.max_words.max(1);
    let sentences: Vec<Vec<&str>> = split_sentences(text)
        .into_iter()
        .flat_map(|s| {
            let words: Vec<&str> = s.split_whitespace().collect();
            words.chunks(max_words).map(<[&str]>::to_vec).collect::<Vec<_>>()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let mut chunks = Vec::new();
    let mut start = 0;
    while start < sentences.len() {
        let mut end = start + 1;
        let mut words = sentences[start].len();
        while end < sentences.len() && words + sentences[end].len() <= max_words {
            words += sentences[end].len();
            end += 1;
        }
        chunks.push(sentences[start..end].iter().map(|s| s.join(" ")).collect::<Vec<_>>().join(" "));
        if end == sentences.len() {
            break;
        }
        start = end.saturating_sub(config.overlap_sentences).max(start + 1);
    }
    chunks
}
