//! Load balancer work requests: their typed state, waiting for them, and taking turns per
//! load balancer.
//!
//! Classic LB and NLB mutations answer at once (204/202) with an `opc-work-request-id`; the
//! change happens later, and may FAIL after the HTTP call succeeded. A check of the work
//! request gives a [`WorkRequestState`]; [`wait_until_terminal`] polls with a doubling interval
//! until it is SUCCEEDED, FAILED or CANCELED, bounded by a [`Deadline`]. [`MutationLocks`]
//! keeps one mutation in flight per load balancer from this process (a started mutation's work
//! request is recorded, and the next mutation waits for it), with callers taking turns in
//! arrival order (tokio's mutex is fair).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::OwnedMutexGuard;

use super::client::OciClient;
use super::wire::open_enum;
use crate::clock::Clock;
use crate::ids::LoadBalancerId;

/// How to wait for a work request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    /// The first wait between polls.
    pub first_poll: Duration,
    /// The longest wait between polls (the interval doubles up to this).
    pub max_poll: Duration,
    /// The waiting form of a mutation gives up after this long, both on a busy load balancer
    /// and on its work request (which may still finish later). The start form takes a
    /// [`Deadline`] instead.
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

/// Where a work request is, as `check_work_request` reports it: the same for classic LB and
/// NLB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkRequestState {
    /// Not finished: ACCEPTED, IN_PROGRESS, CANCELING, or a state this client does not know
    /// (treated as running; only SUCCEEDED, FAILED and CANCELED end a work request).
    InProgress(WorkRequestStatus),
    /// SUCCEEDED: the change is live.
    Succeeded,
    /// FAILED or CANCELED: the change was not made.
    Failed {
        /// FAILED or CANCELED.
        status: WorkRequestStatus,
        /// OCI's error details in one line (see [`failure_message`]).
        message: String,
    },
}

impl WorkRequestState {
    /// The state of a work request in `status`, with OCI's error messages (classic
    /// `errorDetails[]`, NLB work request errors) and free-text message.
    pub fn new(status: WorkRequestStatus, errors: &[String], message: Option<&str>) -> Self {
        match status {
            WorkRequestStatus::Succeeded => WorkRequestState::Succeeded,
            WorkRequestStatus::Failed | WorkRequestStatus::Canceled => WorkRequestState::Failed {
                status,
                message: failure_message(errors, message),
            },
            other => WorkRequestState::InProgress(other),
        }
    }

    /// SUCCEEDED, FAILED or CANCELED: it will not change any more.
    pub fn is_terminal(&self) -> bool {
        !matches!(self, WorkRequestState::InProgress(_))
    }

    /// The wire status (`IN_PROGRESS`, `SUCCEEDED`, `FAILED`, …).
    pub fn status(&self) -> WorkRequestStatus {
        match self {
            WorkRequestState::InProgress(s) | WorkRequestState::Failed { status: s, .. } => {
                s.clone()
            }
            WorkRequestState::Succeeded => WorkRequestStatus::Succeeded,
        }
    }
}

/// One look at a work request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkRequestCheck {
    /// The id.
    pub id: WorkRequestId,
    /// The kind of change as OCI names it (classic `type`: `CreateBackend`; NLB
    /// `operationType`: `CREATE_BACKEND`), when given.
    pub operation: Option<String>,
    /// Where it is.
    pub state: WorkRequestState,
}

