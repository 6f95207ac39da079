//! How much of an answer fleetctl reads, against the simulator: OCI API answers, metadata
//! documents and federation answers larger than their documented limits are refused with an
//! error naming the limit (whether the size is declared by `content-length` or found while
//! reading a chunked body), and a federation answer whose body is lost on the way is retried.

#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::oci_ops_support;

use std::sync::Arc;

use fleetctl_core::clock::{ManualClock, RecordingSleeper};
use fleetctl_core::env::Env;
use fleetctl_core::oci::auth::{AuthContext, AuthError, AuthMethod, AuthSettings};
use fleetctl_core::oci::build_provider;
use fleetctl_core::oci::compute::{self, ListInstancesFilter};
use fleetctl_core::oci::error::{ErrorKind, OciError};
use oci_ops_support::*;
use serde_json::json;
use time::OffsetDateTime;

const MIB: u64 = 1024 * 1024;

/// ListInstances of the seeded compartment.
async fn list(s: &OpsSim) -> Result<Vec<compute::ListedInstance>, OciError> {
    compute::list_instances(&s.client, &s.compartment(), &ListInstancesFilter::default()).await
}

#[tokio::test]
async fn an_oci_answer_over_16_mib_is_refused_naming_the_limit_and_not_retried() {
    let s = OpsSim::start().await;
    for (case, chunked) in [("content-length", false), ("chunked", true)] {
        s.clear_requests().await;
        s.fault(
            json!({"operation": "ListInstances", "count": 1, "chunked": chunked,
                       "padBodyBytes": 16 * MIB}),
        )
        .await;
        let err = list(&s).await.unwrap_err();
        assert!(
            matches!(err, OciError::ResponseTooLarge { .. }),
            "{case}: {err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::Local, "{case}");
        let text = err.to_string();
        assert!(text.contains("ListInstances"), "{case}: {text}");
        assert!(text.contains("larger than 16 MiB"), "{case}: {text}");
        let calls = s.calls("ListInstances");
        assert_eq!(calls.len(), 1, "{case}: not retried");
        assert_eq!(err.request_id(), Some(calls[0].opc_request_id.as_str()));
        assert_eq!(
            fleetctl_core::Error::from(err).class(),
            fleetctl_core::ErrorClass::Infrastructure
        );
    }
}

#[tokio::test]
async fn an_oci_answer_just_under_16_mib_is_read() {
    let s = OpsSim::start().await;
    // The seeded answer is a few KiB; with this padding it ends just under 16 MiB.
    s.fault(
        json!({"operation": "ListInstances", "count": 1, "chunked": true,
                   "padBodyBytes": 16 * MIB - 64 * 1024}),
    )
    .await;
    let instances = list(&s).await.unwrap();
    assert_eq!(instances.len(), 1, "the seeded host instance");
}

#[tokio::test]
async fn a_head_of_an_object_over_16_mib_is_answered_and_its_get_refused() {
    use fleetctl_core::oci::objectstorage::{
        self, Bucket, GetObjectOptions, HeadObjectOptions, PutObjectOptions,
    };
    let s = OpsSim::start().await;
    let bucket = Bucket::new(s.sim.namespace(), s.sim.bucket());
    let size = 16 * MIB + 1;
    objectstorage::put_object(
        &s.client,
        &bucket,
        "big",
        bytes::Bytes::from(vec![b'x'; usize::try_from(size).unwrap()]),
        &PutObjectOptions::default(),
    )
    .await
    .unwrap();
    // HEAD's content-length describes the object, not a body: nothing to refuse.
    let head = objectstorage::head_object(&s.client, &bucket, "big", &HeadObjectOptions::default())
        .await
        .unwrap();
    assert_eq!(head.content_length, size);
    let err = objectstorage::get_object(&s.client, &bucket, "big", &GetObjectOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("larger than 16 MiB"), "{err}");
    assert_eq!(s.calls("GetObject").len(), 1, "not retried");
}

/// An instance principal against the simulator's metadata and auth services.
async fn instance_principal(
    s: &OpsSim,
) -> Result<Box<dyn fleetctl_core::oci::auth::CredentialProvider>, AuthError> {
    let base = s.sim.base_url().to_string();
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    let ctx = AuthContext::new(Env::from_pairs([(
        "OCI_METADATA_BASE_URL",
        format!("{base}/opc/v2"),
    )]))
    .with_clock(Arc::new(clock.clone()))
    .with_sleeper(Arc::new(RecordingSleeper::new(clock)));
    let settings = AuthSettings {
        method: Some(AuthMethod::Instance),
        endpoint: Some(url::Url::parse(&base).unwrap()),
        ..AuthSettings::default()
    };
    build_provider(&settings, &ctx).await
}

#[tokio::test]
async fn a_metadata_document_over_64_kib_is_refused_naming_the_limit_and_not_retried() {
    let s = OpsSim::start().await;
    for (operation, chunked) in [("ImdsGetRegion", true), ("ImdsGetCertificate", false)] {
        s.clear_requests().await;
        s.fault(
            json!({"operation": operation, "count": 1, "chunked": chunked,
                       "padBodyBytes": 64 * 1024}),
        )
        .await;
        let err = instance_principal(&s).await.unwrap_err();
        assert!(
            matches!(err, AuthError::ResponseTooLarge { .. }),
            "{operation}: {err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("instance metadata request GET"),
            "{operation}: {text}"
        );
        assert!(text.contains("larger than 64 KiB"), "{operation}: {text}");
        assert_eq!(s.calls(operation).len(), 1, "{operation}: not retried");
        assert_eq!(
            fleetctl_core::Error::from(err).class(),
            fleetctl_core::ErrorClass::Infrastructure
        );
    }
}

#[tokio::test]
async fn a_federation_answer_over_1_mib_is_refused_naming_the_limit_and_not_retried() {
    let s = OpsSim::start().await;
    s.fault(json!({"operation": "X509FederationRequest", "count": 1, "padBodyBytes": MIB}))
        .await;
    let err = instance_principal(&s).await.unwrap_err();
    assert!(matches!(err, AuthError::ResponseTooLarge { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("instance principal federation POST"),
        "{text}"
    );
    assert!(text.contains("larger than 1 MiB"), "{text}");
    assert_eq!(s.calls("X509FederationRequest").len(), 1, "not retried");
}

#[tokio::test]
async fn a_federation_answer_whose_body_is_lost_is_retried() {
    let s = OpsSim::start().await;
    s.fault(json!({"operation": "X509FederationRequest", "count": 1, "drop": "midBody"}))
        .await;
    let provider = instance_principal(&s).await.unwrap();
    let calls = s.calls("X509FederationRequest");
    assert_eq!(
        calls
            .iter()
            .map(|c| c.dropped.as_deref())
            .collect::<Vec<_>>(),
        vec![Some("midBody"), None],
        "the first answer broke off mid-body, the retry succeeded"
    );
    assert_eq!(
        provider.principal().instance.map(|i| i.to_string()),
        Some(s.sim.host_instance_id().to_string())
    );
}
