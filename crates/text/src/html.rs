//! HTML tag stripping and entity decoding.
//!
//! A small scanner, not a full HTML parser: tags and comments are removed, the contents of
//! `<script>` and `<style>` are dropped, block-level tags become line breaks, and entities
//! (`&amp;`, `&#8212;`, `&#x1F600;`, every HTML5 named entity) are decoded after the tags are
//! gone, so `&lt;b&gt;` comes out as the text `<b>` and is not mistaken for a tag.

use std::sync::LazyLock;

use regex::Regex;

/// What [`strip_html`] removed and decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HtmlStats {
    /// Tags and comments removed.
    pub tags_removed: usize,
    /// Entities decoded.
    pub entities_decoded: usize,
}

/// Tags whose start or end breaks a line of text.
const BLOCK_TAGS: &[&str] = &[
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
    "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
    "nav", "ol", "p", "pre", "section", "table", "title", "tr", "ul",
];

/// Tags whose content is not text.
const RAW_TAGS: &[&str] = &["script", "style", "noscript", "template"];

static ENTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
        .expect("entity pattern is valid")
});

/// Removes tags, comments and script/style content from `html`, then decodes entities.
pub fn strip_html(html: &str) -> (String, HtmlStats) {
    let mut stats = HtmlStats::default();
    let stripped = strip_tags(html, &mut stats);
    let decoded = decode_entities(&stripped, &mut stats);
    (decoded, stats)
}

/// Decodes HTML entities in `text`, counting each one decoded.
pub fn decode_entities(text: &str, stats: &mut HtmlStats) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in ENTITY.find_iter(text) {
        let decoded = html_escape::decode_html_entities(m.as_str());
        if decoded != m.as_str() {
            out.push_str(&text[last..m.start()]);
            out.push_str(&decoded);
            last = m.end();
            stats.entities_decoded += 1;
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Removes tags and comments, turning block tags into line breaks.
fn strip_tags(html: &str, stats: &mut HtmlStats) -> String {
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len());
    let mut pos = 0;
    while let Some(rel) = html[pos..].find('<') {
        let lt = pos + rel;
        out.push_str(&html[pos..lt]);
        let rest = &html[lt..];
        if rest.starts_with("<!--") {
            stats.tags_removed += 1;
            pos = rest.find("-->").map_or(html.len(), |e| lt + e + 3);
            continue;
        }
        let next = bytes.get(lt + 1).copied().unwrap_or(b' ');
        if !(next.is_ascii_alphabetic() || matches!(next, b'/' | b'!' | b'?')) {
            out.push('<');
            pos = lt + 1;
            continue;
        }
        let Some(end) = tag_end(html, lt + 1) else {
            out.push_str(rest);
            pos = html.len();
            break;
        };
        stats.tags_removed += 1;
        let (name, closing) = tag_name(&html[lt + 1..end]);
        if BLOCK_TAGS.contains(&name.as_str()) {
            out.push('\n');
        } else if matches!(name.as_str(), "td" | "th") {
            out.push(' ');
        }
        pos = end + 1;
        if !closing && RAW_TAGS.contains(&name.as_str()) {
            pos = skip_raw_content(html, pos, &name, stats);
        }
    }
    out.push_str(&html[pos.min(html.len())..]);
    out
}

/// Index of the `>` closing the tag whose body starts at `from`, skipping quoted attribute values.
fn tag_end(html: &str, from: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, &b) in html.as_bytes()[from..].iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return Some(from + i),
            None => {}
        }
    }
    None
}

/// Lower-case name of a tag body (`/p`, `br/`, `a href=..`) and whether it closes.
fn tag_name(body: &str) -> (String, bool) {
    let closing = body.starts_with('/');
    let name: String = body
        .trim_start_matches('/')
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (name, closing)
}

/// Position just past `</name ...>` at or after `from`, or the end of the text.
fn skip_raw_content(html: &str, from: usize, name: &str, stats: &mut HtmlStats) -> usize {
    let lower = html[from..].to_ascii_lowercase();
    let needle = format!("</{name}");
    match lower.find(&needle) {
        Some(rel) => {
            stats.tags_removed += 1;
            let start = from + rel;
            tag_end(html, start + 1).map_or(html.len(), |e| e + 1)
        }
        None => html.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_tags_scripts_and_comments() {
        let html = "<html><head><title>T</title><style>p{color:red}</style></head>\
                    <body><!-- note --><p class=\"a>b\">Hello <b>world</b></p>\
                    <script>if (a < b) alert('x');</script>1 < 2</body></html>";
        let (text, stats) = strip_html(html);
        assert_eq!(text, "\nT\n\nHello world\n1 < 2");
        assert!(stats.tags_removed >= 10);
    }

    #[test]
    fn decodes_entities_after_stripping() {
        let (text, stats) = strip_html("<p>a &amp; b &lt;i&gt; &#8212; &#x1F600; &eacute; &bogus;</p>");
        assert_eq!(text, "\na & b <i> \u{2014} \u{1F600} \u{e9} &bogus;\n");
        assert_eq!(stats.entities_decoded, 6);
    }

    #[test]
    fn unterminated_tag_is_kept_as_text() {
        let (text, _) = strip_html("a <b c");
        assert_eq!(text, "a <b c");
    }
}
