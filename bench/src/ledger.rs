//! The ledger alone, without a simulator: a synthetic ledger of `n` running records (each
//! with its launch-details digest), the finished scale operation that launched them all (its
//! totals and its history entry: a finished operation's steps are not kept) and a full event
//! history,
//! serialized and parsed (medians of 11). The same shape as the 10,000-instance run writes,
//! so the ledger's own cost can be measured in seconds instead of a seven-minute bring-up.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use fleetctl_core::store::ledger::{
    Door, Event, EventLevel, InstanceRecord, Ledger, Operation, OperationKind, OperationStatus,
    OperationSummary, Origin, RecordState, Step, StepAction, StepStatus, StepTotals, Timestamp,
};
use time::OffsetDateTime;

use fleetctl_core::store::{OpenOptions, StateStore};

use crate::measure::{self, median_of};

/// What one run measured.
pub struct Figures {
    pub records: usize,
    pub bytes: usize,
    pub to_json: Duration,
    pub from_json: Duration,
    /// Through a `file://` store: conditional save, load, and their CPU (medians).
    pub store_save: Duration,
    pub store_load: Duration,
    pub store_cpu: Duration,
}

/// A ledger shaped like the one a control loop writes after bringing up `n` instances.
pub fn synthetic(n: u32) -> Result<Ledger> {
    let t0 = OffsetDateTime::from_unix_timestamp(1_780_000_000).context("a start time")?;
    let at = |s: i64| Timestamp::new(t0 + time::Duration::seconds(s));
    let mut ledger = Ledger::new("bench".parse().context("fleet name")?, t0);
    let op: fleetctl_core::ids::OperationId = "op-20260601-0001".parse().context("operation id")?;
    let group: fleetctl_core::ids::GroupName = "web".parse().context("group")?;
    let mut steps = Vec::with_capacity(n as usize);
    let digest = "3f9a0c1e5b7d2a64".to_string();
    // FLEETCTL_BENCH_OLD_LEDGER=1: the shape written before issue 13 (the finished
    // operation kept its n steps), for a before/after figure.
    let old_shape = std::env::var_os("FLEETCTL_BENCH_OLD_LEDGER").is_some();
    let totals = StepTotals {
        steps: n,
        done: n,
        failed: 0,
        launch_total: n,
        launch_succeeded: n,
        terminate_total: 0,
        terminate_succeeded: 0,
    };
    for i in 0..n {
        let id = format!("ocid1.instance.oc1.iad.anuwcljt{i:0>52}")
            .parse()
            .context("instance id")?;
        let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_8000 + i));
        ledger.records.push(InstanceRecord {
            instance_id: id,
            group: group.clone(),
            name: format!("bench-web-{i}").into(),
            private_ip: Some(ip),
            created: at(i64::from(i)),
            terminated: None,
            state: RecordState::Running,
            operation: Some(op.clone()),
            launch_digest: (!old_shape).then(|| digest.as_str().into()),
        });
        steps.push(Step {
            slot: i,
            action: StepAction::Launch {
                group: group.clone(),
            },
            status: StepStatus::Done,
            instance: ledger.records.last().map(|r| r.instance_id.clone()),
            started: Some(at(i64::from(i))),
            finished: Some(at(i64::from(i) + 60)),
            detail: None,
            phase: None,
            since: None,
            drain_first: false,
            seen_down: false,
            escalated: false,
        });
    }
    ledger.operation = Some(Operation {
        id: op.clone(),
        kind: OperationKind::Scale { desired: n },
        status: OperationStatus::Succeeded,
        started: at(0),
        updated: at(i64::from(n) + 60),
        finished: Some(at(i64::from(n) + 60)),
        steps: if old_shape { steps } else { Vec::new() },
        error: None,
        pause_reason: None,
        waiting_on: Vec::new(),
        start_total: 0,
        target_total: n,
        limits: None,
        abort_requested: false,
        revision: None,
        origin: None,
        checkpoints: Vec::new(),
        checkpoints_passed: 0,
        checkpoint: None,
        rollback_to: None,
        totals: (!old_shape).then_some(totals),
    });
    if !old_shape {
        // As `plan::finish` leaves it: the steps' totals, no steps, a summary in the history.
        let summary = OperationSummary {
            id: op.clone(),
            kind: OperationKind::Scale { desired: n },
            status: OperationStatus::Succeeded,
            started: at(0),
            finished: Some(at(i64::from(n) + 60)),
            origin: Some(Origin::door(Door::ControlLoop)),
            revision: Some(1),
            totals,
            error: None,
        };
        ledger.push_history(summary);
    }
    for i in 0..200 {
        ledger.push_event(Event {
            at: at(i),
            level: EventLevel::Info,
            message: format!("bench-web-{i}: in service"),
            operation: Some(op.clone()),
            instance: ledger
                .records
                .get(i as usize)
                .map(|r| r.instance_id.clone()),
        });
    }
    Ok(ledger)
}

/// Serializes and parses a synthetic ledger of `n` records, then saves and loads it through
/// a `file://` store.
pub async fn run(n: u32) -> Result<Figures> {
    let ledger = synthetic(n)?;
    let bytes = ledger.to_json()?;
    let back = Ledger::from_json(&bytes)?;
    anyhow::ensure!(back == ledger, "the ledger does not read back as written");
    let (to_json, _) = median_of(11, || ledger.to_json());
    let (from_json, _) = median_of(11, || Ledger::from_json(&bytes));
    let (store_save, store_load, store_cpu) = store_round_trip(&ledger).await?;
    Ok(Figures {
        records: ledger.records.len(),
        bytes: bytes.len(),
        to_json,
        from_json,
        store_save,
        store_load,
        store_cpu,
    })
}

/// Median times of a conditional save and of a load of `ledger` through a `file://` store,
/// and the median process CPU time of the two together.
pub async fn store_round_trip(ledger: &Ledger) -> Result<(Duration, Duration, Duration)> {
    let dir = tempfile::tempdir()?;
    let url = format!("file://{}", dir.path().join("state.json").display());
    let store = StateStore::open(&url, &OpenOptions::new())?;
    let mut version = store.create(ledger).await?;
    let mut saves = Vec::new();
    let mut loads = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..11 {
        let c = measure::process_cpu();
        let t = Instant::now();
        version = store.save(ledger, &version).await?;
        saves.push(t.elapsed());
        let t = Instant::now();
        let loaded = store.load().await?;
        loads.push(t.elapsed());
        cpu.push(measure::process_cpu().saturating_sub(c));
        ensure!(loaded.is_some(), "the saved ledger is not there");
    }
    saves.sort();
    loads.sort();
    cpu.sort();
    Ok((
        saves[saves.len() / 2],
        loads[loads.len() / 2],
        cpu[cpu.len() / 2],
    ))
}
