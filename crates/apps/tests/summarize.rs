//! The extractive summarizer: behaviour, bad input, and its quality against a lead-N baseline
//! on the hand-written documents and reference summaries of `tests/data/summaries/`.
//!
//! The quality table of `docs/apps.md` is printed by
//! `cargo test --release -p loam-apps --test summarize -- --nocapture quality` (with
//! `LOAM_MINILM_DIR` set, the embedding row too).

use std::path::PathBuf;

use loam_apps::AppsError;
use loam_apps::summarize::{Length, Method, Summarizer, Summary, lead};
use loam_lm::hf::SentenceEncoder;
use loam_lm::metrics::rouge::{RougeScorer, RougeScores};

const SHOP: &str = "Fernwood Cycles will open a second store on Elm Street. \
    The weather was mild last week. \
    The Elm Street store will have a repair workshop for bikes. \
    Bike repairs at the Elm Street workshop are walk-in. \
    A cat sat on the wall.";

#[test]
fn keeps_document_order_and_the_asked_length() {
    let summarizer = Summarizer::tfidf();
    let summary = summarizer.summarize(SHOP, Length::Sentences(2)).expect("summary");
    let indices: Vec<usize> = summary.sentences.iter().map(|s| s.index).collect();
    assert_eq!(indices.len(), 2);
    assert!(indices[0] < indices[1], "{indices:?}");
    // The sentences about the store and its workshop are central; the weather and the cat are not.
    assert!(indices.iter().all(|i| ![1, 4].contains(i)), "{summary:?}");
    assert_eq!(summarizer.summarize(SHOP, Length::Ratio(0.5)).expect("summary").sentences.len(), 3);
    assert_eq!(summarizer.summarize(SHOP, Length::Sentences(50)).expect("summary").sentences.len(), 5);
    assert_eq!(summary.method, Method::TextRankTfidf);
}

#[test]
fn mmr_drops_a_repeated_sentence() {
    let text = "Refunds take five days. Refunds take five days! Shipping is free over forty pounds. \
                Refunds go to the original card. Shipping takes two days.";
    let mut plain = Summarizer::tfidf();
    plain.lambda = 1.0;
    let with_mmr = Summarizer::tfidf();
    let picked = |s: &Summary| s.sentences.iter().map(|e| e.index).collect::<Vec<_>>();
    let without = plain.summarize(text, Length::Sentences(2)).expect("summary");
    assert_eq!(picked(&without), [0, 1], "ranking alone keeps both copies");
    let with = with_mmr.summarize(text, Length::Sentences(2)).expect("summary");
    assert!(!(picked(&with).contains(&0) && picked(&with).contains(&1)), "{with:?}");
}

#[test]
fn chinese_is_split_and_joined_without_spaces() {
    let text = std::fs::read_to_string(data("zh-01.txt")).expect("document");
    let summary = Summarizer::tfidf().summarize(&text, Length::Sentences(2)).expect("summary");
    assert_eq!(summary.total_sentences, 8, "好消息！ is a sentence of its own");
    let joined = summary.text();
    assert!(!joined.contains(' ') && joined.ends_with('。'), "{joined}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let summarizer = Summarizer::tfidf();
    for empty in ["", "  \n\n\t "] {
        let err = summarizer.summarize(empty, Length::Sentences(2)).expect_err("empty");
        assert!(matches!(err, AppsError::Input(_)) && err.to_string().contains("empty"), "{err}");
    }
    let binary = "PK\u{3}\u{4}\0\0\u{8}\0data\u{1}\u{2}";
    let err = summarizer.summarize(binary, Length::Sentences(2)).expect_err("binary");
    assert!(err.to_string().contains("looks binary"), "{err}");
    assert!(summarizer.summarize(SHOP, Length::Sentences(0)).is_err());
    assert!(summarizer.summarize(SHOP, Length::Ratio(1.5)).is_err());
    assert!(summarizer.summarize(SHOP, Length::Ratio(f64::NAN)).is_err());
}

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/summaries").join(name)
}

/// (document, reference lines) of every `<name>.txt` with a `<name>.ref.txt`, for `prefix`.
fn documents(prefix: &str) -> Vec<(String, String, Vec<String>)> {
    let mut names: Vec<String> = std::fs::read_dir(data(""))
        .expect("summaries folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(".txt") && !n.ends_with(".ref.txt"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let doc = std::fs::read_to_string(data(&n)).expect("document");
            let reference = std::fs::read_to_string(data(&n.replace(".txt", ".ref.txt"))).expect("reference");
            (n, doc, reference.lines().map(str::to_string).collect())
        })
        .collect()
}

/// Mean ROUGE of `summarize` over the documents, each summary as long as its reference.
fn mean_rouge(docs: &[(String, String, Vec<String>)], summarize: &dyn Fn(&str, usize) -> Summary) -> RougeScores {
    let scorer = RougeScorer::new(true);
    let pairs: Vec<RougeScores> = docs
        .iter()
        .map(|(_, doc, reference)| {
            let summary = summarize(doc, reference.len());
            let lines: Vec<&str> = summary.sentences.iter().map(|s| s.text.as_str()).collect();
            scorer.score(&reference.join("\n"), &lines.join("\n"))
        })
        .collect();
    RougeScores::mean(&pairs)
}

#[test]
fn quality_against_lead_baseline() {
    let encoder = std::env::var_os("LOAM_MINILM_DIR").map(|dir| SentenceEncoder::from_dir(PathBuf::from(dir).as_path()).expect("MiniLM"));
    println!("| documents | method | ROUGE-1 F | ROUGE-2 F | ROUGE-L F | ROUGE-Lsum F |");
    println!("|---|---|---|---|---|---|");
    for (prefix, label) in [("en-", "English"), ("zh-", "Chinese")] {
        let docs = documents(prefix);
        assert!(docs.len() >= 5, "{label}: {} documents", docs.len());
        let lead_n = mean_rouge(&docs, &|d, n| lead(d, Length::Sentences(n)).expect("lead"));
        let tfidf = mean_rouge(&docs, &|d, n| Summarizer::tfidf().summarize(d, Length::Sentences(n)).expect("summary"));
        let mut rows = vec![("lead-N", lead_n), ("TextRank, TF-IDF", tfidf)];
        if let Some(encoder) = &encoder {
            let summarizer = Summarizer::with_encoder(encoder);
            rows.push(("TextRank, MiniLM", mean_rouge(&docs, &|d, n| summarizer.summarize(d, Length::Sentences(n)).expect("summary"))));
        }
        for (method, s) in &rows {
            let f = |x: f64| format!("{:.3}", x);
            println!(
                "| {label} ({}) | {method} | {} | {} | {} | {} |",
                docs.len(),
                f(s.rouge1.fmeasure),
                f(s.rouge2.fmeasure),
                f(s.rouge_l.fmeasure),
                f(s.rouge_lsum.fmeasure)
            );
        }
        // The references restate the documents' central sentences: any sane extractor overlaps them.
        for (method, s) in &rows {
            assert!(s.rouge1.fmeasure > 0.3, "{label} {method}: {s:?}");
        }
    }
}
