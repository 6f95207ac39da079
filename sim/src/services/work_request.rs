//! Load-balancer work requests, shared by the classic LB and the NLB.
//!
//! When one runs: each LB (and NLB) runs its work requests one at a time in arrival order. A
//! request waits ACCEPTED until the previous one finished plus its own accepted time, is
//! IN_PROGRESS for its run time, and then is due: [`settle`] applies its change (or its
//! failure) at that instant. What differs between the two services (the change, the resource,
//! the wire format) stays in `load_balancer.rs` and `nlb.rs`.

use std::time::SystemTime;

use super::settings::Tick;
use crate::ocid::Ocid;

/// The three instants of a work request, fixed when it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub accepted: SystemTime,
    pub started: SystemTime,
    pub finishes: SystemTime,
}

/// Where a work request is at some instant (before the settle step applies it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Accepted,
    InProgress,
    Due,
}

impl Schedule {
    /// A request accepted now, behind a queue that is free from `queue_free` on.
    pub fn after(
        queue_free: Option<SystemTime>,
        tick: Tick,
        accepted_secs: f64,
        run_secs: f64,
    ) -> Self {
        let head = queue_free.map_or(tick.now, |f| f.max(tick.now));
        let started = tick.later(head, accepted_secs);
        Self {
            accepted: tick.now,
            started,
            finishes: tick.later(started, run_secs),
        }
    }

    pub fn phase(&self, now: SystemTime) -> Phase {
        if now >= self.finishes {
            Phase::Due
        } else if now >= self.started {
            Phase::InProgress
        } else {
            Phase::Accepted
        }
    }
}

/// Why a work request FAILED.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkRequestError {
    /// `BAD_INPUT` or `INTERNAL_ERROR`.
    pub error_code: &'static str,
    pub message: String,
}

impl WorkRequestError {
    /// The request made no sense once it ran (a duplicate, a backend already gone).
    pub fn bad_input(message: String) -> Self {
        Self {
            error_code: "BAD_INPUT",
            message,
        }
    }

    pub fn internal(message: String) -> Self {
        Self {
            error_code: "INTERNAL_ERROR",
            message,
        }
    }
}

/// How far a work request got: when it runs, whether `/_sim/{lb,nlb}/fail-next` doomed it,
/// and how it ended.
#[derive(Debug, Clone)]
pub struct Progress {
    pub schedule: Schedule,
    /// Set by `/_sim/{lb,nlb}/fail-next` when it was accepted.
    pub forced_failure: bool,
    /// `None` until it finished.
    pub outcome: Option<Result<(), WorkRequestError>>,
}

impl Progress {
    /// A work request accepted on `schedule`; it is doomed to FAIL if `fail_next` (the
    /// service's `/_sim/.../fail-next` counter) has any left, and takes one.
    pub fn accept(schedule: Schedule, fail_next: &mut u32) -> Self {
        let forced_failure = *fail_next > 0;
        if forced_failure {
            *fail_next -= 1;
        }
        Self {
            schedule,
            forced_failure,
            outcome: None,
        }
    }

    /// `ACCEPTED`, `IN_PROGRESS`, `SUCCEEDED` or `FAILED` (the classic LB's `lifecycleState`
    /// and the NLB's `status` use the same words).
    pub fn status(&self, now: SystemTime) -> &'static str {
        match &self.outcome {
            Some(Ok(())) => "SUCCEEDED",
            Some(Err(_)) => "FAILED",
            None => match self.schedule.phase(now) {
                Phase::Accepted => "ACCEPTED",
                // Due but not applied yet only between a settle and a read; report running.
                Phase::InProgress | Phase::Due => "IN_PROGRESS",
            },
        }
    }

    pub fn is_finished(&self) -> bool {
        self.outcome.is_some()
    }
}

/// A resource work requests change (a load balancer, a network load balancer).
pub trait Resource {
    fn id(&self) -> &Ocid;
    /// Called once per work request of this resource that finished (either way) at `at`.
    fn work_finished(&mut self, _at: SystemTime) {}
}

/// A work request as [`settle`] sees it.
pub trait WorkRequest {
    type Resource: Resource;
    /// What the resource is called in messages (`load balancer`).
    const RESOURCE: &'static str;
    /// The admin call that injects failures (`/_sim/lb/fail-next`), named in their message.
    const FAIL_NEXT: &'static str;

    fn id(&self) -> &Ocid;
    fn resource_id(&self) -> &Ocid;
    fn progress(&self) -> &Progress;
    fn progress_mut(&mut self) -> &mut Progress;
    /// The change in words (`CreateBackend 10.0.0.3:8080 in backend set web`).
    fn describe(&self) -> String;
    /// Makes the change to its resource at `at`, or says why it cannot.
    fn apply(&self, resource: &mut Self::Resource, at: SystemTime) -> Result<(), WorkRequestError>;
}

