//! The drift rules of `status::build`, table by table, without I/O.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::net::IpAddr;

use fleetctl_api::status::DriftKind;
use fleetctl_core::config::{FleetConfig, load_str};
use fleetctl_core::ids::InstanceId;
use fleetctl_core::observe::{LoadBalancerObservation, Observation, private_ips};
use fleetctl_core::oci::backends::{Backend, BackendName, BackendSetHealth, HealthStatus};
use fleetctl_core::oci::compute::ListedInstance;
use fleetctl_core::status::build;
use fleetctl_core::store::ledger::{
    InstanceRecord, Ledger, Operation, OperationId, OperationKind, OperationStatus, RecordState,
    Timestamp,
};
use time::macros::datetime;

const FLEET: &str = "kind: FleetConfig
metadata: {name: web}
spec:
  compartmentId: ocid1.compartment.oc1..aaaa
  imageId: ocid1.image.oc1.iad.aaaa
  availabilityDomain: AD-1
  shape: VM.Standard.E4.Flex
  shapeConfig: {ocpus: 1}
  subnetId: ocid1.subnet.oc1.iad.aaaa
  instances:
    - {name: blue, count: 2}
  loadBalancer:
    enabled: true
    loadBalancerId: ocid1.loadbalancer.oc1.iad.aaaa
    backendSetName: bs
    port: 8080
";

fn fleet(lb: bool) -> FleetConfig {
    let text = if lb {
        FLEET.to_string()
    } else {
        FLEET.replace("enabled: true", "enabled: false")
    };
    load_str("fleet.yaml", &text).unwrap()
}

fn id(n: u32) -> InstanceId {
    format!("ocid1.instance.oc1.iad.aaaa{n}").parse().unwrap()
}

fn ip(n: u32) -> IpAddr {
    format!("10.0.0.{n}").parse().unwrap()
}

fn instance(n: u32, state: &str, group: &str) -> ListedInstance {
    serde_json::from_value(serde_json::json!({
        "id": id(n).to_string(),
        "compartmentId": "ocid1.compartment.oc1..aaaa",
        "availabilityDomain": "AD-1",
        "lifecycleState": state,
        "displayName": format!("web-{group}-{n}"),
        "timeCreated": "2026-01-01T00:00:00Z",
        "freeformTags": {"fleetctl-fleet": "web", "fleetctl-group": group},
    }))
    .unwrap()
}

fn record(n: u32, state: RecordState) -> InstanceRecord {
    InstanceRecord {
        instance_id: id(n),
        group: "blue".parse().unwrap(),
        name: format!("web-blue-{n}").into(),
        private_ip: Some(ip(n)),
        created: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        terminated: None,
        state,
        operation: None,
        launch_digest: None,
    }
}

fn backend(n: u32, port: u16) -> Backend {
    Backend {
        name: BackendName::for_address(ip(n), port),
        ip_address: Some(ip(n).to_string()),
        port,
        weight: 1,
        backup: false,
        drain: false,
        offline: false,
    }
}

/// What `observe` would read: `instances`, the primary private IPs the simulated VNICs hold
/// (`10.0.0.<n>` for instance `n`), put together by the same function `observe` uses, and
/// the backend set with every backend healthy.
fn observation(
    ledger: Option<&Ledger>,
    instances: Vec<ListedInstance>,
    backends: Option<Vec<Backend>>,
) -> Observation {
    let vnics: BTreeMap<InstanceId, IpAddr> = instances
        .iter()
        .map(|i| {
            let n: u32 =
                i.id.as_str()
                    .trim_start_matches("ocid1.instance.oc1.iad.aaaa")
                    .parse()
                    .unwrap();
            (i.id.clone(), ip(n))
        })
        .collect();
    Observation {
        observed_at: datetime!(2026-01-02 00:00:00 UTC),
        private_ips: private_ips(ledger, &instances, &vnics),
        instances,
        load_balancer: backends.map(|backends| LoadBalancerObservation {
            health: BackendSetHealth {
                status: HealthStatus::Ok,
                warning_state_backend_names: vec![],
                critical_state_backend_names: vec![],
                unknown_state_backend_names: vec![],
                total_backend_count: u32::try_from(backends.len()).unwrap(),
            },
            backends,
            work_requests: Default::default(),
            in_flight: None,
        }),
        untagged: Vec::new(),
    }
}

