//! Streamed answers: a worker sends each event's data into a bounded channel, the client
//! reads them as server-sent events (`data: …`, ending `data: [DONE]`). When the client goes
//! away the channel closes, the worker's next send fails and generation stops.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use crate::provider::FinishReason;

/// Events a worker may run ahead of a slow client.
pub const STREAM_BUFFER: usize = 32;

/// The sending side of a stream, held by a worker.
pub struct StreamSender {
    tx: mpsc::Sender<String>,
}

impl StreamSender {
    /// Sends one event's data, waiting while the buffer is full; false when the client is gone.
    pub fn send(&self, data: String) -> bool {
        self.tx.blocking_send(data).is_ok()
    }

    /// Sends one JSON event; false when the client is gone.
    pub fn send_json(&self, value: &serde_json::Value) -> bool {
        self.send(value.to_string())
    }

    /// Ends the stream with `[DONE]`.
    pub fn done(&self) {
        self.send("[DONE]".into());
    }
}

/// A channel whose receiving side is the SSE response.
pub fn channel() -> (StreamSender, Response) {
    let (tx, rx) = mpsc::channel::<String>(STREAM_BUFFER);
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        let data = rx.recv().await?;
        Some((Ok::<Event, Infallible>(Event::default().data(data)), rx))
    });
    (
        StreamSender { tx },
        Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response(),
    )
}

/// OpenAI's `finish_reason` for a [`FinishReason`] (a cancelled generation reads as `stop`).
pub fn finish_reason(reason: &FinishReason) -> String {
    match reason {
        FinishReason::Stop | FinishReason::Cancelled => "stop".into(),
        FinishReason::Length => "length".into(),
        FinishReason::Other(other) => other.clone(),
    }
}

/// Seconds since the Unix epoch (`created`).
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A fresh id with `prefix` (`chatcmpl-…`, `cmpl-…`): the time in nanoseconds and a counter,
/// unique within this process and practically across processes.
pub fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{nanos:x}{:04x}",
        COUNTER.fetch_add(1, Ordering::Relaxed) & 0xffff
    )
}
