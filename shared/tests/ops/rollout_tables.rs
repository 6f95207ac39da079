//! The planner's tables for rolling updates (issue 13): only outdated instances are
//! replaced, checkpoints stop a rollout, a failed rollout rolls back, undo goes back to an
//! earlier revision. Pure: `plan_support::World` plays OCI.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use fleetctl_core::config::{CheckpointWaitSpec, RolloutStrategy};
use fleetctl_core::plan::{self, Mode, RequestError};
use fleetctl_core::store::ledger::{
    CheckpointVerdict, Door, OperationKind, OperationStatus, StepStatus, UNKNOWN_FIELD,
    UpdateReason,
};

use crate::plan_support::*;

const IMAGE_A: &str = "ocid1.image.oc1.iad.aaaa";
const IMAGE_B: &str = "ocid1.image.oc1.iad.bbbb";

/// A fleet of `size` behind the load balancer, seeded on image A (revision 1 recorded), and
/// the fleet file then changed to image B.
fn fleet_moved_to_b(size: u32, rollout: &str) -> World {
    let mut w = World::new(fleet(
        &[("web", size)],
        true,
        &format!("minReadySeconds: 0, {rollout}"),
    ));
    w.seed("web", size);
    assert_eq!(plan::note_revision(&mut w.ledger, &w.config, w.now), 1);
    w.config.spec.image_id = IMAGE_B.parse().unwrap();
    w
}

/// Runs the active operation to its end (or pause), checking the serving floor throughout;
/// returns the status and the lowest number of healthy serving backends seen.
fn run_checked(w: &mut World) -> (OperationStatus, u32) {
    let limits = w.ledger.operation.as_ref().unwrap().limits.unwrap();
    let floor = limits.desired - limits.max_unavailable;
    let mut lowest = u32::MAX;
    let status = w.run(Mode::Operation, TICK, |w| {
        let serving = w.serving();
        lowest = lowest.min(serving);
        assert!(serving >= floor, "serving fell to {serving}, below {floor}");
    });
    (status, lowest)
}

fn image_of(w: &World, id: &fleetctl_core::ids::InstanceId) -> String {
    w.images
        .get(id)
        .cloned()
        .unwrap_or_else(|| IMAGE_A.to_string())
}

#[test]
fn a_rollout_of_a_mixed_fleet_replaces_only_the_outdated_instances_and_says_why() {
    // Four on image A, then the file moves to B and two more are launched on B.
    let mut w = fleet_moved_to_b(4, "maxSurge: 1, maxUnavailable: 0");
    w.config.spec.instances[0].count = 6;
    w.request(scale(6)).unwrap();
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    assert_eq!(w.launched.len(), 2);
    assert!(w.launched.iter().all(|i| image_of(&w, i) == IMAGE_B));

    let outdated = plan::outdated(&w.config, &w.ledger);
    assert_eq!(outdated.len(), 4, "{outdated:?}");
    assert!(
        outdated.iter().all(|o| o.fields == ["imageId"]),
        "{outdated:?}"
    );
    let old: Vec<_> = outdated.iter().map(|o| o.instance.clone()).collect();

    w.request(plan::rollout_kind()).unwrap();
    let op = w.ledger.operation.as_ref().unwrap();
    assert_eq!(op.steps.len(), 4, "one step per outdated instance");
    assert_eq!(op.revision, Some(2));
    let (status, lowest) = run_checked(&mut w);
    assert_eq!(status, OperationStatus::Succeeded);
    assert_eq!(lowest, 6, "maxUnavailable 0: every backend kept serving");
    assert_eq!(w.launched.len(), 6, "2 from the scale, 4 replacements");
    for id in &old {
        assert!(!w.live_ids().contains(id), "the outdated {id} is gone");
    }
    assert!(w.live_ids().iter().all(|i| image_of(&w, i) == IMAGE_B));
    assert!(plan::outdated(&w.config, &w.ledger).is_empty());

    // A second rollout replaces none and succeeds at once.
    w.request(plan::rollout_kind()).unwrap();
    assert_eq!(w.ledger.operation.as_ref().unwrap().steps.len(), 0);
    assert_eq!(
        w.run(Mode::Operation, TICK, |_| {}),
        OperationStatus::Succeeded
    );
    assert_eq!(w.launched.len(), 6, "nothing launched");

    // A rolling restart of the up-to-date fleet still replaces everything.
    w.request(rolling(RolloutStrategy::Replace)).unwrap();
    assert_eq!(w.ledger.operation.as_ref().unwrap().steps.len(), 6);
    let (status, _) = run_checked(&mut w);
    assert_eq!(status, OperationStatus::Succeeded);
    assert_eq!(w.launched.len(), 12);

    // The history has every finished operation, with its revision, newest last, and no steps.
    let kinds: Vec<(&str, OperationStatus)> = w
        .ledger
        .history
        .iter()
        .map(|h| (h.kind.as_str(), h.status))
        .collect();
    assert_eq!(
        kinds,
        [
            ("scale", OperationStatus::Succeeded),
            ("rolling_restart", OperationStatus::Succeeded),
            ("rolling_restart", OperationStatus::Succeeded),
            ("rolling_restart", OperationStatus::Succeeded),
        ]
    );
    assert_eq!(w.ledger.history[1].totals.launch_succeeded, 4);
    assert_eq!(w.ledger.history[1].revision, Some(2));
    assert!(w.ledger.operation.as_ref().unwrap().steps.is_empty());
}

