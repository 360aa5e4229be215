//! The HTTP server over real loopback HTTP: every error case answered in OpenAI's error shape,
//! chat and completions with the tiny Llama fixture (whole and streamed to `[DONE]`),
//! embeddings with all-MiniLM-L6-v2, API keys, rate limits, a full queue, a client that goes
//! away mid-stream, a graceful shutdown, and the metrics.

mod common;
mod server_common;

use std::io::{BufReader, Read};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use loam_apps::provider::{FinishReason, LocalProvider, Provider, SseEvents};
use loam_apps::server::{Limits, RateLimit, Server, ServerConfig};
use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use server_common::{TestServer, Throttled, tiny_llama};

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn post(server: &TestServer, path: &str, body: &Value) -> Response {
    client().post(server.url(path)).json(body).send().unwrap()
}

/// The status and the JSON body of an error answer, checked to be OpenAI's error shape.
fn error_of(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body: Value = response.json().expect("an error body is JSON");
    let e = &body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(e["type"].is_string(), "{body}");
    assert!(
        e.get("param").is_some() && e.get("code").is_some(),
        "{body}"
    );
    (status, body)
}

/// A server with the tiny Llama (if its fixture is there) and `config`.
fn llama_server(test: &str, config: ServerConfig) -> Option<TestServer> {
    let dir = common::fixture("tiny-llama", test)?;
    Some(TestServer::start(
        Server::new(config).with_model(tiny_llama(&dir)).unwrap(),
    ))
}

