//! Chat templates as Hugging Face models ship them: the Jinja source in `chat_template.jinja`
//! or in `tokenizer_config.json`'s `chat_template` (a string, or a list of named templates),
//! rendered with `minijinja` the way `transformers`' `apply_chat_template` renders them:
//! blocks trimmed (`trim_blocks`, `lstrip_blocks`), loop controls, Python's string and dict
//! methods (`.strip()`, `.startswith()`, `.items()`…), `raise_exception`, `strftime_now` (UTC;
//! Llama 3.2's template dates its system prompt with it) and a `tojson` that writes what
//! Python's `json.dumps` writes.

use std::path::{Path, PathBuf};

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error, ErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::{LmError, Result};

/// The template file a model folder may hold.
pub const CHAT_TEMPLATE_FILE: &str = "chat_template.jinja";
/// The tokenizer settings that may hold the template and hold the special tokens.
pub const TOKENIZER_CONFIG_FILE: &str = "tokenizer_config.json";

/// The special tokens a template may name, as `tokenizer_config.json` gives them.
const SPECIAL_TOKENS: &[&str] = &["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"];

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// What was said.
    pub content: String,
}

impl ChatMessage {
    /// A message from `role`.
    pub fn new(role: &str, content: &str) -> ChatMessage {
        ChatMessage { role: role.to_string(), content: content.to_string() }
    }
}

/// A compiled chat template with the special tokens it may use.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    /// Where the template came from (for error messages).
    origin: PathBuf,
    /// Special token name (`bos_token`…) → its text.
    tokens: Vec<(String, String)>,
}

/// A token as `tokenizer_config.json` writes it: a string or `{"content": …}`.
fn token_text(v: &serde_json::Value) -> Option<String> {
    v.as_str().or_else(|| v.get("content").and_then(|c| c.as_str())).map(str::to_string)
}

impl ChatTemplate {
    /// The template of the model folder `dir`: `chat_template.jinja` when present, else
    /// `tokenizer_config.json`'s `chat_template` (the `default` one of a list); `None` when the
    /// folder has neither. Special tokens come from `tokenizer_config.json`.
    pub fn from_dir(dir: &Path) -> Result<Option<ChatTemplate>> {
        let config_path = dir.join(TOKENIZER_CONFIG_FILE);
        let config: serde_json::Value = if config_path.is_file() {
            crate::hf::read_json(&config_path)?
        } else {
            serde_json::Value::Null
        };
        let tokens: Vec<(String, String)> = SPECIAL_TOKENS
            .iter()
            .filter_map(|&name| config.get(name).and_then(token_text).map(|t| (name.to_string(), t)))
            .collect();
        let jinja = dir.join(CHAT_TEMPLATE_FILE);
        if jinja.is_file() {
            let source = std::fs::read_to_string(&jinja).map_err(|e| LmError::file(&jinja, format!("cannot read: {e}")))?;
            return ChatTemplate::new(&source, &jinja, tokens).map(Some);
        }
        let source = match config.get("chat_template") {
            None | Some(serde_json::Value::Null) => return Ok(None),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(named)) => named
                .iter()
                .find(|t| t.get("name").and_then(|n| n.as_str()) == Some("default"))
                .and_then(|t| t.get("template")?.as_str())
                .ok_or_else(|| LmError::file(&config_path, "`chat_template` is a list without a template named `default`"))?
                .to_string(),
            Some(other) => {
                return Err(LmError::file(&config_path, format!("`chat_template` must be a string or a list, not {other}")));
            }
        };
        ChatTemplate::new(&source, &config_path, tokens).map(Some)
    }

    /// Compiles `source` (read from `origin`) with the given special tokens (`("eos_token",
    /// "<|im_end|>")`…). A syntax error names the template's line.
    pub fn new(source: &str, origin: &Path, tokens: Vec<(String, String)>) -> Result<ChatTemplate> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        minijinja_contrib::add_to_environment(&mut env);
        env.add_function("raise_exception", |msg: String| -> std::result::Result<Value, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_filter("tojson", tojson);
        env.add_function("strftime_now", |format: String| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            strftime(now, &format)
        });
        let origin = origin.to_path_buf();
        env.add_template_owned("chat", source.to_string()).map_err(|e| template_error(&origin, "does not compile", &e))?;
        Ok(ChatTemplate { env, origin, tokens })
    }

    /// The text of a special token (`eos_token`…), when the tokenizer config gives it.
    pub fn token(&self, name: &str) -> Option<&str> {
        self.tokens.iter().find(|(n, _)| n == name).map(|(_, t)| t.as_str())
    }

    /// The conversation as the model's prompt; with `add_generation_prompt`, followed by the
    /// opening of the assistant's turn. A template that fails (or raises) is an error naming
    /// its line.
    pub fn render(&self, messages: &[ChatMessage], add_generation_prompt: bool) -> Result<String> {
        let template = self.env.get_template("chat").map_err(|e| template_error(&self.origin, "is missing", &e))?;
        let mut ctx: Vec<(String, Value)> = vec![
            ("messages".into(), Value::from_serialize(messages)),
            ("add_generation_prompt".into(), Value::from(add_generation_prompt)),
        ];
        ctx.extend(self.tokens.iter().map(|(n, t)| (n.clone(), Value::from(t.as_str()))));
        let ctx: Value = ctx.into_iter().collect();
        template.render(ctx).map_err(|e| template_error(&self.origin, "failed to render", &e))
    }
}

