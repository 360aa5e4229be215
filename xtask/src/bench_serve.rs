//! `cargo xtask bench serve [--database URL]`: a bounded load test of the HTTP server on
//! loopback. The server runs in this process (example knowledge base, all-MiniLM-L6-v2, the
//! tiny Llama fixture, SQLite in a temporary folder unless `--database` names another); 64
//! clients send 20 assistant requests each (one conversation per client, carried by
//! `conversation_id`), then 16 clients stream 10 generations each from the tiny Llama. Any
//! error fails the benchmark. Figures: requests/s, p50 and p99 latency (ms).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use loam_apps::provider::SseEvents;
use loam_apps::server::{Background, ServeArgs};
use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::record::Record;

/// Assistant clients and requests per client.
const ASSISTANT: (usize, usize) = (64, 20);
/// Streaming clients and generations per client.
const STREAMS: (usize, usize) = (16, 10);
/// Tokens per streamed generation.
const STREAM_TOKENS: usize = 32;

/// What the clients ask, in turn (English and Chinese, answered, rephrased and handed off).
const QUESTIONS: [&str; 8] = [
    "How long does shipping take?",
    "Can I return an item I bought last week?",
    "what about for Canada?",
    "我的订单什么时候发货？",
    "Do you sell gift cards?",
    "blue whales and the moon",
    "How do I reset my password?",
    "可以退货吗？",
];

/// `ServeArgs` from a command line, as `loam-server` parses it.
#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    args: ServeArgs,
}

/// The tiny Llama fixture folder.
fn tiny_llama() -> Result<PathBuf> {
    let dir = std::env::var_os("LOAM_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures"))
        .join("tiny-llama");
    if !dir.join("config.json").is_file() {
        bail!(
            "no tiny Llama fixture at {} (set LOAM_FIXTURES)",
            dir.display()
        );
    }
    Ok(dir)
}

/// The value at `q` (0..=1) of sorted `values`.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Runs `clients` threads of `per_client` calls of `call(client, i)`; the latencies and the
/// wall time, or the first error.
fn load(
    clients: usize,
    per_client: usize,
    call: impl Fn(usize, usize) -> Result<()> + Sync,
) -> Result<(Vec<f64>, f64)> {
    let start = Instant::now();
    let results: Vec<Result<Vec<f64>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let call = &call;
                s.spawn(move || {
                    let mut times = Vec::with_capacity(per_client);
                    for i in 0..per_client {
                        let t = Instant::now();
                        call(c, i)?;
                        times.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    Ok(times)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a client thread panicked")))
            })
            .collect()
    });
    let wall = start.elapsed().as_secs_f64();
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    all.sort_by(f64::total_cmp);
    Ok((all, wall))
}

fn record(case: &str, latencies: &[f64], wall: f64) -> Record {
    Record::loam(
        "serve",
        case,
        &[
            ("requests_per_s", latencies.len() as f64 / wall),
            ("p50_ms", quantile(latencies, 0.5)),
            ("p99_ms", quantile(latencies, 0.99)),
            ("errors", 0.0),
        ],
    )
}

/// Runs the load test against the database `database` (default: SQLite in a temporary folder).
pub fn run(database: Option<&str>) -> Result<Vec<Record>> {
    let llama = tiny_llama()?;
    let tmp = std::env::temp_dir().join(format!("loam-bench-serve-{}", std::process::id()));
    let database = database
        .map(String::from)
        .unwrap_or_else(|| tmp.join("loam.db").to_string_lossy().into_owned());
    std::fs::create_dir_all(&tmp)?;
    let backend = if database.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    let flags = Flags::try_parse_from([
        "serve",
        "--port",
        "0",
        "--model",
        &llama.to_string_lossy(),
        "--database",
        &database,
        "--workers",
        "2",
        "--queue",
        "256",
    ])?;
    let server = flags.args.server()?;
    let running = Background::start(server, "127.0.0.1:0", 2).context("starting the server")?;
    let base = running.base_url();
    let client = Client::builder()
        .timeout(Duration::from_secs(300))
        .pool_max_idle_per_host(64)
        .build()?;
    eprintln!(
        "bench serve: {} clients × {} assistant requests ({backend})",
        ASSISTANT.0, ASSISTANT.1
    );
    let conversations: Vec<std::sync::Mutex<Option<String>>> = (0..ASSISTANT.0)
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    let (assistant, wall) = load(ASSISTANT.0, ASSISTANT.1, |c, i| {
        let mut body = json!({"model": "loam-assistant", "messages": [{"role": "user", "content": QUESTIONS[(c + i) % QUESTIONS.len()]}]});
        let mut conversation = conversations[c]
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?;
        if let Some(id) = conversation.as_ref() {
            body["conversation_id"] = json!(id);
        }
        let response = client
            .post(format!("{base}/v1/chat/completions"))
            .json(&body)
            .send()?;
        let status = response.status();
        let answer: Value = response.json()?;
        if !status.is_success() {
            bail!("assistant request: HTTP {status}: {answer}");
        }
        *conversation = answer["conversation_id"].as_str().map(String::from);
        Ok(())
    })?;
    let mut records = vec![record(
        &format!("assistant {}x{} ({backend})", ASSISTANT.0, ASSISTANT.1),
        &assistant,
        wall,
    )];
    eprintln!(
        "bench serve: {} clients × {} streamed generations of {STREAM_TOKENS} tokens",
        STREAMS.0, STREAMS.1
    );
    let (streams, wall) = load(STREAMS.0, STREAMS.1, |c, i| {
        let body = json!({"model": "tiny-llama", "prompt": "Once upon a time", "max_tokens": STREAM_TOKENS, "temperature": 0.8,
                          "seed": c * 100 + i, "stream": true});
        let response = client
            .post(format!("{base}/v1/completions"))
            .json(&body)
            .send()?;
        if !response.status().is_success() {
            bail!(
                "streamed generation: HTTP {}: {}",
                response.status(),
                response.text()?
            );
        }
        for event in SseEvents::new(std::io::BufReader::new(response)) {
            if event? == "[DONE]" {
                return Ok(());
            }
        }
        bail!("a stream ended without [DONE]")
    })?;
    records.push(record(
        &format!("stream {}x{} tiny-llama ({backend})", STREAMS.0, STREAMS.1),
        &streams,
        wall,
    ));
    running.stop()?;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(records)
}
