//! Sentence splitting for English and Chinese (and text mixing both).
//!
//! Rule based, as far as is practical without a model: a sentence ends at `.`, `!`, `?` or `…`
//! (with any closing quotes and brackets after them) followed by white space and then not by
//! a lower-case letter; a period after a known abbreviation (`Dr.`, `e.g.`, `U.S.`) or a
//! single initial (`J. Smith`) ends nothing, and a period inside a number (`3.14`) is not
//! followed by white space. Chinese sentences end at `。！？｡` and `……`, with no space needed.
//! A blank line always ends a sentence.

/// Abbreviations (lower case, without their final period) after which a period ends nothing.
const ABBREVIATIONS: &[&str] = &[
    "a.m", "approx", "apr", "aug", "ave", "capt", "cf", "co", "col", "corp", "dec", "dept", "dr",
    "e.g", "esp", "est", "etc", "feb", "fig", "gen", "gov", "i.e", "inc", "jan", "jr", "jul", "jun",
    "lt", "ltd", "messrs", "mr", "mrs", "ms", "mt", "no", "nov", "oct", "p.m", "pp", "prof", "rd",
    "rep", "rev", "sen", "sep", "sept", "sgt", "sr", "st", "u.k", "u.s", "vol", "vs",
];

/// Characters that end a sentence in Chinese text, with no space needed after them.
const CJK_TERMINATORS: &[char] = &['。', '！', '？', '｡'];

/// Closing quotes and brackets that stay with the sentence they close.
const CLOSERS: &[char] = &['"', '\'', '”', '’', ')', ']', '}', '»', '」', '』', '）', '》', '】', '〉'];

/// Splits `text` into sentences, each trimmed of surrounding white space, in order.
pub fn split_sentences(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut cuts = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if c == '\n' && is_blank_line_after(&chars, i) {
            cuts.push(chars[i].0);
            i += 1;
            continue;
        }
        let cjk = CJK_TERMINATORS.contains(&c);
        if !(cjk || matches!(c, '.' | '!' | '?' | '…')) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        while end < chars.len() && (is_terminator(chars[end].1) || CLOSERS.contains(&chars[end].1)) {
            end += 1;
        }
        let cut = chars.get(end).map_or(text.len(), |&(b, _)| b);
        let cjk = cjk || chars[start..end].iter().any(|&(_, c)| CJK_TERMINATORS.contains(&c) || c == '…' && is_cjk_before(&chars, start));
        if cjk || ends_english_sentence(text, &chars, start, end) {
            cuts.push(cut);
        }
        i = end;
    }
    let mut sentences = Vec::new();
    let mut from = 0;
    for cut in cuts.into_iter().chain(std::iter::once(text.len())) {
        let piece = text[from..cut].trim();
        if !piece.is_empty() {
            sentences.push(piece);
        }
        from = cut;
    }
    sentences
}

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…') || CJK_TERMINATORS.contains(&c)
}

/// Whether the line break at `i` is followed by a blank line (white space up to another break).
fn is_blank_line_after(chars: &[(usize, char)], i: usize) -> bool {
    chars[i + 1..].iter().map(|&(_, c)| c).take_while(|c| c.is_whitespace()).any(|c| c == '\n')
}

/// Whether the character before position `start` is a CJK ideograph.
fn is_cjk_before(chars: &[(usize, char)], start: usize) -> bool {
    start > 0 && is_cjk(chars[start - 1].1)
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// Whether the terminator run `chars[start..end]` ends an English sentence.
fn ends_english_sentence(text: &str, chars: &[(usize, char)], start: usize, end: usize) -> bool {
    let Some(&(_, next)) = chars.get(end) else {
        return true;
    };
    if !next.is_whitespace() {
        return false;
    }
    let following = chars[end..].iter().map(|&(_, c)| c).find(|c| !c.is_whitespace());
    if following.is_some_and(char::is_lowercase) {
        return false;
    }
    let single_period = end - start == 1 && chars[start].1 == '.';
    if !single_period {
        return true;
    }
    let word_start = text[..chars[start].0]
        .rfind(|c: char| c.is_whitespace() || "(\"'“‘[".contains(c))
        .map_or(0, |p| p + text[p..].chars().next().map_or(1, char::len_utf8));
    let word = &text[word_start..chars[start].0];
    let is_initial = {
        let mut w = word.chars();
        matches!((w.next(), w.next()), (Some(c), None) if c.is_uppercase())
    };
    let lower = word.to_lowercase();
    !(is_initial || ABBREVIATIONS.contains(&lower.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_keeps_abbreviations_initials_and_decimals() {
        let text = "Dr. Smith paid $3.50 for it, e.g. at the U.S. store. J. R. R. Tolkien wrote it! \
                    Did he? \"Yes.\" It cost approx. 4 dollars... Then we left.";
        assert_eq!(
            split_sentences(text),
            vec![
                "Dr. Smith paid $3.50 for it, e.g. at the U.S. store.",
                "J. R. R. Tolkien wrote it!",
                "Did he?",
                "\"Yes.\"",
                "It cost approx. 4 dollars...",
                "Then we left.",
            ]
        );
    }

    #[test]
    fn chinese_splits_without_spaces() {
        let text = "今天天气很好。我们去公园吧！你去吗？“好的。”他说……然后走了";
        assert_eq!(
            split_sentences(text),
            vec!["今天天气很好。", "我们去公园吧！", "你去吗？", "“好的。”", "他说……", "然后走了"]
        );
    }

    #[test]
    fn blank_lines_end_sentences_and_wrapped_lines_do_not() {
        let text = "A heading\n\nThis sentence is\nwrapped. Next one\n";
        assert_eq!(split_sentences(text), vec!["A heading", "This sentence is\nwrapped.", "Next one"]);
    }

    #[test]
    fn mixed_scripts_and_emoji_stay_intact() {
        let text = "I love Rust 🦀. مرحبا بالعالم. 你好，世界！Done.";
        assert_eq!(split_sentences(text), vec!["I love Rust 🦀.", "مرحبا بالعالم.", "你好，世界！", "Done."]);
    }
}
