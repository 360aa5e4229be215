//! Stop strings as `transformers`' `stop_strings`: a sequence stops as soon as its decoded new
//! text holds one of the strings (it is checked after every token, so the string ends within
//! the token just generated, overhangs included), and the text is cut where the earliest one
//! starts. Greedy and sampled decoding (decoder-only and encoder–decoder) and beam search use
//! the same test, so a hypothesis ends at a stop string as it would at an EOS token.

use loam_text::Tokenizer;

use crate::error::Result;

/// The byte offset in `text` where the earliest of `stops` starts, if any occurs.
pub fn stop_cut(text: &str, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
}

/// The decoded text of the new ids `ids` (special tokens skipped), cut before the earliest stop
/// string, and whether one occurred.
pub fn text_until_stop(
    tokenizer: &dyn Tokenizer,
    ids: &[usize],
    stops: &[String],
) -> Result<(String, bool)> {
    let ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
    let mut text = tokenizer.decode(&ids, true)?;
    let cut = stop_cut(&text, stops);
    if let Some(at) = cut {
        text.truncate(at);
    }
    Ok((text, cut.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_stop_string_cuts_the_text() {
        let stops = vec!["END".to_string(), "\n".to_string(), String::new()];
        assert_eq!(stop_cut("a\nbEND", &stops), Some(1));
        assert_eq!(stop_cut("abEND\n", &stops), Some(2));
        assert_eq!(stop_cut("abc", &stops), None);
        assert_eq!(stop_cut("abc", &[]), None);
    }
}