/// One line naming the template, the line in it and what went wrong.
fn template_error(origin: &Path, what: &str, e: &Error) -> LmError {
    let line = e.line().map_or_else(String::new, |l| format!(" at line {l}"));
    let detail = e.detail().map_or_else(|| e.kind().to_string(), str::to_string);
    LmError::file(origin, format!("the chat template {what}{line}: {detail}"))
}

/// `secs` after the Unix epoch (UTC) in `format`'s `%d %m %Y %y %b %B %H %M %S %%`; other
/// codes are kept as written.
fn strftime(secs: u64, format: &str) -> String {
    const MONTHS: [&str; 12] =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
    // days since 1970-01-01 to a civil date (Howard Hinnant's algorithm)
    let days = (secs / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    let name = MONTHS[(month - 1) as usize];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('Y') => out.push_str(&year.to_string()),
            Some('y') => out.push_str(&format!("{:02}", year % 100)),
            Some('b') => out.push_str(&name[..3]),
            Some('B') => out.push_str(name),
            Some('H') => out.push_str(&format!("{h:02}")),
            Some('M') => out.push_str(&format!("{m:02}")),
            Some('S') => out.push_str(&format!("{s:02}")),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// Jinja's `tojson` as `transformers` defines it: `json.dumps(x, indent=…)`, non-ASCII kept.
fn tojson(value: Value, kwargs: Kwargs) -> std::result::Result<String, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    for ignored in ["ensure_ascii", "separators", "sort_keys"] {
        let _: Option<Value> = kwargs.get(ignored)?;
    }
    kwargs.assert_all_used()?;
    let json = serde_json::to_value(&value).map_err(|e| Error::new(ErrorKind::InvalidOperation, e.to_string()))?;
    let mut out = String::new();
    python_json(&json, indent, 0, &mut out);
    Ok(out)
}

/// Writes `v` as Python's `json.dumps` does: `", "` and `": "` between items, or one item per
/// line with `indent`.
fn python_json(v: &serde_json::Value, indent: Option<usize>, depth: usize, out: &mut String) {
    use serde_json::Value as J;
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    };
    let sep = if indent.is_some() { "," } else { ", " };
    match v {
        J::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                newline(out, depth + 1);
                python_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push(']');
        }
        J::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(sep);
                }
                newline(out, depth + 1);
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(": ");
                python_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push('}');
        }
        other => out.push_str(&serde_json::to_string(other).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strftime_formats_utc_dates() {
        // 1700000000 s is 2023-11-14 22:13:20 UTC; 951782400 s is 2000-02-29 00:00:00 UTC
        assert_eq!(strftime(1_700_000_000, "%d %b %Y"), "14 Nov 2023");
        assert_eq!(strftime(1_700_000_000, "%Y-%m-%d %H:%M:%S (%B, %y) 100%%"), "2023-11-14 22:13:20 (November, 23) 100%");
        assert_eq!(strftime(951_782_400, "%d/%m/%Y %q"), "29/02/2000 %q");
    }

    #[test]
    fn tojson_writes_what_python_writes() {
        let v = serde_json::json!({"a": [1, 2.5, "é\n"], "b": {}});
        let mut flat = String::new();
        python_json(&v, None, 0, &mut flat);
        assert_eq!(flat, "{\"a\": [1, 2.5, \"é\\n\"], \"b\": {}}");
        let mut indented = String::new();
        python_json(&v, Some(2), 0, &mut indented);
        assert_eq!(indented, "{\n  \"a\": [\n    1,\n    2.5,\n    \"é\\n\"\n  ],\n  \"b\": {}\n}");
    }
}
