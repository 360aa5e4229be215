//! `cargo xtask summarize FILE [--sentences N | --ratio R] [--json] [--encoder DIR]`: an
//! extractive summary of a UTF-8 text file (TextRank over TF-IDF, or over sentence embeddings
//! with `--encoder`), its sentences in document order; with a generative model (`--model DIR`
//! or `--openai-base URL --openai-model NAME`), an abstractive one of at most `--words` words,
//! or, with an encoder–decoder (T5, BART), the one its config's `summarization` settings give.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow};
use loam_apps::provider::GenParams;
use loam_apps::summarize::{Length, Summarizer, Summary, abstractive};
use loam_lm::hf::SentenceEncoder;

use crate::provider_arg::ProviderArgs;

/// Arguments of `cargo xtask summarize`.
#[derive(clap::Args)]
pub struct Args {
    /// The document (UTF-8 text; `-` reads standard input).
    file: PathBuf,
    /// Sentences to keep (default 3).
    #[arg(long, conflicts_with = "ratio")]
    sentences: Option<usize>,
    /// Fraction of the document's sentences to keep, in (0, 1].
    #[arg(long)]
    ratio: Option<f64>,
    /// A sentence-transformers folder (e.g. all-MiniLM-L6-v2): rank by embedding similarity
    /// instead of TF-IDF.
    #[arg(long)]
    encoder: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Abstractive summaries: words at most (a chat model is asked for them; a T5 or BART
    /// summary keeps to its config's lengths, within three tokens a word).
    #[arg(long, default_value_t = 60)]
    words: usize,
    /// Abstractive summaries: the sampling seed (the temperature is 0, greedy, unless set).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Abstractive summaries: the sampling temperature (0: greedy).
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    #[command(flatten)]
    provider: ProviderArgs,
}

/// Prints the summary.
pub fn run(args: &Args) -> Result<()> {
    print!("{}", report(args)?);
    Ok(())
}

/// What `run` prints: the summary's text, or its JSON.
fn report(args: &Args) -> Result<String> {
    let bytes = if args.file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).context("reading standard input")?;
        buf
    } else {
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?
    };
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow!("{}: not UTF-8 text (invalid byte at offset {}); is it a binary file?", args.file.display(), e.utf8_error().valid_up_to())
    })?;
    if let Some(provider) = args.provider.provider()? {
        let params = GenParams { max_tokens: args.words * 3, temperature: args.temperature, seed: Some(args.seed), ..GenParams::default() };
        let answer = abstractive(provider.as_ref(), &text, args.words, &params).with_context(|| format!("summarizing {}", args.file.display()))?;
        if args.json {
            return Ok(format!("{}\n", serde_json::json!({ "method": "abstractive", "model": provider.model_id(), "summary": answer.text, "finish_reason": answer.finish_reason, "usage": answer.usage })));
        }
        eprintln!("summarize: abstractive, by {}", provider.model_id());
        return Ok(format!("{}\n", answer.text));
    }
    let length = match (args.sentences, args.ratio) {
        (_, Some(r)) => Length::Ratio(r),
        (n, None) => Length::Sentences(n.unwrap_or(3)),
    };
    let encoder = match &args.encoder {
        Some(dir) => Some(SentenceEncoder::from_dir(dir).with_context(|| format!("loading {}", dir.display()))?),
        None => None,
    };
    let summarizer = encoder.as_ref().map_or_else(Summarizer::tfidf, Summarizer::with_encoder);
    let summary = summarizer.summarize(&text, length).with_context(|| format!("summarizing {}", args.file.display()))?;
    if args.json {
        return Ok(format!("{}\n", to_json(&summary)));
    }
    eprintln!("summarize: {} of {} sentences ({})", summary.sentences.len(), summary.total_sentences, summary.method.name());
    Ok(format!("{}\n", summary.text()))
}

fn to_json(summary: &Summary) -> serde_json::Value {
    let sentences: Vec<serde_json::Value> = summary
        .sentences
        .iter()
        .map(|s| serde_json::json!({ "index": s.index, "text": s.text, "score": s.score }))
        .collect();
    serde_json::json!({
        "method": summary.method.name(),
        "total_sentences": summary.total_sentences,
        "summary": summary.text(),
        "sentences": sentences,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, content: &[u8]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("loam-summarize-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, content).expect("write");
        path
    }

    fn args(file: PathBuf) -> Args {
        let provider = ProviderArgs { model: None, openai_base: None, openai_model: None, openai_key_env: String::new() };
        Args { file, sentences: None, ratio: None, encoder: None, json: false, words: 60, seed: 0, temperature: 0.0, provider }
    }

    #[test]
    fn summarizes_a_file_as_text_and_json() {
        let doc = file("doc.txt", b"The shop opens on Elm Street in May. It rained. The Elm Street shop sells bikes. The shop on Elm Street has a workshop.");
        let out = report(&Args { sentences: Some(2), ..args(doc.clone()) }).expect("summary");
        assert_eq!(out.matches(". ").count() + 1, 2, "two sentences: {out}");
        let json: serde_json::Value = serde_json::from_str(&report(&Args { json: true, ratio: Some(0.25), ..args(doc) }).expect("summary")).expect("JSON");
        assert_eq!(json["method"], "textrank-tfidf");
        assert_eq!(json["total_sentences"], 4);
        assert_eq!(json["sentences"].as_array().expect("sentences").len(), 1);
    }

    #[test]
    fn an_encoder_decoder_summarizes_through_the_model_flag() {
        let dir = std::env::var_os("LOAM_FIXTURES")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"))
            .join("tiny-bart");
        if !dir.is_dir() {
            let required = std::env::var_os("CI").is_some() || std::env::var_os("LOAM_REQUIRE_FIXTURES").is_some();
            assert!(!required, "no fixture at {}; fixtures are required here", dir.display());
            eprintln!("an_encoder_decoder_summarizes_through_the_model_flag: did not run: no {}", dir.display());
            return;
        }
        let doc = file("short.txt", b"The shop on Elm Street opens in May. It sells bikes.");
        let mut a = args(doc.clone());
        a.provider.model = Some(dir.clone());
        a.json = true;
        let json: serde_json::Value = serde_json::from_str(&report(&a).expect("summary")).expect("JSON");
        assert_eq!((json["method"].as_str(), json["model"].as_str()), (Some("abstractive"), Some("local:tiny-bart")));
        // the document's 52 characters and BART's <s> and </s>, not the chat template's prompt
        let prompt_tokens = json["usage"]["prompt_tokens"].as_u64().expect("usage");
        assert!(prompt_tokens <= 54, "the document alone is the source: {json}");
        let long = file("long.txt", "The shop on Elm Street sells bikes. ".repeat(40).as_bytes());
        let mut a = args(long);
        a.provider.model = Some(dir);
        let err = format!("{:#}", report(&a).expect_err("too long for BART"));
        assert!(err.contains("this encoder reads at most 128"), "{err}");
    }

    #[test]
    fn bad_files_are_one_clear_error() {
        let err = report(&args(file("binary.bin", b"\x89PNG\r\n\x1a\n\0\0"))).expect_err("binary");
        assert!(format!("{err:#}").contains("not UTF-8 text"), "{err:#}");
        let err = report(&args(file("empty.txt", b"\n \n"))).expect_err("empty");
        assert!(format!("{err:#}").contains("the document is empty"), "{err:#}");
        let err = report(&args(PathBuf::from("/no/such/file.txt"))).expect_err("missing");
        assert!(format!("{err:#}").starts_with("reading /no/such/file.txt"), "{err:#}");
    }
}
