//! The planner: a pure function from (fleet file, ledger, observation, now) to what one
//! reconcile step records and does.
//!
//! Nothing here reads a clock, the network or a file: every input is an argument, so the
//! judgment of the product (which instance to launch, drain, terminate or reboot, and when)
//! is table-tested without I/O. The reconcile step (`ops`) records the planned ledger, runs
//! the [`Action`]s and records what they returned with [`apply`].
//!
//! # Expected flow of one step
//! 1. [`plan`] brings the ledger's records up to date with what OCI shows (an instance the
//!    ledger does not know but tagged for the fleet is adopted; an active record whose
//!    instance is gone becomes `missing`);
//! 2. it starts an operation when none is active: the head of the scale queue, or, with
//!    [`Mode::Control`], the control loop's repair (`target = max(desired, active)`);
//! 3. it advances every in-flight step of the active operation by one phase where what it
//!    observes allows, starts new steps within the rollout limits, and returns the calls that
//!    make the phase true in OCI;
//! 4. it finishes, pauses or cancels the operation.
//!
//! # Guarantees
//! - Every action is idempotent: a launch carries the retry token of its operation and slot,
//!   and the instance it creates carries them as tags, so a launch whose answer was lost is
//!   found by the next step and never repeated; a drain, a backend removal and a termination
//!   are only asked for when what OCI shows says they are still needed.
//! - During a rolling restart the backends that are healthy and in service never drop below
//!   `desired - maxUnavailable` because of fleetctl: a step takes an instance out of service
//!   only when enough others are healthy.
//! - An instance is drained and removed from the load balancer before it is terminated.
//! - The control loop ([`Mode::Control`]) only launches: its repair fills the groups below
//!   their share of `target = max(desired, active)` and never drains or terminates an
//!   instance, even one in a group above its share.
//! - A failing replacement (launch refused, never healthy) pauses the operation instead of
//!   touching more instances; the old instance keeps serving.

use std::collections::{BTreeMap, BTreeSet};

// foldhash: the planner indexes every record and instance by OCID each step.
use foldhash::{HashMap, HashMapExt as _, HashSet, HashSetExt as _};
use std::net::IpAddr;
use std::time::Duration;

use time::OffsetDateTime;

use crate::cloud;
use crate::config::{CheckpointWaitSpec, FleetConfig, GroupName, RebootAction, RolloutStrategy};
use crate::ids::InstanceId;
use crate::observe::Observation;
use crate::oci::backends::{Backend, BackendName, HealthStatus};
use crate::oci::compute::{InstanceAction, InstanceLifecycleState, ListedInstance};
use crate::oci::workrequest::WorkRequestState;
use crate::store::ledger::{
    Checkpoint, CheckpointVerdict, CheckpointWait, Door, Event, EventLevel, InstanceRecord,
    LaunchSpec, Ledger, MAX_REVISIONS, Operation, OperationId, OperationKind, OperationStatus,
    OperationSummary, Origin, PendingWorkRequest, RecordState, Revision, RolloutLimits,
    RolloutUpdate, ScaleRequest, Step, StepAction, StepPhase, StepStatus, Timestamp, UNKNOWN_FIELD,
    UnconfirmedRemoval, UpdateReason, step_totals,
};

/// How many failed steps pause an operation. One: a replacement that fails is a signal (a
/// bad image, no capacity) that more replacements would fail the same way, and a paused
/// rollout keeps every old instance serving.
pub const FAILURE_BUDGET: usize = 1;

/// The most launches one step sends. Bigger scale-ups take several steps; this keeps one
/// step's calls within OCI's rate limits and a function's time.
pub const MAX_LAUNCHES_PER_STEP: usize = 20;

/// How long a reboot may take before a soft reset is followed by a hard `RESET`, and a
/// `RESET` by a failed step.
pub const REBOOT_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a load balancer work request may stay unfinished before steps stop waiting for
/// it. OCI applies a backend change in seconds to a few minutes.
pub const STUCK_WORK_REQUEST: Duration = Duration::from_secs(900);

/// How long a backend removal that an earlier step may have sent (it stopped before it
/// recorded the answer) is waited for, where the load balancer cannot list its work
/// requests (NLB), before it is sent again. Where it can (classic), the answer is exact:
/// while any of its work requests runs, wait; when none does and the backend is still
/// there, the removal never took effect.
pub const UNCONFIRMED_REMOVAL_WAIT: Duration = Duration::from_secs(300);

/// Whether the step may start the control loop's repairs on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only advance what was asked for (the CLI running one operation).
    Operation,
    /// Also start the control loop's repairs when nothing else runs (`serve`, `reconcile`).
    Control,
}

/// One call the reconcile step makes. Fully specified: the executor chooses nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Launch `name` in `group` for `operation`'s `slot` (tags and retry token from those).
    Launch {
        operation: OperationId,
        slot: u32,
        group: GroupName,
        name: String,
        /// The launch details (the operation's revision).
        launch: Box<LaunchSpec>,
        /// `launch`'s digest for `group`, recorded with the instance.
        digest: String,
    },
    /// Add the backend `ip:port` for `instance`.
    AddBackend {
        operation: OperationId,
        slot: u32,
        instance: InstanceId,
        ip: IpAddr,
        port: u16,
        weight: u32,
    },
    /// Drain (or undrain) a backend.
    SetDrain {
        operation: OperationId,
        slot: u32,
        backend: BackendName,
        drain: bool,
    },
    /// Remove a backend.
    DeleteBackend { backend: BackendName },
    /// Terminate an instance.
    Terminate { instance: InstanceId },
    /// Give an instance the record has but OCI shows without a fleet tag (adopted by
    /// `sync --adopt-untagged`) the fleet's and `group`'s tags, keeping its own; never one
    /// tagged for another fleet.
    Tag {
        instance: InstanceId,
        group: GroupName,
    },
    /// Soft reset or reset an instance.
    Reboot {
        operation: OperationId,
        slot: u32,
        instance: InstanceId,
        action: InstanceAction,
    },
}

/// What one step decided: the ledger to record before acting, the calls, and what it waits
/// on.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The ledger as it should be recorded (before the actions run).
    pub ledger: Ledger,
    /// The calls to make, in order.
    pub actions: Vec<Action>,
    /// What the step waits on, one line each ("web-3: waiting for backend health OK, 40 s so
    /// far").
    pub waiting_on: Vec<String>,
    /// Notes for the user (resolved limits, warnings).
    pub notes: Vec<String>,
    /// When the next step is useful; `None` when nothing is in progress.
    pub requeue_after: Option<Duration>,
}

/// What a launch returned, for [`apply`].
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The launch of `operation`'s `slot` created (or found) `instance`.
    Launched {
        operation: OperationId,
        slot: u32,
        instance: InstanceId,
        name: String,
        group: GroupName,
        private_ip: Option<IpAddr>,
        /// The digest of the launch details it was launched from.
        launch_digest: Option<String>,
    },
    /// A call for `operation`'s `slot` failed for good (no capacity, a limit, a bad request):
    /// the step fails.
    StepFailed {
        operation: OperationId,
        slot: u32,
        reason: String,
    },
    /// OCI accepted the reboot of `operation`'s `slot`: the instance is on its way down, so
    /// RUNNING and healthy again mean it came back.
    RebootAccepted { operation: OperationId, slot: u32 },
    /// OCI accepted a load balancer change; its work request is checked by later steps.
    LbChangeStarted { work_request: String, what: String },
    /// A call failed in a way the next step retries (throttling, a network error).
    Transient { reason: String },
    /// The answer to the removal of `backend` is known (accepted, already gone, refused, or
    /// never sent): it is no longer an unconfirmed removal.
    RemovalSettled { backend: String },
}

/// A rolling restart's limits for a fleet of `desired`: `maxSurge` rounded up and
/// `maxUnavailable` rounded down, as percentages of `desired`, then made safe.
///
/// Rules (in this order):
/// 1. never more unavailable than `desired - 1`: one instance always serves;
/// 2. fleets of 1 to 3 instances are never rounded into downtime: `maxUnavailable` is 0 and
///    `maxSurge` at least 1 (a replacement is healthy before the old instance goes);
/// 3. both 0 (e.g. `maxSurge: 0`, `maxUnavailable: 10%` of 5) would never progress: `maxSurge`
///    becomes 1;
/// 4. `reboot` cannot surge: it takes instances out of service, so `maxUnavailable` is at
///    least 1 and `maxSurge` 0 (a fleet of one cannot be rebooted without downtime, see
///    [`check_rolling_restart`]).
pub fn resolve_limits(
    config: &FleetConfig,
    desired: u32,
    strategy: RolloutStrategy,
) -> RolloutLimits {
    let total = u64::from(desired);
    let to_u32 = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let mut surge = to_u32(config.spec.rollout.max_surge.resolve_up(total));
    let mut unavailable = to_u32(config.spec.rollout.max_unavailable.resolve_down(total));
    unavailable = unavailable.min(desired.saturating_sub(1));
    match strategy {
        RolloutStrategy::Replace => {
            if desired <= 3 {
                unavailable = 0;
                surge = surge.max(1);
            }
            if surge == 0 && unavailable == 0 {
                surge = 1;
            }
        }
        RolloutStrategy::Reboot => {
            surge = 0;
            unavailable = unavailable.max(1).min(desired.saturating_sub(1).max(1));
        }
    }
    RolloutLimits {
        desired,
        max_surge: surge,
        max_unavailable: unavailable,
    }
}

/// Why a rolling restart cannot start, if it cannot.
pub fn check_rolling_restart(active: u32, strategy: RolloutStrategy) -> Result<(), String> {
    if strategy == RolloutStrategy::Reboot && active == 1 {
        return Err(
            "a rolling reboot of a fleet of one instance takes the fleet down; use \
                    `--strategy replace` (it starts the new instance before the old one stops)"
                .to_string(),
        );
    }
    Ok(())
}

/// How a total is spread across the groups: in proportion to their configured counts, by
/// largest remainder (ties go to the group listed first); when every count is 0, evenly,
/// the remainder to the groups listed first. A total equal to the sum of the counts gives
/// exactly the counts.
pub fn distribute(config: &FleetConfig, total: u32) -> BTreeMap<GroupName, u32> {
    let groups = &config.spec.instances;
    let mut out = BTreeMap::new();
    if groups.is_empty() {
        return out;
    }
    let weights: Vec<u64> = if groups.iter().all(|g| g.count == 0) {
        vec![1; groups.len()]
    } else {
        groups.iter().map(|g| u64::from(g.count)).collect()
    };
    let sum: u64 = weights.iter().sum();
    let total64 = u64::from(total);
    let mut shares: Vec<(usize, u64, u64)> = weights
        .iter()
        .enumerate()
        .map(|(i, w)| (i, total64 * w / sum, total64 * w % sum))
        .collect();
    let given: u64 = shares.iter().map(|s| s.1).sum();
    let mut left = total64 - given;
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|a, b| shares[*b].2.cmp(&shares[*a].2).then(a.cmp(b)));
    for i in order {
        if left == 0 {
            break;
        }
        shares[i].1 += 1;
        left -= 1;
    }
    for (i, share, _) in shares {
        out.insert(
            groups[i].name.clone(),
            u32::try_from(share).unwrap_or(u32::MAX),
        );
    }
    out
}

/// The control loop's target: the fleet file's total, or more when the ledger already has
/// more active instances (never scale down on its own).
pub fn control_target(config: &FleetConfig, ledger: &Ledger) -> u32 {
    let desired = u32::try_from(config.total_instances()).unwrap_or(u32::MAX);
    desired.max(active_count(ledger))
}

/// Active records: launching, running, draining, rebooting (not terminating or gone).
pub fn active_count(ledger: &Ledger) -> u32 {
    u32::try_from(ledger.records.iter().filter(|r| is_active(r)).count()).unwrap_or(u32::MAX)
}

/// Whether a record is active (launching, running, draining, rebooting).
pub fn is_active_record(r: &InstanceRecord) -> bool {
    is_active(r)
}

fn is_active(r: &InstanceRecord) -> bool {
    matches!(
        r.state,
        RecordState::Launching
            | RecordState::Running
            | RecordState::Draining
            | RecordState::Rebooting
    )
}

/// Records the fleet file's launch details as a new revision when they differ from the
/// newest one the ledger has seen (with the fields that changed and an event), and returns
/// the current revision's number. A file changed back to earlier launch details is a new
/// revision too (history is linear, as kubectl's). Beyond [`MAX_REVISIONS`], the oldest
/// revisions no live instance and no operation uses are dropped.
pub fn note_revision(ledger: &mut Ledger, config: &FleetConfig, now: OffsetDateTime) -> u32 {
    let launch = cloud::launch_spec(config);
    let digest = launch.digest();
    if let Some(last) = ledger.revisions.last()
        && last.digest == digest
    {
        return last.number;
    }
    let (number, changed) = match ledger.revisions.last() {
        Some(last) => (
            last.number.saturating_add(1),
            last.launch.differences(&launch, None),
        ),
        None => (1, Vec::new()),
    };
    let message = if changed.is_empty() {
        format!("fleet file revision {number} ({digest})")
    } else {
        format!(
            "fleet file revision {number} ({digest}): {} changed",
            changed.join(", ")
        )
    };
    ledger.revisions.push(Revision {
        number,
        digest,
        seen: Timestamp::new(now),
        changed,
        launch,
    });
    if number > 1 {
        push(ledger, now, EventLevel::Info, message, None, None);
    }
    trim_revisions(ledger);
    number
}

