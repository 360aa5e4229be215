//! The checks every piece of copy must pass, and the rules they follow.
//!
//! - **Mentions.** The product's name and each feature must appear in the copy. Text is cut into
//!   words (runs of letters and digits; an inner `'` or `’` stays in the word), lowercased, and
//!   each word reduced by [`stem`] (plural and possessive endings); an attribute is mentioned
//!   when its sequence of reduced words appears, consecutive, among the copy's. So "Trail
//!   Runner's" mentions "trail runner", and "spare batteries" mentions "spare battery"; "two-year
//!   warranty" does not mention "2-year warranty".
//! - **Length.** Words (whitespace-separated pieces holding a letter or digit) within bounds.
//! - **Banned words.** No banned word or phrase, matched like mentions.
//! - **Unsupported claims.** Every number in the copy (with its `#` prefix or `%` suffix; "N
//!   percent" counts as "N%") must appear in the product's attributes, and so must each
//!   superlative of [`SUPERLATIVES`] ("best", "fastest", "guaranteed", "number one"…) that the
//!   copy uses. Numbers written as words are not checked.

use serde::{Deserialize, Serialize};

/// Claims the copy may make only when the product's attributes make them.
pub const SUPERLATIVES: [&str; 34] = [
    "best", "fastest", "cheapest", "strongest", "lightest", "smallest", "biggest", "largest", "greatest", "finest",
    "highest", "lowest", "longest", "toughest", "quietest", "safest", "warmest", "smartest", "ultimate", "unbeatable",
    "unmatched", "unrivaled", "unrivalled", "guaranteed", "guarantee", "perfect", "flawless", "revolutionary",
    "world class", "number one", "top rated", "award winning", "clinically proven", "industry leading",
];

/// The word bounds of a piece of copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WordBounds {
    /// Fewest words.
    pub min: usize,
    /// Most words.
    pub max: usize,
}

/// One way a piece of copy fails its constraints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Violation {
    /// The name or a feature is not mentioned.
    Missing {
        /// The attribute.
        attribute: String,
    },
    /// Fewer words than the minimum.
    TooShort {
        /// Words in the copy.
        words: usize,
        /// The minimum.
        min: usize,
    },
    /// More words than the maximum.
    TooLong {
        /// Words in the copy.
        words: usize,
        /// The maximum.
        max: usize,
    },
    /// A banned word or phrase is used.
    Banned {
        /// The banned word.
        word: String,
    },
    /// A number or superlative that the attributes do not support.
    UnsupportedClaim {
        /// The claim as written in the copy.
        claim: String,
    },
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::Missing { attribute } => write!(f, "does not mention {attribute:?}"),
            Violation::TooShort { words, min } => write!(f, "too short: {words} words, at least {min} wanted"),
            Violation::TooLong { words, max } => write!(f, "too long: {words} words, at most {max} wanted"),
            Violation::Banned { word } => write!(f, "uses the banned word {word:?}"),
            Violation::UnsupportedClaim { claim } => write!(f, "claims {claim:?}, which the product's attributes do not support"),
        }
    }
}

/// Reduces a lowercase word's plural or possessive ending: `’s`/`'s` and a final `'` go,
/// `-ies` → `-y`, `-sses` → `-ss`, `-xes`/`-zes`/`-ches`/`-shes` lose `-es`, and a final `-s`
/// goes unless the word ends in `ss`, `us` or `is` or has three letters or fewer.
///
/// ```
/// use loam_apps::writer::stem;
/// assert_eq!(stem("batteries"), "battery");
/// assert_eq!(stem("boxes"), "box");
/// assert_eq!(stem("shoes"), stem("shoe"));
/// assert_eq!(stem("runner's"), "runner");
/// assert_eq!(stem("glass"), "glass");
/// ```
pub fn stem(word: &str) -> String {
    let w = word.trim_end_matches(['\'', '’']);
    let w = w.strip_suffix("'s").or_else(|| w.strip_suffix("’s")).unwrap_or(w);
    let n = w.chars().count();
    if n > 4 && w.ends_with("ies") {
        return format!("{}y", &w[..w.len() - 3]);
    }
    if w.ends_with("sses") || ["xes", "zes", "ches", "shes"].iter().any(|s| w.ends_with(s)) {
        return w[..w.len() - 2].to_string();
    }
    if n > 3 && w.ends_with('s') && !["ss", "us", "is"].iter().any(|s| w.ends_with(s)) {
        return w[..w.len() - 1].to_string();
    }
    w.to_string()
}

