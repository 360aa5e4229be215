//! The OpenAI-compatible provider against a stub server on loopback: each endpoint, streaming,
//! error statuses, a timeout, and malformed answers — a clear error each time.
//!
//! The stub serves `/{scenario}/v1/{endpoint}`: the provider's base URL picks the scenario.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use loam_apps::provider::{ChatMessage, FinishReason, GenParams, OpenAiConfig, OpenAiProvider, Provider, ProviderError, Role, Usage};
use serde_json::{Value, json};

/// The key the stub expects; the provider reads it from `CARGO_PKG_NAME`, which cargo sets
/// for tests (`loam-apps`), so the test exercises a configurable variable name without setting one.
const KEY_ENV: &str = "CARGO_PKG_NAME";

fn sse(events: &[Value], done: bool) -> Response {
    let mut body: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    if done {
        body.push_str("data: [DONE]\n\n");
    }
    ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
}

fn chunk(field: &str, piece: &str, finish: Option<&str>) -> Value {
    if field == "delta" {
        json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": finish}]})
    } else {
        json!({"object": "text_completion", "choices": [{"index": 0, "text": piece, "finish_reason": finish}]})
    }
}

fn openai_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"message": message, "type": "invalid_request_error", "code": null}}))).into_response()
}

/// What the stub answered for a request: the request's settings echoed back.
fn echo(req: &Value, input: &str) -> String {
    format!("model={} max_tokens={} seed={} stop={} top_p={} input={input}", req["model"], req["max_tokens"], req["seed"], req["stop"], req["top_p"])
}

async fn handle(uri: Uri, headers: HeaderMap, body: String) -> Response {
    let path = uri.path().trim_start_matches('/');
    let (scenario, endpoint) = path.split_once('/').unwrap_or((path, ""));
    let req: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let stream = req["stream"] == json!(true);
    let authorized = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some("Bearer loam-apps");
    match scenario {
        "ok" if !authorized => openai_error(StatusCode::UNAUTHORIZED, "missing key"),
        "ok" => match endpoint {
            "v1/chat/completions" if stream => sse(&[chunk("delta", "Hel", None), chunk("delta", "lo", None), chunk("delta", " world", Some("length"))], true),
            "v1/completions" if stream => sse(&[chunk("text", "once ", None), chunk("text", "upon", Some("stop"))], true),
            "v1/chat/completions" => {
                let last = req["messages"].as_array().and_then(|m| m.last()).map(|m| m["content"].as_str().unwrap_or("").to_string()).unwrap_or_default();
                axum::Json(json!({
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": echo(&req, &last)}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
                }))
                .into_response()
            }
            "v1/completions" => axum::Json(json!({
                "object": "text_completion",
                "choices": [{"index": 0, "text": echo(&req, req["prompt"].as_str().unwrap_or("")), "finish_reason": "length"}],
                "usage": {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6},
            }))
            .into_response(),
            "v1/embeddings" => {
                let inputs = req["input"].as_array().cloned().unwrap_or_default();
                // out of order, as the API allows: the provider must sort by index
                let data: Vec<Value> = inputs
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": [t.as_str().unwrap_or("").len() as f32, i as f32, 0.5]}))
                    .collect();
                axum::Json(json!({"object": "list", "data": data, "model": req["model"]})).into_response()
            }
            _ => (StatusCode::NOT_FOUND, "no such endpoint").into_response(),
        },
        "e401" => openai_error(StatusCode::UNAUTHORIZED, "Incorrect API key provided: sk-xxx."),
        "e429" => openai_error(StatusCode::TOO_MANY_REQUESTS, "Rate limit reached for requests"),
        "e500" => openai_error(StatusCode::INTERNAL_SERVER_ERROR, "The server had an error while processing your request."),
        "e502" => (StatusCode::BAD_GATEWAY, "<html><body>Bad Gateway</body></html>").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            axum::Json(json!({"choices": []})).into_response()
        }
        "garbage" => (StatusCode::OK, "<html>not json</html>").into_response(),
        "noshape" => axum::Json(json!({"id": "cmpl-1", "object": "chat.completion"})).into_response(),
        "nochoices" => axum::Json(json!({"choices": [], "data": []})).into_response(),
        "cut" => sse(&[chunk("delta", "Hel", None)], false),
        "badchunk" => ([(header::CONTENT_TYPE, "text/event-stream")], "data: {\"choices\": [\n\n").into_response(),
        "streamerr" => sse(&[chunk("delta", "Hel", None), json!({"error": {"message": "model overloaded"}})], true),
        _ => (StatusCode::NOT_FOUND, "no such scenario").into_response(),
    }
}

