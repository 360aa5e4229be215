//! Property tests of personal-data masking: it never panics, and no Luhn-valid 16-digit card
//! (contiguous or in four groups of four) survives it, whatever surrounds the card.

use std::sync::LazyLock;

use loam_apps::safety::{Safety, SafetyConfig};
use proptest::prelude::*;

static SAFETY: LazyLock<Safety> =
    LazyLock::new(|| Safety::new(SafetyConfig::default()).expect("built-in rules parse"));

/// A Luhn-valid 16-digit number from 15 digits.
fn card(body: &[u8]) -> String {
    let mut digits: Vec<u8> = body.iter().map(|d| d % 10).collect();
    let check = (0..10).find(|&c| {
        digits.push(c);
        let ok = loam_text::luhn_valid(
            &digits
                .iter()
                .map(|d| char::from(b'0' + d))
                .collect::<String>(),
        );
        digits.pop();
        ok
    });
    digits.push(check.expect("one check digit fits"));
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// A card written contiguous, or 4-4-4-4 with spaces or dashes.
fn written_card() -> impl Strategy<Value = String> {
    (prop::collection::vec(0u8..10, 15), 0usize..3).prop_map(|(body, style)| {
        let c = card(&body);
        match style {
            0 => c,
            s => {
                let sep = if s == 1 { " " } else { "-" };
                [&c[0..4], &c[4..8], &c[8..12], &c[12..16]].join(sep)
            }
        }
    })
}

/// Words, Chinese, digits, punctuation and cards.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z]{1,8}",
        "[\u{4e00}-\u{4e80}]{1,4}",
        "[0-9]{1,6}",
        "[+#@.,:;()\\-]",
        "[ 　\n，。]",
        written_card(),
        any::<char>().prop_map(String::from),
    ]
}

/// Whether `text` still holds a 16-digit Luhn-valid number: a run of digit groups (one space
/// or dash between groups) in which one group of 16, or four consecutive groups of four, pass.
fn holds_card(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let mut groups: Vec<Vec<String>> = vec![vec![]];
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_digit() {
            current.push(c);
            continue;
        }
        let joins = matches!(c, ' ' | '-')
            && !current.is_empty()
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if !current.is_empty() {
            groups
                .last_mut()
                .unwrap()
                .push(std::mem::take(&mut current));
        }
        if !joins {
            groups.push(vec![]);
        }
    }
    groups.last_mut().unwrap().push(current);
    groups.iter().any(|run| {
        let single = run
            .iter()
            .any(|g| g.len() == 16 && loam_text::luhn_valid(g));
        let four = run
            .windows(4)
            .any(|w| w.iter().all(|g| g.len() == 4) && loam_text::luhn_valid(&w.concat()));
        single || four
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn masking_never_panics(text in any::<String>()) {
        let safety = &*SAFETY;
        let masked = safety.mask_pii(&text);
        prop_assert!(masked.text.len() <= text.len() + 8 * masked.found.iter().map(|(_, n)| n).sum::<usize>());
        let _ = safety.check_input(&text);
        let _ = safety.check_output(&text);
    }

    #[test]
    fn no_luhn_valid_card_survives(tokens in prop::collection::vec(token(), 1..24), seps in prop::collection::vec(prop::sample::select(vec!["", " ", ", ", "\n", "号"]), 24)) {
        let safety = &*SAFETY;
        let text: String = tokens.iter().zip(&seps).map(|(t, s)| format!("{t}{s}")).collect();
        let masked = safety.mask_pii(&text);
        prop_assert!(!holds_card(&masked.text), "{text:?} -> {:?}", masked.text);
    }
}

#[test]
fn the_checker_sees_cards() {
    assert!(holds_card("x 4111 1111 1111 1111 y"));
    assert!(holds_card("4111111111111111"));
    assert!(holds_card("12 4111-1111-1111-1111"));
    assert!(!holds_card("4111 1111 1111 1112"));
    assert!(!holds_card("<card> 1111"));
}
