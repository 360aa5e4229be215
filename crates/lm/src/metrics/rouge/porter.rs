//! The Porter stemmer as NLTK's `PorterStemmer()` (its default `NLTK_EXTENSIONS` mode), which
//! is what rouge-score stems with: Porter's 1980 algorithm, a few irregular forms, and NLTK's
//! changes to steps 1a, 1b, 1c and 2. A line-for-line port, so that stems, and with them ROUGE
//! scores, are the same; the `rust-stemmers` crate implements Porter2 (Snowball English),
//! which stems 190 of the 3004 words of `tests/data/metrics_reference.json` differently
//! ("adjustly" → "adjust", where Porter gives "adjustli").

/// Irregular forms NLTK maps directly: (word, stem).
const IRREGULAR: &[(&str, &str)] = &[
    ("sky", "sky"),
    ("skies", "sky"),
    ("dying", "die"),
    ("lying", "lie"),
    ("tying", "tie"),
    ("news", "news"),
    ("innings", "inning"),
    ("inning", "inning"),
    ("outings", "outing"),
    ("outing", "outing"),
    ("cannings", "canning"),
    ("canning", "canning"),
    ("howe", "howe"),
    ("proceed", "proceed"),
    ("exceed", "exceed"),
    ("succeed", "succeed"),
];

/// The stem of `word`, lower-cased first. Words that are not ASCII are only lower-cased (the
/// rules are for English letters; rouge-score never stems anything but `[a-z0-9]+`).
pub fn porter_stem(word: &str) -> String {
    let lower = word.to_lowercase();
    if let Some(&(_, stem)) = IRREGULAR.iter().find(|(w, _)| *w == lower) {
        return stem.to_string();
    }
    if !lower.is_ascii() || word.chars().count() <= 2 {
        return lower;
    }
    let mut w = lower.into_bytes();
    w = step1a(w);
    w = step1b(w);
    w = step1c(w);
    w = step2(w);
    w = step3(w);
    w = step4(w);
    w = step5a(w);
    w = step5b(w);
    String::from_utf8(w).expect("ASCII in, ASCII out")
}

/// A rule: suffix, replacement, and the condition the stem (the word less the suffix) must meet.
type Rule<'a> = (&'a str, &'a str, &'a dyn Fn(&[u8]) -> bool);

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// NLTK's `_is_consonant`: a `y` counts as a consonant after an even run of `y`s behind a vowel.
fn is_consonant(word: &[u8], mut i: usize) -> bool {
    if is_vowel(word[i]) {
        return false;
    }
    if word[i] == b'y' {
        let mut negate = false;
        while i > 0 && word[i] == b'y' {
            negate = !negate;
            i -= 1;
        }
        return is_vowel(word[i]) == negate;
    }
    true
}

/// NLTK's `_consonant_flags`: a `y` is a consonant at the start or after a vowel.
fn consonant_flags(stem: &[u8]) -> Vec<bool> {
    let mut flags: Vec<bool> = Vec::with_capacity(stem.len());
    for (i, &c) in stem.iter().enumerate() {
        let consonant = if is_vowel(c) {
            false
        } else if c == b'y' {
            i == 0 || !flags[i - 1]
        } else {
            true
        };
        flags.push(consonant);
    }
    flags
}

/// m in [C](VC)^m[V]: the number of vowel-consonant transitions.
fn measure(stem: &[u8]) -> usize {
    consonant_flags(stem).windows(2).filter(|p| !p[0] && p[1]).count()
}

fn positive_measure(stem: &[u8]) -> bool {
    measure(stem) > 0
}

fn contains_vowel(stem: &[u8]) -> bool {
    consonant_flags(stem).iter().any(|&c| !c)
}

fn ends_double_consonant(word: &[u8]) -> bool {
    let n = word.len();
    n >= 2 && word[n - 1] == word[n - 2] && is_consonant(word, n - 1)
}

/// *o: consonant-vowel-consonant, the last not `w`, `x` or `y`; or (NLTK) a two-letter
/// vowel-consonant word.
fn ends_cvc(word: &[u8]) -> bool {
    let n = word.len();
    (n >= 3
        && is_consonant(word, n - 3)
        && !is_consonant(word, n - 2)
        && is_consonant(word, n - 1)
        && !matches!(word[n - 1], b'w' | b'x' | b'y'))
        || (n == 2 && !is_consonant(word, 0) && is_consonant(word, 1))
}

fn strip<'w>(word: &'w [u8], suffix: &str) -> &'w [u8] {
    &word[..word.len() - suffix.len()]
}

fn joined(stem: &[u8], tail: &str) -> Vec<u8> {
    [stem, tail.as_bytes()].concat()
}

/// The first rule whose suffix `word` ends with decides: its replacement when the condition
/// holds, else the word unchanged.
fn apply_rules(word: Vec<u8>, rules: &[Rule]) -> Vec<u8> {
    for &(suffix, replacement, condition) in rules {
        if word.ends_with(suffix.as_bytes()) {
            let stem = strip(&word, suffix);
            return if condition(stem) { joined(stem, replacement) } else { word };
        }
    }
    word
}