fn chat_body(content: &str, extra: Value) -> Value {
    let mut body = json!({"model": "tiny-llama", "messages": [{"role": "user", "content": content}], "max_tokens": 12, "temperature": 0});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// Reads a streamed answer to `[DONE]`: the JSON chunks before it.
fn read_stream(response: Response) -> Vec<Value> {
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut chunks = Vec::new();
    for event in SseEvents::new(BufReader::new(response)) {
        let data = event.unwrap();
        if data == "[DONE]" {
            return chunks;
        }
        chunks.push(serde_json::from_str(&data).unwrap());
    }
    panic!("the stream ended without [DONE]");
}

#[test]
fn every_error_case_is_a_4xx_in_openai_shape() {
    let config = ServerConfig {
        limits: Limits {
            max_body_bytes: 4096,
            max_prompt_tokens: 64,
            max_tokens: 50,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let Some(server) = llama_server("every_error_case_is_a_4xx_in_openai_shape", config) else {
        return;
    };
    let c = client();
    let url = server.url("/v1/chat/completions");

    let (status, body) = error_of(c.get(server.url("/v1/nothing")).send().unwrap());
    assert_eq!(status, 404, "{body}");
    let (status, _) = error_of(c.get(&url).send().unwrap());
    assert_eq!(status, 405);
    let (status, _) = error_of(c.delete(server.url("/v1/models")).send().unwrap());
    assert_eq!(status, 405);

    let (status, body) = error_of(c.post(&url).body("{\"model\": ").send().unwrap());
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON"),
        "{body}"
    );
    let (status, _) = error_of(c.post(&url).body("").send().unwrap());
    assert_eq!(status, 400);
    let (status, _) = error_of(c.post(&url).body("[1, 2]").send().unwrap());
    assert_eq!(status, 400);

    let (status, body) = error_of(post(
        &server,
        "/v1/chat/completions",
        &chat_body("hi", json!({"max_tokens": "many"})),
    ));
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_tokens")
            || body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("invalid type"),
        "{body}"
    );
    let (status, _) = error_of(post(
        &server,
        "/v1/chat/completions",
        &json!({"model": "tiny-llama", "messages": "hello"}),
    ));
    assert_eq!(status, 400);
    let (status, _) = error_of(post(
        &server,
        "/v1/chat/completions",
        &json!({"messages": []}),
    ));
    assert_eq!(status, 400);
    let (status, body) = error_of(post(
        &server,
        "/v1/chat/completions",
        &json!({"model": "tiny-llama", "messages": []}),
    ));
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("messages"))
    );
    let (status, _) = error_of(post(
        &server,
        "/v1/chat/completions",
        &chat_body(
            "hi",
            json!({"messages": [{"role": "tool", "content": "x"}]}),
        ),
    ));
    assert_eq!(status, 400);

    let (status, body) = error_of(post(
        &server,
        "/v1/chat/completions",
        &chat_body("hi", json!({"model": "gpt-9"})),
    ));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tiny-llama"),
        "the error lists the loaded models: {body}"
    );

    let (status, body) = error_of(post(
        &server,
        "/v1/chat/completions",
        &chat_body("hi", json!({"max_tokens": 51})),
    ));
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("max_tokens"))
    );
    let (status, _) = error_of(post(
        &server,
        "/v1/chat/completions",
        &chat_body("hi", json!({"max_tokens": 0})),
    ));
    assert_eq!(status, 400);
    let (status, _) = error_of(post(
        &server,
        "/v1/chat/completions",
        &chat_body("hi", json!({"temperature": 3.5})),
    ));
    assert_eq!(status, 400);
    let (status, _) = error_of(post(
        &server,
        "/v1/chat/completions",
        &chat_body("hi", json!({"top_p": 0})),
    ));
    assert_eq!(status, 400);
    let (status, _) = error_of(post(
        &server,
        "/v1/chat/completions",
        &chat_body("hi", json!({"n": 3})),
    ));
    assert_eq!(status, 400);

    // 200 words: well over 64 tokens, well under 4096 bytes
    let long = "word ".repeat(200);
    let (status, body) = error_of(post(
        &server,
        "/v1/chat/completions",
        &chat_body(&long, json!({})),
    ));
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tokens, over the limit of 64"),
        "{body}"
    );
    let (status, _) = error_of(post(
        &server,
        "/v1/completions",
        &json!({"model": "tiny-llama", "prompt": long}),
    ));
    assert_eq!(status, 400);

    let huge = "x".repeat(5000);
    let (status, body) = error_of(post(
        &server,
        "/v1/chat/completions",
        &chat_body(&huge, json!({})),
    ));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("request_too_large"))
    );

    let (status, _) = error_of(post(
        &server,
        "/v1/embeddings",
        &json!({"model": "tiny-llama", "input": "hi"}),
    ));
    assert_eq!(status, 404, "no embedding model is loaded");
    let (status, _) = error_of(post(&server, "/v1/search", &json!({"query": "hi"})));
    assert_eq!(status, 404, "no index is loaded");
    let (status, _) = error_of(post(&server, "/v1/summarize", &json!({"text": ""})));
    assert_eq!(status, 400);
    let (status, _) = error_of(post(
        &server,
        "/v1/completions",
        &json!({"model": "tiny-llama", "prompt": ["a", "b"]}),
    ));
    assert_eq!(status, 400);

    // the server still answers after all that
    assert_eq!(
        post(&server, "/v1/chat/completions", &chat_body("hi", json!({}))).status(),
        200
    );
}

