//! What the API and the dashboard show of the fleet and its operation: the metrics snapshot
//! ([`snapshot`], `GET /metrics`), the control status ([`control_status`], `GET /control`)
//! and the event history ([`events`], `GET /events`), as `fleetctl_api::metrics` types.
//!
//! Pure: everything comes from the fleet file, the ledger and the arguments (the last step's
//! waiting lines, `now`). Nothing is observed, so serving these costs no OCI call, and every
//! front door shows the same thing for the same ledger.
//!
//! # Rules
//! - `actual` counts the ledger's active records (launching, running, draining, rebooting),
//!   as the control loop does; `desired` is the fleet file's total. They differ: that is
//!   drift (a shortfall or a surplus), whatever OCI shows.
//! - `lbBackends` counts the records the ledger has as `running` when the fleet has a load
//!   balancer: an instance joins once its backend is healthy and leaves as soon as its drain
//!   starts, before OCI removes the backend.
//! - `phase` is that of the in-progress step that started first (see
//!   [`fleetctl_api::metrics::Phase`]).
//! - A launch succeeded once its step is done, or its instance is `running` in the ledger
//!   (RUNNING, and healthy behind the load balancer); a removal once the instance it removes
//!   is terminated (or gone).

use std::collections::BTreeMap;

use fleetctl_api::metrics::{
    Activity, BackendState, CheckpointState, ControlStatus, EventEntry, EventHistory, EventLevel,
    GroupMinimum, HistoryEntry, InstanceRow, Limits, MetricsSnapshot, OperationKind as ApiKind,
    OperationStatus as ApiStatus, Phase, RevisionEntry, Role, RolloutHistory, RolloutState,
    SizeDrift, StepAction as ApiAction, Strategy,
};
use time::OffsetDateTime;

use crate::cloud;
use crate::config::{FleetConfig, RolloutStrategy};
use crate::ids::InstanceId;
use crate::plan;
use crate::store::ledger::{
    self, CheckpointWait, InstanceRecord, Ledger, Operation, OperationKind, OperationStatus,
    RecordState, StepAction, StepPhase, StepStatus, Timestamp, UpdateReason,
};

/// The metrics snapshot of `ledger` at `now`; `waiting_on` is what the last step reported it
/// waits on (`ops::StepReport::waiting_on`).
pub fn snapshot(
    config: &FleetConfig,
    ledger: &Ledger,
    waiting_on: &[String],
    now: OffsetDateTime,
) -> MetricsSnapshot {
    let desired = desired(config);
    let actual = plan::active_count(ledger);
    let op = ledger.operation.as_ref();
    let counts = op
        .map(|o| ledger::step_totals(o, ledger))
        .unwrap_or_default();
    let (rr_index, rr_total) = match op {
        Some(o) if matches!(o.kind, OperationKind::RollingRestart { .. }) => {
            match (o.steps.is_empty(), o.totals) {
                (true, Some(t)) => (t.steps, t.steps),
                _ => (
                    count(o.steps.iter().filter(|s| s.status != StepStatus::Pending)),
                    count(o.steps.iter()),
                ),
            }
        }
        _ => (0, 0),
    };
    let target = cloud::launch_spec(config);
    let fresh = plan::Freshness::new(ledger, &target);
    let digest = target.digest();
    let revision = ledger
        .revisions
        .iter()
        .rev()
        .find(|r| r.digest == digest)
        .map(|r| r.number);
    let lb_enabled = config.spec.load_balancer.is_some();
    MetricsSnapshot {
        fleet: config.metadata.name.as_str().to_string(),
        at: Timestamp::new(now).to_string(),
        operation: op.map(|o| kind(&o.kind)),
        operation_id: op.map(|o| o.id.to_string()),
        operation_status: op.map(|o| status(o.status)),
        operation_started: op.map(|o| o.started.to_string()),
        phase: phase(op),
        start_total: op.map_or(actual, |o| o.start_total),
        target_total: op.map_or(actual, |o| o.target_total),
        launch_total: counts.launch_total,
        launch_succeeded: counts.launch_succeeded,
        terminate_total: counts.terminate_total,
        terminate_succeeded: counts.terminate_succeeded,
        rolling_restart_index: rr_index,
        rolling_restart_total: rr_total,
        strategy: op.and_then(|o| match o.kind {
            OperationKind::RollingRestart { strategy, .. } => Some(match strategy {
                RolloutStrategy::Replace => Strategy::Replace,
                RolloutStrategy::Reboot => Strategy::Reboot,
            }),
            _ => None,
        }),
        limits: op.and_then(|o| o.limits).map(|l| Limits {
            desired: l.desired,
            max_surge: l.max_surge,
            max_unavailable: l.max_unavailable,
        }),
        paused_reason: op
            .filter(|o| o.status == OperationStatus::Paused)
            .and_then(|o| o.pause_reason.clone()),
        error: op.and_then(|o| o.error.clone()),
        waiting_on: waiting_on.to_vec(),
        lb_enabled,
        lb_backends: if lb_enabled {
            count(
                ledger
                    .records
                    .iter()
                    .filter(|r| r.state == RecordState::Running),
            )
        } else {
            0
        },
        scale_queue: ledger.scale_queue.iter().map(|r| r.desired).collect(),
        desired,
        actual,
        minimums: config
            .spec
            .instances
            .iter()
            .map(|g| GroupMinimum {
                group: g.name.as_str().to_string(),
                count: g.count,
            })
            .collect(),
        instances: rows(config, ledger, lb_enabled, &fresh),
        revision,
        outdated: count(
            ledger
                .records
                .iter()
                .filter(|r| plan::is_active_record(r) && fresh.is_outdated(r)),
        ),
        rollout: op.and_then(rollout_state),
        history: history(ledger),
    }
}