/// What went wrong, in one line: the error messages, else the message, else a placeholder.
pub fn failure_message(errors: &[String], message: Option<&str>) -> String {
    if !errors.is_empty() {
        return errors.join("; ");
    }
    match message.filter(|m| !m.trim().is_empty()) {
        Some(m) => m.to_string(),
        None => "OCI gave no error details".to_string(),
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

/// The instant by which a call must return, on the client's clock ([`OciClient::clock`]).
///
/// A reconcile step has one deadline (an OCI Function lives at most 300 s) and passes it to
/// every call it makes; a call that would have to wait past it (a busy load balancer, a
/// previous mutation still running) returns an error saying so instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline(OffsetDateTime);

impl Deadline {
    /// The deadline `at`.
    pub fn at(at: OffsetDateTime) -> Self {
        Self(at)
    }

    /// `within` from now on `clock`.
    pub fn after(clock: &dyn Clock, within: Duration) -> Self {
        Self(clock.now() + within)
    }

    /// The instant.
    pub fn instant(&self) -> OffsetDateTime {
        self.0
    }

    /// How long until the deadline on `clock` (zero once it passed).
    pub fn remaining(&self, clock: &dyn Clock) -> Duration {
        Duration::try_from(self.0 - clock.now()).unwrap_or(Duration::ZERO)
    }
}

/// Why waiting ended without a terminal state.
#[derive(Debug, thiserror::Error)]
pub enum WaitError<E: std::error::Error + 'static> {
    /// Polling failed (after the client's own retries).
    #[error(transparent)]
    Poll(E),
    /// Still not terminal when the deadline passed.
    #[error("work request {} still {} after {waited:?}", last.id, last.state.status())]
    TimedOut {
        /// The last look.
        last: WorkRequestCheck,
        /// How long it was waited for.
        waited: Duration,
    },
}

/// Polls `poll` until the work request is terminal (returned, whatever the outcome) or
/// `deadline` passes. The first poll is immediate; then the interval doubles from
/// `policy.first_poll` to `policy.max_poll` (`policy.timeout` is not used: the deadline
/// bounds the wait). Time is read from, and waits go through, `client`'s clock and sleeper.
pub async fn wait_until_terminal<F, Fut, E>(
    client: &OciClient,
    policy: &WaitPolicy,
    deadline: Deadline,
    mut poll: F,
) -> Result<WorkRequestCheck, WaitError<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<WorkRequestCheck, E>>,
    E: std::error::Error + 'static,
{
    let clock = client.clock().clone();
    let sleeper = client.sleeper().clone();
    let start = clock.now();
    let mut delay = policy.first_poll;
    loop {
        let check = poll().await.map_err(WaitError::Poll)?;
        if check.state.is_terminal() {
            return Ok(check);
        }
        let remaining = deadline.remaining(clock.as_ref());
        if remaining.is_zero() {
            let waited = Duration::try_from(clock.now() - start).unwrap_or(Duration::ZERO);
            return Err(WaitError::TimedOut {
                last: check,
                waited,
            });
        }
        sleeper.sleep(delay.min(remaining)).await;
        delay = delay
            .saturating_mul(2)
            .min(policy.max_poll.max(policy.first_poll));
    }
}

/// The turn of one load balancer: while held, no other mutation of it starts in this process.
/// It records the work request of the last mutation started ([`MutationTurn::in_flight`]), so
/// the next one first waits for that to finish: a mutation started and not waited for (the
/// start form) still keeps its successor from overlapping it.
pub type MutationTurn = OwnedMutexGuard<InFlight>;

/// The work request a load balancer's last started mutation is running as, until seen
/// terminal.
#[derive(Debug, Default)]
pub struct InFlight {
    /// The work request, or `None` when none is known to be running.
    pub work_request: Option<WorkRequestId>,
}

/// One async lock per load balancer id, holding its [`InFlight`] record: a mutation holds the
/// lock while it waits for the previous mutation's work request, reads what it needs and
/// sends; it records its own work request before letting go. So at most one mutation of a
/// load balancer is in flight from this process, and callers take turns in arrival order
/// (tokio's mutex is fair). Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct MutationLocks {
    locks: Arc<Mutex<HashMap<LoadBalancerId, Arc<tokio::sync::Mutex<InFlight>>>>>,
}

static GLOBAL_LOCKS: LazyLock<MutationLocks> = LazyLock::new(MutationLocks::default);

impl MutationLocks {
    /// The process-wide locks (what the load balancer clients use unless told otherwise), so
    /// two clients of the same load balancer in one process still take turns.
    pub fn global() -> MutationLocks {
        GLOBAL_LOCKS.clone()
    }

