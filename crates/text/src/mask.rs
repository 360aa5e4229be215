//! Masking of URLs, e-mail addresses, phone numbers, payment cards, ID numbers and IBANs
//! with placeholders.
//!
//! Matches are ASCII-only, so text in other scripts that touches a URL or address without a
//! space (common in Chinese) is never swallowed into the match. Numbers are masked only when
//! they check out: a card passes Luhn, a Chinese resident ID its MOD 11-2 check character and
//! birth date, a US SSN the ranges ever issued, an IBAN MOD 97 (see [`crate::check_digit`]);
//! a 16-digit order number that fails Luhn stays as it is.

use std::sync::LazyLock;

use regex::Regex;

use crate::check_digit::{chinese_id_valid, iban_valid, luhn_valid, ssn_valid};

/// Placeholder that replaces a URL.
pub const URL_PLACEHOLDER: &str = "<url>";
/// Placeholder that replaces an e-mail address.
pub const EMAIL_PLACEHOLDER: &str = "<email>";
/// Placeholder that replaces a phone number.
pub const PHONE_PLACEHOLDER: &str = "<phone>";
/// Placeholder that replaces a payment card number.
pub const CARD_PLACEHOLDER: &str = "<card>";
/// Placeholder that replaces an ID number (Chinese resident ID, US SSN).
pub const ID_PLACEHOLDER: &str = "<id>";
/// Placeholder that replaces an IBAN.
pub const IBAN_PLACEHOLDER: &str = "<iban>";

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

/// An international number in any grouping: `+33 1 23 45 67 89`, `+49 30 12345678`.
static INTL_PHONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\+[0-9]{1,3}(?:[ .\-]?[0-9]{1,5}){1,6}").expect("phone pattern is valid")
});

/// Digits in groups separated by one space or dash: where card numbers are looked for.
static DIGIT_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9]+(?:[ \-][0-9]+)*").expect("digit run pattern is valid"));

static CN_ID: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]",
    )
    .expect("resident ID pattern is valid")
});

static SSN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[0-9]{3}-[0-9]{2}-[0-9]{4}").expect("SSN pattern is valid"));

static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i:[a-z]{2}[0-9]{2}(?: ?[a-z0-9]{4}){2,7}(?: ?[a-z0-9]{1,3})?)")
        .expect("IBAN pattern is valid")
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
    /// Replace Luhn-valid card numbers (13–19 digits, spaces or dashes between groups) with `<card>`.
    pub cards: bool,
    /// Replace Chinese resident IDs and US social security numbers with `<id>`.
    pub ids: bool,
    /// Replace IBANs with `<iban>`.
    pub ibans: bool,
}

impl MaskKinds {
    /// Every kind of personal data: all kinds but URLs.
    pub const PERSONAL: MaskKinds = MaskKinds {
        urls: false,
        emails: true,
        phones: true,
        cards: true,
        ids: true,
        ibans: true,
    };
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
    /// Card numbers replaced.
    pub cards: usize,
    /// Chinese resident IDs replaced.
    pub chinese_ids: usize,
    /// US social security numbers replaced.
    pub ssns: usize,
    /// IBANs replaced.
    pub ibans: usize,
}

/// What a masked span is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MaskKind {
    /// A URL.
    Url,
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// A payment card number (Luhn-valid).
    Card,
    /// A Chinese resident ID (18 characters, MOD 11-2 check character).
    ChineseId,
    /// A US social security number.
    Ssn,
    /// An IBAN (MOD 97).
    Iban,
}

impl MaskKind {
    /// The placeholder that replaces a span of this kind.
    pub fn placeholder(self) -> &'static str {
        match self {
            MaskKind::Url => URL_PLACEHOLDER,
            MaskKind::Email => EMAIL_PLACEHOLDER,
            MaskKind::Phone => PHONE_PLACEHOLDER,
            MaskKind::Card => CARD_PLACEHOLDER,
            MaskKind::ChineseId | MaskKind::Ssn => ID_PLACEHOLDER,
            MaskKind::Iban => IBAN_PLACEHOLDER,
        }
    }
}

/// One span that [`mask`] replaces: byte offsets into the text and its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaskSpan {
    /// Byte offset of the first character.
    pub start: usize,
    /// Byte offset just past the last character.
    pub end: usize,
    /// What the span is.
    pub kind: MaskKind,
}