/// A rolling restart's or update's rollout details.
fn rollout_state(op: &Operation) -> Option<RolloutState> {
    let OperationKind::RollingRestart { update, .. } = &op.kind else {
        return None;
    };
    let (rolls_back, rollback_reason) = match update.as_ref().map(|u| &u.reason) {
        Some(UpdateReason::Rollback { of, why }) => (Some(of.to_string()), Some(why.clone())),
        _ => (None, None),
    };
    Some(RolloutState {
        update: update.as_ref().map(|u| u.reason.as_str().to_string()),
        revision: op.revision,
        checkpoints: op.checkpoints.clone(),
        checkpoints_passed: op.checkpoints_passed,
        checkpoint: op.checkpoint.as_ref().map(|c| CheckpointState {
            percent: c.percent,
            done: c.done,
            total: c.total,
            reached: c.reached.to_string(),
            wait: match c.wait {
                CheckpointWait::Resume => "resume".to_string(),
                CheckpointWait::Bake { seconds } => format!("{seconds}s"),
            },
            verdict: c.verdict.as_str().to_string(),
        }),
        rollback_to: op.rollback_to,
        rolls_back,
        rollback_reason,
    })
}

/// The ledger's history of finished operations, newest first.
pub fn history(ledger: &Ledger) -> Vec<HistoryEntry> {
    ledger
        .history
        .iter()
        .rev()
        .map(|h| HistoryEntry {
            id: h.id.to_string(),
            kind: kind(&h.kind),
            update: match &h.kind {
                OperationKind::RollingRestart {
                    update: Some(u), ..
                } => Some(u.reason.as_str().to_string()),
                _ => None,
            },
            status: status(h.status),
            started: h.started.to_string(),
            finished: h.finished.map(|t| t.to_string()),
            door: h.origin.as_ref().map(|o| o.door.as_str().to_string()),
            who: h.origin.as_ref().and_then(|o| o.who.clone()),
            revision: h.revision,
            launched: h.totals.launch_succeeded,
            removed: h.totals.terminate_succeeded,
            error: h.error.clone(),
        })
        .collect()
}

/// `GET /rollout/history`: the kept revisions (never their launch details) and the history.
pub fn rollout_history(config: &FleetConfig, ledger: &Ledger) -> RolloutHistory {
    let target = cloud::launch_spec(config);
    let digest = target.digest();
    let current = ledger
        .revisions
        .iter()
        .rev()
        .find(|r| r.digest == digest)
        .map(|r| r.number);
    let fresh = plan::Freshness::new(ledger, &target);
    let mut per_revision: BTreeMap<u32, u32> = BTreeMap::new();
    for r in ledger.records.iter().filter(|r| plan::is_active_record(r)) {
        if let Some(n) = fresh.revision_of(r) {
            *per_revision.entry(n).or_default() += 1;
        }
    }
    RolloutHistory {
        fleet: config.metadata.name.as_str().to_string(),
        revisions: ledger
            .revisions
            .iter()
            .map(|r| RevisionEntry {
                number: r.number,
                digest: r.digest.clone(),
                seen: r.seen.to_string(),
                changed: r.changed.clone(),
                current: Some(r.number) == current,
                instances: per_revision.get(&r.number).copied().unwrap_or(0),
            })
            .collect(),
        operations: history(ledger),
    }
}