#[test]
fn records_without_a_digest_count_as_outdated_and_are_replaced() {
    let mut w = World::new(fleet(&[("web", 3)], true, "minReadySeconds: 0"));
    w.seed("web", 3);
    // Written by a fleetctl that kept no digests.
    w.ledger.records[1].launch_digest = None;
    let outdated = plan::outdated(&w.config, &w.ledger);
    assert_eq!(outdated.len(), 1);
    assert_eq!(outdated[0].fields, [UNKNOWN_FIELD]);
    w.request(plan::rollout_kind()).unwrap();
    let (status, _) = run_checked(&mut w);
    assert_eq!(status, OperationStatus::Succeeded);
    assert_eq!(w.launched.len(), 1);
    assert!(plan::outdated(&w.config, &w.ledger).is_empty());
}

#[test]
fn a_rolling_update_cannot_be_a_reboot() {
    let mut w = fleet_moved_to_b(3, "");
    let kind = OperationKind::RollingRestart {
        strategy: RolloutStrategy::Reboot,
        reboot_action: None,
        update: match plan::rollout_kind() {
            OperationKind::RollingRestart { update, .. } => update,
            _ => unreachable!(),
        },
    };
    assert!(matches!(w.request(kind), Err(RequestError::Refused(_))));
}

#[test]
fn checkpoints_stop_a_rollout_after_their_share_until_resumed() {
    // (fleet size, checkpoints, the instances done at each stop)
    for (size, checkpoints, stops) in [
        (6u32, "[50]", vec![3u32]),
        (10, "[10, 50]", vec![1, 5]),
        (4, "[10, 20, 75]", vec![1, 3]),
        (7, "[30, 60]", vec![3, 5]),
        (1, "[50]", vec![]),
    ] {
        let mut w = fleet_moved_to_b(
            size,
            &format!("maxSurge: 1, maxUnavailable: 0, checkpoints: {checkpoints}"),
        );
        w.request(plan::rollout_kind()).unwrap();
        let mut seen = Vec::new();
        loop {
            let (status, _) = run_checked(&mut w);
            if status != OperationStatus::Paused {
                assert_eq!(status, OperationStatus::Succeeded);
                break;
            }
            let op = w.ledger.operation.as_ref().unwrap();
            let done = op
                .steps
                .iter()
                .filter(|s| s.status == StepStatus::Done)
                .count() as u32;
            let started = op
                .steps
                .iter()
                .filter(|s| s.status != StepStatus::Pending)
                .count() as u32;
            let c = op.checkpoint.clone().unwrap();
            assert_eq!(c.verdict, CheckpointVerdict::Waiting);
            assert_eq!((c.done, c.total), (done, size));
            assert_eq!(
                started, done,
                "{size} {checkpoints}: nothing started past it"
            );
            assert_eq!(
                w.launched.len() as u32,
                done,
                "{size} {checkpoints}: launches stopped at the checkpoint"
            );
            assert!(op.pause_reason.as_deref().unwrap().contains("checkpoint"));
            seen.push(done);
            // It stays there until resumed.
            w.tick(TICK * 10);
            w.step(Mode::Operation);
            assert_eq!(w.launched.len() as u32, done);
            plan::resume(&mut w.ledger, w.now).unwrap();
            assert_eq!(
                w.ledger
                    .operation
                    .as_ref()
                    .unwrap()
                    .checkpoint
                    .as_ref()
                    .unwrap()
                    .verdict,
                CheckpointVerdict::Resumed
            );
        }
        assert_eq!(seen, stops, "{size} {checkpoints}");
        assert_eq!(w.launched.len() as u32, size);
    }
}

