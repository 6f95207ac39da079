//! What an operation is doing, for the dashboard and the CLI: the metrics snapshot
//! (`GET /metrics`), the control status (`GET /control`) and the event history (`GET /events`).
//!
//! Built by `fleetctl_core::metrics` from the ledger alone (no call to OCI), so serving them
//! is cheap and a function instance that just woke up shows the same as the server that ran
//! the step. Field names are camelCase, enum values snake_case, times RFC 3339 strings in UTC,
//! OCIDs and IPs strings. Every badge of the dashboard is a function of a [`MetricsSnapshot`]
//! (see [`crate::badges`]).

use serde::{Deserialize, Serialize};

/// The metrics snapshot: the fleet, the active (or last) operation and its progress, the load
/// balancer, the scale queue and one row per instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MetricsSnapshot {
    /// `metadata.name`.
    pub fleet: String,
    /// When the snapshot was built.
    pub at: String,
    /// The active or last operation's kind; `None` before the first one.
    pub operation: Option<OperationKind>,
    /// Its id.
    pub operation_id: Option<String>,
    /// Where it is.
    pub operation_status: Option<OperationStatus>,
    /// When it started.
    pub operation_started: Option<String>,
    /// What its steps are doing (see [`Phase`]).
    pub phase: Phase,
    /// Active instances when the operation started (active now when there is none).
    pub start_total: u32,
    /// Active instances it aims at (a scale's desired total; a rolling restart keeps the
    /// count).
    pub target_total: u32,
    /// Instances it launches (launches and replacements).
    pub launch_total: u32,
    /// Of those, launched and in service (RUNNING, and a healthy backend with a load
    /// balancer).
    pub launch_succeeded: u32,
    /// Instances it removes (terminations and replaced instances).
    pub terminate_total: u32,
    /// Of those, terminated.
    pub terminate_succeeded: u32,
    /// A rolling restart's steps started so far (1-based position of the latest); 0 for
    /// other operations.
    pub rolling_restart_index: u32,
    /// A rolling restart's steps (one per instance); 0 for other operations.
    pub rolling_restart_total: u32,
    /// A rolling restart's strategy.
    pub strategy: Option<Strategy>,
    /// A rolling restart's limits, resolved for its fleet size.
    pub limits: Option<Limits>,
    /// Why the operation is paused (status `paused`).
    pub paused_reason: Option<String>,
    /// The operation's last error.
    pub error: Option<String>,
    /// What the last step waits on, one line each ("demo-web-3: waiting for backend health
    /// OK, 40 s so far").
    pub waiting_on: Vec<String>,
    /// Whether the fleet uses a load balancer.
    pub lb_enabled: bool,
    /// Backends fleetctl keeps in service: instances the ledger has as running. An instance
    /// leaves this count as soon as its drain starts (before OCI removes the backend). 0
    /// without a load balancer.
    pub lb_backends: u32,
    /// The desired totals of queued scale requests, oldest first (FIFO).
    pub scale_queue: Vec<u32>,
    /// The sum of `spec.instances[].count`.
    pub desired: u32,
    /// Active instances in the ledger (launching, running, draining, rebooting).
    pub actual: u32,
    /// Each group's `count` in the fleet file, in file order.
    pub minimums: Vec<GroupMinimum>,
    /// One row per instance the ledger does not have as gone, by group (file order), then
    /// creation.
    pub instances: Vec<InstanceRow>,
    /// The ledger's number of the fleet file's launch-details revision; `None` until a
    /// step or request has recorded it.
    #[serde(default)]
    pub revision: Option<u32>,
    /// Active instances whose launch details differ from the fleet file's (what `fleetctl
    /// rollout` would replace).
    #[serde(default)]
    pub outdated: u32,
    /// The active or last operation's rolling-update details (revision, checkpoint,
    /// rollback); `None` for other operations.
    #[serde(default)]
    pub rollout: Option<RolloutState>,
    /// The last finished operations, newest first (at most 20).
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
}

/// A rolling update's state: `fleetctl rollout`, `undo`, or an automatic rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RolloutState {
    /// `rollout`, `undo` or `rollback`; `None` for a rolling restart (every instance).
    pub update: Option<String>,
    /// The revision its launches use.
    pub revision: Option<u32>,
    /// Its checkpoints (percentages of its instances), ascending.
    pub checkpoints: Vec<u32>,
    /// How many it passed.
    pub checkpoints_passed: u32,
    /// The checkpoint it waits at, or the last one it passed.
    pub checkpoint: Option<CheckpointState>,
    /// The revision a failure rolls back to (`rollbackOnFailure`).
    pub rollback_to: Option<u32>,
    /// For a rollback: the rolling update it rolls back, and why.
    pub rolls_back: Option<String>,
    /// Why it rolled back.
    pub rollback_reason: Option<String>,
}