/// The control loop's status: desired against actual, the target it brings the fleet to,
/// the last step's error (`None` when it succeeded) and when the fleet file was last loaded.
pub fn control_status(
    config: &FleetConfig,
    ledger: &Ledger,
    last_error: Option<&str>,
    last_config_reload: Option<OffsetDateTime>,
) -> ControlStatus {
    let desired = desired(config);
    let actual = plan::active_count(ledger);
    ControlStatus {
        fleet: config.metadata.name.as_str().to_string(),
        desired,
        actual,
        target: plan::control_target(config, ledger),
        drift: SizeDrift::of(desired, actual),
        last_error: last_error.map(str::to_string),
        last_config_reload: last_config_reload.map(|t| Timestamp::new(t).to_string()),
    }
}

/// The ledger's recent events, oldest first, with their ids and the names of the instances
/// they concern.
pub fn events(ledger: &Ledger) -> EventHistory {
    EventHistory {
        events: ledger
            .events_with_ids()
            .map(|(id, e)| EventEntry {
                id,
                at: e.at.to_string(),
                level: match e.level {
                    ledger::EventLevel::Info => EventLevel::Info,
                    ledger::EventLevel::Warning => EventLevel::Warning,
                    ledger::EventLevel::Error => EventLevel::Error,
                },
                message: e.message.clone(),
                instance: e.instance.as_ref().map(ToString::to_string),
                instance_name: e
                    .instance
                    .as_ref()
                    .and_then(|i| ledger.record(i))
                    .map(|r| r.name.to_string()),
                operation: e.operation.as_ref().map(ToString::to_string),
            })
            .collect(),
        capacity: u32::try_from(ledger::MAX_EVENTS).unwrap_or(u32::MAX),
    }
}

fn desired(config: &FleetConfig) -> u32 {
    u32::try_from(config.total_instances()).unwrap_or(u32::MAX)
}

fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

fn kind(k: &OperationKind) -> ApiKind {
    match k {
        OperationKind::Scale { .. } => ApiKind::Scale,
        OperationKind::RollingRestart { .. } => ApiKind::RollingRestart,
        OperationKind::SyncState { .. } => ApiKind::SyncState,
    }
}

fn status(s: OperationStatus) -> ApiStatus {
    match s {
        OperationStatus::Running => ApiStatus::Running,
        OperationStatus::Paused => ApiStatus::Paused,
        OperationStatus::Succeeded => ApiStatus::Succeeded,
        OperationStatus::Failed => ApiStatus::Failed,
        OperationStatus::Cancelled => ApiStatus::Cancelled,
    }
}

/// The operation's phase: that of its in-progress step that started first.
fn phase(op: Option<&Operation>) -> Phase {
    let Some(op) = op.filter(|o| !o.status.is_finished()) else {
        return Phase::Done;
    };
    let first = op
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::InProgress)
        .min_by_key(|s| s.started);
    match first.and_then(|s| s.phase) {
        None => Phase::Planning,
        Some(StepPhase::Launching | StepPhase::Registering | StepPhase::Rebooting) => Phase::Launch,
        Some(StepPhase::Warming | StepPhase::Undraining) => Phase::Verify,
        Some(StepPhase::Draining | StepPhase::Deregistering | StepPhase::Terminating) => {
            Phase::Terminate
        }
    }
}

