//! The file backend beyond the conformance suite: what it leaves on disk, crash leftovers,
//! atomic conditional writes under thread contention, and the rest of its `ObjectStore`
//! surface.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::store_support;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

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
async fn a_refused_write_leaves_the_document_as_it_was_and_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open("state.json", &OpenOptions::new().base_dir(dir.path())).unwrap();
    let v = store.create(&ledger()).await.unwrap();
    let before = std::fs::read(dir.path().join("state.json")).unwrap();
    let mut other = ledger();
    other.lease.fencing += 1;
    assert!(
        store.create(&other).await.is_err(),
        "a second create is refused"
    );
    let changed = store.save(&other, &v).await.unwrap();
    let after_save = std::fs::read(dir.path().join("state.json")).unwrap();
    assert_ne!(after_save, before);
    assert!(
        store.save(&ledger(), &v).await.is_err(),
        "a stale version is refused"
    );
    assert_eq!(
        std::fs::read(dir.path().join("state.json")).unwrap(),
        after_save,
        "a refused write changes nothing"
    );
    assert_eq!(names_in(dir.path()), [".state.json.lock", "state.json"]);
    assert_eq!(store.load().await.unwrap().unwrap().1, changed);
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
    // Every writer wrote its temporary file before it knew whether it had won; the losers'
    // are gone.
    assert_eq!(names_in(dir.path()), [".doc.json.lock", "doc.json"]);
}

/// Log lines written through the subscriber a test installs (see [`capturing`]).
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A subscriber that writes info and above into `captured`.
fn capturing(captured: &Captured) -> impl tracing::Subscriber + Send + Sync + 'static {
    let captured = captured.clone();
    tracing_subscriber::fmt()
        .with_writer(move || captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish()
}

/// Another process's lock on the sidecar `.doc.json.lock` in `dir`; it says who it is when
/// `holder` is given, as fleetctl does.
fn hold_lock(dir: &std::path::Path, holder: Option<&str>) -> std::fs::File {
    let mut lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".doc.json.lock"))
        .unwrap();
    lock.lock().unwrap();
    lock.set_len(0).unwrap();
    if let Some(holder) = holder {
        std::io::Write::write_all(&mut lock, holder.as_bytes()).unwrap();
    }
    lock
}

/// An update of `doc.json` from `expected` on another thread, logging into `captured`.
fn update_on_a_thread(
    store: Arc<FileStore>,
    expected: Option<String>,
    captured: &Captured,
) -> std::thread::JoinHandle<object_store::Result<object_store::PutResult>> {
    let subscriber = capturing(captured);
    std::thread::spawn(move || {
        tracing::subscriber::with_default(subscriber, || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(store.put_opts(
                &Path::from("doc.json"),
                PutPayload::from_static(b"from the writer"),
                PutOptions::from(PutMode::Update(UpdateVersion {
                    e_tag: expected,
                    version: None,
                })),
            ))
        })
    })
}

