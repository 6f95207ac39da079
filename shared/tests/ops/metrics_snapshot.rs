//! The metrics snapshot, control status and event history (`metrics`), built from ledgers
//! that real planner steps wrote (`plan_support::World`), and the dashboard's badges read
//! from them alone. No I/O.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use crate::plan_support;

use std::time::Duration;

use fleetctl_api::badges::{self, Tone};
use fleetctl_api::metrics::{
    BackendState, EventLevel, MetricsSnapshot, OperationKind as ApiKind,
    OperationStatus as ApiStatus, Phase, Role, SizeDrift, StepAction as ApiAction, Strategy,
};
use fleetctl_core::config::RolloutStrategy;
use fleetctl_core::metrics;
use fleetctl_core::plan::Mode;
use fleetctl_core::store::ledger::{
    self, Event, Ledger, OperationKind, OperationStatus, RecordState, Timestamp,
};
use plan_support::*;
use time::macros::datetime;

fn snap(w: &World) -> MetricsSnapshot {
    metrics::snapshot(&w.config, &w.ledger, &[], w.now)
}

fn texts(s: &MetricsSnapshot) -> Vec<String> {
    badges::badges(s).into_iter().map(|b| b.text).collect()
}

/// Steps (ticks apart) until the operation is over or paused, collecting `f` of the
/// snapshot after every step.
fn run_collect<T>(w: &mut World, f: impl Fn(&MetricsSnapshot) -> T) -> Vec<T> {
    let mut seen = Vec::new();
    for _ in 0..500 {
        w.step(Mode::Operation);
        seen.push(f(&snap(w)));
        let status = w.ledger.operation.as_ref().unwrap().status;
        if status.is_finished() || status == OperationStatus::Paused {
            return seen;
        }
        w.tick(Duration::from_secs(5));
    }
    panic!("the operation did not finish")
}

#[test]
fn an_empty_ledger_shows_every_badge_with_the_shortfall_as_drift() {
    let w = World::new(fleet(&[("web", 2), ("api", 1)], true, ""));
    let s = snap(&w);
    assert_eq!((s.desired, s.actual), (3, 0));
    assert_eq!(s.operation, None);
    assert_eq!(s.phase, Phase::Done);
    assert_eq!(s.fleet, "demo");
    assert_eq!(s.at, "2026-03-01T12:00:00Z");
    assert_eq!(
        texts(&s),
        vec![
            "demo",
            "LB 0 backends",
            "Scaling idle",
            "Drift detected",
            "Scale queue: empty",
            "Minimums: 3 (web 2, api 1)",
        ],
        "0 of 3 desired instances is drift, not 'No drift'"
    );
    assert_eq!(s.size_drift(), Some(SizeDrift::Shortfall { missing: 3 }));
    let w = World::new(fleet(&[("web", 1)], false, ""));
    assert_eq!(badges::load_balancer(&snap(&w)).text, "LB disabled");
}

#[test]
fn without_a_load_balancer_rows_have_no_backend() {
    let mut w = World::new(fleet(&[("web", 2)], false, ""));
    w.seed("web", 2);
    let s = snap(&w);
    assert_eq!(s.instances.len(), 2);
    assert!(s.instances.iter().all(|r| r.backend.is_none()), "{s:?}");
    let v = serde_json::to_value(&s).unwrap();
    assert!(v["instances"][0]["backend"].is_null(), "present, null: {v}");
}

