//! Masking of URLs, e-mail addresses and phone numbers with placeholders.
//!
//! Matches are ASCII-only, so text in other scripts that touches a URL or address without a
//! space (common in Chinese) is never swallowed into the match.

use std::sync::LazyLock;

use regex::Regex;

/// Placeholder that replaces a URL.
pub const URL_PLACEHOLDER: &str = "<url>";
/// Placeholder that replaces an e-mail address.
pub const EMAIL_PLACEHOLDER: &str = "<email>";
/// Placeholder that replaces a phone number.
pub const PHONE_PLACEHOLDER: &str = "<phone>";

static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i:(?:https?|ftp)://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+")
        .expect("URL pattern is valid")
});

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
        .expect("e-mail pattern is valid")
});

static PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:\+[0-9]{1,3}[ .\-]?)?(?:[0-9]{10,11}|(?:\([0-9]{1,4}\)[ .\-]?|[0-9]{1,4}[ .\-])?[0-9]{3,4}[ .\-]?[0-9]{4})",
    )
    .expect("phone pattern is valid")
});

/// Which kinds of span [`mask`] replaces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaskKinds {
    /// Replace URLs (`http://`, `https://`, `ftp://`, `www.`) with `<url>`.
    pub urls: bool,
    /// Replace e-mail addresses with `<email>`.
    pub emails: bool,
    /// Replace phone numbers (at least 9 digits, or with `+`/parentheses) with `<phone>`.
    pub phones: bool,
}

/// How many spans of each kind [`mask`] replaced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaskCounts {
    /// URLs replaced.
    pub urls: usize,
    /// E-mail addresses replaced.
    pub emails: usize,
    /// Phone numbers replaced.
    pub phones: usize,
}

/// Replaces the chosen kinds of span in `text` (URLs first, then addresses, then phones).
pub fn mask(text: &str, kinds: MaskKinds) -> (String, MaskCounts) {
    let mut counts = MaskCounts::default();
    let mut out = text.to_owned();
    if kinds.urls {
        (out, counts.urls) = replace(&out, &URL, URL_PLACEHOLDER, |m, before, _| {
            // `www.` inside an address or a longer host name is not the start of a URL.
            let inside = before.is_some_and(|c| matches!(c, '@' | '.' | '-') || c.is_ascii_alphanumeric());
            (!(m.starts_with(['w', 'W']) && inside)).then(|| url_len(m))
        });
    }
    if kinds.emails {
        (out, counts.emails) = replace(&out, &EMAIL, EMAIL_PLACEHOLDER, |m, _, _| Some(m.len()));
    }
    if kinds.phones {
        (out, counts.phones) = replace(&out, &PHONE, PHONE_PLACEHOLDER, |m, before, after| {
            let digits = m.bytes().filter(u8::is_ascii_digit).count();
            let marked = m.contains(['+', '(']);
            let free = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric());
            (free(before) && free(after) && (digits >= 9 || (marked && digits >= 7))).then_some(m.len())
        });
    }
    (out, counts)
}

/// Replaces each match of `re` that `accept(match, char before, char after)` keeps, over the
/// length in bytes that `accept` returns.
fn replace(
    text: &str,
    re: &Regex,
    placeholder: &str,
    accept: impl Fn(&str, Option<char>, Option<char>) -> Option<usize>,
) -> (String, usize) {
    let mut out = String::with_capacity(text.len());
    let mut count = 0;
    let mut last = 0;
    let mut at = 0;
    while let Some(m) = re.find_at(text, at) {
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        if let Some(len) = accept(m.as_str(), before, after) {
            out.push_str(&text[last..m.start()]);
            out.push_str(placeholder);
            last = m.start() + len;
            at = last;
            count += 1;
        } else {
            at = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
        }
        if at >= text.len() {
            break;
        }
    }
    out.push_str(&text[last..]);
    (out, count)
}

/// Length of a URL match without the sentence punctuation it swallowed (`see <url>.`), keeping
/// a closing bracket that closes one opened inside the URL.
fn url_len(m: &str) -> usize {
    let mut end = m.len();
    while let Some(c) = m[..end].chars().next_back() {
        let unbalanced = |open: char, close: char| {
            c == close && m[..end].matches(open).count() < m[..end].matches(close).count()
        };
        if matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*') || unbalanced('(', ')') || unbalanced('[', ']') {
            end -= 1;
        } else {
            break;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: MaskKinds = MaskKinds { urls: true, emails: true, phones: true };

    #[test]
    fn masks_each_kind() {
        let (text, counts) = mask(
            "Mail jo.smith+x@example.co.uk or see https://example.com/a?b=1 and www.rust-lang.org; call +1 (555) 123-4567.",
            ALL,
        );
        assert_eq!(text, "Mail <email> or see <url> and <url>; call <phone>.");
        assert_eq!(counts, MaskCounts { urls: 2, emails: 1, phones: 1 });
    }

    #[test]
    fn keeps_neighbouring_chinese_and_numbers() {
        let (text, counts) = mask("请联系test@example.com或拨打13812345678。共1,003,854字，1999-2004年。", ALL);
        assert_eq!(text, "请联系<email>或拨打<phone>。共1,003,854字，1999-2004年。");
        assert_eq!(counts, MaskCounts { urls: 0, emails: 1, phones: 1 });
    }

    #[test]
    fn url_gives_back_trailing_punctuation() {
        let (text, _) = mask("(see https://en.wikipedia.org/wiki/Rust_(language)). Or http://a.io/x?y=1, ok", ALL);
        assert_eq!(text, "(see <url>). Or <url>, ok");
    }

    #[test]
    fn www_inside_an_address_is_not_a_url() {
        let (text, counts) = mask("write to ann@www.example.org", ALL);
        assert_eq!(text, "write to <email>");
        assert_eq!(counts.urls, 0);
    }
}
