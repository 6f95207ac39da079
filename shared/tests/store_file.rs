//! The file backend beyond the conformance suite: what it leaves on disk, crash leftovers,
//! atomic conditional writes under thread contention, and the rest of its `ObjectStore`
//! surface.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

mod store_support;

use std::sync::{Arc, Barrier};

use bytes::Bytes;
use fleetctl_core::error::{Error, ErrorClass};
use fleetctl_core::store::file::content_etag;
use fleetctl_core::store::{FileStore, OpenOptions, StateStore, StoreError};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{
    CopyMode, CopyOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, UpdateVersion,
};
use store_support::ledger;

fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn opening_and_loading_create_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(
        ".fleetctl/state.json",
        &OpenOptions::new().base_dir(dir.path()),
    )
    .unwrap();
    assert!(store.load().await.unwrap().is_none());
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

#[tokio::test]
async fn writes_create_parent_directories_and_leave_only_the_document_and_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(
        ".fleetctl/deeper/state.json",
        &OpenOptions::new().base_dir(dir.path()),
    )
    .unwrap();
    let v = store.create(&ledger()).await.unwrap();
    store.save(&ledger(), &v).await.unwrap();
    let state_dir = dir.path().join(".fleetctl/deeper");
    assert_eq!(names_in(&state_dir), [".state.json.lock", "state.json"]);
    let on_disk = std::fs::read(state_dir.join("state.json")).unwrap();
    assert_eq!(on_disk, ledger().to_json().unwrap());
    assert_eq!(
        store.load().await.unwrap().unwrap().1.e_tag(),
        content_etag(&on_disk),
        "the ETag is the content's SHA-256"
    );
}

#[tokio::test]
async fn a_temporary_file_left_by_a_crash_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open("state.json", &OpenOptions::new().base_dir(dir.path())).unwrap();
    let v = store.create(&ledger()).await.unwrap();
    // What a crash between writing the temporary file and renaming it leaves behind.
    let stray = dir.path().join(".state.json.0123abcd.tmp");
    std::fs::write(&stray, b"{\"version\": 1, \"fle").unwrap();

    assert_eq!(store.load().await.unwrap().unwrap(), (ledger(), v.clone()));
    let listed: Vec<_> = store
        .object_store()
        .list(None)
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(listed, ["state.json"], "sidecar files are not objects");
    store.save(&ledger(), &v).await.unwrap();
}

#[tokio::test]
async fn a_directory_where_the_document_should_be_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state.json")).unwrap();
    let store = StateStore::open("state.json", &OpenOptions::new().base_dir(dir.path())).unwrap();
    let err = store.load().await.unwrap_err();
    assert!(
        matches!(err, StoreError::Backend { action: "read", .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!("cannot read the state at {}", store.url())),
        "{message}"
    );
    let mut chain = String::new();
    let mut cause: Option<&dyn std::error::Error> = Some(&err);
    while let Some(c) = cause {
        chain.push_str(&format!("{c} | "));
        cause = c.source();
    }
    assert!(chain.contains("Is a directory"), "{chain}");
    assert_eq!(Error::from(err).class(), ErrorClass::Infrastructure);
}