#[test]
fn chat_and_completions_answer_in_openai_shape_whole_and_streamed() {
    let Some(server) = llama_server(
        "chat_and_completions_answer_in_openai_shape_whole_and_streamed",
        ServerConfig::default(),
    ) else {
        return;
    };
    let whole: Value = post(
        &server,
        "/v1/chat/completions",
        &chat_body("Hello there", json!({})),
    )
    .json()
    .unwrap();
    assert_eq!(whole["object"], "chat.completion");
    assert_eq!(whole["model"], "tiny-llama");
    assert!(whole["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(whole["choices"][0]["message"]["role"], "assistant");
    let text = whole["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    let usage = &whole["usage"];
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 3);
    assert!(usage["completion_tokens"].as_u64().unwrap() <= 12);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
        )
    );

    // the same greedy request streamed: the deltas add up to the same text
    let chunks = read_stream(post(
        &server,
        "/v1/chat/completions",
        &chat_body("Hello there", json!({"stream": true})),
    ));
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"])
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(streamed, text);
    let last = chunks.last().unwrap();
    assert_eq!(
        last["choices"][0]["finish_reason"],
        whole["choices"][0]["finish_reason"]
    );
    assert_eq!(last["usage"], whole["usage"]);

    let completion: Value = post(
        &server,
        "/v1/completions",
        &json!({"model": "tiny-llama", "prompt": "Once upon", "max_tokens": 8, "temperature": 0}),
    )
    .json()
    .unwrap();
    assert_eq!(completion["object"], "text_completion");
    let text = completion["choices"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    let chunks = read_stream(post(
        &server,
        "/v1/completions",
        &json!({"model": "tiny-llama", "prompt": "Once upon", "max_tokens": 8, "temperature": 0, "stream": true}),
    ));
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(streamed, text);

    let models: Value = client()
        .get(server.url("/v1/models"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(models["data"][0]["id"], "tiny-llama");
    assert_eq!(models["object"], "list");
}

#[test]
fn embeddings_are_the_encoders_vectors() {
    let Some(dir) = common::minilm_dir("embeddings_are_the_encoders_vectors") else {
        return;
    };
    let provider = Arc::new(LocalProvider::encoder_only(&dir).unwrap());
    let expected = provider.embed(&["a red bicycle", "返回政策"]).unwrap();
    let server = TestServer::start(
        Server::new(ServerConfig::default()).with_embedder("all-MiniLM-L6-v2", provider),
    );
    let body: Value = post(
        &server,
        "/v1/embeddings",
        &json!({"model": "all-MiniLM-L6-v2", "input": ["a red bicycle", "返回政策"]}),
    )
    .json()
    .unwrap();
    assert_eq!(body["object"], "list");
    for (i, want) in expected.iter().enumerate() {
        let got: Vec<f32> = serde_json::from_value(body["data"][i]["embedding"].clone()).unwrap();
        assert_eq!(got.len(), 384);
        assert_eq!(body["data"][i]["index"], i);
        assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6));
    }
    let one: Value = post(
        &server,
        "/v1/embeddings",
        &json!({"model": "all-MiniLM-L6-v2", "input": "a red bicycle"}),
    )
    .json()
    .unwrap();
    assert_eq!(one["data"].as_array().unwrap().len(), 1);
    let packed: Value = post(
        &server,
        "/v1/embeddings",
        &json!({"model": "all-MiniLM-L6-v2", "input": ["a red bicycle", "返回政策"], "encoding_format": "base64"}),
    )
    .json()
    .unwrap();
    for (i, want) in expected.iter().enumerate() {
        let bytes = STANDARD.decode(packed["data"][i]["embedding"].as_str().unwrap()).unwrap();
        let got: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        assert_eq!(got.len(), 384);
        assert!(got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "base64 row {i}");
    }
    let (status, _) = error_of(post(
        &server,
        "/v1/embeddings",
        &json!({"model": "all-MiniLM-L6-v2", "input": "x", "encoding_format": "int8"}),
    ));
    assert_eq!(status, 400);
    let (status, _) = error_of(post(
        &server,
        "/v1/embeddings",
        &json!({"model": "all-MiniLM-L6-v2", "input": [""]}),
    ));
    assert_eq!(status, 400);
    let (status, _) = error_of(post(
        &server,
        "/v1/embeddings",
        &json!({"model": "all-MiniLM-L6-v2", "input": [1, 2, 3]}),
    ));
    assert_eq!(status, 400);
}

#[test]
fn api_keys_and_rate_limits() {
    let config = ServerConfig {
        api_keys: vec!["key-alpha".into(), "key-beta".into()],
        rate_limit: Some(RateLimit {
            per_second: 0.5,
            burst: 2.0,
        }),
        ..ServerConfig::default()
    };
    let server = TestServer::start(Server::new(config));
    let c = client();
    let models = server.url("/v1/models");
    let (status, _) = error_of(c.get(&models).send().unwrap());
    assert_eq!(status, 401);
    let (status, _) = error_of(c.get(&models).bearer_auth("key-alph").send().unwrap());
    assert_eq!(status, 401);
    let (status, _) = error_of(
        c.get(&models)
            .header("Authorization", "Basic a2V5LWFscGhh")
            .send()
            .unwrap(),
    );
    assert_eq!(status, 401);
    assert_eq!(
        c.get(&models)
            .bearer_auth("key-alpha")
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        c.get(&models)
            .bearer_auth("key-alpha")
            .send()
            .unwrap()
            .status(),
        200
    );
    let limited = c.get(&models).bearer_auth("key-alpha").send().unwrap();
    let retry: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    let (status, body) = error_of(limited);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limit_exceeded"))
    );
    // another key has its own bucket; liveness needs no key
    assert_eq!(
        c.get(&models)
            .bearer_auth("key-beta")
            .send()
            .unwrap()
            .status(),
        200
    );
    assert_eq!(c.get(server.url("/health")).send().unwrap().status(), 200);
    let metrics = c
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("loam_requests_total{route=\"/v1/models\",status=\"401\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("loam_requests_total{route=\"/v1/models\",status=\"429\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("loam_rate_limited_total 1"), "{metrics}");
}

/// A server whose one worker and empty queue the throttled tiny Llama keeps busy.
fn one_busy_worker(
    test: &str,
    delay: Duration,
) -> Option<(TestServer, Arc<std::sync::Mutex<Vec<FinishReason>>>)> {
    let dir = common::fixture("tiny-llama", test)?;
    let throttled = Throttled::new(tiny_llama(&dir).provider.clone(), delay);
    let endings = Arc::clone(&throttled.endings);
    let model = tiny_llama(&dir).map_provider(|_| Arc::new(throttled));
    let config = ServerConfig {
        workers: 1,
        queue: 0,
        ..ServerConfig::default()
    };
    Some((
        TestServer::start(Server::new(config).with_model(model).unwrap()),
        endings,
    ))
}

/// A streamed generation of up to `max_tokens` sampled tokens (sampling keeps the tiny model
/// from ending early), with its first chunk read.
fn start_long_stream(server: &TestServer, max_tokens: usize) -> BufReader<Response> {
    let body = json!({"model": "tiny-llama", "prompt": "a", "max_tokens": max_tokens, "temperature": 1.0, "seed": 7, "stream": true});
    let response = post(server, "/v1/completions", &body);
    assert_eq!(response.status(), 200);
    let mut reader = BufReader::new(response);
    let mut first = [0u8; 16];
    reader.read_exact(&mut first).unwrap();
    assert_eq!(&first[..6], b"data: ");
    reader
}

fn busy_workers(server: &TestServer) -> u64 {
    let text = client()
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("loam_workers_busy "))
        .unwrap();
    line["loam_workers_busy ".len()..].parse().unwrap()
}

#[test]
fn a_full_queue_answers_503_with_retry_after() {
    let Some((server, _)) = one_busy_worker(
        "a_full_queue_answers_503_with_retry_after",
        Duration::from_millis(20),
    ) else {
        return;
    };
    let stream = start_long_stream(&server, 200);
    assert_eq!(busy_workers(&server), 1);
    let refused = post(&server, "/v1/chat/completions", &chat_body("hi", json!({})));
    assert!(refused.headers().contains_key("retry-after"));
    let (status, body) = error_of(refused);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("server_overloaded"))
    );
    drop(stream);
}