/// Work requests that FAIL at random (`/_sim/lb/fail-next {"probability": p}`): each new
/// one is doomed with probability `p`, rolled on a seeded generator so runs repeat.
#[derive(Debug, Default)]
pub struct FailRate {
    pub probability: f64,
    rng: Option<fastrand::Rng>,
}

impl FailRate {
    /// Fails each work request from now on with `probability` (0 stops it), rolling on a
    /// generator seeded with `seed`.
    pub fn set(&mut self, probability: f64, seed: u64) {
        self.probability = probability;
        self.rng = Some(fastrand::Rng::with_seed(seed));
    }

    /// Adds one to `fail_next` when this work request's roll fails it.
    pub fn roll(&mut self, fail_next: &mut u32) {
        if self.probability > 0.0
            && let Some(rng) = self.rng.as_mut()
            && rng.f64() < self.probability
        {
            *fail_next += 1;
        }
    }
}

/// Applies every work request that is due at `now`, in arrival order, each at its own finish
/// instant: its change, or its injected failure, or a failure when its resource is gone.
pub fn settle<W: WorkRequest>(requests: &mut [W], resources: &mut [W::Resource], now: SystemTime) {
    for wr in requests.iter_mut() {
        let progress = wr.progress();
        if progress.is_finished() || progress.schedule.phase(now) != Phase::Due {
            continue;
        }
        let at = progress.schedule.finishes;
        let forced_failure = progress.forced_failure;
        let mut resource = resources.iter_mut().find(|r| r.id() == wr.resource_id());
        let outcome = match resource.as_deref_mut() {
            _ if forced_failure => Err(WorkRequestError::internal(format!(
                "{} failed: a failure injected by {}",
                wr.describe(),
                W::FAIL_NEXT
            ))),
            Some(r) => wr.apply(r, at),
            None => Err(WorkRequestError::internal(format!(
                "{} {} no longer exists",
                W::RESOURCE,
                wr.resource_id()
            ))),
        };
        if let Some(r) = resource {
            r.work_finished(at);
        }
        tracing::info!(work_request = %wr.id(), ok = outcome.is_ok(), "{} work request finished", W::RESOURCE);
        wr.progress_mut().outcome = Some(outcome);
    }
}

/// A backend in a backend set, for the helpers both services' `apply` share.
pub trait Backend: Clone {
    fn name(&self) -> &str;
    /// When it joined the set (its first health check follows).
    fn set_added_at(&mut self, at: SystemTime);
}

/// Adds `backend` to a set at `at`; a name already in the set is `BAD_INPUT`.
pub fn add_backend<B: Backend>(
    backends: &mut Vec<B>,
    backend: &B,
    set: &str,
    at: SystemTime,
) -> Result<(), WorkRequestError> {
    if backends.iter().any(|b| b.name() == backend.name()) {
        return Err(WorkRequestError::bad_input(format!(
            "Backend {} already exists in backend set {set}",
            backend.name()
        )));
    }
    let mut added = backend.clone();
    added.set_added_at(at);
    backends.push(added);
    Ok(())
}

/// The backend named `name` of a set; a missing one is `BAD_INPUT`.
pub fn backend_mut<'b, B: Backend>(
    backends: &'b mut [B],
    name: &str,
    set: &str,
) -> Result<&'b mut B, WorkRequestError> {
    backends
        .iter_mut()
        .find(|b| b.name() == name)
        .ok_or_else(|| missing_backend(name, set))
}

/// Removes the backend named `name` from a set; a missing one is `BAD_INPUT`.
pub fn remove_backend<B: Backend>(
    backends: &mut Vec<B>,
    name: &str,
    set: &str,
) -> Result<(), WorkRequestError> {
    let before = backends.len();
    backends.retain(|b| b.name() != name);
    if backends.len() == before {
        return Err(missing_backend(name, set));
    }
    Ok(())
}

fn missing_backend(name: &str, set: &str) -> WorkRequestError {
    WorkRequestError::bad_input(format!(
        "Backend {name} does not exist in backend set {set}"
    ))
}