/// The status grid: live records by group (file order, then groups the file no longer
/// has), then creation and name, each with what the active operation does to it.
fn rows(
    config: &FleetConfig,
    ledger: &Ledger,
    lb_enabled: bool,
    fresh: &plan::Freshness,
) -> Vec<InstanceRow> {
    let activities = activities(ledger);
    let group_rank = |r: &InstanceRecord| {
        config
            .spec
            .instances
            .iter()
            .position(|g| g.name == r.group)
            .unwrap_or(usize::MAX)
    };
    let mut live: Vec<&InstanceRecord> = ledger.live_records().collect();
    live.sort_by(|a, b| {
        group_rank(a)
            .cmp(&group_rank(b))
            .then(a.group.cmp(&b.group))
            .then(a.created.cmp(&b.created))
            .then(a.name.cmp(&b.name))
    });
    live.into_iter()
        .map(|r| InstanceRow {
            id: r.instance_id.to_string(),
            name: r.name.to_string(),
            group: r.group.as_str().to_string(),
            state: r.state.as_str().to_string(),
            private_ip: r.private_ip.map(|ip| ip.to_string()),
            backend: lb_enabled
                .then(|| backend(r.state, activities.get(&r.instance_id).map(|(p, _)| *p))),
            created: r.created.to_string(),
            activity: activities.get(&r.instance_id).map(|(_, a)| a.clone()),
            outdated: fresh.fields(r),
        })
        .collect()
}

/// An instance's backend from its record's state and the phase of the step working on it.
/// A replacement's step phase concerns both instances, so the record state decides first:
/// while the new one registers the old one is `running` (healthy), and while the old one
/// drains the new one is `running` too.
fn backend(state: RecordState, phase: Option<StepPhase>) -> BackendState {
    match (state, phase) {
        (RecordState::Running, Some(StepPhase::Undraining)) => BackendState::Drained,
        (RecordState::Running, _) => BackendState::Healthy,
        (RecordState::Launching, Some(StepPhase::Registering)) => BackendState::Pending,
        (RecordState::Launching, Some(StepPhase::Warming)) => BackendState::Healthy,
        (RecordState::Rebooting, _) => BackendState::Drained,
        (_, Some(StepPhase::Deregistering)) => BackendState::Removing,
        (RecordState::Draining, _) => BackendState::Draining,
        _ => BackendState::Absent,
    }
}

/// What the in-progress steps of a running or paused operation do to each instance.
fn activities(ledger: &Ledger) -> BTreeMap<InstanceId, (StepPhase, Activity)> {
    let mut out = BTreeMap::new();
    let Some(op) = ledger
        .operation
        .as_ref()
        .filter(|o| !o.status.is_finished())
    else {
        return out;
    };
    let name = |id: &InstanceId| {
        ledger
            .record(id)
            .map_or_else(|| id.to_string(), |r| r.name.to_string())
    };
    for s in op
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::InProgress)
    {
        let Some(phase) = s.phase else { continue };
        let words = phase_words(phase);
        let activity = |action, role, text: String| {
            (
                phase,
                Activity {
                    action,
                    role,
                    phase: phase.as_str().to_string(),
                    since: s.since.map(|t| t.to_string()),
                    text,
                },
            )
        };
        match &s.action {
            StepAction::Launch { .. } => {
                if let Some(new) = &s.instance {
                    out.insert(
                        new.clone(),
                        activity(ApiAction::Launch, None, format!("launch: {words}")),
                    );
                }
            }
            StepAction::Terminate { instance } => {
                out.insert(
                    instance.clone(),
                    activity(ApiAction::Terminate, None, format!("scale-down: {words}")),
                );
            }
            StepAction::Replace { instance: old } => {
                let by = s
                    .instance
                    .as_ref()
                    .map(|new| format!(" by {}", name(new)))
                    .unwrap_or_default();
                out.insert(
                    old.clone(),
                    activity(
                        ApiAction::Replace,
                        Some(Role::Old),
                        format!("being replaced{by}: {words}"),
                    ),
                );
                if let Some(new) = &s.instance {
                    out.insert(
                        new.clone(),
                        activity(
                            ApiAction::Replace,
                            Some(Role::New),
                            format!("replacing {}: {words}", name(old)),
                        ),
                    );
                }
            }
            StepAction::Reboot { instance } => {
                out.insert(
                    instance.clone(),
                    activity(ApiAction::Reboot, None, format!("reboot: {words}")),
                );
            }
        }
    }
    out
}

/// A step phase in words, for the status grid.
fn phase_words(phase: StepPhase) -> &'static str {
    match phase {
        StepPhase::Launching => "starting",
        StepPhase::Registering => "waiting for backend health",
        StepPhase::Warming => "healthy, waiting minReadySeconds",
        StepPhase::Draining => "draining",
        StepPhase::Deregistering => "removing backend",
        StepPhase::Terminating => "terminating",
        StepPhase::Rebooting => "rebooting",
        StepPhase::Undraining => "returning to service",
    }
}
