//! The masked-LM collator: proportions, special tokens, labels, determinism.

use loam_text::{IGNORE_INDEX, MlmCollator, MlmConfig, Tokenizer, TrainKind, TokenizerTrainOptions, train_tokenizer};

const VOCAB: usize = 1000;
const MASK: u32 = 4;
const PAD: u32 = 0;
const CLS: u32 = 2;
const SEP: u32 = 3;

/// Rows of `[CLS] tokens… [SEP]` of varying length, tokens in 5..VOCAB.
fn rows(n: usize) -> Vec<Vec<u32>> {
    (0..n)
        .map(|r| {
            let len = 50 + (r * 37) % 200;
            let mut row = vec![CLS];
            row.extend((0..len).map(|i| 5 + ((r * 7919 + i * 104_729) % (VOCAB - 5)) as u32));
            row.push(SEP);
            row
        })
        .collect()
}

fn collator(seed: u64) -> MlmCollator {
    MlmCollator::new(MlmConfig::default(), VOCAB, MASK, PAD, &[1, CLS, SEP], seed).unwrap()
}

#[test]
fn proportions_match_the_recipe_on_a_large_sample() {
    let rows = rows(1000);
    let batch = collator(42).collate(&rows).unwrap();
    let (mut real, mut chosen, mut masked, mut random, mut kept) = (0usize, 0usize, 0usize, 0usize, 0usize);
    for (r, row) in rows.iter().enumerate() {
        for c in 0..batch.seq_len {
            let i = r * batch.seq_len + c;
            let (input, label) = (batch.input_ids[i], batch.labels[i]);
            if c >= row.len() {
                assert_eq!((input, label, batch.attention_mask[i]), (PAD, IGNORE_INDEX, 0), "padding untouched");
                continue;
            }
            let original = row[c];
            if original == CLS || original == SEP {
                assert_eq!((input, label), (original, IGNORE_INDEX), "special tokens never chosen");
                continue;
            }
            real += 1;
            if label == IGNORE_INDEX {
                assert_eq!(input, original, "unchosen tokens unchanged");
                continue;
            }
            assert_eq!(label, i64::from(original), "label is the original id");
            chosen += 1;
            if input == MASK {
                masked += 1;
            } else if input != original {
                assert!(input >= 5, "random replacements are never special");
                random += 1;
            } else {
                kept += 1;
            }
        }
    }
    assert!(real > 140_000, "{real}");
    let p = chosen as f64 / real as f64;
    assert!((p - 0.15).abs() < 0.005, "chosen {p}");
    let (m, r, k) = (masked as f64 / chosen as f64, random as f64 / chosen as f64, kept as f64 / chosen as f64);
    assert!((m - 0.8).abs() < 0.01, "mask {m}");
    assert!((r - 0.1).abs() < 0.01, "random {r}");
    assert!((k - 0.1).abs() < 0.01, "kept {k}");
}

#[test]
fn same_seed_same_masks() {
    let rows = rows(20);
    let a = collator(1).collate(&rows).unwrap();
    assert_eq!(collator(1).collate(&rows).unwrap(), a);
    assert_ne!(collator(2).collate(&rows).unwrap(), a);
    let mut c = collator(1);
    let first = c.collate(&rows).unwrap();
    assert_ne!(c.collate(&rows).unwrap(), first, "the stream moves on between batches");
}

#[test]
fn bad_configurations_are_errors() {
    let bad = MlmConfig { mask_token_prob: 0.9, random_token_prob: 0.2, ..MlmConfig::default() };
    assert!(MlmCollator::new(bad, VOCAB, MASK, PAD, &[], 0).is_err());
    assert!(MlmCollator::new(MlmConfig::default(), 4, MASK, PAD, &[], 0).is_err(), "mask id outside vocab");
    assert!(MlmCollator::new(MlmConfig::default(), 2, 1, 0, &[], 0).is_err(), "nothing left to mask");
}

#[test]
fn works_with_a_trained_wordpiece_tokenizer() {
    let text = "the quick brown fox jumps over the lazy dog\n".repeat(50);
    let tok = train_tokenizer(&TokenizerTrainOptions::new(TrainKind::WordPiece, 120), std::iter::once(text.as_str())).unwrap();
    let mut c = MlmCollator::for_tokenizer(&tok, MlmConfig { mask_prob: 1.0, mask_token_prob: 1.0, random_token_prob: 0.0 }, 3).unwrap();
    let ids = tok.encode("the quick brown fox", true).unwrap();
    let batch = c.collate(std::slice::from_ref(&ids)).unwrap();
    let mask = tok.token_to_id("[MASK]").unwrap();
    assert_eq!(batch.input_ids[0], ids[0], "[CLS] kept");
    assert_eq!(*batch.input_ids.last().unwrap(), *ids.last().unwrap(), "[SEP] kept");
    assert!(batch.input_ids[1..ids.len() - 1].iter().all(|&t| t == mask));
    let chars = loam_text::CharTokenizer::from_text("abc");
    assert!(MlmCollator::for_tokenizer(&chars, MlmConfig::default(), 0).is_err(), "no mask token");
}
