//! Each kind of bad input gives its error or a reported skip, never a panic.

mod common;

use common::TempDir;
use loam_text::{
    Corpus, CorpusOptions, DatasetConfig, TokenDtype, Split, TextError, TokenDataset, Tokenizer, TokenizerSpec,
    build_dataset, load_tokenizer,
};

fn char_config(corpus: &std::path::Path, out: &TempDir) -> DatasetConfig {
    DatasetConfig::new(corpus, out.join("out"), TokenizerSpec::Char)
}

#[test]
fn invalid_utf8_is_an_error_or_a_counted_replacement() {
    let dir = TempDir::new("bad-utf8");
    let path = dir.write("latin1.txt", b"caf\xe9 ok\nand \xff\xfe more\n".as_slice());
    match build_dataset(&char_config(&path, &dir)) {
        Err(TextError::InvalidUtf8 { path: p, offset: 3 }) => assert_eq!(p, path),
        other => panic!("expected InvalidUtf8 at offset 3, got {other:?}"),
    }
    let mut config = char_config(&path, &dir);
    config.lossy_utf8 = true;
    config.val_fraction = 0.0;
    let meta = build_dataset(&config).unwrap();
    assert_eq!(meta.clean_report.invalid_utf8_replaced, 3);
    let data = TokenDataset::open(&dir.join("out")).unwrap();
    let tok = load_tokenizer(&data.tokenizer_path()).unwrap();
    let train = data.split(Split::Train).unwrap();
    let text = tok.decode(&train.tokens(0, train.len()).unwrap(), false).unwrap();
    assert_eq!(text, "caf\u{FFFD} ok\nand \u{FFFD}\u{FFFD} more\n");
}

#[test]
fn invalid_utf8_across_a_read_block_is_located() {
    let dir = TempDir::new("bad-utf8-far");
    let mut bytes = "é".repeat(40_000).into_bytes();
    bytes.push(0xC3);
    bytes.extend_from_slice(b"x\n");
    let path = dir.write("far.txt", &bytes);
    match Corpus::open(&path, CorpusOptions::default()) {
        Err(TextError::InvalidUtf8 { offset, .. }) => assert_eq!(offset, 80_000),
        other => panic!("expected InvalidUtf8, got {other:?}"),
    }
}

#[test]
fn empty_corpus_is_an_error() {
    let dir = TempDir::new("empty");
    let empty = dir.write("empty.txt", "");
    assert!(matches!(build_dataset(&char_config(&empty, &dir)), Err(TextError::EmptyCorpus(_))));
    dir.write("docs/a.txt", "");
    dir.write("docs/b.md", "");
    let err = build_dataset(&char_config(&dir.join("docs"), &dir)).unwrap_err();
    assert!(matches!(err, TextError::EmptyCorpus(_)), "{err}");
    assert!(err.to_string().contains("a.txt: empty"), "{err}");
    // Text that cleaning removes entirely leaves nothing either.
    let blank = dir.write("blank.txt", "\n\n  \n");
    let mut config = char_config(&blank, &dir);
    config.clean = "whitespace".parse().unwrap();
    assert!(matches!(build_dataset(&config), Err(TextError::EmptyCorpus(_))));
}

#[test]
fn binary_files_are_an_error_alone_and_skipped_in_a_directory() {
    let dir = TempDir::new("binary");
    let bin = dir.write("corpus/image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".as_slice());
    match build_dataset(&char_config(&bin, &dir)) {
        Err(TextError::BinaryFile { offset: 8, .. }) => {}
        other => panic!("expected BinaryFile, got {other:?}"),
    }
    dir.write("corpus/real.txt", "some text\n");
    let mut config = char_config(&dir.join("corpus"), &dir);
    config.val_fraction = 0.0;
    let meta = build_dataset(&config).unwrap();
    assert_eq!(meta.sources.len(), 1);
    assert_eq!(meta.clean_report.files_skipped, vec!["image.txt: binary (NUL byte at offset 8)".to_owned()]);
    assert_eq!(meta.tokens.train, 10);
}

#[test]
fn directory_without_text_files_and_missing_paths() {
    let dir = TempDir::new("no-text");
    dir.write("data/a.csv", "x,y\n");
    dir.write("data/.hidden.txt", "hidden\n");
    assert!(matches!(build_dataset(&char_config(&dir.join("data"), &dir)), Err(TextError::NoTextFiles { .. })));
    let missing = dir.join("nope");
    assert!(matches!(build_dataset(&char_config(&missing, &dir)), Err(TextError::Io { .. })));
}