#[test]
fn a_scale_up_counts_its_launches_until_it_is_done() {
    let mut w = World::new(fleet(&[("web", 0)], true, "minReadySeconds: 0"));
    w.request(OperationKind::Scale { desired: 3 }).unwrap();
    let queued = snap(&w);
    assert_eq!(queued.scale_queue, vec![3]);
    assert_eq!(badges::scale_queue(&queued).text, "Scale queue: 3");
    assert_eq!(
        badges::scaling(&queued).text,
        "Scaling idle",
        "queued, not started"
    );

    w.step(Mode::Operation);
    let s = snap(&w);
    assert_eq!(s.operation, Some(ApiKind::Scale));
    assert_eq!(s.operation_status, Some(ApiStatus::Running));
    assert_eq!(s.phase, Phase::Launch);
    assert_eq!((s.start_total, s.target_total), (0, 3));
    assert_eq!(badges::scaling(&s).text, "Scaling up to 3 (0 of 3)");
    assert_eq!(badges::scale_queue(&s).text, "Scale queue: empty");
    assert_eq!(s.instances.len(), 3, "one row per launched instance");
    for row in &s.instances {
        assert_eq!(row.state, "launching");
        let a = row.activity.as_ref().unwrap();
        assert_eq!(
            (a.action, a.phase.as_str()),
            (ApiAction::Launch, "launching")
        );
        assert_eq!(a.text, "launch: starting");
    }

    let seen = run_collect(&mut w, |s| {
        (
            s.launch_succeeded,
            badges::scaling(s).text,
            s.lb_backends,
            s.phase,
        )
    });
    let counts: Vec<u32> = seen.iter().map(|x| x.0).collect();
    assert!(
        counts.windows(2).all(|p| p[0] <= p[1]),
        "the count only goes up: {counts:?}"
    );
    assert!(
        seen.iter()
            .any(|x| x.3 == Phase::Verify || x.3 == Phase::Launch),
        "{seen:?}"
    );
    let s = snap(&w);
    assert_eq!(s.operation_status, Some(ApiStatus::Succeeded));
    assert_eq!((s.launch_succeeded, s.launch_total), (3, 3));
    assert_eq!(s.phase, Phase::Done);
    assert_eq!(
        texts(&s),
        vec![
            "demo",
            "LB 3 backends",
            "Scaling idle",
            "Drift detected",
            "Scale queue: empty",
            "Minimums: 0 (web 0)",
        ],
        "3 active against a fleet file of 0 is a surplus"
    );
    assert!(
        s.instances
            .iter()
            .all(|r| r.state == "running" && r.activity.is_none() && r.private_ip.is_some())
    );
}

#[test]
fn a_scale_down_counts_terminations_and_drops_backends_as_drains_start() {
    let mut w = World::new(fleet(&[("web", 1)], true, ""));
    let ids = w.seed("web", 3);
    w.request(OperationKind::Scale { desired: 1 }).unwrap();
    w.step(Mode::Operation);
    let s = snap(&w);
    assert_eq!(s.phase, Phase::Terminate);
    assert_eq!(badges::scaling(&s).text, "Scaling down to 1 (0 of 2)");
    assert_eq!(
        badges::load_balancer(&s).text,
        "LB 1 backend",
        "the two being drained no longer count"
    );
    for (row, id) in s.instances.iter().zip(&ids) {
        assert_eq!(row.id, id.to_string(), "rows by creation");
    }
    for row in &s.instances[..2] {
        let a = row.activity.as_ref().unwrap();
        assert_eq!(
            (a.action, a.text.as_str(), row.state.as_str()),
            (ApiAction::Terminate, "scale-down: draining", "draining")
        );
        assert_eq!(a.since.as_deref(), Some("2026-03-01T12:00:00Z"));
    }
    assert!(
        s.instances[2].activity.is_none(),
        "the newest stays untouched"
    );

    let seen = run_collect(&mut w, |s| s.terminate_succeeded);
    assert!(seen.windows(2).all(|p| p[0] <= p[1]), "{seen:?}");
    let s = snap(&w);
    assert_eq!((s.terminate_succeeded, s.terminate_total), (2, 2));
    assert_eq!(s.instances.len(), 1, "terminated instances leave the grid");
    assert_eq!(badges::drift(&s).text, "No drift");
}

