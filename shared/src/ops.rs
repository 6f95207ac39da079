//! The reconcile step: the one function every front door calls to make progress.
//!
//! # Expected flow
//! 1. read the ledger with its version (a new one when there is none);
//! 2. take or renew the lease (holder, expiry, fencing counter) in memory;
//! 3. observe the cloud: the fleet's instances (every page), their IPs, the backend set and
//!    its health;
//! 4. plan ([`crate::plan::plan`], pure);
//! 5. record the planned ledger with the version read (a conflict means another writer:
//!    read again and plan again, never overwrite); a step with no call to make whose plan
//!    changes nothing but the lease records nothing and ends here;
//! 6. act: each call idempotent (retry tokens from the operation id and the slot, instances
//!    tagged with both);
//! 7. record what the calls returned, again conditionally.
//!
//! # Guarantees
//! - A crash at any line is followed by a step that resumes: what was launched but not
//!   recorded is found by its tags, a call repeated after a lost answer carries the same
//!   retry token, and every other call is made only when what OCI shows says it is needed.
//! - One writer at a time: a step acts only after recording a ledger in which it holds the
//!   lease; a step of another holder refuses with [`StepError::LeaseBusy`] until it expires.
//! - A step's calls end before its budget does, and the budget ends a tenth of the lease
//!   before the lease does: a call still running then is dropped and the calls after it are
//!   left to the next step, which plans them again from what OCI shows. So a slow call
//!   (throttled, retried) never overlaps the calls of a holder that took an expired lease
//!   over.
//! - Fenced: every call a step makes carries its holding period in its `opc-request-id`
//!   ([`call_stamp`]: fencing counter and holder), and a step whose outcome write meets a
//!   ledger where the lease has passed to another holder writes nothing (as after a crash, the
//!   next step finds the calls' effects in OCI).
//!
//! # Caveats
//! - A step makes no call once its budget is spent (`step_within`); the rest is planned
//!   again by the next step.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::Error;
use crate::cloud::{self, Cloud};
use crate::config::FleetConfig;
use crate::ids::{GroupName, InstanceId};
use crate::observe::Observation;
use crate::oci::backends::{
    BackendChange, BackendUpdate, DeleteStarted, LoadBalancerBackends, MutationStarted, NewBackend,
};
use crate::oci::client::{CallScope, within};
use crate::oci::compute::{self, InstanceAction};
use crate::oci::wire::RetryToken;
use crate::oci::workrequest::{Deadline, WorkRequestState};
use crate::oci::{ErrorKind, FleetTags, OciError};
use crate::plan::{self, Action, Mode, Outcome, Plan};
use crate::store::lease::LeaseBusy;
use crate::store::ledger::{HolderId, Ledger, Operation, OperationId, OperationKind, Origin};
use crate::store::{StateStore, StoreError, Version};

/// How long a step's lease lasts past its start, unless the [`Context`] says otherwise: long
/// enough for the step's calls (each bounded by the client's retry deadline), short enough
/// that a crashed holder blocks others for at most this long.
pub const LEASE_TTL: Duration = Duration::from_secs(120);

/// The longest a caller that runs steps in a loop (the CLI) waits between two steps: a step
/// says when the next one is useful sooner ([`StepReport::requeue_after`]).
pub const MAX_POLL: Duration = Duration::from_secs(5);
/// The shortest wait between two steps, so a step with nothing to wait for does not spin.
pub const MIN_POLL: Duration = Duration::from_millis(200);

/// How often a step reads again after a conflicting write before giving up.
const MAX_CONFLICT_RETRIES: usize = 5;

/// What the reconcile step works with: the fleet file, the OCI connection, the store and the
/// load balancer handle. [`crate::fleet::Fleet`] puts one together ([`crate::fleet::Fleet::context`]).
#[derive(Debug, Clone)]
pub struct Context {
    /// The fleet file.
    pub config: Arc<FleetConfig>,
    /// The OCI connection.
    pub cloud: Arc<Cloud>,
    /// Where the ledger lives.
    pub store: Arc<StateStore>,
    /// The backend set, when the fleet uses a load balancer.
    pub lb: Option<Arc<dyn LoadBalancerBackends>>,
    /// Who this process is, for the lease.
    pub holder: HolderId,
    /// How long each step's lease lasts ([`LEASE_TTL`] unless set): how long a crashed
    /// holder keeps others waiting. It must exceed the longest step, or another holder may
    /// start acting while this one still does.
    pub lease_ttl: Duration,
}