    fn slot(&self, lb: &LoadBalancerId) -> Arc<tokio::sync::Mutex<InFlight>> {
        let mut map = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(lb.clone()).or_default().clone()
    }

    /// Waits for the turn of `lb`.
    pub async fn lock(&self, lb: &LoadBalancerId) -> MutationTurn {
        self.slot(lb).lock_owned().await
    }

    /// The turn of `lb` if nobody holds it.
    pub fn try_lock(&self, lb: &LoadBalancerId) -> Option<MutationTurn> {
        self.slot(lb).try_lock_owned().ok()
    }

    /// Forgets `work_request` as `lb`'s in-flight mutation (it was seen terminal). When the
    /// turn is held by someone else, nothing is done: the holder checks it itself.
    pub fn finished(&self, lb: &LoadBalancerId, work_request: &WorkRequestId) {
        if let Some(mut turn) = self.try_lock(lb)
            && turn.work_request.as_ref() == Some(work_request)
        {
            turn.work_request = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_message_prefers_error_details() {
        let errors = vec!["duplicate backend".to_string(), "second".to_string()];
        assert_eq!(
            failure_message(&errors, Some("ignored")),
            "duplicate backend; second"
        );
        assert_eq!(failure_message(&[], Some("ignored")), "ignored");
        assert_eq!(
            failure_message(&[], Some("  ")),
            "OCI gave no error details"
        );
    }

    #[test]
    fn the_state_is_typed_by_status_and_carries_the_message_of_a_failure() {
        let errors = vec!["BAD_INPUT: duplicate".to_string()];
        for (status, state) in [
            (
                "ACCEPTED",
                WorkRequestState::InProgress(WorkRequestStatus::Accepted),
            ),
            (
                "PAUSED",
                WorkRequestState::InProgress(WorkRequestStatus::Unknown("PAUSED".into())),
            ),
            ("SUCCEEDED", WorkRequestState::Succeeded),
            (
                "CANCELED",
                WorkRequestState::Failed {
                    status: WorkRequestStatus::Canceled,
                    message: "BAD_INPUT: duplicate".into(),
                },
            ),
        ] {
            let got = WorkRequestState::new(status.to_string().into(), &errors, None);
            assert_eq!(got, state, "{status}");
            assert_eq!(got.status().as_str(), status);
        }
    }

    #[test]
    fn a_deadline_counts_down_on_the_given_clock() {
        let clock = crate::clock::ManualClock::new(OffsetDateTime::UNIX_EPOCH);
        let deadline = Deadline::after(&clock, Duration::from_secs(10));
        assert_eq!(deadline.remaining(&clock), Duration::from_secs(10));
        clock.advance(Duration::from_secs(4));
        assert_eq!(deadline.remaining(&clock), Duration::from_secs(6));
        clock.advance(Duration::from_secs(60));
        assert_eq!(deadline.remaining(&clock), Duration::ZERO);
    }

    #[tokio::test]
    async fn finishing_forgets_only_the_recorded_work_request_and_never_waits() {
        let locks = MutationLocks::default();
        let lb: LoadBalancerId = "ocid1.loadbalancer.oc1.iad.aaaa".parse().unwrap();
        let (a, b) = (
            WorkRequestId::new("wr-a").unwrap(),
            WorkRequestId::new("wr-b").unwrap(),
        );
        locks.lock(&lb).await.work_request = Some(a.clone());
        locks.finished(&lb, &b);
        assert_eq!(locks.lock(&lb).await.work_request.as_ref(), Some(&a));
        let held = locks.lock(&lb).await;
        locks.finished(&lb, &a); // the turn is held: left to the holder
        assert!(locks.try_lock(&lb).is_none());
        drop(held);
        assert_eq!(locks.lock(&lb).await.work_request.as_ref(), Some(&a));
        locks.finished(&lb, &a);
        assert_eq!(locks.lock(&lb).await.work_request, None);
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
