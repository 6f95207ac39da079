//! Object Storage operations (`oci::objectstorage`) and the `oci://` backend against the
//! simulator over loopback: names on the wire, conditions, ranges, paging, typed errors, and a
//! conditional write whose response was lost.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::store_support;

use bytes::Bytes;
use fleetctl_core::error::{Error, ErrorClass};
use fleetctl_core::oci::objectstorage::{
    self, Bucket, ByteRange, ContentRange, GetObjectOptions, HeadObjectOptions, ListObjectsOptions,
    ObjectStorageError, PutCondition, PutObjectOptions, content_md5,
};
use fleetctl_core::store::{ConflictReason, OciObjectStore, OpenOptions, StateStore, StoreError};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{CopyMode, CopyOptions, GetOptions, ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::json;
use store_support::{SimEnv, ledger, unique};

fn bucket(env: &SimEnv) -> Bucket {
    Bucket::new(env.sim.namespace(), env.sim.bucket())
}

async fn put(env: &SimEnv, name: &str, body: &'static [u8]) -> String {
    objectstorage::put_object(
        &env.client,
        &bucket(env),
        name,
        Bytes::from_static(body),
        &PutObjectOptions::default(),
    )
    .await
    .unwrap()
    .etag
}

async fn get(env: &SimEnv, name: &str) -> Bytes {
    objectstorage::get_object(
        &env.client,
        &bucket(env),
        name,
        &GetObjectOptions::default(),
    )
    .await
    .unwrap()
    .body
}

/// The raw paths of the logged requests for `operation`.
fn logged_paths(env: &SimEnv, operation: &str) -> Vec<String> {
    env.sim
        .requests()
        .into_iter()
        .filter(|r| r.operation.as_deref() == Some(operation))
        .map(|r| r.path)
        .collect()
}

#[tokio::test]
async fn get_namespace_returns_the_tenancy_namespace() {
    let env = SimEnv::start().await;
    let ns = objectstorage::get_namespace(&env.client, None)
        .await
        .unwrap();
    assert_eq!(ns, env.sim.namespace());
}

#[tokio::test]
async fn object_names_are_one_strictly_encoded_path_segment() {
    let env = SimEnv::start().await;
    let name = format!("{}/sub dir/ü+x.json", unique("names"));
    let body = Bytes::from_static(b"{\"a\": 1}");
    let out = objectstorage::put_object(
        &env.client,
        &bucket(&env),
        &name,
        body.clone(),
        &PutObjectOptions {
            content_type: Some("application/json".into()),
            metadata: [("fleet".to_string(), "web".to_string())].into(),
            ..PutObjectOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        out.content_md5.as_deref(),
        Some(content_md5(&body).as_str())
    );
    assert!(out.version_id.is_some());

    let path = logged_paths(&env, "PutObject").pop().unwrap();
    let encoded = name
        .replace('/', "%2F")
        .replace(' ', "%20")
        .replace('ü', "%C3%BC")
        .replace('+', "%2B");
    assert_eq!(
        path,
        format!("/n/simnamespace/b/fleetctl-state/o/{encoded}"),
        "every reserved byte of the name is percent-encoded"
    );

    let got = objectstorage::get_object(
        &env.client,
        &bucket(&env),
        &name,
        &GetObjectOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(got.body, body);
    assert_eq!(got.head.etag, out.etag);
    assert_eq!(got.head.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        got.head.metadata.get("fleet").map(String::as_str),
        Some("web")
    );

    let head = objectstorage::head_object(
        &env.client,
        &bucket(&env),
        &name,
        &HeadObjectOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(head.etag, out.etag);
    assert_eq!(head.content_length, body.len() as u64);
    assert_eq!(head.content_md5, Some(content_md5(&body)));
}

#[tokio::test]
async fn conditional_puts_create_once_and_replace_only_the_current_version() {
    let env = SimEnv::start().await;
    let b = bucket(&env);
    let name = unique("cond");
    let create = PutObjectOptions {
        condition: PutCondition::IfNoneMatchAny,
        ..PutObjectOptions::default()
    };
    let first =
        objectstorage::put_object(&env.client, &b, &name, Bytes::from_static(b"one"), &create)
            .await
            .unwrap();
    let err =
        objectstorage::put_object(&env.client, &b, &name, Bytes::from_static(b"two"), &create)
            .await
            .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
    assert_eq!(err.oci().unwrap().code(), Some("IfNoneMatchFailed"));
    let message = err.to_string();
    assert!(
        message.contains("precondition `if-none-match: *` failed for object")
            && message.contains(&name)
            && message.contains("fleetctl-state@simnamespace"),
        "{message}"
    );
    assert_eq!(get(&env, &name).await.as_ref(), b"one");

    let update = |etag: &str| PutObjectOptions {
        condition: PutCondition::IfMatch(etag.to_string()),
        ..PutObjectOptions::default()
    };
    let second = objectstorage::put_object(
        &env.client,
        &b,
        &name,
        Bytes::from_static(b"two"),
        &update(&first.etag),
    )
    .await
    .unwrap();
    assert_ne!(second.etag, first.etag);
    let err = objectstorage::put_object(
        &env.client,
        &b,
        &name,
        Bytes::from_static(b"three"),
        &update(&first.etag),
    )
    .await
    .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
    assert_eq!(err.oci().unwrap().code(), Some("IfMatchFailed"));
    assert_eq!(get(&env, &name).await.as_ref(), b"two");
}

#[tokio::test]
async fn conditional_reads_answer_not_modified_and_precondition_failed() {
    let env = SimEnv::start().await;
    let b = bucket(&env);
    let name = unique("read");
    let etag = put(&env, &name, b"content").await;

    let err = objectstorage::get_object(
        &env.client,
        &b,
        &name,
        &GetObjectOptions {
            if_none_match: Some(etag.clone()),
            ..GetObjectOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.is_not_modified(), "{err:?}");
    assert!(err.to_string().contains("is unchanged"), "{err}");

    let err = objectstorage::head_object(
        &env.client,
        &b,
        &name,
        &HeadObjectOptions {
            if_none_match: Some(etag.clone()),
            ..HeadObjectOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.is_not_modified(), "{err:?}");

    let err = objectstorage::get_object(
        &env.client,
        &b,
        &name,
        &GetObjectOptions {
            if_match: Some("not-the-etag".into()),
            ..GetObjectOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");

    let ok = objectstorage::get_object(
        &env.client,
        &b,
        &name,
        &GetObjectOptions {
            if_match: Some(etag),
            ..GetObjectOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(ok.body.as_ref(), b"content");
}

#[tokio::test]
async fn ranges_return_the_bytes_asked_for() {
    let env = SimEnv::start().await;
    let b = bucket(&env);
    let name = unique("range");
    put(&env, &name, b"0123456789").await;
    let read = |range| {
        let client = env.client.clone();
        let b = b.clone();
        let name = name.clone();
        async move {
            objectstorage::get_object(
                &client,
                &b,
                &name,
                &GetObjectOptions {
                    range: Some(range),
                    ..GetObjectOptions::default()
                },
            )
            .await
            .unwrap()
        }
    };
    let r = read(ByteRange::Bounded { start: 2, end: 5 }).await;
    assert_eq!(r.body.as_ref(), b"234");
    assert_eq!(
        r.head.content_range,
        Some(ContentRange {
            start: 2,
            end: 4,
            total: Some(10)
        })
    );
    assert_eq!(r.head.object_size(), 10);
    assert_eq!(read(ByteRange::From(7)).await.body.as_ref(), b"789");
    assert_eq!(read(ByteRange::Suffix(2)).await.body.as_ref(), b"89");
}

#[tokio::test]
async fn deletes_honour_if_match_and_missing_things_are_typed() {
    let env = SimEnv::start().await;
    let b = bucket(&env);
    let name = unique("delete");
    let etag = put(&env, &name, b"x").await;

    let err = objectstorage::delete_object(&env.client, &b, &name, Some("stale"))
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
    assert_eq!(get(&env, &name).await.as_ref(), b"x", "the object survives");

    objectstorage::delete_object(&env.client, &b, &name, Some(&etag))
        .await
        .unwrap();
    let err = objectstorage::get_object(&env.client, &b, &name, &GetObjectOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_object_not_found(), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("object `{name}` not found")),
        "{message}"
    );
    let err = objectstorage::head_object(&env.client, &b, &name, &HeadObjectOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_object_not_found(), "{err:?}");

    let missing = Bucket::new(env.sim.namespace(), "no-such-bucket");
    let err = objectstorage::get_object(&env.client, &missing, "x", &GetObjectOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ObjectStorageError::BucketNotFound { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("bucket no-such-bucket@simnamespace not found, or not authorized"),
        "{err}"
    );
}

#[tokio::test]
async fn listings_page_by_next_start_with_and_group_by_delimiter() {
    let env = SimEnv::start().await;
    let b = bucket(&env);
    let root = unique("list");
    for name in ["a", "b", "c", "d", "e", "sub/f", "sub/g"] {
        put(&env, &format!("{root}/{name}"), b"12345").await;
    }
    let options = ListObjectsOptions {
        prefix: Some(format!("{root}/")),
        limit: Some(2),
        fields: vec![
            "name".into(),
            "size".into(),
            "etag".into(),
            "timeModified".into(),
        ],
        ..ListObjectsOptions::default()
    };
    let first = objectstorage::list_objects(&env.client, &b, &options)
        .await
        .unwrap();
    assert_eq!(first.objects.len(), 2);
    assert_eq!(
        first.next_start_with.as_deref(),
        Some(format!("{root}/c").as_str())
    );

    let all = objectstorage::list_all_objects(&env.client, &b, &options)
        .await
        .unwrap();
    let names: Vec<_> = all.objects.iter().map(|o| o.name.clone()).collect();
    let expected: Vec<_> = ["a", "b", "c", "d", "e", "sub/f", "sub/g"]
        .iter()
        .map(|n| format!("{root}/{n}"))
        .collect();
    assert_eq!(names, expected);
    assert!(
        all.objects
            .iter()
            .all(|o| o.size == Some(5) && o.etag.is_some())
    );
    assert!(all.objects.iter().all(|o| o.time_modified.is_some()));
    let pages = logged_paths(&env, "ListObjects").len();
    assert_eq!(
        pages,
        1 + 4,
        "one page, then four pages of two for seven objects"
    );

    let grouped = objectstorage::list_all_objects(
        &env.client,
        &b,
        &ListObjectsOptions {
            prefix: Some(format!("{root}/")),
            delimiter: true,
            ..ListObjectsOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(grouped.objects.len(), 5);
    assert_eq!(grouped.prefixes, [format!("{root}/sub/")]);
}

#[tokio::test]
async fn the_oci_object_store_lists_copies_and_refuses_multipart() {
    let env = SimEnv::start().await;
    let store = OciObjectStore::new(env.client.clone(), bucket(&env));
    let root = unique("os");
    for name in ["x/1", "x/2", "x/deep/3", "xy/4"] {
        store
            .put(
                &Path::from(format!("{root}/{name}")),
                PutPayload::from_static(b"v"),
            )
            .await
            .unwrap();
    }
    let mut listed: Vec<String> = store
        .list(Some(&Path::from(format!("{root}/x"))))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    listed.sort();
    assert_eq!(
        listed,
        [
            format!("{root}/x/1"),
            format!("{root}/x/2"),
            format!("{root}/x/deep/3")
        ],
        "the prefix matches whole segments (xy/4 is not under x)"
    );
    let level = store
        .list_with_delimiter(Some(&Path::from(root.clone())))
        .await
        .unwrap();
    let mut prefixes: Vec<String> = level
        .common_prefixes
        .iter()
        .map(|p| p.to_string())
        .collect();
    prefixes.sort();
    assert_eq!(prefixes, [format!("{root}/x"), format!("{root}/xy")]);

    let from = Path::from(format!("{root}/x/1"));
    let to = Path::from(format!("{root}/copy"));
    store
        .copy_opts(&from, &to, CopyOptions::new().with_mode(CopyMode::Create))
        .await
        .unwrap();
    let err = store
        .copy_opts(&from, &to, CopyOptions::new().with_mode(CopyMode::Create))
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::AlreadyExists { .. }),
        "{err}"
    );

    let meta = store.head(&to).await.unwrap();
    assert_eq!(meta.size, 1);
    let err = store
        .get_opts(
            &to,
            GetOptions::new().with_if_none_match(meta.e_tag.clone()),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, object_store::Error::NotModified { .. }),
        "{err}"
    );

    store.delete(&to).await.unwrap();
    store.delete(&to).await.unwrap();
    let err = store.head(&to).await.unwrap_err();
    assert!(matches!(err, object_store::Error::NotFound { .. }), "{err}");

    let err = store.put_multipart(&to).await.unwrap_err();
    assert!(
        matches!(err, object_store::Error::NotSupported { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("single PutObject"), "{err}");
}

#[tokio::test]
async fn the_oci_object_store_lists_every_page() {
    let env = SimEnv::start().await;
    env.settings(json!({"maxPageSize": 2})).await;
    let store = OciObjectStore::new(env.client.clone(), bucket(&env));
    let root = unique("pages");
    for n in 0..5 {
        put(&env, &format!("{root}/{n}"), b"v").await;
    }
    let listed: Vec<String> = store
        .list(Some(&Path::from(root.clone())))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    let expected: Vec<String> = (0..5).map(|n| format!("{root}/{n}")).collect();
    assert_eq!(listed, expected);
    assert_eq!(
        logged_paths(&env, "ListObjects").len(),
        3,
        "pages of two, two and one"
    );
}

#[tokio::test]
async fn a_state_store_in_a_missing_bucket_fails_instead_of_looking_empty() {
    let env = SimEnv::start().await;
    let store = StateStore::open(
        &format!("oci://no-such-bucket@{}/state.json", env.sim.namespace()),
        &OpenOptions::new().oci_client(env.client.clone()),
    )
    .unwrap();
    let err = store.load().await.unwrap_err();
    assert!(
        matches!(err, StoreError::Backend { action: "read", .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("cannot read the state at oci://no-such-bucket@simnamespace/state.json"),
        "{err}"
    );
    assert_eq!(Error::from(err).class(), ErrorClass::Infrastructure);
}

#[tokio::test]
async fn a_create_whose_response_was_lost_is_reported_as_done_not_as_a_conflict() {
    let env = SimEnv::start().await;
    let store = env.open(&unique("lost"));
    // The simulator performs the PutObject, then drops the connection: the client retries,
    // and the retry meets its own object (412).
    env.fault(json!({"operation": "PutObject", "drop": "after", "count": 1}))
        .await;
    let version = store.create(&ledger()).await.unwrap();
    assert_eq!(store.load().await.unwrap(), Some((ledger(), version)));
    let puts: Vec<_> = env
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.operation.as_deref() == Some("PutObject"))
        .map(|r| (r.dropped, r.status))
        .collect();
    assert_eq!(
        puts,
        [(Some("after".to_string()), Some(200)), (None, Some(412))],
        "the write was applied once, and the retry was refused"
    );
}

#[tokio::test]
async fn a_retried_create_that_meets_another_writers_document_is_still_a_conflict() {
    let env = SimEnv::start().await;
    let name = unique("lost-conflict");
    let store = env.open(&name);
    let mut other = ledger();
    other.fleet = "other".parse().unwrap();
    store.create(&other).await.unwrap();
    // This create is refused (412), its answer lost; the retry is refused again.
    env.fault(json!({"operation": "PutObject", "drop": "after", "count": 1}))
        .await;
    let err = store.create(&ledger()).await.unwrap_err();
    match &err {
        StoreError::Conflict { reason, .. } => assert_eq!(*reason, ConflictReason::AlreadyExists),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.load().await.unwrap().unwrap().0, other);
}

/// The DeleteObject calls the simulator saw: (dropped, status).
fn deletes(env: &SimEnv) -> Vec<(Option<String>, Option<u16>)> {
    env.sim
        .requests()
        .into_iter()
        .filter(|r| r.operation.as_deref() == Some("DeleteObject"))
        .map(|r| (r.dropped, r.status))
        .collect()
}

/// Issue 7, item 4: a conditional DELETE whose 204 was lost is retried, and the retry finds
/// the object gone: it fails its condition (412, as an origin that evaluates If-Match before
/// existence answers; a read then confirms the object is gone) or finds nothing (404, as the
/// simulator answers a missing object whatever the condition). Either way it is done.
#[tokio::test]
async fn a_conditional_delete_whose_answer_was_lost_is_done_when_the_retry_finds_it_gone() {
    let env = SimEnv::start().await;
    let b = bucket(&env);
    for (retry_fault, retry_status) in [
        (
            Some(
                json!({"operation": "DeleteObject", "status": 412, "code": "IfMatchFailed",
                "message": "The If-Match header does not match", "count": 1}),
            ),
            412,
        ),
        (None, 404),
    ] {
        let name = unique("lost-delete");
        let etag = put(&env, &name, b"x").await;
        let before = deletes(&env).len();
        // The first attempt deletes the object and its answer is lost.
        env.fault(json!({"operation": "DeleteObject", "drop": "after", "count": 1}))
            .await;
        if let Some(rule) = retry_fault {
            env.fault(rule).await;
        }
        objectstorage::delete_object(&env.client, &b, &name, Some(&etag))
            .await
            .unwrap();
        assert_eq!(
            deletes(&env)[before..],
            [
                (Some("after".to_string()), Some(204)),
                (None, Some(retry_status))
            ]
        );
        let err = objectstorage::head_object(&env.client, &b, &name, &HeadObjectOptions::default())
            .await
            .unwrap_err();
        assert!(err.is_object_not_found(), "{err:?}");
    }
}

/// A retried conditional delete that meets a changed object is still a conflict: the read
/// finds the object, and it survives.
#[tokio::test]
async fn a_retried_conditional_delete_of_a_changed_object_is_still_a_conflict() {
    let env = SimEnv::start().await;
    let b = bucket(&env);
    let name = unique("retried-stale-delete");
    let stale = put(&env, &name, b"v1").await;
    put(&env, &name, b"v2").await;
    // The first attempt is dropped before it is performed; the retry fails its condition.
    env.fault(json!({"operation": "DeleteObject", "drop": "before", "count": 1}))
        .await;
    let err = objectstorage::delete_object(&env.client, &b, &name, Some(&stale))
        .await
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err:?}");
    assert_eq!(
        deletes(&env),
        [(Some("before".to_string()), None), (None, Some(412))]
    );
    assert_eq!(
        get(&env, &name).await.as_ref(),
        b"v2",
        "the object survives"
    );
}