#[test]
fn a_rolling_restart_shows_its_position_and_both_sides_of_a_replacement() {
    let mut w = World::new(fleet(&[("web", 3)], true, "minReadySeconds: 0"));
    w.seed("web", 3);
    w.request(OperationKind::RollingRestart {
        strategy: RolloutStrategy::Replace,
        reboot_action: None,
        update: None,
    })
    .unwrap();
    let s = snap(&w);
    assert_eq!(s.phase, Phase::Planning, "started, no step yet");
    assert_eq!(s.strategy, Some(Strategy::Replace));
    let l = s.limits.unwrap();
    assert_eq!((l.desired, l.max_surge, l.max_unavailable), (3, 1, 0));
    assert_eq!(
        badges::rolling_restart(&s).map(|b| b.text).as_deref(),
        Some("Rolling restart 0/3")
    );

    w.step(Mode::Operation);
    let s = snap(&w);
    assert_eq!(
        texts(&s)[3],
        "Rolling restart 1/3",
        "after the scaling badge: {:?}",
        texts(&s)
    );
    let old = s.instances.iter().find(|r| r.name == "demo-web-1").unwrap();
    let new = s.instances.iter().find(|r| r.name == "demo-web-4").unwrap();
    let (a, b) = (
        old.activity.as_ref().unwrap(),
        new.activity.as_ref().unwrap(),
    );
    assert_eq!((a.action, a.role), (ApiAction::Replace, Some(Role::Old)));
    assert_eq!(a.text, "being replaced by demo-web-4: starting");
    assert_eq!((b.action, b.role), (ApiAction::Replace, Some(Role::New)));
    assert_eq!(b.text, "replacing demo-web-1: starting");
    assert_eq!(
        (old.backend, new.backend),
        (Some(BackendState::Healthy), Some(BackendState::Absent)),
        "the old one serves while its successor starts"
    );

    // Each side's backend as the replacement goes on: the new one pending, then healthy;
    // the old one draining, then removed.
    let sides = run_collect(&mut w, |s| {
        let of = |name: &str| {
            s.instances
                .iter()
                .find(|r| r.name == name)
                .and_then(|r| r.backend)
        };
        (of("demo-web-1"), of("demo-web-4"))
    });
    for want in [
        (Some(BackendState::Healthy), Some(BackendState::Pending)),
        (Some(BackendState::Draining), Some(BackendState::Healthy)),
    ] {
        assert!(sides.contains(&want), "{want:?} never seen in {sides:?}");
    }
    let s = snap(&w);
    assert!(
        s.instances
            .iter()
            .all(|r| r.backend == Some(BackendState::Healthy)),
        "all healthy once done: {:?}",
        s.instances
    );
}

#[test]
fn the_rolling_restart_badge_advances_to_the_last_step() {
    let mut w = World::new(fleet(&[("web", 3)], true, "minReadySeconds: 0"));
    w.seed("web", 3);
    w.request(OperationKind::RollingRestart {
        strategy: RolloutStrategy::Replace,
        reboot_action: None,
        update: None,
    })
    .unwrap();
    w.step(Mode::Operation);

    let seen = run_collect(&mut w, |s| badges::rolling_restart(s).map(|b| b.text));
    assert!(
        seen.contains(&Some("Rolling restart 2/3".to_string())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&Some("Rolling restart 3/3".to_string())),
        "{seen:?}"
    );
    assert_eq!(seen.last(), Some(&None), "hidden once it is done");
    let s = snap(&w);
    assert_eq!(
        (
            s.launch_succeeded,
            s.terminate_succeeded,
            s.rolling_restart_total
        ),
        (3, 3, 3)
    );
    assert_eq!(badges::load_balancer(&s).text, "LB 3 backends");
}

