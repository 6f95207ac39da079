//! Rolling updates end to end (issue 13): the reconcile step against oci-sim over loopback
//! HTTP, judged from the simulator's own state (instances' images, backends' health) and
//! its request log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use fleetctl_core::config::{self, FleetConfig};
use fleetctl_core::env::Env;
use fleetctl_core::fleet::{Fleet, Overrides};
use fleetctl_core::ids::ImageId;
use fleetctl_core::ops::{self, Context};
use fleetctl_core::plan::{self, Mode};
use fleetctl_core::store::ledger::{Door, OperationKind, OperationStatus, UpdateReason};
use fleetctl_testkit::{SimHandle, TestSim};

use crate::e2e::{launches, serving};
use serde_json::Value;

struct World {
    sim: TestSim,
    config: FleetConfig,
    state: String,
}

/// A simulator and a running fleet of `count` behind the seeded load balancer (brought up
/// by the control loop from the demo fleet file with `rollout` and `lb_extra`).
async fn world(count: u32, rollout: &str, lb_extra: &str) -> World {
    let sim = TestSim::start_with(|c| c.seed = Some(13)).await;
    let file = sim.edited_fleet_file(count, lb_extra, rollout);
    let config = config::load_file(&file).unwrap();
    let state = format!("file://{}", sim.dir().join("state.json").display());
    let w = World { sim, config, state };
    let ctx = w.context(&w.config).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = ops::step(&ctx, Mode::Control).await.unwrap();
        if r.operation().is_some_and(|o| o.status.is_finished()) && serving(&w.sim) == count {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "fleet did not come up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The fleet file changes below: a new process (another lease holder) carries on.
    ops::release(&ctx).await.unwrap();
    w
}

impl World {
    async fn context(&self, config: &FleetConfig) -> Context {
        let overrides = Overrides::new(Env::empty()).state_url(Some(self.state.clone()));
        Fleet::open(config.clone(), overrides)
            .await
            .unwrap()
            .context()
            .clone()
    }

    /// The fleet file with another image.
    fn with_image(&self, image: &ImageId) -> FleetConfig {
        let mut c = self.config.clone();
        c.spec.image_id = image.clone();
        c
    }
}

/// Runs steps until the active operation is over or paused, following a rollback that a
/// failed rollout starts; returns the last operation's status.
async fn run_to_end(ctx: &Context) -> OperationStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let report = ops::step(ctx, Mode::Operation).await.unwrap();
        if let Some(op) = report.operation()
            && (op.status.is_finished() || op.status == OperationStatus::Paused)
        {
            return op.status;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "operation did not finish; waiting on {:?}",
            report.waiting_on
        );
        tokio::time::sleep(report.poll_after().min(Duration::from_millis(20))).await;
    }
}