/// A checkpoint of a rolling update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CheckpointState {
    /// The percentage.
    pub percent: u32,
    /// Instances done when it was reached.
    pub done: u32,
    /// Of how many.
    pub total: u32,
    /// When it was reached.
    pub reached: String,
    /// `resume`, or the bake time in seconds.
    pub wait: String,
    /// `waiting`, `resumed`, `healthy` (baked healthy) or `unhealthy` (a backend failed
    /// during the bake; the operation paused).
    pub verdict: String,
}

/// A finished operation in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The operation id.
    pub id: String,
    /// What it did.
    pub kind: OperationKind,
    /// For a rolling update: `rollout`, `undo` or `rollback`.
    pub update: Option<String>,
    /// How it ended.
    pub status: OperationStatus,
    /// When it started.
    pub started: String,
    /// When it finished.
    pub finished: Option<String>,
    /// Through which door: `cli`, `api`, `function`, `control_loop` or `rollback`.
    pub door: Option<String>,
    /// Who asked, when the door knows.
    pub who: Option<String>,
    /// The launch-details revision it launched from.
    pub revision: Option<u32>,
    /// Instances launched (and in service).
    pub launched: u32,
    /// Instances removed.
    pub removed: u32,
    /// Why it failed, was cancelled or rolled back.
    pub error: Option<String>,
}

/// A launch-details revision of the fleet file, as the ledger has seen it. Never the
/// details themselves (metadata may hold secrets): its digest and the names of the fields
/// that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RevisionEntry {
    /// Its number.
    pub number: u32,
    /// The digest of its launch details.
    pub digest: String,
    /// When it was first seen.
    pub seen: String,
    /// The fields that changed from the revision before.
    pub changed: Vec<String>,
    /// Whether it is the fleet file's current revision.
    pub current: bool,
    /// Active instances launched from it.
    pub instances: u32,
}

/// `GET /rollout/history`: the revisions the ledger keeps and the finished operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RolloutHistory {
    /// `metadata.name`.
    pub fleet: String,
    /// Revisions, oldest first.
    pub revisions: Vec<RevisionEntry>,
    /// Finished operations, newest first.
    pub operations: Vec<HistoryEntry>,
}

impl MetricsSnapshot {
    /// A shortfall or surplus of active instances against the fleet file, if any.
    pub fn size_drift(&self) -> Option<SizeDrift> {
        SizeDrift::of(self.desired, self.actual)
    }

    /// True while the operation has work left (running or paused).
    pub fn operation_active(&self) -> bool {
        matches!(
            self.operation_status,
            Some(OperationStatus::Running | OperationStatus::Paused)
        )
    }
}

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OperationKind {
    /// Bring the fleet to a desired total.
    Scale,
    /// Replace or reboot every instance while the load balancer serves.
    RollingRestart,
    /// Rebuild the ledger from what OCI reports.
    SyncState,
}

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    /// Steps remain.
    Running,
    /// Waiting for `resume` (or to be superseded); `pausedReason` says why.
    Paused,
    /// Every step finished.
    Succeeded,
    /// Stopped by an error.
    Failed,
    /// Aborted or superseded.
    Cancelled,
}

/// What an operation's steps are doing.
///
/// The phase of the in-progress step that started first: `launch` (a new instance is
/// coming up or getting its backend; a reboot is under way), `verify` (healthy, waiting
/// `minReadySeconds`, or back in service), `terminate` (draining, removing the backend,
/// terminating). `planning` while no step is in progress (none started yet, or the
/// operation is paused); `done` when there is no operation or it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// No step in progress yet.
    Planning,
    /// Bringing instances up.
    Launch,
    /// Taking instances out.
    Terminate,
    /// Waiting for health.
    Verify,
    /// Nothing to do.
    Done,
}

impl Phase {
    /// The phase as the JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Planning => "planning",
            Phase::Launch => "launch",
            Phase::Terminate => "terminate",
            Phase::Verify => "verify",
            Phase::Done => "done",
        }
    }
}

/// A rolling restart's strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// A new instance first, then the old one goes.
    Replace,
    /// In place: drain, reboot, undrain.
    Reboot,
}

/// A rolling restart's resolved limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// The fleet size they were resolved for.
    pub desired: u32,
    /// Extra instances at once.
    pub max_surge: u32,
    /// Instances out of service at once.
    pub max_unavailable: u32,
}

/// A group's count in the fleet file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GroupMinimum {
    /// The group.
    pub group: String,
    /// Its `count`.
    pub count: u32,
}

