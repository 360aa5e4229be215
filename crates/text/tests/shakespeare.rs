//! The shakespeare-char benchmark figures: vocabulary 65, split 1,003,854 / 111,540.

mod common;

use common::{TempDir, shakespeare};
use loam_text::{
    DatasetConfig, TokenDtype, Split, TokenDataset, Tokenizer, TokenizerSpec, build_dataset, load_tokenizer,
};

#[test]
fn char_dataset_matches_the_benchmark() {
    let Some(corpus) = shakespeare("char_dataset_matches_the_benchmark") else { return };
    let out = TempDir::new("shakespeare");
    let meta = build_dataset(&DatasetConfig::new(&corpus, out.path(), TokenizerSpec::Char)).unwrap();
    assert_eq!(meta.vocab_size, 65);
    assert_eq!(meta.dtype, TokenDtype::U16);
    assert_eq!((meta.tokens.train, meta.tokens.val), (1_003_854, 111_540));
    assert_eq!(meta.sources.len(), 1);
    assert_eq!(meta.sources[0].bytes, 1_115_394);
    assert!(meta.sources[0].sha256.starts_with("86c4e6aa"), "{}", meta.sources[0].sha256);

    // The shards hold exactly the source text's ids, train then val.
    let text = std::fs::read_to_string(&corpus).unwrap();
    let data = TokenDataset::open(out.path()).unwrap();
    data.verify().unwrap();
    let tokenizer = load_tokenizer(&data.tokenizer_path()).unwrap();
    let expected = tokenizer.encode(&text, false).unwrap();
    let train = data.split(Split::Train).unwrap();
    let val = data.split(Split::Val).unwrap();
    assert_eq!(train.tokens(0, train.len()).unwrap(), expected[..1_003_854]);
    assert_eq!(val.tokens(0, val.len()).unwrap(), expected[1_003_854..]);
    assert_eq!(tokenizer.decode(&val.tokens(0, val.len()).unwrap(), false).unwrap(), text[1_003_854..]);

    // Random windows equal the source at their starts; the same seed gives the same windows.
    let batch = train.random_windows(64, 1337).unwrap().next_batch(12);
    for (r, &s) in batch.starts.iter().enumerate() {
        assert_eq!(batch.x[r * 64..(r + 1) * 64], expected[s..s + 64]);
        assert_eq!(batch.y[r * 64..(r + 1) * 64], expected[s + 1..s + 65]);
    }
    assert_eq!(train.random_windows(64, 1337).unwrap().next_batch(12), batch);
    assert_ne!(train.random_windows(64, 1338).unwrap().next_batch(12).starts, batch.starts);

    // Every non-overlapping 64-token window of the validation split.
    let mut windows = val.sequential_windows(64).unwrap();
    assert_eq!(windows.total(), (111_540 - 1) / 64);
    let mut rows = 0;
    while let Some(b) = windows.next_batch(100) {
        for (r, &s) in b.starts.iter().enumerate() {
            assert_eq!(s, (rows + r) * 64);
            assert_eq!(b.y[r * 64..(r + 1) * 64], expected[1_003_854 + s + 1..1_003_854 + s + 65]);
        }
        rows += b.batch_size;
    }
    assert_eq!(rows, 1742);
}

#[test]
fn bpe_on_shakespeare_round_trips_and_is_deterministic() {
    let Some(corpus) = shakespeare("bpe_on_shakespeare_round_trips_and_is_deterministic") else { return };
    let (a, b) = (TempDir::new("bpe-a"), TempDir::new("bpe-b"));
    let spec: TokenizerSpec = "bpe:512".parse().unwrap();
    let meta_a = build_dataset(&DatasetConfig::new(&corpus, a.path(), spec.clone())).unwrap();
    let meta_b = build_dataset(&DatasetConfig::new(&corpus, b.path(), spec)).unwrap();
    assert_eq!(meta_a.vocab_size, 512);
    assert_eq!(meta_a.train_shards, meta_b.train_shards, "same corpus and spec give the same shards");
    assert_eq!(meta_a.val_shards, meta_b.val_shards);
    let text = std::fs::read_to_string(&corpus).unwrap();
    // Compression: a 512-token BPE needs far fewer tokens than characters.
    assert!(meta_a.tokens.total < text.len() as u64 * 6 / 10, "{} tokens", meta_a.tokens.total);
    let data = TokenDataset::open(a.path()).unwrap();
    let tokenizer = load_tokenizer(&data.tokenizer_path()).unwrap();
    let train = data.split(Split::Train).unwrap();
    let val = data.split(Split::Val).unwrap();
    let mut ids = train.tokens(0, train.len()).unwrap();
    ids.extend(val.tokens(0, val.len()).unwrap());
    let eot = tokenizer.end_of_text_id().unwrap();
    assert_eq!(ids.pop(), Some(eot), "one document, one separator at its end");
    assert_eq!(tokenizer.decode(&ids, false).unwrap(), text);
}
