//! The retry policy of the OCI client, as pure functions (decision table and backoff), so the
//! rules are tested without HTTP or real time.
//!
//! # The written policy
//! - Retried: 429, every 5xx except 501 (and except 500 "Out of host capacity.", which is a
//!   capacity signal for the caller, not a transient fault), 409 `IncorrectState` and 409
//!   `LockConflict`, connection failures and timeouts.
//! - A request that is not idempotent (POST without `opc-retry-token`) is retried only when it
//!   failed before it was sent (connection refused, DNS, TLS handshake): anything else may have
//!   executed once already.
//! - 401: the caller refreshes the credentials once (re-read files or re-federate) and retries
//!   once, whatever the method (an unauthenticated request did nothing).
//! - Not retried: every other 4xx (400, 404, 412, …).
//! - A host name that does not resolve (DNS) gets at most [`NAME_RESOLUTION_MAX_ATTEMPTS`]
//!   attempts: a DNS failure for an OCI host (a misspelt region, a resolver that is down) does
//!   not heal in seconds, and the full budget would only delay the error by minutes.
//! - Backoff: exponential with jitter, `min(base · 2^(n-1) + uniform(0, base), max_delay)`,
//!   at most `max_attempts` attempts and never past `max_total` since the first attempt. A
//!   `Retry-After` header is honoured up to `max_delay`.
//! - Every attempt is signed afresh (new `date`).

use std::time::Duration;

/// Limits of the retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in total, the first included (`1` disables retries).
    pub max_attempts: u32,
    /// The first backoff (and the jitter range).
    pub base_delay: Duration,
    /// The longest single wait.
    pub max_delay: Duration,
    /// No retry starts later than this after the first attempt.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    /// 8 attempts, 1 s base, 30 s cap (the OCI SDKs' defaults) and a 180 s total budget.
    ///
    /// The budget bounds when the *last retry starts*, not how long a call lasts: that attempt
    /// still has its own request timeout (60 s with the default HTTP client) and first gets
    /// credentials. Credentials are usually at hand; an instance principal whose token is due
    /// for renewal spends at most `SHORT_REFRESH_TIMEOUT` (10 s) trying while the token still
    /// works, but the full metadata/federation retry budget (minutes) once it has expired. So a
    /// call with healthy credentials ends within about 250 s, inside an OCI Function's 300 s
    /// limit; one whose credentials are failing can take longer.
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_total: Duration::from_secs(180),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries (one attempt).
    pub fn no_retries() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

/// Whether repeating a request is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// GET, HEAD, PUT, DELETE: repeating has the same effect.
    Idempotent,
    /// A request with an `opc-retry-token`: OCI deduplicates it.
    RetryToken,
    /// Anything else (e.g. POST without a retry token).
    NotIdempotent,
}

impl Idempotency {
    /// True when a request that may have executed can be sent again.
    pub fn repeatable(self) -> bool {
        !matches!(self, Idempotency::NotIdempotent)
    }
}

/// What one attempt produced, as far as the retry decision cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome<'a> {
    /// An HTTP response.
    Response {
        /// Status code.
        status: u16,
        /// OCI error `code`, if the body had one.
        code: Option<&'a str>,
        /// OCI error `message`, if the body had one.
        message: Option<&'a str>,
    },
    /// The request never left this machine (connect refused, TLS handshake).
    NotSent,
    /// The host name did not resolve (DNS); the request never left this machine.
    NameNotResolved,
    /// The request may have been sent: timeout, reset, broken body.
    TransportFailure,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait, sign again and retry.
    Retry,
    /// Refresh the credentials (`refresh_after_unauthorized`) and retry once.
    RefreshAndRetry,
    /// Return the error.
    GiveUp,
}

/// True for 500 "Out of host capacity." (OCI's InternalError for a full shape/AD).
pub fn is_out_of_host_capacity(status: u16, message: Option<&str>) -> bool {
    status == 500
        && message.is_some_and(|m| m.to_ascii_lowercase().contains("out of host capacity"))
}

/// The decision table (see the module docs) for a *failed* attempt: callers return 2xx/3xx
/// responses before asking (a status below 400 given here is not retried). `refreshed` is
/// true when this request already used its one credential refresh.
pub fn decide(
    outcome: AttemptOutcome<'_>,
    idempotency: Idempotency,
    refreshed: bool,
) -> RetryDecision {
    let transient = match outcome {
        AttemptOutcome::NotSent | AttemptOutcome::NameNotResolved => return RetryDecision::Retry,
        AttemptOutcome::TransportFailure => true,
        AttemptOutcome::Response {
            status,
            code,
            message,
        } => match status {
            401 => {
                return if refreshed {
                    RetryDecision::GiveUp
                } else {
                    RetryDecision::RefreshAndRetry
                };
            }
            429 => true,
            409 => matches!(code, Some("IncorrectState" | "LockConflict")),
            501 => false,
            500 if is_out_of_host_capacity(status, message) => false,
            s if s >= 500 => true,
            _ => false,
        },
    };
    if transient && idempotency.repeatable() {
        RetryDecision::Retry
    } else {
        RetryDecision::GiveUp
    }
}

/// The wait before retry number `retry` (1 for the first retry), with `jitter` drawn uniformly
/// from `[0, 1)`: `min(base · 2^(retry-1) + jitter · base, max_delay)`.
pub fn backoff_delay(policy: &RetryPolicy, retry: u32, jitter: f64) -> Duration {
    let exp = retry.saturating_sub(1).min(20);
    let base = policy.base_delay.as_secs_f64();
    let jitter = jitter.clamp(0.0, 1.0);
    let secs = base * f64::from(1u32 << exp) + jitter * base;
    Duration::from_secs_f64(secs.min(policy.max_delay.as_secs_f64()).max(0.0))
}

/// The wait before a retry, honouring a server `Retry-After` (seconds) up to `max_delay`.
pub fn delay_with_retry_after(
    policy: &RetryPolicy,
    retry: u32,
    jitter: f64,
    retry_after: Option<Duration>,
) -> Duration {
    let computed = backoff_delay(policy, retry, jitter);
    match retry_after {
        Some(ra) => ra.min(policy.max_delay).max(computed.min(policy.max_delay)),
        None => computed,
    }
}

/// Attempts in total (the first included) for a call whose last attempt ended with
/// `outcome`: a host name that does not resolve gets at most
/// [`NAME_RESOLUTION_MAX_ATTEMPTS`], anything else the policy's `max_attempts`.
pub fn attempt_limit(policy: &RetryPolicy, outcome: AttemptOutcome<'_>) -> u32 {
    match outcome {
        AttemptOutcome::NameNotResolved => policy.max_attempts.min(NAME_RESOLUTION_MAX_ATTEMPTS),
        _ => policy.max_attempts,
    }
}

/// Attempts in total for a call whose host name does not resolve (see the module docs).
pub const NAME_RESOLUTION_MAX_ATTEMPTS: u32 = 2;

/// True when another attempt may start: attempts left, and `elapsed + delay` within the total
/// budget.
pub fn may_retry(
    policy: &RetryPolicy,
    attempts_made: u32,
    elapsed: Duration,
    delay: Duration,
) -> bool {
    attempts_made < policy.max_attempts && elapsed + delay <= policy.max_total
}
