//! Training, saving, loading and batch-encoding tokenizers.

mod common;

use common::{MULTILINGUAL, TempDir, shared_file};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use loam_text::{
    AnyTokenizer, BatchOptions, CharTokenizer, HfTokenizer, Padding, TextError, Tokenizer, TrainKind, TokenizerTrainOptions,
    load_tokenizer, train_tokenizer,
};

/// A small corpus: repeated English, plus the multilingual sample.
fn corpus() -> Vec<String> {
    let english = "the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat by the log.\n";
    (0..40).map(|i| if i % 4 == 0 { MULTILINGUAL.to_owned() } else { english.repeat(1 + i % 3) }).collect()
}

fn train(kind: TrainKind, vocab: usize) -> HfTokenizer {
    let texts = corpus();
    train_tokenizer(&TokenizerTrainOptions::new(kind, vocab), texts.iter().map(String::as_str)).unwrap()
}

#[test]
fn byte_level_bpe_round_trips_any_text() {
    let tok = train(TrainKind::Bpe, 400);
    assert!(tok.vocab_size() <= 400 && tok.vocab_size() > 256);
    assert_eq!(tok.kind(), "bpe");
    let unseen = "Ünïcödé never seen: 𝔘𝔫𝔦 ∮ ∀x∈ℝ — ✓ 🦀 ﷽ \t tabs\r\n";
    for text in [MULTILINGUAL, unseen, "", " leading and trailing  "] {
        let ids = tok.encode(text, false).unwrap();
        assert_eq!(tok.decode(&ids, false).unwrap(), text);
    }
    let cat = tok.encode("the cat sat on the mat.", false).unwrap();
    assert!(cat.len() < 12, "merges learned: {cat:?}");
}

#[test]
fn wordpiece_keeps_words_and_adds_cls_sep() {
    let tok = train(TrainKind::WordPiece, 300);
    let cls = tok.token_to_id("[CLS]").unwrap();
    let sep = tok.token_to_id("[SEP]").unwrap();
    let ids = tok.encode("the cat sat on the mat.", true).unwrap();
    assert_eq!((ids[0], *ids.last().unwrap()), (cls, sep));
    assert_eq!(tok.num_special_tokens(), 2);
    assert_eq!(tok.decode(&ids, true).unwrap(), "the cat sat on the mat.");
    // Chinese characters of the corpus survive (each is its own word).
    let zh = tok.encode("中文句子很好", false).unwrap();
    assert_eq!(tok.decode(&zh, true).unwrap().replace(' ', ""), "中文句子很好");
    assert!(tok.special_ids().contains(&cls));
}

#[test]
fn unigram_round_trips_seen_characters() {
    let tok = train(TrainKind::Unigram, 200);
    assert_eq!(tok.kind(), "unigram");
    for text in ["the cat sat on the mat.", "中文句子很好。", "Right to left: שלום עולם"] {
        let ids = tok.encode(text, false).unwrap();
        assert_eq!(tok.decode(&ids, false).unwrap(), text);
    }
}

/// Lines of made-up words from a few syllables, so that many pairs tie in count.
fn syllable_corpus() -> Vec<String> {
    let syllables = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "Ze", "qu", "é", "ß"];
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    (0..600)
        .map(|_| {
            let words: Vec<String> = (0..8)
                .map(|_| (0..rng.random_range(1..4)).map(|_| syllables[rng.random_range(0..syllables.len())]).collect())
                .collect();
            words.join(" ")
        })
        .collect()
}

#[test]
fn training_twice_on_one_corpus_gives_the_same_file() {
    let texts = syllable_corpus();
    for (kind, vocab) in [(TrainKind::Bpe, 300), (TrainKind::WordPiece, 150), (TrainKind::Unigram, 150)] {
        let options = TokenizerTrainOptions::new(kind, vocab);
        let json = || train_tokenizer(&options, texts.iter().map(String::as_str)).unwrap().inner().to_string(false).unwrap();
        let first = json();
        for run in 1..4 {
            assert!(json() == first, "{kind}: run {run} learned another vocabulary than run 0");
        }
    }
}

#[test]
fn too_small_vocab_and_empty_corpus_are_errors() {
    let texts = corpus();
    let small = train_tokenizer(&TokenizerTrainOptions::new(TrainKind::Bpe, 100), texts.iter().map(String::as_str));
    assert!(matches!(small, Err(TextError::InvalidOption { .. })));
    let empty = train_tokenizer(&TokenizerTrainOptions::new(TrainKind::WordPiece, 100), std::iter::empty::<&str>());
    assert!(empty.is_err());
}

