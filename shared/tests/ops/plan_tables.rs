//! The planner's judgment, table by table: `plan::plan`, `request`, `apply`, `distribute`
//! and `resolve_limits` called on hand-built fleets, ledgers and observations. No I/O, no
//! clock: time is an argument.
//!
//! Multi-step scenarios use `plan_support::World`, a few lines that say what OCI would show
//! after each call. It is not a client: the planner never talks to anything, it only reads an
//! `Observation`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use crate::plan_support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fleetctl_core::config::RolloutStrategy;
use fleetctl_core::plan::{self, Action, Mode, Outcome, RequestError};
use fleetctl_core::store::ledger::{
    EventLevel, OperationId, OperationKind, OperationStatus, RecordState, StepStatus, Timestamp,
};
use plan_support::*;

// ---------------------------------------------------------------------------------------------
// Scale
// ---------------------------------------------------------------------------------------------

#[test]
fn scale_up_launches_only_missing_slots() {
    let mut w = World::new(fleet(&[("web", 2)], true, "minReadySeconds: 0"));
    w.seed("web", 2);
    let op = w.request(scale(5)).unwrap();
    let plan = w.step(Mode::Operation);
    assert_eq!(
        launches(&plan.actions),
        vec![
            (3, "demo-web-3".to_string()),
            (4, "demo-web-4".to_string()),
            (5, "demo-web-5".to_string()),
        ],
        "the two running instances keep slots 1 and 2; only 3 to 5 are launched"
    );
    let o = w.ledger.operation.as_ref().unwrap();
    assert_eq!(o.id, op, "the operation carries the request's id");
    assert_eq!((o.start_total, o.target_total), (2, 5));
    assert!(
        terminated(&plan.actions).is_empty(),
        "a scale-up terminates nothing"
    );
}

#[test]
fn scale_up_runs_to_done_recording_each_launch_once() {
    let mut w = World::new(fleet(&[("web", 0)], true, "minReadySeconds: 0"));
    w.request(scale(3)).unwrap();
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    assert_eq!(w.launched.len(), 3, "three launches, none repeated");
    let names: BTreeSet<&str> = w.active().iter().map(|r| &*r.name).collect();
    assert_eq!(
        names,
        BTreeSet::from(["demo-web-1", "demo-web-2", "demo-web-3"])
    );
    assert!(w.active().iter().all(|r| r.state == RecordState::Running));
    assert!(
        w.active().iter().all(|r| r.private_ip.is_some()),
        "the private IP is recorded at launch, so steady steps need no VNIC look-up"
    );
    assert_eq!(w.serving(), 3, "every new instance is a healthy backend");
    assert!(
        w.ledger
            .events
            .iter()
            .any(|e| e.message.contains("demo-web-2: launched")),
        "the ledger records every launch as an event"
    );
}

#[test]
fn scale_up_of_more_than_one_step_allows_sends_the_rest_in_later_steps() {
    let mut w = World::new(fleet(&[("web", 0)], false, "minReadySeconds: 0"));
    w.request(scale(25)).unwrap();
    let first = w.step(Mode::Operation);
    assert_eq!(launches(&first.actions).len(), plan::MAX_LAUNCHES_PER_STEP);
    let second = w.step(Mode::Operation);
    let slots: Vec<u32> = launches(&second.actions).iter().map(|l| l.0).collect();
    assert_eq!(
        slots,
        vec![21, 22, 23, 24, 25],
        "the launches already answered are not sent again"
    );
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    assert_eq!(w.launched.len(), 25);
}

#[test]
fn scale_down_removes_the_oldest_first() {
    let mut w = World::new(fleet(&[("web", 5)], true, ""));
    let ids = w.seed("web", 5);
    w.request(scale(2)).unwrap();
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    assert_eq!(
        w.live_ids(),
        BTreeSet::from([ids[3].clone(), ids[4].clone()]),
        "the two newest instances stay"
    );
    for old in &ids[..3] {
        let r = w.ledger.record(old).unwrap();
        assert_eq!(r.state, RecordState::Terminated, "{}", r.name);
        assert!(r.terminated.is_some(), "the ledger records when");
    }
    assert_eq!(w.backends.len(), 2, "only the survivors' backends are left");
    assert!(w.launched.is_empty(), "a scale-down launches nothing");
}

#[test]
fn scale_down_drains_and_removes_the_backend_before_terminating() {
    let mut w = World::new(fleet(&[("web", 3)], true, ""));
    let ids = w.seed("web", 3);
    w.request(scale(1)).unwrap();
    // Nothing is drained by fleetctl other than what the scale takes away.
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    let drain_timeout = time::Duration::seconds(10);
    for old in &ids[..2] {
        let name = backend(n_of(old)).name;
        let at = |pred: &dyn Fn(&Action) -> bool| {
            w.log
                .iter()
                .position(|(_, a)| pred(a))
                .unwrap_or_else(|| panic!("no such call for {old}: {:#?}", w.log))
        };
        let drain =
            at(&|a| matches!(a, Action::SetDrain { backend, drain: true, .. } if *backend == name));
        let delete = at(&|a| matches!(a, Action::DeleteBackend { backend } if *backend == name));
        let term = at(&|a| matches!(a, Action::Terminate { instance } if instance == old));
        assert!(
            drain < delete && delete < term,
            "{old}: drain ({drain}), remove backend ({delete}), terminate ({term}) in order"
        );
        assert!(
            w.log[delete].0 - w.log[drain].0 >= drain_timeout,
            "{old}: the backend drains for drainTimeout before it is removed"
        );
    }
    assert_eq!(w.live_ids(), BTreeSet::from([ids[2].clone()]));
}

#[test]
fn scale_fills_groups_to_their_configured_shares() {
    let mut w = World::new(fleet(&[("web", 2), ("api", 1)], false, ""));
    w.request(scale(6)).unwrap();
    let plan = w.step(Mode::Operation);
    let mut per_group: BTreeMap<String, u32> = BTreeMap::new();
    for a in &plan.actions {
        if let Action::Launch { group, .. } = a {
            *per_group.entry(group.as_str().to_string()).or_default() += 1;
        }
    }
    assert_eq!(
        per_group,
        BTreeMap::from([("api".to_string(), 2), ("web".to_string(), 4)])
    );
}

