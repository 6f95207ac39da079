//! The REST client core without a server: the retry decision table and backoff bounds, error
//! classification, request building, typed identity responses, and the send loop's behaviour
//! when nothing answers (connection refused on a closed loopback port).
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::oci_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use fleetctl_core::clock::{ManualClock, RecordingSleeper};
use fleetctl_core::ids::{TenancyId, UserId};
use fleetctl_core::oci::auth::{
    AuthError, CredentialProvider, Credentials, Principal, PrincipalKind,
};
use fleetctl_core::oci::client::{OciClient, OciRequest, encode_path_segment};
use fleetctl_core::oci::endpoints::{Endpoints, Service};
use fleetctl_core::oci::error::{ErrorKind, OciError, ServiceError};
use fleetctl_core::oci::identity::{
    AvailabilityDomain, RegionSubscription, RegionSubscriptionStatus, User, UserLifecycleState,
};
use fleetctl_core::oci::region::Region;
use fleetctl_core::oci::retry::{
    AttemptOutcome, Idempotency, RetryDecision, RetryPolicy, backoff_delay, decide,
    delay_with_retry_after, may_retry,
};
use fleetctl_core::oci::signer::KeyId;
use fleetctl_core::oci::wire::RetryToken;
use fleetctl_core::oci::wire::parse_error_body;
use http::Method;
use oci_support::*;

// ------------------------------------------------------------------------------------------
// Retry decision table
// ------------------------------------------------------------------------------------------

fn resp(status: u16, code: &'static str, message: &'static str) -> AttemptOutcome<'static> {
    AttemptOutcome::Response {
        status,
        code: Some(code),
        message: Some(message),
    }
}

#[test]
fn retry_decision_table() {
    use Idempotency::*;
    use RetryDecision::*;
    let rows: Vec<(AttemptOutcome<'static>, Idempotency, bool, RetryDecision)> = vec![
        (
            resp(429, "TooManyRequests", "Too many requests for the user"),
            Idempotent,
            false,
            Retry,
        ),
        (resp(429, "TooManyRequests", ""), RetryToken, false, Retry),
        (
            resp(429, "TooManyRequests", ""),
            NotIdempotent,
            false,
            GiveUp,
        ),
        (
            resp(500, "InternalServerError", "oops"),
            Idempotent,
            false,
            Retry,
        ),
        (resp(502, "", "bad gateway"), Idempotent, false, Retry),
        (
            resp(503, "ServiceUnavailable", ""),
            RetryToken,
            false,
            Retry,
        ),
        (resp(504, "", ""), NotIdempotent, false, GiveUp),
        (
            resp(501, "MethodNotImplemented", ""),
            Idempotent,
            false,
            GiveUp,
        ),
        (
            resp(500, "InternalError", "Out of host capacity."),
            RetryToken,
            false,
            GiveUp,
        ),
        (resp(409, "IncorrectState", ""), Idempotent, false, Retry),
        (resp(409, "LockConflict", ""), RetryToken, false, Retry),
        (resp(409, "Conflict", ""), Idempotent, false, GiveUp),
        (
            resp(409, "InvalidatedRetryToken", ""),
            RetryToken,
            false,
            GiveUp,
        ),
        (resp(400, "InvalidParameter", ""), Idempotent, false, GiveUp),
        (
            resp(404, "NotAuthorizedOrNotFound", ""),
            Idempotent,
            false,
            GiveUp,
        ),
        (resp(412, "NoEtagMatch", ""), Idempotent, false, GiveUp),
        (
            resp(401, "NotAuthenticated", ""),
            NotIdempotent,
            false,
            RefreshAndRetry,
        ),
        (resp(401, "NotAuthenticated", ""), Idempotent, true, GiveUp),
        (AttemptOutcome::NotSent, NotIdempotent, false, Retry),
        (AttemptOutcome::NameNotResolved, NotIdempotent, false, Retry),
        (AttemptOutcome::TransportFailure, Idempotent, false, Retry),
        (AttemptOutcome::TransportFailure, RetryToken, false, Retry),
        (
            AttemptOutcome::TransportFailure,
            NotIdempotent,
            false,
            GiveUp,
        ),
    ];
    for (outcome, idem, refreshed, want) in rows {
        assert_eq!(
            decide(outcome, idem, refreshed),
            want,
            "{outcome:?} {idem:?} refreshed={refreshed}"
        );
    }
}