#[test]
fn a_paused_operation_shows_its_reason_where_the_eye_goes_first() {
    let mut w = World::new(fleet(&[("web", 3)], true, "minReadySeconds: 0"));
    w.seed("web", 3);
    w.new_are_sick = true;
    w.request(OperationKind::RollingRestart {
        strategy: RolloutStrategy::Replace,
        reboot_action: None,
        update: None,
    })
    .unwrap();
    let seen = run_collect(&mut w, |s| s.phase);
    assert!(seen.contains(&Phase::Launch), "{seen:?}");
    let s = snap(&w);
    assert_eq!(s.operation_status, Some(ApiStatus::Paused));
    assert_eq!(s.phase, Phase::Planning, "no step in progress while paused");
    let reason = s.paused_reason.clone().unwrap();
    assert!(reason.contains("not healthy within"), "{reason}");
    let b = badges::rolling_restart(&s).unwrap();
    assert_eq!(b.text, "Rolling restart 1/3, paused");
    assert_eq!((b.tone, b.detail), (Tone::Warning, Some(reason)));
    assert_eq!(s.error, s.paused_reason);
    // Resumed: the reason goes.
    fleetctl_core::plan::resume(&mut w.ledger, w.now).unwrap();
    let s = snap(&w);
    assert_eq!(s.paused_reason, None);
    assert_eq!(s.operation_status, Some(ApiStatus::Running));
}

#[test]
fn a_rolling_reboot_shows_reboot_activity() {
    let mut w = World::new(fleet(&[("web", 2)], true, "minReadySeconds: 0"));
    w.seed("web", 2);
    w.request(OperationKind::RollingRestart {
        strategy: RolloutStrategy::Reboot,
        reboot_action: None,
        update: None,
    })
    .unwrap();
    w.step(Mode::Operation);
    let s = snap(&w);
    assert_eq!(s.strategy, Some(Strategy::Reboot));
    let busy: Vec<_> = s
        .instances
        .iter()
        .filter_map(|r| r.activity.as_ref())
        .collect();
    assert_eq!(busy.len(), 1, "one at a time");
    assert_eq!(
        (busy[0].action, busy[0].text.as_str()),
        (ApiAction::Reboot, "reboot: draining")
    );
    assert_eq!((s.launch_total, s.terminate_total), (0, 0));
}

#[test]
fn what_the_step_waits_on_is_passed_through() {
    let mut w = World::new(fleet(&[("web", 1)], true, ""));
    w.request(OperationKind::Scale { desired: 1 }).unwrap();
    let plan = w.step(Mode::Operation);
    assert!(!plan.waiting_on.is_empty());
    let s = metrics::snapshot(&w.config, &w.ledger, &plan.waiting_on, w.now);
    assert_eq!(s.waiting_on, plan.waiting_on);
    assert_eq!(s.waiting_on, vec!["demo-web-1: launching".to_string()]);
}

#[test]
fn control_status_targets_the_larger_of_desired_and_actual() {
    let mut w = World::new(fleet(&[("web", 3)], true, ""));
    w.seed("web", 5);
    let c = metrics::control_status(
        &w.config,
        &w.ledger,
        Some("OCI: 503 Service Unavailable"),
        Some(datetime!(2026-03-01 11:59:30 +01:00)),
    );
    assert_eq!((c.desired, c.actual, c.target), (3, 5, 5));
    assert_eq!(c.drift, Some(SizeDrift::Surplus { extra: 2 }));
    assert_eq!(
        c.last_error.as_deref(),
        Some("OCI: 503 Service Unavailable")
    );
    assert_eq!(
        c.last_config_reload.as_deref(),
        Some("2026-03-01T10:59:30Z"),
        "in UTC"
    );
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        json["drift"],
        serde_json::json!({"kind": "surplus", "extra": 2})
    );
    assert_eq!(json["lastError"], "OCI: 503 Service Unavailable");

    let w = World::new(fleet(&[("web", 3)], true, ""));
    let c = metrics::control_status(&w.config, &w.ledger, None, None);
    assert_eq!((c.desired, c.actual, c.target), (3, 0, 3));
    assert_eq!(c.drift, Some(SizeDrift::Shortfall { missing: 3 }));
}