/// Replaces the chosen kinds of span in `text` (see [`find_spans`] for the order).
pub fn mask(text: &str, kinds: MaskKinds) -> (String, MaskCounts) {
    let spans = find_spans(text, kinds);
    let mut counts = MaskCounts::default();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for span in &spans {
        out.push_str(&text[last..span.start]);
        out.push_str(span.kind.placeholder());
        last = span.end;
        let count = match span.kind {
            MaskKind::Url => &mut counts.urls,
            MaskKind::Email => &mut counts.emails,
            MaskKind::Phone => &mut counts.phones,
            MaskKind::Card => &mut counts.cards,
            MaskKind::ChineseId => &mut counts.chinese_ids,
            MaskKind::Ssn => &mut counts.ssns,
            MaskKind::Iban => &mut counts.ibans,
        };
        *count += 1;
    }
    out.push_str(&text[last..]);
    (out, counts)
}

/// The spans of the chosen kinds in `text`, in text order and never overlapping. Kinds are
/// found in the order URLs, e-mail addresses, IBANs, resident IDs, cards, SSNs, phones; a
/// later kind never takes characters an earlier one took.
pub fn find_spans(text: &str, kinds: MaskKinds) -> Vec<MaskSpan> {
    let mut spans = Spans::default();
    if kinds.urls {
        spans.scan(text, &URL, MaskKind::Url, |m, before, _| {
            // `www.` inside an address or a longer host name is not the start of a URL.
            let inside =
                before.is_some_and(|c| matches!(c, '@' | '.' | '-') || c.is_ascii_alphanumeric());
            (!(m.starts_with(['w', 'W']) && inside)).then(|| url_len(m))
        });
    }
    if kinds.emails {
        spans.scan(text, &EMAIL, MaskKind::Email, |m, _, _| Some(m.len()));
    }
    if kinds.ibans {
        spans.scan(text, &IBAN, MaskKind::Iban, |m, before, after| {
            if !free(before) {
                return None;
            }
            // A trailing group may be a following word: give groups back until MOD 97 holds
            // (a shorter end is always followed by a space).
            let mut end = m.len();
            loop {
                if iban_valid(&m[..end]) && (end < m.len() || free(after)) {
                    return Some(end);
                }
                end = m[..end].rfind(' ')?;
            }
        });
    }
    if kinds.ids {
        spans.scan(text, &CN_ID, MaskKind::ChineseId, |m, before, after| {
            (free(before) && free(after) && chinese_id_valid(m)).then_some(m.len())
        });
    }
    if kinds.cards {
        spans.cards(text);
    }
    if kinds.ids {
        spans.scan(text, &SSN, MaskKind::Ssn, |m, before, after| {
            (free(before) && free(after) && ssn_valid(m)).then_some(m.len())
        });
    }
    if kinds.phones {
        let phone = |m: &str,
                     before: Option<char>,
                     after: Option<char>,
                     text_after: &str,
                     text_before: &str| {
            let digits = m.bytes().filter(u8::is_ascii_digit).count();
            let marked = m.contains(['+', '(']);
            // Part of a longer run of digit groups (an order or tracking number), or a number
            // written `#1234567890`, is not a phone.
            let longer = continues_with_digit(text_after) || continues_with_digit_rev(text_before);
            let plain11 = digits == 11 && !marked && !m.starts_with(['0', '1']);
            (free(before)
                && before != Some('#')
                && free(after)
                && !longer
                && !plain11
                && (digits >= 9 || (marked && digits >= 7)))
                .then_some(m.len())
        };
        spans.scan_ctx(text, &INTL_PHONE, MaskKind::Phone, |m, b, a, ta, tb| {
            let digits = m.bytes().filter(u8::is_ascii_digit).count();
            ((8..=15).contains(&digits))
                .then(|| phone(m, b, a, ta, tb))
                .flatten()
        });
        spans.scan_ctx(text, &PHONE, MaskKind::Phone, phone);
    }
    spans.0
}

