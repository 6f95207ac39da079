//! Waiting for load balancer work requests, and serialising mutations per load balancer.
//!
//! Classic LB and NLB mutations answer at once (204/202) with an `opc-work-request-id`; the
//! change happens later, and may FAIL after the HTTP call succeeded. [`wait_until_terminal`]
//! polls the work request with a doubling interval until it is SUCCEEDED, FAILED or CANCELED,
//! bounded by a timeout. [`MutationLocks`] keeps one mutation in flight per load balancer
//! (send + wait), with later callers queued in arrival order (tokio's mutex is fair).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::OwnedMutexGuard;

use super::client::OciClient;
use super::error::OciError;
use super::wire::open_enum;
use crate::ids::LoadBalancerId;

/// How to wait for a work request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    /// The first wait between polls.
    pub first_poll: Duration,
    /// The longest wait between polls (the interval doubles up to this).
    pub max_poll: Duration,
    /// Give up after this long (the work request may still finish later).
    pub timeout: Duration,
}

impl Default for WaitPolicy {
    /// Polls after 1 s, 2 s, 4 s, … up to every 10 s, for at most 10 minutes (LB work requests
    /// normally take seconds to a minute).
    fn default() -> Self {
        Self {
            first_poll: Duration::from_secs(1),
            max_poll: Duration::from_secs(10),
            timeout: Duration::from_secs(600),
        }
    }
}

/// The id of a work request, as OCI returned it in `opc-work-request-id` (opaque: classic LB
/// and NLB use different OCID types).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkRequestId(String);

impl WorkRequestId {
    /// Wraps an id; `None` when it is empty or not a single header-safe token.
    pub fn new(id: &str) -> Option<Self> {
        let id = id.trim();
        let ok = !id.is_empty() && id.len() <= 512 && id.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| Self(id.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for WorkRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WorkRequestId({:?})", self.0)
    }
}

open_enum!(
    /// The state of a work request: classic LB `lifecycleState` and NLB `status` share these
    /// values (NLB adds CANCELING/CANCELED).
    WorkRequestStatus {
        /// Queued.
        Accepted => "ACCEPTED",
        /// Running.
        InProgress => "IN_PROGRESS",
        /// Done; the change is applied.
        Succeeded => "SUCCEEDED",
        /// Failed; see the error details.
        Failed => "FAILED",
        /// Being canceled.
        Canceling => "CANCELING",
        /// Canceled.
        Canceled => "CANCELED",
    }
);

impl WorkRequestStatus {
    /// SUCCEEDED, FAILED or CANCELED: it will not change any more.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            WorkRequestStatus::Succeeded | WorkRequestStatus::Failed | WorkRequestStatus::Canceled
        )
    }
}

/// A work request as far as waiting cares: the same for classic LB and NLB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkRequestSnapshot {
    /// The id.
    pub id: WorkRequestId,
    /// The state.
    pub status: WorkRequestStatus,
    /// Error messages (classic `errorDetails[].message`, NLB work request errors), in order.
    pub errors: Vec<String>,
    /// The service's free-text message, if any.
    pub message: Option<String>,
}

impl WorkRequestSnapshot {
    /// What went wrong, in one line: the error messages, else the message, else a placeholder.
    pub fn failure_message(&self) -> String {
        if !self.errors.is_empty() {
            return self.errors.join("; ");
        }
        match self.message.as_deref().filter(|m| !m.trim().is_empty()) {
            Some(m) => m.to_string(),
            None => "OCI gave no error details".to_string(),
        }
    }
}

/// One error of a work request as a line of text: `CODE: message`, or whichever of the two
/// OCI gave; `None` when both are missing or empty. Classic LB (`errorCode`) and NLB
/// (`code`) errors both go through this.
pub(crate) fn error_line(code: Option<&str>, message: Option<&str>) -> Option<String> {
    let code = code.filter(|c| !c.is_empty());
    let message = message.filter(|m| !m.is_empty());
    match (code, message) {
        (Some(code), Some(m)) => Some(format!("{code}: {m}")),
        (None, Some(m)) => Some(m.to_string()),
        (Some(code), None) => Some(code.to_string()),
        (None, None) => None,
    }
}

/// Why waiting ended without a terminal state.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// Polling failed (after the client's own retries).
    #[error(transparent)]
    Oci(#[from] OciError),
    /// Still not terminal when the timeout passed.
    #[error("work request {} still {} after {waited:?}", last.id, last.status)]
    TimedOut {
        /// The last state seen.
        last: WorkRequestSnapshot,
        /// How long it was waited for.
        waited: Duration,
    },
}

