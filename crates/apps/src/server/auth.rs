//! API keys (`Authorization: Bearer KEY`, compared in constant time) and per-client rate
//! limits (a token bucket per key, or per client address when the server has no keys).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::state::AppState;

/// The API keys a server accepts; none means every request is let in.
#[derive(Default)]
pub struct ApiKeys {
    keys: Vec<Vec<u8>>,
}

impl ApiKeys {
    /// The keys, empty ones left out.
    pub fn new(keys: impl IntoIterator<Item = String>) -> Self {
        ApiKeys {
            keys: keys
                .into_iter()
                .map(|k| k.trim().as_bytes().to_vec())
                .filter(|k| !k.is_empty())
                .collect(),
        }
    }

    /// Whether the server asks for a key.
    pub fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The index of the key that equals `given`. Every key is compared, each in time that does
    /// not depend on where the bytes differ, so the answer's timing does not tell which
    /// prefix was right.
    pub fn find(&self, given: &str) -> Option<usize> {
        let given = given.as_bytes();
        let mut found = None;
        for (i, key) in self.keys.iter().enumerate() {
            if bool::from(key.as_slice().ct_eq(given)) {
                found = Some(i);
            }
        }
        found
    }
}

/// Requests per second and burst of each client's token bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: f64,
    /// The bucket's size: requests allowed at once after a quiet spell.
    pub burst: f64,
}

/// One client's bucket.
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets by client.
pub struct RateLimiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Buckets that refill at `limit.per_second` up to `limit.burst`.
    pub fn new(limit: RateLimit) -> Self {
        RateLimiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token from `client`'s bucket, or says how long until one is there.
    pub fn take(&self, client: &str, now: Instant) -> Result<(), Duration> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let burst = self.limit.burst.max(1.0);
        let bucket = buckets.entry(client.to_string()).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.limit.per_second).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - bucket.tokens;
            Err(Duration::from_secs_f64(
                missing / self.limit.per_second.max(1e-9),
            ))
        }
    }
}

/// The middleware in front of `/v1`: checks the API key when keys are set, then the client's
/// rate limit.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let client = match client_of(&state, &request) {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    if let Some(limiter) = &state.rate_limiter
        && let Err(wait) = limiter.take(&client, Instant::now())
    {
        state.metrics.rate_limited();
        return ApiError::rate_limited(wait).into_response();
    }
    next.run(request).await
}

/// Who is asking: `key:N` for the N-th API key, else the client's IP address.
fn client_of(state: &AppState, request: &Request) -> Result<String, ApiError> {
    if state.api_keys.required() {
        let header = request
            .headers()
            .get(header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "an API key is required: send the header `Authorization: Bearer KEY`",
                )
            })?;
        let given = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer KEY`")
            })?;
        let index = state
            .api_keys
            .find(given.trim())
            .ok_or_else(|| ApiError::unauthorized("the API key is not valid"))?;
        return Ok(format!("key:{index}"));
    }
    Ok(request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "anonymous".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_match_only_in_full() {
        let keys = ApiKeys::new([
            "secret-one".to_string(),
            "secret-two".to_string(),
            " ".to_string(),
        ]);
        assert!(keys.required());
        assert_eq!(keys.find("secret-two"), Some(1));
        assert_eq!(keys.find("secret-tw"), None);
        assert_eq!(keys.find("secret-two2"), None);
        assert_eq!(keys.find(""), None);
        assert!(!ApiKeys::new([]).required());
    }

    #[test]
    fn bucket_refills_at_its_rate() {
        let limiter = RateLimiter::new(RateLimit {
            per_second: 2.0,
            burst: 3.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.take("a", t0).is_ok());
        }
        let wait = limiter.take("a", t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert!(limiter.take("b", t0).is_ok(), "buckets are per client");
        assert!(limiter.take("a", t0 + Duration::from_millis(500)).is_ok());
        assert!(limiter.take("a", t0 + Duration::from_millis(500)).is_err());
    }
}
