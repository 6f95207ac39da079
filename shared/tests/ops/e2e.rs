//! Fleet operations end to end: the reconcile step against oci-sim over loopback HTTP
//! (time-scaled), checked from the simulator's own state and request log.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use fleetctl_core::config::RolloutStrategy;
use fleetctl_core::env::Env;
use fleetctl_core::fleet::{Fleet, Overrides};
use fleetctl_core::ops::{self, Context};
use fleetctl_core::plan::Mode;
use fleetctl_core::store::ledger::{OperationKind, OperationStatus, RecordState};
use fleetctl_core::{cloud, config};
use fleetctl_testkit::{SimHandle, TestSim};
use serde_json::Value;

struct World {
    sim: TestSim,
    ctx: Context,
}

/// A simulator and a fleet of `count` instances of group `web` behind the seeded classic
/// load balancer, with the rollout settings in `rollout` (YAML flow map body).
async fn world(count: u32, rollout: &str, lb_extra: &str) -> World {
    let sim = TestSim::start_with(|c| c.seed = Some(11)).await;
    let file = sim.edited_fleet_file(count, lb_extra, rollout);
    let fleet = config::load_file(&file).unwrap();
    let state = format!("file://{}", sim.dir().join("state.json").display());
    let overrides = Overrides::new(Env::empty()).state_url(Some(state));
    let ctx = Fleet::open(fleet, overrides)
        .await
        .unwrap()
        .context()
        .clone();
    World { sim, ctx }
}

/// Runs steps until the active operation is over or paused; returns its status.
async fn run_to_end(w: &World) -> OperationStatus {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let report = ops::step(&w.ctx, Mode::Operation).await.unwrap();
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
        let pause = report
            .requeue_after
            .unwrap_or(Duration::from_millis(20))
            .min(Duration::from_millis(20));
        tokio::time::sleep(pause).await;
    }
}