/// Drops the oldest revisions beyond [`MAX_REVISIONS`] that nothing uses (a live record's
/// digest, the operation's revision or rollback target, the newest).
fn trim_revisions(ledger: &mut Ledger) {
    if ledger.revisions.len() <= MAX_REVISIONS {
        return;
    }
    let digests: HashSet<&str> = ledger
        .live_records()
        .filter_map(|r| r.launch_digest.as_deref())
        .collect();
    let pinned: BTreeSet<u32> = ledger
        .operation
        .iter()
        .filter(|o| !o.status.is_finished())
        .flat_map(|o| o.revision.into_iter().chain(o.rollback_to))
        .collect();
    let newest = ledger.revisions.last().map(|r| r.number);
    let mut excess = ledger.revisions.len() - MAX_REVISIONS;
    let keep: Vec<bool> = ledger
        .revisions
        .iter()
        .map(|rev| {
            let used = Some(rev.number) == newest
                || pinned.contains(&rev.number)
                || rev
                    .launch
                    .subnets
                    .keys()
                    .any(|g| digests.contains(rev.launch.group_digest(g).as_str()));
            if excess > 0 && !used {
                excess -= 1;
                false
            } else {
                true
            }
        })
        .collect();
    let mut k = keep.into_iter();
    ledger.revisions.retain(|_| k.next().unwrap_or(true));
}

/// How records compare with a target's launch details: up to date (same digest), or
/// outdated with the names of the differing fields (from the revision the record's digest
/// belongs to; [`UNKNOWN_FIELD`] when the digest is not known or its revision was dropped).
/// Built once per use, so a fleet of thousands costs one digest per group and revision.
#[derive(Debug, Clone)]
pub struct Freshness {
    current: HashMap<GroupName, String>,
    /// (group, digest) of a kept revision -> (its number, the fields that differ).
    known: HashMap<(GroupName, String), (u32, Vec<String>)>,
}

impl Freshness {
    /// Against `target` (the fleet file's launch details, or a revision's).
    pub fn new(ledger: &Ledger, target: &LaunchSpec) -> Self {
        let mut groups: BTreeSet<&GroupName> = target.subnets.keys().collect();
        groups.extend(ledger.live_records().map(|r| &r.group));
        let current = groups
            .iter()
            .map(|g| ((*g).clone(), target.group_digest(g)))
            .collect();
        let mut known = HashMap::new();
        for rev in &ledger.revisions {
            for g in &groups {
                known.insert(
                    ((*g).clone(), rev.launch.group_digest(g)),
                    (rev.number, rev.launch.differences(target, Some(g))),
                );
            }
        }
        Freshness { current, known }
    }

    /// The fields in which `r`'s launch details differ from the target's: empty when it is
    /// up to date.
    pub fn fields(&self, r: &InstanceRecord) -> Vec<String> {
        let Some(d) = r.launch_digest.as_deref() else {
            return vec![UNKNOWN_FIELD.to_string()];
        };
        if self.current.get(&r.group).map(String::as_str) == Some(d) {
            return Vec::new();
        }
        match self.known.get(&(r.group.clone(), d.to_string())) {
            Some((_, fields)) if !fields.is_empty() => fields.clone(),
            // Same launch details under another digest cannot happen; kept safe.
            Some(_) => Vec::new(),
            None => vec![UNKNOWN_FIELD.to_string()],
        }
    }

    /// Whether `r` is outdated.
    pub fn is_outdated(&self, r: &InstanceRecord) -> bool {
        !self.fields(r).is_empty()
    }

    /// The revision `r` was launched from, when the ledger keeps it.
    pub fn revision_of(&self, r: &InstanceRecord) -> Option<u32> {
        let d = r.launch_digest.as_deref()?;
        self.known
            .get(&(r.group.clone(), d.to_string()))
            .map(|(n, _)| *n)
    }
}

/// The launch details of revision `number` if the ledger keeps it, else the fleet file's.
pub fn launch_of(config: &FleetConfig, ledger: &Ledger, number: Option<u32>) -> LaunchSpec {
    number
        .and_then(|n| ledger.revision(n))
        .map(|r| r.launch.clone())
        .unwrap_or_else(|| cloud::launch_spec(config))
}

/// One active instance a rolling update would replace, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutdatedInstance {
    /// The instance.
    pub instance: InstanceId,
    /// Its name.
    pub name: String,
    /// The fields that differ ([`UNKNOWN_FIELD`] when not known).
    pub fields: Vec<String>,
}

/// The active instances whose launch details differ from the fleet file's, oldest first:
/// what `fleetctl rollout` replaces.
pub fn outdated(config: &FleetConfig, ledger: &Ledger) -> Vec<OutdatedInstance> {
    outdated_against(ledger, &cloud::launch_spec(config))
}

fn outdated_against(ledger: &Ledger, target: &LaunchSpec) -> Vec<OutdatedInstance> {
    let fresh = Freshness::new(ledger, target);
    let mut active: Vec<&InstanceRecord> = ledger.records.iter().filter(|r| is_active(r)).collect();
    active.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
    active
        .into_iter()
        .filter_map(|r| {
            let fields = fresh.fields(r);
            (!fields.is_empty()).then(|| OutdatedInstance {
                instance: r.instance_id.clone(),
                name: r.name.to_string(),
                fields,
            })
        })
        .collect()
}

/// The rolling update `fleetctl rollout` asks for: replace the instances whose launch
/// details differ from the fleet file's (revision 0 stands for the fleet file's revision,
/// which [`request`] resolves).
pub fn rollout_kind() -> OperationKind {
    OperationKind::RollingRestart {
        strategy: RolloutStrategy::Replace,
        reboot_action: None,
        update: Some(RolloutUpdate {
            revision: 0,
            reason: UpdateReason::Rollout,
        }),
    }
}

/// The rolling update `fleetctl rollout undo [--to-revision R]` asks for: back to revision
/// `to`, by default the one before the fleet file's current revision.
///
/// # Errors
/// [`RequestError::Refused`] when the ledger does not keep that revision (or there is no
/// earlier one).
pub fn undo_kind(
    ledger: &Ledger,
    config: &FleetConfig,
    to: Option<u32>,
) -> Result<OperationKind, RequestError> {
    let current = cloud::launch_spec(config).digest();
    let target = match to {
        Some(n) => ledger.revision(n).map(|r| r.number).ok_or_else(|| {
            RequestError::Refused(format!(
                "revision {n} is not in the ledger; `fleetctl rollout history` lists the kept revisions"
            ))
        })?,
        None => {
            let at = ledger
                .revisions
                .iter()
                .rposition(|r| r.digest == current)
                .unwrap_or(ledger.revisions.len());
            at.checked_sub(1)
                .and_then(|i| ledger.revisions.get(i))
                .map(|r| r.number)
                .ok_or_else(|| {
                    RequestError::Refused(
                        "no earlier revision to undo to; `fleetctl rollout history` lists the kept revisions"
                            .to_string(),
                    )
                })?
        }
    };
    Ok(OperationKind::RollingRestart {
        strategy: RolloutStrategy::Replace,
        reboot_action: None,
        update: Some(RolloutUpdate {
            revision: target,
            reason: UpdateReason::Undo,
        }),
    })
}

/// Requests an operation from a front door (CLI, API): starts it now when nothing runs, or
/// queues it. Returns the operation's id.
///
/// # Supersession (desired state wins)
/// - a scale is queued (FIFO); the step starts the head when no operation runs, and a paused
///   operation is cancelled for it (its in-flight steps finish first);
/// - a rolling restart or sync replaces a paused operation at once (cancelled), and is
///   refused while another operation runs (pause or abort it first).
pub fn request(
    ledger: &mut Ledger,
    config: &FleetConfig,
    kind: OperationKind,
    now: OffsetDateTime,
) -> Result<OperationId, RequestError> {
    request_from(ledger, config, kind, now, None)
}

/// [`request`] with who asked and through which door (kept in the history).
pub fn request_from(
    ledger: &mut Ledger,
    config: &FleetConfig,
    mut kind: OperationKind,
    now: OffsetDateTime,
    origin: Option<Origin>,
) -> Result<OperationId, RequestError> {
    let id = OperationId::random();
    let current = note_revision(ledger, config, now);
    if let OperationKind::RollingRestart {
        strategy,
        update: Some(u),
        ..
    } = &mut kind
    {
        if *strategy != RolloutStrategy::Replace {
            return Err(RequestError::Refused(
                "a rolling update replaces instances; the reboot strategy cannot change launch details"
                    .to_string(),
            ));
        }
        if u.revision == 0 {
            u.revision = current;
        }
        if ledger.revision(u.revision).is_none() {
            return Err(RequestError::Refused(format!(
                "revision {} is not in the ledger",
                u.revision
            )));
        }
    }
    if let OperationKind::Scale { desired } = kind {
        ledger.scale_queue.push_back(ScaleRequest {
            id: id.clone(),
            desired,
            requested: Timestamp::new(now),
            origin,
        });
        push(
            ledger,
            now,
            EventLevel::Info,
            format!("scale to {desired} queued"),
            Some(&id),
            None,
        );
        return Ok(id);
    }
    if let Some(op) = &ledger.operation
        && !op.status.is_finished()
    {
        if op.status == OperationStatus::Paused && !has_in_flight(op) {
            let old = op.id.clone();
            finish(
                ledger,
                OperationStatus::Cancelled,
                now,
                Some("superseded by a newer request"),
            );
            push(
                ledger,
                now,
                EventLevel::Warning,
                format!("paused operation {old} cancelled: superseded by a newer request"),
                Some(&old),
                None,
            );
        } else {
            return Err(RequestError::Busy {
                operation: op.id.clone(),
                kind: op.kind.as_str(),
                status: op.status.as_str(),
            });
        }
    }
    if let OperationKind::RollingRestart { strategy, .. } = &kind {
        check_rolling_restart(active_count(ledger), *strategy).map_err(RequestError::Refused)?;
    }
    start(
        ledger,
        config,
        id.clone(),
        kind,
        now,
        Start::Requested(origin),
    );
    Ok(id)
}

/// The rolling restart a request asks for: `strategy`, else the fleet file's
/// `spec.rollout.strategy`; a reboot carries the fleet file's `rebootAction`.
pub fn rolling_restart_kind(
    config: &FleetConfig,
    strategy: Option<RolloutStrategy>,
) -> OperationKind {
    let strategy = strategy.unwrap_or(config.spec.rollout.strategy);
    OperationKind::RollingRestart {
        strategy,
        reboot_action: (strategy == RolloutStrategy::Reboot)
            .then_some(config.spec.rollout.reboot_action),
        update: None,
    }
}

/// Why a request was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Another operation runs.
    #[error(
        "operation {operation} ({kind}) is {status}; pause or abort it first, or wait for it to finish"
    )]
    Busy {
        operation: OperationId,
        kind: &'static str,
        status: &'static str,
    },
    /// The request cannot work on this fleet.
    #[error("{0}")]
    Refused(String),
    /// Nothing to pause, resume or abort.
    #[error("no operation is {0}")]
    Nothing(&'static str),
}

impl From<RequestError> for crate::Error {
    /// A request the ledger's state refuses: nothing was recorded.
    fn from(e: RequestError) -> Self {
        crate::Error::Refused(e.to_string())
    }
}

/// `pause`: the running operation starts no more steps; those in flight finish.
pub fn pause(ledger: &mut Ledger, reason: &str, now: OffsetDateTime) -> Result<(), RequestError> {
    let op = ledger
        .operation
        .as_mut()
        .filter(|o| o.status == OperationStatus::Running)
        .ok_or(RequestError::Nothing("running"))?;
    op.status = OperationStatus::Paused;
    op.pause_reason = Some(reason.to_string());
    op.updated = Timestamp::new(now);
    let id = op.id.clone();
    push(
        ledger,
        now,
        EventLevel::Warning,
        format!("paused: {reason}"),
        Some(&id),
        None,
    );
    Ok(())
}

