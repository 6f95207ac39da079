//! The one conformance suite every state-store backend must pass.
//!
//! A backend is an [`Open`] function: given a fresh case name it returns a `StateStore` whose
//! document does not exist yet. [`run_all`] runs every case (each in its own task, so one
//! failure does not hide the others) and fails naming the backend and the failed cases.

use std::sync::Arc;

use bytes::Bytes;
use fleetctl_core::error::{Error, ErrorClass};
use fleetctl_core::store::{
    ConflictReason, Event, EventLevel, Ledger, StateStore, StoreError, Timestamp, Version,
};
use futures::future::BoxFuture;
use object_store::{ObjectStoreExt, PutPayload};

use super::{T0, ledger, unique};

/// Opens a store whose document is named after the case (and does not exist yet).
pub type Open = Arc<dyn Fn(&str) -> StateStore + Send + Sync>;

type Case = fn(Open) -> BoxFuture<'static, ()>;

/// How many writers race in each round, and how many rounds.
const RACERS: usize = 8;
const ROUNDS: usize = 4;

/// Every case, by name.
pub fn cases() -> Vec<(&'static str, Case)> {
    vec![
        ("load_of_a_missing_document_is_none", |o| {
            Box::pin(load_of_a_missing_document_is_none(o))
        }),
        ("create_then_load_returns_the_ledger_and_its_version", |o| {
            Box::pin(create_then_load_returns_the_ledger_and_its_version(o))
        }),
        ("save_with_the_current_version_replaces_the_document", |o| {
            Box::pin(save_with_the_current_version_replaces_the_document(o))
        }),
        (
            "save_with_a_stale_version_is_a_conflict_and_changes_nothing",
            |o| {
                Box::pin(save_with_a_stale_version_is_a_conflict_and_changes_nothing(
                    o,
                ))
            },
        ),
        ("save_after_the_document_was_removed_is_a_conflict", |o| {
            Box::pin(save_after_the_document_was_removed_is_a_conflict(o))
        }),
        ("create_when_a_document_exists_is_a_conflict", |o| {
            Box::pin(create_when_a_document_exists_is_a_conflict(o))
        }),
        (
            "racing_saves_from_one_version_have_exactly_one_winner",
            |o| Box::pin(racing_saves_from_one_version_have_exactly_one_winner(o)),
        ),
        ("racing_creates_have_exactly_one_winner", |o| {
            Box::pin(racing_creates_have_exactly_one_winner(o))
        }),
        (
            "a_document_that_is_not_json_is_refused_and_left_untouched",
            |o| Box::pin(a_document_that_is_not_json_is_refused_and_left_untouched(o)),
        ),
        (
            "a_document_with_an_unknown_field_is_refused_and_left_untouched",
            |o| Box::pin(a_document_with_an_unknown_field_is_refused_and_left_untouched(o)),
        ),
        (
            "a_newer_version_document_is_refused_and_left_untouched",
            |o| Box::pin(a_newer_version_document_is_refused_and_left_untouched(o)),
        ),
        (
            "a_shared_read_is_reused_while_unchanged_and_read_again_after_any_write",
            |o| Box::pin(a_shared_read_is_reused_while_unchanged_and_read_again_after_any_write(o)),
        ),
    ]
}