/// A backend set that is not there when the work request runs.
pub fn missing_set(set: &str) -> WorkRequestError {
    WorkRequestError::bad_input(format!("Backend set {set} does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_queued_request_starts_after_the_previous_one_finishes() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let tick = Tick {
            now: t0,
            scale: 1.0,
        };
        let first = Schedule::after(None, tick, 1.0, 3.0);
        assert_eq!(first.started, t0 + Duration::from_secs(1));
        assert_eq!(first.finishes, t0 + Duration::from_secs(4));
        let second = Schedule::after(Some(first.finishes), tick, 1.0, 3.0);
        assert_eq!(second.started, t0 + Duration::from_secs(5));
        assert_eq!(second.phase(t0 + Duration::from_secs(4)), Phase::Accepted);
        assert_eq!(second.phase(t0 + Duration::from_secs(6)), Phase::InProgress);
        assert_eq!(second.phase(t0 + Duration::from_secs(8)), Phase::Due);
    }

    #[test]
    fn an_idle_queue_does_not_delay_a_new_request() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let tick = Tick {
            now: t0,
            scale: 0.5,
        };
        let s = Schedule::after(Some(t0 - Duration::from_secs(60)), tick, 2.0, 4.0);
        assert_eq!(s.started, t0 + Duration::from_secs(1));
        assert_eq!(s.finishes, t0 + Duration::from_secs(3));
    }

    #[derive(Debug, Clone, PartialEq)]
    struct B(String, SystemTime);

    impl Backend for B {
        fn name(&self) -> &str {
            &self.0
        }
        fn set_added_at(&mut self, at: SystemTime) {
            self.1 = at;
        }
    }

    struct Lb {
        id: Ocid,
        backends: Vec<B>,
        finished: u32,
    }

    impl Resource for Lb {
        fn id(&self) -> &Ocid {
            &self.id
        }
        fn work_finished(&mut self, _at: SystemTime) {
            self.finished += 1;
        }
    }

    struct Add {
        id: Ocid,
        lb: Ocid,
        backend: B,
        progress: Progress,
    }

    impl WorkRequest for Add {
        type Resource = Lb;
        const RESOURCE: &'static str = "test balancer";
        const FAIL_NEXT: &'static str = "/_sim/test/fail-next";
        fn id(&self) -> &Ocid {
            &self.id
        }
        fn resource_id(&self) -> &Ocid {
            &self.lb
        }
        fn progress(&self) -> &Progress {
            &self.progress
        }
        fn progress_mut(&mut self) -> &mut Progress {
            &mut self.progress
        }
        fn describe(&self) -> String {
            format!("add {}", self.backend.0)
        }
        fn apply(&self, lb: &mut Lb, at: SystemTime) -> Result<(), WorkRequestError> {
            add_backend(&mut lb.backends, &self.backend, "web", at)
        }
    }

    #[test]
    fn settling_applies_due_requests_in_order_and_fails_the_doomed_and_orphaned() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let tick = Tick {
            now: t0,
            scale: 1.0,
        };
        let lb = Ocid::from_string("lb");
        let mut fail_next = 1;
        let mut queue_free = None;
        let mut requests: Vec<Add> = ["doomed", "a", "a", "orphan"]
            .iter()
            .map(|name| {
                let schedule = Schedule::after(queue_free, tick, 1.0, 3.0);
                queue_free = Some(schedule.finishes);
                Add {
                    id: Ocid::from_string(format!("wr-{name}")),
                    lb: Ocid::from_string(if *name == "orphan" { "gone" } else { "lb" }),
                    backend: B((*name).to_string(), UNIX_EPOCH),
                    progress: Progress::accept(schedule, &mut fail_next),
                }
            })
            .collect();
        assert_eq!(fail_next, 0, "the first request took the injected failure");
        assert!(requests[0].progress.forced_failure && !requests[1].progress.forced_failure);
        let mut lbs = vec![Lb {
            id: lb,
            backends: Vec::new(),
            finished: 0,
        }];

        // Finishes at t0+4, t0+8, t0+12, t0+16.
        settle(&mut requests, &mut lbs, t0 + Duration::from_secs(10));
        let status: Vec<_> = requests
            .iter()
            .map(|r| r.progress.status(t0 + Duration::from_secs(10)))
            .collect();
        assert_eq!(status, ["FAILED", "SUCCEEDED", "IN_PROGRESS", "ACCEPTED"]);
        assert_eq!(
            lbs[0].backends,
            [B("a".into(), t0 + Duration::from_secs(8))],
            "added at its own finish instant"
        );

        settle(&mut requests, &mut lbs, t0 + Duration::from_secs(100));
        let errors: Vec<_> = requests
            .iter()
            .filter_map(|r| r.progress.outcome.clone()?.err())
            .collect();
        assert_eq!(
            errors,
            [
                WorkRequestError::internal(
                    "add doomed failed: a failure injected by /_sim/test/fail-next".into()
                ),
                WorkRequestError::bad_input("Backend a already exists in backend set web".into()),
                WorkRequestError::internal("test balancer gone no longer exists".into()),
            ]
        );
        assert_eq!(lbs[0].backends.len(), 1);
        assert_eq!(
            lbs[0].finished, 3,
            "every request of the LB that finished, either way"
        );
    }

    #[test]
    fn updating_or_removing_a_missing_backend_is_bad_input() {
        let mut backends = vec![B("x".into(), UNIX_EPOCH)];
        assert_eq!(
            backend_mut(&mut backends, "y", "web")
                .unwrap_err()
                .error_code,
            "BAD_INPUT"
        );
        assert_eq!(
            remove_backend(&mut backends, "y", "web").unwrap_err(),
            WorkRequestError::bad_input("Backend y does not exist in backend set web".into())
        );
        remove_backend(&mut backends, "x", "web").unwrap();
        assert!(backends.is_empty());
    }
}
