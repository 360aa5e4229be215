//! Rules as data: a file of named word lists and patterns, each pattern tagged with the
//! category it flags and whether it applies to what users send, to replies, or both.
//!
//! ```text
//! # comment
//! define insult = idiot|moron|imbecile
//! abuse both: \b(?:you|u)\W+{insult}\b
//! injection input: ^\s*system\s*:
//! ```
//!
//! `{name}` in a pattern stands for `(?:…)` of the list defined before it. Patterns are Rust
//! regular expressions matched on the lower-cased, NFKC-normalised text and on the same text
//! with simple obfuscations undone (see `normalize`).

use std::collections::HashMap;

use regex::Regex;

use super::Category;
use super::normalize::Views;
use crate::{AppsError, Result};

/// Where a rule applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Applies {
    /// To what users send.
    Input,
    /// To generated replies.
    Output,
    /// To both.
    Both,
}

/// One compiled rule.
#[derive(Debug)]
pub(crate) struct Rule {
    /// The category a match flags.
    pub category: Category,
    /// Where the rule applies.
    pub applies: Applies,
    /// The pattern with word lists expanded.
    pub pattern: Regex,
    /// The line of the rules file it came from.
    pub line: usize,
}

/// A parsed rules file.
#[derive(Debug)]
pub(crate) struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// Parses a rules file; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Rules> {
        let mut lists: HashMap<String, String> = HashMap::new();
        let mut rules = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |what: String| AppsError::Config(format!("{origin} line {line_no}: {what}"));
            if let Some(def) = line.strip_prefix("define ") {
                let (name, words) = def
                    .split_once('=')
                    .ok_or_else(|| err("`define NAME = a|b|c` expected".into()))?;
                let body = expand(words.trim(), &lists).map_err(err)?;
                lists.insert(name.trim().to_owned(), body);
                continue;
            }
            let (head, pattern) = line
                .split_once(": ")
                .ok_or_else(|| err("`CATEGORY WHERE: PATTERN` expected".into()))?;
            let mut head = head.split_whitespace();
            let category = head.next().unwrap_or_default();
            let category = Category::from_name(category)
                .ok_or_else(|| err(format!("unknown category `{category}`")))?;
            let applies = match head.next() {
                Some("input") => Applies::Input,
                Some("output") => Applies::Output,
                Some("both") => Applies::Both,
                other => {
                    return Err(err(format!(
                        "`input`, `output` or `both` expected, found {other:?}"
                    )));
                }
            };
            let expanded = expand(pattern.trim(), &lists).map_err(err)?;
            let pattern = Regex::new(&expanded).map_err(|e| err(format!("bad pattern: {e}")))?;
            rules.push(Rule {
                category,
                applies,
                pattern,
                line: line_no,
            });
        }
        if rules.is_empty() {
            return Err(AppsError::Config(format!("{origin}: no rules")));
        }
        Ok(Rules { rules })
    }

    /// The first rule for `input` (or replies) among the enabled categories that matches
    /// any view.
    pub fn first_match(
        &self,
        views: &Views,
        input: bool,
        enabled: impl Fn(Category) -> bool,
    ) -> Option<&Rule> {
        self.rules.iter().find(|rule| {
            let applies = match rule.applies {
                Applies::Both => true,
                Applies::Input => input,
                Applies::Output => !input,
            };
            applies
                && enabled(rule.category)
                && views.0.iter().any(|view| rule.pattern.is_match(view))
        })
    }
}

/// Replaces each `{name}` in `pattern` with `(?:list)`.
fn expand(pattern: &str, lists: &HashMap<String, String>) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after.find('}');
        let name = close.map(|c| &after[..c]);
        match name
            .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            Some(name) if name.chars().all(|c| c.is_ascii_digit()) => {
                // A repetition such as `{4}`: keep it as it is (`{0,3}` is not a name either).
                out.push('{');
                out.push_str(name);
                out.push('}');
                rest = &after[name.len() + 1..];
            }
            Some(name) => {
                let list = lists
                    .get(name)
                    .ok_or_else(|| format!("list `{name}` is not defined above"))?;
                out.push_str("(?:");
                out.push_str(list);
                out.push(')');
                rest = &after[name.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_lists_and_keeps_repetitions() {
        let lists = HashMap::from([("you".to_owned(), "you|u".to_owned())]);
        assert_eq!(
            expand(r"\b{you}\W+(?:\w+\W+){0,3}x", &lists).unwrap(),
            r"\b(?:you|u)\W+(?:\w+\W+){0,3}x"
        );
        assert!(expand("{missing}", &lists).unwrap_err().contains("missing"));
    }

    #[test]
    fn errors_name_the_line() {
        let err = Rules::parse("define a = x\n\nabuse sideways: x", "rules.txt")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("rules.txt line 3:"), "{err}");
        let err = Rules::parse("abuse both: (", "r").unwrap_err().to_string();
        assert!(err.contains("bad pattern"), "{err}");
        let err = Rules::parse("pirates both: x", "r")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown category `pirates`"), "{err}");
    }
}
