//! ROUGE and BLEU against the Python packages they copy: the vectors of REFERENCE.md, and the
//! cases of `tests/data/metrics_reference.json` (made by `make_metrics_reference.py` in the same
//! folder with rouge-score, nltk and sacrebleu).

use loam_lm::metrics::bleu::{Bleu, BleuScore, Tokenize, corpus_bleu, sentence_bleu};
use loam_lm::metrics::rouge::{RougeScorer, RougeScores, Score, porter_stem};
use serde_json::Value;

const TOL: f64 = 1e-6;

fn reference() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/metrics_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().expect("array").iter().map(|s| s.as_str().expect("string")).collect()
}

fn close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= TOL, "{what}: loam {got}, Python {want}");
}

#[test]
fn rouge_matches_reference_vectors() {
    let scorer = RougeScorer::default();
    let r1 = scorer.score("testing one two", "testing").rouge1;
    close(r1.precision, 1.0, "rouge1 P");
    close(r1.recall, 1.0 / 3.0, "rouge1 R");
    close(r1.fmeasure, 0.5, "rouge1 F");
    close(scorer.score("testing one two", "testing one").rouge2.fmeasure, 2.0 / 3.0, "rouge2 F");
    close(scorer.score("testing one two", "testing two").rouge_l.fmeasure, 0.8, "rougeL F");
}

fn check_rouge_cases(cases: &Value, set: &str) {
    for (i, case) in cases.as_array().expect("cases").iter().enumerate() {
        let scorer = RougeScorer::new(case["stem"].as_bool().expect("stem"));
        let got = scorer.score(case["target"].as_str().expect("target"), case["prediction"].as_str().expect("prediction"));
        for (name, score) in got.named() {
            let want = &case["scores"][name];
            let what = format!("{set} case {i} {name}");
            close(score.precision, want[0].as_f64().expect("P"), &format!("{what} P"));
            close(score.recall, want[1].as_f64().expect("R"), &format!("{what} R"));
            close(score.fmeasure, want[2].as_f64().expect("F"), &format!("{what} F"));
        }
    }
}

#[test]
fn rouge_matches_rouge_score() {
    check_rouge_cases(&reference()["rouge"], "rouge");
}

#[test]
fn rouge_scores_chinese_by_character() {
    check_rouge_cases(&reference()["rouge_han"], "rouge_han");
    let s = RougeScorer::default().score("今天上新了", "今天到货了");
    close(s.rouge1.fmeasure, 0.6, "three of five characters");
    close(s.rouge2.fmeasure, 0.25, "one of four bigrams");
}