#[test]
fn events_name_their_instance_and_stay_bounded() {
    let mut w = World::new(fleet(&[("web", 0)], false, ""));
    w.request(OperationKind::Scale { desired: 1 }).unwrap();
    w.step(Mode::Operation);
    let h = metrics::events(&w.ledger);
    let launched = h
        .events
        .iter()
        .find(|e| e.message.ends_with(": launched"))
        .unwrap();
    assert_eq!(launched.instance_name.as_deref(), Some("demo-web-1"));
    assert_eq!(launched.level, EventLevel::Info);
    assert!(
        launched
            .instance
            .as_deref()
            .unwrap()
            .starts_with("ocid1.instance.")
    );
    assert_eq!(
        launched.operation,
        w.ledger.operation.as_ref().map(|o| o.id.to_string())
    );

    let mut l = Ledger::new("demo".parse().unwrap(), T0);
    for i in 0..(ledger::MAX_EVENTS + 50) {
        l.push_event(Event {
            at: Timestamp::new(T0),
            level: ledger::EventLevel::Warning,
            message: format!("event {i}"),
            operation: None,
            instance: None,
        });
    }
    let h = metrics::events(&l);
    assert_eq!(h.capacity as usize, ledger::MAX_EVENTS);
    assert_eq!(h.events.len(), ledger::MAX_EVENTS);
    assert_eq!(h.events[0].message, "event 50", "the oldest are dropped");
    assert_eq!(h.events[0].level, EventLevel::Warning);
    assert_eq!(h.events[0].instance_name, None);
}

#[test]
fn the_snapshot_json_has_exactly_the_documented_fields() {
    let mut w = World::new(fleet(&[("web", 2)], true, ""));
    w.seed("web", 1);
    w.request(OperationKind::Scale { desired: 2 }).unwrap();
    w.step(Mode::Operation);
    let v = serde_json::to_value(snap(&w)).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec![
        "fleet",
        "at",
        "operation",
        "operationId",
        "operationStatus",
        "operationStarted",
        "phase",
        "startTotal",
        "targetTotal",
        "launchTotal",
        "launchSucceeded",
        "terminateTotal",
        "terminateSucceeded",
        "rollingRestartIndex",
        "rollingRestartTotal",
        "strategy",
        "limits",
        "pausedReason",
        "error",
        "waitingOn",
        "lbEnabled",
        "lbBackends",
        "scaleQueue",
        "desired",
        "actual",
        "minimums",
        "instances",
        "revision",
        "outdated",
        "rollout",
        "history",
    ];
    want.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, want, "docs/fleetctl-spec.md lists these");
    let row = v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| !r["activity"].is_null())
        .unwrap();
    let mut row_keys: Vec<&str> = row
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    row_keys.sort_unstable();
    assert_eq!(
        row_keys,
        vec![
            "activity",
            "backend",
            "created",
            "group",
            "id",
            "name",
            "outdated",
            "privateIp",
            "state"
        ]
    );
    let mut activity_keys: Vec<&str> = row["activity"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    activity_keys.sort_unstable();
    assert_eq!(
        activity_keys,
        vec!["action", "phase", "role", "since", "text"]
    );
    assert_eq!(v["operation"], "scale");
    assert_eq!(v["operationStatus"], "running");
    assert_eq!(
        v["minimums"],
        serde_json::json!([{"group": "web", "count": 2}])
    );
    // What the dashboard reads back gives the same badges.
    let back: MetricsSnapshot = serde_json::from_value(v).unwrap();
    assert_eq!(badges::badges(&back), badges::badges(&snap(&w)));
}

#[test]
fn the_grid_shows_ledger_states_as_the_ledger_writes_them() {
    for state in [
        RecordState::Launching,
        RecordState::Running,
        RecordState::Draining,
        RecordState::Rebooting,
        RecordState::Terminating,
        RecordState::Terminated,
        RecordState::Missing,
    ] {
        assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
    }
}
