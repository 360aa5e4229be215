//! The knowledge base: entries of question variants and an answer, read from TOML, JSON or
//! Markdown files (one file, or a folder of them) and checked as a whole.
//!
//! TOML: `[[entry]]` tables; JSON: `{"entry": [...]}` or a bare array of entries. An entry has
//! `id`, `questions` (at least one), `answer`, and optionally `tags`, `follow_ups` (ids of
//! related entries, or questions) and `lang` (`en` or `zh`; told from the text when absent).
//! The Markdown form is described in [`super::markdown`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::assistant::error::{AssistantError, Result};
use crate::assistant::lang::Lang;
use crate::assistant::markdown;

/// One topic the assistant can answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Unique id (`returns-how`).
    pub id: String,
    /// Ways a customer asks it; the first is offered as a suggestion.
    pub questions: Vec<String>,
    /// The stored answer.
    pub answer: String,
    /// Free labels (`returns`, `shipping`).
    pub tags: Vec<String>,
    /// Related entries (ids) or questions, for a conversation that goes on.
    pub follow_ups: Vec<String>,
    /// The language of the questions and the answer.
    pub lang: Lang,
}

/// An entry as written in a file, before checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEntry {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) questions: Vec<String>,
    #[serde(default)]
    pub(crate) answer: String,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    #[serde(default)]
    pub(crate) follow_ups: Vec<String>,
    #[serde(default)]
    pub(crate) lang: Option<Lang>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    entry: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawJson {
    File(RawFile),
    List(Vec<RawEntry>),
}

/// The formats of a knowledge-base file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `[[entry]]` tables.
    Toml,
    /// `{"entry": [...]}` or an array of entries.
    Json,
    /// `## id` sections (see the module docs).
    Markdown,
}

impl Format {
    /// The format of a file by its extension (`.toml`, `.json`, `.md`/`.markdown`).
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            "md" | "markdown" => Some(Format::Markdown),
            _ => None,
        }
    }
}

/// A checked set of entries: ids unique, every entry with a question and an answer.
#[derive(Clone, Debug)]
pub struct KnowledgeBase {
    entries: Vec<Entry>,
    by_id: HashMap<String, usize>,
}

/// The example knowledge base's files, built into the binary.
const EXAMPLE: [(&str, &str); 2] = [
    (
        "shop-kb/en.toml",
        include_str!("../../data/shop-kb/en.toml"),
    ),
    (
        "shop-kb/zh.toml",
        include_str!("../../data/shop-kb/zh.toml"),
    ),
];