fn always(_: &[u8]) -> bool {
    true
}

fn step1a(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"ies") && word.len() == 4 {
        return joined(strip(&word, "ies"), "ie");
    }
    apply_rules(word, &[("sses", "ss", &always), ("ies", "i", &always), ("ss", "ss", &always), ("s", "", &always)])
}

fn step1b(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"ied") {
        let tail = if word.len() == 4 { "ie" } else { "i" };
        return joined(strip(&word, "ied"), tail);
    }
    if word.ends_with(b"eed") {
        let stem = strip(&word, "eed");
        return if measure(stem) > 0 { joined(stem, "ee") } else { word };
    }
    let Some(stem) = ["ed", "ing"]
        .iter()
        .filter(|s| word.ends_with(s.as_bytes()))
        .map(|s| strip(&word, s))
        .find(|stem| contains_vowel(stem))
    else {
        return word;
    };
    for (suffix, replacement) in [("at", "ate"), ("bl", "ble"), ("iz", "ize")] {
        if stem.ends_with(suffix.as_bytes()) {
            return joined(strip(stem, suffix), replacement);
        }
    }
    if ends_double_consonant(stem) {
        let last = stem[stem.len() - 1];
        return if matches!(last, b'l' | b's' | b'z') { stem.to_vec() } else { stem[..stem.len() - 1].to_vec() };
    }
    if measure(stem) == 1 && ends_cvc(stem) { joined(stem, "e") } else { stem.to_vec() }
}

fn step1c(word: Vec<u8>) -> Vec<u8> {
    apply_rules(word, &[("y", "i", &|stem: &[u8]| stem.len() > 1 && is_consonant(stem, stem.len() - 1))])
}

fn step2(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"alli") && positive_measure(strip(&word, "alli")) {
        return step2(joined(strip(&word, "alli"), "al"));
    }
    let logi_stem_measure = word.len() >= 3 && positive_measure(&word[..word.len() - 3]);
    let logi = move |_: &[u8]| logi_stem_measure;
    let m: &dyn Fn(&[u8]) -> bool = &positive_measure;
    apply_rules(
        word,
        &[
            ("ational", "ate", m),
            ("tional", "tion", m),
            ("enci", "ence", m),
            ("anci", "ance", m),
            ("izer", "ize", m),
            ("bli", "ble", m),
            ("alli", "al", m),
            ("entli", "ent", m),
            ("eli", "e", m),
            ("ousli", "ous", m),
            ("ization", "ize", m),
            ("ation", "ate", m),
            ("ator", "ate", m),
            ("alism", "al", m),
            ("iveness", "ive", m),
            ("fulness", "ful", m),
            ("ousness", "ous", m),
            ("aliti", "al", m),
            ("iviti", "ive", m),
            ("biliti", "ble", m),
            ("fulli", "ful", m),
            ("logi", "log", &logi),
        ],
    )
}

fn step3(word: Vec<u8>) -> Vec<u8> {
    let m: &dyn Fn(&[u8]) -> bool = &positive_measure;
    apply_rules(
        word,
        &[("icate", "ic", m), ("ative", "", m), ("alize", "al", m), ("iciti", "ic", m), ("ical", "ic", m), ("ful", "", m), ("ness", "", m)],
    )
}

fn step4(word: Vec<u8>) -> Vec<u8> {
    let m: &dyn Fn(&[u8]) -> bool = &|stem: &[u8]| measure(stem) > 1;
    let ion = |stem: &[u8]| measure(stem) > 1 && matches!(stem.last(), Some(b's' | b't'));
    apply_rules(
        word,
        &[
            ("al", "", m),
            ("ance", "", m),
            ("ence", "", m),
            ("er", "", m),
            ("ic", "", m),
            ("able", "", m),
            ("ible", "", m),
            ("ant", "", m),
            ("ement", "", m),
            ("ment", "", m),
            ("ent", "", m),
            ("ion", "", &ion),
            ("ou", "", m),
            ("ism", "", m),
            ("ate", "", m),
            ("iti", "", m),
            ("ous", "", m),
            ("ive", "", m),
            ("ize", "", m),
        ],
    )
}

fn step5a(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"e") {
        let stem = strip(&word, "e");
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            return stem.to_vec();
        }
    }
    word
}

fn step5b(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"ll") && measure(&word[..word.len() - 1]) > 1 {
        return word[..word.len() - 1].to_vec();
    }
    word
}

#[cfg(test)]
mod tests {
    use super::porter_stem;

    #[test]
    fn stems_as_nltk() {
        let cases = [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("ties", "tie"),
            ("cats", "cat"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("motoring", "motor"),
            ("hopping", "hop"),
            ("filing", "file"),
            ("happy", "happi"),
            ("relational", "relat"),
            ("generously", "gener"),
            ("dying", "die"),
        ];
        for (word, stem) in cases {
            assert_eq!(porter_stem(word), stem, "{word}");
        }
    }
}