/// Whether a character next to a match leaves it a whole token (not a letter or digit).
fn free(c: Option<char>) -> bool {
    !c.is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Whether `rest` starts with one space, dot or dash and then a digit.
fn continues_with_digit(rest: &str) -> bool {
    let mut chars = rest.chars();
    matches!(chars.next(), Some(' ' | '.' | '-'))
        && chars.next().is_some_and(|c| c.is_ascii_digit())
}

/// Whether `before` ends with a digit and then one space, dot or dash.
fn continues_with_digit_rev(before: &str) -> bool {
    let mut chars = before.chars().rev();
    matches!(chars.next(), Some(' ' | '.' | '-'))
        && chars.next().is_some_and(|c| c.is_ascii_digit())
}

/// Accepted spans, sorted by start.
#[derive(Default)]
struct Spans(Vec<MaskSpan>);

impl Spans {
    /// Whether `start..end` overlaps an accepted span.
    fn overlaps(&self, start: usize, end: usize) -> bool {
        let i = self.0.partition_point(|s| s.end <= start);
        self.0.get(i).is_some_and(|s| s.start < end)
    }

    fn insert(&mut self, start: usize, end: usize, kind: MaskKind) {
        let i = self.0.partition_point(|s| s.end <= start);
        self.0.insert(i, MaskSpan { start, end, kind });
    }

    /// Accepts each match of `re` that `accept(match, char before, char after)` keeps, over
    /// the length in bytes that `accept` returns, where it does not overlap an earlier span.
    fn scan(
        &mut self,
        text: &str,
        re: &Regex,
        kind: MaskKind,
        accept: impl Fn(&str, Option<char>, Option<char>) -> Option<usize>,
    ) {
        self.scan_ctx(text, re, kind, |m, before, after, _, _| {
            accept(m, before, after)
        });
    }

    /// [`Spans::scan`] with the text after and before the match also given to `accept`.
    fn scan_ctx(
        &mut self,
        text: &str,
        re: &Regex,
        kind: MaskKind,
        accept: impl Fn(&str, Option<char>, Option<char>, &str, &str) -> Option<usize>,
    ) {
        let mut at = 0;
        while let Some(m) = re.find_at(text, at) {
            let before = text[..m.start()].chars().next_back();
            let after = text[m.end()..].chars().next();
            let len = accept(
                m.as_str(),
                before,
                after,
                &text[m.end()..],
                &text[..m.start()],
            )
            .filter(|&len| len > 0 && !self.overlaps(m.start(), m.start() + len));
            if let Some(len) = len {
                self.insert(m.start(), m.start() + len, kind);
                at = m.start() + len;
            } else {
                at = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
            }
            if at >= text.len() {
                break;
            }
        }
    }

    /// Accepts card numbers: within each run of digit groups, the longest Luhn-valid window of
    /// whole groups with 13–19 digits, either one group or groups of 4–6 digits (the last one
    /// 1–6), scanning from the left.
    fn cards(&mut self, text: &str) {
        for run in DIGIT_RUN.find_iter(text) {
            let mut groups = Vec::new();
            let mut pos = run.start();
            for group in run.as_str().split([' ', '-']) {
                groups.push((pos, pos + group.len()));
                pos += group.len() + 1;
            }
            // A run right after `+` starts with a country code: a phone number, not a card.
            let country_code = text[..run.start()].ends_with('+') && groups[0].1 - groups[0].0 <= 3;
            let mut i = usize::from(country_code);
            while i < groups.len() {
                let found = (i..groups.len()).rev().find(|&j| {
                    let window = &groups[i..=j];
                    let lens: Vec<usize> = window.iter().map(|(s, e)| e - s).collect();
                    let digits: usize = lens.iter().sum();
                    let shaped = lens.len() == 1
                        || (lens[..lens.len() - 1].iter().all(|l| (4..=6).contains(l))
                            && (1..=6).contains(&lens[lens.len() - 1]));
                    let (start, end) = (window[0].0, window[window.len() - 1].1);
                    (13..=19).contains(&digits)
                        && shaped
                        && luhn_valid(&text[start..end])
                        && !self.overlaps(start, end)
                });
                match found {
                    Some(j) => {
                        self.insert(groups[i].0, groups[j].1, MaskKind::Card);
                        i = j + 1;
                    }
                    None => i += 1,
                }
            }
        }
    }
}

/// Length of a URL match without the sentence punctuation it swallowed (`see <url>.`), keeping
/// a closing bracket that closes one opened inside the URL.
fn url_len(m: &str) -> usize {
    let mut end = m.len();
    while let Some(c) = m[..end].chars().next_back() {
        let unbalanced = |open: char, close: char| {
            c == close && m[..end].matches(open).count() < m[..end].matches(close).count()
        };
        if matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*')
            || unbalanced('(', ')')
            || unbalanced('[', ']')
        {
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

    const ALL: MaskKinds = MaskKinds {
        urls: true,
        emails: true,
        phones: true,
        cards: false,
        ids: false,
        ibans: false,
    };

    #[test]
    fn masks_each_kind() {
        let (text, counts) = mask(
            "Mail jo.smith+x@example.co.uk or see https://example.com/a?b=1 and www.rust-lang.org; call +1 (555) 123-4567.",
            ALL,
        );
        assert_eq!(text, "Mail <email> or see <url> and <url>; call <phone>.");
        assert_eq!(
            counts,
            MaskCounts {
                urls: 2,
                emails: 1,
                phones: 1,
                ..MaskCounts::default()
            }
        );
    }

    #[test]
    fn keeps_neighbouring_chinese_and_numbers() {
        let (text, counts) = mask(
            "请联系test@example.com或拨打13812345678。共1,003,854字，1999-2004年。",
            ALL,
        );
        assert_eq!(
            text,
            "请联系<email>或拨打<phone>。共1,003,854字，1999-2004年。"
        );
        assert_eq!(
            counts,
            MaskCounts {
                urls: 0,
                emails: 1,
                phones: 1,
                ..MaskCounts::default()
            }
        );
    }

    #[test]
    fn url_gives_back_trailing_punctuation() {
        let (text, _) = mask(
            "(see https://en.wikipedia.org/wiki/Rust_(language)). Or http://a.io/x?y=1, ok",
            ALL,
        );
        assert_eq!(text, "(see <url>). Or <url>, ok");
    }

    #[test]
    fn www_inside_an_address_is_not_a_url() {
        let (text, counts) = mask("write to ann@www.example.org", ALL);
        assert_eq!(text, "write to <email>");
        assert_eq!(counts.urls, 0);
    }

    const NUMBERS: MaskKinds = MaskKinds {
        urls: false,
        emails: true,
        phones: true,
        cards: true,
        ids: true,
        ibans: true,
    };

    #[test]
    fn cards_need_luhn_and_order_numbers_stay() {
        let (text, counts) = mask(
            "card 4111 1111 1111 1111, order 1234 5678 9012 3456, ref 1234567890123456",
            NUMBERS,
        );
        assert_eq!(
            text,
            "card <card>, order 1234 5678 9012 3456, ref 1234567890123456"
        );
        assert_eq!(
            counts,
            MaskCounts {
                cards: 1,
                ..MaskCounts::default()
            }
        );
        // Amex grouping, a card after a quantity, a card touching Chinese text.
        let (text, _) = mask(
            "amex 3782 822463 10005; qty 2 5500-0000-0000-0004; 卡号6011111111111117。",
            NUMBERS,
        );
        assert_eq!(text, "amex <card>; qty 2 <card>; 卡号<card>。");
    }

    #[test]
    fn ids_need_their_check() {
        let (text, counts) = mask(
            "身份证11010519491231002X，错号110105194912310021，SSN 123-45-6789, bad 666-12-3456",
            NUMBERS,
        );
        assert_eq!(
            text,
            "身份证<id>，错号110105194912310021，SSN <id>, bad 666-12-3456"
        );
        assert_eq!(
            counts,
            MaskCounts {
                chinese_ids: 1,
                ssns: 1,
                ..MaskCounts::default()
            }
        );
    }

    #[test]
    fn ibans_need_mod_97_and_give_back_a_following_word() {
        let (text, counts) = mask(
            "IBAN DE89 3704 0044 0532 0130 00 AND GB82WEST12345698765432; not DE89 3704 0044 0532 0130 01",
            NUMBERS,
        );
        assert_eq!(
            text,
            "IBAN <iban> AND <iban>; not DE89 3704 0044 0532 0130 01"
        );
        assert_eq!(counts.ibans, 2);
    }

    #[test]
    fn phones_international_and_not_inside_longer_numbers() {
        let (text, counts) = mask(
            "+33 1 23 45 67 89 or 138-1234-5678; order #1234567890, tracking 1234 5678 9012 3456",
            NUMBERS,
        );
        assert_eq!(
            text,
            "<phone> or <phone>; order #1234567890, tracking 1234 5678 9012 3456"
        );
        assert_eq!(counts.phones, 2);
        // A country code is at most three digits: four digits after `+` start a card.
        let (text, _) = mask("+86 139 1234 5678 / +4111 1111 1111 1111", NUMBERS);
        assert_eq!(text, "<phone> / +<card>");
    }
}
