//! The state-store conformance suite (`store_support/conformance.rs`) run against every
//! backend: file, memory, s3 (a real moto server on 127.0.0.1) and oci (the simulator over
//! loopback).
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::store_support;

use std::sync::Arc;

use fleetctl_core::store::{OpenOptions, StateStore, StoreError};
use store_support::conformance::run_all;
use store_support::{Moto, SimEnv};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_path_buf();
    run_all(
        "file",
        Arc::new(move |case: &str| {
            // Nested, missing directories: the first write creates them.
            StateStore::open(
                &format!("{case}/nested/state.json"),
                &OpenOptions::new().base_dir(&base),
            )
            .unwrap()
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn file_url_backend_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_path_buf();
    run_all(
        "file://",
        Arc::new(move |case: &str| {
            let url = format!("file://{}/{case}/", base.display());
            StateStore::open(&url, &OpenOptions::new()).unwrap()
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_backend_conforms() {
    run_all(
        "memory",
        Arc::new(|case: &str| {
            StateStore::open(&format!("memory://{case}"), &OpenOptions::new()).unwrap()
        }),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_backend_on_moto_conforms() {
    let moto = Moto::start().await;
    moto.create_bucket("fleet-state").await;
    let options = OpenOptions::new().env(moto.env());
    run_all(
        "s3 (moto)",
        Arc::new(move |case: &str| {
            StateStore::open(&format!("s3://fleet-state/{case}/state.json"), &options).unwrap()
        }),
    )
    .await;
    drop(moto);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn oci_backend_on_the_simulator_conforms() {
    let env = Arc::new(SimEnv::start().await);
    let e = Arc::clone(&env);
    run_all(
        "oci (simulator)",
        Arc::new(move |case: &str| e.open(&format!("fleets/{case}/"))),
    )
    .await;
}

#[tokio::test]
async fn an_s3_store_in_a_missing_bucket_fails_instead_of_looking_empty() {
    let moto = Moto::start().await;
    let store = StateStore::open(
        "s3://no-such-bucket/fleet/state.json",
        &OpenOptions::new().env(moto.env()),
    )
    .unwrap();
    let err = store.load().await.unwrap_err();
    assert!(
        matches!(err, StoreError::Backend { action: "read", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("cannot read the state at s3://no-such-bucket/fleet/state.json"),
        "{err}"
    );
    let err = store.create(&store_support::ledger()).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Backend {
                action: "create",
                ..
            }
        ),
        "{err:?}"
    );
}