#[test]
fn unparsable_tokenizer_files_are_errors() {
    let dir = TempDir::new("bad-tok");
    let corpus = dir.write("c.txt", "hello\n");
    for (name, body) in [
        ("garbage.json", "{not json"),
        ("wrong.json", r#"{"model": {"type": "NoSuchModel"}}"#),
        ("chars.json", r#"{"type": "loam-char", "chars": ["b", "a"]}"#),
    ] {
        let path = dir.write(name, body);
        assert!(matches!(load_tokenizer(&path), Err(TextError::Tokenizer { .. })), "{name}");
        let config = DatasetConfig::new(&corpus, dir.join("out"), TokenizerSpec::File(path));
        let err = build_dataset(&config).unwrap_err();
        assert!(err.to_string().contains(name), "error names the file: {err}");
    }
    assert!(matches!("bpe:lots".parse::<TokenizerSpec>(), Err(TextError::InvalidSpec { .. })));
}

/// A WordLevel tokenizer.json with `n` words `w0 … w{n-1}` and `[UNK]`.
fn word_level_json(n: usize) -> String {
    let mut vocab = serde_json::Map::new();
    vocab.insert("[UNK]".into(), 0.into());
    for i in 0..n {
        vocab.insert(format!("w{i}"), (i + 1).into());
    }
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "WhitespaceSplit"}, "post_processor": null, "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    })
    .to_string()
}

#[test]
fn vocabulary_too_large_for_u16_is_an_error_and_u32_works() {
    let dir = TempDir::new("big-vocab");
    let tok_path = dir.write("big.json", word_level_json(70_000));
    let corpus = dir.write("c.txt", "w1 w69999 w65536 w5 nonsense\n");
    let mut config = DatasetConfig::new(&corpus, dir.join("out"), TokenizerSpec::File(tok_path));
    config.dtype = Some(TokenDtype::U16);
    match build_dataset(&config) {
        Err(TextError::VocabTooLarge { vocab_size: 70_001, dtype: "u16", .. }) => {}
        other => panic!("expected VocabTooLarge, got {other:?}"),
    }
    config.dtype = None;
    config.val_fraction = 0.0;
    let meta = build_dataset(&config).unwrap();
    assert_eq!(meta.dtype, TokenDtype::U32);
    let data = TokenDataset::open(&dir.join("out")).unwrap();
    let train = data.split(Split::Train).unwrap();
    assert_eq!(train.tokens(0, train.len()).unwrap(), vec![2, 70_000, 65_537, 6, 0]);
    assert_eq!(std::fs::metadata(dir.join("out/train_0000.bin")).unwrap().len(), 20);
    let tok = load_tokenizer(&data.tokenizer_path()).unwrap();
    assert_eq!(tok.id_to_token(65_537).as_deref(), Some("w65536"));
}

#[test]
fn damaged_datasets_are_errors() {
    let dir = TempDir::new("damaged");
    let corpus = dir.write("c.txt", "abcdefghij".repeat(10));
    let out = dir.join("out");
    build_dataset(&DatasetConfig::new(&corpus, &out, TokenizerSpec::Char)).unwrap();
    let shard = out.join("train_0000.bin");
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes.pop();
    std::fs::write(&shard, &bytes).unwrap();
    let data = TokenDataset::open(&out).unwrap();
    assert!(matches!(data.split(Split::Train), Err(TextError::Dataset { .. })));
    assert!(data.verify().is_err());
    std::fs::write(out.join("meta.json"), "{}").unwrap();
    assert!(matches!(TokenDataset::open(&out), Err(TextError::Json { .. })));
    assert!(matches!(TokenDataset::open(&dir.join("none")), Err(TextError::Io { .. })));
    let val = TokenDataset::open(&out).map(|_| ()).unwrap_err();
    assert!(val.to_string().contains("meta.json"));
    let chars = loam_text::CharTokenizer::from_text("ab");
    assert!(matches!(chars.encode("abc", false), Err(TextError::UnknownChar { ch: 'c', .. })));
}

#[test]
fn a_build_never_touches_shard_named_files_it_did_not_write() {
    let dir = TempDir::new("not-ours");
    let corpus = dir.write("c.txt", "some text for a small dataset\n".repeat(20));
    let mine = dir.write("out/train_0007.bin", b"my own file".as_slice());
    let err = build_dataset(&char_config(&corpus, &dir)).unwrap_err().to_string();
    assert!(err.contains("train_0007.bin") && err.contains("no earlier dataset build recorded"), "{err}");
    assert_eq!(std::fs::read(&mine).unwrap(), b"my own file");
    // once it is moved away the build goes ahead, and a rebuild replaces only its own shards
    std::fs::remove_file(&mine).unwrap();
    let first = build_dataset(&char_config(&corpus, &dir)).unwrap();
    let theirs = dir.write("out/notes.txt", "keep me");
    let again = build_dataset(&char_config(&corpus, &dir)).unwrap();
    assert_eq!(first.train_shards, again.train_shards);
    // removing the dataset removes what its meta.json records and nothing else
    loam_text::remove_dataset(&dir.join("out")).unwrap();
    let left: Vec<_> = std::fs::read_dir(dir.join("out")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("notes.txt")]);
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "keep me");
}