#[test]
fn porter_matches_nltk() {
    let reference = reference();
    let pairs = reference["porter"].as_array().expect("porter");
    let wrong: Vec<String> = pairs
        .iter()
        .filter_map(|p| {
            let (word, stem) = (p[0].as_str().expect("word"), p[1].as_str().expect("stem"));
            let got = porter_stem(word);
            (got != stem).then(|| format!("{word}: loam {got}, nltk {stem}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{} of {} stems differ: {:?}", wrong.len(), pairs.len(), &wrong[..wrong.len().min(10)]);
}

#[test]
fn rouge_multi_takes_best_reference_and_mean_averages() {
    let scorer = RougeScorer::default();
    let best = scorer.score_multi(&["a b c d", "a b"], "a b");
    close(best.rouge1.fmeasure, 1.0, "the second reference matches exactly");
    assert_eq!(scorer.score_multi(&[], "a b"), RougeScores::default());
    let one = |f| Score { precision: f, recall: f, fmeasure: f };
    let pairs = [
        RougeScores { rouge1: one(1.0), rouge2: one(0.0), rouge_l: one(0.5), rouge_lsum: one(0.25) },
        RougeScores { rouge1: one(0.0), rouge2: one(0.0), rouge_l: one(0.5), rouge_lsum: one(0.75) },
    ];
    let mean = RougeScores::mean(&pairs);
    close(mean.rouge1.recall, 0.5, "mean rouge1");
    close(mean.rouge_lsum.fmeasure, 0.5, "mean rougeLsum");
}

fn check_bleu(got: &BleuScore, want: &Value, what: &str) {
    close(got.score, want["score"].as_f64().expect("score"), &format!("{what} score"));
    close(got.bp, want["bp"].as_f64().expect("bp"), &format!("{what} bp"));
    for n in 0..4 {
        assert_eq!(got.counts[n] as u64, want["counts"][n].as_u64().expect("count"), "{what} counts[{n}]");
        assert_eq!(got.totals[n] as u64, want["totals"][n].as_u64().expect("total"), "{what} totals[{n}]");
        close(got.precisions[n], want["precisions"][n].as_f64().expect("precision"), &format!("{what} precision {n}"));
    }
    assert_eq!(got.sys_len as u64, want["sys_len"].as_u64().expect("sys_len"), "{what} sys_len");
    assert_eq!(got.ref_len as u64, want["ref_len"].as_u64().expect("ref_len"), "{what} ref_len");
}

#[test]
fn bleu_matches_reference_vector() {
    let hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."];
    let refs1 = ["The dog bit the man.", "It was not unexpected.", "The man bit him first."];
    let refs2 = ["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."];
    let refs: [&[&str]; 2] = [&refs1, &refs2];
    close(corpus_bleu(&hyps, &refs).expect("bleu").score, 48.530827, "13a");
    let none = Bleu { tokenize: Tokenize::None, ..Bleu::default() };
    close(none.corpus_score(&hyps, &refs).expect("bleu").score, 49.1919566, "tokenize none");
}

#[test]
fn bleu_matches_sacrebleu() {
    let reference = reference();
    for (i, case) in reference["bleu_corpus"].as_array().expect("cases").iter().enumerate() {
        let bleu = Bleu { tokenize: case["tokenize"].as_str().expect("tokenize").parse().expect("known"), ..Bleu::default() };
        let streams: Vec<Vec<&str>> = case["refs"].as_array().expect("refs").iter().map(strs).collect();
        let streams: Vec<&[&str]> = streams.iter().map(Vec::as_slice).collect();
        let got = bleu.corpus_score(&strs(&case["hyps"]), &streams).expect("bleu");
        check_bleu(&got, case, &format!("corpus case {i} ({})", bleu.tokenize.name()));
    }
    for (i, case) in reference["bleu_sentence"].as_array().expect("cases").iter().enumerate() {
        let tokenize: Tokenize = case["tokenize"].as_str().expect("tokenize").parse().expect("known");
        let hyp = case["hyp"].as_str().expect("hyp");
        let refs = strs(&case["refs"]);
        let got = if tokenize == Tokenize::V13a {
            sentence_bleu(hyp, &refs)
        } else {
            Bleu { tokenize, effective_order: true, ..Bleu::default() }.sentence_score(hyp, &refs)
        };
        check_bleu(&got, case, &format!("sentence case {i} ({})", tokenize.name()));
    }
}

#[test]
fn bleu_refuses_mismatched_streams() {
    let err = corpus_bleu(&["a b", "c d"], &[&["a b"]]).expect_err("one reference for two hypotheses");
    assert!(err.to_string().contains("reference stream 1 has 1 segments, the hypotheses 2"), "{err}");
    assert!(corpus_bleu(&["a"], &[]).is_err());
    assert!("intl".parse::<Tokenize>().is_err());
}

#[test]
fn zh_tokenizer_takes_the_code_points_sacrebleu_takes() {
    let reference = reference();
    for range in reference["zh_chinese_ranges"].as_array().expect("ranges") {
        let (first, last) = (range[0].as_u64().expect("first") as u32, range[1].as_u64().expect("last") as u32);
        // Whether "x{c}x" comes out as three tokens; white space splits either way, so it tells nothing.
        let spaced = |u: u32| {
            char::from_u32(u).filter(|c| !c.is_whitespace()).map(|c| (c, Tokenize::Zh.apply(&format!("x{c}x")) == format!("x {c} x")))
        };
        let mut inside = (first..=last).filter_map(|u| spaced(u).map(|s| (u, s)));
        for (u, (c, s)) in [inside.next(), inside.next_back()].into_iter().flatten() {
            assert!(s, "U+{u:04X} ({c:?}) is Chinese to sacreBLEU");
        }
        for u in [first - 1, last + 1] {
            if let Some((c, s)) = spaced(u) {
                assert!(!s, "U+{u:04X} ({c:?}) is not Chinese to sacreBLEU");
            }
        }
    }
}
