//! Pure parts of the state store: the ledger's JSON form (round trip, strictness, versions),
//! the lease rules, and state URL parsing.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

use fleetctl_core::config::{FleetName, GroupName, RebootAction, RolloutStrategy};
use fleetctl_core::env::Env;
use fleetctl_core::error::{Error, ErrorClass};
use fleetctl_core::ids::InstanceId;
use fleetctl_core::store::ledger::{
    Checkpoint, CheckpointVerdict, CheckpointWait, Door, FormatVersion, InvalidId, LaunchSpec,
    OperationSummary, Origin, Progress, Revision, RolloutUpdate, StepTotals, UpdateReason,
};
use fleetctl_core::store::{
    DecodeError, Event, EventLevel, HolderId, InstanceRecord, LEDGER_VERSION, Lease, LeaseBusy,
    LeaseHold, Ledger, MAX_DOCUMENT_BYTES, OpenOptions, Operation, OperationId, OperationKind,
    OperationStatus, RecordState, ScaleRequest, StateStore, Step, StepAction, StepStatus,
    StoreError, StoreUrl, Timestamp,
};
use time::OffsetDateTime;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2025-01-14 08:00:00 UTC);

fn ts(t: OffsetDateTime) -> Timestamp {
    Timestamp::new(t)
}

fn instance(n: u8) -> InstanceId {
    InstanceId::parse(&format!(
        "ocid1.instance.oc1.iad.aaaaaaaa{}",
        format!("{n:02}").repeat(26)
    ))
    .unwrap()
}

fn group(name: &str) -> GroupName {
    name.parse().unwrap()
}

fn holder(name: &str) -> HolderId {
    HolderId::parse(name).unwrap()
}