/// `resume`: a paused operation runs again; its failed steps are tried again.
pub fn resume(ledger: &mut Ledger, now: OffsetDateTime) -> Result<(), RequestError> {
    let op = ledger
        .operation
        .as_mut()
        .filter(|o| o.status == OperationStatus::Paused)
        .ok_or(RequestError::Nothing("paused"))?;
    op.status = OperationStatus::Running;
    op.pause_reason = None;
    op.error = None;
    op.updated = Timestamp::new(now);
    if let Some(c) = op.checkpoint.as_mut()
        && matches!(
            c.verdict,
            CheckpointVerdict::Waiting | CheckpointVerdict::Unhealthy
        )
    {
        // A person looked at the checkpoint and said go on.
        c.verdict = CheckpointVerdict::Resumed;
        op.checkpoints_passed = op.checkpoints_passed.saturating_add(1);
    }
    for s in &mut op.steps {
        if s.status == StepStatus::Failed {
            s.status = StepStatus::Pending;
            s.phase = None;
            s.since = None;
            s.finished = None;
            s.detail = None;
            if matches!(
                s.action,
                StepAction::Replace { .. } | StepAction::Launch { .. }
            ) {
                s.instance = None;
            }
        }
    }
    let id = op.id.clone();
    push(
        ledger,
        now,
        EventLevel::Info,
        "resumed".to_string(),
        Some(&id),
        None,
    );
    Ok(())
}

/// `abort`: no step starts any more; those in flight finish, then the operation is
/// cancelled.
pub fn abort(ledger: &mut Ledger, now: OffsetDateTime) -> Result<(), RequestError> {
    let op = ledger
        .operation
        .as_mut()
        .filter(|o| !o.status.is_finished())
        .ok_or(RequestError::Nothing("running or paused"))?;
    op.abort_requested = true;
    op.updated = Timestamp::new(now);
    let id = op.id.clone();
    push(
        ledger,
        now,
        EventLevel::Warning,
        "abort requested".to_string(),
        Some(&id),
        None,
    );
    Ok(())
}

fn has_in_flight(op: &Operation) -> bool {
    op.steps.iter().any(|s| s.status == StepStatus::InProgress)
}

fn push(
    ledger: &mut Ledger,
    now: OffsetDateTime,
    level: EventLevel,
    message: String,
    operation: Option<&OperationId>,
    instance: Option<&InstanceId>,
) {
    ledger.push_event(Event {
        at: Timestamp::new(now),
        level,
        message,
        operation: operation.cloned(),
        instance: instance.cloned(),
    });
}

/// Ends the operation with `status`: its steps' totals are recorded, the steps themselves
/// dropped (a finished operation's per-step detail is history nobody reads, and half the
/// document of a large fleet), and its summary appended to the history.
fn finish(ledger: &mut Ledger, status: OperationStatus, now: OffsetDateTime, error: Option<&str>) {
    let Some(op) = ledger.operation.as_ref() else {
        return;
    };
    let totals = step_totals(op, ledger);
    let Some(op) = ledger.operation.as_mut() else {
        return;
    };
    op.status = status;
    op.finished = Some(Timestamp::new(now));
    op.updated = Timestamp::new(now);
    if let Some(e) = error {
        op.error = Some(e.to_string());
    }
    op.totals = Some(totals);
    op.steps = Vec::new();
    op.waiting_on = Vec::new();
    let summary = OperationSummary {
        id: op.id.clone(),
        kind: op.kind.clone(),
        status,
        started: op.started,
        finished: op.finished,
        origin: op.origin.clone(),
        revision: op.revision,
        totals,
        error: op.error.clone(),
    };
    ledger.push_history(summary);
}

/// Who starts an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Start {
    /// A user's request (a scale from the queue, a rolling restart, a sync), from this
    /// origin when known.
    Requested(Option<Origin>),
    /// The control loop's repair: a scale that only launches. A group above its share
    /// keeps its instances (the control loop never takes one away), so the total may end
    /// above the target.
    Repair,
}

/// Starts `kind` as the active operation, with its steps.
fn start(
    ledger: &mut Ledger,
    config: &FleetConfig,
    id: OperationId,
    kind: OperationKind,
    now: OffsetDateTime,
    by: Start,
) {
    let start_total = active_count(ledger);
    let revision = match &kind {
        OperationKind::RollingRestart {
            update: Some(u), ..
        } => Some(u.revision),
        _ => ledger.latest_revision().map(|r| r.number),
    };
    let mut rollback_to = None;
    let mut checkpoints = Vec::new();
    let mut steps = Vec::new();
    let mut limits = None;
    let mut target_total = start_total;
    let mut notes = Vec::new();
    match &kind {
        OperationKind::Scale { desired } => {
            target_total = *desired;
            let targets = distribute(config, *desired);
            steps = scale_steps(config, ledger, &targets);
            if by == Start::Repair {
                steps.retain(|s| matches!(s.action, StepAction::Launch { .. }));
                target_total =
                    start_total.saturating_add(u32::try_from(steps.len()).unwrap_or(u32::MAX));
            }
            let floor = u32::try_from(config.total_instances()).unwrap_or(u32::MAX);
            if target_total < floor {
                notes.push(format!(
                    "scaling to {target_total}, below the fleet file's {floor}: the control \
                     loop (serve, reconcile) brings the fleet back to {floor}; lower the counts \
                     in the fleet file to keep {target_total}"
                ));
            }
        }
        OperationKind::RollingRestart {
            strategy, update, ..
        } => {
            let l = resolve_limits(config, start_total, *strategy);
            notes.push(format!(
                "rolling {} of {} instance(s): maxSurge {}, maxUnavailable {} (resolved for {} \
                 instances)",
                match strategy {
                    RolloutStrategy::Replace => "replace",
                    RolloutStrategy::Reboot => "reboot",
                },
                start_total,
                l.max_surge,
                l.max_unavailable,
                l.desired
            ));
            limits = Some(l);
            let fresh = update.as_ref().map(|u| {
                let target = launch_of(config, ledger, Some(u.revision));
                Freshness::new(ledger, &target)
            });
            let mut active: Vec<&InstanceRecord> = ledger
                .records
                .iter()
                .filter(|r| is_active(r))
                .filter(|r| fresh.as_ref().is_none_or(|f| f.is_outdated(r)))
                .collect();
            if let Some(u) = update {
                notes.push(format!(
                    "rolling update to revision {}: {} of {} instance(s) outdated",
                    u.revision,
                    active.len(),
                    start_total
                ));
                if config.spec.rollout.rollback_on_failure
                    && !matches!(u.reason, UpdateReason::Rollback { .. })
                {
                    // The revision most of the replaced instances run: what a failure rolls
                    // back to.
                    let mut by_rev: BTreeMap<u32, usize> = BTreeMap::new();
                    if let Some(f) = &fresh {
                        for r in &active {
                            if let Some(n) = f.revision_of(r) {
                                *by_rev.entry(n).or_default() += 1;
                            }
                        }
                    }
                    rollback_to = by_rev
                        .iter()
                        .max_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)))
                        .map(|(n, _)| *n);
                    if rollback_to.is_none() && !active.is_empty() {
                        notes.push(
                            "rollbackOnFailure: the launch details of the outdated instances are \
                             not in the ledger, so a failure pauses instead of rolling back"
                                .to_string(),
                        );
                    }
                }
            }
            if !matches!(
                update.as_ref().map(|u| &u.reason),
                Some(UpdateReason::Rollback { .. })
            ) {
                let total = u32::try_from(active.len()).unwrap_or(u32::MAX);
                let mut last = 0;
                for &p in &config.spec.rollout.checkpoints {
                    let at = checkpoint_threshold(p, total);
                    if at > last && at < total {
                        checkpoints.push(p);
                        last = at;
                    }
                }
            }
            active.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
            for (i, r) in active.iter().enumerate() {
                let action = match strategy {
                    RolloutStrategy::Replace => StepAction::Replace {
                        instance: r.instance_id.clone(),
                    },
                    RolloutStrategy::Reboot => StepAction::Reboot {
                        instance: r.instance_id.clone(),
                    },
                };
                // Replacements get new slots when they start; reboots keep theirs.
                let slot = match strategy {
                    RolloutStrategy::Replace => 0,
                    RolloutStrategy::Reboot => {
                        slot_of(r).unwrap_or(u32::try_from(i + 1).unwrap_or(0))
                    }
                };
                let mut step = new_step(slot, action);
                if *strategy == RolloutStrategy::Reboot {
                    step.instance = Some(r.instance_id.clone());
                }
                steps.push(step);
            }
        }
        OperationKind::SyncState { .. } => {}
    }
    let kind = match kind {
        OperationKind::Scale { .. } => OperationKind::Scale {
            desired: target_total,
        },
        other => other,
    };
    // Terminations and reboots are numbered by their place in the operation, so that no two
    // steps of one operation share a retry token (slot numbers repeat across groups).
    for (i, s) in steps.iter_mut().enumerate() {
        if matches!(
            s.action,
            StepAction::Terminate { .. } | StepAction::Reboot { .. }
        ) {
            s.slot = u32::try_from(i + 1).unwrap_or(u32::MAX);
        }
    }
    ledger.operation = Some(Operation {
        id: id.clone(),
        kind: kind.clone(),
        status: OperationStatus::Running,
        started: Timestamp::new(now),
        updated: Timestamp::new(now),
        finished: None,
        steps,
        error: None,
        pause_reason: None,
        waiting_on: Vec::new(),
        start_total,
        target_total,
        limits,
        abort_requested: false,
        revision,
        origin: match by {
            Start::Requested(origin) => origin,
            Start::Repair => Some(Origin::door(Door::ControlLoop)),
        },
        checkpoints,
        checkpoints_passed: 0,
        checkpoint: None,
        rollback_to,
        totals: None,
    });
    push(
        ledger,
        now,
        EventLevel::Info,
        format!("{} started", describe_kind(&kind)),
        Some(&id),
        None,
    );
    for n in notes {
        push(ledger, now, EventLevel::Info, n, Some(&id), None);
    }
}

/// How many of `total` steps a checkpoint at `percent` waits after: rounded up, at least 1.
pub fn checkpoint_threshold(percent: u32, total: u32) -> u32 {
    let t = (u64::from(percent) * u64::from(total)).div_ceil(100);
    u32::try_from(t).unwrap_or(u32::MAX).max(1)
}

fn describe_kind(kind: &OperationKind) -> String {
    match kind {
        OperationKind::Scale { desired } => format!("scale to {desired}"),
        OperationKind::RollingRestart {
            update: Some(u), ..
        } => format!(
            "rolling update to revision {} ({})",
            u.revision,
            u.reason.as_str()
        ),
        OperationKind::RollingRestart { strategy, .. } => format!(
            "rolling restart ({})",
            match strategy {
                RolloutStrategy::Replace => "replace",
                RolloutStrategy::Reboot => "reboot",
            }
        ),
        OperationKind::SyncState { .. } => "sync".to_string(),
    }
}

fn new_step(slot: u32, action: StepAction) -> Step {
    Step {
        slot,
        action,
        status: StepStatus::Pending,
        instance: None,
        started: None,
        finished: None,
        detail: None,
        phase: None,
        since: None,
        drain_first: false,
        seen_down: false,
        escalated: false,
    }
}

/// The slot number in a record's name (`<prefix>-<group>-<slot>`).
fn slot_of(r: &InstanceRecord) -> Option<u32> {
    r.name.rsplit('-').next()?.parse().ok()
}

/// The steps of a scale to `targets`: launches into groups below their target (slots
/// assigned when each launch starts), terminations of the oldest in groups above it.
fn scale_steps(
    config: &FleetConfig,
    ledger: &Ledger,
    targets: &BTreeMap<GroupName, u32>,
) -> Vec<Step> {
    let mut steps = Vec::new();
    for group in &config.spec.instances {
        let target = targets.get(&group.name).copied().unwrap_or(0);
        let mut active: Vec<&InstanceRecord> = ledger
            .records
            .iter()
            .filter(|r| is_active(r) && r.group == group.name)
            .collect();
        let have = u32::try_from(active.len()).unwrap_or(u32::MAX);
        if have < target {
            for _ in have..target {
                steps.push(new_step(
                    0,
                    StepAction::Launch {
                        group: group.name.clone(),
                    },
                ));
            }
        } else if have > target {
            // Oldest first (FIFO by creation); the name breaks ties.
            active.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
            for r in active.iter().take((have - target) as usize) {
                let mut s = new_step(
                    slot_of(r).unwrap_or(0),
                    StepAction::Terminate {
                        instance: r.instance_id.clone(),
                    },
                );
                s.instance = Some(r.instance_id.clone());
                steps.push(s);
            }
        }
    }
    // Records not in any configured group (a group removed from the file) are not touched
    // by a scale: they show as drift for the operator to decide.
    steps
}

/// Plans one step. Pure.
pub fn plan(
    config: &FleetConfig,
    ledger: &Ledger,
    obs: &Observation,
    now: OffsetDateTime,
    mode: Mode,
) -> Plan {
    plan_owned(config, ledger.clone(), obs, now, mode)
}