#[test]
fn backoff_is_exponential_with_bounded_jitter_and_a_cap() {
    let p = RetryPolicy::default();
    for retry in 1..=12u32 {
        let lo = backoff_delay(&p, retry, 0.0);
        let hi = backoff_delay(&p, retry, 0.999_999);
        let expected_lo = (1u64 << (retry - 1).min(20)).min(30);
        assert_eq!(lo, Duration::from_secs(expected_lo), "retry {retry}");
        assert!(
            hi >= lo && hi <= Duration::from_secs(30),
            "retry {retry}: {hi:?}"
        );
        assert!(
            hi - lo < Duration::from_secs(1) || hi == Duration::from_secs(30),
            "jitter below base: {retry}"
        );
    }
    assert_eq!(backoff_delay(&p, 1, 0.5), Duration::from_millis(1500));
}

#[test]
fn retry_after_is_honoured_up_to_the_cap() {
    let p = RetryPolicy::default();
    assert_eq!(
        delay_with_retry_after(&p, 1, 0.0, Some(Duration::from_secs(7))),
        Duration::from_secs(7)
    );
    assert_eq!(
        delay_with_retry_after(&p, 1, 0.0, Some(Duration::from_secs(600))),
        Duration::from_secs(30)
    );
    assert_eq!(
        delay_with_retry_after(&p, 4, 0.0, Some(Duration::from_secs(1))),
        Duration::from_secs(8),
        "never shorter than the backoff"
    );
}

#[test]
fn retries_stop_at_max_attempts_or_the_total_deadline() {
    let p = RetryPolicy {
        max_attempts: 3,
        max_total: Duration::from_secs(10),
        ..RetryPolicy::default()
    };
    assert!(may_retry(&p, 1, Duration::ZERO, Duration::from_secs(1)));
    assert!(
        !may_retry(&p, 3, Duration::ZERO, Duration::from_secs(1)),
        "attempts exhausted"
    );
    assert!(
        may_retry(&p, 2, Duration::from_secs(8), Duration::from_secs(2)),
        "exactly at the deadline"
    );
    assert!(
        !may_retry(&p, 2, Duration::from_secs(9), Duration::from_secs(2)),
        "would pass the deadline"
    );
    assert!(!may_retry(
        &RetryPolicy::no_retries(),
        1,
        Duration::ZERO,
        Duration::ZERO
    ));
}

// ------------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------------

fn service(status: u16, body: &str) -> OciError {
    OciError::Service(Box::new(ServiceError::from_body(
        "LaunchInstance",
        status,
        body.as_bytes(),
        Some("req-123".into()),
        2,
    )))
}