/// A ledger with every field and every variant in use.
fn full_ledger() -> Ledger {
    let op = OperationId::parse("3f2a9c1e-0b7d-4e55-9a10-2c4f6e8d1b33").unwrap();
    let mut l = Ledger::new("web".parse::<FleetName>().unwrap(), T0);
    l.records = vec![
        InstanceRecord {
            instance_id: instance(1),
            group: group("api"),
            name: "web-api-1".into(),
            private_ip: Some("10.0.0.3".parse().unwrap()),
            created: ts(T0),
            terminated: None,
            state: RecordState::Running,
            operation: Some(op.clone()),
            launch_digest: Some("0123456789abcdef".into()),
        },
        InstanceRecord {
            instance_id: instance(2),
            group: group("api"),
            name: "web-api-2".into(),
            private_ip: Some("fd00::2".parse().unwrap()),
            created: ts(T0 + Duration::from_secs(60)),
            terminated: Some(ts(T0 + Duration::from_millis(90_500))),
            state: RecordState::Terminated,
            operation: None,
            launch_digest: None,
        },
        InstanceRecord {
            instance_id: instance(3),
            group: group("worker"),
            name: "web-worker-1".into(),
            private_ip: None,
            created: ts(T0),
            terminated: None,
            state: RecordState::Launching,
            operation: None,
            launch_digest: None,
        },
    ];
    l.scale_queue = VecDeque::from([
        ScaleRequest {
            id: OperationId::parse("q1").unwrap(),
            desired: 5,
            requested: ts(T0),
            origin: Some(Origin {
                door: Door::Api,
                who: Some("deploy bot".into()),
            }),
        },
        ScaleRequest {
            id: OperationId::parse("q2").unwrap(),
            desired: 2,
            requested: ts(T0 + Duration::from_secs(1)),
            origin: None,
        },
    ]);
    l.operation = Some(Operation {
        id: op.clone(),
        kind: OperationKind::RollingRestart {
            strategy: RolloutStrategy::Reboot,
            reboot_action: Some(RebootAction::SoftReset),
            update: Some(RolloutUpdate {
                revision: 2,
                reason: UpdateReason::Rollback {
                    of: OperationId::parse("q0").unwrap(),
                    why: "1 step(s) failed".into(),
                },
            }),
        },
        status: OperationStatus::Running,
        started: ts(T0),
        updated: ts(T0 + Duration::from_secs(30)),
        finished: None,
        steps: vec![
            Step {
                slot: 0,
                action: StepAction::Reboot {
                    instance: instance(1),
                },
                status: StepStatus::Done,
                instance: None,
                started: Some(ts(T0)),
                finished: Some(ts(T0 + Duration::from_secs(20))),
                detail: None,
                phase: None,
                since: None,
                drain_first: false,
                seen_down: false,
                escalated: false,
            },
            Step {
                slot: 1,
                action: StepAction::Replace {
                    instance: instance(2),
                },
                status: StepStatus::InProgress,
                instance: Some(instance(3)),
                started: Some(ts(T0 + Duration::from_secs(21))),
                finished: None,
                detail: Some("waiting on instance 3 healthy".into()),
                phase: None,
                since: None,
                drain_first: false,
                seen_down: false,
                escalated: false,
            },
            Step {
                slot: 2,
                action: StepAction::Launch {
                    group: group("worker"),
                },
                status: StepStatus::Skipped,
                instance: None,
                started: None,
                finished: None,
                detail: None,
                phase: None,
                since: None,
                drain_first: false,
                seen_down: false,
                escalated: false,
            },
            Step {
                slot: 3,
                action: StepAction::Terminate {
                    instance: instance(4),
                },
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
            },
        ],
        error: Some("one failure".into()),
        pause_reason: None,
        waiting_on: Vec::new(),
        start_total: 0,
        target_total: 0,
        limits: None,
        abort_requested: false,
        revision: Some(2),
        origin: Some(Origin::door(Door::Cli)),
        checkpoints: vec![10, 50],
        checkpoints_passed: 1,
        checkpoint: Some(Checkpoint {
            percent: 10,
            done: 1,
            total: 4,
            reached: ts(T0 + Duration::from_secs(25)),
            wait: CheckpointWait::Bake { seconds: 300 },
            verdict: CheckpointVerdict::Healthy,
        }),
        rollback_to: Some(1),
        totals: Some(StepTotals::default()),
    });
    l.push_event(Event {
        at: ts(T0),
        level: EventLevel::Warning,
        message: "instance 2 vanished".into(),
        operation: Some(op),
        instance: Some(instance(2)),
    });
    l.push_event(Event {
        at: ts(T0),
        level: EventLevel::Error,
        message: "x".into(),
        operation: None,
        instance: None,
    });
    l.lease = Lease {
        fencing: 7,
        held: Some(LeaseHold {
            holder: holder("cli:host-1:4242"),
            acquired: ts(T0),
            expires: ts(T0 + Duration::from_secs(60)),
        }),
    };
    let launch = LaunchSpec {
        image_id: "ocid1.image.oc1..aaaa".parse().unwrap(),
        shape: "VM.Standard.E4.Flex".into(),
        shape_config: Some(serde_json::json!({"ocpus": 1.0, "memoryInGBs": 8.0})),
        subnets: [(group("api"), "ocid1.subnet.oc1..aaaa".parse().unwrap())]
            .into_iter()
            .collect(),
        metadata: Default::default(),
        defined_tags: Default::default(),
        freeform_tags: [("team".to_string(), "web".to_string())]
            .into_iter()
            .collect(),
    };
    l.revisions = vec![Revision {
        number: 1,
        digest: launch.digest(),
        seen: ts(T0),
        changed: vec!["imageId".into()],
        launch,
    }];
    l.push_history(OperationSummary {
        id: OperationId::parse("q0").unwrap(),
        kind: OperationKind::Scale { desired: 3 },
        status: OperationStatus::Succeeded,
        started: ts(T0),
        finished: Some(ts(T0 + Duration::from_secs(5))),
        origin: Some(Origin::door(Door::ControlLoop)),
        revision: Some(1),
        totals: StepTotals::default(),
        error: None,
    });
    l
}

// ------------------------------------------------------------------------------------------
// The ledger's JSON
// ------------------------------------------------------------------------------------------

#[test]
fn a_full_ledger_survives_a_json_round_trip() {
    let l = full_ledger();
    let bytes = l.to_json().unwrap();
    assert_eq!(Ledger::from_json(&bytes).unwrap(), l);
    // And writing it again gives the same bytes (stable output, no reordering).
    assert_eq!(Ledger::from_json(&bytes).unwrap().to_json().unwrap(), bytes);
}

#[test]
fn every_kind_of_operation_round_trips() {
    for kind in [
        OperationKind::Scale { desired: 3 },
        OperationKind::RollingRestart {
            strategy: RolloutStrategy::Replace,
            reboot_action: None,
            update: None,
        },
        OperationKind::SyncState {
            adopt_untagged: false,
        },
    ] {
        let mut l = full_ledger();
        l.operation.as_mut().unwrap().kind = kind.clone();
        let back = Ledger::from_json(&l.to_json().unwrap()).unwrap();
        assert_eq!(back.operation.unwrap().kind, kind);
    }
}