/// Polls `poll` until the work request is terminal (returned, whatever the outcome) or the
/// policy's timeout passes. The first poll is immediate; then the interval doubles from
/// `first_poll` to `max_poll`. Time is read from, and waits go through, `client`'s clock and
/// sleeper.
pub async fn wait_until_terminal<F, Fut>(
    client: &OciClient,
    policy: &WaitPolicy,
    mut poll: F,
) -> Result<WorkRequestSnapshot, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<WorkRequestSnapshot, OciError>>,
{
    let clock = client.clock().clone();
    let sleeper = client.sleeper().clone();
    let start = clock.now();
    let mut delay = policy.first_poll;
    loop {
        let snapshot = poll().await?;
        if snapshot.status.is_terminal() {
            return Ok(snapshot);
        }
        let waited = Duration::try_from(clock.now() - start).unwrap_or(Duration::ZERO);
        if waited >= policy.timeout {
            return Err(WaitError::TimedOut {
                last: snapshot,
                waited,
            });
        }
        let remaining = policy.timeout - waited;
        sleeper.sleep(delay.min(remaining)).await;
        delay = delay
            .saturating_mul(2)
            .min(policy.max_poll.max(policy.first_poll));
    }
}

/// One async lock per load balancer id: a mutation (send + wait for its work request) holds
/// it, so at most one is in flight per load balancer from this process; other callers wait in
/// arrival order. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct MutationLocks {
    locks: Arc<Mutex<HashMap<LoadBalancerId, Arc<tokio::sync::Mutex<()>>>>>,
}

static GLOBAL_LOCKS: LazyLock<MutationLocks> = LazyLock::new(MutationLocks::default);

impl MutationLocks {
    /// The process-wide locks (what the load balancer clients use unless told otherwise), so
    /// two clients of the same load balancer in one process still take turns.
    pub fn global() -> MutationLocks {
        GLOBAL_LOCKS.clone()
    }

    /// Waits for the lock of `lb`.
    pub async fn lock(&self, lb: &LoadBalancerId) -> OwnedMutexGuard<()> {
        let lock = {
            let mut map = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(lb.clone()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_message_prefers_error_details() {
        let mut s = WorkRequestSnapshot {
            id: WorkRequestId::new("wr-1").unwrap(),
            status: WorkRequestStatus::Failed,
            errors: vec!["duplicate backend".into(), "second".into()],
            message: Some("ignored".into()),
        };
        assert_eq!(s.failure_message(), "duplicate backend; second");
        s.errors.clear();
        assert_eq!(s.failure_message(), "ignored");
        s.message = Some("  ".into());
        assert_eq!(s.failure_message(), "OCI gave no error details");
    }

    #[test]
    fn an_error_line_uses_whatever_oci_gave() {
        assert_eq!(
            error_line(Some("BAD_INPUT"), Some("duplicate")).as_deref(),
            Some("BAD_INPUT: duplicate")
        );
        assert_eq!(error_line(None, Some("m")).as_deref(), Some("m"));
        assert_eq!(error_line(Some(""), Some("m")).as_deref(), Some("m"));
        assert_eq!(error_line(Some("C"), Some("")).as_deref(), Some("C"));
        assert_eq!(error_line(Some(""), None), None);
        assert_eq!(error_line(None, None), None);
    }

    #[test]
    fn work_request_ids_must_be_one_visible_token() {
        assert!(WorkRequestId::new("").is_none());
        assert!(WorkRequestId::new("a b").is_none());
        assert_eq!(
            WorkRequestId::new(" ocid1.loadbalancerworkrequest.oc1.iad.aaaa ")
                .unwrap()
                .as_str(),
            "ocid1.loadbalancerworkrequest.oc1.iad.aaaa"
        );
    }

    #[test]
    fn terminal_states() {
        for (s, terminal) in [
            ("ACCEPTED", false),
            ("IN_PROGRESS", false),
            ("CANCELING", false),
            ("SUCCEEDED", true),
            ("FAILED", true),
            ("CANCELED", true),
            ("PAUSED", false),
        ] {
            assert_eq!(
                WorkRequestStatus::from(s.to_string()).is_terminal(),
                terminal,
                "{s}"
            );
        }
    }
}