/// Many threads update from one ETag at the same instant, round after round: the lock and the
/// check inside it must let exactly one through each time.
#[test]
fn conditional_updates_are_atomic_under_thread_contention() {
    const THREADS: usize = 16;
    const ROUNDS: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path()));
    let location = Path::from("doc.json");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut etag = rt
        .block_on(store.put_opts(
            &location,
            PutPayload::from_static(b"start"),
            PutOptions::from(PutMode::Create),
        ))
        .unwrap()
        .e_tag;
    for round in 0..ROUNDS {
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = Arc::clone(&store);
                let barrier = Arc::clone(&barrier);
                let location = location.clone();
                let expected = etag.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    // Start the runtime's blocking thread now, so that every writer reaches
                    // the file system at the same moment after the barrier.
                    rt.block_on(async { tokio::task::spawn_blocking(|| ()).await })
                        .unwrap();
                    barrier.wait();
                    let mode = PutMode::Update(UpdateVersion {
                        e_tag: expected,
                        version: None,
                    });
                    let body = Bytes::from(format!("round {round} thread {t}"));
                    let result = rt.block_on(store.put_opts(
                        &location,
                        PutPayload::from(body.clone()),
                        PutOptions::from(mode),
                    ));
                    (body, result)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for h in handles {
            let (body, result) = h.join().unwrap();
            match result {
                Ok(r) => winners.push((body, r.e_tag)),
                Err(object_store::Error::Precondition { .. }) => {}
                Err(e) => panic!("round {round}: unexpected error {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {} winners", winners.len());
        let (body, new_etag) = winners.pop().unwrap();
        let stored =
            rt.block_on(async { store.get(&location).await.unwrap().bytes().await.unwrap() });
        assert_eq!(stored, body, "round {round}: the winner's bytes are stored");
        etag = new_etag;
    }
}

/// The lock protocol between processes: a writer waits while another holder has the sidecar
/// lock, and then compares against what that holder wrote, not what it saw before.
#[test]
fn a_writer_waits_for_the_lock_and_then_sees_the_change_made_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path()));
    let location = Path::from("doc.json");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let first = rt
        .block_on(store.put_opts(
            &location,
            PutPayload::from_static(b"first"),
            PutOptions::from(PutMode::Create),
        ))
        .unwrap();

    // Another process takes the lock.
    let lock = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join(".doc.json.lock"))
        .unwrap();
    lock.lock().unwrap();

    let writer = {
        let store = Arc::clone(&store);
        let location = location.clone();
        let expected = first.e_tag.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(store.put_opts(
                &location,
                PutPayload::from_static(b"from the writer"),
                PutOptions::from(PutMode::Update(UpdateVersion {
                    e_tag: expected,
                    version: None,
                })),
            ))
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!writer.is_finished(), "the writer must wait for the lock");
    // The other process changes the document while it holds the lock, then lets go.
    std::fs::write(dir.path().join("doc.json"), b"changed under the lock").unwrap();
    lock.unlock().unwrap();

    let err = writer.join().unwrap().unwrap_err();
    assert!(
        matches!(err, object_store::Error::Precondition { .. }),
        "{err}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("doc.json")).unwrap(),
        b"changed under the lock"
    );
}

#[tokio::test]
async fn the_file_store_answers_the_rest_of_the_object_store_api() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("root"));
    let a = Path::from("a/x.json");
    store
        .put(&a, PutPayload::from_static(b"0123456789"))
        .await
        .unwrap();
    store
        .put(&Path::from("a/deep/y.json"), PutPayload::from_static(b"y"))
        .await
        .unwrap();
    store
        .put(&Path::from("top.json"), PutPayload::from_static(b"t"))
        .await
        .unwrap();

    // Ranges and conditional reads.
    let got = store
        .get_opts(
            &a,
            GetOptions::new().with_range(Some(GetRange::Bounded(2..5))),
        )
        .await
        .unwrap();
    assert_eq!(got.range, 2..5);
    assert_eq!(got.meta.size, 10);
    assert_eq!(got.bytes().await.unwrap().as_ref(), b"234");
    let suffix = store
        .get_opts(&a, GetOptions::new().with_range(Some(GetRange::Suffix(3))))
        .await
        .unwrap();
    assert_eq!(suffix.bytes().await.unwrap().as_ref(), b"789");
    let etag = store.head(&a).await.unwrap().e_tag.unwrap();
    assert_eq!(etag, content_etag(b"0123456789"));
    let err = store
        .get_opts(&a, GetOptions::new().with_if_none_match(Some(etag.clone())))
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::NotModified { .. }),
        "{err}"
    );
    let err = store
        .get_opts(&a, GetOptions::new().with_if_match(Some("\"stale\"")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::Precondition { .. }),
        "{err}"
    );

    // Listing: recursive with a segment-wise prefix, or one level with a delimiter.
    let mut all: Vec<String> = store
        .list(Some(&Path::from("a")))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    all.sort();
    assert_eq!(all, ["a/deep/y.json", "a/x.json"]);
    let level = store.list_with_delimiter(None).await.unwrap();
    assert_eq!(level.common_prefixes, [Path::from("a")]);
    let objects: Vec<_> = level
        .objects
        .iter()
        .map(|m| m.location.to_string())
        .collect();
    assert_eq!(objects, ["top.json"]);

    // Copy, create-only copy, delete.
    store.copy(&a, &Path::from("b.json")).await.unwrap();
    assert_eq!(
        store
            .get(&Path::from("b.json"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .as_ref(),
        b"0123456789"
    );
    let err = store
        .copy_opts(
            &a,
            &Path::from("b.json"),
            CopyOptions::new().with_mode(CopyMode::Create),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::AlreadyExists { .. }),
        "{err}"
    );
    store.delete(&a).await.unwrap();
    let err = store.get(&a).await.unwrap_err();
    assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");
    let err = store.delete(&a).await.unwrap_err();
    assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");

    // Multipart is refused plainly.
    let err = store.put_multipart(&a).await.unwrap_err();
    assert!(err.to_string().contains("multipart"), "{err}");
}
