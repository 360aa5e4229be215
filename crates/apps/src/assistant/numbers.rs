//! The numbers a text states, normalized so that "$1,000.00", "1000", "one thousand" and "一千"
//! compare equal: digits (ASCII or full-width, with thousands separators and decimals),
//! English number words (except "one", which is mostly a pronoun) and Chinese numerals (a run of
//! two or more, or one followed by a counter or unit such as 天, 年, 件, 美元).

/// English number words and their values.
const EN_WORDS: [(&str, u64); 28] = [
    ("zero", 0),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("thirteen", 13),
    ("fourteen", 14),
    ("fifteen", 15),
    ("sixteen", 16),
    ("seventeen", 17),
    ("eighteen", 18),
    ("nineteen", 19),
    ("twenty", 20),
    ("thirty", 30),
    ("forty", 40),
    ("fifty", 50),
    ("sixty", 60),
    ("seventy", 70),
    ("eighty", 80),
    ("ninety", 90),
    ("hundred", 100),
];

/// Counters and units after which a single Chinese numeral is a number.
const ZH_UNITS: &str = "天年月日周个件小时分钟点元块次期倍折号岁星工半%";

/// The numbers of `text`, in order, normalized (no separators, no leading zeros, no trailing
/// decimal zeros).
pub(crate) fn numbers(text: &str) -> Vec<String> {
    let text: String = text
        .chars()
        .map(|c| {
            if ('０'..='９').contains(&c) {
                char::from(b'0' + (c as u32 - '０' as u32) as u8)
            } else {
                c
            }
        })
        .collect();
    let mut out = digits(&text);
    out.extend(english_words(&text).into_iter().map(|n| n.to_string()));
    out.extend(chinese_numerals(&text).into_iter().map(|n| n.to_string()));
    out
}

/// Runs of digits with `,` or `.` between digits.
fn digits(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let mut run = String::new();
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || (matches!(chars[i], ',' | '.')
                    && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            if chars[i] != ',' {
                run.push(chars[i]);
            }
            i += 1;
        }
        out.push(normalize(&run));
    }
    out
}

/// `1000.50` → `1000.5`, `75.00` → `75`, `0142` → `142`.
fn normalize(run: &str) -> String {
    let (int, frac) = run.split_once('.').unwrap_or((run, ""));
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// Values of runs of English number words ("thirty-five", "two hundred").
fn english_words(text: &str) -> Vec<u64> {
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    let mut current: Option<u64> = None;
    for word in lower
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| !w.is_empty())
    {
        let Some(v) = EN_WORDS.iter().find(|(w, _)| *w == word).map(|&(_, v)| v) else {
            out.extend(current.take());
            continue;
        };
        current = Some(match current {
            None => v,
            Some(c) if v == 100 => c * 100,
            Some(c)
                if (c >= 20 && c < 100 && c % 10 == 0 && v < 10)
                    || (c >= 100 && c % 100 == 0 && v < 100) =>
            {
                c + v
            }
            Some(c) => {
                out.push(c);
                v
            }
        });
    }
    out.extend(current);
    out
}

/// Values of runs of Chinese numerals.
fn chinese_numerals(text: &str) -> Vec<u64> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if digit_zh(chars[i]).is_none() && unit_zh(chars[i]).is_none() {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (digit_zh(chars[i]).is_some() || unit_zh(chars[i]).is_some()) {
            i += 1;
        }
        let run = &chars[start..i];
        let counted = run.len() >= 2 || chars.get(i).is_some_and(|c| ZH_UNITS.contains(*c));
        if counted && (run.iter().any(|&c| digit_zh(c).is_some()) || run[0] == '十') {
            out.push(zh_value(run));
        }
    }
    out
}

fn digit_zh(c: char) -> Option<u64> {
    "零一二三四五六七八九"
        .chars()
        .position(|d| d == c)
        .map(|p| p as u64)
        .or(match c {
            '〇' => Some(0),
            '两' => Some(2),
            _ => None,
        })
}

fn unit_zh(c: char) -> Option<u64> {
    match c {
        '十' => Some(10),
        '百' => Some(100),
        '千' => Some(1000),
        '万' => Some(10_000),
        _ => None,
    }
}

/// The value of a run like 三十五, 一千, 两百零五, 十二.
fn zh_value(run: &[char]) -> u64 {
    let (mut total, mut section, mut digit) = (0u64, 0u64, 0u64);
    for &c in run {
        if let Some(d) = digit_zh(c) {
            digit = d;
        } else if let Some(u) = unit_zh(c) {
            if u == 10_000 {
                total += (section + digit) * u;
                section = 0;
            } else {
                section += digit.max(u64::from(section == 0 && digit == 0 && u == 10)) * u;
            }
            digit = 0;
        }
    }
    total + section + digit
}