#[test]
fn the_written_document_has_the_documented_shape() {
    let v: serde_json::Value = serde_json::from_slice(&full_ledger().to_json().unwrap()).unwrap();
    assert_eq!(v["version"], 1);
    assert_eq!(v["fleet"], "web");
    assert_eq!(v["created"], "2025-01-14T08:00:00Z");
    let r = &v["records"][1];
    assert_eq!(r["instanceId"], instance(2).as_str());
    assert_eq!(r["group"], "api");
    assert_eq!(r["privateIp"], "fd00::2");
    assert_eq!(r["terminated"], "2025-01-14T08:01:30.5Z");
    assert_eq!(r["state"], "terminated");
    assert!(
        v["records"][2].get("privateIp").is_none(),
        "absent options are left out"
    );
    assert_eq!(v["scaleQueue"][0]["desired"], 5);
    assert_eq!(v["scaleQueue"][1]["id"], "q2");
    let op = &v["operation"];
    assert_eq!(op["kind"]["type"], "rolling_restart");
    assert_eq!(op["kind"]["strategy"], "reboot");
    assert_eq!(op["status"], "running");
    assert_eq!(op["steps"][1]["action"]["type"], "replace");
    assert_eq!(op["steps"][1]["status"], "in_progress");
    assert_eq!(v["events"][0]["level"], "warning");
    assert_eq!(v["lease"]["fencing"], 7);
    assert_eq!(v["lease"]["held"]["holder"], "cli:host-1:4242");
    assert!(full_ledger().to_json().unwrap().ends_with(b"}\n"));
}

#[test]
fn a_minimal_hand_written_document_gets_empty_defaults() {
    let l = Ledger::from_json(
        br#"{"version": 1, "fleet": "web", "created": "2025-01-14T09:00:00+01:00"}"#,
    )
    .unwrap();
    assert_eq!(l, Ledger::new("web".parse().unwrap(), T0));
    assert_eq!(
        l.created.to_string(),
        "2025-01-14T08:00:00Z",
        "stored in UTC"
    );
    assert_eq!(l.lease, Lease::default());
}