impl Context {
    fn now(&self) -> OffsetDateTime {
        self.cloud.client.clock().now()
    }
}

/// A holder id for this process: host, pid and a random part.
pub fn holder_id() -> HolderId {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "fleetctl".to_string());
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(60)
        .collect();
    let text = format!(
        "{host}/{}/{}",
        std::process::id(),
        &OperationId::random().as_str()[..8]
    );
    HolderId::parse(&text)
        .unwrap_or_else(|_| HolderId::parse("fleetctl").unwrap_or_else(|_| unreachable_holder()))
}

#[allow(clippy::panic)]
fn unreachable_holder() -> HolderId {
    // "fleetctl" is a valid holder id by construction (printable ASCII, 8 characters).
    panic!("the literal holder id is valid")
}

/// What one step did.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The ledger as recorded at the end of the step.
    pub ledger: Ledger,
    /// The calls made, one line each.
    pub did: Vec<String>,
    /// What the step waits on.
    pub waiting_on: Vec<String>,
    /// Notes (resolved limits, warnings).
    pub notes: Vec<String>,
    /// When another step is useful; `None` when nothing is in progress.
    pub requeue_after: Option<Duration>,
}

impl StepReport {
    /// The operation after the step.
    pub fn operation(&self) -> Option<&Operation> {
        self.ledger.operation.as_ref()
    }

    /// How long a caller running steps in a loop waits before the next one: the step's
    /// [`StepReport::requeue_after`] within [`MIN_POLL`]..=[`MAX_POLL`] ([`MAX_POLL`] when it
    /// has nothing in progress).
    pub fn poll_after(&self) -> Duration {
        self.requeue_after
            .unwrap_or(MAX_POLL)
            .clamp(MIN_POLL, MAX_POLL)
    }
}

/// Why a step could not run.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Another process holds the lease.
    #[error(transparent)]
    LeaseBusy(#[from] LeaseBusy),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] Error),
}

impl From<StoreError> for StepError {
    fn from(e: StoreError) -> Self {
        StepError::Other(e.into())
    }
}

/// Reads the ledger and its version, or `None` when the store has none yet.
///
/// # Errors
/// [`Error::ForeignLedger`] when the ledger belongs to another fleet (two fleets must never
/// share one; it is left untouched), and [`Error::Store`] when it cannot be read.
pub async fn read(ctx: &Context) -> Result<Option<(Ledger, Version)>, Error> {
    let loaded = ctx.store.load().await?;
    if let Some((ledger, _)) = &loaded {
        check_fleet(ctx, ledger)?;
    }
    Ok(loaded)
}

fn check_fleet(ctx: &Context, ledger: &Ledger) -> Result<(), Error> {
    if ledger.fleet != ctx.config.metadata.name {
        return Err(Error::ForeignLedger {
            url: ctx.store.url().to_string(),
            found: ledger.fleet.clone(),
            expected: ctx.config.metadata.name.clone(),
        });
    }
    Ok(())
}

/// [`load`], the ledger shared with the store's copy of what it read last
/// ([`StateStore::load_shared`]: not parsed again while unchanged).
async fn load_shared(ctx: &Context) -> Result<(Arc<Ledger>, Option<Version>), Error> {
    match ctx.store.load_shared().await? {
        Some((ledger, version)) => {
            check_fleet(ctx, &ledger)?;
            Ok((ledger, Some(version)))
        }
        None => Ok((
            Arc::new(Ledger::new(ctx.config.metadata.name.clone(), ctx.now())),
            None,
        )),
    }
}

/// Reads the ledger (checking it is this fleet's, see [`read`]), or a new one.
pub async fn load(ctx: &Context) -> Result<(Ledger, Option<Version>), Error> {
    match read(ctx).await? {
        Some((ledger, version)) => Ok((ledger, Some(version))),
        None => Ok((
            Ledger::new(ctx.config.metadata.name.clone(), ctx.now()),
            None,
        )),
    }
}

async fn save(
    ctx: &Context,
    ledger: &Ledger,
    version: Option<&Version>,
) -> Result<Version, StoreError> {
    match version {
        Some(v) => ctx.store.save(ledger, v).await,
        None => ctx.store.create(ledger).await,
    }
}