fn ledger(records: Vec<InstanceRecord>) -> Ledger {
    let mut l = Ledger::new("web".parse().unwrap(), datetime!(2026-01-01 00:00:00 UTC));
    l.records = records;
    l
}

fn drift_kinds(
    lb: bool,
    records: Vec<InstanceRecord>,
    instances: Vec<ListedInstance>,
    backends: Option<Vec<Backend>>,
) -> Vec<(DriftKind, Option<String>)> {
    let ledger = ledger(records);
    let status = build(
        &fleet(lb),
        "memory://t",
        Some(&ledger),
        &observation(Some(&ledger), instances, backends),
    );
    assert_eq!(status.in_sync, status.drift.is_empty());
    // The per-instance rules; the count (shortfall, surplus) has its own test.
    status
        .drift
        .iter()
        .filter(|d| !matches!(d.kind, DriftKind::Shortfall | DriftKind::Surplus))
        .map(|d| (d.kind, d.instance_id.clone().or(d.backend.clone())))
        .collect()
}

#[test]
fn fewer_or_more_instances_than_desired_is_drift() {
    let count_drift = |running: u32| {
        let records: Vec<InstanceRecord> = (1..=running)
            .map(|n| record(n, RecordState::Running))
            .collect();
        let instances: Vec<ListedInstance> = (1..=running)
            .map(|n| instance(n, "RUNNING", "blue"))
            .collect();
        let ledger = ledger(records);
        let status = build(
            &fleet(false),
            "memory://t",
            Some(&ledger),
            &observation(Some(&ledger), instances, None),
        );
        (
            status.in_sync,
            status
                .drift
                .iter()
                .map(|d| (d.kind, d.detail.clone()))
                .collect::<Vec<_>>(),
        )
    };
    // The fleet file asks for 2.
    let (in_sync, drift) = count_drift(0);
    assert!(!in_sync, "0 of 2 running is not in sync");
    assert_eq!(
        drift,
        vec![(
            DriftKind::Shortfall,
            "0 of 2 desired instances run in OCI (2 short)".to_string()
        )]
    );
    let (in_sync, drift) = count_drift(3);
    assert!(!in_sync);
    assert_eq!(drift[0].0, DriftKind::Surplus, "{drift:?}");
    let (in_sync, drift) = count_drift(2);
    assert!(in_sync, "{drift:?}");
}

#[test]
fn a_fleet_matching_its_ledger_and_backends_has_no_drift() {
    let kinds = drift_kinds(
        true,
        vec![
            record(1, RecordState::Running),
            record(2, RecordState::Running),
        ],
        vec![
            instance(1, "RUNNING", "blue"),
            instance(2, "RUNNING", "blue"),
        ],
        Some(vec![backend(1, 8080), backend(2, 8080)]),
    );
    assert_eq!(kinds, vec![]);
}

#[test]
fn records_fleetctl_is_terminating_may_disappear() {
    let kinds = drift_kinds(
        true,
        vec![
            record(1, RecordState::Terminating),
            record(2, RecordState::Terminating),
        ],
        vec![instance(2, "TERMINATING", "blue")],
        Some(vec![]),
    );
    assert_eq!(kinds, vec![]);
}

#[test]
fn an_active_record_whose_instance_is_gone_or_terminating_is_drift() {
    let kinds = drift_kinds(
        false,
        vec![
            record(1, RecordState::Running),
            record(2, RecordState::Launching),
        ],
        vec![instance(2, "TERMINATING", "blue")],
        None,
    );
    assert_eq!(
        kinds,
        vec![
            (DriftKind::InLedgerButGone, Some(id(1).to_string())),
            (DriftKind::InLedgerButGone, Some(id(2).to_string())),
        ]
    );
}

