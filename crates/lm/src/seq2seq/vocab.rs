//! A character vocabulary for sequence-to-sequence tasks, written as a Hugging Face
//! `tokenizer.json` (so an exported model's tokenizer loads in `transformers` as it is): BART's
//! special tokens `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3, then every character of the texts,
//! sorted; a BPE model without merges splits text into characters, the `Fuse` decoder joins
//! them back, and the post-processor appends `</s>` when special tokens are asked for.

use std::collections::BTreeSet;

use loam_text::HfTokenizer;
use serde_json::{Value, json};

use crate::error::Result;

/// The special tokens, in id order.
pub const SPECIAL_TOKENS: [&str; 4] = ["<s>", "<pad>", "</s>", "<unk>"];

/// The `tokenizer.json` text of the characters of `texts`.
pub fn char_tokenizer_json<'a>(texts: impl IntoIterator<Item = &'a str>) -> String {
    let chars: BTreeSet<char> = texts.into_iter().flat_map(str::chars).collect();
    let mut vocab = serde_json::Map::new();
    for (id, token) in SPECIAL_TOKENS
        .iter()
        .map(|s| s.to_string())
        .chain(chars.iter().map(char::to_string))
        .enumerate()
    {
        vocab.insert(token, json!(id));
    }
    let added: Vec<Value> = SPECIAL_TOKENS
        .iter()
        .enumerate()
        .map(|(id, t)| json!({"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}))
        .collect();
    let sequence = |id: &str| json!({"Sequence": {"id": id, "type_id": 0}});
    let eos = json!({"SpecialToken": {"id": "</s>", "type_id": 0}});
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": null,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [sequence("A"), eos],
            "pair": [sequence("A"), eos, sequence("B"), eos],
            "special_tokens": {"</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}
        },
        "decoder": {"type": "Fuse"},
        "model": {
            "type": "BPE",
            "dropout": null,
            "unk_token": "<unk>",
            "continuing_subword_prefix": null,
            "end_of_word_suffix": null,
            "fuse_unk": false,
            "byte_fallback": false,
            "ignore_merges": false,
            "vocab": vocab,
            "merges": []
        }
    });
    serde_json::to_string_pretty(&tokenizer).expect("the tokenizer serializes")
}

/// The character tokenizer of `texts`.
pub fn char_tokenizer<'a>(texts: impl IntoIterator<Item = &'a str>) -> Result<HfTokenizer> {
    Ok(HfTokenizer::from_bytes(
        char_tokenizer_json(texts).as_bytes(),
    )?)
}