/// Runs the operation while watching the simulator; returns its status and the lowest
/// number of healthy in-service backends seen.
async fn run_watched(w: &World, ctx: &Context) -> (OperationStatus, u32) {
    let stop = AtomicBool::new(false);
    let lowest = AtomicU32::new(u32::MAX);
    let watch = async {
        while !stop.load(Ordering::SeqCst) {
            lowest.fetch_min(serving(&w.sim), Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let run = async {
        let status = run_to_end(ctx).await;
        stop.store(true, Ordering::SeqCst);
        status
    };
    let (status, ()) = tokio::join!(run, watch);
    (status, lowest.load(Ordering::SeqCst))
}

fn live(sim: &SimHandle) -> Vec<Value> {
    let world = sim.world_json();
    world["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["freeformTags"]["fleetctl-fleet"] == "demo")
        .filter(|i| {
            !matches!(
                i["lifecycleState"].as_str(),
                Some("TERMINATING" | "TERMINATED")
            )
        })
        .cloned()
        .collect()
}

fn images(sim: &SimHandle) -> Vec<String> {
    live(sim)
        .iter()
        .map(|i| i["imageId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_new_image_rolls_out_to_exactly_the_6_and_a_second_rollout_replaces_none() {
    let w = world(
        6,
        "maxSurge: 1, maxUnavailable: 1, minReadySeconds: 0",
        ", drainTimeout: 30ms",
    )
    .await;
    let old_image = w.config.spec.image_id.to_string();
    let new_image = w.sim.add_image().await;
    let before: BTreeSet<String> = live(&w.sim)
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert!(images(&w.sim).iter().all(|i| *i == old_image));
    let launched_before = launches(&w.sim);

    let ctx = w.context(&w.with_image(&new_image)).await;
    let (ledger, _) = ops::load(&ctx).await.unwrap();
    let outdated = plan::outdated(&ctx.config, &ledger);
    assert_eq!(outdated.len(), 6);
    assert!(
        outdated.iter().all(|o| o.fields == ["imageId"]),
        "{outdated:?}"
    );

    ops::request(&ctx, plan::rollout_kind()).await.unwrap();
    let (status, lowest) = run_watched(&w, &ctx).await;
    assert_eq!(status, OperationStatus::Succeeded);
    assert_eq!(
        launches(&w.sim) - launched_before,
        6,
        "exactly the 6 replaced"
    );
    let after: BTreeSet<String> = live(&w.sim)
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(after.len(), 6);
    assert!(after.is_disjoint(&before));
    assert!(images(&w.sim).iter().all(|i| i == new_image.as_str()));
    assert!(
        lowest >= 5,
        "serving fell to {lowest}, below 6 - maxUnavailable 1"
    );
    assert_eq!(serving(&w.sim), 6);

    // A second rollout replaces none.
    ops::request(&ctx, plan::rollout_kind()).await.unwrap();
    assert_eq!(run_to_end(&ctx).await, OperationStatus::Succeeded);
    assert_eq!(launches(&w.sim) - launched_before, 6, "nothing launched");
    let (ledger, _) = ops::load(&ctx).await.unwrap();
    assert!(plan::outdated(&ctx.config, &ledger).is_empty());
    let last = ledger.history.back().unwrap();
    assert_eq!(last.totals.steps, 0);
    assert_eq!(last.revision, Some(2));
}

/// A running fleet of 6 (`maxSurge 1, maxUnavailable 1`, a 1 s health timeout, and
/// `rollout_extra`), the image it runs, and a context whose fleet file names a new image
/// whose instances never become healthy.
async fn with_a_never_healthy_image(rollout_extra: &str) -> (World, String, Context) {
    let w = world(
        6,
        &format!("maxSurge: 1, maxUnavailable: 1, minReadySeconds: 0{rollout_extra}"),
        ", drainTimeout: 30ms, healthTimeout: 1s",
    )
    .await;
    let old_image = w.config.spec.image_id.to_string();
    let bad = w.sim.add_image().await;
    w.sim.image_health(&bad, Some("CRITICAL")).await;
    let ctx = w.context(&w.with_image(&bad)).await;
    (w, old_image, ctx)
}

#[tokio::test]
async fn a_never_healthy_image_pauses_at_its_budget_without_rollback() {
    let (w, old_image, ctx) = with_a_never_healthy_image("").await;
    ops::request(&ctx, plan::rollout_kind()).await.unwrap();
    let (status, lowest) = run_watched(&w, &ctx).await;
    assert_eq!(status, OperationStatus::Paused);
    let (ledger, _) = ops::load(&ctx).await.unwrap();
    let op = ledger.operation.as_ref().unwrap();
    assert!(
        op.pause_reason
            .as_deref()
            .unwrap()
            .contains("failure budget"),
        "{:?}",
        op.pause_reason
    );
    assert!(lowest >= 5, "serving fell to {lowest}");
    // A step still in flight when it paused finishes (its bad instance fails too and is
    // removed); then nothing of the bad image is left and the old image serves.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = ops::step(&ctx, Mode::Operation).await.unwrap();
        lowest_check(&w.sim);
        let in_flight = r.operation().is_some_and(|o| {
            o.steps
                .iter()
                .any(|s| s.status == fleetctl_core::store::ledger::StepStatus::InProgress)
        });
        if !in_flight && images(&w.sim).iter().all(|i| *i == old_image) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bad instances were not removed: {:?}",
            images(&w.sim)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let imgs = images(&w.sim);
    assert!(imgs.len() >= 5, "{imgs:?}");
    assert!(serving(&w.sim) >= 5);
}

/// The bound while a paused rollout's last steps finish.
fn lowest_check(sim: &SimHandle) {
    let s = serving(sim);
    assert!(s >= 5, "serving fell to {s}");
}

#[tokio::test]
async fn a_never_healthy_image_rolls_back_to_the_old_image_within_the_bound() {
    let (w, old_image, ctx) = with_a_never_healthy_image(", rollbackOnFailure: true").await;
    let rollout = ops::request(&ctx, plan::rollout_kind()).await.unwrap();
    let (status, lowest) = run_watched(&w, &ctx).await;
    assert_eq!(status, OperationStatus::Succeeded, "the rollback finished");
    let (ledger, _) = ops::load(&ctx).await.unwrap();
    let op = ledger.operation.as_ref().unwrap();
    let OperationKind::RollingRestart {
        update: Some(u), ..
    } = &op.kind
    else {
        panic!("{:?}", op.kind)
    };
    let UpdateReason::Rollback { of, why } = &u.reason else {
        panic!("{:?}", u.reason)
    };
    assert_eq!(of, &rollout);
    assert!(why.contains("not healthy"), "{why}");
    assert_eq!(u.revision, 1);
    assert_eq!(op.origin.as_ref().unwrap().door, Door::Rollback);
    let failed = ledger.history.iter().find(|h| h.id == rollout).unwrap();
    assert_eq!(failed.status, OperationStatus::Failed);

    // The simulator's view: six instances of the old image, six healthy backends, and the
    // bound (6 - maxUnavailable 1) held throughout.
    let imgs = images(&w.sim);
    assert_eq!(imgs.len(), 6, "{imgs:?}");
    assert!(imgs.iter().all(|i| *i == old_image), "{imgs:?}");
    assert_eq!(serving(&w.sim), 6);
    assert!(
        lowest >= 5,
        "serving fell to {lowest}, below 6 - maxUnavailable 1"
    );
}

#[tokio::test]
async fn a_50_percent_checkpoint_stops_at_3_of_6_until_resumed() {
    let w = world(
        6,
        "maxSurge: 1, maxUnavailable: 0, minReadySeconds: 0, checkpoints: [50]",
        ", drainTimeout: 30ms",
    )
    .await;
    let old_image = w.config.spec.image_id.to_string();
    let new_image = w.sim.add_image().await;
    let launched_before = launches(&w.sim);
    let ctx = w.context(&w.with_image(&new_image)).await;
    ops::request(&ctx, plan::rollout_kind()).await.unwrap();
    let (status, lowest) = run_watched(&w, &ctx).await;
    assert_eq!(status, OperationStatus::Paused);
    assert_eq!(lowest, 6, "maxUnavailable 0");
    assert_eq!(launches(&w.sim) - launched_before, 3);
    let imgs = images(&w.sim);
    assert_eq!(imgs.iter().filter(|i| *i == new_image.as_str()).count(), 3);
    assert_eq!(imgs.iter().filter(|i| **i == old_image).count(), 3);
    // Further steps change nothing until resumed.
    for _ in 0..5 {
        ops::step(&ctx, Mode::Operation).await.unwrap();
    }
    assert_eq!(launches(&w.sim) - launched_before, 3);
    let m = fleetctl_core::metrics::snapshot(
        &ctx.config,
        &ops::load(&ctx).await.unwrap().0,
        &[],
        time::OffsetDateTime::now_utc(),
    );
    let c = m.rollout.unwrap().checkpoint.unwrap();
    assert_eq!((c.percent, c.done, c.total), (50, 3, 6));
    assert_eq!(c.verdict, "waiting");
    assert_eq!(m.outdated, 3);

    ops::update(&ctx, |ledger, now| Ok(plan::resume(ledger, now)?))
        .await
        .unwrap();
    let (status, _) = run_watched(&w, &ctx).await;
    assert_eq!(status, OperationStatus::Succeeded);
    assert_eq!(launches(&w.sim) - launched_before, 6);
    assert!(images(&w.sim).iter().all(|i| i == new_image.as_str()));
}