#[test]
fn a_tagged_instance_without_an_active_record_is_drift_unless_it_is_going_away() {
    let kinds = drift_kinds(
        false,
        vec![record(1, RecordState::Terminated)],
        vec![
            instance(1, "RUNNING", "blue"),
            instance(2, "PROVISIONING", "blue"),
            instance(3, "TERMINATING", "blue"),
        ],
        None,
    );
    assert_eq!(
        kinds,
        vec![
            (DriftKind::NotInLedger, Some(id(1).to_string())),
            (DriftKind::NotInLedger, Some(id(2).to_string())),
        ]
    );
}

#[test]
fn only_running_records_of_running_instances_need_a_backend() {
    let kinds = drift_kinds(
        true,
        vec![
            record(1, RecordState::Running),
            record(2, RecordState::Launching),
            record(3, RecordState::Draining),
            record(4, RecordState::Running),
        ],
        vec![
            instance(1, "RUNNING", "blue"),
            instance(2, "RUNNING", "blue"),
            instance(3, "RUNNING", "blue"),
            instance(4, "STOPPED", "blue"),
        ],
        Some(vec![]),
    );
    assert_eq!(
        kinds,
        vec![(DriftKind::BackendMissing, Some(id(1).to_string()))]
    );
}

#[test]
fn backends_of_no_fleet_instance_or_on_another_port_are_unknown() {
    let kinds = drift_kinds(
        true,
        vec![record(1, RecordState::Running)],
        vec![instance(1, "RUNNING", "blue")],
        Some(vec![backend(1, 8080), backend(1, 9090), backend(77, 8080)]),
    );
    assert_eq!(
        kinds,
        vec![
            (DriftKind::UnknownBackend, Some("10.0.0.1:9090".to_string())),
            (
                DriftKind::UnknownBackend,
                Some("10.0.0.77:8080".to_string())
            ),
        ]
    );
}

#[test]
fn without_a_load_balancer_backends_are_not_checked() {
    let kinds = drift_kinds(
        false,
        vec![record(1, RecordState::Running)],
        vec![instance(1, "RUNNING", "blue")],
        None,
    );
    assert_eq!(kinds, vec![]);
}

#[test]
fn groups_come_in_file_order_then_groups_seen_only_in_tags() {
    let status = build(
        &fleet(false),
        "memory://t",
        None,
        &observation(
            None,
            vec![
                instance(1, "RUNNING", "green"),
                instance(2, "RUNNING", "blue"),
            ],
            None,
        ),
    );
    let groups: Vec<(&str, u64, u64, u64)> = status
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.desired, g.in_ledger, g.in_oci))
        .collect();
    assert_eq!(groups, vec![("blue", 2, 0, 1), ("green", 0, 0, 1)]);
    assert!(!status.ledger.exists);
    assert_eq!(status.running, 2);
    assert_eq!(status.desired, 2);
}

#[test]
fn backends_of_terminated_or_missing_records_are_unknown_to_the_fleet() {
    // 1 was terminated (OCI still lists it as TERMINATING), 2 went missing; their backends
    // still point at their old IPs, the most dangerous kind of stale backend.
    let kinds = drift_kinds(
        true,
        vec![
            record(1, RecordState::Terminated),
            record(2, RecordState::Missing),
            record(3, RecordState::Running),
        ],
        vec![
            instance(1, "TERMINATING", "blue"),
            instance(3, "RUNNING", "blue"),
        ],
        Some(vec![backend(1, 8080), backend(2, 8080), backend(3, 8080)]),
    );
    assert_eq!(
        kinds,
        vec![
            (DriftKind::UnknownBackend, Some("10.0.0.1:8080".to_string())),
            (DriftKind::UnknownBackend, Some("10.0.0.2:8080".to_string())),
        ]
    );
}

