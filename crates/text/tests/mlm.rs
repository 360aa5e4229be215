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

#[test]
fn whole_word_masking_chooses_and_treats_each_word_as_one() {
    // ids 600.. continue the word before them (as `##` pieces do)
    let continues: Vec<bool> = (0..VOCAB).map(|id| id >= 600).collect();
    let rows = rows(400);
    let config = MlmConfig { mask_token_prob: 0.5, random_token_prob: 0.0, ..MlmConfig::default() };
    let mut c = MlmCollator::new(config, VOCAB, MASK, PAD, &[1, CLS, SEP], 9).unwrap().whole_words(continues.clone()).unwrap();
    let batch = c.collate(&rows).unwrap();
    let (mut words, mut chosen, mut pieces_in_chosen) = (0usize, 0usize, 0usize);
    for (r, row) in rows.iter().enumerate() {
        let at = |c: usize| r * batch.seq_len + c;
        let mut c = 1; // after [CLS]
        while c < row.len() - 1 {
            let mut end = c + 1;
            while end < row.len() - 1 && continues[row[end] as usize] {
                end += 1;
            }
            let labels: Vec<i64> = (c..end).map(|k| batch.labels[at(k)]).collect();
            let inputs: Vec<u32> = (c..end).map(|k| batch.input_ids[at(k)]).collect();
            words += 1;
            if labels[0] == IGNORE_INDEX {
                assert!(labels.iter().all(|&l| l == IGNORE_INDEX), "row {r}: a word is chosen whole or not at all");
                assert_eq!(inputs, row[c..end], "an unchosen word is untouched");
            } else {
                chosen += 1;
                pieces_in_chosen += end - c;
                assert_eq!(labels, row[c..end].iter().map(|&t| i64::from(t)).collect::<Vec<_>>(), "labels are the word's ids");
                assert!(inputs.iter().all(|&t| t == MASK) || inputs == row[c..end], "masked or kept as one: {inputs:?}");
            }
            c = end;
        }
    }
    let rate = chosen as f64 / words as f64;
    assert!((rate - 0.15).abs() < 0.01, "words chosen: {rate}");
    assert!(pieces_in_chosen > chosen, "some chosen words have several pieces");
    let per_token = collator(9).collate(&rows).unwrap();
    assert_ne!(per_token.labels, batch.labels, "whole-word masking changes the choice");
    assert!(MlmCollator::new(config, VOCAB, MASK, PAD, &[], 0).unwrap().whole_words(vec![false; 3]).is_err(), "one flag per id");
}

#[test]
fn wordpiece_continuations_are_the_double_hash_pieces() {
    let text = "unbelievable unbreakable unthinkable believable breakable thinkable\n".repeat(40);
    let tok = train_tokenizer(&TokenizerTrainOptions::new(TrainKind::WordPiece, 60), std::iter::once(text.as_str())).unwrap();
    let continues = loam_text::word_continuations(&tok);
    assert_eq!(continues.len(), tok.vocab_size());
    for (id, &c) in continues.iter().enumerate() {
        assert_eq!(c, tok.id_to_token(id as u32).unwrap().starts_with("##"), "id {id}");
    }
    let ids = tok.encode("thinkablebelievable", true).unwrap();
    assert!(ids.len() > 3 && ids[2..ids.len() - 1].iter().all(|&i| continues[i as usize]), "one word, several pieces: {ids:?}");
    let mut c = MlmCollator::for_tokenizer(&tok, MlmConfig { mask_prob: 0.5, ..MlmConfig::default() }, 1).unwrap().whole_words(continues).unwrap();
    let batch = c.collate(&vec![ids.clone(); 64]).unwrap();
    for row in batch.labels.chunks(batch.seq_len) {
        let chosen = row[1..row.len() - 1].iter().filter(|&&l| l != IGNORE_INDEX).count();
        assert!(chosen == 0 || chosen == ids.len() - 2, "the word is chosen whole: {row:?}");
    }
}