#[test]
fn a_bake_checkpoint_goes_on_when_healthy_and_pauses_when_a_backend_fails() {
    // Healthy for the whole bake: it goes on by itself.
    let mut w = fleet_moved_to_b(
        6,
        "maxSurge: 1, maxUnavailable: 0, checkpoints: [50], checkpointWait: 30s",
    );
    assert_eq!(
        w.config.spec.rollout.checkpoint_wait,
        CheckpointWaitSpec::Bake(std::time::Duration::from_secs(30))
    );
    w.request(plan::rollout_kind()).unwrap();
    let mut baked_at = None;
    let status = w.run(Mode::Operation, TICK, |w| {
        let op = w.ledger.operation.as_ref().unwrap();
        if let Some(c) = &op.checkpoint
            && c.verdict == CheckpointVerdict::Waiting
        {
            baked_at.get_or_insert(w.launched.len());
            assert_eq!(w.launched.len(), 3, "nothing launched during the bake");
        }
    });
    assert_eq!(status, OperationStatus::Succeeded);
    assert_eq!(baked_at, Some(3));
    let last = w.ledger.operation.as_ref().unwrap();
    assert_eq!(
        last.checkpoint.as_ref().unwrap().verdict,
        CheckpointVerdict::Healthy
    );

    // A backend fails during the bake: the rollout pauses with verdict unhealthy.
    let mut w = fleet_moved_to_b(
        6,
        "maxSurge: 1, maxUnavailable: 0, checkpoints: [50], checkpointWait: 5m",
    );
    w.request(plan::rollout_kind()).unwrap();
    for _ in 0..200 {
        w.step(Mode::Operation);
        let waiting = w
            .ledger
            .operation
            .as_ref()
            .unwrap()
            .checkpoint
            .as_ref()
            .is_some_and(|c| c.verdict == CheckpointVerdict::Waiting);
        if waiting {
            break;
        }
        w.tick(TICK);
    }
    let sick = w.launched[0].clone();
    w.sick.insert(sick);
    w.tick(TICK);
    w.step(Mode::Operation);
    let op = w.ledger.operation.as_ref().unwrap();
    assert_eq!(op.status, OperationStatus::Paused);
    assert_eq!(
        op.checkpoint.as_ref().unwrap().verdict,
        CheckpointVerdict::Unhealthy
    );
    assert!(
        op.pause_reason.as_deref().unwrap().contains("5 of 6"),
        "{:?}",
        op.pause_reason
    );
    assert_eq!(w.launched.len(), 3);
}

