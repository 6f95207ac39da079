//! Fault injection: `POST /_sim/faults` registers a rule; each request to an OCI operation is
//! checked against the rules in the order they were added, and the first that matches (and wins
//! its probability roll) is applied and counted.

use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};

/// When a dropped connection is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DropWhen {
    /// Close the TCP connection without performing the operation or answering.
    Before,
    /// Perform the operation, then close the connection without answering.
    After,
    /// Perform the operation, send the status, the headers and the first half of the body,
    /// then close the connection: the client's read of the body fails.
    #[serde(rename = "midBody")]
    MidBody,
}

/// The largest `padBodyBytes` a rule may ask for (the padding is streamed, not held).
pub const MAX_PAD_BODY_BYTES: u64 = 1 << 30;

/// A fault rule as posted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop: Option<DropWhen>,
    /// Perform the operation, then answer its body followed by this many bytes of JSON
    /// whitespace: a valid answer that is simply large.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pad_body_bytes: Option<u64>,
    /// Perform the operation, then answer without `content-length` (chunked), so the client
    /// learns the size only while reading.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunked: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// A registered rule and how often it fired.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    pub id: String,
    #[serde(flatten)]
    pub spec: FaultSpec,
    pub hits: u64,
    /// `count - hits` when `count` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<u64>,
}

/// What the server must do for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultAction {
    pub fault_id: String,
    pub latency_ms: Option<u64>,
    pub drop: Option<DropWhen>,
    /// Status, OCI code and message to answer with instead of performing the operation.
    pub error: Option<(StatusCode, String, String)>,
    /// Bytes of whitespace after the body (`padBodyBytes`).
    pub pad_body_bytes: Option<u64>,
    /// Answer without `content-length`.
    pub chunked: bool,
}

/// The rules and the seeded RNG behind `probability`.
#[derive(Debug)]
pub struct Faults {
    rules: Vec<Fault>,
    rng: fastrand::Rng,
    next_id: u64,
}

impl Faults {
    pub fn new(seed: u64) -> Self {
        Self {
            rules: Vec::new(),
            rng: fastrand::Rng::with_seed(seed),
            next_id: 1,
        }
    }

    /// Validates and registers a rule. `known_operation` says whether an operation name exists.
    pub fn add(
        &mut self,
        spec: FaultSpec,
        known_operation: impl Fn(&str) -> bool,
    ) -> Result<Fault, String> {
        let chunked = spec.chunked == Some(true);
        if spec.status.is_none()
            && spec.drop.is_none()
            && spec.latency_ms.is_none()
            && spec.pad_body_bytes.is_none()
            && !chunked
        {
            return Err(
                "a fault needs at least one effect: status, drop, latencyMs, padBodyBytes or \
                 chunked"
                    .into(),
            );
        }
        if spec.status.is_some() && spec.drop.is_some() {
            return Err(
                "status and drop cannot be combined: a dropped connection has no status".into(),
            );
        }
        if matches!(spec.drop, Some(DropWhen::Before | DropWhen::After))
            && (spec.pad_body_bytes.is_some() || chunked)
        {
            return Err(
                "padBodyBytes and chunked cannot be combined with drop \"before\" or \"after\": \
                 a dropped connection has no body"
                    .into(),
            );
        }
        if let Some(n) = spec.pad_body_bytes
            && n > MAX_PAD_BODY_BYTES
        {
            return Err(format!(
                "padBodyBytes must be at most {MAX_PAD_BODY_BYTES}, got {n}"
            ));
        }
        if let Some(s) = spec.status
            && !(400..=599).contains(&s)
        {
            return Err(format!(
                "status must be an HTTP error status from 400 to 599, got {s}"
            ));
        }
        if let Some(p) = spec.probability
            && !(0.0..=1.0).contains(&p)
        {
            return Err(format!("probability must be between 0 and 1, got {p}"));
        }
        if spec.count == Some(0) {
            return Err("count must be at least 1 (omit it for no limit)".into());
        }
        if let Some(m) = &spec.method
            && Method::from_bytes(m.to_ascii_uppercase().as_bytes()).is_err()
        {
            return Err(format!("method {m:?} is not an HTTP method"));
        }
        if let Some(op) = &spec.operation
            && !known_operation(op)
        {
            return Err(format!(
                "operation {op:?} is not an operation the simulator serves (see GET /_sim/operations)"
            ));
        }
        let fault = Fault {
            id: format!("fault-{}", self.next_id),
            remaining: spec.count,
            spec,
            hits: 0,
        };
        self.next_id += 1;
        self.rules.push(fault.clone());
        Ok(fault)
    }