/// [`plan`] of a ledger the caller no longer needs: the plan's ledger is made from it
/// instead of a copy (a ledger of 10,000 records is megabytes).
pub fn plan_owned(
    config: &FleetConfig,
    ledger: Ledger,
    obs: &Observation,
    now: OffsetDateTime,
    mode: Mode,
) -> Plan {
    let mut p = Planner {
        config,
        obs,
        seen: Seen::new(config, obs),
        records: record_index(&ledger),
        now,
        ledger,
        actions: Vec::new(),
        waiting_on: Vec::new(),
        notes: Vec::new(),
        requeue: None,
        launches: 0,
        lb_busy: None,
    };
    note_revision(&mut p.ledger, config, now);
    p.reconcile_records();
    p.settle_work_requests();
    p.settle_unconfirmed_removals();
    p.start_next(mode);
    p.advance();
    p.retry_lost_terminations();
    p.reconcile_backends();
    p.hold_lb_changes_while_busy();
    p.note_removals();
    p.record_waiting();
    p.into_plan()
}

/// The group of an instance named `<displayNamePrefix>-<group>-<n>` by this fleet's rule
/// (`n` decimal digits, `group` one of the fleet file's groups), else `None`. Unambiguous
/// even when group names share a prefix (`web`, `web-api`): the number is the last part.
pub fn group_of_display_name(config: &FleetConfig, name: &str) -> Option<GroupName> {
    let rest = name
        .strip_prefix(config.spec.display_name_prefix.as_str())?
        .strip_prefix('-')?;
    let (group, n) = rest.rsplit_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    config
        .spec
        .instances
        .iter()
        .find(|g| g.name.as_str() == group)
        .map(|g| g.name.clone())
}

/// The operation id of backend changes the steady state makes (not part of an operation);
/// their retry tokens take the instance's address as the slot.
fn lb_sync_operation() -> Option<OperationId> {
    OperationId::parse("lb-sync").ok()
}

/// A slot number for an address: the IPv4 address itself, or 32 bits of an IPv6 one.
fn address_slot(ip: IpAddr) -> u32 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => {
            let o = v6.octets();
            u32::from_be_bytes([o[12], o[13], o[14], o[15]])
        }
    }
}

struct Planner<'a> {
    config: &'a FleetConfig,
    obs: &'a Observation,
    /// The observation indexed, built once per plan (the planner asks about every record).
    seen: Seen<'a>,
    /// Where each instance's record is in `ledger.records` (the first one, as
    /// [`Ledger::record`] finds it). The planner only appends records, and updates this.
    records: HashMap<InstanceId, usize>,
    now: OffsetDateTime,
    ledger: Ledger,
    actions: Vec<Action>,
    waiting_on: Vec<String>,
    notes: Vec<String>,
    requeue: Option<Duration>,
    launches: usize,
    /// A load balancer change is still being applied: no other is sent this step.
    lb_busy: Option<String>,
}

/// The observation by instance id and backend address, so that a plan of a fleet of
/// thousands is not quadratic. Lookups find what a scan in order would find first.
struct Seen<'o> {
    instances: HashMap<&'o InstanceId, &'o ListedInstance>,
    /// The backend set's backends on the fleet's port, by IP address.
    backends: HashMap<IpAddr, &'o Backend>,
    /// Backends the set's health lists as critical, warning or unknown, by name.
    unhealthy: HashSet<&'o str>,
}

impl<'o> Seen<'o> {
    fn new(config: &FleetConfig, obs: &'o Observation) -> Self {
        let mut instances = HashMap::with_capacity(obs.instances.len());
        for i in &obs.instances {
            instances.entry(&i.id).or_insert(i);
        }
        let mut backends = HashMap::new();
        let mut unhealthy = HashSet::new();
        if let (Some(lb), Some(seen)) = (&config.spec.load_balancer, &obs.load_balancer) {
            for b in seen.backends.iter().filter(|b| b.port == lb.port) {
                if let Some(ip) = b.ip_address.as_deref().and_then(|ip| ip.parse().ok()) {
                    backends.entry(ip).or_insert(b);
                }
            }
            let h = &seen.health;
            unhealthy.extend(
                h.critical_state_backend_names
                    .iter()
                    .chain(&h.warning_state_backend_names)
                    .chain(&h.unknown_state_backend_names)
                    .map(String::as_str),
            );
        }
        Seen {
            instances,
            backends,
            unhealthy,
        }
    }
}

fn record_index(ledger: &Ledger) -> HashMap<InstanceId, usize> {
    let mut index = HashMap::with_capacity(ledger.records.len());
    for (at, r) in ledger.records.iter().enumerate() {
        index.entry(r.instance_id.clone()).or_insert(at);
    }
    index
}

/// How a backend looks to the planner.
#[derive(Debug, Clone)]
struct BackendView<'o> {
    backend: &'o Backend,
    healthy: bool,
}

impl<'a> Planner<'a> {
    fn into_plan(self) -> Plan {
        Plan {
            ledger: self.ledger,
            actions: self.actions,
            waiting_on: self.waiting_on,
            notes: self.notes,
            requeue_after: self.requeue,
        }
    }

    fn ts(&self) -> Timestamp {
        Timestamp::new(self.now)
    }

    fn event(&mut self, level: EventLevel, message: String, instance: Option<&InstanceId>) {
        let op = self.ledger.operation.as_ref().map(|o| o.id.clone());
        push(
            &mut self.ledger,
            self.now,
            level,
            message,
            op.as_ref(),
            instance,
        );
    }

    fn wake_within(&mut self, d: Duration) {
        self.requeue = Some(self.requeue.map_or(d, |r| r.min(d)));
    }