#[test]
fn a_failed_rollout_rolls_back_what_it_replaced_with_the_same_floor() {
    let mut w = fleet_moved_to_b(6, "maxSurge: 1, maxUnavailable: 1, rollbackOnFailure: true");
    w.config.spec.load_balancer.as_mut().unwrap().health_timeout =
        std::time::Duration::from_secs(60);
    w.request(plan::rollout_kind()).unwrap();
    assert_eq!(w.ledger.operation.as_ref().unwrap().rollback_to, Some(1));
    let rollout = w.ledger.operation.as_ref().unwrap().id.clone();
    let floor = 5;
    // Image B turns bad after two replacements are done.
    for _ in 0..400 {
        w.step(Mode::Operation);
        assert!(w.serving() >= floor);
        let done = w
            .ledger
            .operation
            .as_ref()
            .unwrap()
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Done)
            .count();
        if done >= 2 {
            break;
        }
        w.tick(TICK);
        assert!(w.serving() >= floor);
    }
    w.sick_images.insert(IMAGE_B.to_string());
    let mut lowest = u32::MAX;
    let mut rollback_seen = false;
    for _ in 0..2000 {
        w.step(Mode::Operation);
        lowest = lowest.min(w.serving());
        let op = w.ledger.operation.as_ref().unwrap();
        if let OperationKind::RollingRestart {
            update: Some(u), ..
        } = &op.kind
            && let UpdateReason::Rollback { of, why } = &u.reason
        {
            rollback_seen = true;
            assert_eq!(of, &rollout);
            assert!(why.contains("failure budget"), "{why}");
            assert_eq!(u.revision, 1);
            if op.status.is_finished() {
                break;
            }
        }
        assert!(
            op.status != OperationStatus::Paused,
            "{:?}",
            op.pause_reason
        );
        w.tick(TICK);
        lowest = lowest.min(w.serving());
    }
    assert!(rollback_seen);
    assert!(lowest >= floor, "serving fell to {lowest}");
    let op = w.ledger.operation.as_ref().unwrap();
    assert_eq!(op.status, OperationStatus::Succeeded);
    assert_eq!(op.origin.as_ref().unwrap().door, Door::Rollback);
    // Back on image A everywhere, every backend healthy.
    let live = w.live_ids();
    assert_eq!(live.len(), 6);
    assert!(
        live.iter().all(|i| image_of(&w, i) == IMAGE_A),
        "{:?}",
        w.images
    );
    assert_eq!(w.serving(), 6);
    // The failed rollout is in the history with why.
    let failed = w.ledger.history.iter().find(|h| h.id == rollout).unwrap();
    assert_eq!(failed.status, OperationStatus::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .starts_with("rolled back to revision 1"),
        "{:?}",
        failed.error
    );
    // The fleet file still says B: the instances show as outdated against it.
    assert_eq!(plan::outdated(&w.config, &w.ledger).len(), 6);
}

#[test]
fn without_rollback_a_failed_rollout_pauses_at_its_budget() {
    let mut w = fleet_moved_to_b(6, "maxSurge: 1, maxUnavailable: 0");
    w.config.spec.load_balancer.as_mut().unwrap().health_timeout =
        std::time::Duration::from_secs(60);
    w.sick_images.insert(IMAGE_B.to_string());
    w.request(plan::rollout_kind()).unwrap();
    let (status, lowest) = run_checked(&mut w);
    assert_eq!(status, OperationStatus::Paused);
    assert_eq!(lowest, 6, "the old instances kept serving");
    assert_eq!(w.launched.len(), 1, "one failed replacement, then no more");
}

#[test]
fn undo_rolls_back_to_an_earlier_revision_and_refuses_an_unknown_one() {
    let mut w = fleet_moved_to_b(4, "maxSurge: 1, maxUnavailable: 0");
    w.request(plan::rollout_kind()).unwrap();
    assert_eq!(run_checked(&mut w).0, OperationStatus::Succeeded);
    assert!(w.live_ids().iter().all(|i| image_of(&w, i) == IMAGE_B));

    assert!(matches!(
        plan::undo_kind(&w.ledger, &w.config, Some(9)),
        Err(RequestError::Refused(_))
    ));
    // Default: the revision before the file's.
    let kind = plan::undo_kind(&w.ledger, &w.config, None).unwrap();
    w.request(kind).unwrap();
    let op = w.ledger.operation.as_ref().unwrap();
    assert_eq!(op.revision, Some(1));
    assert_eq!(op.steps.len(), 4);
    assert_eq!(run_checked(&mut w).0, OperationStatus::Succeeded);
    assert_eq!(w.launched.len(), 8);
    assert!(w.live_ids().iter().all(|i| image_of(&w, i) == IMAGE_A));
    // Against the file (still B) all four are outdated; undo to 2 brings them forward.
    assert_eq!(plan::outdated(&w.config, &w.ledger).len(), 4);
    let kind = plan::undo_kind(&w.ledger, &w.config, Some(2)).unwrap();
    w.request(kind).unwrap();
    assert_eq!(run_checked(&mut w).0, OperationStatus::Succeeded);
    assert!(w.live_ids().iter().all(|i| image_of(&w, i) == IMAGE_B));
    assert!(plan::outdated(&w.config, &w.ledger).is_empty());
}
