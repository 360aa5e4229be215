//! Corpora larger than the read buffers stream through in bounded pieces, across shards.

mod common;

use common::{MULTILINGUAL, TempDir};
use loam_text::{
    CharTokenizer, Corpus, CorpusOptions, DatasetConfig, Split, SplitMode, TokenDataset, Tokenizer, TokenizerSpec,
    build_dataset, load_tokenizer,
};

/// About 3 MB over three files, lines of varying length, many scripts.
fn write_corpus(dir: &TempDir) -> Vec<String> {
    let mut docs = Vec::new();
    for f in 0..3 {
        let mut text = String::new();
        let mut i = 0usize;
        while text.len() < 1_000_000 {
            match i % 5 {
                0 => text.push_str(MULTILINGUAL),
                1 => text.push_str(&format!("line {i} of file {f}: {}\n", "lorem ipsum ".repeat(i % 17))),
                2 => text.push_str("\n\n"),
                3 => text.push_str(&"x".repeat(9_000)),
                _ => text.push_str(" indented continuation\n"),
            }
            i += 1;
        }
        dir.write(&format!("corpus/part{f}.txt"), &text);
        docs.push(text);
    }
    docs
}

#[test]
fn chunks_are_bounded_and_cover_every_byte() {
    let dir = TempDir::new("chunks");
    let docs = write_corpus(&dir);
    let options = CorpusOptions { chunk_bytes: 4096, ..CorpusOptions::default() };
    let corpus = Corpus::open(&dir.join("corpus"), options).unwrap();
    let mut rebuilt = vec![String::new(); 3];
    let mut pieces = 0;
    for chunk in corpus.chunks() {
        let chunk = chunk.unwrap();
        assert!(chunk.text.len() <= 4096, "chunk of {} bytes", chunk.text.len());
        rebuilt[chunk.file].push_str(&chunk.text);
        pieces += 1;
    }
    assert_eq!(rebuilt, docs);
    assert!(pieces > 700);
}

#[test]
fn streamed_dataset_equals_whole_text_encoding_across_shards() {
    let dir = TempDir::new("stream");
    let docs = write_corpus(&dir);
    let mut config = DatasetConfig::new(dir.join("corpus"), dir.join("out"), TokenizerSpec::Char);
    config.chunk_bytes = 4096;
    config.shard_tokens = 250_000;
    let meta = build_dataset(&config).unwrap();
    let all: String = docs.concat();
    let expected = CharTokenizer::from_text(&all).encode(&all, false).unwrap();
    assert_eq!(meta.tokens.total as usize, expected.len());
    let train_len = (expected.len() as f64 * 0.9).floor() as usize;
    assert_eq!(meta.tokens.train as usize, train_len);
    assert!(meta.train_shards.len() >= 10 && meta.val_shards.len() >= 2, "{} / {}", meta.train_shards.len(), meta.val_shards.len());
    assert!(meta.train_shards.iter().chain(&meta.val_shards).all(|s| s.tokens <= 250_000));

    let data = TokenDataset::open(&dir.join("out")).unwrap();
    data.verify().unwrap();
    let train = data.split(Split::Train).unwrap();
    let val = data.split(Split::Val).unwrap();
    assert_eq!(train.tokens(0, train.len()).unwrap(), expected[..train_len]);
    assert_eq!(val.tokens(0, val.len()).unwrap(), expected[train_len..]);
    // Windows that straddle shard boundaries read correctly.
    for start in [249_990, 499_995, train.len() - 65] {
        assert_eq!(train.tokens(start, 64).unwrap(), expected[start..start + 64]);
    }
    // Rebuilding into the same directory with bigger shards leaves no stale shard behind.
    config.shard_tokens = 1 << 28;
    let meta = build_dataset(&config).unwrap();
    assert_eq!((meta.train_shards.len(), meta.val_shards.len()), (1, 1));
    let bins = std::fs::read_dir(dir.join("out")).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "bin")).count();
    assert_eq!(bins, 2);
}

#[test]
fn split_by_document_is_seeded_and_keeps_documents_whole() {
    let dir = TempDir::new("by-doc");
    let docs: Vec<String> = (0..10).map(|i| format!("document number {i}\n").repeat(i + 1)).collect();
    for (i, d) in docs.iter().enumerate() {
        dir.write(&format!("docs/{i:02}.md"), d);
    }
    let build = |seed: u64, out: &str| {
        let mut config = DatasetConfig::new(dir.join("docs"), dir.join(out), "bpe:300".parse().unwrap());
        config.split = SplitMode::Documents { seed };
        config.val_fraction = 0.2;
        build_dataset(&config).unwrap()
    };
    let meta = build(7, "a");
    let val_docs: Vec<&str> = meta.sources.iter().filter(|s| s.split.as_deref() == Some("val")).map(|s| s.path.as_str()).collect();
    assert_eq!(val_docs.len(), 2);
    assert_eq!(build(7, "b").sources, meta.sources, "same seed, same choice");
    let choices: std::collections::BTreeSet<Vec<Option<String>>> =
        (0..8).map(|s| build(s, "c").sources.into_iter().map(|x| x.split).collect()).collect();
    assert!(choices.len() > 1, "different seeds choose differently");

    let data = TokenDataset::open(&dir.join("a")).unwrap();
    let tok = load_tokenizer(&data.tokenizer_path()).unwrap();
    let val = data.split(Split::Val).unwrap();
    let text = tok.decode(&val.tokens(0, val.len()).unwrap(), true).unwrap();
    let expected: String = val_docs.iter().map(|p| docs[p[..2].parse::<usize>().unwrap()].clone()).collect();
    assert_eq!(text, expected, "validation holds exactly the chosen documents, separators skipped");
    let eot = tok.end_of_text_id().unwrap();
    assert_eq!(val.tokens(0, val.len()).unwrap().iter().filter(|&&t| t == eot).count(), 2);
}