/// Runs every case against `backend`; panics listing the cases that failed.
pub async fn run_all(backend: &str, open: Open) {
    let mut failed = Vec::new();
    for (name, case) in cases() {
        let result = tokio::spawn(case(Arc::clone(&open))).await;
        if let Err(e) = result {
            eprintln!("{backend}: case {name} FAILED: {e}");
            failed.push(name);
        }
    }
    assert!(
        failed.is_empty(),
        "backend {backend}: {} of {} cases failed: {failed:?} (their panics are printed above)",
        failed.len(),
        cases().len()
    );
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/// A ledger that differs from every other one built with another `tag`.
fn tagged(tag: &str) -> Ledger {
    let mut l = ledger();
    l.push_event(Event {
        at: Timestamp::new(T0),
        level: EventLevel::Info,
        message: tag.to_string(),
        operation: None,
        instance: None,
    });
    l
}

async fn raw_get(store: &StateStore) -> Option<Bytes> {
    match store.object_store().get(store.location()).await {
        Ok(r) => Some(r.bytes().await.unwrap()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => panic!("raw read of {}: {e}", store.url()),
    }
}

async fn raw_put(store: &StateStore, bytes: &'static [u8]) {
    store
        .object_store()
        .put(store.location(), PutPayload::from_static(bytes))
        .await
        .unwrap();
}

fn assert_conflict(err: StoreError, store: &StateStore, reason: ConflictReason) {
    match &err {
        StoreError::Conflict { reason: r, url, .. } => {
            assert_eq!(*r, reason, "{err}");
            assert_eq!(url, store.url());
        }
        other => panic!("expected a {reason:?} conflict, got: {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(store.url()),
        "the message names the store: {message}"
    );
    // A conflict is its own class (the CLI exits 2 for it).
    assert_eq!(Error::from(err).class(), ErrorClass::Conflict);
}

// ------------------------------------------------------------------------------------------
// Cases
// ------------------------------------------------------------------------------------------

async fn load_of_a_missing_document_is_none(open: Open) {
    let store = open(&unique("missing"));
    assert!(store.load().await.unwrap().is_none());
}

async fn create_then_load_returns_the_ledger_and_its_version(open: Open) {
    let store = open(&unique("create"));
    let written = tagged("first");
    let created = store.create(&written).await.unwrap();
    let (read, version) = store.load().await.unwrap().expect("the document exists");
    assert_eq!(read, written);
    assert_eq!(
        version, created,
        "load must return the version create returned"
    );
    // The bytes are the compact JSON of the ledger, version 1 first, one final newline.
    let raw = raw_get(&store).await.unwrap();
    let text = std::str::from_utf8(&raw).unwrap();
    assert!(text.starts_with("{\"version\":1,"), "{text}");
    assert_eq!(text.matches('\n').count(), 1, "{text}");
}

async fn save_with_the_current_version_replaces_the_document(open: Open) {
    let store = open(&unique("save"));
    let v1 = store.create(&tagged("one")).await.unwrap();
    let (mut l, v) = store.load().await.unwrap().unwrap();
    assert_eq!(v, v1);
    l.push_event(Event {
        at: Timestamp::new(T0),
        level: EventLevel::Warning,
        message: "two".into(),
        operation: None,
        instance: None,
    });
    let v2 = store.save(&l, &v).await.unwrap();
    assert_ne!(v2, v1, "a write must change the version");
    let (read, v_read) = store.load().await.unwrap().unwrap();
    assert_eq!(read, l);
    assert_eq!(v_read, v2);
    // And the new version is good for the next save.
    let v3 = store.save(&tagged("three"), &v2).await.unwrap();
    assert_eq!(store.load().await.unwrap().unwrap(), (tagged("three"), v3));
}

async fn save_with_a_stale_version_is_a_conflict_and_changes_nothing(open: Open) {
    let store = open(&unique("stale"));
    let v1 = store.create(&tagged("one")).await.unwrap();
    let v2 = store.save(&tagged("two"), &v1).await.unwrap();
    let before = raw_get(&store).await.unwrap();

    let err = store.save(&tagged("three"), &v1).await.unwrap_err();
    assert_conflict(err, &store, ConflictReason::Changed);

    assert_eq!(
        raw_get(&store).await.unwrap(),
        before,
        "the document changed"
    );
    assert_eq!(
        store.load().await.unwrap().unwrap(),
        (tagged("two"), v2),
        "the winner's document and version stay"
    );
}

async fn save_after_the_document_was_removed_is_a_conflict(open: Open) {
    let store = open(&unique("removed"));
    let v1 = store.create(&tagged("one")).await.unwrap();
    store.object_store().delete(store.location()).await.unwrap();
    let err = store.save(&tagged("two"), &v1).await.unwrap_err();
    assert_conflict(err, &store, ConflictReason::Changed);
    assert!(
        raw_get(&store).await.is_none(),
        "a conditional save must not resurrect a removed document"
    );
}

async fn create_when_a_document_exists_is_a_conflict(open: Open) {
    let store = open(&unique("exists"));
    let v1 = store.create(&tagged("first")).await.unwrap();
    let before = raw_get(&store).await.unwrap();

    let err = store.create(&tagged("second")).await.unwrap_err();
    assert_conflict(err, &store, ConflictReason::AlreadyExists);

    assert_eq!(raw_get(&store).await.unwrap(), before);
    assert_eq!(store.load().await.unwrap().unwrap(), (tagged("first"), v1));
}

async fn racing_saves_from_one_version_have_exactly_one_winner(open: Open) {
    let store = open(&unique("race-save"));
    let mut version = store.create(&tagged("start")).await.unwrap();
    for round in 0..ROUNDS {
        let mut tasks = Vec::new();
        for writer in 0..RACERS {
            let store = store.clone();
            let expected: Version = version.clone();
            let doc = tagged(&format!("round {round} writer {writer}"));
            tasks.push(tokio::spawn(async move {
                let result = store.save(&doc, &expected).await;
                (doc, result)
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (doc, result) = task.await.unwrap();
            match result {
                Ok(v) => winners.push((doc, v)),
                Err(e) => assert_conflict(e, &store, ConflictReason::Changed),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: {} of {RACERS} writers won from the same version",
            winners.len()
        );
        let (doc, v) = winners.pop().unwrap();
        assert_eq!(
            store.load().await.unwrap().unwrap(),
            (doc, v.clone()),
            "round {round}: the stored document is the winner's"
        );
        version = v;
    }
}

async fn racing_creates_have_exactly_one_winner(open: Open) {
    for round in 0..ROUNDS {
        let store = open(&unique(&format!("race-create-{round}")));
        let mut tasks = Vec::new();
        for writer in 0..RACERS {
            let store = store.clone();
            let doc = tagged(&format!("creator {writer}"));
            tasks.push(tokio::spawn(async move {
                let result = store.create(&doc).await;
                (doc, result)
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            let (doc, result) = task.await.unwrap();
            match result {
                Ok(v) => winners.push((doc, v)),
                Err(e) => assert_conflict(e, &store, ConflictReason::AlreadyExists),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: {} of {RACERS} creators won",
            winners.len()
        );
        let (doc, v) = winners.pop().unwrap();
        assert_eq!(store.load().await.unwrap().unwrap(), (doc, v));
    }
}

const NOT_JSON: &[u8] = b"{\n  \"version\": 1,\n  \"fleet\": \"web\",\n  \"created\": \"2025-01-14T08:00:00Z\"\n  \"records\": []\n}\n";

async fn a_document_that_is_not_json_is_refused_and_left_untouched(open: Open) {
    let store = open(&unique("damaged"));
    raw_put(&store, NOT_JSON).await;

    let err = store.load().await.unwrap_err();
    match &err {
        StoreError::Damaged {
            line, column, url, ..
        } => {
            assert_eq!((*line, *column), (5, 3), "where the missing comma is");
            assert_eq!(url, store.url());
        }
        other => panic!("expected Damaged, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains(store.url()), "{message}");
    assert!(message.contains("line 5, column 3"), "{message}");
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        cause.contains("expected `,` or `}`"),
        "serde's problem: {cause}"
    );
    assert_eq!(
        Error::from(err).class(),
        ErrorClass::Infrastructure,
        "a damaged store is an infrastructure failure"
    );

    assert_eq!(raw_get(&store).await.unwrap().as_ref(), NOT_JSON);
    // Nor can it be replaced by creating over it.
    let err = store.create(&ledger()).await.unwrap_err();
    assert_conflict(err, &store, ConflictReason::AlreadyExists);
    assert_eq!(raw_get(&store).await.unwrap().as_ref(), NOT_JSON);
}

const UNKNOWN_FIELD: &[u8] = b"{\n  \"version\": 1,\n  \"fleet\": \"web\",\n  \"created\": \"2025-01-14T08:00:00Z\",\n  \"shinyNewThing\": true\n}\n";

async fn a_document_with_an_unknown_field_is_refused_and_left_untouched(open: Open) {
    let store = open(&unique("unknown-field"));
    raw_put(&store, UNKNOWN_FIELD).await;

    let err = store.load().await.unwrap_err();
    let StoreError::Damaged { line, .. } = &err else {
        panic!("expected Damaged, got {err:?}");
    };
    assert_eq!(*line, 5);
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        cause.contains("unknown field `shinyNewThing`"),
        "the cause names the field: {cause}"
    );
    assert_eq!(raw_get(&store).await.unwrap().as_ref(), UNKNOWN_FIELD);
}

const NEWER: &[u8] =
    b"{\"version\": 2, \"fleet\": \"web\", \"fleets\": {\"web\": {}}, \"created\": 17}";

async fn a_newer_version_document_is_refused_and_left_untouched(open: Open) {
    let store = open(&unique("newer"));
    raw_put(&store, NEWER).await;

    let err = store.load().await.unwrap_err();
    match &err {
        StoreError::NewerVersion { found, url } => {
            assert_eq!(*found, 2);
            assert_eq!(url, store.url());
        }
        other => panic!("expected NewerVersion, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("version 2") && message.contains("upgrade fleetctl"),
        "{message}"
    );
    assert_eq!(raw_get(&store).await.unwrap().as_ref(), NEWER);
    let err = store.create(&ledger()).await.unwrap_err();
    assert_conflict(err, &store, ConflictReason::AlreadyExists);
    assert_eq!(raw_get(&store).await.unwrap().as_ref(), NEWER);
}

/// `load_shared` parses the document once and hands the same ledger out while the store says
/// it is unchanged (a conditional read), and never a stale one: a write by another process
/// (another store on the same document), a write through this store and a removal are all
/// seen at the next read.
async fn a_shared_read_is_reused_while_unchanged_and_read_again_after_any_write(open: Open) {
    let name = unique("shared");
    let store = open(&name);
    let other = open(&name);
    assert!(store.load_shared().await.unwrap().is_none());
    let v1 = store.create(&tagged("one")).await.unwrap();
    let (first, version) = store.load_shared().await.unwrap().unwrap();
    assert_eq!((&*first, &version), (&tagged("one"), &v1));
    let (again, version) = store.load_shared().await.unwrap().unwrap();
    assert!(
        Arc::ptr_eq(&first, &again),
        "{}: an unchanged document was parsed again",
        store.url()
    );
    assert_eq!(version, v1);
    // A plain load of an unchanged document is that ledger too, as an owned copy.
    assert_eq!(
        store.load().await.unwrap().unwrap(),
        (tagged("one"), v1.clone())
    );

    // Another writer: the next shared read is the new document and its version.
    let v2 = other.save(&tagged("two"), &v1).await.unwrap();
    let (read, version) = store.load_shared().await.unwrap().unwrap();
    assert_eq!((&*read, &version), (&tagged("two"), &v2));
    // A write through this store.
    let v3 = store.save(&tagged("three"), &v2).await.unwrap();
    let (read, version) = store.load_shared().await.unwrap().unwrap();
    assert_eq!((&*read, &version), (&tagged("three"), &v3));
    // A removal by another process: no document at all.
    other.object_store().delete(other.location()).await.unwrap();
    assert!(store.load_shared().await.unwrap().is_none());
    assert!(store.load().await.unwrap().is_none());
}