fn fleet_instances(sim: &SimHandle) -> Vec<Value> {
    let world = sim.world_json();
    world["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["freeformTags"]["fleetctl-fleet"] == "demo")
        .cloned()
        .collect()
}

fn live(sim: &SimHandle) -> Vec<Value> {
    fleet_instances(sim)
        .into_iter()
        .filter(|i| {
            !matches!(
                i["lifecycleState"].as_str(),
                Some("TERMINATING" | "TERMINATED")
            )
        })
        .collect()
}

fn backends(sim: &SimHandle) -> Vec<Value> {
    let world = sim.world_json();
    world["loadBalancers"][0]["backendSets"][0]["backends"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Healthy backends taking traffic (not drained, not offline).
pub(crate) fn serving(sim: &SimHandle) -> u32 {
    backends(sim)
        .iter()
        .filter(|b| b["health"] == "OK" && b["drain"] != true && b["offline"] != true)
        .count() as u32
}

/// Accepted LaunchInstance calls in the request log.
pub(crate) fn launches(sim: &SimHandle) -> usize {
    sim.requests()
        .iter()
        .filter(|e| {
            e.operation.as_deref() == Some("LaunchInstance") && e.status.is_some_and(|s| s < 300)
        })
        .count()
}

async fn scale(w: &World, n: u32) -> OperationStatus {
    ops::request(&w.ctx, OperationKind::Scale { desired: n })
        .await
        .unwrap();
    run_to_end(w).await
}

#[tokio::test]
async fn scale_0_to_3_to_1_keeps_the_newest_and_drains_before_terminating() {
    let w = world(0, "", ", drainTimeout: 50ms").await;
    assert_eq!(scale(&w, 3).await, OperationStatus::Succeeded);
    let up = live(&w.sim);
    assert_eq!(up.len(), 3, "three instances run");
    assert_eq!(launches(&w.sim), 3, "exactly three launches");
    assert_eq!(serving(&w.sim), 3, "three healthy backends");
    let names: BTreeSet<String> = up
        .iter()
        .map(|i| i["displayName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "demo-web-1".into(),
            "demo-web-2".into(),
            "demo-web-3".into()
        ])
    );

    // A steady step (nothing to do) reads the fleet in three calls, none per instance: the
    // ledger holds every IP, so no VNIC is looked up.
    let state = w.sim.dir().join("state.json");
    let stored = std::fs::read(&state).unwrap();
    let before = w.sim.requests().len();
    let r = ops::step(&w.ctx, Mode::Control).await.unwrap();
    assert!(r.did.is_empty(), "steady: {:?}", r.did);
    // ...and writes nothing, not even a lease: the ledger is byte for byte what it was, and
    // the step reports the lease as stored.
    assert!(
        std::fs::read(&state).unwrap() == stored,
        "a steady step rewrote the ledger"
    );
    let on_disk = fleetctl_core::store::Ledger::from_json(&stored).unwrap();
    assert_eq!(r.ledger.lease, on_disk.lease);
    assert_eq!(r.ledger, on_disk);
    let mut calls: Vec<String> = w.sim.requests()[before..]
        .iter()
        .map(|e| e.operation.clone().unwrap_or_default())
        .collect();
    calls.sort();
    assert_eq!(
        calls,
        ["GetBackendSetHealth", "ListBackends", "ListInstances"],
        "a steady step's calls"
    );

    // Make one instance clearly the newest: scale to 4, then down to 1.
    assert_eq!(scale(&w, 4).await, OperationStatus::Succeeded);
    let newest = live(&w.sim)
        .into_iter()
        .max_by_key(|i| i["timeCreated"].as_str().unwrap().to_string())
        .unwrap();
    let down_from = w.sim.requests().len();
    assert_eq!(scale(&w, 1).await, OperationStatus::Succeeded);
    // Three drains and three removals, each group planned in one step: one UpdateBackendSet
    // work request each (the classic load balancer runs one at a time), no lone update.
    let down: Vec<String> = w.sim.requests()[down_from..]
        .iter()
        .filter_map(|e| e.operation.clone())
        .filter(|o| o.contains("Backend") && !o.starts_with("List") && !o.starts_with("Get"))
        .collect();
    assert_eq!(
        down,
        ["UpdateBackendSet", "UpdateBackendSet"],
        "the scale-down's backend changes, batched"
    );
    let left = live(&w.sim);
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["id"], newest["id"], "the newest instance stays");
    assert_eq!(backends(&w.sim).len(), 1, "only its backend is left");

    // Every terminated instance was drained, then its backend deleted, before termination.
    let log = w.sim.requests();
    let terminated: Vec<String> = log
        .iter()
        .filter(|e| e.operation.as_deref() == Some("TerminateInstance"))
        .map(|e| e.path.clone())
        .collect();
    assert_eq!(terminated.len(), 3, "three terminations: {terminated:?}");
    for path in terminated {
        let t = log
            .iter()
            .position(|e| e.path == path && e.operation.as_deref() == Some("TerminateInstance"))
            .unwrap();
        // A drain and a removal are each a lone call or part of a backend set update.
        let deletes_before = log[..t]
            .iter()
            .filter(|e| {
                matches!(
                    e.operation.as_deref(),
                    Some("DeleteBackend" | "UpdateBackendSet")
                )
            })
            .count();
        let drains_before = log[..t]
            .iter()
            .filter(|e| {
                matches!(
                    e.operation.as_deref(),
                    Some("UpdateBackend" | "UpdateBackendSet")
                )
            })
            .count();
        assert!(
            deletes_before >= 1 && drains_before >= 1 && deletes_before + drains_before >= 2,
            "termination {path} not drained first"
        );
    }
    let (ledger, _) = ops::load(&w.ctx).await.unwrap();
    let active: Vec<_> = ledger
        .records
        .iter()
        .filter(|r| r.state == RecordState::Running)
        .collect();
    assert_eq!(active.len(), 1);
    assert_eq!(
        ledger
            .records
            .iter()
            .filter(|r| r.state == RecordState::Terminated)
            .count(),
        3
    );
}

#[tokio::test]
async fn rolling_replace_of_6_never_drops_below_the_bound() {
    let w = world(
        6,
        "maxSurge: 2, maxUnavailable: 1, minReadySeconds: 0",
        ", drainTimeout: 30ms",
    )
    .await;
    // Bring the fleet up with the control loop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = ops::step(&w.ctx, Mode::Control).await.unwrap();
        if r.operation().is_some_and(|o| o.status.is_finished()) && serving(&w.sim) == 6 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "fleet did not come up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before: BTreeSet<String> = live(&w.sim)
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    let launches_before = launches(&w.sim);

    // Watch the simulator while the rollout runs.
    let stop = AtomicBool::new(false);
    let lowest = AtomicU32::new(u32::MAX);
    let watch = async {
        while !stop.load(Ordering::SeqCst) {
            lowest.fetch_min(serving(&w.sim), Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    ops::request(
        &w.ctx,
        OperationKind::RollingRestart {
            strategy: RolloutStrategy::Replace,
            reboot_action: None,
            update: None,
        },
    )
    .await
    .unwrap();
    let run = async {
        let status = run_to_end(&w).await;
        stop.store(true, Ordering::SeqCst);
        status
    };
    let (status, ()) = tokio::join!(run, watch);
    assert_eq!(status, OperationStatus::Succeeded);

    let after: BTreeSet<String> = live(&w.sim)
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(after.len(), 6, "six instances after");
    assert!(after.is_disjoint(&before), "every instance was replaced");
    assert_eq!(
        launches(&w.sim) - launches_before,
        6,
        "one launch per replacement"
    );
    assert_eq!(serving(&w.sim), 6);
    let low = lowest.load(Ordering::SeqCst);
    assert!(
        low >= 5,
        "healthy serving backends fell to {low}, below 6 - maxUnavailable 1"
    );
}

async fn bring_up(w: &World, n: u32) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = ops::step(&w.ctx, Mode::Control).await.unwrap();
        if r.operation().is_some_and(|o| o.status.is_finished()) && serving(&w.sim) == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "fleet did not come up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn rolling_reboot_resets_every_instance_in_place_within_the_bound() {
    let w = world(
        4,
        "minReadySeconds: 0, maxUnavailable: 1",
        ", drainTimeout: 20ms",
    )
    .await;
    bring_up(&w, 4).await;
    let before: BTreeSet<String> = live(&w.sim)
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    let stop = AtomicBool::new(false);
    let lowest = AtomicU32::new(u32::MAX);
    let watch = async {
        while !stop.load(Ordering::SeqCst) {
            lowest.fetch_min(serving(&w.sim), Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    ops::request(
        &w.ctx,
        OperationKind::RollingRestart {
            strategy: RolloutStrategy::Reboot,
            reboot_action: None,
            update: None,
        },
    )
    .await
    .unwrap();
    let run = async {
        let status = run_to_end(&w).await;
        stop.store(true, Ordering::SeqCst);
        status
    };
    let (status, ()) = tokio::join!(run, watch);
    assert_eq!(status, OperationStatus::Succeeded);
    let after: BTreeSet<String> = live(&w.sim)
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(after, before, "a reboot keeps every instance");
    let resets = w
        .sim
        .requests()
        .iter()
        .filter(|e| {
            e.operation.as_deref() == Some("InstanceAction")
                && e.query.as_deref().is_some_and(|q| q.contains("SOFTRESET"))
                && e.status.is_some_and(|s| s < 300)
        })
        .count();
    assert!(
        resets >= 4,
        "every instance soft-reset ({resets} accepted calls)"
    );
    assert_eq!(launches(&w.sim), 4, "no launch during a reboot");
    assert_eq!(serving(&w.sim), 4, "all back in service");
    let low = lowest.load(Ordering::SeqCst);
    assert!(
        low >= 3,
        "serving backends fell to {low}, below 4 - maxUnavailable 1"
    );
}

#[tokio::test]
async fn sync_adopts_an_instance_tagged_for_the_fleet_and_marks_a_vanished_one_missing() {
    use fleetctl_core::oci::compute;
    use fleetctl_core::oci::tags::FleetTags;
    use fleetctl_core::oci::wire::RetryToken;

    let w = world(1, "", ", drainTimeout: 20ms").await;
    bring_up(&w, 1).await;
    let (ledger, _) = ops::load(&w.ctx).await.unwrap();
    let first = ledger.records[0].instance_id.clone();
    // Someone launches an instance with the fleet's tags outside fleetctl, and terminates the
    // fleet's own instance from the console.
    let group = w.ctx.config.group("web").unwrap();
    let tags = FleetTags::new(
        w.ctx.config.metadata.name.clone(),
        group.name.clone(),
        "by-hand".parse().unwrap(),
        9,
    );
    let details = cloud::launch_details(&w.ctx.config, group, &tags);
    let outside = compute::launch_instance(
        &w.ctx.cloud.client,
        &details,
        &RetryToken::derive("launch", &"by-hand".parse().unwrap(), "9"),
    )
    .await
    .unwrap();
    compute::terminate_instance(&w.ctx.cloud.client, &first)
        .await
        .unwrap();

    ops::request(
        &w.ctx,
        OperationKind::SyncState {
            adopt_untagged: false,
        },
    )
    .await
    .unwrap();
    let report = ops::step(&w.ctx, Mode::Operation).await.unwrap();
    assert_eq!(
        report.operation().map(|o| o.status),
        Some(OperationStatus::Succeeded)
    );
    let adopted = report.ledger.record(&outside.id).expect("adopted");
    assert!(!adopted.state.is_gone());
    assert_eq!(
        report.ledger.record(&first).map(|r| r.state),
        Some(RecordState::Missing)
    );
    let messages: Vec<&str> = report
        .ledger
        .events
        .iter()
        .map(|e| e.message.as_str())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("adopted")),
        "the adoption is reported: {messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("marked missing")),
        "the vanished instance is reported: {messages:?}"
    );
}

/// `sync --adopt-untagged`: an instance launched by hand without fleet tags but named the
/// way the fleet names its instances is adopted and tagged (its own tags kept); one named
/// otherwise, and one tagged for another fleet, are left alone; without the flag nothing
/// untagged is adopted.
#[tokio::test]
async fn sync_adopting_untagged_instances_tags_those_named_like_the_fleet_only() {
    use std::collections::BTreeMap;

    use fleetctl_core::oci::compute;
    use fleetctl_core::oci::tags::{FleetTags, TAG_FLEET};
    use fleetctl_core::oci::wire::RetryToken;

    let w = world(1, "", ", drainTimeout: 20ms").await;
    bring_up(&w, 1).await;
    let client = &w.ctx.cloud.client;
    let fleet = w.ctx.config.metadata.name.clone();
    let prefix = w.ctx.config.spec.display_name_prefix.as_str().to_string();
    let group = w.ctx.config.group("web").unwrap();
    let by_hand = |name: &str, tags: &[(&str, &str)]| {
        let mut details = cloud::launch_details(
            &w.ctx.config,
            group,
            &FleetTags::new(fleet.clone(), group.name.clone(), "x".parse().unwrap(), 0),
        );
        details.display_name = Some(name.to_string());
        details.freeform_tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>();
        let token = RetryToken::derive("by-hand", &"by-hand".parse().unwrap(), name);
        async move {
            compute::launch_instance(client, &details, &token)
                .await
                .unwrap()
        }
    };
    let named = by_hand(&format!("{prefix}-web-7"), &[("team", "payments")]).await;
    let other_name = by_hand(&format!("{prefix}-cache-1"), &[]).await;
    let other_fleet = by_hand(&format!("{prefix}-web-8"), &[(TAG_FLEET, "someone-else")]).await;
    // Adopted once it runs, so it is adopted as running and has an address to record.
    fleetctl_testkit::eventually("the hand-launched instance runs", || async {
        match compute::get_instance(client, &named.id).await {
            Ok(i) if i.lifecycle_state == compute::InstanceLifecycleState::Running => Ok(()),
            other => Err(other.map(|i| i.lifecycle_state)),
        }
    })
    .await;

    ops::request(
        &w.ctx,
        OperationKind::SyncState {
            adopt_untagged: false,
        },
    )
    .await
    .unwrap();
    let report = ops::step(&w.ctx, Mode::Operation).await.unwrap();
    assert!(
        report.ledger.record(&named.id).is_none(),
        "a plain sync adopts no untagged instance"
    );

    ops::request(
        &w.ctx,
        OperationKind::SyncState {
            adopt_untagged: true,
        },
    )
    .await
    .unwrap();
    let report = ops::step(&w.ctx, Mode::Operation).await.unwrap();
    assert_eq!(
        report.operation().map(|o| o.status),
        Some(OperationStatus::Succeeded)
    );
    let adopted = report.ledger.record(&named.id).expect("adopted");
    assert_eq!(adopted.group.as_str(), "web");
    assert_eq!(
        adopted.state,
        RecordState::Running,
        "adopted RUNNING as running"
    );
    assert!(
        report
            .ledger
            .events
            .iter()
            .any(|e| e.message.contains("adopted (untagged")),
        "{:?}",
        report.ledger.events
    );
    assert!(report.ledger.record(&other_name.id).is_none());
    assert!(report.ledger.record(&other_fleet.id).is_none());

    let now = compute::get_instance(client, &named.id).await.unwrap();
    assert!(
        now.fleet_tags().belongs_to(&fleet),
        "{:?}",
        now.freeform_tags
    );
    assert_eq!(
        now.fleet_tags().group.as_ref().map(|g| g.as_str()),
        Some("web")
    );
    assert_eq!(
        now.freeform_tags.get("team").map(String::as_str),
        Some("payments"),
        "its own tags are kept"
    );
    let untouched = compute::get_instance(client, &other_name.id).await.unwrap();
    assert!(untouched.freeform_tags.is_empty());
    let theirs = compute::get_instance(client, &other_fleet.id)
        .await
        .unwrap();
    assert_eq!(
        theirs.freeform_tags.get(TAG_FLEET).map(String::as_str),
        Some("someone-else")
    );

    // From now on it is a member like any other: listed by its tags, with its private IP.
    let report = ops::step(&w.ctx, Mode::Control).await.unwrap();
    let record = report.ledger.record(&named.id).expect("kept");
    assert!(!record.state.is_gone());
    assert!(record.private_ip.is_some(), "{record:?}");
}

#[tokio::test]
async fn a_step_never_acts_past_its_lease() {
    let mut w = world(0, "", ", drainTimeout: 50ms").await;
    // Every launch answers after a second: four of them in one step would outlast this lease,
    // and another holder could take it over while the step still launches.
    w.ctx.lease_ttl = Duration::from_millis(1500);
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}/_sim/faults", w.sim.base_url()))
        .json(&serde_json::json!({"operation": "LaunchInstance", "latencyMs": 1000}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    ops::request(&w.ctx, OperationKind::Scale { desired: 4 })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut stopped = 0;
    loop {
        let started = tokio::time::Instant::now();
        let report = ops::step(&w.ctx, Mode::Operation).await.unwrap();
        let took = started.elapsed();
        assert!(
            took < w.ctx.lease_ttl,
            "a step took {took:?}, past its {:?} lease: {:?}",
            w.ctx.lease_ttl,
            report.did
        );
        if report.did.iter().any(|l| l.contains("out of time")) {
            stopped += 1;
            assert_eq!(report.requeue_after, Some(Duration::ZERO), "{report:?}");
        }
        if report.operation().is_some_and(|o| o.status.is_finished()) {
            assert_eq!(
                report.operation().unwrap().status,
                OperationStatus::Succeeded
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            report.waiting_on
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stopped > 0, "no step had to stop: the test proves nothing");
    assert_eq!(live(&w.sim).len(), 4, "one instance per slot, none twice");
    assert_eq!(fleet_instances(&w.sim).len(), 4, "no launch was repeated");
    assert_eq!(serving(&w.sim), 4, "the next steps did what was left");
}

/// Issue 12 item 3: a step whose lease passed to another holder between its plan and its
/// second write applied what its calls returned to the new holder's ledger and wrote it (the
/// re-read after the conflict did not look at the lease). Now the fencing check refuses: the
/// step writes nothing, says so, and the new holder's ledger stays as it wrote it.
#[tokio::test]
async fn a_step_whose_lease_passed_on_writes_nothing_over_the_new_holders_ledger() {
    use std::sync::Arc;

    use fleetctl_core::store::StateStore;
    use fleetctl_core::store::ledger::HolderId;
    use object_store::throttle::{ThrottleConfig, ThrottledStore};

    let sim = TestSim::start_with(|c| c.seed = Some(12)).await;
    let file = sim.edited_fleet_file(0, ", drainTimeout: 50ms", "");
    let fleet = config::load_file(&file).unwrap();
    let url = format!("memory://fencing-{}", std::process::id());
    let overrides = Overrides::new(Env::empty()).state_url(Some(url));
    let mut b = Fleet::open(fleet, overrides)
        .await
        .unwrap()
        .context()
        .clone();
    b.lease_ttl = Duration::from_secs(2);
    b.holder = HolderId::parse("holder-b").unwrap();
    // A: the same ledger, each of its writes 1.5 s late, so its second write comes after its
    // lease ended and B took over.
    let slow = ThrottledStore::new(
        b.store.object_store().clone(),
        ThrottleConfig {
            wait_put_per_call: Duration::from_millis(1500),
            ..ThrottleConfig::default()
        },
    );
    let mut a = b.clone();
    a.holder = HolderId::parse("holder-a").unwrap();
    a.store = Arc::new(StateStore::from_object_store(
        Arc::new(slow),
        b.store.location().clone(),
        "memory (slow writes)",
    ));
    ops::request(&b, OperationKind::Scale { desired: 1 })
        .await
        .unwrap();
    let step_a = tokio::spawn({
        let a = a.clone();
        async move { ops::step(&a, Mode::Operation).await }
    });
    let store = b.store.clone();
    let holder_a = a.holder.clone();
    let (fencing_a, expires) = fleetctl_testkit::eventually("A's plan saved", || {
        let store = store.clone();
        let holder_a = holder_a.clone();
        async move {
            let (ledger, _) = store.load().await.unwrap().unwrap();
            match &ledger.lease.held {
                Some(h) if h.holder == holder_a => Ok((ledger.lease.fencing, h.expires.get())),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await;
    let left = expires - time::OffsetDateTime::now_utc() + time::Duration::milliseconds(50);
    tokio::time::sleep(Duration::try_from(left).unwrap_or_default()).await;
    assert!(
        !step_a.is_finished(),
        "A's second write is still on its way"
    );

    // B takes the expired lease (a new holding period) and records A's launch, found by its
    // tags.
    ops::step(&b, Mode::Operation).await.unwrap();
    let (after_b, version_b) = b.store.load().await.unwrap().unwrap();
    assert_eq!(after_b.lease.fencing, fencing_a + 1);
    assert_eq!(after_b.lease.held.as_ref().unwrap().holder, b.holder);
    assert_eq!(after_b.live_records().count(), 1, "{after_b:?}");

    let report_a = step_a.await.unwrap().unwrap();
    assert!(
        report_a
            .notes
            .iter()
            .any(|n| n.contains("the lease passed to another holder")),
        "{report_a:?}"
    );
    assert_eq!(report_a.requeue_after, Some(Duration::ZERO));
    let (now, version_now) = b.store.load().await.unwrap().unwrap();
    assert_eq!(version_now, version_b, "A wrote over B's ledger");
    assert_eq!(now, after_b);

    // Each holder's calls carry its holding period in their request ids.
    let stamp_a = ops::call_stamp(&a.holder, fencing_a);
    let launches: Vec<String> = sim
        .requests()
        .iter()
        .filter(|e| e.operation.as_deref() == Some("LaunchInstance"))
        .map(|e| e.opc_request_id.clone())
        .collect();
    assert!(!launches.is_empty());
    for id in &launches {
        assert!(id.starts_with(&format!("{stamp_a}-")), "{id} ({stamp_a})");
    }
}

/// Issue 12 item 3: a step's call whose time ran out while it waited (an answer that came
/// late, a retry's backoff, or the whole process paused) sent its next attempt anyway, past
/// the step's deadline and so possibly past its lease, while another holder acted. No attempt
/// goes out at or after the scope's `not_after`, and the calls inside carry its stamp.
#[tokio::test]
async fn no_attempt_of_a_steps_call_is_sent_past_its_deadline() {
    use fleetctl_core::oci::OciError;
    use fleetctl_core::oci::client::{CallScope, within};
    use fleetctl_core::oci::compute;

    let sim = TestSim::start_with(|c| c.seed = Some(13)).await;
    let id = sim.launch("scoped").await.id;
    let gets = |sim: &TestSim| -> Vec<String> {
        sim.requests()
            .iter()
            .filter(|e| e.operation.as_deref() == Some("GetInstance"))
            .map(|e| e.opc_request_id.clone())
            .collect()
    };
    let scope = |within_ms: i64| CallScope {
        request_id_prefix: "F9-0000ABCD".into(),
        not_after: Some(time::OffsetDateTime::now_utc() + time::Duration::milliseconds(within_ms)),
    };

    // In time: sent once, stamped.
    within(scope(60_000), compute::get_instance(&sim.client, &id))
        .await
        .unwrap();
    let sent = gets(&sim);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].starts_with("F9-0000ABCD-"), "{sent:?}");

    // Already late: nothing is sent.
    let err = within(scope(-1), compute::get_instance(&sim.client, &id))
        .await
        .unwrap_err();
    assert!(
        matches!(err, OciError::NotSent { attempts: 0, .. }),
        "{err:?}"
    );
    assert_eq!(gets(&sim).len(), 1);

    // The first attempt answers 503 after the deadline: its retry is not sent.
    sim.fault(serde_json::json!({
        "operation": "GetInstance", "status": 503, "latencyMs": 300, "count": 1
    }))
    .await;
    let err = within(scope(100), compute::get_instance(&sim.client, &id))
        .await
        .unwrap_err();
    assert!(
        matches!(err, OciError::NotSent { attempts: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("not sent after 1 attempt(s)"),
        "{err}"
    );
    assert_eq!(gets(&sim).len(), 2, "the retry went out past the deadline");
}

/// A batch whose work request FAILED is planned again and must be sent under a fresh token:
/// OCI answers a token it has seen with its original work request, so the same token would
/// replay the failure forever and the scale-down would never finish.
#[tokio::test]
async fn a_failed_backend_set_update_is_sent_again_under_a_fresh_token() {
    let w = world(0, "", ", drainTimeout: 50ms").await;
    assert_eq!(scale(&w, 3).await, OperationStatus::Succeeded);
    let down_from = w.sim.requests().len();
    // The next load-balancer work request (the scale-down's batch of two drains) FAILS.
    w.sim
        .admin(
            reqwest::Method::POST,
            "/_sim/lb/fail-next",
            Some(serde_json::json!({"count": 1})),
        )
        .await;
    assert_eq!(scale(&w, 1).await, OperationStatus::Succeeded);
    let log = w.sim.requests();
    let changes: Vec<String> = log[down_from..]
        .iter()
        .filter_map(|e| e.operation.clone())
        .filter(|o| o.contains("Backend") && !o.starts_with("List") && !o.starts_with("Get"))
        .collect();
    assert!(
        changes.iter().all(|o| o == "UpdateBackendSet"),
        "only batched changes: {changes:?}"
    );
    // The failed batch, the batch again under the fresh token (after a replay of the original
    // token, answered with the failed work request, when the failure showed only in a later
    // step), and the removals' batch. Under the original token alone, the replay would answer
    // with the failed work request every time and the scale-down would never finish.
    assert!(
        changes.len() >= 3,
        "the failed batch was sent again: {changes:?}"
    );
    assert_eq!(live(&w.sim).len(), 1);
    let left = backends(&w.sim);
    assert_eq!(left.len(), 1, "only the survivor's backend is left");
    assert_ne!(
        left[0]["drain"], true,
        "the survivor's backend is not drained"
    );
}