#[test]
fn scale_queue_is_fifo_and_its_head_is_popped_only_when_its_scale_starts() {
    let mut w = World::new(fleet(&[("web", 1)], false, "minReadySeconds: 0"));
    w.seed("web", 1);
    let first = w.request(scale(3)).unwrap();
    assert_eq!(
        w.ledger
            .scale_queue
            .iter()
            .map(|r| r.desired)
            .collect::<Vec<_>>(),
        vec![3],
        "a request is queued and answered at once"
    );
    assert!(w.ledger.operation.is_none(), "nothing starts before a step");
    w.step(Mode::Operation);
    assert_eq!(w.ledger.operation.as_ref().unwrap().id, first);
    assert!(
        w.ledger.scale_queue.is_empty(),
        "popped when its scale starts"
    );

    let second = w.request(scale(5)).unwrap();
    let third = w.request(scale(2)).unwrap();
    w.step(Mode::Operation);
    let queued: Vec<(OperationId, u32)> = w
        .ledger
        .scale_queue
        .iter()
        .map(|r| (r.id.clone(), r.desired))
        .collect();
    assert_eq!(
        queued,
        vec![(second.clone(), 5), (third.clone(), 2)],
        "while a scale runs, later requests wait in order"
    );
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    assert_eq!(w.active().len(), 3);

    w.step(Mode::Operation);
    let op = w.ledger.operation.as_ref().unwrap();
    assert_eq!(
        (op.id.clone(), op.target_total),
        (second, 5),
        "then the head"
    );
    assert_eq!(w.ledger.scale_queue.front().map(|r| &r.id), Some(&third));
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    w.step(Mode::Operation);
    assert_eq!(w.ledger.operation.as_ref().unwrap().id, third);
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    assert_eq!(w.active().len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Group distribution
// ---------------------------------------------------------------------------------------------

#[test]
fn distribute_spreads_a_total_in_proportion_by_largest_remainder() {
    // (groups, total, expected per group in file order)
    /// Groups (name, count), a total, and the shares expected in file order.
    type Row = (&'static [(&'static str, u32)], u32, &'static [u32]);
    let table: &[Row] = &[
        // Exactly proportional.
        (&[("web", 2), ("api", 1)], 6, &[4, 2]),
        // 5 * 2/3 = 3.33, 5 * 1/3 = 1.67: the larger remainder gets the extra one.
        (&[("web", 2), ("api", 1)], 5, &[3, 2]),
        // 4 * 1/3 each: remainders tie, the group listed first wins.
        (&[("web", 1), ("api", 1), ("db", 1)], 4, &[2, 1, 1]),
        (&[("web", 1), ("api", 1), ("db", 1)], 2, &[1, 1, 0]),
        // 2 * 3/4 = 1.5, 2 * 1/4 = 0.5: a tie again, first listed.
        (&[("web", 3), ("api", 1)], 2, &[2, 0]),
        // A group of count 0 next to others gets nothing.
        (&[("web", 2), ("canary", 0)], 7, &[7, 0]),
        // Zero is zero everywhere.
        (&[("web", 2), ("api", 1)], 0, &[0, 0]),
        // Large totals do not overflow.
        (&[("web", 1), ("api", 3)], 1_000_000, &[250_000, 750_000]),
    ];
    for (groups, total, want) in table {
        let config = fleet(groups, false, "");
        let got = plan::distribute(&config, *total);
        for ((name, _), want) in groups.iter().zip(want.iter()) {
            assert_eq!(
                got[&name.parse().unwrap()],
                *want,
                "{groups:?} total {total}: group {name}"
            );
        }
        assert_eq!(
            got.values().sum::<u32>(),
            *total,
            "{groups:?} total {total}"
        );
    }
}

#[test]
fn distribute_of_the_fleet_total_gives_exactly_the_counts() {
    for groups in [
        &[("web", 3)][..],
        &[("web", 2), ("api", 1)][..],
        &[("a", 7), ("b", 0), ("c", 5), ("d", 1)][..],
    ] {
        let config = fleet(groups, false, "");
        let total = groups.iter().map(|g| g.1).sum();
        let got = plan::distribute(&config, total);
        for (name, count) in groups {
            assert_eq!(got[&name.parse().unwrap()], *count, "{groups:?}");
        }
    }
}

#[test]
fn distribute_with_every_count_zero_spreads_evenly_first_groups_first() {
    let config = fleet(&[("web", 0), ("api", 0), ("db", 0)], false, "");
    for (total, want) in [
        (0, [0, 0, 0]),
        (3, [1, 1, 1]),
        (4, [2, 1, 1]),
        (5, [2, 2, 1]),
    ] {
        let got = plan::distribute(&config, total);
        let got = [
            got[&"web".parse().unwrap()],
            got[&"api".parse().unwrap()],
            got[&"db".parse().unwrap()],
        ];
        assert_eq!(got, want, "total {total}");
    }
}

// ---------------------------------------------------------------------------------------------
// Rollout limits
// ---------------------------------------------------------------------------------------------

#[test]
fn resolve_limits_for_fleets_of_1_2_3_and_20() {
    use RolloutStrategy::{Reboot, Replace};
    // (fleet size, rollout as written, strategy, resolved (maxSurge, maxUnavailable))
    let table: &[(u32, &str, RolloutStrategy, (u32, u32))] = &[
        // Defaults: maxSurge 1, maxUnavailable 0.
        (1, "", Replace, (1, 0)),
        (2, "", Replace, (1, 0)),
        (3, "", Replace, (1, 0)),
        (20, "", Replace, (1, 0)),
        // Small fleets are never rounded into downtime, even when it is written.
        (1, "maxSurge: 0, maxUnavailable: 1", Replace, (1, 0)),
        (2, "maxSurge: 0, maxUnavailable: 1", Replace, (1, 0)),
        (3, "maxSurge: 0, maxUnavailable: '50%'", Replace, (1, 0)),
        (3, "maxSurge: 2, maxUnavailable: 2", Replace, (2, 0)),
        // Percentages: maxSurge rounds up, maxUnavailable down.
        (1, "maxSurge: '25%'", Replace, (1, 0)),
        (
            20,
            "maxSurge: '25%', maxUnavailable: '10%'",
            Replace,
            (5, 2),
        ),
        (20, "maxSurge: '1%', maxUnavailable: '9%'", Replace, (1, 1)),
        (
            20,
            "maxSurge: '100%', maxUnavailable: '100%'",
            Replace,
            (20, 19),
        ),
        // Counts.
        (20, "maxSurge: 5, maxUnavailable: 0", Replace, (5, 0)),
        (20, "maxSurge: 2, maxUnavailable: 3", Replace, (2, 3)),
        // One instance always serves.
        (20, "maxSurge: 0, maxUnavailable: 25", Replace, (0, 19)),
        // Both round to 0 (3% of 20 is 0.6): a surge of one keeps the rollout moving.
        (20, "maxSurge: 0, maxUnavailable: '3%'", Replace, (1, 0)),
        // Reboots cannot surge; at least one is out at a time.
        (2, "", Reboot, (0, 1)),
        (3, "maxUnavailable: 2", Reboot, (0, 2)),
        (20, "", Reboot, (0, 1)),
        (20, "maxSurge: 4, maxUnavailable: '10%'", Reboot, (0, 2)),
        (20, "maxSurge: 1, maxUnavailable: 30", Reboot, (0, 19)),
    ];
    for (size, rollout, strategy, (surge, unavailable)) in table {
        let config = fleet(&[("web", *size)], true, rollout);
        let l = plan::resolve_limits(&config, *size, *strategy);
        assert_eq!(
            (l.max_surge, l.max_unavailable),
            (*surge, *unavailable),
            "{size} instances, rollout {{{rollout}}}, {strategy:?}"
        );
        assert_eq!(l.desired, *size);
    }
}

#[test]
fn rolling_reboot_of_one_instance_is_refused() {
    let mut w = World::new(fleet(&[("web", 1)], true, ""));
    w.seed("web", 1);
    let err = w.request(rolling(RolloutStrategy::Reboot)).unwrap_err();
    assert!(
        matches!(&err, RequestError::Refused(m) if m.contains("--strategy replace")),
        "{err}"
    );
    assert!(w.ledger.operation.is_none(), "nothing started");
    w.request(rolling(RolloutStrategy::Replace)).unwrap();
}

/// What [`rolling_restart`] saw over a whole rolling restart.
struct Rollout {
    w: World,
    /// The fewest healthy in-service backends after any step or tick.
    lowest: u32,
    /// The most steps in flight at once that count against the limits (a surge-first
    /// replacement whose new instance is in service and that only retires its old one does
    /// not, unless `surgeCountsDraining`).
    most_counted: usize,
    /// The most steps in flight at once, retiring ones included.
    most_in_flight: usize,
    /// The most live instances (neither terminating nor terminated) at once.
    most_live: usize,
}

/// Whether a step in flight only retires its old instance: a surge-first replacement whose
/// new instance is in service.
fn retiring(s: &fleetctl_core::store::ledger::Step) -> bool {
    use fleetctl_core::store::ledger::{StepAction, StepPhase};
    matches!(s.action, StepAction::Replace { .. })
        && !s.drain_first
        && matches!(
            s.phase,
            Some(StepPhase::Draining | StepPhase::Deregistering | StepPhase::Terminating)
        )
}

/// Runs a rolling restart of `size` healthy instances to its end and checks after every step
/// and every tick that the healthy in-service backends stay at or above
/// `desired - maxUnavailable`.
fn rolling_restart(size: u32, rollout: &str, strategy: RolloutStrategy) -> Rollout {
    let mut w = World::new(fleet(
        &[("web", size)],
        true,
        &format!("minReadySeconds: 0, {rollout}"),
    ));
    w.seed("web", size);
    w.request(rolling(strategy)).unwrap();
    let limits = w.ledger.operation.as_ref().unwrap().limits.unwrap();
    let strict = w.config.spec.rollout.surge_counts_draining;
    let floor = limits.desired - limits.max_unavailable;
    let mut lowest = u32::MAX;
    let (mut most_counted, mut most_in_flight, mut most_live) = (0, 0, 0);
    w.run(Mode::Operation, TICK, |w| {
        let serving = w.serving();
        lowest = lowest.min(serving);
        assert!(
            serving >= floor,
            "{rollout}: serving fell to {serving}, below {floor}"
        );
        let steps = &w.ledger.operation.as_ref().unwrap().steps;
        let in_flight: Vec<_> = steps
            .iter()
            .filter(|s| s.status == StepStatus::InProgress)
            .collect();
        let counted = in_flight.iter().filter(|s| strict || !retiring(s)).count();
        most_counted = most_counted.max(counted);
        most_in_flight = most_in_flight.max(in_flight.len());
        most_live = most_live.max(w.live_ids().len());
    });
    Rollout {
        w,
        lowest,
        most_counted,
        most_in_flight,
        most_live,
    }
}

#[test]
fn rolling_replace_of_small_fleets_keeps_every_instance_serving_until_its_replacement_does() {
    for (size, extra) in [1, 2, 3]
        .into_iter()
        .flat_map(|n| [(n, ""), (n, ", surgeCountsDraining: true")])
    {
        // Written to allow one out of service: small fleets ignore that.
        let r = rolling_restart(
            size,
            &format!("maxSurge: 0, maxUnavailable: 1{extra}"),
            RolloutStrategy::Replace,
        );
        let w = &r.w;
        assert_eq!(
            w.ledger.operation.as_ref().unwrap().status,
            OperationStatus::Succeeded
        );
        assert_eq!(
            r.lowest, size,
            "fleet of {size}{extra}: no backend ever left service early"
        );
        assert_eq!(
            r.most_counted, 1,
            "fleet of {size}{extra}: one replacement launching at a time"
        );
        if extra.is_empty() {
            // The next launch starts while the previous old instance drains.
            // (A fleet of one has no next launch.)
            assert_eq!(
                r.most_live,
                (size as usize + 2).min(2 * size as usize),
                "fleet of {size}"
            );
            assert_eq!(r.most_in_flight, 2.min(size as usize), "fleet of {size}");
        } else {
            assert_eq!(r.most_live, size as usize + 1, "fleet of {size}{extra}");
            assert_eq!(r.most_in_flight, 1, "fleet of {size}{extra}");
        }
        assert_eq!(w.launched.len(), size as usize);
        assert!(w.live_ids().iter().all(|i| w.launched.contains(i)));
    }
}

#[test]
fn rolling_replace_of_20_is_pipelined_within_surge_and_unavailable() {
    for (rollout, surge, unavailable) in [
        ("maxSurge: 1, maxUnavailable: 0", 1, 0),
        ("maxSurge: 5, maxUnavailable: 0", 5, 0),
        ("maxSurge: '25%', maxUnavailable: '10%'", 5, 2),
        ("maxSurge: 0, maxUnavailable: 2", 0, 2),
        (
            "maxSurge: 1, maxUnavailable: 0, surgeCountsDraining: true",
            1,
            0,
        ),
        (
            "maxSurge: 5, maxUnavailable: 0, surgeCountsDraining: true",
            5,
            0,
        ),
        (
            "maxSurge: '25%', maxUnavailable: '10%', surgeCountsDraining: true",
            5,
            2,
        ),
    ] {
        let strict = rollout.contains("surgeCountsDraining: true");
        let r = rolling_restart(20, rollout, RolloutStrategy::Replace);
        let w = &r.w;
        let op = w.ledger.operation.as_ref().unwrap();
        assert_eq!(op.status, OperationStatus::Succeeded, "{rollout}");
        assert!(
            r.lowest >= 20 - unavailable,
            "{rollout}: healthy serving backends fell to {}",
            r.lowest
        );
        assert_eq!(
            r.most_counted,
            (surge + unavailable) as usize,
            "{rollout}: as many replacements in flight as the limits allow"
        );
        if strict || surge == 0 {
            // Every step counts until its old instance is gone: never more than desired +
            // maxSurge live instances.
            assert_eq!(r.most_in_flight, r.most_counted, "{rollout}");
            assert_eq!(r.most_live, (20 + surge) as usize, "{rollout}");
        } else {
            // Replacements retiring their old instance no longer count: more steps in flight,
            // up to desired + 2 x maxSurge live instances for a moment, never more.
            assert!(r.most_in_flight > r.most_counted, "{rollout}");
            assert!(
                r.most_in_flight <= (2 * surge + unavailable) as usize,
                "{rollout}: {} in flight",
                r.most_in_flight
            );
            assert!(r.most_live > (20 + surge) as usize, "{rollout}");
            assert!(
                r.most_live <= (20 + 2 * surge) as usize,
                "{rollout}: {} live",
                r.most_live
            );
        }
        assert_eq!(w.launched.len(), 20, "{rollout}: one launch per instance");
        assert_eq!(w.live_ids().len(), 20, "{rollout}");
        assert!(
            w.live_ids().iter().all(|i| w.launched.contains(i)),
            "{rollout}: every old instance is gone"
        );
        assert_eq!(w.backends.len(), 20, "{rollout}: no stale backend");
    }
}

#[test]
fn rolling_reboot_of_20_keeps_the_floor_and_brings_every_instance_back() {
    let Rollout {
        w,
        lowest,
        most_in_flight,
        ..
    } = rolling_restart(20, "maxUnavailable: '10%'", RolloutStrategy::Reboot);
    assert_eq!(
        w.ledger.operation.as_ref().unwrap().status,
        OperationStatus::Succeeded
    );
    assert_eq!(lowest, 18);
    assert_eq!(most_in_flight, 2);
    assert!(w.launched.is_empty(), "a reboot launches nothing");
    assert_eq!(w.serving(), 20, "every backend is back in service");
    let reboots = w.actions_of(|a| matches!(a, Action::Reboot { .. })).len();
    assert_eq!(reboots, 20);
}

#[test]
fn rolling_reboot_takes_none_out_below_the_floor_when_one_is_already_unhealthy() {
    // 5 instances, maxUnavailable 2: floor 3. The newest instance's backend is unhealthy
    // before the restart, so 4 serve and only one more may go out at a time.
    let mut w = World::new(fleet(
        &[("web", 5)],
        true,
        "minReadySeconds: 0, maxUnavailable: 2",
    ));
    let ids = w.seed("web", 5);
    w.sick.insert(ids[4].clone());
    w.request(rolling(RolloutStrategy::Reboot)).unwrap();
    let plan = w.step(Mode::Operation);
    let drains: Vec<&Action> = plan
        .actions
        .iter()
        .filter(|a| matches!(a, Action::SetDrain { drain: true, .. }))
        .collect();
    assert_eq!(
        drains.len(),
        1,
        "one drain only: two would leave {} serving, below 5 - 2",
        w.serving()
    );
    assert_eq!(w.serving(), 3);
    for _ in 0..200 {
        w.tick(TICK);
        assert!(w.serving() >= 3, "serving fell to {}", w.serving());
        w.step(Mode::Operation);
        assert!(w.serving() >= 3, "serving fell to {}", w.serving());
        if w.ledger.operation.as_ref().unwrap().status != OperationStatus::Running {
            break;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Failure budget and capacity
// ---------------------------------------------------------------------------------------------

#[test]
fn a_replacement_that_never_gets_healthy_pauses_the_rollout_and_keeps_the_old_instance() {
    let mut w = World::new(fleet(&[("web", 3)], true, "minReadySeconds: 0"));
    let old = w.seed("web", 3);
    w.new_are_sick = true;
    w.request(rolling(RolloutStrategy::Replace)).unwrap();
    let status = w.run(Mode::Operation, Duration::from_secs(20), |_| {});
    assert_eq!(status, OperationStatus::Paused);
    let op = w.ledger.operation.as_ref().unwrap();
    let reason = op.pause_reason.as_deref().unwrap();
    assert!(
        reason.contains("not healthy within") && reason.contains("resume"),
        "{reason}"
    );
    assert_eq!(
        op.steps
            .iter()
            .filter(|s| s.status == StepStatus::Failed)
            .count(),
        1
    );
    assert!(
        op.steps[1..]
            .iter()
            .all(|s| s.status == StepStatus::Pending),
        "nothing else was touched"
    );
    assert_eq!(w.launched.len(), 1, "no second replacement was tried");
    let old_backends: Vec<String> = old.iter().map(|o| format!("{}:", ip(n_of(o)))).collect();
    assert!(
        w.actions_of(
            |a| matches!(a, Action::SetDrain { drain: true, backend, .. }
            if old_backends.iter().any(|b| backend.as_str().starts_with(b.as_str())))
        )
        .is_empty(),
        "no old instance was drained"
    );
    assert_eq!(w.serving(), 3, "the old instances all serve");
    let new = &w.launched[0].clone();
    // The failed replacement leaves the load balancer first, over the next steps: drained,
    // its backend removed, then terminated (issue 12: every terminated instance drained).
    for _ in 0..6 {
        w.tick(TICK);
        w.step(Mode::Operation);
    }
    let new_backend = format!("{}:", ip(n_of(new)));
    let at = |pred: &dyn Fn(&Action) -> bool| w.log.iter().position(|(_, a)| pred(a));
    let drained = at(&|a| {
        matches!(a, Action::SetDrain { drain: true, backend, .. }
        if backend.as_str().starts_with(new_backend.as_str()))
    });
    let removed = at(&|a| {
        matches!(a, Action::DeleteBackend { backend }
        if backend.as_str().starts_with(new_backend.as_str()))
    });
    let terminated = at(&|a| matches!(a, Action::Terminate { instance } if instance == new));
    assert!(
        drained.is_some() && drained < removed && removed < terminated,
        "drained {drained:?}, removed {removed:?}, terminated {terminated:?}: {:#?}",
        w.log
    );
    assert!(
        !w.live_ids().contains(new),
        "the failed replacement is terminated"
    );
    assert!(
        !w.backends
            .iter()
            .any(|b| b.ip_address == Some(ip(n_of(new)).to_string())),
        "and its backend removed"
    );
    for o in old {
        assert!(w.live_ids().contains(&o));
    }
    assert!(
        w.ledger
            .events
            .iter()
            .any(|e| e.level == EventLevel::Error && e.message.contains("paused")),
        "the pause is an error event"
    );
    // Paused, the cleanup done: further steps do nothing.
    w.tick(TICK);
    let plan = w.step(Mode::Operation);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
}

#[test]
fn a_failed_replacement_whose_termination_was_lost_is_terminated_by_a_later_step() {
    let mut w = World::new(fleet(&[("web", 3)], true, "minReadySeconds: 0"));
    w.seed("web", 3);
    w.new_are_sick = true;
    w.lose_terminations = true;
    w.request(rolling(RolloutStrategy::Replace)).unwrap();
    assert_eq!(
        w.run(Mode::Operation, Duration::from_secs(20), |_| {}),
        OperationStatus::Paused
    );
    let new = w.launched[0].clone();
    assert!(w.live_ids().contains(&new), "the termination was lost");
    // OCI answers again; the operation stays paused.
    w.lose_terminations = false;
    for _ in 0..3 {
        w.tick(TICK);
        w.step(Mode::Operation);
    }
    assert!(
        !w.live_ids().contains(&new),
        "the failed replacement is not left running (an orphan the ledger calls terminating)"
    );
    assert_eq!(
        w.ledger.record(&new).unwrap().state,
        RecordState::Terminated
    );
    assert_eq!(
        w.ledger.operation.as_ref().unwrap().status,
        OperationStatus::Paused
    );
    assert_eq!(w.serving(), 3);
}

#[test]
fn resume_retries_the_failed_step_with_a_new_slot_and_finishes() {
    let mut w = World::new(fleet(&[("web", 3)], true, "minReadySeconds: 0"));
    w.seed("web", 3);
    w.new_are_sick = true;
    w.request(rolling(RolloutStrategy::Replace)).unwrap();
    assert_eq!(
        w.run(Mode::Operation, Duration::from_secs(20), |_| {}),
        OperationStatus::Paused
    );
    let failed_slot = w.ledger.operation.as_ref().unwrap().steps[0].slot;
    // The image is fixed; the operator resumes.
    w.new_are_sick = false;
    plan::resume(&mut w.ledger, w.now).unwrap();
    let op = w.ledger.operation.as_ref().unwrap();
    assert_eq!(op.status, OperationStatus::Running);
    assert_eq!(op.pause_reason, None);
    assert_eq!(op.steps[0].status, StepStatus::Pending);
    let plan = w.step(Mode::Operation);
    let relaunch = launches(&plan.actions);
    assert_eq!(relaunch.len(), 1, "{:?}", plan.actions);
    assert_ne!(
        relaunch[0].0, failed_slot,
        "a new slot, so the retry token differs from the failed launch's"
    );
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded,
        "{:#?}",
        w.ledger.operation
    );
    assert_eq!(w.launched.len(), 4, "the failed one and three good ones");
    assert_eq!(w.serving(), 3);
}

#[test]
fn out_of_capacity_fails_the_step_and_pauses_without_touching_the_old_instance() {
    let mut w = World::new(fleet(
        &[("web", 4)],
        true,
        "minReadySeconds: 0, maxSurge: 2",
    ));
    let old = w.seed("web", 4);
    w.request(rolling(RolloutStrategy::Replace)).unwrap();
    w.refuse_launches = Some("Out of host capacity.".to_string());
    // The first step sends two launches; both are refused and recorded by `apply`.
    let plan = w.step(Mode::Operation);
    assert_eq!(launches(&plan.actions).len(), 2);
    let failed = w
        .ledger
        .operation
        .as_ref()
        .unwrap()
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
        .count();
    assert_eq!(
        failed, 2,
        "`apply` fails the steps whose launch was refused"
    );
    // The next step pauses instead of trying more.
    let plan = w.step(Mode::Operation);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    let op = w.ledger.operation.as_ref().unwrap();
    assert_eq!(op.status, OperationStatus::Paused);
    let reason = op.pause_reason.as_deref().unwrap();
    assert!(reason.contains("Out of host capacity."), "{reason}");
    assert!(w.launched.is_empty());
    assert_eq!(
        w.live_ids(),
        old.into_iter().collect(),
        "the old instances stay"
    );
    assert_eq!(w.serving(), 4);
}

#[test]
fn apply_ignores_outcomes_of_another_operation_or_a_finished_step() {
    let mut w = World::new(fleet(&[("web", 1)], false, ""));
    w.request(scale(1)).unwrap();
    let plan = w.step(Mode::Operation);
    let Some(Action::Launch { slot, .. }) = plan.actions.first() else {
        panic!("{:?}", plan.actions)
    };
    let before = w.ledger.operation.clone();
    let other = OperationId::parse("other-op").unwrap();
    plan::apply(
        &mut w.ledger,
        &[Outcome::StepFailed {
            operation: other,
            slot: *slot,
            reason: "x".into(),
        }],
        w.now,
    );
    assert_eq!(
        w.ledger.operation, before,
        "another operation's outcome is ignored"
    );
}

// ---------------------------------------------------------------------------------------------
// Supersession
// ---------------------------------------------------------------------------------------------

/// A world whose rolling replace is paused (its replacement never got healthy).
fn paused_rollout() -> World {
    let mut w = World::new(fleet(&[("web", 3)], true, "minReadySeconds: 0"));
    w.seed("web", 3);
    w.new_are_sick = true;
    w.request(rolling(RolloutStrategy::Replace)).unwrap();
    assert_eq!(
        w.run(Mode::Operation, Duration::from_secs(20), |_| {}),
        OperationStatus::Paused
    );
    w.new_are_sick = false;
    w
}

#[test]
fn a_newer_rolling_restart_replaces_a_paused_one() {
    let mut w = paused_rollout();
    let old = w.ledger.operation.as_ref().unwrap().id.clone();
    let new = w.request(rolling(RolloutStrategy::Replace)).unwrap();
    let op = w.ledger.operation.as_ref().unwrap();
    assert_eq!(op.id, new);
    assert_eq!(op.status, OperationStatus::Running);
    assert!(
        w.ledger
            .events
            .iter()
            .any(|e| e.operation.as_ref() == Some(&old) && e.message.contains("superseded")),
        "the paused one is recorded as cancelled"
    );
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    assert_eq!(w.serving(), 3);
}

#[test]
fn a_rolling_restart_or_sync_is_refused_while_another_operation_runs() {
    let mut w = World::new(fleet(&[("web", 3)], true, ""));
    w.seed("web", 3);
    let running = w.request(rolling(RolloutStrategy::Replace)).unwrap();
    w.step(Mode::Operation);
    for kind in [
        rolling(RolloutStrategy::Replace),
        OperationKind::SyncState {
            adopt_untagged: false,
        },
    ] {
        let err = w.request(kind).unwrap_err();
        assert!(
            matches!(&err, RequestError::Busy { operation, .. } if *operation == running),
            "{err}"
        );
        assert!(err.to_string().contains("pause or abort"), "{err}");
    }
    assert_eq!(w.ledger.operation.as_ref().unwrap().id, running);
}

#[test]
fn a_queued_scale_supersedes_a_paused_operation() {
    let mut w = paused_rollout();
    let paused = w.ledger.operation.as_ref().unwrap().id.clone();
    let s = w.request(scale(4)).unwrap();
    assert_eq!(
        w.ledger.operation.as_ref().unwrap().id,
        paused,
        "the request only queues"
    );
    w.step(Mode::Operation);
    let op = w.ledger.operation.as_ref().unwrap();
    assert_eq!(
        op.id, s,
        "the next step cancels the paused one and starts the scale"
    );
    assert!(w.ledger.scale_queue.is_empty());
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    assert_eq!(w.active().len(), 4);
}

#[test]
fn a_queued_scale_waits_for_the_steps_in_flight_of_a_user_paused_operation() {
    let mut w = World::new(fleet(&[("web", 3)], true, "minReadySeconds: 0"));
    w.seed("web", 3);
    w.request(rolling(RolloutStrategy::Replace)).unwrap();
    w.step(Mode::Operation);
    plan::pause(&mut w.ledger, "operator asked", w.now).unwrap();
    let s = w.request(scale(4)).unwrap();
    w.tick(TICK);
    w.step(Mode::Operation);
    let op = w.ledger.operation.as_ref().unwrap();
    assert_eq!(
        op.status,
        OperationStatus::Paused,
        "its replacement is in flight"
    );
    assert_ne!(op.id, s);
    // The replacement in flight finishes; then the scale starts.
    for _ in 0..50 {
        w.tick(TICK);
        w.step(Mode::Operation);
        if w.ledger.operation.as_ref().unwrap().id == s {
            break;
        }
    }
    assert_eq!(w.ledger.operation.as_ref().unwrap().id, s);
    assert_eq!(
        w.serving(),
        3,
        "the finished replacement serves, no instance lost"
    );
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    assert_eq!(w.active().len(), 4);
}

#[test]
fn abort_lets_the_steps_in_flight_finish_then_cancels() {
    let mut w = World::new(fleet(&[("web", 4)], true, "minReadySeconds: 0"));
    w.seed("web", 4);
    w.request(rolling(RolloutStrategy::Replace)).unwrap();
    w.step(Mode::Operation);
    plan::abort(&mut w.ledger, w.now).unwrap();
    let status = w.run(Mode::Operation, TICK, |_| {});
    assert_eq!(status, OperationStatus::Cancelled);
    assert_eq!(w.launched.len(), 1, "only the replacement in flight");
    assert_eq!(w.serving(), 4);
    assert_eq!(
        plan::abort(&mut w.ledger, w.now).unwrap_err(),
        RequestError::Nothing("running or paused")
    );
}

// ---------------------------------------------------------------------------------------------
// Records against what OCI shows
// ---------------------------------------------------------------------------------------------

#[test]
fn a_tagged_instance_unknown_to_the_ledger_is_adopted_with_a_warning() {
    let mut w = World::new(fleet(&[("web", 2)], false, ""));
    w.seed("web", 1);
    let created = T0 - time::Duration::days(2);
    w.instances.push(instance(
        50,
        "RUNNING",
        "demo-web-9",
        Some("web"),
        None,
        "demo",
        created,
    ));
    // Not adopted: another fleet's, one without a group tag, one terminating.
    w.instances.push(instance(
        51,
        "RUNNING",
        "other-web-1",
        Some("web"),
        None,
        "other",
        created,
    ));
    w.instances.push(instance(
        52, "RUNNING", "demo-x", None, None, "demo", created,
    ));
    w.instances.push(instance(
        53,
        "TERMINATING",
        "demo-web-8",
        Some("web"),
        None,
        "demo",
        created,
    ));
    w.step(Mode::Operation);
    let r = w.ledger.record(&id(50)).expect("adopted");
    assert_eq!(
        (&*r.name, r.group.as_str(), r.state),
        ("demo-web-9", "web", RecordState::Running)
    );
    assert_eq!(r.created, Timestamp::new(created), "OCI's creation time");
    assert_eq!(r.private_ip, Some(ip(50)));
    for n in [51, 52, 53] {
        assert!(w.ledger.record(&id(n)).is_none(), "instance {n} adopted");
    }
    assert!(
        w.ledger
            .events
            .iter()
            .any(|e| e.level == EventLevel::Warning
                && e.instance == Some(id(50))
                && e.message.contains("adopted"))
    );
    // Adopted, it counts: the control loop does not launch a second one.
    let plan = w.step(Mode::Control);
    assert!(launches(&plan.actions).is_empty(), "{:?}", plan.actions);
}

#[test]
fn a_launched_but_unrecorded_instance_is_found_by_its_tags_and_never_launched_twice() {
    let mut w = World::new(fleet(&[("web", 1)], false, "minReadySeconds: 0"));
    let op = w.request(scale(1)).unwrap();
    // The step records its plan and sends the launch; OCI creates the instance; the process
    // dies before it records the answer.
    let obs = w.observe();
    let plan = plan::plan(&w.config, &w.ledger, &obs, w.now, Mode::Operation);
    w.ledger = plan.ledger.clone();
    let [Action::Launch { slot, .. }] = plan.actions.as_slice() else {
        panic!("{:?}", plan.actions)
    };
    let slot = *slot;
    let _lost_answer = w.act(&plan.actions[0]);
    assert_eq!(w.launched.len(), 1);
    assert!(w.ledger.records.is_empty(), "the ledger does not know it");
    w.tick(TICK);

    // The next step finds it by its operation and slot tags.
    let plan = w.step(Mode::Operation);
    assert!(
        launches(&plan.actions).is_empty(),
        "not launched again: {:?}",
        plan.actions
    );
    // The step (or, once the scale finished and its steps were dropped, its totals) has it.
    let op_now = w.ledger.operation.as_ref().unwrap();
    match op_now.steps.first() {
        Some(step) => {
            assert_eq!(step.instance, Some(w.launched[0].clone()));
            assert_eq!(step.slot, slot, "the step keeps its slot (and retry token)");
        }
        None => assert_eq!(op_now.totals.map(|t| t.launch_total), Some(1)),
    }
    let r = w.ledger.record(&w.launched[0]).expect("recorded");
    assert_eq!(r.operation, Some(op));
    assert!(
        r.name.ends_with(&format!("-{slot}")),
        "the instance has the step's slot (and retry token): {}",
        r.name
    );
    assert!(
        !w.ledger
            .events
            .iter()
            .any(|e| e.message.contains("adopted")),
        "its own launch is not reported as an adoption"
    );
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    assert_eq!(w.launched.len(), 1);
}

#[test]
fn an_instance_gone_from_oci_is_marked_missing_and_the_control_loop_replaces_it() {
    let mut w = World::new(fleet(&[("web", 3)], false, "minReadySeconds: 0"));
    let ids = w.seed("web", 3);
    w.instances.retain(|i| i.id != ids[0]);
    w.step(Mode::Operation);
    let r = w.ledger.record(&ids[0]).unwrap();
    assert_eq!(r.state, RecordState::Missing);
    assert!(
        w.ledger
            .events
            .iter()
            .any(|e| e.level == EventLevel::Warning
                && e.instance.as_ref() == Some(&ids[0])
                && e.message.contains("missing"))
    );
    assert!(
        w.ledger.operation.is_none(),
        "without the control loop nothing starts"
    );
    let plan = w.step(Mode::Control);
    assert_eq!(launches(&plan.actions).len(), 1);
    assert_eq!(
        w.run(Mode::Control, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    assert_eq!(w.active().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// The control loop
// ---------------------------------------------------------------------------------------------

#[test]
fn control_loop_scales_up_to_the_fleet_file_total() {
    let mut w = World::new(fleet(&[("web", 2), ("api", 1)], true, "minReadySeconds: 0"));
    w.seed("web", 1);
    let plan = w.step(Mode::Control);
    assert_eq!(launches(&plan.actions).len(), 2);
    let op = w.ledger.operation.as_ref().unwrap();
    assert_eq!((op.start_total, op.target_total), (1, 3));
    assert_eq!(
        w.run(Mode::Control, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    let mut groups: Vec<&str> = w.active().iter().map(|r| r.group.as_str()).collect();
    groups.sort_unstable();
    assert_eq!(groups, vec!["api", "web", "web"]);
    // Steady: the next step starts nothing.
    let plan = w.step(Mode::Control);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert_eq!(
        w.ledger.operation.as_ref().unwrap().status,
        OperationStatus::Succeeded
    );
}

#[test]
fn control_loop_targets_the_larger_of_desired_and_active_and_never_scales_down() {
    // desired 3, active 5 (an explicit scale-up): target 5, nothing to do.
    let mut w = World::new(fleet(&[("web", 3)], true, ""));
    w.seed("web", 5);
    assert_eq!(plan::control_target(&w.config, &w.ledger), 5);
    let plan = w.step(Mode::Control);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
    assert!(w.ledger.operation.is_none());

    // desired 3, active 2: target 3.
    let mut w = World::new(fleet(&[("web", 3)], true, ""));
    w.seed("web", 2);
    assert_eq!(plan::control_target(&w.config, &w.ledger), 3);
}

#[test]
fn control_loop_repairs_a_group_below_its_count_without_terminating_others() {
    // The fleet file moved one instance from web to api; web still has 3.
    let mut w = World::new(fleet(&[("web", 2), ("api", 1)], true, "minReadySeconds: 0"));
    let web = w.seed("web", 3);
    let plan = w.step(Mode::Control);
    assert!(
        terminated(&plan.actions).is_empty()
            && !plan
                .actions
                .iter()
                .any(|a| matches!(a, Action::SetDrain { drain: true, .. })),
        "the control loop never takes an instance away on its own: {:?}",
        plan.actions
    );
    assert_eq!(launches(&plan.actions).len(), 1, "{:?}", plan.actions);
    assert_eq!(
        w.run(Mode::Control, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    for i in &web {
        assert!(w.live_ids().contains(i), "{i} kept");
    }
    assert_eq!(w.active().len(), 4);
    // Steady afterwards (4 = max(desired 3, active 4)).
    let plan = w.step(Mode::Control);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
}

#[test]
fn operation_mode_starts_no_repairs() {
    let mut w = World::new(fleet(&[("web", 3)], true, ""));
    let plan = w.step(Mode::Operation);
    assert!(plan.actions.is_empty());
    assert!(w.ledger.operation.is_none());
}

#[test]
fn an_explicit_scale_below_the_fleet_file_says_the_control_loop_will_undo_it() {
    let mut w = World::new(fleet(&[("web", 3)], false, ""));
    w.seed("web", 3);
    w.request(scale(1)).unwrap();
    w.step(Mode::Operation);
    assert!(
        w.ledger
            .events
            .iter()
            .any(|e| e.message.contains("below the fleet file's 3")),
        "{:?}",
        w.ledger.events
    );
}

#[test]
fn sync_adopts_and_finishes_in_one_step() {
    let mut w = World::new(fleet(&[("web", 2)], false, ""));
    w.seed("web", 1);
    w.instances.push(instance(
        70,
        "RUNNING",
        "demo-web-2",
        Some("web"),
        None,
        "demo",
        T0,
    ));
    w.request(OperationKind::SyncState {
        adopt_untagged: false,
    })
    .unwrap();
    w.step(Mode::Operation);
    assert_eq!(
        w.ledger.operation.as_ref().unwrap().status,
        OperationStatus::Succeeded
    );
    assert!(w.ledger.record(&id(70)).is_some());
    assert!(
        w.ledger
            .records
            .iter()
            .all(|r| r.state == RecordState::Running)
    );
}

#[test]
fn rolling_restarts_without_a_load_balancer_keep_running_instances_at_the_floor() {
    for (strategy, rollout) in [
        (RolloutStrategy::Replace, "maxSurge: 2, maxUnavailable: 0"),
        (RolloutStrategy::Replace, "maxSurge: 0, maxUnavailable: 1"),
        (RolloutStrategy::Reboot, "maxUnavailable: 2"),
    ] {
        let mut w = World::new(fleet(
            &[("web", 5)],
            false,
            &format!("minReadySeconds: 0, {rollout}"),
        ));
        w.seed("web", 5);
        w.request(rolling(strategy)).unwrap();
        let l = w.ledger.operation.as_ref().unwrap().limits.unwrap();
        let floor = l.desired - l.max_unavailable;
        let status = w.run(Mode::Operation, TICK, |w| {
            assert!(
                w.serving() >= floor,
                "{rollout}: {} RUNNING, below {floor}",
                w.serving()
            );
        });
        assert_eq!(status, OperationStatus::Succeeded, "{strategy:?} {rollout}");
        assert_eq!(w.serving(), 5, "{rollout}");
        assert_eq!(w.active().len(), 5, "{rollout}");
        let expect_launches = if strategy == RolloutStrategy::Replace {
            5
        } else {
            0
        };
        assert_eq!(w.launched.len(), expect_launches, "{rollout}");
    }
}

#[test]
fn a_running_instance_without_its_backend_gets_it_back_on_the_next_step() {
    let mut w = World::new(fleet(&[("web", 3)], true, ""));
    w.seed("web", 3);
    // Someone removed the second instance's backend (the console, a script).
    w.backends
        .retain(|b| b.ip_address != Some(ip(2).to_string()));
    let plan = w.step(Mode::Operation);
    let adds: Vec<_> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::AddBackend {
                ip: addr, instance, ..
            } => Some((instance.clone(), *addr)),
            _ => None,
        })
        .collect();
    assert_eq!(
        adds,
        vec![(id(2), ip(2))],
        "exactly the missing backend is added"
    );
    assert_eq!(w.backends.len(), 3);
    // Steady again: nothing more to do.
    let plan = w.step(Mode::Operation);
    assert!(plan.actions.is_empty(), "{:?}", plan.actions);
}

#[test]
fn a_backend_left_at_a_gone_instances_address_is_removed_and_unknown_ones_are_left() {
    let mut w = World::new(fleet(&[("web", 2)], true, ""));
    w.seed("web", 2);
    // The second instance vanished without fleetctl; its backend stayed.
    w.instances.retain(|i| i.id != id(2));
    // A backend the fleet never had (someone else's server in the set).
    w.backends.push(backend(77));
    let plan = w.step(Mode::Operation);
    let deletes: Vec<String> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::DeleteBackend { backend } => Some(backend.as_str().to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(deletes, vec![backend(2).name.as_str().to_string()]);
    assert!(
        w.backends.iter().any(|b| b.name == backend(77).name),
        "a backend the fleet never had is not touched"
    );
    assert_eq!(
        w.ledger.record(&id(2)).map(|r| r.state),
        Some(RecordState::Missing)
    );
}

#[test]
fn a_load_balancer_change_still_applying_holds_the_others_until_it_is_done() {
    use fleetctl_core::oci::workrequest::{WorkRequestState, WorkRequestStatus};
    use fleetctl_core::store::ledger::PendingWorkRequest;

    let mut w = World::new(fleet(&[("web", 3)], true, ""));
    w.seed("web", 3);
    w.backends
        .retain(|b| b.ip_address != Some(ip(2).to_string()));
    w.ledger.work_requests.push(PendingWorkRequest {
        id: "wr-1".into(),
        what: "drain backend 10.0.0.9:8080".into(),
        started: Timestamp::new(w.now),
    });
    let mut obs = w.observe();
    obs.load_balancer.as_mut().unwrap().work_requests.insert(
        "wr-1".into(),
        WorkRequestState::InProgress(WorkRequestStatus::InProgress),
    );
    let p = plan::plan(&w.config, &w.ledger, &obs, w.now, Mode::Operation);
    assert!(
        !p.actions
            .iter()
            .any(|a| matches!(a, Action::AddBackend { .. })),
        "no backend change while another is applying: {:?}",
        p.actions
    );
    assert!(
        p.waiting_on[0].contains("drain backend 10.0.0.9:8080"),
        "{:?}",
        p.waiting_on
    );
    assert_eq!(p.ledger.work_requests.len(), 1, "still waited on");

    // Done: dropped, and the missing backend is added in the same step.
    obs.load_balancer
        .as_mut()
        .unwrap()
        .work_requests
        .insert("wr-1".into(), WorkRequestState::Succeeded);
    let p = plan::plan(&w.config, &w.ledger, &obs, w.now, Mode::Operation);
    assert!(p.ledger.work_requests.is_empty());
    assert!(
        p.actions
            .iter()
            .any(|a| matches!(a, Action::AddBackend { .. }))
    );

    // Failed: dropped with a warning event.
    obs.load_balancer.as_mut().unwrap().work_requests.insert(
        "wr-1".into(),
        WorkRequestState::Failed {
            status: WorkRequestStatus::Failed,
            message: "backend set is busy".into(),
        },
    );
    let p = plan::plan(&w.config, &w.ledger, &obs, w.now, Mode::Operation);
    assert!(p.ledger.work_requests.is_empty());
    assert!(
        p.ledger
            .events
            .iter()
            .any(|e| e.level == EventLevel::Warning && e.message.contains("backend set is busy")),
        "a failed change is reported"
    );
}

/// A backend removal whose answer was never recorded (the process died between sending it
/// and writing the ledger) is not sent again while the load balancer may still be applying
/// it: DeleteBackend has no retry token.
#[test]
fn a_removal_sent_before_a_restart_is_not_sent_again_while_it_may_be_applying() {
    let mut w = World::new(fleet(&[("web", 2)], true, ""));
    w.seed("web", 3);
    // web-3 is gone, but its backend is still there: the planner removes it.
    w.instances.retain(|i| i.id != id(3));
    for r in w
        .ledger
        .records
        .iter_mut()
        .filter(|r| r.instance_id == id(3))
    {
        r.state = RecordState::Terminated;
        r.terminated = Some(Timestamp::new(w.now));
    }
    let gone = backend(3).name;
    let removes = |p: &plan::Plan| {
        p.actions
            .iter()
            .filter(|a| matches!(a, Action::DeleteBackend { backend: b } if b == &gone))
            .count()
    };
    let obs = w.observe();
    let p = plan::plan(&w.config, &w.ledger, &obs, w.now, Mode::Control);
    assert_eq!(removes(&p), 1, "{:?}", p.actions);
    assert_eq!(
        p.ledger.unconfirmed_removals.len(),
        1,
        "the plan saved before acting notes the removal"
    );
    // The process dies after sending it: the saved plan is all the next run has.
    w.ledger = p.ledger;

    // The load balancer is still applying a work request: wait.
    let mut obs = w.observe();
    obs.load_balancer.as_mut().unwrap().in_flight = Some(vec!["wr-1".into()]);
    let p = plan::plan(&w.config, &w.ledger, &obs, w.now, Mode::Control);
    assert_eq!(removes(&p), 0, "{:?}", p.actions);
    assert!(
        p.waiting_on[0].contains(&format!(
            "removal of backend {} sent before a restart",
            gone.as_str()
        )),
        "{:?}",
        p.waiting_on
    );
    assert_eq!(p.ledger.unconfirmed_removals.len(), 1);

    // Nothing running and the backend still there: it never took effect; decided again.
    obs.load_balancer.as_mut().unwrap().in_flight = Some(Vec::new());
    let p = plan::plan(&w.config, &w.ledger, &obs, w.now, Mode::Control);
    assert_eq!(removes(&p), 1, "{:?}", p.actions);

    // A load balancer that cannot list its work requests (NLB): wait a while, then send again.
    obs.load_balancer.as_mut().unwrap().in_flight = None;
    let p = plan::plan(&w.config, &w.ledger, &obs, w.now, Mode::Control);
    assert_eq!(removes(&p), 0, "{:?}", p.actions);
    let later = w.now + plan::UNCONFIRMED_REMOVAL_WAIT + Duration::from_secs(1);
    let p = plan::plan(&w.config, &w.ledger, &obs, later, Mode::Control);
    assert_eq!(removes(&p), 1, "{:?}", p.actions);
    assert!(
        p.ledger
            .events
            .iter()
            .any(|e| e.level == EventLevel::Warning && e.message.contains("sending it again")),
        "a removal sent twice is reported"
    );

    // Gone: the note is dropped and nothing is sent.
    w.backends.retain(|b| b.name != backend(3).name);
    let obs = w.observe();
    let p = plan::plan(&w.config, &w.ledger, &obs, w.now, Mode::Control);
    assert_eq!(removes(&p), 0);
    assert!(p.ledger.unconfirmed_removals.is_empty());
}

#[test]
fn display_names_map_to_groups_by_the_fleets_naming_rule() {
    let config = fleet(&[("web", 1), ("web-api", 1)], false, "");
    let prefix = config.spec.display_name_prefix.as_str().to_string();
    let group = |name: String| plan::group_of_display_name(&config, &name).map(|g| g.to_string());
    assert_eq!(group(format!("{prefix}-web-3")).as_deref(), Some("web"));
    assert_eq!(
        group(format!("{prefix}-web-api-12")).as_deref(),
        Some("web-api")
    );
    assert_eq!(group(format!("{prefix}-web-")), None, "no number");
    assert_eq!(group(format!("{prefix}-web-3a")), None, "not a number");
    assert_eq!(group(format!("{prefix}-cache-1")), None, "no such group");
    assert_eq!(
        group(format!("{prefix}web-1")),
        None,
        "no dash after the prefix"
    );
    assert_eq!(group("other-web-1".to_string()), None, "another prefix");
}