/// The stub's address, started once for all tests on its own thread and runtime.
fn stub() -> &'static str {
    static BASE: OnceLock<String> = OnceLock::new();
    BASE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
                tx.send(listener.local_addr().expect("address")).expect("send address");
                axum::serve(listener, Router::new().fallback(handle)).await.expect("serve");
            });
        });
        format!("http://{}", rx.recv().expect("stub address"))
    })
}

fn provider(scenario: &str) -> OpenAiProvider {
    let mut config = OpenAiConfig::new(format!("{}/{scenario}/v1", stub()), "stub-model");
    config.api_key_env = KEY_ENV.into();
    config.embedding_model = Some("stub-embed".into());
    config.timeout = Duration::from_millis(500);
    OpenAiProvider::new(config).expect("provider")
}

fn params() -> GenParams {
    GenParams { max_tokens: 12, temperature: 0.0, top_p: Some(0.9), stop: vec!["\n\n".into()], seed: Some(42) }
}

fn chat() -> Vec<ChatMessage> {
    vec![ChatMessage::new(Role::System, "Be brief."), ChatMessage::new(Role::User, "Say hi")]
}

#[test]
fn chat_completion_sends_the_settings_and_reads_text_reason_and_usage() {
    let out = provider("ok").chat(&chat(), &params()).unwrap();
    assert_eq!(out.text, r#"model="stub-model" max_tokens=12 seed=42 stop=["\n\n"] top_p=0.8999999761581421 input=Say hi"#);
    assert_eq!(out.finish_reason, FinishReason::Stop);
    assert_eq!(out.usage, Some(Usage { prompt_tokens: 7, completion_tokens: 3 }));
}

#[test]
fn completion_reads_text_reason_and_usage() {
    let out = provider("ok").complete("Once", &GenParams { seed: None, ..params() }).unwrap();
    assert!(out.text.ends_with("seed=null stop=[\"\\n\\n\"] top_p=0.8999999761581421 input=Once"), "{}", out.text);
    assert_eq!(out.finish_reason, FinishReason::Length);
    assert_eq!(out.usage, Some(Usage { prompt_tokens: 2, completion_tokens: 4 }));
}

#[test]
fn streamed_chat_pieces_arrive_in_order_and_make_the_text() {
    let mut pieces = Vec::new();
    let out = provider("ok").chat_stream(&chat(), &params(), &mut |p| {
        pieces.push(p.to_string());
        true
    });
    let out = out.unwrap();
    assert_eq!(pieces, ["Hel", "lo", " world"]);
    assert_eq!(out.text, "Hello world");
    assert_eq!(out.finish_reason, FinishReason::Length);
}

#[test]
fn streamed_completion_reads_text_chunks() {
    let out = provider("ok").complete_stream("Once", &params(), &mut |_| true).unwrap();
    assert_eq!(out.text, "once upon");
    assert_eq!(out.finish_reason, FinishReason::Stop);
}

#[test]
fn a_stream_is_cancelled_when_the_callback_says_so() {
    let out = provider("ok").chat_stream(&chat(), &params(), &mut |_| false).unwrap();
    assert_eq!(out.text, "Hel");
    assert_eq!(out.finish_reason, FinishReason::Cancelled);
}

#[test]
fn embeddings_come_back_in_input_order_with_their_width_and_model() {
    let p = provider("ok");
    let v = p.embed(&["a", "bbb", "cc"]).unwrap();
    assert_eq!(v, vec![vec![1.0, 0.0, 0.5], vec![3.0, 1.0, 0.5], vec![2.0, 2.0, 0.5]]);
    assert_eq!(p.embedding_dim().unwrap(), 3);
    assert_eq!(p.embedding_model_id().unwrap(), format!("openai:{}/ok#stub-embed", stub()));
    assert_eq!(p.model_id(), format!("openai:{}/ok#stub-model", stub()));
    assert!(p.embed(&[]).unwrap().is_empty());
}

fn http_error(scenario: &str) -> (u16, String) {
    match provider(scenario).chat(&chat(), &params()) {
        Err(ProviderError::Http { status, message, url }) => {
            assert_eq!(url, format!("{}/{scenario}/v1/chat/completions", stub()));
            (status, message)
        }
        other => panic!("{scenario}: expected an HTTP error, got {other:?}"),
    }
}

#[test]
fn error_statuses_carry_openai_s_error_message() {
    assert_eq!(http_error("e401"), (401, "Incorrect API key provided: sk-xxx.".to_string()));
    assert_eq!(http_error("e429"), (429, "Rate limit reached for requests".to_string()));
    assert_eq!(http_error("e500"), (500, "The server had an error while processing your request.".to_string()));
    assert_eq!(http_error("e502"), (502, "<html><body>Bad Gateway</body></html>".to_string()));
}

#[test]
fn a_missing_key_is_named_in_the_401_error() {
    let mut config = OpenAiConfig::new(format!("{}/ok", stub()), "stub-model");
    config.api_key_env = "LOAM_TEST_KEY_THAT_IS_NOT_SET".into();
    let err = OpenAiProvider::new(config).unwrap().chat(&chat(), &params()).unwrap_err();
    assert!(err.to_string().contains("HTTP 401: missing key (no API key was sent: $LOAM_TEST_KEY_THAT_IS_NOT_SET is not set)"), "{err}");
}

#[test]
fn a_slow_server_is_a_timeout_error() {
    let start = Instant::now();
    let err = provider("slow").chat(&chat(), &params()).unwrap_err();
    assert!(matches!(err, ProviderError::Timeout { after, .. } if after == Duration::from_millis(500)), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(2), "gave up after {:?}", start.elapsed());
    assert!(err.to_string().ends_with("/slow/v1/chat/completions: no complete answer within 0.5s"), "{err}");
}

fn malformed(result: loam_apps::provider::Result<impl std::fmt::Debug>) -> (String, String) {
    match result {
        Err(ProviderError::Malformed { message, excerpt, .. }) => (message, excerpt),
        other => panic!("expected a malformed-answer error, got {other:?}"),
    }
}

#[test]
fn malformed_answers_are_clear_errors() {
    let (message, excerpt) = malformed(provider("garbage").chat(&chat(), &params()));
    assert!(message.starts_with("expected value"), "{message}");
    assert_eq!(excerpt, "<html>not json</html>");
    let (message, _) = malformed(provider("noshape").complete("x", &params()));
    assert!(message.starts_with("missing field `choices`"), "{message}");
    let (message, _) = malformed(provider("nochoices").chat(&chat(), &params()));
    assert_eq!(message, "`choices` is empty");
    let (message, _) = malformed(provider("garbage").embed(&["x"]));
    assert!(message.starts_with("expected value"), "{message}");
    let (message, _) = malformed(provider("nochoices").embed(&["x"]));
    assert!(message.starts_with("1 texts were sent"), "{message}");
}

#[test]
fn malformed_streams_are_clear_errors() {
    let (message, excerpt) = malformed(provider("cut").chat_stream(&chat(), &params(), &mut |_| true));
    assert_eq!((message.as_str(), excerpt.as_str()), ("the stream ended before `data: [DONE]`", "Hel"));
    let (message, _) = malformed(provider("badchunk").chat_stream(&chat(), &params(), &mut |_| true));
    assert!(message.contains("EOF while parsing"), "{message}");
    let err = provider("streamerr").chat_stream(&chat(), &params(), &mut |_| true).unwrap_err();
    assert!(matches!(&err, ProviderError::Stream { message, .. } if message == "model overloaded"), "{err:?}");
}

#[test]
fn a_refused_connection_and_bad_settings_are_clear_errors() {
    let mut config = OpenAiConfig::new("http://127.0.0.1:9", "m");
    config.timeout = Duration::from_secs(2);
    let err = OpenAiProvider::new(config).unwrap().chat(&chat(), &params()).unwrap_err();
    assert!(matches!(err, ProviderError::Transport { .. }), "{err:?}");
    assert!(OpenAiProvider::new(OpenAiConfig::new("localhost:8000", "m")).is_err());
    assert!(OpenAiProvider::new(OpenAiConfig::new("http://localhost:8000", " ")).is_err());
    let err = provider("ok").chat(&chat(), &GenParams { temperature: -1.0, ..params() }).unwrap_err();
    assert_eq!(err.to_string(), "provider configuration: temperature must be a finite number ≥ 0, got -1");
}