fn invalid_at(doc: &str) -> (usize, usize, String) {
    match Ledger::from_json(doc.as_bytes()).unwrap_err() {
        DecodeError::Invalid {
            line,
            column,
            source,
        } => (line, column, source.to_string()),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    let base = serde_json::to_value(full_ledger()).unwrap();
    // JSON pointers to every object in the document.
    let places = [
        "",
        "/records/0",
        "/scaleQueue/0",
        "/operation",
        "/operation/kind",
        "/operation/steps/0",
        "/operation/steps/0/action",
        "/events/0",
        "/lease",
        "/lease/held",
    ];
    for place in places {
        let mut v = base.clone();
        v.pointer_mut(place)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert("extra".into(), 1.into());
        let doc = serde_json::to_string_pretty(&v).unwrap();
        let (line, _, message) = invalid_at(&doc);
        assert!(
            message.contains("unknown field `extra`"),
            "{place}: {message}"
        );
        assert!(line > 0, "{place}: a position is given");
    }
}

#[test]
fn unknown_enum_values_are_refused() {
    let doc = String::from_utf8(full_ledger().to_json().unwrap())
        .unwrap()
        .replacen("\"running\"", "\"hibernating\"", 1);
    let (_, _, message) = invalid_at(&doc);
    assert!(message.contains("hibernating"), "{message}");
}

#[test]
fn a_bad_value_is_reported_with_its_position_and_reason() {
    let doc = "{\n  \"version\": 1,\n  \"fleet\": \"web\",\n  \"created\": \"yesterday\"\n}";
    let (line, column, message) = invalid_at(doc);
    assert_eq!((line, column), (4, 24));
    assert!(
        message.contains("\"yesterday\" is not an RFC 3339 timestamp"),
        "{message}"
    );

    let doc = "{\"version\": 1, \"fleet\": \"web\", \"created\": \"2025-01-14T08:00:00Z\",\n \"records\": [{\"instanceId\": \"ocid1.image.oc1..aaaa\"}]}";
    let (line, _, message) = invalid_at(doc);
    assert_eq!(line, 2);
    assert!(
        message.contains("instance"),
        "the id type is named: {message}"
    );
}

#[test]
fn a_timestamp_whose_utc_form_is_out_of_range_is_a_bad_value_not_a_crash() {
    for (text, column) in [
        ("9999-12-31T23:59:59-01:00", 40),
        ("0000-01-01T00:00:00+01:00", 40),
    ] {
        let doc =
            format!("{{\n  \"version\": 1,\n  \"fleet\": \"web\",\n  \"created\": \"{text}\"\n}}");
        let (line, col, message) = invalid_at(&doc);
        assert_eq!((line, col), (4, column), "{text}: {message}");
        assert!(message.contains(text), "{message}");
        assert!(message.contains("UTC"), "{message}");
        assert!(Timestamp::parse(text).is_err(), "{text}");
    }
    // The last instant that is still in range once converted.
    let t = Timestamp::parse("9999-12-31T22:59:59+00:00").unwrap();
    assert_eq!(t.to_string(), "9999-12-31T22:59:59Z");
    let t = Timestamp::parse("9999-12-31T23:59:59.5+01:00").unwrap();
    assert_eq!(t.to_string(), "9999-12-31T22:59:59.5Z");
}

#[test]
fn timestamps_made_from_any_instant_are_in_utc_and_can_be_written() {
    let late = datetime!(9999-12-31 23:59:59 -01:00);
    let t = Timestamp::new(late);
    assert_eq!(t.to_string(), "9999-12-31T23:59:59.999999999Z", "clamped");
    let early = datetime!(0000-01-01 00:00:00 +01:00);
    assert_eq!(Timestamp::new(early).to_string(), "0000-01-01T00:00:00Z");
    let mut l = Ledger::new("web".parse().unwrap(), late);
    l.lease.held = Some(LeaseHold {
        holder: holder("h"),
        acquired: Timestamp::new(early),
        expires: Timestamp::new(late),
    });
    let back = Ledger::from_json(&l.to_json().unwrap()).unwrap();
    assert_eq!(back, l);
    assert_eq!(
        Timestamp::new(datetime!(2025-01-14 09:00:00 +01:00)),
        ts(T0),
        "normalised to UTC"
    );
}

#[test]
fn a_newer_version_is_refused_before_its_shape_is_looked_at() {
    let err = Ledger::from_json(br#"{"version": 2, "somethingNew": [1, 2]}"#).unwrap_err();
    assert!(matches!(err, DecodeError::Newer { found: 2 }), "{err:?}");
    assert!(
        err.to_string().contains("newer than the version 1"),
        "{err}"
    );
}

#[test]
fn version_zero_missing_or_not_a_number_is_refused() {
    let err = Ledger::from_json(br#"{"version": 0, "fleet": "web"}"#).unwrap_err();
    assert!(
        matches!(err, DecodeError::Unsupported { found: 0 }),
        "{err:?}"
    );
    let (_, _, message) = invalid_at(r#"{"fleet": "web"}"#);
    assert!(message.contains("missing field `version`"), "{message}");
    let (_, _, message) = invalid_at(r#"{"version": "1"}"#);
    assert!(message.contains("invalid type"), "{message}");
    let (_, _, message) = invalid_at("[1]");
    assert!(
        message.contains("invalid type: sequence, expected a ledger"),
        "{message}"
    );
}

#[test]
fn the_format_version_marker_reads_only_version_1() {
    assert_eq!(serde_json::to_string(&FormatVersion).unwrap(), "1");
    assert_eq!(LEDGER_VERSION, 1);
    assert!(serde_json::from_str::<FormatVersion>("1").is_ok());
    let err = serde_json::from_str::<FormatVersion>("3").unwrap_err();
    assert!(
        err.to_string().contains("version 3 is not supported"),
        "{err}"
    );
}

/// The spec (section 5) says the ledger keeps "the latest 200" events: pinned as written there.
#[test]
fn events_are_bounded_to_the_latest_200_dropping_the_oldest() {
    let mut l = Ledger::new("web".parse().unwrap(), T0);
    for i in 0..205 {
        l.push_event(Event {
            at: ts(T0),
            level: EventLevel::Info,
            message: format!("event {i}"),
            operation: None,
            instance: None,
        });
    }
    assert_eq!(l.events.len(), 200);
    assert_eq!(l.events.front().unwrap().message, "event 5");
    assert_eq!(l.events.back().unwrap().message, "event 204");
}

/// The spec (section 5) says a ledger of 10,000 records and its 200 events fits far under the
/// 64 MiB read limit: it is under a tenth of it.
#[test]
fn a_ledger_of_10000_records_is_far_under_the_64_mib_read_limit() {
    assert_eq!(MAX_DOCUMENT_BYTES, 64 * 1024 * 1024);
    let mut l = full_ledger();
    l.records = (0..10_000u32)
        .map(|i| InstanceRecord {
            instance_id: InstanceId::parse(&format!(
                "ocid1.instance.oc1.iad.anuwcljt{}{i:010}",
                "x".repeat(50)
            ))
            .unwrap(),
            group: group("a-32-character-group-name-for-it"),
            name: format!("a-rather-long-fleet-name-a-rather-long-group-name-{i}").into(),
            private_ip: Some("fd00:1234:5678:9abc:def0:1234:5678:9abc".parse().unwrap()),
            created: ts(T0),
            terminated: Some(ts(T0 + Duration::from_secs(3600))),
            state: RecordState::Terminated,
            operation: Some(OperationId::parse("3f2a9c1e-0b7d-4e55-9a10-2c4f6e8d1b33").unwrap()),
            launch_digest: Some("0123456789abcdef".into()),
        })
        .collect();
    for i in 0..200 {
        l.push_event(Event {
            at: ts(T0),
            level: EventLevel::Warning,
            message: format!("{i}: {}", "a long event message ".repeat(20)),
            operation: None,
            instance: None,
        });
    }
    let size = l.to_json().unwrap().len();
    assert!(size < 64 * 1024 * 1024 / 10, "{size} bytes");
}

#[test]
fn records_are_found_by_instance_and_gone_ones_are_not_live() {
    let mut l = full_ledger();
    assert_eq!(&*l.record(&instance(2)).unwrap().name, "web-api-2");
    assert!(l.record(&instance(9)).is_none());
    let live: Vec<_> = l.live_records().map(|r| &*r.name).collect();
    assert_eq!(live, ["web-api-1", "web-worker-1"]);
    l.record_mut(&instance(3)).unwrap().state = RecordState::Missing;
    assert_eq!(l.live_records().count(), 1);
}

#[test]
fn operation_progress_counts_done_and_skipped_steps() {
    let l = full_ledger();
    let op = l.operation.as_ref().unwrap();
    assert_eq!(op.progress(), Progress { done: 2, total: 4 });
    assert!(op.is_active());
}

#[test]
fn operation_ids_are_checked() {
    let id = OperationId::random();
    assert_eq!(OperationId::parse(id.as_str()).unwrap(), id);
    for bad in ["", "-x", "a b", "x".repeat(37).as_str(), "é"] {
        let err: InvalidId = OperationId::parse(bad).unwrap_err();
        assert!(err.to_string().contains("operation id"), "{err}");
    }
    assert!(HolderId::parse("").is_err());
    assert!(HolderId::parse("a\nb").is_err());
    assert!(HolderId::parse(&"h".repeat(129)).is_err());
}

#[test]
fn operation_kind_and_status_words_are_their_json_names() {
    let kinds = [
        OperationKind::Scale { desired: 1 },
        OperationKind::RollingRestart {
            strategy: RolloutStrategy::Reboot,
            reboot_action: None,
            update: None,
        },
        OperationKind::SyncState {
            adopt_untagged: false,
        },
    ];
    for kind in kinds {
        let json = serde_json::to_value(&kind).unwrap();
        assert_eq!(json["type"], kind.as_str(), "{kind:?}");
    }
    assert_eq!(
        OperationKind::SyncState {
            adopt_untagged: false
        }
        .as_str(),
        "sync_state"
    );
    for status in [
        OperationStatus::Running,
        OperationStatus::Succeeded,
        OperationStatus::Failed,
        OperationStatus::Cancelled,
    ] {
        assert_eq!(
            serde_json::to_value(status).unwrap(),
            status.as_str(),
            "{status:?}"
        );
    }
}

// ------------------------------------------------------------------------------------------
// Lease rules
// ------------------------------------------------------------------------------------------

const TTL: Duration = Duration::from_secs(30);

#[test]
fn a_free_lease_is_taken_with_the_next_fencing_number() {
    let mut lease = Lease::default();
    assert_eq!(lease.acquire(&holder("a"), T0, TTL), Ok(1));
    assert!(lease.is_held_by(&holder("a"), T0));
    let held = lease.current(T0).unwrap();
    assert_eq!(held.acquired, ts(T0));
    assert_eq!(held.expires, ts(T0 + TTL));
}

#[test]
fn the_holder_renews_without_a_new_fencing_number() {
    let mut lease = Lease::default();
    lease.acquire(&holder("a"), T0, TTL).unwrap();
    let later = T0 + Duration::from_secs(20);
    assert_eq!(lease.acquire(&holder("a"), later, TTL), Ok(1));
    let held = lease.current(later).unwrap();
    assert_eq!(held.acquired, ts(T0), "the holding period continues");
    assert_eq!(held.expires, ts(later + TTL));
}

#[test]
fn another_holder_is_refused_until_expiry_then_takes_over_with_a_larger_number() {
    let mut lease = Lease::default();
    lease.acquire(&holder("a"), T0, TTL).unwrap();
    let before = lease.clone();
    let just_before = T0 + TTL - Duration::from_millis(1);
    let busy: LeaseBusy = lease.acquire(&holder("b"), just_before, TTL).unwrap_err();
    assert_eq!(busy.holder, holder("a"));
    assert_eq!(busy.expires, ts(T0 + TTL));
    assert!(
        busy.to_string()
            .contains("held by a until 2025-01-14T08:00:30Z"),
        "{busy}"
    );
    assert_eq!(lease, before, "a refused take changes nothing");

    // At the expiry instant the lease is free.
    assert_eq!(lease.acquire(&holder("b"), T0 + TTL, TTL), Ok(2));
    assert!(!lease.is_held_by(&holder("a"), T0 + TTL));
    assert!(lease.is_held_by(&holder("b"), T0 + TTL));
}

#[test]
fn a_holder_coming_back_after_expiry_starts_a_new_period() {
    let mut lease = Lease::default();
    lease.acquire(&holder("a"), T0, TTL).unwrap();
    let late = T0 + TTL + Duration::from_secs(5);
    assert!(lease.current(late).is_none());
    assert_eq!(lease.acquire(&holder("a"), late, TTL), Ok(2));
}

#[test]
fn release_frees_the_lease_but_keeps_the_fencing_number() {
    let mut lease = Lease::default();
    lease.acquire(&holder("a"), T0, TTL).unwrap();
    assert!(!lease.release(&holder("b")), "only the holder releases");
    assert!(lease.release(&holder("a")));
    assert!(lease.current(T0).is_none());
    assert_eq!(lease.fencing, 1);
    assert_eq!(lease.acquire(&holder("b"), T0, TTL), Ok(2));
}

// ------------------------------------------------------------------------------------------
// State URLs
// ------------------------------------------------------------------------------------------

#[test]
fn state_urls_parse_to_their_backend_and_object() {
    let file = |p: &str| StoreUrl::File {
        path: PathBuf::from(p),
    };
    let rows: Vec<(&str, StoreUrl)> = vec![
        (".fleetctl/state.json", file(".fleetctl/state.json")),
        (
            "/var/lib/fleet/state.json",
            file("/var/lib/fleet/state.json"),
        ),
        ("state", file("state")),
        ("dir/", file("dir/state.json")),
        ("file:///abs/state.json", file("/abs/state.json")),
        ("file://rel/ledger.json", file("rel/ledger.json")),
        ("file:///abs/", file("/abs/state.json")),
        (
            "memory://",
            StoreUrl::Memory {
                name: String::new(),
            },
        ),
        ("memory://t1", StoreUrl::Memory { name: "t1".into() }),
        (
            "s3://bucket/fleets/web.json",
            StoreUrl::S3 {
                bucket: "bucket".into(),
                key: "fleets/web.json".into(),
            },
        ),
        (
            "s3://bucket",
            StoreUrl::S3 {
                bucket: "bucket".into(),
                key: "state.json".into(),
            },
        ),
        (
            "s3://my.bucket-1/prod/",
            StoreUrl::S3 {
                bucket: "my.bucket-1".into(),
                key: "prod/state.json".into(),
            },
        ),
        (
            "oci://fleet_state@axunmw4f0mln/prod/web.json",
            StoreUrl::Oci {
                bucket: "fleet_state".into(),
                namespace: "axunmw4f0mln".into(),
                object: "prod/web.json".into(),
            },
        ),
        (
            "oci://b@ns",
            StoreUrl::Oci {
                bucket: "b".into(),
                namespace: "ns".into(),
                object: "state.json".into(),
            },
        ),
        (
            "oci://b@ns/prod/",
            StoreUrl::Oci {
                bucket: "b".into(),
                namespace: "ns".into(),
                object: "prod/state.json".into(),
            },
        ),
        (
            "OCI://b@ns/x",
            StoreUrl::Oci {
                bucket: "b".into(),
                namespace: "ns".into(),
                object: "x".into(),
            },
        ),
    ];
    for (text, expected) in rows {
        assert_eq!(StoreUrl::parse(text).unwrap(), expected, "{text}");
    }
    assert_eq!(
        StoreUrl::parse("oci://b@ns/prod/").unwrap().to_string(),
        "oci://b@ns/prod/state.json"
    );
    assert_eq!(
        StoreUrl::parse("s3://b").unwrap().to_string(),
        "s3://b/state.json"
    );
}

fn url_error(text: &str) -> String {
    let err = StoreError::from(StoreUrl::parse(text).unwrap_err());
    assert!(
        matches!(err, StoreError::InvalidUrl { .. }),
        "{text}: expected InvalidUrl, got {err:?}"
    );
    let message = err.to_string();
    assert_eq!(
        Error::from(err).class(),
        ErrorClass::Configuration,
        "{text}: a bad URL is the user's to fix"
    );
    message
}

#[test]
fn bad_state_urls_say_what_is_wrong_and_how_to_write_them() {
    let rows = [
        ("", "it is empty"),
        ("   ", "it is empty"),
        (
            "http://host/state.json",
            "the scheme `http` is not supported",
        ),
        (
            "gs://bucket/key",
            "use a path, file://, memory://, s3://bucket/key or oci://",
        ),
        (
            "s3:/bucket/key",
            "`s3:` looks like a URL scheme without `//`",
        ),
        ("s3://", "the bucket is missing; write s3://bucket/key"),
        ("s3:///key", "the bucket is missing"),
        ("s3://bucket//key", "the key `/key` starts with `/`"),
        ("s3://bucket/a//key", "empty segments"),
        ("s3://bucket/a/../b", "not a valid object name"),
        ("s3://bu cket/key", "the bucket name `bu cket` is not valid"),
        ("s3://bucket/key?versionId=3", "query strings and fragments"),
        (
            "oci://bucket/prefix",
            "the namespace is missing; write oci://bucket@<namespace>/prefix",
        ),
        ("oci:///x", "oci://<bucket>@<namespace>/x"),
        ("oci://@ns/x", "the bucket is missing"),
        ("oci://bucket@/x", "the namespace after `@` is empty"),
        ("oci://bucket@n.s/x", "the namespace `n.s` is not valid"),
        ("file://", "the path is missing"),
        ("state\u{7}.json", "control character"),
        ("./fleet:prod.json", "a path may not contain ':'"),
        ("./x://y", "the text before `://` is not a URL scheme"),
    ];
    for (text, expected) in rows {
        let message = url_error(text);
        assert!(
            message.contains(expected),
            "{text:?}: expected {expected:?} in: {message}"
        );
        assert!(message.starts_with("invalid state URL `"), "{message}");
    }
}

#[test]
fn credentials_in_a_url_are_refused_and_only_the_scheme_is_shown() {
    // Secrets with `/` in them (AWS secret keys often have one) must not split the URL early,
    // and nothing after `://` may be echoed: not the key, not the secret, not the bucket.
    let rows = [
        ("s3://AKIAEXAMPLE:s3cr3t-value@bucket/key", "s3://***"),
        (
            "s3://AKIAEXAMPLE:wJalr/K7MDs3cr3t-value@bucket/key",
            "s3://***",
        ),
        ("s3://AKIAEXAMPLE:a/b/s3cr3t-value@bucket", "s3://***"),
        ("s3://AKIAEXAMPLE@bucket/key", "s3://***"),
        ("S3://AKIAEXAMPLE:wJalr/s3cr3t-value@bucket/key", "S3://***"),
        ("oci://user:s3cr3t-value@bucket@ns/x", "oci://***"),
        ("oci://user:pa/s3cr3t-value@bucket@ns/x", "oci://***"),
        ("oci://user:s3cr3t-value@ns/x", "oci://***"),
        ("oci://user:pa/s3cr3t-value@ns", "oci://***"),
        ("oci://AKIAEXAMPLE@bucket@ns/x", "oci://***"),
        ("memory://user:s3cr3t-value@x", "memory://***"),
        ("memory://AKIAEXAMPLE@x", "memory://***"),
        ("file://user:s3cr3t-value@host/state.json", "file://***"),
        ("file://user:pa/s3cr3t-value@host/state.json", "file://***"),
        ("http://user:s3cr3t-value@host/state.json", "http://***"),
        ("gs://AKIAEXAMPLE:s3cr3t/value@bucket/key", "gs://***"),
        // Without `//`: at most a supported scheme is shown.
        ("s3:AKIAEXAMPLE:s3cr3t/value@bucket/key", "s3:***"),
        ("AKIAEXAMPLE:s3cr3t/value@bucket/key", "***"),
        ("user:pa/s3cr3t-value@host://x", "***"),
    ];
    for (text, shown) in rows {
        let message = url_error(text);
        assert!(
            message.starts_with(&format!("invalid state URL `{shown}`: ")),
            "{text}: only the scheme may be shown: {message}"
        );
        for secret in [
            "s3cr3t",
            "AKIAEXAMPLE",
            "user:",
            "bucket@",
            "bucket/",
            "@ns",
            "host/",
        ] {
            assert!(
                !message.contains(secret),
                "{text}: `{secret}` leaked: {message}"
            );
        }
        let open = StateStore::open(text, &OpenOptions::new()).unwrap_err();
        assert_eq!(open.to_string(), message, "open says the same");
        assert!(!format!("{open:?}").contains("s3cr3t"), "{open:?}");
    }
    for text in [
        "s3://AKIAEXAMPLE:s3cr3t-value@bucket/key",
        "oci://user:s3cr3t-value@ns/x",
    ] {
        assert!(
            url_error(text).contains("credentials do not belong in the URL"),
            "{text}"
        );
    }
}

#[test]
fn an_at_sign_is_only_allowed_where_it_separates_bucket_and_namespace() {
    let message = url_error("file:///srv/state@2.json");
    assert!(message.contains("a plain path"), "{message}");
    assert_eq!(
        StoreUrl::parse("/srv/state@2.json").unwrap(),
        StoreUrl::File {
            path: PathBuf::from("/srv/state@2.json")
        },
        "a plain path may contain `@`"
    );
    assert_eq!(
        StoreUrl::parse("oci://b@ns/x").unwrap(),
        StoreUrl::Oci {
            bucket: "b".into(),
            namespace: "ns".into(),
            object: "x".into(),
        }
    );
}

#[test]
fn opening_oci_without_credentials_is_a_configuration_error() {
    let err = StateStore::open("oci://b@ns/x", &OpenOptions::new()).unwrap_err();
    assert!(matches!(err, StoreError::Unusable { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("oci://b@ns/x: oci:// stores need OCI credentials"),
        "{err}"
    );
    assert_eq!(Error::from(err).class(), ErrorClass::Configuration);

    let env = Env::from_pairs([
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "t0p-s3cret"),
    ]);
    let store = StateStore::open("s3://b/k", &OpenOptions::new().env(env)).unwrap();
    assert_eq!(store.url(), "s3://b/k");
    assert!(!format!("{store:?}").contains("t0p-s3cret"), "{store:?}");
}

#[test]
fn memory_stores_are_shared_by_name_within_the_process() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let name = format!("memory://shared-{}", uuid::Uuid::new_v4().simple());
        let a = StateStore::open(&name, &OpenOptions::new()).unwrap();
        let b = StateStore::open(&name, &OpenOptions::new()).unwrap();
        let other = StateStore::open("memory://another-name", &OpenOptions::new()).unwrap();
        let l = full_ledger();
        let v = a.create(&l).await.unwrap();
        assert_eq!(b.load().await.unwrap(), Some((l, v)));
        assert!(other.load().await.unwrap().is_none());
        assert_eq!(a.url(), name);
    });
}

#[test]
fn relative_paths_resolve_against_the_base_directory() {
    let store = StateStore::open(
        ".fleetctl/state.json",
        &OpenOptions::new().base_dir("/srv/fleet"),
    )
    .unwrap();
    assert_eq!(store.url(), "/srv/fleet/.fleetctl/state.json");
    assert_eq!(store.location().as_ref(), "state.json");
    let store = StateStore::open("/abs/x.json", &OpenOptions::new().base_dir("/srv")).unwrap();
    assert_eq!(store.url(), "/abs/x.json");
}

#[test]
fn s3_settings_that_cannot_work_are_a_configuration_error_without_the_secret() {
    let env = Env::from_pairs([("AWS_SECRET_ACCESS_KEY", "t0p-s3cret")]);
    let err = StateStore::open("s3://b/k", &OpenOptions::new().env(env)).unwrap_err();
    assert!(matches!(err, StoreError::Unusable { .. }), "{err:?}");
    let mut chain = String::new();
    let mut cause: Option<&dyn std::error::Error> = Some(&err);
    while let Some(c) = cause {
        chain.push_str(&format!("{c} | "));
        cause = c.source();
    }
    assert!(
        chain.contains("cannot open the state store s3://b/k")
            && chain.contains("Missing AccessKeyId"),
        "{chain}"
    );
    assert!(!chain.contains("t0p-s3cret"), "secret leaked: {chain}");
    assert!(
        !format!("{err:?}").contains("t0p-s3cret"),
        "secret leaked in Debug"
    );
    assert_eq!(Error::from(err).class(), ErrorClass::Configuration);
}
