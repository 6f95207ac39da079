//! `opc-retry-token`: the first successful answer to a token is remembered (for
//! `retryTokenRetentionSeconds` of the simulated clock, 24 h by default). The same token with
//! the same request (method, path, query and body) gets that ORIGINAL answer again without the
//! work being done twice, also when the first answer never reached the client. The same token
//! with a different request is refused with 409 `InvalidatedRetryToken`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use serde_json::Value;

use crate::crypto::sha256_b64;
use crate::http::{ApiError, SimRequest, SimResponse};
use crate::state::World;

/// OCI's limit on the token's length.
pub const MAX_TOKEN_LEN: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum BodyPrint {
    /// JSON bodies compare by value, so key order and spacing do not matter.
    Json(Value),
    Raw(String),
}

/// What makes two requests "the same request".
#[derive(Debug, Clone, PartialEq)]
struct Fingerprint {
    method: String,
    path: String,
    query: Option<String>,
    body: BodyPrint,
}

impl Fingerprint {
    fn of(req: &SimRequest) -> Self {
        let body = if req.body.is_empty() {
            BodyPrint::Raw(String::new())
        } else {
            match serde_json::from_slice::<Value>(&req.body) {
                Ok(v) => BodyPrint::Json(v),
                Err(_) => BodyPrint::Raw(sha256_b64(&req.body)),
            }
        };
        Self {
            method: req.method.to_string(),
            path: req.path.clone(),
            query: req.query.clone(),
            body,
        }
    }
}

#[derive(Debug, Clone)]
struct Remembered {
    fingerprint: Fingerprint,
    response: SimResponse,
    expires: SystemTime,
}

/// The remembered answers, by token.
#[derive(Debug, Default)]
pub struct RetryTokens {
    entries: HashMap<String, Remembered>,
}

impl RetryTokens {
    fn purge(&mut self, now: SystemTime) {
        self.entries.retain(|_, r| r.expires > now);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The token of a request, checked (1..=64 characters).
pub fn token(req: &SimRequest) -> Result<Option<String>, ApiError> {
    match req.header("opc-retry-token") {
        None => Ok(None),
        Some(t) => {
            let t = t.trim();
            if t.is_empty() || t.chars().count() > MAX_TOKEN_LEN {
                Err(ApiError::invalid_parameter(format!(
                    "opc-retry-token must be 1 to {MAX_TOKEN_LEN} characters, got {}",
                    t.chars().count()
                )))
            } else {
                Ok(Some(t.to_string()))
            }
        }
    }
}

/// Runs `work` once per retry token: replays the remembered answer for a repeated request,
/// refuses a token reused for another request, remembers a successful (2xx) answer. Errors are
/// not remembered, so a retry after a failure (e.g. out of capacity) tries again.
pub fn idempotent(
    world: &mut World,
    req: &SimRequest,
    now: SystemTime,
    work: impl FnOnce(&mut World) -> Result<SimResponse, ApiError>,
) -> Result<SimResponse, ApiError> {
    let Some(token) = token(req)? else {
        return work(world);
    };
    let fingerprint = Fingerprint::of(req);
    world.retry_tokens.purge(now);
    if let Some(r) = world.retry_tokens.entries.get(&token) {
        if r.fingerprint == fingerprint {
            tracing::debug!(path = %req.path, "replaying the answer remembered for a retry token");
            return Ok(r.response.clone());
        }
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "InvalidatedRetryToken",
            format!(
                "The opc-retry-token was already used for a different request ({} {}); \
                 use a new token for a new request",
                r.fingerprint.method, r.fingerprint.path
            ),
        ));
    }
    let response = work(world)?;
    if response.status.is_success() {
        let retention = Duration::try_from_secs_f64(world.settings.retry_token_retention_seconds)
            .unwrap_or(Duration::from_secs(86_400));
        world.retry_tokens.entries.insert(
            token,
            Remembered {
                fingerprint,
                response: response.clone(),
                expires: now + retention,
            },
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(body: &str) -> SimRequest {
        SimRequest {
            method: http::Method::POST,
            target: "/x".into(),
            path: "/x".into(),
            query: None,
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::from(body.to_string()),
            request_id: "r".into(),
        }
    }

    #[test]
    fn json_bodies_match_regardless_of_key_order() {
        assert_eq!(
            Fingerprint::of(&req(r#"{"a":1,"b":2}"#)),
            Fingerprint::of(&req(r#"{ "b": 2, "a": 1 }"#))
        );
        assert_ne!(
            Fingerprint::of(&req(r#"{"a":1}"#)),
            Fingerprint::of(&req(r#"{"a":2}"#))
        );
    }

    #[test]
    fn overlong_tokens_are_refused() {
        let mut r = req("");
        r.headers
            .insert("opc-retry-token", "x".repeat(65).parse().unwrap());
        assert_eq!(token(&r).unwrap_err().code, "InvalidParameter");
        r.headers
            .insert("opc-retry-token", "x".repeat(64).parse().unwrap());
        assert_eq!(token(&r).unwrap().unwrap().len(), 64);
    }
}