    pub fn list(&self) -> &[Fault] {
        &self.rules
    }

    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.rules.len();
        self.rules.retain(|f| f.id != id);
        self.rules.len() != before
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// Finds the fault for a request and counts it as hit.
    pub fn take(
        &mut self,
        operation: Option<&str>,
        method: &Method,
        path: &str,
    ) -> Option<FaultAction> {
        for f in &mut self.rules {
            let s = &f.spec;
            if f.remaining == Some(0)
                || s.operation.as_deref().is_some_and(|o| Some(o) != operation)
                || s.method
                    .as_deref()
                    .is_some_and(|m| !m.eq_ignore_ascii_case(method.as_str()))
                || s.path_prefix
                    .as_deref()
                    .is_some_and(|p| !path.starts_with(p))
            {
                continue;
            }
            if let Some(p) = s.probability
                && self.rng.f64() >= p
            {
                continue;
            }
            f.hits += 1;
            if let Some(r) = f.remaining.as_mut() {
                *r -= 1;
            }
            let error = s.status.map(|code| {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let default = crate::http::ApiError::for_status(status);
                (
                    status,
                    s.code.clone().unwrap_or(default.code),
                    s.message.clone().unwrap_or(default.message),
                )
            });
            return Some(FaultAction {
                fault_id: f.id.clone(),
                latency_ms: s.latency_ms,
                drop: s.drop,
                error,
                pad_body_bytes: s.pad_body_bytes,
                chunked: s.chunked == Some(true),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> FaultSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn count_limits_hits_and_filters_apply() {
        let mut f = Faults::new(1);
        f.add(
            spec(r#"{"operation":"GetUser","status":429,"count":2}"#),
            |_| true,
        )
        .unwrap();
        assert_eq!(f.take(Some("GetTenancy"), &Method::GET, "/x"), None);
        let hit = f.take(Some("GetUser"), &Method::GET, "/x").unwrap();
        assert_eq!(
            hit.error,
            Some((
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests".into(),
                "Too many requests for the user".into()
            ))
        );
        assert!(f.take(Some("GetUser"), &Method::GET, "/x").is_some());
        assert_eq!(f.take(Some("GetUser"), &Method::GET, "/x"), None);
        assert_eq!(f.list()[0].hits, 2);
    }

    #[test]
    fn probability_is_deterministic_for_a_seed() {
        let run = |seed| {
            let mut f = Faults::new(seed);
            f.add(spec(r#"{"status":503,"probability":0.5}"#), |_| true)
                .unwrap();
            (0..64)
                .map(|_| f.take(None, &Method::GET, "/").is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        let hits = run(7).iter().filter(|h| **h).count();
        assert!((10..54).contains(&hits), "{hits} hits of 64 at p=0.5");
    }

    #[test]
    fn nonsense_rules_are_refused_with_a_reason() {
        let mut f = Faults::new(1);
        let known = |o: &str| o == "GetUser";
        assert!(
            f.add(spec(r#"{"operation":"GetUser"}"#), known)
                .unwrap_err()
                .contains("effect")
        );
        assert!(
            f.add(spec(r#"{"status":200}"#), known)
                .unwrap_err()
                .contains("400 to 599")
        );
        assert!(
            f.add(spec(r#"{"operation":"Nope","status":500}"#), known)
                .unwrap_err()
                .contains("Nope")
        );
        assert!(
            f.add(spec(r#"{"status":500,"drop":"after"}"#), known)
                .is_err()
        );
        assert!(serde_json::from_str::<FaultSpec>(r#"{"stauts":500}"#).is_err());
        assert!(
            f.add(spec(r#"{"padBodyBytes":10,"drop":"after"}"#), known)
                .unwrap_err()
                .contains("no body")
        );
        assert!(
            f.add(spec(r#"{"padBodyBytes":2147483648}"#), known)
                .unwrap_err()
                .contains("padBodyBytes")
        );
        assert!(
            f.add(spec(r#"{"chunked":true,"drop":"midBody"}"#), known)
                .is_ok()
        );
        assert!(f.add(spec(r#"{"chunked":false}"#), known).is_err());
    }
}