/// The lock protocol between processes: a writer waits while another holder has the sidecar
/// lock (observed: it says it is waiting), and then compares against what that holder wrote,
/// not what it saw before.
#[test]
fn a_writer_waits_for_the_lock_and_then_sees_the_change_made_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path()).with_lock_timeout(Duration::from_secs(60)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let first = rt
        .block_on(store.put_opts(
            &Path::from("doc.json"),
            PutPayload::from_static(b"first"),
            PutOptions::from(PutMode::Create),
        ))
        .unwrap();

    let lock = hold_lock(dir.path(), Some("pid 4242 (other) since now"));
    let captured = Captured::default();
    let writer = update_on_a_thread(Arc::clone(&store), first.e_tag.clone(), &captured);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !captured
        .text()
        .contains("waiting for the lock of the state file")
    {
        assert!(
            Instant::now() < deadline,
            "the writer never reported waiting for the lock; log: {}",
            captured.text()
        );
        assert!(!writer.is_finished(), "the writer must wait for the lock");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        captured
            .text()
            .contains("holder=\"pid 4242 (other) since now\""),
        "{}",
        captured.text()
    );
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

/// Issue 7, item 5: waiting for a held lock had no deadline. A writer gives up after it,
/// naming the holder, and changes nothing.
#[test]
fn a_writer_gives_up_on_a_held_lock_after_its_deadline_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("doc.json"), b"first").unwrap();
    let store = Arc::new(FileStore::new(dir.path()).with_lock_timeout(Duration::from_millis(300)));
    for (holder, named) in [
        (
            Some("pid 4242 (fleetctl) on build-7, since 2025-01-14T08:00:00Z\n"),
            "pid 4242 (fleetctl) on build-7, since 2025-01-14T08:00:00Z",
        ),
        (None, "another process (it did not say which)"),
    ] {
        let lock = hold_lock(dir.path(), holder);
        let started = Instant::now();
        let writer = update_on_a_thread(
            Arc::clone(&store),
            Some(content_etag(b"first")),
            &Captured::default(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while !writer.is_finished() {
            assert!(Instant::now() < deadline, "the writer waits forever");
            std::thread::sleep(Duration::from_millis(5));
        }
        let err = writer.join().unwrap().unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(300));
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert_eq!(
            source,
            format!(
                "the lock {} is still held after 300 ms, by {named}; a write holds it for a \
                 moment only, so if no other fleetctl is writing this ledger, that holder is \
                 stuck",
                dir.path().join(".doc.json.lock").display()
            )
        );
        assert_eq!(
            std::fs::read(dir.path().join("doc.json")).unwrap(),
            b"first"
        );
        drop(lock);
    }
}

/// Issue 7, item 5: each save wrote a new file with the default mode, so a ledger the user had
/// made private became world-readable. A new ledger and its lock are 0600, and a save keeps
/// the mode the ledger has.
#[cfg(unix)]
#[tokio::test]
async fn a_new_ledger_and_its_lock_are_private_and_a_save_keeps_the_mode() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    let dir = tempfile::tempdir().unwrap();
    let store = StateStore::open(
        ".fleetctl/state.json",
        &OpenOptions::new().base_dir(dir.path()),
    )
    .unwrap();
    let version = store.create(&ledger()).await.unwrap();
    let file = dir.path().join(".fleetctl/state.json");
    let lock = dir.path().join(".fleetctl/.state.json.lock");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&lock), 0o600);

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o604)).unwrap();
    let mut changed = ledger();
    changed.fleet = "other".parse().unwrap();
    store.save(&changed, &version).await.unwrap();
    assert_eq!(
        mode(&file),
        0o604,
        "the mode the user gave the ledger is kept"
    );
    assert_eq!(store.load().await.unwrap().unwrap().0, changed);
    assert_eq!(
        std::fs::read(&lock).unwrap(),
        b"",
        "the holder is cleared when the lock is released"
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

/// Issue 7, item 3: the ledger file was read whole whatever its size. One over the documented
/// 64 MiB is refused on its size, before it is read (the file here is sparse: no disk used).
#[tokio::test]
async fn a_file_over_64_mib_is_refused_on_its_size_without_being_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let size = 64 * 1024 * 1024 + 1;
    std::fs::File::create(&path).unwrap().set_len(size).unwrap();
    let store = StateStore::open(path.to_str().unwrap(), &OpenOptions::new()).unwrap();
    let err = store.load().await.unwrap_err();
    assert!(
        matches!(err, StoreError::TooLarge { size: Some(s), limit, .. }
            if s == size && limit == 64 * 1024 * 1024),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "the state document at {} was not read: 67108865 bytes is more than the limit of \
             64 MiB; a fleetctl ledger is far smaller, so check the URL or move the object away",
            path.display()
        )
    );
    assert_eq!(Error::from(err).class(), ErrorClass::Infrastructure);
    // A conditional write is refused the same way, and the file is left as it was.
    let err = store
        .object_store()
        .put_opts(
            store.location(),
            PutPayload::from_static(b"{}"),
            PutOptions::from(PutMode::Update(UpdateVersion {
                e_tag: Some(content_etag(b"")),
                version: None,
            })),
        )
        .await
        .unwrap_err();
    let mut chain = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        chain.push_str(&format!(" | {c}"));
        cause = c.source();
    }
    assert!(
        chain.contains("67108865 bytes is more than the limit of 64 MiB"),
        "{chain}"
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
}
