//! Documents, and reading them from a folder: text files and JSON lines.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::search::error::{Result, SearchError};

/// A document to index: its id (unique in an index), its text and free-form tags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// Unique id; for a file read from a folder, its path relative to the folder.
    pub id: String,
    /// The text.
    pub text: String,
    /// Tags (a topic, a language ...); for a file in a subfolder, the subfolder's name.
    #[serde(default)]
    pub tags: Vec<String>,
}

impl Document {
    /// A document without tags.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Document { id: id.into(), text: text.into(), tags: Vec::new() }
    }
}

/// The documents under a folder and the files skipped, with why.
#[derive(Debug, Default)]
pub struct Documents {
    /// The documents, in path order (a `.jsonl` file's in line order).
    pub documents: Vec<Document>,
    /// One line per file skipped: empty, not UTF-8 text, or binary.
    pub skipped: Vec<String>,
}

/// Reads every file under `dir` (recursively, in path order). A `.jsonl` file holds one
/// document per line (`{"id": …, "text": …, "tags": [...]}`); any other file is one document
/// whose id is its path relative to `dir` (with `/` separators) and whose tag is its first
/// folder, if any. Empty files and files that are not UTF-8 text (or hold NUL bytes) are
/// skipped and listed; a malformed JSON line or an empty document in a `.jsonl` is an error.
pub fn read_documents(dir: &Path) -> Result<Documents> {
    if !dir.is_dir() {
        return Err(SearchError::file(dir, "not a folder"));
    }
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    files.sort();
    let mut out = Documents::default();
    for path in files {
        let rel = path.strip_prefix(dir).unwrap_or(&path);
        let id = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        let bytes = std::fs::read(&path).map_err(|e| SearchError::file(&path, format!("cannot read: {e}")))?;
        let text = match String::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => text,
            _ => {
                out.skipped.push(format!("{}: binary or not UTF-8, skipped", path.display()));
                continue;
            }
        };
        if text.trim().is_empty() {
            out.skipped.push(format!("{}: empty, skipped", path.display()));
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            out.documents.extend(parse_jsonl(&path, &text)?);
        } else {
            let tags = rel.parent().and_then(|p| p.components().next()).map(|c| c.as_os_str().to_string_lossy().into_owned());
            out.documents.push(Document { id, text, tags: tags.into_iter().collect() });
        }
    }
    Ok(out)
}

/// The documents of a JSON-lines file; blank lines are ignored.
pub fn parse_jsonl(path: &Path, text: &str) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let doc: Document = serde_json::from_str(line)
            .map_err(|e| SearchError::file(path, format!("line {}: not a document ({{\"id\", \"text\", \"tags\"}}): {e}", n + 1)))?;
        if doc.text.trim().is_empty() {
            return Err(SearchError::file(path, format!("line {}: document `{}` has no text", n + 1, doc.id)));
        }
        docs.push(doc);
    }
    Ok(docs)
}

fn collect_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| SearchError::file(dir, format!("cannot list: {e}")))?;
    for entry in entries {
        let path = entry.map_err(|e| SearchError::file(dir, format!("cannot list: {e}")))?.path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