#[test]
fn errors_are_classified_for_operations() {
    let table = [
        (
            404,
            r#"{"code":"NotAuthorizedOrNotFound","message":"x"}"#,
            ErrorKind::NotFound,
        ),
        (
            429,
            r#"{"code":"TooManyRequests","message":"Too many requests for the user"}"#,
            ErrorKind::Throttled,
        ),
        (
            500,
            r#"{"code":"InternalError","message":"Out of host capacity."}"#,
            ErrorKind::OutOfHostCapacity,
        ),
        (
            500,
            r#"{"code":"InternalServerError","message":"x"}"#,
            ErrorKind::ServerError,
        ),
        (
            400,
            r#"{"code":"LimitExceeded","message":"x"}"#,
            ErrorKind::LimitExceeded,
        ),
        (
            400,
            r#"{"code":"QuotaExceeded","message":"x"}"#,
            ErrorKind::LimitExceeded,
        ),
        (
            400,
            r#"{"code":"InvalidParameter","message":"x"}"#,
            ErrorKind::BadRequest,
        ),
        (
            409,
            r#"{"code":"IncorrectState","message":"x"}"#,
            ErrorKind::Conflict,
        ),
        (
            401,
            r#"{"code":"NotAuthenticated","message":"x"}"#,
            ErrorKind::Auth,
        ),
        (
            412,
            r#"{"code":"NoEtagMatch","message":"x"}"#,
            ErrorKind::PreconditionFailed,
        ),
    ];
    for (status, body, kind) in table {
        assert_eq!(service(status, body).kind(), kind, "{status} {body}");
    }
    let e = service(
        500,
        r#"{"code":"InternalError","message":"Out of host capacity."}"#,
    );
    assert!(e.is_out_of_host_capacity() && !e.is_not_found());
    assert!(service(404, "{}").is_not_found());
    assert!(service(429, "{}").is_throttled());
    assert!(service(409, "{}").is_conflict());
    assert!(service(412, "{}").is_precondition_failed());
    assert!(service(401, "{}").is_auth());
    assert!(service(400, r#"{"code":"LimitExceeded"}"#).is_limit_exceeded());
    assert!(
        !service(500, "{}").is_configuration_problem(),
        "a failed call is infrastructure"
    );
}

#[test]
fn error_messages_carry_status_code_message_request_id_and_attempts() {
    let e = service(
        409,
        r#"{"code":"IncorrectState","message":"instance is STOPPING"}"#,
    );
    assert_eq!(
        e.to_string(),
        "LaunchInstance: OCI answered HTTP 409 IncorrectState: instance is STOPPING (opc-request-id: req-123, after 2 attempts)"
    );
    assert_eq!(e.request_id(), Some("req-123"));
    assert_eq!(e.code(), Some("IncorrectState"));
    assert_eq!(e.status(), Some(409));
}

#[test]
fn a_body_that_is_not_oci_json_becomes_the_message() {
    assert_eq!(
        parse_error_body(b"<html>Bad Gateway</html>\n"),
        (String::new(), "<html>Bad Gateway</html>".into())
    );
    assert_eq!(
        parse_error_body(br#"{"code":"X","message":"m","extra":1}"#),
        ("X".into(), "m".into())
    );
    let e = service(502, "upstream timed out");
    assert!(
        e.to_string().contains("HTTP 502: upstream timed out"),
        "{e}"
    );
}

// ------------------------------------------------------------------------------------------
// Requests
// ------------------------------------------------------------------------------------------

/// A provider with a fixed API key that counts how often it is asked for credentials.
#[derive(Debug)]
struct CountingProvider {
    creds: Arc<Credentials>,
    calls: AtomicU32,
    fail: bool,
}

impl CountingProvider {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            creds: Arc::new(Credentials {
                key_id: KeyId::ApiKey {
                    tenancy: TenancyId::parse("ocid1.tenancy.oc1..t").unwrap(),
                    user: UserId::parse("ocid1.user.oc1..u").unwrap(),
                    fingerprint: fixed("fingerprint"),
                },
                key: vector_key(),
            }),
            calls: AtomicU32::new(0),
            fail: false,
        })
    }
}

#[async_trait]
impl CredentialProvider for CountingProvider {
    async fn credentials(&self) -> Result<Arc<Credentials>, AuthError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail {
            return Err(AuthError::NoRegion {
                principal: "test".into(),
            });
        }
        Ok(self.creds.clone())
    }
    async fn refresh_after_unauthorized(&self) -> Result<bool, AuthError> {
        Ok(false)
    }
    fn region(&self) -> Option<Region> {
        Region::parse("iad", "test").ok()
    }
    fn principal(&self) -> Principal {
        Principal {
            kind: PrincipalKind::ApiKey,
            tenancy: TenancyId::parse("ocid1.tenancy.oc1..t").unwrap(),
            user: None,
            instance: None,
            resource: None,
            compartment: None,
            source: "test".into(),
        }
    }
}

fn client(
    provider: Arc<CountingProvider>,
    base: &str,
    clock: &ManualClock,
    sleeper: &RecordingSleeper,
) -> OciClient {
    let endpoints = Endpoints::new(Region::parse("iad", "test").unwrap())
        .with_override(url::Url::parse(base).unwrap())
        .unwrap();
    OciClient::builder(provider, endpoints)
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(sleeper.clone()))
        .build()
        .unwrap()
}