    fn instance(&self, id: &InstanceId) -> Option<&'a ListedInstance> {
        self.seen.instances.get(id).copied()
    }

    /// The ledger's record of `id` (see [`Ledger::record`]).
    fn record(&self, id: &InstanceId) -> Option<&InstanceRecord> {
        self.records
            .get(id)
            .and_then(|at| self.ledger.records.get(*at))
    }

    fn record_mut(&mut self, id: &InstanceId) -> Option<&mut InstanceRecord> {
        self.records
            .get(id)
            .and_then(|at| self.ledger.records.get_mut(*at))
    }

    fn ip_of(&self, id: &InstanceId) -> Option<IpAddr> {
        self.obs
            .private_ips
            .get(id)
            .copied()
            .or_else(|| self.record(id).and_then(|r| r.private_ip))
    }

    fn backend_of(&self, id: &InstanceId) -> Option<BackendView<'a>> {
        self.config.spec.load_balancer.as_ref()?;
        let seen = self.obs.load_balancer.as_ref()?;
        let ip = self.ip_of(id)?;
        let backend = *self.seen.backends.get(&ip)?;
        let h = &seen.health;
        let unhealthy = self.seen.unhealthy.contains(backend.name.as_str())
            || matches!(h.status, HealthStatus::Unknown(_)) && h.total_backend_count == 0;
        Some(BackendView {
            backend,
            healthy: !unhealthy && !backend.offline,
        })
    }

    /// `sync --adopt-untagged`: live instances with no fleet tag whose display name is one
    /// this fleet gives (`<displayNamePrefix>-<group>-<n>`, `group` in the fleet file) get a
    /// record (RUNNING ones as running) and are tagged for the fleet in the same step.
    fn adopt_untagged(&mut self, now: Timestamp) {
        // The observation reads untagged instances only for such a sync; checked again here
        // so no other plan ever adopts by name.
        if !crate::observe::adopts_untagged(&self.ledger) {
            return;
        }
        let obs = self.obs;
        for inst in &obs.untagged {
            if self.records.contains_key(&inst.id) || inst.lifecycle_state.is_going_away() {
                continue;
            }
            let Some(name) = inst.display_name.clone() else {
                continue;
            };
            let Some(group) = group_of_display_name(self.config, &name) else {
                continue;
            };
            self.add_record(inst, group.clone(), name.clone(), true, None, now);
            self.event(
                EventLevel::Warning,
                format!(
                    "{name}: adopted (untagged; its display name puts it in group {group}); tagging it for the fleet"
                ),
                Some(&inst.id),
            );
        }
    }

    /// Records an instance the ledger did not know (adopted): RUNNING ones as running when
    /// `may_run`, others as launching; created when OCI says (else `now`).
    fn add_record(
        &mut self,
        inst: &ListedInstance,
        group: GroupName,
        name: std::sync::Arc<str>,
        may_run: bool,
        operation: Option<OperationId>,
        now: Timestamp,
    ) {
        let state = if may_run && inst.lifecycle_state == InstanceLifecycleState::Running {
            RecordState::Running
        } else {
            RecordState::Launching
        };
        self.records
            .insert(inst.id.clone(), self.ledger.records.len());
        self.ledger.records.push(InstanceRecord {
            instance_id: inst.id.clone(),
            group,
            name,
            private_ip: self.obs.private_ips.get(&inst.id).copied(),
            created: inst.created_at.map(Timestamp::new).unwrap_or(now),
            terminated: None,
            state,
            operation,
            launch_digest: None,
        });
    }

    /// The launch details the active operation launches from (its revision's, or the
    /// fleet file's).
    fn launch_spec(&self) -> LaunchSpec {
        let revision = self.ledger.operation.as_ref().and_then(|o| o.revision);
        launch_of(self.config, &self.ledger, revision)
    }

    /// The digest of `group`'s launch details in the active operation's revision.
    fn launch_digest(&self, group: &GroupName) -> Option<String> {
        self.ledger.operation.as_ref()?;
        Some(self.launch_spec().group_digest(group))
    }

    fn lb_enabled(&self) -> bool {
        self.config.spec.load_balancer.is_some()
    }

    /// Healthy, in-service (not drained, not offline) backends of the fleet's active
    /// instances; without a load balancer, RUNNING active instances. Instances in
    /// `taken_out` do not count: steps in flight are taking them out of service, which the
    /// observation may not show yet (a drain sent in this very step).
    fn serving_count(&self, taken_out: &BTreeSet<&InstanceId>) -> u32 {
        let n = self
            .ledger
            .records
            .iter()
            .filter(|r| is_active(r) && !taken_out.contains(&r.instance_id))
            .filter(|r| {
                if self.lb_enabled() {
                    self.backend_of(&r.instance_id)
                        .is_some_and(|b| b.healthy && !b.backend.drain)
                } else {
                    self.instance(&r.instance_id)
                        .is_some_and(|i| i.lifecycle_state == InstanceLifecycleState::Running)
                        && r.state == RecordState::Running
                }
            })
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    // -----------------------------------------------------------------------------------
    // 1. Records against what OCI shows
    // -----------------------------------------------------------------------------------

    fn reconcile_records(&mut self) {
        let fleet = self.config.metadata.name.clone();
        let now = self.ts();
        // The slots of the operation's steps, built only when an instance is unknown (a
        // finished operation of a large fleet has thousands).
        let mut claimed: Option<BTreeSet<(OperationId, u32)>> = None;
        // Adopt what is tagged for the fleet and unknown to the ledger.
        let obs = self.obs;
        for inst in &obs.instances {
            if inst.lifecycle_state.is_going_away() || self.records.contains_key(&inst.id) {
                continue;
            }
            let tags = inst.fleet_tags();
            if !tags.belongs_to(&fleet) {
                continue;
            }
            let Some(group) = tags.group.clone() else {
                continue;
            };
            let claimed = claimed.get_or_insert_with(|| {
                self.ledger
                    .operation
                    .iter()
                    .flat_map(|op| {
                        op.steps
                            .iter()
                            .filter(|s| s.slot != 0)
                            .map(|s| (op.id.clone(), s.slot))
                    })
                    .collect()
            });
            let ours = match (&tags.operation, tags.slot) {
                (Some(op), Some(slot)) => claimed.contains(&(op.clone(), slot)),
                _ => false,
            };
            let name = inst
                .display_name
                .clone()
                .unwrap_or_else(|| inst.id.as_str().into());
            // An instance of a launch in flight stays launching: its step takes it further;
            // it was launched from its operation's revision.
            let digest = ours.then(|| self.launch_digest(&group)).flatten();
            self.add_record(
                inst,
                group,
                name.clone(),
                !ours,
                tags.operation.clone(),
                now,
            );
            if let Some(r) = self.record_mut(&inst.id) {
                r.launch_digest = digest.map(Into::into);
            }
            if !ours {
                self.event(
                    EventLevel::Warning,
                    format!("{name}: adopted (tagged for this fleet, unknown to the ledger)"),
                    Some(&inst.id),
                );
            }
        }
        self.adopt_untagged(now);
        // Records against the instances.
        let mut untagged = Vec::new();
        let mut gone = Vec::new();
        let mut missing = Vec::new();
        for r in &mut self.ledger.records {
            if r.state.is_gone() {
                continue;
            }
            // An instance adopted untagged in this very step is in `untagged`, not in
            // the fleet's list.
            let seen = self
                .seen
                .instances
                .get(&r.instance_id)
                .copied()
                .or_else(|| self.obs.untagged.iter().find(|i| i.id == r.instance_id));
            match seen {
                Some(i) if !i.lifecycle_state.is_going_away() => {
                    if r.private_ip.is_none() {
                        r.private_ip = self.obs.private_ips.get(&r.instance_id).copied();
                    }
                    if i.tags.has_no_fleet_tag() {
                        untagged.push((r.instance_id.clone(), r.group.clone()));
                    }
                }
                _ if r.state == RecordState::Terminating => {
                    r.state = RecordState::Terminated;
                    r.terminated = Some(now);
                    gone.push((r.name.clone(), r.instance_id.clone()));
                }
                _ => {
                    r.state = RecordState::Missing;
                    r.terminated = Some(now);
                    missing.push((r.name.clone(), r.instance_id.clone()));
                }
            }
        }
        for (name, id) in gone {
            self.event(EventLevel::Info, format!("{name}: terminated"), Some(&id));
        }
        // A record whose instance lost (or never got) the fleet's tags: an adoption whose
        // tagging did not happen yet. Tagged again until it is.
        for (instance, group) in untagged {
            self.actions.push(Action::Tag { instance, group });
        }
        for (name, id) in missing {
            self.event(
                EventLevel::Warning,
                format!("{name}: gone from OCI without fleetctl (marked missing)"),
                Some(&id),
            );
        }
    }

    // -----------------------------------------------------------------------------------
    // 2. Which operation runs
    // -----------------------------------------------------------------------------------

    fn start_next(&mut self, mode: Mode) {
        let now = self.now;
        let current = self
            .ledger
            .operation
            .as_ref()
            .map(|o| (o.status, has_in_flight(o)));
        match current {
            Some((OperationStatus::Running, _)) => return,
            Some((OperationStatus::Paused, in_flight)) => {
                // A queued scale supersedes a paused operation once its steps in flight
                // are done.
                if self.ledger.scale_queue.is_empty() || in_flight {
                    return;
                }
                let old = self.ledger.operation.as_ref().map(|o| o.id.clone());
                finish(
                    &mut self.ledger,
                    OperationStatus::Cancelled,
                    now,
                    Some("superseded by a scale request"),
                );
                if let Some(old) = old {
                    push(
                        &mut self.ledger,
                        now,
                        EventLevel::Warning,
                        format!("paused operation {old} cancelled: superseded by a scale request"),
                        Some(&old),
                        None,
                    );
                }
            }
            _ => {}
        }
        if let Some(head) = self.ledger.scale_queue.front().cloned() {
            // Popped only when its scale starts, and only if it is still the head.
            if self.ledger.scale_queue.front().map(|h| &h.id) == Some(&head.id) {
                self.ledger.scale_queue.pop_front();
                start(
                    &mut self.ledger,
                    self.config,
                    head.id,
                    OperationKind::Scale {
                        desired: head.desired,
                    },
                    now,
                    Start::Requested(head.origin),
                );
            }
            return;
        }
        if mode == Mode::Control {
            let target = control_target(self.config, &self.ledger);
            let mut below = false;
            for g in &self.config.spec.instances {
                let have = self
                    .ledger
                    .records
                    .iter()
                    .filter(|r| is_active(r) && r.group == g.name)
                    .count();
                if (have as u64) < u64::from(g.count) {
                    below = true;
                }
            }
            if below || active_count(&self.ledger) < target {
                let id = OperationId::random();
                let active = active_count(&self.ledger);
                push(
                    &mut self.ledger,
                    now,
                    EventLevel::Info,
                    format!("control loop: {active} active of {target} desired; repairing"),
                    Some(&id),
                    None,
                );
                start(
                    &mut self.ledger,
                    self.config,
                    id,
                    OperationKind::Scale { desired: target },
                    now,
                    Start::Repair,
                );
            }
        }
    }

    // -----------------------------------------------------------------------------------
    // 3. Advance the operation
    // -----------------------------------------------------------------------------------

    fn advance(&mut self) {
        // A finished operation keeps its steps (one per instance): not cloned for nothing.
        let Some(op) = self
            .ledger
            .operation
            .as_ref()
            .filter(|o| !o.status.is_finished())
            .cloned()
        else {
            return;
        };
        if let OperationKind::SyncState { .. } = op.kind {
            // Records were brought up to date above: that is the sync.
            finish(&mut self.ledger, OperationStatus::Succeeded, self.now, None);
            self.event(EventLevel::Info, "sync finished".to_string(), None);
            return;
        }
        let mut steps = op.steps.clone();
        // In-flight steps first.
        for i in 0..steps.len() {
            if steps[i].status == StepStatus::InProgress {
                self.advance_step(&op, &mut steps, i);
            }
        }
        let mut running = op.status == OperationStatus::Running && !op.abort_requested;
        let failed = steps
            .iter()
            .filter(|s| s.status == StepStatus::Failed)
            .count();
        if running
            && failed == 0
            && !steps.iter().any(|s| s.status == StepStatus::InProgress)
            && self.hold_at_checkpoint(&steps)
        {
            running = false;
        }
        // The next checkpoint: no step starts past it until it is passed.
        let gate = self.ledger.operation.as_ref().and_then(|o| {
            let at = usize::try_from(o.checkpoints_passed).unwrap_or(usize::MAX);
            o.checkpoints
                .get(at)
                .map(|p| checkpoint_threshold(*p, u32::try_from(steps.len()).unwrap_or(u32::MAX)))
        });
        if running && failed < FAILURE_BUDGET {
            // Start pending steps within the limits.
            for i in 0..steps.len() {
                if steps[i].status != StepStatus::Pending {
                    continue;
                }
                let started = steps
                    .iter()
                    .filter(|s| s.status != StepStatus::Pending)
                    .count();
                if gate.is_some_and(|at| started >= at as usize) {
                    break;
                }
                if !self.may_start(&op, &steps, i) {
                    break;
                }
                self.start_step(&op, &mut steps, i);
                if steps[i].status == StepStatus::InProgress {
                    self.advance_step(&op, &mut steps, i);
                }
            }
        }
        let failed = steps
            .iter()
            .filter(|s| s.status == StepStatus::Failed)
            .count();
        let in_flight = steps.iter().any(|s| s.status == StepStatus::InProgress);
        let pending = steps.iter().any(|s| s.status == StepStatus::Pending);
        let now = self.ts();
        if let Some(o) = self.ledger.operation.as_mut() {
            o.steps = steps;
            o.updated = now;
        }
        if failed >= FAILURE_BUDGET && op.status == OperationStatus::Running && !op.abort_requested
        {
            let reason = self
                .ledger
                .operation
                .as_ref()
                .and_then(|o| o.steps.iter().find(|s| s.status == StepStatus::Failed))
                .and_then(|s| s.detail.clone())
                .unwrap_or_else(|| "a step failed".to_string());
            let rollback = op.rollback_to.filter(|_| {
                matches!(
                    &op.kind,
                    OperationKind::RollingRestart {
                        update: Some(RolloutUpdate {
                            reason: UpdateReason::Rollout | UpdateReason::Undo,
                            ..
                        }),
                        ..
                    }
                )
            });
            if let Some(to) = rollback {
                let why =
                    format!("{failed} step(s) failed (failure budget {FAILURE_BUDGET}): {reason}");
                if in_flight {
                    self.waiting_on.push(format!(
                        "rolling back to revision {to} once the steps in flight finish ({why})"
                    ));
                    self.wake_within(Duration::from_secs(2));
                } else {
                    self.roll_back(&op, to, why);
                }
                return;
            }
            let reason = format!(
                "{failed} step(s) failed (failure budget {FAILURE_BUDGET}): {reason}; fix the cause, then `resume`, or `abort`"
            );
            if let Some(o) = self.ledger.operation.as_mut() {
                o.status = OperationStatus::Paused;
                o.pause_reason = Some(reason.clone());
                o.error = Some(reason.clone());
            }
            self.event(EventLevel::Error, format!("paused: {reason}"), None);
        }
        if in_flight {
            return;
        }
        if op.abort_requested {
            finish(
                &mut self.ledger,
                OperationStatus::Cancelled,
                self.now,
                Some("aborted"),
            );
            self.event(EventLevel::Warning, "aborted".to_string(), None);
            return;
        }
        let status = self.ledger.operation.as_ref().map(|o| o.status);
        if !pending && status == Some(OperationStatus::Running) {
            if failed > 0 {
                finish(
                    &mut self.ledger,
                    OperationStatus::Failed,
                    self.now,
                    Some("some steps failed"),
                );
                self.event(
                    EventLevel::Error,
                    "finished with failed steps".to_string(),
                    None,
                );
            } else {
                finish(&mut self.ledger, OperationStatus::Succeeded, self.now, None);
                let what = describe_kind(&op.kind);
                self.event(EventLevel::Info, format!("{what} succeeded"), None);
            }
        } else if pending && status == Some(OperationStatus::Running) {
            self.wake_within(Duration::from_secs(5));
        }
    }

    /// Whether in-flight step `step` counts against the rollout's limits. A surge-first
    /// replacement whose new instance is in service (it is draining, removing or terminating
    /// the old one) does not, unless `surgeCountsDraining` says so: the old instance is on
    /// its way out and the new one carries its share, as Kubernetes does not count
    /// terminating pods against maxSurge. Up to desired + 2 x maxSurge instances may then
    /// exist for a moment; the serving floor is unchanged (each old instance is drained only
    /// after its own successor is in service).
    fn counts_against_limits(&self, step: &Step) -> bool {
        step.status == StepStatus::InProgress && !self.retiring(step)
    }

    /// A surge-first replacement past its new instance's `minReadySeconds`: what is left is
    /// the old instance's drain, backend removal and termination.
    fn retiring(&self, step: &Step) -> bool {
        !self.config.spec.rollout.surge_counts_draining
            && matches!(step.action, StepAction::Replace { .. })
            && !step.drain_first
            && matches!(
                step.phase,
                Some(StepPhase::Draining | StepPhase::Deregistering | StepPhase::Terminating)
            )
    }

    /// In-flight surge-first replacements that count against `maxSurge`.
    fn surging(&self, steps: &[Step]) -> u32 {
        let n = steps
            .iter()
            .filter(|s| self.counts_against_limits(s) && !s.drain_first)
            .filter(|s| matches!(s.action, StepAction::Replace { .. }))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Whether one more surge-first replacement may run: fewer than `maxSurge` count against
    /// the limit, and fewer than 2 x `maxSurge` are in flight at all (each has one instance
    /// above the desired count, so at most desired + 2 x maxSurge instances exist, even when
    /// retiring old instances takes longer than launching new ones). `in_flight_self`: the
    /// step asking is already in progress (counted).
    fn surge_free(&self, l: RolloutLimits, steps: &[Step], in_flight_self: bool) -> bool {
        let all = steps
            .iter()
            .filter(|s| s.status == StepStatus::InProgress && !s.drain_first)
            .filter(|s| matches!(s.action, StepAction::Replace { .. }))
            .count();
        let all = u32::try_from(all).unwrap_or(u32::MAX);
        let (surging, all) = if in_flight_self {
            (self.surging(steps).saturating_sub(1), all.saturating_sub(1))
        } else {
            (self.surging(steps), all)
        };
        surging < l.max_surge && all < l.max_surge.saturating_mul(2)
    }

    /// At a checkpoint (every step before it finished, none in flight): waits for `resume`
    /// (the operation pauses) or for the bake time with every active instance healthy and
    /// in service (a backend unhealthy during the bake pauses it). Returns whether no step
    /// may start now.
    fn hold_at_checkpoint(&mut self, steps: &[Step]) -> bool {
        let Some(op) = self.ledger.operation.as_ref() else {
            return false;
        };
        let at = usize::try_from(op.checkpoints_passed).unwrap_or(usize::MAX);
        let Some(&percent) = op.checkpoints.get(at) else {
            return false;
        };
        let total = u32::try_from(steps.len()).unwrap_or(u32::MAX);
        let threshold = checkpoint_threshold(percent, total);
        let done = u32::try_from(steps.iter().filter(|s| s.status.is_finished()).count())
            .unwrap_or(u32::MAX);
        if done < threshold {
            return false;
        }
        let now = self.ts();
        let wait = match self.config.spec.rollout.checkpoint_wait {
            CheckpointWaitSpec::Resume => CheckpointWait::Resume,
            CheckpointWaitSpec::Bake(d) => CheckpointWait::Bake {
                seconds: d.as_secs(),
            },
        };
        let fresh = op
            .checkpoint
            .as_ref()
            .is_none_or(|c| c.percent != percent || c.verdict != CheckpointVerdict::Waiting);
        let reached = if fresh {
            let c = Checkpoint {
                percent,
                done,
                total,
                reached: now,
                wait,
                verdict: CheckpointVerdict::Waiting,
            };
            if let Some(o) = self.ledger.operation.as_mut() {
                o.checkpoint = Some(c);
            }
            self.event(
                EventLevel::Info,
                format!("checkpoint {percent}% reached: {done} of {total} instance(s) done"),
                None,
            );
            now
        } else {
            op.checkpoint.as_ref().map_or(now, |c| c.reached)
        };
        let wait = self
            .ledger
            .operation
            .as_ref()
            .and_then(|o| o.checkpoint.as_ref())
            .map_or(wait, |c| c.wait);
        match wait {
            CheckpointWait::Resume => {
                let reason = format!(
                    "checkpoint {percent}%: {done} of {total} instance(s) done; `fleetctl rollout resume` to go on, `fleetctl abort` to stop"
                );
                self.pause_with(reason, EventLevel::Info);
                true
            }
            CheckpointWait::Bake { seconds } => {
                let active = active_count(&self.ledger);
                let serving = if self.lb_enabled() {
                    self.serving_count(&BTreeSet::new())
                } else {
                    active
                };
                if serving < active {
                    if let Some(c) = self
                        .ledger
                        .operation
                        .as_mut()
                        .and_then(|o| o.checkpoint.as_mut())
                    {
                        c.verdict = CheckpointVerdict::Unhealthy;
                    }
                    let reason = format!(
                        "checkpoint {percent}%: {serving} of {active} instance(s) healthy and in service during the bake; `fleetctl rollout resume` to go on anyway, `fleetctl abort` to stop"
                    );
                    self.pause_with(reason, EventLevel::Error);
                    return true;
                }
                let bake = Duration::from_secs(seconds);
                let waited = self.elapsed(Some(reached));
                if waited >= bake {
                    if let Some(o) = self.ledger.operation.as_mut() {
                        o.checkpoints_passed = o.checkpoints_passed.saturating_add(1);
                        if let Some(c) = o.checkpoint.as_mut() {
                            c.verdict = CheckpointVerdict::Healthy;
                        }
                    }
                    self.event(
                        EventLevel::Info,
                        format!(
                            "checkpoint {percent}% passed: healthy for {} s",
                            bake.as_secs()
                        ),
                        None,
                    );
                    return false;
                }
                let left = bake - waited;
                self.waiting_on.push(format!(
                    "checkpoint {percent}%: baking, healthy {} s of {} s",
                    waited.as_secs(),
                    bake.as_secs()
                ));
                self.wake_within(left.max(Duration::from_millis(100)));
                true
            }
        }
    }

    /// Pauses the active operation for `reason`.
    fn pause_with(&mut self, reason: String, level: EventLevel) {
        if let Some(o) = self.ledger.operation.as_mut() {
            o.status = OperationStatus::Paused;
            o.pause_reason = Some(reason.clone());
        }
        self.event(level, format!("paused: {reason}"), None);
    }

    /// A rolling update that spent its failure budget with `rollbackOnFailure`: it ends as
    /// failed (with why) and a rolling update back to revision `to` starts, with the same
    /// limits and health gating, replacing the instances the failed one launched.
    fn roll_back(&mut self, op: &Operation, to: u32, why: String) {
        finish(
            &mut self.ledger,
            OperationStatus::Failed,
            self.now,
            Some(&format!("rolled back to revision {to}: {why}")),
        );
        self.event(
            EventLevel::Error,
            format!("rolling update failed ({why}); rolling back to revision {to}"),
            None,
        );
        let kind = OperationKind::RollingRestart {
            strategy: RolloutStrategy::Replace,
            reboot_action: None,
            update: Some(RolloutUpdate {
                revision: to,
                reason: UpdateReason::Rollback {
                    of: op.id.clone(),
                    why,
                },
            }),
        };
        start(
            &mut self.ledger,
            self.config,
            OperationId::random(),
            kind,
            self.now,
            Start::Requested(Some(Origin::door(Door::Rollback))),
        );
        // The rollback keeps the failed rollout's bound (a drain-first replacement that
        // failed left the fleet one short: the limits are not resolved for the smaller
        // fleet), and launches what the failed replacements took away, from the revision
        // it rolls back to.
        let desired = op.start_total.max(active_count(&self.ledger));
        let mut relaunch =
            scale_steps(self.config, &self.ledger, &distribute(self.config, desired));
        relaunch.retain(|s| matches!(s.action, StepAction::Launch { .. }));
        if let Some(new) = self.ledger.operation.as_mut() {
            if let Some(l) = op.limits
                && new.limits.is_none_or(|n| n.desired < l.desired)
            {
                new.limits = Some(resolve_limits(
                    self.config,
                    l.desired,
                    RolloutStrategy::Replace,
                ));
            }
            new.target_total = desired;
            relaunch.append(&mut new.steps);
            new.steps = relaunch;
        }
        self.wake_within(Duration::from_millis(100));
    }

    /// Whether pending step `i` may start now.
    fn may_start(&self, op: &Operation, steps: &[Step], i: usize) -> bool {
        match &steps[i].action {
            StepAction::Launch { .. } => self.launches < MAX_LAUNCHES_PER_STEP,
            StepAction::Terminate { .. } => true,
            StepAction::Replace { .. } | StepAction::Reboot { .. } => {
                let Some(l) = op.limits else { return false };
                let busy = u32::try_from(
                    steps
                        .iter()
                        .filter(|s| self.counts_against_limits(s))
                        .count(),
                )
                .unwrap_or(u32::MAX);
                if busy >= l.max_surge + l.max_unavailable {
                    return false;
                }
                if matches!(steps[i].action, StepAction::Replace { .. })
                    && self.surge_free(l, steps, false)
                {
                    return self.launches < MAX_LAUNCHES_PER_STEP;
                }
                // Taking one out of service: only with enough others healthy, not counting
                // those the steps in flight take out (with one backend already unhealthy,
                // counting them would let two go when only one may).
                let out_steps: Vec<&Step> = steps
                    .iter()
                    .filter(|s| s.status == StepStatus::InProgress)
                    .filter(|s| s.drain_first || matches!(s.action, StepAction::Reboot { .. }))
                    .collect();
                let taken_out: BTreeSet<&InstanceId> = out_steps
                    .iter()
                    .filter_map(|s| Self::old_instance(s))
                    .collect();
                let out = u32::try_from(out_steps.len()).unwrap_or(u32::MAX);
                out < l.max_unavailable
                    && self.serving_count(&taken_out).saturating_sub(1)
                        >= l.desired.saturating_sub(l.max_unavailable)
            }
        }
    }

    fn start_step(&mut self, op: &Operation, steps: &mut [Step], i: usize) {
        let now = self.ts();
        let limits = op.limits;
        let step = &mut steps[i];
        step.status = StepStatus::InProgress;
        step.started = Some(now);
        step.since = Some(now);
        match step.action.clone() {
            StepAction::Launch { group } => {
                let slot = next_slot(&self.ledger, steps_slots(steps), &group, &op.id);
                steps[i].slot = slot;
                steps[i].phase = Some(StepPhase::Launching);
            }
            StepAction::Replace { instance } => {
                // This step itself is in progress now.
                let surge_free = limits.is_some_and(|l| self.surge_free(l, steps, true));
                let group = self.record(&instance).map(|r| r.group.clone());
                let Some(group) = group else {
                    let s = &mut steps[i];
                    s.status = StepStatus::Skipped;
                    s.finished = Some(now);
                    s.phase = None;
                    s.detail = Some("the instance is not in the ledger any more".to_string());
                    return;
                };
                let slot = next_slot(&self.ledger, steps_slots(steps), &group, &op.id);
                let s = &mut steps[i];
                s.slot = slot;
                if surge_free {
                    s.phase = Some(StepPhase::Launching);
                } else {
                    s.drain_first = true;
                    s.phase = Some(StepPhase::Draining);
                }
            }
            StepAction::Terminate { .. } | StepAction::Reboot { .. } => {
                steps[i].phase = Some(StepPhase::Draining);
            }
        }
    }

    /// The old instance a step works on (terminate, replace, reboot).
    fn old_instance(step: &Step) -> Option<&InstanceId> {
        match &step.action {
            StepAction::Terminate { instance }
            | StepAction::Replace { instance }
            | StepAction::Reboot { instance } => Some(instance),
            StepAction::Launch { .. } => None,
        }
    }

    fn name_of(&self, id: &InstanceId) -> String {
        self.record(id)
            .map(|r| r.name.to_string())
            .unwrap_or_else(|| id.to_string())
    }

    fn elapsed(&self, since: Option<Timestamp>) -> Duration {
        since
            .map(|s| Duration::try_from(self.now - s.get()).unwrap_or(Duration::ZERO))
            .unwrap_or(Duration::ZERO)
    }

    fn fail(&mut self, step: &mut Step, reason: String) {
        let now = self.ts();
        step.status = StepStatus::Failed;
        step.finished = Some(now);
        step.detail = Some(reason.clone());
        let inst = step.instance.clone();
        self.event(EventLevel::Error, reason, inst.as_ref());
    }

    fn set_record_state(&mut self, id: &InstanceId, state: RecordState) {
        if let Some(r) = self.record_mut(id)
            && !r.state.is_gone()
        {
            r.state = state;
        }
    }

    fn next_phase(&self, step: &mut Step, phase: Option<StepPhase>) {
        step.phase = phase;
        step.since = Some(self.ts());
    }

    /// Advances in-progress step `i` as far as what was observed allows.
    fn advance_step(&mut self, op: &Operation, steps: &mut [Step], i: usize) {
        // Several phases can pass in one step when nothing needs waiting for.
        for _ in 0..8 {
            let before = (steps[i].phase, steps[i].status);
            let mut step = steps[i].clone();
            self.advance_once(op, &mut step);
            steps[i] = step;
            if (steps[i].phase, steps[i].status) == before
                || steps[i].status != StepStatus::InProgress
            {
                break;
            }
        }
    }

    fn done(&mut self, step: &mut Step) {
        step.status = StepStatus::Done;
        step.phase = None;
        step.finished = Some(self.ts());
    }

    /// The phase after the launch phases: the old instance's removal for a surge-first
    /// replacement, nothing otherwise.
    fn after_launch(&self, step: &Step) -> Option<StepPhase> {
        match step.action {
            StepAction::Replace { .. } if !step.drain_first => Some(StepPhase::Draining),
            _ => None,
        }
    }

    fn after_removal(&self, step: &Step) -> Option<StepPhase> {
        match step.action {
            StepAction::Replace { .. } if step.drain_first => Some(StepPhase::Launching),
            _ => None,
        }
    }

    fn advance_once(&mut self, op: &Operation, step: &mut Step) {
        let Some(phase) = step.phase else {
            return;
        };
        let lb = self.config.spec.load_balancer.clone();
        let rollout = self.config.spec.rollout.clone();
        match phase {
            StepPhase::Launching => {
                let group = match &step.action {
                    StepAction::Launch { group } => Some(group.clone()),
                    StepAction::Replace { instance } => {
                        self.record(instance).map(|r| r.group.clone())
                    }
                    _ => None,
                };
                let Some(group) = group else {
                    self.fail(step, "no group for the launch".to_string());
                    return;
                };
                let name = format!(
                    "{}-{}-{}",
                    self.config.spec.display_name_prefix.as_str(),
                    group.as_str(),
                    step.slot
                );
                // The instance of this operation's slot, if OCI has it.
                if step.instance.is_none()
                    && let Some(found) = self.obs.instances.iter().find(|inst| {
                        let t = inst.fleet_tags();
                        t.operation.as_ref() == Some(&op.id) && t.slot == Some(step.slot)
                    })
                {
                    step.instance = Some(found.id.clone());
                }
                let Some(id) = step.instance.clone() else {
                    if self.elapsed(step.since) > rollout.launch_timeout {
                        self.fail(
                            step,
                            format!("{name}: not launched within {:?}", rollout.launch_timeout),
                        );
                        return;
                    }
                    if self.launches < MAX_LAUNCHES_PER_STEP {
                        self.launches += 1;
                        let launch = launch_of(self.config, &self.ledger, op.revision);
                        let digest = launch.group_digest(&group);
                        self.actions.push(Action::Launch {
                            operation: op.id.clone(),
                            slot: step.slot,
                            group,
                            name: name.clone(),
                            launch: Box::new(launch),
                            digest,
                        });
                    }
                    self.waiting_on.push(format!("{name}: launching"));
                    self.wake_within(Duration::from_secs(2));
                    return;
                };
                let state = self.instance(&id).map(|i| i.lifecycle_state.clone());
                match state {
                    Some(InstanceLifecycleState::Running) if self.ip_of(&id).is_some() => {
                        if lb.is_some() {
                            self.next_phase(step, Some(StepPhase::Registering));
                        } else {
                            self.set_record_state(&id, RecordState::Running);
                            self.next_phase(step, Some(StepPhase::Warming));
                        }
                    }
                    Some(s) if s.is_going_away() => {
                        self.fail(step, format!("{name}: terminated while launching"));
                    }
                    _ => {
                        if self.elapsed(step.since) > rollout.launch_timeout {
                            self.fail(
                                step,
                                format!("{name}: not RUNNING within {:?}", rollout.launch_timeout),
                            );
                            self.cleanup_new(step);
                            return;
                        }
                        self.waiting_on.push(format!(
                            "{name}: waiting for RUNNING, {} s so far",
                            self.elapsed(step.since).as_secs()
                        ));
                        self.wake_within(Duration::from_secs(2));
                    }
                }
            }
            StepPhase::Registering => {
                let (Some(id), Some(lb)) = (step.instance.clone(), lb) else {
                    self.next_phase(step, Some(StepPhase::Warming));
                    return;
                };
                let name = self.name_of(&id);
                match self.backend_of(&id) {
                    None => {
                        if let Some(ip) = self.ip_of(&id) {
                            self.actions.push(Action::AddBackend {
                                operation: op.id.clone(),
                                slot: step.slot,
                                instance: id.clone(),
                                ip,
                                port: lb.port,
                                weight: u32::from(lb.weight),
                            });
                        }
                        self.waiting_on.push(format!("{name}: adding backend"));
                        self.wake_within(Duration::from_secs(1));
                    }
                    Some(b) if b.healthy && !b.backend.drain => {
                        self.set_record_state(&id, RecordState::Running);
                        self.next_phase(step, Some(StepPhase::Warming));
                    }
                    Some(b) => {
                        if b.backend.drain {
                            // Added drained by someone: serve.
                            self.actions.push(Action::SetDrain {
                                operation: op.id.clone(),
                                slot: step.slot,
                                backend: b.backend.name.clone(),
                                drain: false,
                            });
                        }
                        let waited = self.elapsed(step.since);
                        if waited > lb.health_timeout {
                            self.fail(
                                step,
                                format!(
                                    "{name}: backend not healthy within {:?} (healthTimeout)",
                                    lb.health_timeout
                                ),
                            );
                            self.cleanup_new(step);
                            return;
                        }
                        self.waiting_on.push(format!(
                            "{name}: waiting for backend health OK, {} s so far",
                            waited.as_secs()
                        ));
                        self.wake_within(Duration::from_secs(2));
                    }
                }
            }
            StepPhase::Warming => {
                let min_ready = Duration::from_secs(u64::from(rollout.min_ready_seconds));
                let id = step.instance.clone();
                let healthy = match (&id, &lb) {
                    (Some(id), Some(_)) => self.backend_of(id).is_some_and(|b| b.healthy),
                    (Some(id), None) => self
                        .instance(id)
                        .is_some_and(|i| i.lifecycle_state == InstanceLifecycleState::Running),
                    (None, _) => false,
                };
                let name = id.as_ref().map(|i| self.name_of(i)).unwrap_or_default();
                if !healthy {
                    // Back to waiting for health (the clock of minReadySeconds restarts).
                    let back = if lb.is_some() {
                        StepPhase::Registering
                    } else {
                        StepPhase::Launching
                    };
                    if matches!(step.action, StepAction::Reboot { .. }) {
                        self.next_phase(step, Some(StepPhase::Rebooting));
                        step.seen_down = true;
                    } else {
                        self.next_phase(step, Some(back));
                    }
                    return;
                }
                let waited = self.elapsed(step.since);
                if waited < min_ready {
                    let left = min_ready - waited;
                    self.waiting_on.push(format!(
                        "{name}: healthy, waiting minReadySeconds ({} s left)",
                        left.as_secs()
                    ));
                    self.wake_within(left.max(Duration::from_millis(100)));
                    return;
                }
                if let Some(id) = &id {
                    self.set_record_state(id, RecordState::Running);
                }
                match step.action {
                    StepAction::Reboot { .. } => self.next_phase(step, Some(StepPhase::Undraining)),
                    _ => {
                        let next = self.after_launch(step);
                        if next.is_none() {
                            self.done(step);
                        } else {
                            self.next_phase(step, next);
                        }
                    }
                }
            }
            StepPhase::Draining => {
                let Some(old) = Self::old_instance(step).cloned() else {
                    self.done(step);
                    return;
                };
                let name = self.name_of(&old);
                let Some(lb) = lb else {
                    let next = if matches!(step.action, StepAction::Reboot { .. }) {
                        StepPhase::Rebooting
                    } else {
                        StepPhase::Terminating
                    };
                    self.set_record_state(&old, RecordState::Draining);
                    self.next_phase(step, Some(next));
                    return;
                };
                // Before taking it out of service, the others must carry the fleet (a
                // surge replacement is healthy by now; check again for reboots and
                // drain-first replacements started in the same step as others).
                match self.backend_of(&old) {
                    None => {
                        // No backend (never added, or removed): nothing to drain.
                        let next = if matches!(step.action, StepAction::Reboot { .. }) {
                            StepPhase::Rebooting
                        } else {
                            StepPhase::Terminating
                        };
                        self.set_record_state(&old, RecordState::Draining);
                        self.next_phase(step, Some(next));
                    }
                    Some(b) if !b.backend.drain => {
                        self.set_record_state(&old, RecordState::Draining);
                        self.actions.push(Action::SetDrain {
                            operation: op.id.clone(),
                            slot: step.slot,
                            backend: b.backend.name.clone(),
                            drain: true,
                        });
                        step.since = Some(self.ts());
                        self.waiting_on.push(format!("{name}: draining"));
                        self.wake_within(Duration::from_secs(1));
                    }
                    Some(_) => {
                        self.set_record_state(&old, RecordState::Draining);
                        let waited = self.elapsed(step.since);
                        if waited < lb.drain_timeout {
                            let left = lb.drain_timeout - waited;
                            self.waiting_on.push(format!(
                                "{name}: draining, {} s of {} s",
                                waited.as_secs(),
                                lb.drain_timeout.as_secs()
                            ));
                            self.wake_within(left.max(Duration::from_millis(100)));
                            return;
                        }
                        let next = if matches!(step.action, StepAction::Reboot { .. }) {
                            StepPhase::Rebooting
                        } else {
                            StepPhase::Deregistering
                        };
                        self.next_phase(step, Some(next));
                    }
                }
            }
            StepPhase::Deregistering => {
                let Some(old) = Self::old_instance(step).cloned() else {
                    self.done(step);
                    return;
                };
                match self.backend_of(&old) {
                    Some(b) => {
                        self.actions.push(Action::DeleteBackend {
                            backend: b.backend.name.clone(),
                        });
                        let name = self.name_of(&old);
                        self.waiting_on.push(format!("{name}: removing backend"));
                        self.wake_within(Duration::from_secs(1));
                    }
                    None => self.next_phase(step, Some(StepPhase::Terminating)),
                }
            }
            StepPhase::Terminating => {
                let Some(old) = Self::old_instance(step).cloned() else {
                    self.done(step);
                    return;
                };
                let name = self.name_of(&old);
                let live = self
                    .instance(&old)
                    .is_some_and(|i| !i.lifecycle_state.is_going_away());
                let record_gone = self.record(&old).is_none_or(|r| r.state.is_gone());
                if live {
                    self.set_record_state(&old, RecordState::Terminating);
                    self.actions.push(Action::Terminate {
                        instance: old.clone(),
                    });
                    self.waiting_on.push(format!("{name}: terminating"));
                    self.wake_within(Duration::from_secs(2));
                    return;
                }
                if !record_gone {
                    let now = self.ts();
                    if let Some(r) = self.record_mut(&old) {
                        r.state = RecordState::Terminated;
                        r.terminated = Some(now);
                    }
                    self.event(EventLevel::Info, format!("{name}: terminated"), Some(&old));
                }
                match self.after_removal(step) {
                    Some(next) => {
                        step.instance = None;
                        self.next_phase(step, Some(next));
                    }
                    None => self.done(step),
                }
            }
            StepPhase::Rebooting => {
                let Some(old) = Self::old_instance(step).cloned() else {
                    self.done(step);
                    return;
                };
                let name = self.name_of(&old);
                self.set_record_state(&old, RecordState::Rebooting);
                let state = self.instance(&old).map(|i| i.lifecycle_state.clone());
                let healthy = if lb.is_some() {
                    self.backend_of(&old).is_some_and(|b| b.healthy)
                } else {
                    true
                };
                let running = state == Some(InstanceLifecycleState::Running);
                match state {
                    None => {
                        self.fail(step, format!("{name}: gone while rebooting"));
                        return;
                    }
                    Some(s) if s.is_going_away() => {
                        self.fail(step, format!("{name}: terminated while rebooting"));
                        return;
                    }
                    _ => {}
                }
                if step.seen_down && running && healthy {
                    self.next_phase(step, Some(StepPhase::Warming));
                    return;
                }
                let waited = self.elapsed(step.since);
                if waited > REBOOT_TIMEOUT && step.escalated {
                    self.fail(
                        step,
                        format!("{name}: not back {} s after RESET", waited.as_secs()),
                    );
                    return;
                }
                if waited > REBOOT_TIMEOUT {
                    // The soft reset did not bring it back: a hard reset, once.
                    step.escalated = true;
                    step.seen_down = false;
                    step.since = Some(self.ts());
                }
                if !step.seen_down {
                    // Sent until OCI accepts it (the answer marks the step, see `apply`):
                    // the retry token makes a repeat the same request, never a second reboot.
                    let action = if step.escalated {
                        InstanceAction::Reset
                    } else {
                        match rollout.reboot_action {
                            RebootAction::SoftReset => InstanceAction::SoftReset,
                            RebootAction::Reset => InstanceAction::Reset,
                        }
                    };
                    step.detail = Some(format!("{action} requested"));
                    self.actions.push(Action::Reboot {
                        operation: op.id.clone(),
                        slot: step.slot,
                        instance: old.clone(),
                        action,
                    });
                }
                self.waiting_on
                    .push(format!("{name}: rebooting, {} s so far", waited.as_secs()));
                self.wake_within(Duration::from_secs(2));
            }
            StepPhase::Undraining => {
                let Some(old) = Self::old_instance(step).cloned() else {
                    self.done(step);
                    return;
                };
                match self.backend_of(&old) {
                    Some(b) if b.backend.drain => {
                        self.actions.push(Action::SetDrain {
                            operation: op.id.clone(),
                            slot: step.slot,
                            backend: b.backend.name.clone(),
                            drain: false,
                        });
                        let name = self.name_of(&old);
                        self.waiting_on.push(format!("{name}: back in service"));
                        self.wake_within(Duration::from_secs(1));
                    }
                    _ => {
                        self.set_record_state(&old, RecordState::Running);
                        self.done(step);
                    }
                }
            }
        }
    }

    /// Records fleetctl is terminating whose instance OCI still shows live, and which no
    /// step in flight works on: the termination was lost (a failed call, a crash between
    /// the record and the call). A failed step's cleanup ([`Self::cleanup_new`]) has no
    /// step left to send it again, so it is sent again here, with the backend removal,
    /// until OCI shows the instance going; otherwise the instance would run on as an
    /// orphan that the ledger calls terminating.
    fn retry_lost_terminations(&mut self) {
        let in_flight: BTreeSet<InstanceId> = self
            .ledger
            .operation
            .iter()
            .flat_map(|op| op.steps.iter())
            .filter(|s| s.status == StepStatus::InProgress)
            .flat_map(|s| Self::old_instance(s).into_iter().chain(s.instance.as_ref()))
            .cloned()
            .collect();
        let lost: Vec<(InstanceId, String)> = self
            .ledger
            .records
            .iter()
            .filter(|r| r.state == RecordState::Terminating && !in_flight.contains(&r.instance_id))
            .filter(|r| {
                self.instance(&r.instance_id)
                    .is_some_and(|i| !i.lifecycle_state.is_going_away())
            })
            .map(|r| (r.instance_id.clone(), r.name.to_string()))
            .collect();
        for (id, name) in lost {
            let doing = self.retire(&id);
            self.waiting_on.push(format!("{name}: {doing}"));
            self.wake_within(Duration::from_secs(2));
        }
    }

    /// The next call that takes an instance fleetctl is terminating outside a step's phases
    /// (a failed step's new instance, a lost termination) out of service, one per step as
    /// the phases do: its backend drained, then removed, and only once the load balancer
    /// shows it gone, the termination. Never a termination while the instance is still a
    /// backend (issue 12: every terminated instance is drained first). Returns what it does.
    fn retire(&mut self, id: &InstanceId) -> &'static str {
        match self.backend_of(id) {
            Some(b) if !b.backend.drain => {
                let (Some(operation), Some(ip)) = (lb_sync_operation(), self.ip_of(id)) else {
                    return "waiting to drain its backend";
                };
                self.actions.push(Action::SetDrain {
                    operation,
                    slot: address_slot(ip),
                    backend: b.backend.name.clone(),
                    drain: true,
                });
                "draining before termination"
            }
            Some(b) => {
                self.actions.push(Action::DeleteBackend {
                    backend: b.backend.name.clone(),
                });
                "removing its backend before termination"
            }
            None => {
                self.actions.push(Action::Terminate {
                    instance: id.clone(),
                });
                "terminating"
            }
        }
    }

    /// The backend set follows the active set on every step: a running instance no step is
    /// working on gets its backend back when it has none; a backend left at the address of
    /// an instance the ledger knows is gone (terminated or missing), with no live instance of
    /// the fleet at that address, is removed (traffic to it fails). Backends of addresses the
    /// fleet never had are left alone (they show as drift in `status`).
    fn reconcile_backends(&mut self) {
        let Some(lb) = self.config.spec.load_balancer.clone() else {
            return;
        };
        let Some(seen) = self.obs.load_balancer.as_ref() else {
            return;
        };
        let Some(op_id) = lb_sync_operation() else {
            return;
        };
        let busy: BTreeSet<InstanceId> = self
            .ledger
            .operation
            .iter()
            .flat_map(|op| op.steps.iter())
            .filter(|s| s.status == StepStatus::InProgress)
            .flat_map(|s| Self::old_instance(s).into_iter().chain(s.instance.as_ref()))
            .cloned()
            .collect();
        let mut adds = Vec::new();
        for r in &self.ledger.records {
            if r.state != RecordState::Running || busy.contains(&r.instance_id) {
                continue;
            }
            let running = self
                .instance(&r.instance_id)
                .is_some_and(|i| i.lifecycle_state == InstanceLifecycleState::Running);
            if !running || self.backend_of(&r.instance_id).is_some() {
                continue;
            }
            if let Some(ip) = self.ip_of(&r.instance_id) {
                adds.push((r.instance_id.clone(), r.name.clone(), ip));
            }
        }
        for (id, name, ip) in adds {
            self.actions.push(Action::AddBackend {
                operation: op_id.clone(),
                slot: address_slot(ip),
                instance: id,
                ip,
                port: lb.port,
                weight: u32::from(lb.weight),
            });
            self.waiting_on
                .push(format!("{name}: running without its backend; adding it"));
            self.wake_within(Duration::from_secs(2));
        }
        // Addresses of records the ledger knows are gone that a backend still points at
        // (usually none: the addresses of the whole fleet are only gathered then).
        let gone: HashSet<IpAddr> = self
            .ledger
            .records
            .iter()
            .filter(|r| r.state.is_gone())
            .filter_map(|r| r.private_ip)
            .collect();
        let pointed_at = |b: &&Backend| {
            b.port == lb.port
                && b.ip_address
                    .as_deref()
                    .and_then(|ip| ip.parse::<IpAddr>().ok())
                    .is_some_and(|ip| gone.contains(&ip))
        };
        let stale: Vec<BackendName> = if seen.backends.iter().any(|b| pointed_at(&b)) {
            // Addresses the fleet holds now: active records and live instances.
            let live: HashSet<IpAddr> = self
                .ledger
                .records
                .iter()
                .filter(|r| !r.state.is_gone())
                .filter_map(|r| self.ip_of(&r.instance_id))
                .chain(
                    self.obs
                        .instances
                        .iter()
                        .filter(|i| !i.lifecycle_state.is_going_away())
                        .filter_map(|i| self.obs.private_ips.get(&i.id).copied()),
                )
                .collect();
            seen.backends
                .iter()
                .filter(pointed_at)
                .filter(|b| {
                    b.ip_address
                        .as_deref()
                        .and_then(|ip| ip.parse::<IpAddr>().ok())
                        .is_some_and(|ip| !live.contains(&ip))
                })
                .map(|b| b.name.clone())
                .collect()
        } else {
            Vec::new()
        };
        for backend in stale {
            self.waiting_on.push(format!(
                "backend {} points at an instance that is gone; removing it",
                backend.as_str()
            ));
            self.actions.push(Action::DeleteBackend { backend });
            self.wake_within(Duration::from_secs(2));
        }
    }

    /// Load balancer work requests the ledger waits on: finished ones are dropped (a failed
    /// one is reported; the step that wanted it sees the backend unchanged and asks again),
    /// one still running holds every other backend change of this step (OCI applies one
    /// change of a load balancer at a time). One unknown for [`STUCK_WORK_REQUEST`] is given
    /// up on with a warning.
    fn settle_work_requests(&mut self) {
        let states = self
            .obs
            .load_balancer
            .as_ref()
            .map(|l| l.work_requests.clone())
            .unwrap_or_default();
        let pending = std::mem::take(&mut self.ledger.work_requests);
        let mut keep = Vec::new();
        let mut notes = Vec::new();
        for w in pending {
            let age = self.elapsed(Some(w.started));
            match states.get(&w.id) {
                Some(WorkRequestState::Succeeded) => {}
                Some(WorkRequestState::Failed { message, .. }) => notes.push((
                    EventLevel::Warning,
                    format!("load balancer change failed ({}): {message}", w.what),
                )),
                _ if age > STUCK_WORK_REQUEST => notes.push((
                    EventLevel::Warning,
                    format!(
                        "load balancer change still not done after {} s ({}); no longer waiting for it",
                        age.as_secs(),
                        w.what
                    ),
                )),
                _ => {
                    if self.lb_busy.is_none() {
                        self.lb_busy = Some(format!("{}, {} s so far", w.what, age.as_secs()));
                    }
                    keep.push(w);
                }
            }
        }
        self.ledger.work_requests = keep;
        for (level, message) in notes {
            self.event(level, message, None);
        }
    }

    /// Backend removals an earlier step decided on but whose answer it never recorded (it
    /// stopped in between). DeleteBackend takes no retry token, so sending one again while
    /// the first is still queued would make the load balancer run it twice: wait until the
    /// backend is gone (done), or the load balancer has no work request left and still
    /// lists it (the removal never took effect: it is decided again), or, where the load
    /// balancer cannot list its work requests, [`UNCONFIRMED_REMOVAL_WAIT`] has passed.
    fn settle_unconfirmed_removals(&mut self) {
        let pending = std::mem::take(&mut self.ledger.unconfirmed_removals);
        let Some(lb) = self.obs.load_balancer.as_ref() else {
            // The fleet no longer has a load balancer to remove backends from.
            return;
        };
        let mut keep = Vec::new();
        let mut notes = Vec::new();
        for u in pending {
            if !lb.backends.iter().any(|b| b.name.as_str() == u.backend) {
                continue;
            }
            let age = self.elapsed(Some(u.since));
            let waiting = match &lb.in_flight {
                Some(ids) => !ids.is_empty(),
                None if age > UNCONFIRMED_REMOVAL_WAIT => {
                    notes.push(format!(
                        "removal of backend {} (sent before a restart) not applied after {} s; sending it again",
                        u.backend,
                        age.as_secs()
                    ));
                    false
                }
                None => true,
            };
            if waiting {
                if self.lb_busy.is_none() {
                    self.lb_busy = Some(format!(
                        "the removal of backend {} sent before a restart, {} s so far",
                        u.backend,
                        age.as_secs()
                    ));
                }
                keep.push(u);
            }
        }
        self.ledger.unconfirmed_removals = keep;
        for message in notes {
            self.event(EventLevel::Warning, message, None);
        }
    }

    /// Every backend removal this step will send is noted in the ledger the plan saves
    /// before acting ([`apply`] drops the note when the answer is recorded), so a restart
    /// between sending and recording cannot send it twice.
    fn note_removals(&mut self) {
        let since = self.ts();
        for a in &self.actions {
            if let Action::DeleteBackend { backend } = a
                && !self
                    .ledger
                    .unconfirmed_removals
                    .iter()
                    .any(|u| u.backend == backend.as_str())
            {
                self.ledger.unconfirmed_removals.push(UnconfirmedRemoval {
                    backend: backend.as_str().to_string(),
                    since,
                });
            }
        }
    }

    /// While a load balancer change is being applied, the step's other backend changes wait
    /// for the next step (which sees the first one's result).
    fn hold_lb_changes_while_busy(&mut self) {
        let Some(busy) = self.lb_busy.clone() else {
            return;
        };
        let before = self.actions.len();
        self.actions.retain(|a| {
            !matches!(
                a,
                Action::AddBackend { .. } | Action::SetDrain { .. } | Action::DeleteBackend { .. }
            )
        });
        if self.actions.len() != before || self.waiting_on.is_empty() {
            self.waiting_on
                .insert(0, format!("load balancer: applying {busy}"));
        }
        self.wake_within(Duration::from_secs(1));
    }

    /// What the step waits on is kept with the operation, so a front door that did not run
    /// the step (a function answering `/metrics`) can show it.
    fn record_waiting(&mut self) {
        let waiting = self.waiting_on.clone();
        if let Some(op) = self.ledger.operation.as_mut() {
            op.waiting_on = if op.status.is_finished() {
                Vec::new()
            } else {
                waiting
            };
        }
    }

    /// A failed launch or replacement: its new instance (if any) leaves the load balancer
    /// and is terminated, so only healthy old instances serve. The record stays until OCI
    /// shows it gone.
    fn cleanup_new(&mut self, step: &Step) {
        let Some(id) = step.instance.clone() else {
            return;
        };
        if self
            .instance(&id)
            .is_some_and(|i| !i.lifecycle_state.is_going_away())
        {
            // Out of the load balancer first; the next steps carry it on
            // (`retry_lost_terminations`: a terminating record no step works on).
            self.set_record_state(&id, RecordState::Terminating);
            self.retire(&id);
        } else if let Some(b) = self.backend_of(&id) {
            self.actions.push(Action::DeleteBackend {
                backend: b.backend.name.clone(),
            });
        }
    }
}