/// Changes the ledger with `change` and records it conditionally, reading again on a
/// conflict. Used by the front doors for requests (scale, rolling restart, pause, ...).
pub async fn update<T>(
    ctx: &Context,
    mut change: impl FnMut(&mut Ledger, OffsetDateTime) -> Result<T, Error>,
) -> Result<(T, Ledger), Error> {
    update_if_changed(ctx, |ledger, now| Ok((change(ledger, now)?, true))).await
}

/// [`update`] for a change that may find nothing to do: `change` says whether it changed
/// the ledger, and nothing is written when it did not.
async fn update_if_changed<T>(
    ctx: &Context,
    mut change: impl FnMut(&mut Ledger, OffsetDateTime) -> Result<(T, bool), Error>,
) -> Result<(T, Ledger), Error> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (mut ledger, version) = load(ctx).await?;
        let (out, changed) = change(&mut ledger, ctx.now())?;
        if !changed {
            return Ok((out, ledger));
        }
        match save(ctx, &ledger, version.as_ref()).await {
            Ok(_) => return Ok((out, ledger)),
            Err(e) if e.is_conflict() && attempt < MAX_CONFLICT_RETRIES => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Requests an operation (see [`plan::request`]).
pub async fn request(ctx: &Context, kind: OperationKind) -> Result<OperationId, Error> {
    request_from(ctx, kind, None).await
}

/// Requests an operation, recording who asked and through which door (see
/// [`plan::request_from`]).
pub async fn request_from(
    ctx: &Context,
    kind: OperationKind,
    origin: Option<Origin>,
) -> Result<OperationId, Error> {
    let config = ctx.config.clone();
    let (id, _) = update(ctx, |ledger, now| {
        Ok(plan::request_from(
            ledger,
            &config,
            kind.clone(),
            now,
            origin.clone(),
        )?)
    })
    .await?;
    Ok(id)
}

/// Observes the cloud for `ledger` (see [`crate::observe::observe`]).
pub async fn observe(ctx: &Context, ledger: &Ledger) -> Result<Observation, Error> {
    crate::observe::observe(
        &ctx.config,
        &ctx.cloud.client,
        ctx.lb.as_deref(),
        Some(ledger),
    )
    .await
}

/// Plans one step without acting or recording (`--dry-run`, `fleetctl plan`).
pub async fn dry_run(ctx: &Context, mode: Mode) -> Result<Plan, Error> {
    let (ledger, _) = load(ctx).await?;
    let obs = observe(ctx, &ledger).await?;
    Ok(plan::plan(&ctx.config, &ledger, &obs, ctx.now(), mode))
}

/// One reconcile step.
pub async fn step(ctx: &Context, mode: Mode) -> Result<StepReport, StepError> {
    step_within(ctx, mode, STEP_BUDGET).await
}

/// How long one step may take by default: well inside an OCI Function's 300 s and the
/// lease's TTL.
pub const STEP_BUDGET: Duration = Duration::from_secs(60);

/// One reconcile step that makes no call after `budget` has passed (an OCI Function passes
/// what is left of its invocation), nor after a tenth of the lease before it ends, and drops
/// a call still running then. A load balancer change is started, not waited for: its
/// work request is recorded and checked by the next step.
pub async fn step_within(
    ctx: &Context,
    mode: Mode,
    budget: Duration,
) -> Result<StepReport, StepError> {
    // The lease is taken below, after the deadline starts: every call ends a tenth of the
    // lease before the lease does.
    let budget = budget.min(ctx.lease_ttl - lease_margin(ctx.lease_ttl));
    let deadline = Deadline::after(ctx.cloud.client.clock().as_ref(), budget);
    let mut attempt = 0;
    loop {
        attempt += 1;
        // The ledger as read stays as it is, to tell a step that changes nothing; the plan
        // works on a copy made after observing (so the copy and the listing are not both
        // held while the listing is read).
        let (read, version) = load_shared(ctx).await?;
        let now = ctx.now();
        let mut lease = read.lease.clone();
        lease.acquire(&ctx.holder, now, ctx.lease_ttl)?;
        let obs = observe(ctx, &read).await?;
        let mut ledger = Ledger::clone(&read);
        ledger.lease = lease;
        let plan = plan::plan_owned(&ctx.config, ledger, &obs, now, mode);
        // What was observed is not needed past the plan (a large fleet's is megabytes).
        drop(obs);
        let Plan {
            ledger: mut planned,
            actions,
            waiting_on,
            notes,
            requeue_after,
        } = plan;
        // A step with no call to make and nothing new to record (a steady fleet) writes
        // nothing, not even its lease: it acts on nothing, so it needs none, and the store is
        // not rewritten whole every step (a ledger of 10,000 instances is megabytes, and
        // every write of a versioned bucket is kept).
        if actions.is_empty() && version.is_some() && read.same_apart_from_lease(&planned) {
            planned.lease = read.lease.clone();
            return Ok(StepReport {
                ledger: planned,
                did: Vec::new(),
                waiting_on,
                notes,
                requeue_after,
            });
        }
        drop(read);
        let version = match save(ctx, &planned, version.as_ref()).await {
            Ok(v) => v,
            Err(e) if e.is_conflict() && attempt < MAX_CONFLICT_RETRIES => continue,
            Err(e) => return Err(e.into()),
        };
        let mut did = Vec::new();
        let mut outcomes = Vec::new();
        let mut waiting_on = waiting_on;
        let mut notes = notes;
        let mut requeue_after = requeue_after;
        let fencing = planned.lease.fencing;
        let stamp: Arc<str> = call_stamp(&ctx.holder, fencing).into();
        let calls = group_calls(ctx, &actions);
        for (k, call) in calls.iter().enumerate() {
            let left = deadline.remaining(ctx.cloud.client.clock().as_ref());
            // A call still running when the budget (at the latest: a tenth of the lease
            // before it ends) is spent is dropped: past the lease, another holder may act.
            let done = if left.is_zero() {
                None
            } else {
                let scope = CallScope {
                    request_id_prefix: stamp.clone(),
                    not_after: Some(deadline.instant()),
                };
                tokio::time::timeout(left, within(scope, act_call(ctx, &actions, call, deadline)))
                    .await
                    .ok()
            };
            let Some((line, outcome)) = done else {
                if !left.is_zero() {
                    let what: Vec<String> = call.iter().map(|i| label(&actions[*i])).collect();
                    did.push(format!("{}: stopped, out of time", what.join(", ")));
                }
                did.push("out of time: the rest waits for the next step".to_string());
                waiting_on.push(format!(
                    "{} call(s) left for the next step: this step ran out of time",
                    calls[k..].iter().map(Vec::len).sum::<usize>()
                ));
                requeue_after = Some(Duration::ZERO);
                // Removals never sent (the call that was cut short may have been) are not
                // left for the next steps to wait on.
                let unsent = if left.is_zero() { k } else { k + 1 };
                outcomes.extend(calls[unsent..].iter().flatten().filter_map(|i| {
                    match &actions[*i] {
                        Action::DeleteBackend { backend } => Some(Outcome::RemovalSettled {
                            backend: backend.as_str().to_string(),
                        }),
                        _ => None,
                    }
                }));
                break;
            };
            did.push(line);
            outcomes.extend(outcome);
        }
        let ledger = if outcomes.is_empty() {
            planned
        } else {
            match record_outcomes(ctx, planned, version, &outcomes, fencing).await? {
                Recorded::Written(ledger) => ledger,
                Recorded::LeaseLost(ledger) => {
                    notes.push(format!(
                        "the lease passed to another holder before this step recorded what its \
                         calls returned (fencing {fencing} -> {}); nothing was written, and the \
                         next step finds their effects in OCI",
                        ledger.lease.fencing
                    ));
                    requeue_after = Some(Duration::ZERO);
                    ledger
                }
            }
        };
        return Ok(StepReport {
            ledger,
            did,
            waiting_on,
            notes,
            requeue_after,
        });
    }
}

/// Releases this process's lease (at the end of a CLI run), so another holder need not
/// wait for it to expire.
pub async fn release(ctx: &Context) -> Result<(), Error> {
    // Nothing to write when this process holds no lease (a step that changed nothing took
    // none).
    update_if_changed(ctx, |ledger, _| Ok(((), ledger.lease.release(&ctx.holder))))
        .await
        .map(|_| ())
}

/// What [`record_outcomes`] did.
enum Recorded {
    /// The outcomes are in the ledger, as written.
    Written(Ledger),
    /// Another holder took the lease since the plan was saved: nothing was written (the
    /// ledger as it is now). The next step finds the calls' effects in OCI, as after a crash.
    LeaseLost(Ledger),
}

/// Records what the calls returned, conditionally on `version` (the plan's). On a conflict
/// it re-reads and applies them to what was written meanwhile, but only while the lease is
/// still this holder's holding period `fencing`: a step whose lease passed to another holder
/// writes nothing more (the fencing check).
async fn record_outcomes(
    ctx: &Context,
    mut ledger: Ledger,
    mut version: Version,
    outcomes: &[Outcome],
    fencing: u64,
) -> Result<Recorded, Error> {
    let mut applied = ledger.clone();
    plan::apply(&mut applied, outcomes, ctx.now());
    let mut attempt = 0;
    loop {
        attempt += 1;
        match ctx.store.save(&applied, &version).await {
            Ok(_) => return Ok(Recorded::Written(applied)),
            Err(e) if e.is_conflict() && attempt < MAX_CONFLICT_RETRIES => {
                // Someone wrote between our two writes (a request: scale, pause): apply the
                // outcomes to what they wrote, if the lease is still ours.
                let (fresh, v) = load(ctx).await?;
                let ours = fresh.lease.fencing == fencing
                    && fresh
                        .lease
                        .held
                        .as_ref()
                        .is_some_and(|h| h.holder == ctx.holder);
                if !ours {
                    tracing::warn!(
                        fencing,
                        now = fresh.lease.fencing,
                        "the lease passed to another holder; this step's outcomes are not written"
                    );
                    return Ok(Recorded::LeaseLost(fresh));
                }
                ledger = fresh;
                let Some(v) = v else {
                    return Err(e.into());
                };
                version = v;
                applied = ledger.clone();
                plan::apply(&mut applied, outcomes, ctx.now());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// How long before its lease ends a step stops its calls: a tenth of the lease, so a
/// request on the wire when it stops reaches OCI before another holder can act.
fn lease_margin(ttl: Duration) -> Duration {
    ttl / 10
}

/// An action in a few words, for a call the step stopped.
fn label(action: &Action) -> String {
    match action {
        Action::Launch { name, .. } => format!("launch {name}"),
        Action::Tag { instance, group } => format!("tag {instance} for group {group}"),
        Action::AddBackend { ip, port, .. } => format!("add backend {ip}:{port}"),
        Action::SetDrain { backend, drain, .. } => format!(
            "{} backend {}",
            if *drain { "drain" } else { "undrain" },
            backend.as_str()
        ),
        Action::DeleteBackend { backend } => format!("remove backend {}", backend.as_str()),
        Action::Terminate { instance } => format!("terminate {instance}"),
        Action::Reboot {
            instance, action, ..
        } => format!("{action} {instance}"),
    }
}

/// Whether an action changes the load balancer's backends.
fn is_backend_change(action: &Action) -> bool {
    matches!(
        action,
        Action::AddBackend { .. } | Action::SetDrain { .. } | Action::DeleteBackend { .. }
    )
}

/// The step's calls, in the plan's order, as indices into `actions`: one action each, except
/// that where the load balancer takes several backend changes in one work request
/// ([`LoadBalancerBackends::batches`]) and the plan has more than one, they go together as
/// one call where the first of them was. A load balancer runs one work request at a time,
/// so a rollout that adds, drains and removes backends for several instances at once would
/// otherwise wait for each change in turn. Removals in a batch were noted in the ledger
/// before acting, as a lone removal is (`plan::Planner::note_removals`).
fn group_calls(ctx: &Context, actions: &[Action]) -> Vec<Vec<usize>> {
    let batches = ctx.lb.as_ref().is_some_and(|lb| lb.batches());
    let changes: Vec<usize> = (0..actions.len())
        .filter(|i| is_backend_change(&actions[*i]))
        .collect();
    if !batches || changes.len() < 2 {
        return (0..actions.len()).map(|i| vec![i]).collect();
    }
    let mut calls = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        if i == changes[0] {
            calls.push(changes.clone());
        } else if !is_backend_change(action) {
            calls.push(vec![i]);
        }
    }
    calls
}

/// Makes one call of [`group_calls`].
async fn act_call(
    ctx: &Context,
    actions: &[Action],
    call: &[usize],
    deadline: Deadline,
) -> (String, Vec<Outcome>) {
    match call {
        [one] => act(ctx, &actions[*one], deadline).await,
        several => {
            let batch: Vec<&Action> = several.iter().map(|i| &actions[*i]).collect();
            act_batch(ctx, &batch, deadline).await
        }
    }
}

/// Several backend changes as one UpdateBackendSet
/// ([`LoadBalancerBackends::start_update_backends`]).
async fn act_batch(ctx: &Context, batch: &[&Action], deadline: Deadline) -> (String, Vec<Outcome>) {
    let settled: Vec<Outcome> = batch
        .iter()
        .filter_map(|a| match a {
            Action::DeleteBackend { backend } => Some(Outcome::RemovalSettled {
                backend: backend.as_str().to_string(),
            }),
            _ => None,
        })
        .collect();
    let Some(lb) = &ctx.lb else {
        return ("no load balancer".to_string(), settled);
    };
    let mut operation = None;
    let changes: Vec<BackendChange> = batch
        .iter()
        .filter_map(|a| match a {
            Action::AddBackend {
                operation: op,
                ip,
                port,
                weight,
                ..
            } => {
                operation.get_or_insert(op);
                Some(BackendChange::Add(NewBackend::serving(*ip, *port, *weight)))
            }
            Action::SetDrain {
                operation: op,
                backend,
                drain,
                ..
            } => {
                operation.get_or_insert(op);
                Some(BackendChange::SetDrain {
                    backend: backend.clone(),
                    drain: *drain,
                })
            }
            Action::DeleteBackend { backend } => Some(BackendChange::Remove(backend.clone())),
            _ => None,
        })
        .collect();
    let what = format!(
        "update backend set ({})",
        changes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Derived from what the batch does: a batch planned again after a lost answer is the
    // same request. A batch whose work request FAILED is planned again too; it is sent under
    // a token derived from the failed work request, or OCI would replay the failure forever
    // ([`start_lb_change`]).
    let token_op = operation
        .cloned()
        .or_else(|| OperationId::parse("lb-sync").ok())
        .unwrap_or_else(OperationId::random);
    // A batch whose work request FAILED is sent again under a new token (see
    // `start_lb_change`).
    let r = start_lb_change(lb.as_ref(), "backend-set", &token_op, &what, |t| {
        let changes = &changes;
        async move { lb.start_update_backends(changes, &t, deadline).await }
    })
    .await;
    // As for a lone removal: only an answer that proves nothing was applied (a refusal on
    // the first attempt) or an accepted update settles the removals in the batch.
    let known = match &r {
        Ok(_) => true,
        Err(e) => {
            e.oci()
                .and_then(OciError::service)
                .is_some_and(|s| s.attempts == 1 && (400..500).contains(&s.status))
                || matches!(e, crate::oci::backends::LbError::Busy { source: None, .. })
        }
    };
    let (line, outcome) = lb_line(what, r.map(Some));
    let mut outcomes: Vec<Outcome> = outcome.into_iter().collect();
    if known {
        outcomes.extend(settled);
    }
    (line, outcomes)
}

/// The prefix of the `opc-request-id` of every call a step makes
/// ([`crate::oci::client::CallScope`]): `F<fencing>-<holder>`, the holder as the
/// 8 upper-case hex digits of its FNV-1a hash (a holder id is longer than a request id may be,
/// and names a host). A request log thus names the holding period of every call.
pub fn call_stamp(holder: &HolderId, fencing: u64) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for b in holder.as_str().bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    format!("F{fencing}-{hash:08X}")
}

fn token(purpose: &str, op: &OperationId, slot: u32) -> RetryToken {
    RetryToken::derive(purpose, op, &slot.to_string())
}

/// The most load-balancer work requests one change is started with, each after the last
/// FAILED.
const MAX_LB_ATTEMPTS: usize = 8;

/// Starts a backend change with the retry token of `purpose`, the operation and `key` (the
/// slot and the backend's name: a step's slot may change another backend after it was
/// resumed, and the same token for a different request is refused, 409
/// InvalidatedRetryToken, found by the fault suite).
///
/// OCI answers a token it has seen with the original answer: the same work request. When
/// that work request FAILED (the change was not made: a load balancer's internal error), the
/// change would never be made again under that token, so it is started again under a token
/// derived from the failed work request. A retried or resumed step walks the same chain of
/// tokens (each replays its work request) and reaches the attempt in flight, never a second
/// one. Found by the fault suite (issue 12): with work requests failing, a rolling restart
/// replayed one failed drain forever.
async fn start_lb_change<F, Fut>(
    lb: &dyn LoadBalancerBackends,
    purpose: &str,
    op: &OperationId,
    key: &str,
    mut start: F,
) -> Result<MutationStarted, crate::oci::backends::LbError>
where
    F: FnMut(RetryToken) -> Fut,
    Fut: std::future::Future<Output = Result<MutationStarted, crate::oci::backends::LbError>>,
{
    let mut attempt = RetryToken::derive(purpose, op, key);
    let mut tries = 0;
    loop {
        tries += 1;
        let started = start(attempt).await?;
        if tries >= MAX_LB_ATTEMPTS {
            return Ok(started);
        }
        match lb.check_work_request(&started.work_request).await {
            Ok(check) if matches!(check.state, WorkRequestState::Failed { .. }) => {
                attempt = RetryToken::derive(
                    purpose,
                    op,
                    &format!("{key}-{}", started.work_request.as_str()),
                );
            }
            _ => return Ok(started),
        }
    }
}

/// Makes one call; returns a line for the report and what the ledger must learn.
/// Makes one call; returns its line for the report and what the ledger must learn of it.
async fn act(ctx: &Context, action: &Action, deadline: Deadline) -> (String, Vec<Outcome>) {
    match action {
        Action::DeleteBackend { backend } => {
            let settled = Outcome::RemovalSettled {
                backend: backend.as_str().to_string(),
            };
            let Some(lb) = &ctx.lb else {
                return ("no load balancer".to_string(), vec![settled]);
            };
            let r = lb.start_delete_backend(backend, deadline).await;
            // Only an answer that proves nothing was applied settles a failed removal: a
            // refusal on the first attempt. A timeout, a dropped connection or a retried
            // call may have removed it; the next steps find out (see
            // `plan::UNCONFIRMED_REMOVAL_WAIT`).
            let known = match &r {
                Ok(_) => true,
                Err(e) => e
                    .oci()
                    .and_then(OciError::service)
                    .is_some_and(|s| s.attempts == 1 && (400..500).contains(&s.status)),
            };
            let (line, outcome) = lb_line(
                format!("remove backend {}", backend.as_str()),
                r.map(|d| match d {
                    DeleteStarted::Started(m) => Some(m),
                    DeleteStarted::AlreadyAbsent { .. } => None,
                }),
            );
            let mut outcomes: Vec<Outcome> = outcome.into_iter().collect();
            if known {
                outcomes.push(settled);
            }
            (line, outcomes)
        }
        other => {
            let (line, outcome) = act_other(ctx, other, deadline).await;
            (line, outcome.into_iter().collect())
        }
    }
}

async fn act_other(
    ctx: &Context,
    action: &Action,
    deadline: Deadline,
) -> (String, Option<Outcome>) {
    match action {
        Action::Launch {
            operation,
            slot,
            group,
            name,
            launch,
            digest,
        } => {
            let Some(g) = ctx.config.spec.instances.iter().find(|g| &g.name == group) else {
                return (
                    format!("launch {name}: group {group} is not in the fleet file"),
                    Some(Outcome::StepFailed {
                        operation: operation.clone(),
                        slot: *slot,
                        reason: format!("{name}: group {group} is not in the fleet file any more"),
                    }),
                );
            };
            let tags = FleetTags::new(
                ctx.config.metadata.name.clone(),
                group.clone(),
                operation.clone(),
                *slot,
            );
            let details = cloud::launch_details_from(&ctx.config, launch, g, &tags);
            match compute::launch_instance(
                &ctx.cloud.client,
                &details,
                &token("launch", operation, *slot),
            )
            .await
            {
                Ok(inst) => (
                    format!("launched {name} ({})", inst.id),
                    Some(Outcome::Launched {
                        operation: operation.clone(),
                        slot: *slot,
                        instance: inst.id,
                        name: name.clone(),
                        group: group.clone(),
                        private_ip: None,
                        launch_digest: Some(digest.clone()),
                    }),
                ),
                Err(e) => {
                    let line = format!("launch {name} failed: {}", chain(&e));
                    let outcome = if is_step_failure(&e) {
                        Outcome::StepFailed {
                            operation: operation.clone(),
                            slot: *slot,
                            reason: format!("{name}: launch refused: {}", chain(&e)),
                        }
                    } else {
                        Outcome::Transient {
                            reason: line.clone(),
                        }
                    };
                    (line, Some(outcome))
                }
            }
        }
        Action::AddBackend {
            operation,
            slot,
            instance,
            ip,
            port,
            weight,
        } => {
            let Some(lb) = &ctx.lb else {
                return ("no load balancer".to_string(), None);
            };
            let backend = NewBackend::serving(*ip, *port, *weight);
            let key = format!("{slot}-{}", backend.name().as_str());
            let r = start_lb_change(lb.as_ref(), "add-backend", operation, &key, |t| {
                let backend = &backend;
                async move { lb.start_create_backend(backend, &t, deadline).await }
            })
            .await;
            lb_line(
                format!("add backend {} for {instance}", backend.name()),
                r.map(Some),
            )
        }
        Action::SetDrain {
            operation,
            slot,
            backend,
            drain,
        } => {
            let Some(lb) = &ctx.lb else {
                return ("no load balancer".to_string(), None);
            };
            let purpose = if *drain { "drain" } else { "undrain" };
            let update = BackendUpdate::drain(*drain);
            let key = format!("{slot}-{}", backend.as_str());
            let r = start_lb_change(lb.as_ref(), purpose, operation, &key, |t| {
                let update = &update;
                async move { lb.start_update_backend(backend, update, &t, deadline).await }
            })
            .await;
            lb_line(
                format!("{purpose} backend {}", backend.as_str()),
                r.map(Some),
            )
        }
        // `act` sends removals itself: their answer also settles the ledger's note.
        Action::DeleteBackend { .. } => (label(action), None),
        Action::Tag { instance, group } => {
            let what = format!("tag {instance} for group {group}");
            match tag_for_fleet(ctx, instance, group).await {
                Ok(line) => (format!("{what}: {line}"), None),
                Err(e) => {
                    let line = format!("{what} failed: {}", chain(&e));
                    (line.clone(), Some(Outcome::Transient { reason: line }))
                }
            }
        }
        Action::Terminate { instance } => {
            match compute::terminate_instance(&ctx.cloud.client, instance).await {
                Ok(()) => (format!("terminate {instance}"), None),
                Err(e) if e.is_not_found() => (format!("terminate {instance}: already gone"), None),
                Err(e) => {
                    let line = format!("terminate {instance} failed: {}", chain(&e));
                    (line.clone(), Some(Outcome::Transient { reason: line }))
                }
            }
        }
        Action::Reboot {
            operation,
            slot,
            instance,
            action,
        } => {
            let purpose = match action {
                InstanceAction::Reset => "reset",
                _ => "softreset",
            };
            match compute::instance_action(
                &ctx.cloud.client,
                instance,
                *action,
                &token(purpose, operation, *slot),
            )
            .await
            {
                Ok(_) => (
                    format!("{action} {instance}"),
                    Some(Outcome::RebootAccepted {
                        operation: operation.clone(),
                        slot: *slot,
                    }),
                ),
                Err(e) => {
                    let line = format!("{action} {instance} failed: {}", chain(&e));
                    (line.clone(), Some(Outcome::Transient { reason: line }))
                }
            }
        }
    }
}

fn lb_line(
    what: String,
    r: Result<Option<MutationStarted>, crate::oci::backends::LbError>,
) -> (String, Option<Outcome>) {
    match r {
        Ok(None) => (format!("{what}: already done"), None),
        Ok(Some(started)) => (
            format!("{what} (work request {})", started.work_request.as_str()),
            Some(Outcome::LbChangeStarted {
                work_request: started.work_request.as_str().to_string(),
                what,
            }),
        ),
        Err(e) => {
            let line = format!("{what} failed: {}", chain(&e));
            (line.clone(), Some(Outcome::Transient { reason: line }))
        }
    }
}

/// Tags an adopted instance for the fleet: reads it (tags and ETag), and unless it already
/// carries the fleet tag, writes its own tags plus the fleet's and the group's, only if it did
/// not change since the read (`if-match`; a 412 leaves it for the next step, which reads it
/// again). An instance that meanwhile got another fleet's tag is left alone.
async fn tag_for_fleet(
    ctx: &Context,
    instance: &InstanceId,
    group: &GroupName,
) -> Result<&'static str, OciError> {
    let client = &ctx.cloud.client;
    let fleet = &ctx.config.metadata.name;
    let (current, etag) = compute::get_instance_with_etag(client, instance).await?;
    let tags = current.fleet_tags();
    if tags.belongs_to(fleet) {
        return Ok("already tagged");
    }
    if tags.fleet.is_some() {
        return Ok("tagged for another fleet meanwhile; left alone");
    }
    let wanted = crate::oci::tags::adoption_tags(&current.freeform_tags, fleet, group);
    compute::update_instance_freeform_tags(client, instance, &wanted, etag.as_deref()).await?;
    Ok("tagged")
}

/// Errors that no retry fixes: the step fails (and the operation pauses).
fn is_step_failure(e: &OciError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::OutOfHostCapacity
            | ErrorKind::LimitExceeded
            | ErrorKind::BadRequest
            | ErrorKind::NotFound
            | ErrorKind::Auth
    )
}

/// An error and its causes on one line.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