#[test]
fn the_url_is_built_once_with_the_api_prefix_and_form_encoded_query() {
    let clock = ManualClock::new(VECTOR_DATE);
    let c = client(
        CountingProvider::new(),
        "http://127.0.0.1:8999",
        &clock,
        &RecordingSleeper::new(clock.clone()),
    );
    let req = OciRequest::new(
        "ListUsers",
        Service::Identity,
        Method::GET,
        "/20160918/users",
    )
    .query("compartmentId", "ocid1.tenancy.oc1..t")
    .query("name", "Jane Doe+/ü");
    assert_eq!(
        c.request_url(&req).unwrap().as_str(),
        "http://127.0.0.1:8999/20160918/users?compartmentId=ocid1.tenancy.oc1..t&name=Jane+Doe%2B%2F%C3%BC"
    );
}

#[test]
fn path_segments_are_strictly_encoded() {
    assert_eq!(
        encode_path_segment("ocid1.instance.oc1.iad.abc"),
        "ocid1.instance.oc1.iad.abc"
    );
    assert_eq!(encode_path_segment("10.0.0.3:8080"), "10.0.0.3%3A8080");
    assert_eq!(
        encode_path_segment("dir/sub dir/füle#1+.txt"),
        "dir%2Fsub%20dir%2Ff%C3%BCle%231%2B.txt"
    );
}

#[test]
fn idempotency_comes_from_the_method_or_a_retry_token() {
    let get = OciRequest::new(
        "GetInstance",
        Service::Core,
        Method::GET,
        "/20160918/instances/i",
    );
    assert_eq!(get.effective_idempotency(), Idempotency::Idempotent);
    let post = OciRequest::new(
        "LaunchInstance",
        Service::Core,
        Method::POST,
        "/20160918/instances",
    );
    assert_eq!(post.effective_idempotency(), Idempotency::NotIdempotent);
    let post = post.retry_token(&RetryToken::new("op-1-slot-2").unwrap());
    assert_eq!(post.effective_idempotency(), Idempotency::RetryToken);
    assert_eq!(post.headers.get("opc-retry-token").unwrap(), "op-1-slot-2");
}