/// The reduced words of `text` (see the module's rules).
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let inner_quote = (c == '\'' || c == '’') && !word.is_empty() && chars.peek().is_some_and(|n| n.is_alphanumeric());
        if c.is_alphanumeric() || inner_quote {
            word.extend(c.to_lowercase());
        } else if !word.is_empty() {
            out.push(stem(&std::mem::take(&mut word)));
        }
    }
    if !word.is_empty() {
        out.push(stem(&word));
    }
    out
}

/// Whether the reduced words of `phrase` appear, consecutive, in `haystack`.
fn contains(haystack: &[String], phrase: &str) -> bool {
    let needle = words(phrase);
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle.as_slice())
}

/// The numbers of `text` as claims: `#1`, `50%`, `2.5`, `10,000` (commas dropped), and
/// `N percent` as `N%`.
pub fn numbers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() || (i > 0 && chars[i - 1].is_alphanumeric()) {
            i += 1;
            continue;
        }
        let mut claim = String::new();
        if i > 0 && chars[i - 1] == '#' {
            claim.push('#');
        }
        while i < chars.len() && (chars[i].is_ascii_digit() || ((chars[i] == '.' || chars[i] == ',') && chars.get(i + 1).is_some_and(char::is_ascii_digit))) {
            if chars[i] != ',' {
                claim.push(chars[i]);
            }
            i += 1;
        }
        let rest: String = chars[i..chars.len().min(i + 9)].iter().collect::<String>().to_lowercase();
        if chars.get(i) == Some(&'%') || rest.starts_with(" percent") {
            claim.push('%');
        }
        out.push(claim);
    }
    out
}

/// What the copy is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraints {
    /// Attributes that must be mentioned (the name and each feature).
    pub required: Vec<String>,
    /// Everything the product's attributes say, for the claims check.
    pub facts: String,
    /// Word bounds.
    pub bounds: WordBounds,
    /// Banned words and phrases.
    pub banned: Vec<String>,
}

impl Constraints {
    /// Every way `copy` fails these constraints (empty: it passes), in a fixed order: missing
    /// attributes, length, banned words, unsupported claims.
    pub fn check(&self, copy: &str) -> Vec<Violation> {
        let copy_words = words(copy);
        let fact_words = words(&self.facts);
        let mut out: Vec<Violation> = self.required.iter().filter(|a| !contains(&copy_words, a)).map(|a| Violation::Missing { attribute: a.clone() }).collect();
        let n = copy.split_whitespace().filter(|w| w.chars().any(char::is_alphanumeric)).count();
        if n < self.bounds.min {
            out.push(Violation::TooShort { words: n, min: self.bounds.min });
        } else if n > self.bounds.max {
            out.push(Violation::TooLong { words: n, max: self.bounds.max });
        }
        out.extend(self.banned.iter().filter(|b| contains(&copy_words, b)).map(|b| Violation::Banned { word: b.clone() }));
        let known = numbers(&self.facts);
        let mut claims: Vec<String> = numbers(copy).into_iter().filter(|c| !known.contains(c)).collect();
        claims.extend(SUPERLATIVES.iter().filter(|s| contains(&copy_words, s) && !contains(&fact_words, s)).map(|s| s.to_string()));
        let mut seen = std::collections::HashSet::new();
        out.extend(claims.into_iter().filter(|c| seen.insert(c.clone())).map(|claim| Violation::UnsupportedClaim { claim }));
        out
    }
}
