//! Forged request bodies never panic the server or get a 5xx: random bytes, random JSON, and
//! well-formed requests with fields of the wrong type or out of range, sent to every POST
//! route, each answered with a 4xx in OpenAI's error shape (or a 200 when the forgery happens
//! to be a valid request); the server answers a normal request afterwards.

mod common;
mod server_common;

use std::time::Duration;

use loam_apps::server::{Limits, Server, ServerConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::blocking::Client;
use serde_json::{Value, json};
use server_common::{TestServer, tiny_llama};

const ROUTES: [&str; 5] = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/search",
    "/v1/summarize",
];

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A chat, completion or embeddings request with one field replaced by any JSON value.
fn forged_request() -> impl Strategy<Value = Value> {
    let fields = prop::sample::select(vec![
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "seed",
        "n",
        "prompt",
        "input",
        "encoding_format",
        "conversation_id",
        "query",
        "k",
        "mode",
        "text",
        "sentences",
        "ratio",
    ]);
    (fields, any_json(), 0usize..3).prop_map(|(field, value, base)| {
        let mut body = match base {
            0 => json!({"model": "tiny-llama", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}),
            1 => json!({"model": "tiny-llama", "prompt": "hi", "max_tokens": 2}),
            _ => json!({"model": "tiny-llama", "input": "hi", "text": "One. Two.", "query": "q"}),
        };
        body[field] = value;
        body
    })
}

/// A body: raw bytes, any JSON, or a forged request.
fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        any_json().prop_map(|v| v.to_string().into_bytes()),
        forged_request().prop_map(|v| v.to_string().into_bytes()),
        forged_request()
            .prop_map(|v| v.to_string().into_bytes())
            .prop_map(|mut b| {
                b.truncate(b.len() / 2);
                b
            }),
    ]
}

#[test]
fn forged_bodies_get_4xx_and_never_a_panic() {
    let Some(dir) = common::fixture("tiny-llama", "forged_bodies_get_4xx_and_never_a_panic") else {
        return;
    };
    let config = ServerConfig {
        limits: Limits {
            max_tokens: 4,
            max_prompt_tokens: 64,
            ..Limits::default()
        },
        ..ServerConfig::default()
    };
    let server = TestServer::start(Server::new(config).with_model(tiny_llama(&dir)).unwrap());
    let client = Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (prop::sample::select(ROUTES.to_vec()), any_body());
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::new());
    runner
        .run(&strategy, |(route, body)| {
            let response = client
                .post(server.url(route))
                .body(body.clone())
                .send()
                .map_err(|e| TestCaseError::fail(format!("{route}: no answer: {e}")))?;
            let status = response.status().as_u16();
            *statuses.lock().unwrap().entry(status).or_insert(0usize) += 1;
            let is_stream = response
                .headers()
                .get("content-type")
                .is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream"));
            let text = response.text().unwrap_or_default();
            prop_assert!(
                status < 500,
                "{route} {} → {status}: {text}",
                String::from_utf8_lossy(&body)
            );
            if status >= 400 {
                let v: Value = serde_json::from_str(&text)
                    .map_err(|e| TestCaseError::fail(format!("not JSON: {e}: {text}")))?;
                prop_assert!(
                    v["error"]["message"].is_string() && v["error"]["type"].is_string(),
                    "{text}"
                );
            } else {
                prop_assert!(status == 200, "{status}");
                if is_stream {
                    prop_assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
                }
            }
            Ok(())
        })
        .unwrap();
    let statuses = statuses.into_inner().unwrap();
    eprintln!("statuses over 400 forged bodies: {statuses:?}");
    assert!(
        statuses.contains_key(&400),
        "the forgeries reached the field checks"
    );
    let ok = client
        .post(server.url("/v1/completions"))
        .json(&json!({"model": "tiny-llama", "prompt": "hi", "max_tokens": 2}))
        .send()
        .unwrap();
    assert_eq!(ok.status(), 200);
}