#[tokio::test]
async fn connection_failures_are_retried_with_fresh_credentials_until_the_attempt_limit() {
    // Port 1 on loopback refuses connections: the request never leaves, so even a POST
    // without a retry token is retried.
    let clock = ManualClock::new(VECTOR_DATE);
    let sleeper = RecordingSleeper::new(clock.clone());
    let provider = CountingProvider::new();
    let c = client(provider.clone(), "http://127.0.0.1:1", &clock, &sleeper);
    let req = OciRequest::new(
        "LaunchInstance",
        Service::Core,
        Method::POST,
        "/20160918/instances",
    )
    .json_body(&serde_json::json!({"displayName": "x"}))
    .unwrap();
    let err = c.send(&req).await.unwrap_err();
    assert!(
        matches!(err, OciError::Transport { attempts: 8, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert_eq!(
        provider.calls.load(Ordering::SeqCst),
        8,
        "credentials (and a signature) per attempt"
    );
    let slept = sleeper.slept();
    assert_eq!(slept.len(), 7);
    assert!(slept.iter().all(|d| *d <= Duration::from_secs(30)));
    assert!(
        err.to_string()
            .contains("http://127.0.0.1:1/20160918/instances"),
        "{err}"
    );
}

#[tokio::test]
async fn the_total_deadline_stops_retries_early() {
    let clock = ManualClock::new(VECTOR_DATE);
    let sleeper = RecordingSleeper::new(clock.clone());
    let endpoints = Endpoints::new(Region::parse("iad", "test").unwrap())
        .with_override(url::Url::parse("http://127.0.0.1:1").unwrap())
        .unwrap();
    let c = OciClient::builder(CountingProvider::new(), endpoints)
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(sleeper.clone()))
        .retry_policy(RetryPolicy {
            max_total: Duration::from_secs(5),
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let req = OciRequest::new(
        "GetUser",
        Service::Identity,
        Method::GET,
        "/20160918/users/u",
    );
    let err = c.send(&req).await.unwrap_err();
    // Waits of ~1 s and ~2 s fit in 5 s; the ~4 s wait would pass the deadline.
    assert!(
        matches!(err, OciError::Transport { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(sleeper.slept().iter().sum::<Duration>() <= Duration::from_secs(5));
}

#[tokio::test]
async fn credentials_that_cannot_be_loaded_stop_the_call_before_any_request() {
    let clock = ManualClock::new(VECTOR_DATE);
    let sleeper = RecordingSleeper::new(clock.clone());
    let provider = Arc::new(CountingProvider {
        fail: true,
        ..Arc::into_inner(CountingProvider::new()).unwrap()
    });
    let c = client(provider, "http://127.0.0.1:1", &clock, &sleeper);
    let req = OciRequest::new(
        "GetUser",
        Service::Identity,
        Method::GET,
        "/20160918/users/u",
    );
    let err = c.send(&req).await.unwrap_err();
    assert!(
        matches!(
            err,
            OciError::Auth {
                operation: "GetUser",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_configuration_problem());
    assert!(sleeper.slept().is_empty());
}

// ------------------------------------------------------------------------------------------
// Typed identity responses
// ------------------------------------------------------------------------------------------

#[test]
fn identity_types_ignore_unknown_fields_and_keep_unknown_enum_values() {
    let user: User = serde_json::from_str(
        r#"{"id":"ocid1.user.oc1..u","compartmentId":"ocid1.tenancy.oc1..t","name":"ann",
            "lifecycleState":"ACTIVE","isMfaActivated":true,"timeCreated":"2016-08-25T21:10:29.600Z",
            "capabilities":{"canUseApiKeys":true},"newField":42}"#,
    )
    .unwrap();
    assert_eq!(user.id.as_str(), "ocid1.user.oc1..u");
    assert_eq!(user.lifecycle_state, Some(UserLifecycleState::Active));
    let user: User =
        serde_json::from_str(r#"{"id":"ocid1.user.oc1..u","lifecycleState":"SUSPENDED_BY_ADMIN"}"#)
            .unwrap();
    assert_eq!(
        user.lifecycle_state,
        Some(UserLifecycleState::Unknown("SUSPENDED_BY_ADMIN".into()))
    );

    let subs: Vec<RegionSubscription> = serde_json::from_str(
        r#"[{"regionKey":"PHX","regionName":"us-phoenix-1","status":"READY","isHomeRegion":true},
            {"regionKey":"IAD","regionName":"us-ashburn-1","status":"FROZEN","isHomeRegion":false}]"#,
    )
    .unwrap();
    assert_eq!(subs[0].status, Some(RegionSubscriptionStatus::Ready));
    assert_eq!(
        subs[1].status,
        Some(RegionSubscriptionStatus::Unknown("FROZEN".into()))
    );

    let ads: Vec<AvailabilityDomain> = serde_json::from_str(
        r#"[{"name":"Uocm:PHX-AD-1","id":"ocid1.ad","compartmentId":"ocid1.tenancy.oc1..t"}]"#,
    )
    .unwrap();
    assert_eq!(ads[0].name, "Uocm:PHX-AD-1");
    // Serialising writes the wire values back.
    assert_eq!(
        serde_json::to_value(&subs[1]).unwrap()["status"],
        serde_json::Value::String("FROZEN".into())
    );
}

#[test]
fn failed_calls_exit_with_2_and_configuration_problems_with_1() {
    use fleetctl_core::{Error, ErrorClass};
    let failed_call = Error::from(service(
        503,
        r#"{"code":"ServiceUnavailable","message":"x"}"#,
    ));
    assert_eq!(failed_call.class(), ErrorClass::Infrastructure);
    let refused = Error::from(service(401, r#"{"code":"NotAuthenticated","message":"x"}"#));
    assert_eq!(refused.class(), ErrorClass::Infrastructure);
    let imds = Error::from(AuthError::Imds {
        url: "http://169.254.169.254/opc/v2/instance/region".into(),
        attempts: 8,
        status: String::new(),
        source: None,
    });
    assert_eq!(imds.class(), ErrorClass::Infrastructure);
    let no_region = Error::from(AuthError::NoRegion {
        principal: "p".into(),
    });
    assert_eq!(no_region.class(), ErrorClass::Configuration);
    let wrapped = Error::from(OciError::Auth {
        operation: "GetUser",
        source: AuthError::NoRegion {
            principal: "p".into(),
        },
    });
    assert_eq!(wrapped.class(), ErrorClass::Configuration);
}

#[test]
fn auth_methods_parse_from_fleet_file_words() {
    use fleetctl_core::oci::auth::AuthMethod;
    assert_eq!("user".parse::<AuthMethod>().unwrap(), AuthMethod::User);
    assert_eq!(
        " Instance ".parse::<AuthMethod>().unwrap(),
        AuthMethod::Instance
    );
    assert_eq!(
        "resource".parse::<AuthMethod>().unwrap(),
        AuthMethod::Resource
    );
    let err = "api_key".parse::<AuthMethod>().unwrap_err();
    assert!(err.contains("`api_key`") && err.contains("`user`"), "{err}");
    assert_eq!(AuthMethod::Instance.to_string(), "instance");
}

#[test]
fn endpoints_for_a_provider_use_its_region_and_the_override() {
    use fleetctl_core::env::Env;
    use fleetctl_core::oci::auth::{AuthSettings, endpoints_for};
    let provider = CountingProvider::new();
    let settings = AuthSettings::default();
    let e = endpoints_for(provider.as_ref(), &settings, &Env::empty()).unwrap();
    assert_eq!(
        e.base_url(Service::Identity).unwrap().as_str(),
        "https://identity.us-ashburn-1.oci.oraclecloud.com/"
    );
    let env = Env::from_pairs([("FLEETCTL_OCI_ENDPOINT", "http://127.0.0.1:8999")]);
    let e = endpoints_for(provider.as_ref(), &settings, &env).unwrap();
    assert_eq!(
        e.base_url(Service::Core).unwrap().as_str(),
        "http://127.0.0.1:8999/"
    );
}

// ------------------------------------------------------------------------------------------
// Review fixes
// ------------------------------------------------------------------------------------------

#[test]
fn the_debug_of_a_request_shows_the_body_length_not_the_body() {
    let req = OciRequest::new(
        "LaunchInstance",
        Service::Core,
        Method::POST,
        "/20160918/instances",
    )
    .json_body(&serde_json::json!({"metadata": {"user_data": "c2VjcmV0LXBhc3N3b3Jk"}}))
    .unwrap();
    let shown = format!("{req:?}");
    assert!(!shown.contains("c2VjcmV0LXBhc3N3b3Jk"), "{shown}");
    assert!(shown.contains("LaunchInstance"), "{shown}");
    assert!(
        shown.contains(&format!("{} bytes", req.body.len())),
        "{shown}"
    );
}

#[test]
fn a_request_our_own_code_cannot_sign_is_an_internal_error() {
    use fleetctl_core::oci::signer::SignError;
    use fleetctl_core::{Error, ErrorClass};
    let err = Error::from(OciError::Sign {
        operation: "GetUser",
        source: SignError::BadContentType,
    });
    assert_eq!(err.class(), ErrorClass::Internal);
}

pub(crate) fn list_client(base: &str) -> OciClient {
    let clock = ManualClock::new(VECTOR_DATE);
    let sleeper = RecordingSleeper::new(clock.clone());
    client(CountingProvider::new(), base, &clock, &sleeper)
}

#[tokio::test]
async fn a_list_answer_without_an_items_array_is_an_error_not_an_empty_list() {
    // For a fleet manager "0 instances" means "launch the whole fleet again": a body that is
    // not a list must never read as an empty one.
    for body in [
        "{}",
        "null",
        r#"{"data":[]}"#,
        r#"{"items":{}}"#,
        r#""text""#,
        "7",
    ] {
        let server = TinyServer::start(move |_| json_answer(body)).await;
        let c = list_client(&server.url());
        let req = OciRequest::new(
            "ListInstances",
            Service::Core,
            Method::GET,
            "/20160918/instances",
        );
        let err = c.list_all::<serde_json::Value>(&req).await.expect_err(body);
        assert!(matches!(err, OciError::Decode { .. }), "{body}: {err:?}");
        assert_eq!(err.kind(), ErrorKind::Local);
    }
    for body in ["[]", r#"{"items":[]}"#] {
        let server = TinyServer::start(move |_| json_answer(body)).await;
        let c = list_client(&server.url());
        let req = OciRequest::new(
            "ListInstances",
            Service::Core,
            Method::GET,
            "/20160918/instances",
        );
        let items = c.list_all::<serde_json::Value>(&req).await.unwrap();
        assert!(items.is_empty(), "{body}");
    }
}

#[test]
fn an_unknown_region_is_accepted_with_a_warning_naming_it() {
    use fleetctl_core::env::Env;
    let (captured, _guard) = capture_tracing();
    let r = Region::parse("us-ashburn1", "the `region` setting").unwrap();
    assert!(!r.is_known());
    let warnings = captured.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("us-ashburn1")
            && warnings[0].contains("oc1")
            && warnings[0].contains("OCI_REGION_METADATA"),
        "{warnings:?}"
    );
    // Known regions, and regions OCI_REGION_METADATA describes, are not warned about.
    Region::parse("us-ashburn-1", "test").unwrap();
    let meta = r#"{"realmKey":"oc1","realmDomainComponent":"oraclecloud.com","regionKey":"NEW","regionIdentifier":"xx-new-1"}"#;
    let r = Region::resolve(
        "xx-new-1",
        "test",
        &Env::from_pairs([("OCI_REGION_METADATA", meta)]),
    )
    .unwrap();
    assert!(r.is_known());
    assert_eq!(captured.warnings().len(), 1, "{:?}", captured.warnings());
}

#[test]
fn failures_of_our_own_key_generation_or_federation_signing_are_internal_errors() {
    use fleetctl_core::oci::keys::KeyError;
    use fleetctl_core::oci::signer::SignError;
    use fleetctl_core::{Error, ErrorClass};
    for auth in [
        AuthError::SessionKey(KeyError::GenerationFailed),
        AuthError::FederationSigning(SignError::BadContentType),
    ] {
        assert!(
            auth.is_internal() && !auth.is_configuration_problem(),
            "{auth:?}"
        );
        let wrapped = OciError::Auth {
            operation: "GetUser",
            source: auth,
        };
        assert!(wrapped.is_internal());
        assert_eq!(Error::from(wrapped).class(), ErrorClass::Internal);
    }
    assert_eq!(
        Error::from(AuthError::SessionKey(KeyError::GenerationFailed)).class(),
        ErrorClass::Internal
    );
}

#[test]
fn a_list_page_is_an_array_or_an_object_with_an_items_array() {
    use fleetctl_core::oci::client::decode_list_page;
    let items: Vec<u32> = decode_list_page("ListX", None, b"[1,2]").unwrap();
    assert_eq!(items, [1, 2]);
    let items: Vec<u32> = decode_list_page("ListX", None, br#"{"items":[3],"x":1}"#).unwrap();
    assert_eq!(items, [3]);
    for (body, says) in [
        (&b"{}"[..], "without an `items` array"),
        (b"null", "null"),
        (br#"{"items":null}"#, "null, not an array"),
        (br#"{"items":{}}"#, "an object, not an array"),
        (b"\"x\"", "a string"),
        (b"not json", ""),
        (br#"["a"]"#, ""),
    ] {
        let err = decode_list_page::<u32>("ListX", Some("req-1"), body).unwrap_err();
        assert!(matches!(err, OciError::Decode { .. }), "{err:?}");
        assert_eq!(err.request_id(), Some("req-1"));
        let chain = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(chain.contains(says) && chain.contains("ListX"), "{chain}");
    }
}