#[test]
fn a_client_that_goes_away_frees_its_worker() {
    let delay = Duration::from_millis(20);
    let Some((server, endings)) =
        one_busy_worker("a_client_that_goes_away_frees_its_worker", delay)
    else {
        return;
    };
    // 200 tokens take ≥ 4 s; the worker must be free long before
    let stream = start_long_stream(&server, 200);
    let gone = Instant::now();
    drop(stream);
    while busy_workers(&server) > 0 {
        assert!(
            gone.elapsed() < Duration::from_secs(2),
            "the worker is still generating for a client that left"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        endings.lock().unwrap().as_slice(),
        [FinishReason::Cancelled]
    );
    assert_eq!(
        post(&server, "/v1/chat/completions", &chat_body("hi", json!({}))).status(),
        200
    );
}

#[test]
fn a_graceful_shutdown_finishes_requests_in_flight() {
    let Some((mut server, _)) = one_busy_worker(
        "a_graceful_shutdown_finishes_requests_in_flight",
        Duration::from_millis(10),
    ) else {
        return;
    };
    let url = server.url("/v1/completions");
    let body = json!({"model": "tiny-llama", "prompt": "a", "max_tokens": 60, "temperature": 1.0, "seed": 7});
    let in_flight = std::thread::spawn(move || {
        let r = client().post(url).json(&body).send().unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    });
    while busy_workers(&server) == 0 && !in_flight.is_finished() {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.begin_shutdown();
    let (status, body) = in_flight.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    let addr = server.addr;
    server.shutdown().unwrap();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the listener is closed after shutdown"
    );
}

#[test]
fn health_ready_summarize_and_metrics() {
    let Some(server) = llama_server(
        "health_ready_summarize_and_metrics",
        ServerConfig::default(),
    ) else {
        return;
    };
    let c = client();
    assert_eq!(
        c.get(server.url("/health"))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()["status"],
        "ok"
    );
    let ready: Value = c.get(server.url("/ready")).send().unwrap().json().unwrap();
    assert_eq!(ready["status"], "ready");
    let text = "The shop opens at nine. Orders ship within two days. Returns are free for thirty days. \
                The shop closes at six. Gift cards never expire.";
    let summary: Value = post(
        &server,
        "/v1/summarize",
        &json!({"text": text, "sentences": 2}),
    )
    .json()
    .unwrap();
    assert_eq!(summary["sentences"].as_array().unwrap().len(), 2);
    assert_eq!(summary["total_sentences"], 5);
    let abstractive: Value = post(
        &server,
        "/v1/summarize",
        &json!({"text": text, "model": "tiny-llama", "max_tokens": 8}),
    )
    .json()
    .unwrap();
    assert_eq!(abstractive["method"], "abstractive");
    post(&server, "/v1/chat/completions", &chat_body("hi", json!({})));
    let metrics = c
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("loam_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("loam_request_duration_seconds_count{route=\"/v1/summarize\"} 2"),
        "{metrics}"
    );
    let tokens: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("loam_tokens_generated_total "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(tokens > 0);
}

#[test]
fn an_encoder_decoder_serves_completions_chats_and_summaries() {
    let test = "an_encoder_decoder_serves_completions_chats_and_summaries";
    let Some(dir) = common::fixture("tiny-bart", test) else { return };
    let auto = loam_lm::AutoModel::from_dir(&dir).unwrap();
    let model = loam_apps::server::ServedModel::from_auto("tiny-bart", auto).unwrap();
    let server = TestServer::start(Server::new(ServerConfig::default()).with_model(model).unwrap());
    let local = LocalProvider::from_dir(&dir).unwrap();
    let params = loam_apps::provider::GenParams { max_tokens: 10, temperature: 0.0, ..Default::default() };
    let source = "The new store on Elm Street sells tents and stoves.";
    let completion: Value = post(
        &server,
        "/v1/completions",
        &json!({"model": "tiny-bart", "prompt": source, "max_tokens": 10, "temperature": 0}),
    )
    .json()
    .unwrap();
    assert_eq!(completion["choices"][0]["text"], local.complete(source, &params).unwrap().text);
    let chat: Value = post(
        &server,
        "/v1/chat/completions",
        &json!({
            "model": "tiny-bart", "messages": [{"role": "user", "content": source}], "max_tokens": 10, "temperature": 0
        }),
    )
    .json()
    .unwrap();
    assert_eq!(chat["choices"][0]["message"]["content"], local.complete(source, &params).unwrap().text);
    let summary: Value = post(
        &server,
        "/v1/summarize",
        &json!({"text": source, "model": "tiny-bart", "max_tokens": 10}),
    )
    .json()
    .unwrap();
    assert_eq!(summary["method"], "abstractive");
    let want = loam_apps::summarize::abstractive(&local, source, 60, &params).unwrap();
    assert_eq!(summary["summary"], want.text);
    // a source beyond the encoder's 128 positions is the client's error
    let long = "The store on Elm Street sells tents. ".repeat(40);
    let (status, error) = error_of(post(
        &server,
        "/v1/completions",
        &json!({"model": "tiny-bart", "prompt": long, "max_tokens": 4}),
    ));
    assert_eq!(status, 400, "{error}");
    // a chat is counted as its source, and refused before a worker runs it
    let (status, error) = error_of(post(
        &server,
        "/v1/chat/completions",
        &json!({"model": "tiny-bart", "messages": [{"role": "user", "content": long}], "max_tokens": 4}),
    ));
    assert_eq!((status, error["error"]["param"].as_str()), (400, Some("messages")), "{error}");
}