impl KnowledgeBase {
    /// Reads a knowledge-base file, or every `.toml`, `.json` and `.md` file under a folder
    /// (recursively, in path order; other files are ignored).
    pub fn load(path: &Path) -> Result<KnowledgeBase> {
        let mut files = Vec::new();
        if path.is_dir() {
            collect(path, &mut files)?;
            if files.is_empty() {
                return Err(AssistantError::file(
                    path,
                    "no .toml, .json or .md knowledge-base file in this folder",
                ));
            }
        } else {
            let format = Format::of(path).ok_or_else(|| {
                AssistantError::file(
                    path,
                    "not a knowledge-base file: the name must end in .toml, .json or .md",
                )
            })?;
            files.push((path.to_path_buf(), format));
        }
        let mut parsed = Vec::new();
        for (file, format) in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| AssistantError::file(&file, e.to_string()))?;
            for (n, raw) in parse(&text, format, &file)?.into_iter().enumerate() {
                parsed.push((file.clone(), n + 1, raw));
            }
        }
        KnowledgeBase::check(parsed)
    }

    /// Reads the text of one knowledge-base file; `origin` names it in errors.
    pub fn parse(text: &str, format: Format, origin: &Path) -> Result<KnowledgeBase> {
        let raws = parse(text, format, origin)?;
        KnowledgeBase::check(
            raws.into_iter()
                .enumerate()
                .map(|(n, raw)| (origin.to_path_buf(), n + 1, raw))
                .collect(),
        )
    }

    /// The example shop (Maple Lane Outfitters): 48 English and 48 Chinese entries, built in.
    pub fn example() -> KnowledgeBase {
        let mut parsed = Vec::new();
        for (name, text) in EXAMPLE {
            let raws = parse(text, Format::Toml, Path::new(name))
                .expect("the built-in knowledge base parses (tested)");
            parsed.extend(
                raws.into_iter()
                    .enumerate()
                    .map(|(n, raw)| (PathBuf::from(name), n + 1, raw)),
            );
        }
        KnowledgeBase::check(parsed).expect("the built-in knowledge base is valid (tested)")
    }

    /// Checks entries read from files (file, position in it, entry).
    pub(crate) fn check(parsed: Vec<(PathBuf, usize, RawEntry)>) -> Result<KnowledgeBase> {
        let mut entries = Vec::with_capacity(parsed.len());
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut origins: Vec<(PathBuf, usize)> = Vec::new();
        for (file, n, raw) in parsed {
            let id = raw.id.trim().to_string();
            let bad =
                |msg: String| AssistantError::file(&file, format!("entry {n} (`{id}`): {msg}"));
            if id.is_empty() || id.chars().any(char::is_whitespace) {
                return Err(bad("the id must be non-empty and without spaces".into()));
            }
            if let Some(&first) = by_id.get(&id) {
                let (f, m) = &origins[first];
                return Err(bad(format!(
                    "duplicate id: also entry {m} of {}",
                    f.display()
                )));
            }
            let questions: Vec<String> =
                raw.questions.iter().map(|q| q.trim().to_string()).collect();
            if questions.is_empty() {
                return Err(bad(
                    "no questions: give at least one way a customer asks it".into(),
                ));
            }
            if let Some(i) = questions.iter().position(String::is_empty) {
                return Err(bad(format!("question {} is empty", i + 1)));
            }
            let answer = raw.answer.trim().to_string();
            if answer.is_empty() {
                return Err(bad("empty answer".into()));
            }
            let lang = raw
                .lang
                .unwrap_or_else(|| Lang::detect(&format!("{} {answer}", questions.join(" "))));
            let follow_ups = raw
                .follow_ups
                .iter()
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect();
            let tags = raw
                .tags
                .iter()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
            by_id.insert(id.clone(), entries.len());
            origins.push((file.clone(), n));
            entries.push(Entry {
                id,
                questions,
                answer,
                tags,
                follow_ups,
                lang,
            });
        }
        if entries.is_empty() {
            return Err(AssistantError::Invalid(
                "the knowledge base has no entries".into(),
            ));
        }
        Ok(KnowledgeBase { entries, by_id })
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.by_id.get(id).map(|&i| &self.entries[i])
    }

    /// The position of the entry with this id in [`KnowledgeBase::entries`].
    pub fn position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries (never, for a loaded knowledge base).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The knowledge-base files under `dir`, sorted by path.
fn collect(dir: &Path, out: &mut Vec<(PathBuf, Format)>) -> Result<()> {
    let read = std::fs::read_dir(dir).map_err(|e| AssistantError::file(dir, e.to_string()))?;
    let mut paths: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect(&path, out)?;
        } else if let Some(format) = Format::of(&path) {
            out.push((path, format));
        }
    }
    Ok(())
}

/// The entries of one file, unchecked.
fn parse(text: &str, format: Format, origin: &Path) -> Result<Vec<RawEntry>> {
    let syntax = |msg: String| AssistantError::file(origin, msg);
    match format {
        Format::Toml => toml::from_str::<RawFile>(text)
            .map(|f| f.entry)
            .map_err(|e| syntax(e.to_string().trim_end().replace('\n', " "))),
        Format::Json => match serde_json::from_str::<RawJson>(text) {
            Ok(RawJson::File(f)) => Ok(f.entry),
            Ok(RawJson::List(list)) => Ok(list),
            Err(_) => Err(syntax(json_error(text))),
        },
        Format::Markdown => markdown::parse(text, origin),
    }
}

/// Why a JSON knowledge base does not read, with its line and column: serde's untagged enums
/// lose the position, so the text is read again as each shape and the error that got further
/// is reported.
fn json_error(text: &str) -> String {
    let as_file = serde_json::from_str::<RawFile>(text).err();
    let as_list = serde_json::from_str::<Vec<RawEntry>>(text).err();
    let further = match (as_file, as_list) {
        (Some(a), Some(b)) => {
            if (b.line(), b.column()) > (a.line(), a.column()) {
                b
            } else {
                a
            }
        }
        (Some(e), None) | (None, Some(e)) => e,
        (None, None) => return "not a knowledge base".into(),
    };
    format!("{further} (expected {{\"entry\": [...]}} or an array of entries)")
}