#[test]
fn the_ip_map_holds_live_records_and_live_instances_only() {
    let l = ledger(vec![
        record(1, RecordState::Terminated),
        record(2, RecordState::Missing),
        record(3, RecordState::Terminating),
        InstanceRecord {
            private_ip: None,
            ..record(4, RecordState::Launching)
        },
        record(6, RecordState::Terminated),
    ]);
    let instances = vec![
        instance(1, "TERMINATING", "blue"),
        instance(4, "RUNNING", "blue"),
        instance(5, "PROVISIONING", "blue"),
        instance(6, "RUNNING", "blue"),
    ];
    let vnics: BTreeMap<InstanceId, IpAddr> = [
        (id(1), ip(101)),
        (id(4), ip(104)),
        (id(5), ip(105)),
        (id(6), ip(106)),
    ]
    .into_iter()
    .collect();
    let ips = private_ips(Some(&l), &instances, &vnics);
    let expected: fleetctl_core::observe::PrivateIps = [
        // A live record keeps its ledger IP, even while OCI has it terminating.
        (id(3), ip(3)),
        // Live instances without a ledger IP get their VNIC's.
        (id(4), ip(104)),
        (id(5), ip(105)),
        // A running instance whose only record is terminated: the VNIC's, not the record's.
        (id(6), ip(106)),
    ]
    .into_iter()
    .collect();
    assert_eq!(ips, expected);
}

#[test]
fn per_backend_health_fills_the_lb_column_and_the_healthy_count() {
    let l = ledger(vec![
        record(1, RecordState::Running),
        record(2, RecordState::Running),
        record(3, RecordState::Running),
        record(4, RecordState::Running),
    ]);
    let mut obs = observation(
        Some(&l),
        vec![
            instance(1, "RUNNING", "blue"),
            instance(2, "RUNNING", "blue"),
            instance(3, "RUNNING", "blue"),
            instance(4, "RUNNING", "blue"),
        ],
        Some(vec![
            backend(1, 8080),
            backend(2, 8080),
            backend(3, 8080),
            backend(4, 8080),
        ]),
    );
    let health = &mut obs.load_balancer.as_mut().unwrap().health;
    health.status = HealthStatus::Critical;
    health.warning_state_backend_names = vec!["10.0.0.4:8080".into()];
    health.critical_state_backend_names = vec!["10.0.0.2:8080".into()];
    health.unknown_state_backend_names = vec!["10.0.0.3:8080".into()];
    // Four desired, four running: only health differs.
    let four = load_str("fleet.yaml", &FLEET.replace("count: 2", "count: 4")).unwrap();
    let status = build(&four, "memory://t", Some(&l), &obs);
    let column: Vec<(String, Option<String>)> = status.groups[0]
        .instances
        .iter()
        .map(|i| (i.name.clone(), i.backend.as_ref().map(|b| b.health.clone())))
        .collect();
    assert_eq!(
        column,
        vec![
            ("web-blue-1".to_string(), Some("OK".to_string())),
            ("web-blue-2".to_string(), Some("CRITICAL".to_string())),
            ("web-blue-3".to_string(), Some("UNKNOWN".to_string())),
            ("web-blue-4".to_string(), Some("WARNING".to_string())),
        ]
    );
    let lb = status.load_balancer.unwrap();
    assert_eq!((lb.backends, lb.healthy), (4, 1));
    assert_eq!(lb.health, "CRITICAL");
    assert!(status.in_sync, "health is not drift: {:?}", status.drift);
}

#[test]
fn the_operation_kind_is_reported_as_the_ledger_writes_it() {
    let mut l = ledger(vec![]);
    l.operation = Some(Operation {
        id: OperationId::parse("op-1").unwrap(),
        kind: OperationKind::SyncState {
            adopt_untagged: false,
        },
        status: OperationStatus::Running,
        started: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        updated: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
        finished: None,
        steps: vec![],
        error: None,
        pause_reason: None,
        waiting_on: Vec::new(),
        start_total: 0,
        target_total: 0,
        limits: None,
        abort_requested: false,
        revision: None,
        origin: None,
        checkpoints: Vec::new(),
        checkpoints_passed: 0,
        checkpoint: None,
        rollback_to: None,
        totals: None,
    });
    let status = build(
        &fleet(false),
        "memory://t",
        Some(&l),
        &observation(Some(&l), vec![], None),
    );
    let op = status.ledger.operation.unwrap();
    assert_eq!(
        (op.kind.as_str(), op.status.as_str()),
        ("sync_state", "running")
    );
}