/// One instance of the status grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InstanceRow {
    /// The instance OCID.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// Its group.
    pub group: String,
    /// The ledger's state: `launching`, `running`, `draining`, `rebooting` or
    /// `terminating`.
    pub state: String,
    /// Its primary private IP, once known.
    pub private_ip: Option<String>,
    /// Its load balancer backend as the ledger knows it (the last step's view, not a fresh
    /// health check); `None` when the fleet has no load balancer.
    pub backend: Option<BackendState>,
    /// When it was created.
    pub created: String,
    /// What the active operation is doing to it, if anything.
    pub activity: Option<Activity>,
    /// The launch-detail fields in which it differs from the fleet file (`imageId`,
    /// `shape`, `shapeConfig`, `subnetId`, `metadata.<key>`, `definedTags`, `freeformTags`;
    /// `unknown` when the ledger does not know what it was launched from); empty when up to
    /// date.
    #[serde(default)]
    pub outdated: Vec<String>,
}

/// An instance's load balancer backend, as the ledger knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BackendState {
    /// No backend: not added yet (the instance is starting) or already removed.
    Absent,
    /// Added, waiting for the health check to pass.
    Pending,
    /// Health OK and serving.
    Healthy,
    /// Being drained (no new connections) before a removal or a reboot.
    Draining,
    /// Drained while the instance reboots or returns to service.
    Drained,
    /// Being removed from the backend set.
    Removing,
}

impl BackendState {
    /// The state as the JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendState::Absent => "absent",
            BackendState::Pending => "pending",
            BackendState::Healthy => "healthy",
            BackendState::Draining => "draining",
            BackendState::Drained => "drained",
            BackendState::Removing => "removing",
        }
    }
}

/// What an operation's step is doing to an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// The step's action.
    pub action: StepAction,
    /// For a replacement: whether this is the old or the new instance.
    pub role: Option<Role>,
    /// The step's phase as the ledger writes it: `launching`, `registering`, `warming`,
    /// `draining`, `deregistering`, `terminating`, `rebooting` or `undraining`.
    pub phase: String,
    /// When that phase began.
    pub since: Option<String>,
    /// One line for people ("replacing demo-web-1: waiting for backend health").
    pub text: String,
}

/// A step's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    /// A new instance.
    Launch,
    /// Drain, remove the backend, terminate.
    Terminate,
    /// A new instance, then the old one goes.
    Replace,
    /// Drain, reboot, undrain.
    Reboot,
}

/// Which side of a replacement an instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The instance being replaced.
    Old,
    /// Its replacement.
    New,
}

/// Active instances against the fleet file's total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SizeDrift {
    /// Fewer active than desired.
    Shortfall {
        /// How many fewer.
        missing: u32,
    },
    /// More active than desired (an explicit scale-up, or adopted instances).
    Surplus {
        /// How many more.
        extra: u32,
    },
}

impl SizeDrift {
    /// The drift of `actual` active instances against `desired`; `None` when equal.
    pub fn of(desired: u32, actual: u32) -> Option<SizeDrift> {
        match actual.cmp(&desired) {
            std::cmp::Ordering::Less => Some(SizeDrift::Shortfall {
                missing: desired - actual,
            }),
            std::cmp::Ordering::Greater => Some(SizeDrift::Surplus {
                extra: actual - desired,
            }),
            std::cmp::Ordering::Equal => None,
        }
    }
}

/// The control loop's view: desired against actual, and how its last runs went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ControlStatus {
    /// `metadata.name`.
    pub fleet: String,
    /// The sum of `spec.instances[].count`.
    pub desired: u32,
    /// Active instances in the ledger.
    pub actual: u32,
    /// What the control loop brings the fleet to: `max(desired, actual)` (it never scales
    /// down on its own).
    pub target: u32,
    /// `desired` against `actual`, when they differ.
    pub drift: Option<SizeDrift>,
    /// The last reconcile step's error, when it failed.
    pub last_error: Option<String>,
    /// When the fleet file was last (re)loaded.
    pub last_config_reload: Option<String>,
}

/// The recent events, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EventHistory {
    /// The events, oldest first.
    pub events: Vec<EventEntry>,
    /// The most the ledger keeps; older ones are dropped.
    pub capacity: u32,
}

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EventEntry {
    /// Its id: events are numbered from 1 in the order the ledger recorded them, and the
    /// number survives the window (`/events` SSE sends it as `id:`). 0 from a server that
    /// did not number them.
    #[serde(default)]
    pub id: u64,
    /// When.
    pub at: String,
    /// How much it matters.
    pub level: EventLevel,
    /// What happened.
    pub message: String,
    /// The instance concerned (OCID).
    pub instance: Option<String>,
    /// Its name, when the ledger knows it.
    pub instance_name: Option<String>,
    /// The operation it belongs to.
    pub operation: Option<String>,
}

/// How much an event matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EventLevel {
    /// Normal progress.
    Info,
    /// Something unexpected that fleetctl handled.
    Warning,
    /// Something that needs a person.
    Error,
}