fn steps_slots(steps: &[Step]) -> BTreeSet<u32> {
    steps.iter().map(|s| s.slot).filter(|s| *s != 0).collect()
}

/// The lowest slot number of `group` that no live record, no step of operation `op` and no
/// instance `op` launched before (a failed launch, terminated since) uses: a slot's launch
/// retry token and tags are derived from the operation and the slot, so a slot of `op` is
/// never given twice.
fn next_slot(
    ledger: &Ledger,
    taken_by_steps: BTreeSet<u32>,
    group: &GroupName,
    op: &OperationId,
) -> u32 {
    let used: BTreeSet<u32> = ledger
        .records
        .iter()
        .filter(|r| &r.group == group && (!r.state.is_gone() || r.operation.as_ref() == Some(op)))
        .filter_map(slot_of)
        .chain(taken_by_steps)
        .collect();
    (1..).find(|n| !used.contains(n)).unwrap_or(u32::MAX)
}

/// Records what the actions returned. Pure.
pub fn apply(ledger: &mut Ledger, outcomes: &[Outcome], now: OffsetDateTime) {
    for o in outcomes {
        match o {
            Outcome::Launched {
                operation,
                slot,
                instance,
                name,
                group,
                private_ip,
                launch_digest,
            } => {
                if ledger.record(instance).is_none() {
                    ledger.records.push(InstanceRecord {
                        instance_id: instance.clone(),
                        group: group.clone(),
                        name: name.as_str().into(),
                        private_ip: *private_ip,
                        created: Timestamp::new(now),
                        terminated: None,
                        state: RecordState::Launching,
                        operation: Some(operation.clone()),
                        launch_digest: launch_digest.as_deref().map(Into::into),
                    });
                    push(
                        ledger,
                        now,
                        EventLevel::Info,
                        format!("{name}: launched"),
                        Some(operation),
                        Some(instance),
                    );
                }
                if let Some(op) = ledger.operation.as_mut()
                    && &op.id == operation
                    && let Some(s) = op
                        .steps
                        .iter_mut()
                        .find(|s| s.slot == *slot && s.status == StepStatus::InProgress)
                    && s.instance.is_none()
                {
                    s.instance = Some(instance.clone());
                }
            }
            Outcome::StepFailed {
                operation,
                slot,
                reason,
            } => {
                let mut failed = false;
                if let Some(op) = ledger.operation.as_mut()
                    && &op.id == operation
                    && let Some(s) = op
                        .steps
                        .iter_mut()
                        .find(|s| s.slot == *slot && s.status == StepStatus::InProgress)
                {
                    s.status = StepStatus::Failed;
                    s.finished = Some(Timestamp::new(now));
                    s.detail = Some(reason.clone());
                    failed = true;
                }
                if failed {
                    push(
                        ledger,
                        now,
                        EventLevel::Error,
                        reason.clone(),
                        Some(operation),
                        None,
                    );
                }
            }
            Outcome::RebootAccepted { operation, slot } => {
                if let Some(op) = ledger.operation.as_mut()
                    && &op.id == operation
                    && let Some(s) = op
                        .steps
                        .iter_mut()
                        .find(|s| s.slot == *slot && s.status == StepStatus::InProgress)
                {
                    s.seen_down = true;
                    s.detail = s
                        .detail
                        .as_ref()
                        .map(|d| d.replace("requested", "accepted"));
                }
            }
            Outcome::LbChangeStarted { work_request, what } => {
                if !ledger.work_requests.iter().any(|w| &w.id == work_request) {
                    ledger.work_requests.push(PendingWorkRequest {
                        id: work_request.clone(),
                        what: what.clone(),
                        started: Timestamp::new(now),
                    });
                }
            }
            Outcome::Transient { reason } => {
                push(ledger, now, EventLevel::Warning, reason.clone(), None, None);
            }
            Outcome::RemovalSettled { backend } => {
                ledger
                    .unconfirmed_removals
                    .retain(|u| &u.backend != backend);
            }
        }
    }
}