#[test]
fn save_and_load_every_kind() {
    let dir = TempDir::new("tok-save");
    let tokenizers: Vec<AnyTokenizer> = vec![
        AnyTokenizer::Char(CharTokenizer::from_text(MULTILINGUAL)),
        AnyTokenizer::Hf(Box::new(train(TrainKind::Bpe, 300))),
        AnyTokenizer::Hf(Box::new(train(TrainKind::WordPiece, 300))),
        AnyTokenizer::Hf(Box::new(train(TrainKind::Unigram, 200))),
    ];
    for (i, tok) in tokenizers.iter().enumerate() {
        let path = dir.join(&format!("t{i}.json"));
        tok.save(&path).unwrap();
        let back = load_tokenizer(&path).unwrap();
        assert_eq!(back.kind(), tok.kind());
        assert_eq!(back.vocab_size(), tok.vocab_size());
        let ids = tok.encode(MULTILINGUAL, true).unwrap();
        assert_eq!(back.encode(MULTILINGUAL, true).unwrap(), ids);
    }
}

#[test]
fn batch_padding_and_truncation_keep_special_tokens() {
    let tok = train(TrainKind::WordPiece, 300);
    let pad = tok.token_to_id("[PAD]").unwrap();
    let sep = tok.token_to_id("[SEP]").unwrap();
    let texts = ["the cat", "the dog sat on the log by the mat", ""];
    let options = BatchOptions { truncate_to: Some(6), padding: Padding::Longest, ..BatchOptions::default() };
    let batch = tok.encode_batch(&texts, &options).unwrap();
    assert_eq!(batch.ids.iter().map(Vec::len).collect::<Vec<_>>(), vec![6, 6, 6]);
    assert_eq!(batch.lengths, vec![4, 6, 2]);
    assert_eq!(batch.ids[1][5], sep, "truncation keeps [SEP]");
    assert_eq!(batch.ids[0][4..], [pad, pad]);
    assert_eq!(batch.attention_mask[2], vec![1, 1, 0, 0, 0, 0]);
    let fixed = BatchOptions { padding: Padding::Fixed(3), ..BatchOptions::default() };
    assert!(tok.encode_batch(&texts, &fixed).is_err(), "too long for fixed padding without truncation");
    assert!(tok.encode_truncated("the cat", true, 1).is_err(), "no room for [CLS] and [SEP]");

    let chars = CharTokenizer::from_text("abc");
    let b = chars.encode_batch(&["abc", "a"], &BatchOptions { padding: Padding::Fixed(4), ..BatchOptions::default() }).unwrap();
    assert_eq!(b.ids, vec![vec![0, 1, 2, 0], vec![0, 0, 0, 0]]);
    assert_eq!(b.attention_mask, vec![vec![1, 1, 1, 0], vec![1, 0, 0, 0]]);
}

#[test]
fn tiny_gpt2_tokenizer_matches_transformers() {
    let Some(path) = shared_file("tiny_gpt2_tokenizer_matches_transformers", "fixtures/tiny-gpt2/tokenizer.json") else { return };
    let reference = path.with_file_name("reference.json");
    let reference: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(reference).unwrap()).unwrap();
    let tok = load_tokenizer(&path).unwrap();
    assert_eq!(tok.kind(), "bpe");
    for case in reference["cases"].as_array().unwrap() {
        let prompt = case["prompt"].as_str().unwrap();
        let expected: Vec<u32> = case["input_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        assert_eq!(tok.encode(prompt, true).unwrap(), expected, "{prompt:?}");
        assert_eq!(tok.decode(&expected, false).unwrap(), prompt);
    }
}

#[test]
fn minilm_tokenizer_loads_without_its_stored_padding() {
    let Some(path) = shared_file("minilm_tokenizer_loads_without_its_stored_padding", "models/all-MiniLM-L6-v2/tokenizer.json") else { return };
    let tok = load_tokenizer(&path).unwrap();
    assert_eq!((tok.kind(), tok.vocab_size()), ("wordpiece", 30522));
    assert_eq!(tok.encode("Hello world", true).unwrap(), vec![101, 7592, 2088, 102]);
    let long = "word ".repeat(300);
    assert_eq!(tok.encode(&long, true).unwrap().len(), 302, "the file's truncation to 128 is off");
    let ids = tok.encode_truncated(&long, true, 256).unwrap();
    assert_eq!((ids.len(), ids[0], ids[255]), (256, 101, 102));
    assert_eq!(tok.pad_id(), Some(0));
}
