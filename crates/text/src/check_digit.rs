//! Check digits and validity rules of identifiers that personal-data masking recognises:
//! payment cards (Luhn), Chinese resident IDs (ISO 7064 MOD 11-2 and the birth date), US
//! social security numbers (the ranges never issued) and IBANs (ISO 7064 MOD 97-10).

/// Whether `number` passes the Luhn check: ASCII digits with optional spaces or dashes, at
/// least two digits. Anything else (letters, other punctuation) is not valid.
pub fn luhn_valid(number: &str) -> bool {
    let mut sum = 0u32;
    let mut count = 0usize;
    for b in number.bytes().rev() {
        match b {
            b'0'..=b'9' => {
                let mut d = u32::from(b - b'0');
                if count % 2 == 1 {
                    d *= 2;
                    if d > 9 {
                        d -= 9;
                    }
                }
                sum += d;
                count += 1;
            }
            b' ' | b'-' => {}
            _ => return false,
        }
    }
    count >= 2 && sum % 10 == 0
}

/// Weights of the 17 digits of a Chinese resident ID: 2^(17 - i) mod 11.
const CN_ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// The check character (`0`–`9` or `X`) of the first 17 digits of a Chinese resident ID
/// (GB 11643, ISO 7064 MOD 11-2), or `None` when they are not 17 ASCII digits.
pub fn chinese_id_check_char(first17: &str) -> Option<char> {
    let bytes = first17.as_bytes();
    if bytes.len() != 17 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = bytes
        .iter()
        .zip(CN_ID_WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = (12 - sum % 11) % 11;
    Some(if check == 10 {
        'X'
    } else {
        char::from(b'0' + check as u8)
    })
}

/// Whether `id` is an 18-character Chinese resident ID: a region code not starting with 0, a
/// real birth date between 1900 and 2099, and the right check character (`x` taken as `X`).
pub fn chinese_id_valid(id: &str) -> bool {
    if id.len() != 18 || !id.is_ascii() || id.starts_with('0') {
        return false;
    }
    let (first17, last) = id.split_at(17);
    let Some(check) = chinese_id_check_char(first17) else {
        return false;
    };
    let num = |r: std::ops::Range<usize>| first17[r].parse::<u32>().unwrap_or(0);
    let (year, month, day) = (num(6..10), num(10..12), num(12..14));
    (1900..=2099).contains(&year)
        && day >= 1
        && day <= days_in_month(year, month)
        && last.eq_ignore_ascii_case(&check.to_string())
}

/// Days in `month` of `year` (Gregorian), 0 for a month outside 1–12.
fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Whether `ssn` (`ddd-dd-dddd`) is a US social security number that can have been issued:
/// area not 000, 666 or 900–999, group not 00, serial not 0000.
pub fn ssn_valid(ssn: &str) -> bool {
    let parts: Vec<&str> = ssn.split('-').collect();
    let [area, group, serial] = parts[..] else {
        return false;
    };
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(area, 3) && digits(group, 2) && digits(serial, 4)) {
        return false;
    }
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// Whether `iban` (spaces allowed, either case) is an IBAN: two letters, two check digits,
/// 11–30 letters or digits, 15–34 characters in all, and the MOD 97-10 remainder 1.
pub fn iban_valid(iban: &str) -> bool {
    let compact: Vec<u8> = iban
        .bytes()
        .filter(|&b| b != b' ')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if !(15..=34).contains(&compact.len())
        || !compact[..2].iter().all(u8::is_ascii_uppercase)
        || !compact[2..4].iter().all(u8::is_ascii_digit)
        || !compact.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    // The first four characters move to the end; letters count as 10–35.
    let mut rem = 0u32;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let value = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        rem = if value >= 10 {
            (rem * 100 + value) % 97
        } else {
            (rem * 10 + value) % 97
        };
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_a_changed_digit() {
        for card in [
            "4111 1111 1111 1111",
            "5500-0000-0000-0004",
            "378282246310005",
            "6011111111111117",
        ] {
            assert!(luhn_valid(card), "{card}");
        }
        assert!(!luhn_valid("4111 1111 1111 1112"));
        assert!(!luhn_valid("1234567890123456"));
        assert!(!luhn_valid("4111x1111"));
        assert!(!luhn_valid("0"));
    }

    #[test]
    fn chinese_id_check_digit_and_birth_date() {
        // GB 11643's worked example and one whose check character is X.
        assert_eq!(chinese_id_check_char("11010519491231002"), Some('X'));
        assert!(chinese_id_valid("11010519491231002X"));
        assert!(chinese_id_valid("11010519491231002x"));
        assert!(!chinese_id_valid("110105194912310021"));
        // Right check digit, impossible date (30 February).
        let first17 = "11010519490230002";
        let id = format!("{first17}{}", chinese_id_check_char(first17).unwrap());
        assert!(!chinese_id_valid(&id));
    }

    #[test]
    fn ssn_ranges_never_issued() {
        assert!(ssn_valid("123-45-6789"));
        for ssn in [
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
            "123456789",
        ] {
            assert!(!ssn_valid(ssn), "{ssn}");
        }
    }

    #[test]
    fn iban_mod_97() {
        assert!(iban_valid("DE89 3704 0044 0532 0130 00"));
        assert!(iban_valid("gb82west12345698765432"));
        assert!(!iban_valid("DE89 3704 0044 0532 0130 01"));
        assert!(!iban_valid("DE89"));
    }
}
