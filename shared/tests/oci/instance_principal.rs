//! Instance principal: leaf certificate parsing, the federation request (body, keyId,
//! signature without `host`), the reply, and token caching/refresh decisions with a controlled
//! clock. The HTTP part is replaced by a fake [`Federation`] that builds each call from fixed
//! IMDS documents with the real `prepare_federation`.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::oci_support;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fleetctl_core::clock::{Clock, ManualClock, RecordingSleeper};
use fleetctl_core::env::Env;
use fleetctl_core::ids::{InstanceId, TenancyId};
use fleetctl_core::oci::auth::instance::{
    FederatedToken, Federation, FederationBudget, IMDS_PROBE_RETRY, ImdsDocuments,
    InstancePrincipalProvider, LeafCertificate, federation_url, imds_status_is_retryable,
    metadata_base_url, parse_federation_response, prepare_federation,
};
use fleetctl_core::oci::auth::{
    AuthContext, AuthError, AuthMethod, AuthSettings, CredentialProvider, PrincipalKind,
    build_provider, needs_refresh,
};
use fleetctl_core::oci::keys::SigningKey;
use fleetctl_core::oci::region::Region;
use fleetctl_core::oci::signer::{BodyMode, KeyId, SignRequest, sign, signing_string};
use fleetctl_core::oci::token::SecurityToken;
use http::{HeaderMap, HeaderValue, Method};
use oci_support::*;
use time::macros::datetime;

fn vector_docs() -> ImdsDocuments {
    let v = vector("instance_principal_federation_x509");
    ImdsDocuments {
        leaf_certificate_pem: v["leaf_certificate_pem"].as_str().unwrap().to_string(),
        // In the vectors the leaf key is the test key.
        leaf_private_key_pem: key_pem("private_key_pkcs1_pem"),
        intermediate_certificate_pem: v["intermediate_certificate_pem"]
            .as_str()
            .unwrap()
            .to_string(),
    }
}

fn other_tenancy_docs() -> ImdsDocuments {
    ImdsDocuments {
        leaf_certificate_pem: data("leaf_other_tenancy_cert.pem"),
        leaf_private_key_pem: data("second_key_pkcs8.pem"),
        intermediate_certificate_pem: vector_docs().intermediate_certificate_pem,
    }
}

const VECTOR_TENANCY: &str =
    "ocid1.tenancy.oc1..aaaaaaaatestvectortenancyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

// ------------------------------------------------------------------------------------------
// Certificates and the federation request
// ------------------------------------------------------------------------------------------

#[test]
fn the_tenancy_comes_from_opc_tenant_even_beyond_64_characters() {
    let leaf = LeafCertificate::from_pem(&data("leaf_other_tenancy_cert.pem")).unwrap();
    assert_eq!(
        leaf.tenancy().as_str(),
        "ocid1.tenancy.oc1..aaaaaaaaothertenancyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    );
    assert_eq!(
        leaf.sha256_fingerprint(),
        "59:5B:25:AD:E8:C5:90:91:26:4E:5F:92:A2:7A:41:2E:38:77:BC:9E:DE:B3:6F:15:B5:D6:C7:60:F3:F2:9B:1A"
    );
}

#[test]
fn opc_identity_is_accepted_and_a_subject_without_tenancy_is_refused() {
    let leaf = LeafCertificate::from_pem(&data("leaf_identity_prefix_cert.pem")).unwrap();
    assert!(
        leaf.tenancy()
            .as_str()
            .starts_with("ocid1.tenancy.oc1..aaaaaaaaidentityprefix")
    );
    let err = LeafCertificate::from_pem(&data("leaf_without_tenant_cert.pem")).unwrap_err();
    assert!(err.to_string().contains("opc-tenant"), "{err}");
    let err = LeafCertificate::from_pem("not a pem").unwrap_err();
    assert!(err.to_string().contains("/identity/cert.pem"), "{err}");
}

#[test]
fn the_federation_body_has_the_documented_fields() {
    use base64::Engine as _;
    let docs = vector_docs();
    let session = SigningKey::generate_rsa_2048().unwrap();
    let req = prepare_federation(&docs, &session, None).unwrap();
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    // `certificate`: the leaf PEM without armour and newlines.
    let stripped: String = docs
        .leaf_certificate_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(body["certificate"], stripped);
    // `publicKey`: the *session* public key (SPKI), not the leaf's.
    assert_eq!(
        b64.decode(body["publicKey"].as_str().unwrap()).unwrap(),
        session.public_key_der()
    );
    let intermediate: String = docs
        .intermediate_certificate_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(
        body["intermediateCertificates"],
        serde_json::json!([intermediate])
    );
    assert_eq!(body["purpose"], "DEFAULT");
    assert_eq!(body["fingerprintAlgorithm"], "SHA256");
    assert_eq!(
        req.key_id.header_value(),
        format!(
            "{VECTOR_TENANCY}/fed-x509-sha256/71:64:29:36:7C:74:51:BA:25:16:CE:97:0D:E8:6C:3D:73:B5:3A:74:BF:D3:B2:3E:D5:C9:B0:3D:58:E1:7F:F3"
        )
    );
    assert_eq!(req.leaf_key, vector_key());
    assert_eq!(req.tenancy.as_str(), VECTOR_TENANCY);
}

#[test]
fn the_federation_call_is_signed_with_the_leaf_key_and_without_host() {
    let docs = vector_docs();
    let session = SigningKey::generate_rsa_2048().unwrap();
    let req = prepare_federation(&docs, &session, None).unwrap();
    let url = url::Url::parse("https://auth.us-ashburn-1.oraclecloud.com/v1/x509").unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let r = SignRequest {
        method: &Method::POST,
        url: &url,
        headers: &headers,
        body: &req.body,
        body_mode: BodyMode::Federation,
    };
    let s = signing_string(&r, VECTOR_DATE).unwrap();
    assert_eq!(
        s.headers,
        [
            "date",
            "(request-target)",
            "content-length",
            "content-type",
            "x-content-sha256"
        ]
    );
    let signed = sign(&r, &req.key_id, &req.leaf_key, VECTOR_DATE).unwrap();
    assert_eq!(signed.get("host"), None);
    let auth = signed.get("authorization").unwrap();
    assert!(verify(
        vector_key().public_key_der(),
        s.text.as_bytes(),
        &signature_param(auth)
    ));
    assert!(!verify(
        session.public_key_der(),
        s.text.as_bytes(),
        &signature_param(auth)
    ));
}

#[test]
fn a_certificate_for_another_tenancy_is_refused_at_refresh() {
    let session = SigningKey::generate_rsa_2048().unwrap();
    let err = prepare_federation(
        &other_tenancy_docs(),
        &session,
        Some(&TenancyId::parse(VECTOR_TENANCY).unwrap()),
    )
    .unwrap_err();
    assert!(matches!(err, AuthError::TenancyChanged { .. }), "{err:?}");
    assert!(err.to_string().contains("othertenancy"), "{err}");
}

#[test]
fn the_reply_token_is_read_and_bad_replies_are_explained() {
    let v = vector("instance_principal_federation_x509");
    let reply = serde_json::to_vec(&v["response_body"]).unwrap();
    let token = parse_federation_response(&reply).unwrap();
    assert_eq!(token.expose(), token_from_vector());
    assert!(
        parse_federation_response(b"<html>")
            .unwrap_err()
            .contains("not JSON")
    );
    assert!(
        parse_federation_response(b"{\"tok\":1}")
            .unwrap_err()
            .contains("`token`")
    );
}

fn token_from_vector() -> String {
    token("instance_principal_token")
}

#[test]
fn imds_retries_404_429_and_5xx_only() {
    for s in [404, 429, 500, 502, 503] {
        assert!(imds_status_is_retryable(s), "{s}");
    }
    for s in [400, 401, 403, 409] {
        assert!(!imds_status_is_retryable(s), "{s}");
    }
}

#[test]
fn metadata_url_is_setting_then_env_then_default() {
    let s = AuthSettings {
        metadata_base_url: Some(url::Url::parse("http://127.0.0.1:9001/opc/v2").unwrap()),
        ..AuthSettings::default()
    };
    let env = Env::from_pairs([("OCI_METADATA_BASE_URL", "http://127.0.0.1:9002/opc/v2")]);
    assert_eq!(
        metadata_base_url(&s, &env).unwrap().as_str(),
        "http://127.0.0.1:9001/opc/v2"
    );
    assert_eq!(
        metadata_base_url(&AuthSettings::default(), &env)
            .unwrap()
            .as_str(),
        "http://127.0.0.1:9002/opc/v2"
    );
    assert_eq!(
        metadata_base_url(&AuthSettings::default(), &Env::empty())
            .unwrap()
            .as_str(),
        "http://169.254.169.254/opc/v2"
    );
    let bad = Env::from_pairs([("OCI_METADATA_BASE_URL", "169.254.169.254")]);
    assert!(
        metadata_base_url(&AuthSettings::default(), &bad)
            .unwrap_err()
            .to_string()
            .contains("OCI_METADATA_BASE_URL")
    );
}

#[test]
fn federation_goes_to_the_auth_host_of_the_realm_or_to_the_override() {
    let iad = Region::parse("iad", "test").unwrap();
    assert_eq!(
        federation_url(&AuthSettings::default(), &Env::empty(), &iad)
            .unwrap()
            .as_str(),
        "https://auth.us-ashburn-1.oraclecloud.com/v1/x509"
    );
    let madrid2 = Region::parse("eu-madrid-2", "test").unwrap();
    assert_eq!(
        federation_url(&AuthSettings::default(), &Env::empty(), &madrid2)
            .unwrap()
            .as_str(),
        "https://auth.eu-madrid-2.oraclecloud.eu/v1/x509"
    );
    let env = Env::from_pairs([("FLEETCTL_OCI_ENDPOINT", "http://127.0.0.1:8999")]);
    assert_eq!(
        federation_url(&AuthSettings::default(), &env, &iad)
            .unwrap()
            .as_str(),
        "http://127.0.0.1:8999/v1/x509"
    );
}

// ------------------------------------------------------------------------------------------
// Caching and refresh, with a fake federation and a controlled clock
// ------------------------------------------------------------------------------------------

#[derive(Debug)]
struct FakeFederation {
    docs: Mutex<ImdsDocuments>,
    clock: ManualClock,
    ttl: Duration,
    calls: AtomicU32,
    fail: AtomicBool,
    session_keys: Mutex<Vec<SigningKey>>,
    budgets: Mutex<Vec<FederationBudget>>,
}

impl FakeFederation {
    fn new(clock: &ManualClock, ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            docs: Mutex::new(vector_docs()),
            clock: clock.clone(),
            ttl,
            calls: AtomicU32::new(0),
            fail: AtomicBool::new(false),
            session_keys: Mutex::new(Vec::new()),
            budgets: Mutex::new(Vec::new()),
        })
    }
    fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Lets the test keep a handle on the fake while the provider owns a box.
#[derive(Debug)]
struct Shared(Arc<FakeFederation>);

#[async_trait]
impl Federation for Shared {
    async fn federate(
        &self,
        expected: Option<&TenancyId>,
        budget: FederationBudget,
    ) -> Result<FederatedToken, AuthError> {
        let f = &self.0;
        f.budgets.lock().unwrap().push(budget);
        let n = f.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if f.fail.load(Ordering::SeqCst) {
            return Err(AuthError::Federation {
                url: "http://127.0.0.1:8999/v1/x509".into(),
                attempts: 3,
                status: ": HTTP 503".into(),
                source: None,
            });
        }
        let session = SigningKey::generate_rsa_2048().unwrap();
        let docs = f.docs.lock().unwrap().clone();
        let req = prepare_federation(&docs, &session, expected)?;
        let exp = f.clock.now() + f.ttl;
        let token = jwt(
            serde_json::json!({"tenant": req.tenancy.as_str(), "exp": exp.unix_timestamp(), "jti": n}),
        );
        f.session_keys.lock().unwrap().push(session.clone());
        Ok(FederatedToken {
            token: SecurityToken::parse(&token).unwrap(),
            session_key: session,
            tenancy: req.tenancy,
        })
    }
}

async fn provider(fake: &Arc<FakeFederation>, clock: &ManualClock) -> InstancePrincipalProvider {
    InstancePrincipalProvider::with_federation(
        Box::new(Shared(fake.clone())),
        Arc::new(clock.clone()),
        Region::parse("iad", "test").unwrap(),
        Some(InstanceId::parse("ocid1.instance.oc1.iad.i").unwrap()),
        "instance metadata at http://127.0.0.1:9001/opc/v2".into(),
    )
    .await
    .unwrap()
}

fn token_of(key_id: &KeyId) -> SecurityToken {
    match key_id {
        KeyId::SecurityToken(t) => t.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn needs_refresh_uses_a_five_minute_window() {
    let t = SecurityToken::parse(&jwt(
        serde_json::json!({"exp": datetime!(2025-01-14 09:00:00 UTC).unix_timestamp()}),
    ))
    .unwrap();
    assert!(!needs_refresh(&t, datetime!(2025-01-14 08:55:00 UTC)));
    assert!(needs_refresh(&t, datetime!(2025-01-14 08:55:01 UTC)));
}

#[tokio::test]
async fn the_token_is_cached_until_five_minutes_before_exp_then_renewed_with_a_new_session_key() {
    let clock = ManualClock::new(VECTOR_DATE);
    let fake = FakeFederation::new(&clock, Duration::from_secs(20 * 60));
    let p = provider(&fake, &clock).await;
    assert_eq!(fake.calls(), 1, "federates once at construction");
    let first = p.credentials().await.unwrap();
    clock.advance(Duration::from_secs(15 * 60)); // exactly 5 min left: still cached
    let again = p.credentials().await.unwrap();
    assert_eq!(fake.calls(), 1);
    assert!(Arc::ptr_eq(&first, &again));
    clock.advance(Duration::from_secs(1));
    let renewed = p.credentials().await.unwrap();
    assert_eq!(fake.calls(), 2);
    assert_ne!(token_of(&renewed.key_id), token_of(&first.key_id));
    assert_ne!(renewed.key, first.key, "a fresh session key per federation");
    let keys = fake.session_keys.lock().unwrap();
    assert_eq!(renewed.key, keys[1]);
}

#[tokio::test]
async fn a_401_forces_one_re_federation() {
    let clock = ManualClock::new(VECTOR_DATE);
    let fake = FakeFederation::new(&clock, Duration::from_secs(3600));
    let p = provider(&fake, &clock).await;
    let before = p.credentials().await.unwrap();
    assert!(p.refresh_after_unauthorized().await.unwrap());
    assert_eq!(fake.calls(), 2);
    assert_ne!(p.credentials().await.unwrap().key, before.key);
}

#[tokio::test]
async fn a_failed_refresh_keeps_a_still_valid_token_but_not_an_expired_one() {
    let clock = ManualClock::new(VECTOR_DATE);
    let fake = FakeFederation::new(&clock, Duration::from_secs(600));
    let p = provider(&fake, &clock).await;
    let first = p.credentials().await.unwrap();
    fake.fail.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(6 * 60));
    let still = p.credentials().await.unwrap();
    assert!(Arc::ptr_eq(&first, &still));
    clock.advance(Duration::from_secs(4 * 60));
    let err = p.credentials().await.unwrap_err();
    assert!(matches!(err, AuthError::Federation { .. }), "{err:?}");
    assert!(!err.is_configuration_problem());
    fake.fail.store(false, Ordering::SeqCst);
    assert!(
        p.credentials().await.is_ok(),
        "recovers once federation works again"
    );
}

#[tokio::test]
async fn a_tenancy_change_fails_at_once_even_with_a_valid_token() {
    let clock = ManualClock::new(VECTOR_DATE);
    let fake = FakeFederation::new(&clock, Duration::from_secs(600));
    let p = provider(&fake, &clock).await;
    *fake.docs.lock().unwrap() = other_tenancy_docs();
    clock.advance(Duration::from_secs(6 * 60));
    let err = p.credentials().await.unwrap_err();
    assert!(matches!(err, AuthError::TenancyChanged { .. }), "{err:?}");
    let err = p.refresh_after_unauthorized().await.unwrap_err();
    assert!(matches!(err, AuthError::TenancyChanged { .. }), "{err:?}");
}

#[tokio::test]
async fn the_principal_names_tenancy_and_instance() {
    let clock = ManualClock::new(VECTOR_DATE);
    let fake = FakeFederation::new(&clock, Duration::from_secs(600));
    let p = provider(&fake, &clock).await;
    let principal = p.principal();
    assert_eq!(principal.kind, PrincipalKind::Instance);
    assert_eq!(principal.tenancy.as_str(), VECTOR_TENANCY);
    assert_eq!(
        principal.instance.unwrap().as_str(),
        "ocid1.instance.oc1.iad.i"
    );
    assert_eq!(p.region().unwrap().id(), "us-ashburn-1");
}

#[tokio::test]
async fn a_metadata_service_that_refuses_connections_is_given_up_quickly() {
    // Port 1 on loopback refuses connections: no server is involved. On an OCI instance the
    // link-local metadata service always accepts connections, so this means "not an
    // instance": two attempts, not the three-minute budget kept for 429/5xx answers.
    let clock = ManualClock::new(VECTOR_DATE);
    let sleeper = RecordingSleeper::new(clock.clone());
    let ctx = AuthContext::new(Env::from_pairs([(
        "OCI_METADATA_BASE_URL",
        "http://127.0.0.1:1/opc/v2",
    )]))
    .with_clock(Arc::new(clock.clone()))
    .with_sleeper(Arc::new(sleeper.clone()));
    let settings = AuthSettings {
        method: Some(AuthMethod::Instance),
        ..AuthSettings::default()
    };
    let err = build_provider(&settings, &ctx).await.unwrap_err();
    match &err {
        AuthError::Imds { url, attempts, .. } => {
            assert_eq!(url, "http://127.0.0.1:1/opc/v2/instance/region");
            // The spec: "given up after 2 attempts".
            assert_eq!(*attempts, 2);
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_configuration_problem());
    let slept = sleeper.slept();
    assert_eq!(slept.len(), 1);
    assert!(slept.iter().sum::<Duration>() <= IMDS_PROBE_RETRY.max_total);
}

// ------------------------------------------------------------------------------------------
// Review fixes
// ------------------------------------------------------------------------------------------

#[test]
fn a_metadata_url_with_user_info_query_or_fragment_is_refused_without_echoing_it() {
    for (value, what) in [
        ("http://admin:s3cr3t-pw@127.0.0.1:9001/opc/v2", "user info"),
        ("http://s3cr3t-pw@127.0.0.1:9001/opc/v2", "user info"),
        ("http://127.0.0.1:9001/opc/v2?token=s3cr3t-pw", "query"),
        ("http://127.0.0.1:9001/opc/v2#s3cr3t-pw", "fragment"),
    ] {
        let env = Env::from_pairs([("OCI_METADATA_BASE_URL", value)]);
        let err = metadata_base_url(&AuthSettings::default(), &env).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(err, AuthError::InvalidMetadataUrl { .. }),
            "{err:?}"
        );
        assert!(msg.contains("OCI_METADATA_BASE_URL"), "{msg}");
        assert!(msg.contains(what), "{value}: {msg}");
        assert!(!msg.contains("s3cr3t-pw"), "{msg}");
        assert!(!format!("{err:?}").contains("s3cr3t-pw"), "{err:?}");
        assert!(err.is_configuration_problem());
        let s = AuthSettings {
            metadata_base_url: Some(url::Url::parse(value).unwrap()),
            ..AuthSettings::default()
        };
        let err = metadata_base_url(&s, &Env::empty()).unwrap_err();
        assert!(
            err.to_string().contains("`metadata_base_url` setting"),
            "{err}"
        );
        assert!(!err.to_string().contains("s3cr3t-pw"), "{err}");
        assert!(!format!("{s:?}").contains("s3cr3t-pw"), "{s:?}");
    }
}

/// Serves `/opc/v2/instance/region` and `/opc/v2/instance/id` with the given id.
async fn imds_with_instance_id(id: &'static str) -> TinyServer {
    TinyServer::start(move |req| {
        let body = match req.target() {
            "/opc/v2/instance/region" => "us-ashburn-1",
            "/opc/v2/instance/id" => id,
            _ => return (404, Vec::new(), Vec::new()),
        };
        (200, Vec::new(), body.as_bytes().to_vec())
    })
    .await
}

#[tokio::test]
async fn a_malformed_instance_id_from_the_metadata_service_is_an_infrastructure_error() {
    let imds = imds_with_instance_id("ocid1.image.oc1.iad.notaninstance").await;
    let clock = ManualClock::new(VECTOR_DATE);
    let ctx = AuthContext::new(Env::from_pairs([(
        "OCI_METADATA_BASE_URL",
        format!("{}/opc/v2", imds.url()),
    )]))
    .with_clock(Arc::new(clock.clone()))
    .with_sleeper(Arc::new(RecordingSleeper::new(clock)));
    let settings = AuthSettings {
        method: Some(AuthMethod::Instance),
        ..AuthSettings::default()
    };
    let err = build_provider(&settings, &ctx).await.unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::ImdsDocument {
                document: "/instance/id",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        !err.is_configuration_problem(),
        "not the user's config file"
    );
    assert_eq!(
        fleetctl_core::Error::from(err).class(),
        fleetctl_core::ErrorClass::Infrastructure
    );
}

/// A federation that fails slowly while `fail` is set, as when the metadata service answers
/// 5xx through a whole retry budget: a short attempt costs 3 s, a full one 95 s (on the
/// controlled clock).
#[derive(Debug)]
struct SlowFailing(Arc<FakeFederation>);

#[async_trait]
impl Federation for SlowFailing {
    async fn federate(
        &self,
        expected: Option<&TenancyId>,
        budget: FederationBudget,
    ) -> Result<FederatedToken, AuthError> {
        let f = &self.0;
        if f.fail.load(Ordering::SeqCst) {
            f.calls.fetch_add(1, Ordering::SeqCst);
            f.budgets.lock().unwrap().push(budget);
            f.clock.advance(match budget {
                FederationBudget::Short => Duration::from_secs(3),
                FederationBudget::Full => Duration::from_secs(95),
            });
            return Err(AuthError::Imds {
                url: "http://127.0.0.1:9001/opc/v2/identity/cert.pem".into(),
                attempts: 8,
                status: ": HTTP 503".into(),
                source: None,
            });
        }
        Shared(f.clone()).federate(expected, budget).await
    }
}

async fn provider_over(
    federation: Box<dyn Federation>,
    clock: &ManualClock,
) -> InstancePrincipalProvider {
    InstancePrincipalProvider::with_federation(
        federation,
        Arc::new(clock.clone()),
        Region::parse("iad", "test").unwrap(),
        None,
        "instance metadata at http://127.0.0.1:9001/opc/v2".into(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_failing_renewal_is_tried_briefly_and_at_most_every_interval_while_the_token_works() {
    let clock = ManualClock::new(VECTOR_DATE);
    let fake = FakeFederation::new(&clock, Duration::from_secs(20 * 60));
    let p = provider_over(Box::new(SlowFailing(fake.clone())), &clock).await;
    let first = p.credentials().await.unwrap();
    assert_eq!(fake.calls(), 1);
    assert_eq!(*fake.budgets.lock().unwrap(), [FederationBudget::Full]);
    fake.fail.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(16 * 60)); // 4 min left: renewal is due
    for _ in 0..20 {
        let c = p.credentials().await.unwrap();
        assert!(Arc::ptr_eq(&first, &c), "the still-valid token is used");
    }
    assert_eq!(fake.calls(), 2, "one failed attempt, not one per call");
    assert_eq!(
        fake.budgets.lock().unwrap()[1],
        FederationBudget::Short,
        "a renewal while the token works gets the short budget"
    );
    // The spec: "a failed attempt is repeated no sooner than 30 s later".
    clock.advance(Duration::from_secs(29));
    assert!(Arc::ptr_eq(&first, &p.credentials().await.unwrap()));
    assert_eq!(fake.calls(), 2, "not tried again before 30 s");
    clock.advance(Duration::from_secs(1));
    assert!(Arc::ptr_eq(&first, &p.credentials().await.unwrap()));
    assert_eq!(fake.calls(), 3, "tried again once 30 s have passed");

    // Expired: the full budget, and the failure is the caller's error.
    clock.advance(Duration::from_secs(4 * 60));
    let err = p.credentials().await.unwrap_err();
    assert!(matches!(err, AuthError::Imds { .. }), "{err:?}");
    assert_eq!(fake.calls(), 4);
    assert_eq!(
        fake.budgets.lock().unwrap()[3],
        FederationBudget::Full,
        "no usable token: the full budget"
    );
    fake.fail.store(false, Ordering::SeqCst);
    let renewed = p.credentials().await.unwrap();
    assert!(!Arc::ptr_eq(&first, &renewed), "recovers at the next call");
}

/// A federation that, while `fail` is set, waits at a gate the test opens, then fails.
#[derive(Debug)]
struct Gated {
    fake: Arc<FakeFederation>,
    entered: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
}

#[async_trait]
impl Federation for Gated {
    async fn federate(
        &self,
        expected: Option<&TenancyId>,
        budget: FederationBudget,
    ) -> Result<FederatedToken, AuthError> {
        if self.fake.fail.load(Ordering::SeqCst) {
            self.fake.calls.fetch_add(1, Ordering::SeqCst);
            self.entered.notify_one();
            self.release.notified().await;
            return Err(AuthError::Federation {
                url: "http://127.0.0.1:8999/v1/x509".into(),
                attempts: 3,
                status: ": HTTP 503".into(),
                source: None,
            });
        }
        Shared(self.fake.clone()).federate(expected, budget).await
    }
}

async fn gated_provider(
    ttl: Duration,
) -> (
    Arc<InstancePrincipalProvider>,
    Arc<FakeFederation>,
    ManualClock,
    Arc<tokio::sync::Notify>,
    Arc<tokio::sync::Notify>,
) {
    let clock = ManualClock::new(VECTOR_DATE);
    let fake = FakeFederation::new(&clock, ttl);
    let entered = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let p = provider_over(
        Box::new(Gated {
            fake: fake.clone(),
            entered: entered.clone(),
            release: release.clone(),
        }),
        &clock,
    )
    .await;
    (Arc::new(p), fake, clock, entered, release)
}

#[tokio::test]
async fn while_one_call_renews_a_still_valid_token_the_others_do_not_wait() {
    let (p, fake, clock, entered, release) = gated_provider(Duration::from_secs(600)).await;
    let first = p.credentials().await.unwrap();
    fake.fail.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(6 * 60));
    let renewing = tokio::spawn({
        let p = p.clone();
        async move { p.credentials().await }
    });
    entered.notified().await;
    let other = tokio::time::timeout(Duration::from_secs(5), p.credentials())
        .await
        .expect("a second call does not queue behind the renewal")
        .unwrap();
    assert!(Arc::ptr_eq(&first, &other));
    release.notify_one();
    let renewed = renewing.await.unwrap().unwrap();
    assert!(Arc::ptr_eq(&first, &renewed), "the failure is tolerated");
    assert_eq!(fake.calls(), 2);
}

#[tokio::test]
async fn calls_queued_behind_a_failed_renewal_of_an_expired_token_get_its_failure() {
    let (p, fake, clock, entered, release) = gated_provider(Duration::from_secs(600)).await;
    fake.fail.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(11 * 60)); // expired
    let first = tokio::spawn({
        let p = p.clone();
        async move { p.credentials().await }
    });
    entered.notified().await;
    let queued: Vec<_> = (0..3)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { p.credentials().await })
        })
        .collect();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    release.notify_one();
    let err = first.await.unwrap().unwrap_err();
    assert!(matches!(err, AuthError::Federation { .. }), "{err:?}");
    for q in queued {
        let err = q.await.unwrap().unwrap_err();
        assert!(matches!(err, AuthError::TokenExpired { .. }), "{err:?}");
        assert!(err.to_string().contains("renewal"), "{err}");
        assert!(!err.is_configuration_problem());
    }
    assert_eq!(fake.calls(), 2, "the queued calls did not federate again");
}

/// A federation that never answers while `fail` is set.
#[derive(Debug)]
struct Hanging(Arc<FakeFederation>);

#[async_trait]
impl Federation for Hanging {
    async fn federate(
        &self,
        expected: Option<&TenancyId>,
        budget: FederationBudget,
    ) -> Result<FederatedToken, AuthError> {
        if self.0.fail.load(Ordering::SeqCst) {
            self.0.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Shared(self.0.clone()).federate(expected, budget).await
    }
}

#[tokio::test(start_paused = true)]
async fn a_renewal_that_hangs_while_the_token_works_is_cut_short() {
    let clock = ManualClock::new(VECTOR_DATE);
    let fake = FakeFederation::new(&clock, Duration::from_secs(600));
    let p = provider_over(Box::new(Hanging(fake.clone())), &clock).await;
    let first = p.credentials().await.unwrap();
    fake.fail.store(true, Ordering::SeqCst);
    clock.advance(Duration::from_secs(6 * 60));
    let started = tokio::time::Instant::now();
    let c = p.credentials().await.unwrap();
    assert!(Arc::ptr_eq(&first, &c));
    // The spec: "one call tries (at most 10 s, short retries)".
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    assert_eq!(fake.calls(), 2);
}

/// Resolves one name to 127.0.0.1 and refuses every other, so nothing leaves loopback.
#[derive(Debug)]
struct OneName(&'static str);

impl reqwest::dns::Resolve for OneName {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let known = name.as_str() == self.0;
        Box::pin(async move {
            if known {
                let addrs: reqwest::dns::Addrs = Box::new(std::iter::once(
                    std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                ));
                Ok(addrs)
            } else {
                Err("Name or service not known".into())
            }
        })
    }
}

#[tokio::test]
async fn federation_goes_through_the_environments_proxy_and_the_metadata_service_does_not() {
    let docs = vector_docs();
    let imds = TinyServer::start(move |req| {
        let body = match req.target() {
            "/opc/v2/instance/region" => "us-ashburn-1".to_string(),
            "/opc/v2/instance/id" => "ocid1.instance.oc1.iad.fleethost".to_string(),
            "/opc/v2/identity/cert.pem" => docs.leaf_certificate_pem.clone(),
            "/opc/v2/identity/key.pem" => docs.leaf_private_key_pem.clone(),
            "/opc/v2/identity/intermediate.pem" => docs.intermediate_certificate_pem.clone(),
            _ => return (404, Vec::new(), Vec::new()),
        };
        (200, Vec::new(), body.into_bytes())
    })
    .await;
    // The proxy refuses every tunnel and every forwarded request: nothing goes further than
    // 127.0.0.1, and a metadata request sent through it would fail.
    let proxy = TinyServer::start(|_| (403, Vec::new(), Vec::new())).await;
    // The metadata service under a name that is not loopback-looking (so the loopback rule
    // cannot be what keeps it direct) but that resolves to the local server.
    let imds_port = imds.url().rsplit(':').next().unwrap().to_string();
    let clock = ManualClock::new(VECTOR_DATE);
    let ctx = AuthContext::new(Env::from_pairs([
        (
            "OCI_METADATA_BASE_URL",
            format!("http://imds.fleet.test:{imds_port}/opc/v2"),
        ),
        ("HTTPS_PROXY", proxy.url()),
        ("HTTP_PROXY", proxy.url()),
    ]))
    .with_clock(Arc::new(clock.clone()))
    .with_sleeper(Arc::new(RecordingSleeper::new(clock)))
    .with_dns_resolver(Arc::new(OneName("imds.fleet.test")));
    let settings = AuthSettings {
        method: Some(AuthMethod::Instance),
        ..AuthSettings::default()
    };
    let err = build_provider(&settings, &ctx).await.unwrap_err();
    assert!(matches!(err, AuthError::Federation { .. }), "{err:?}");
    let tunnels: Vec<String> = proxy
        .received()
        .iter()
        .map(|r| r.request_line.clone())
        .collect();
    assert!(!tunnels.is_empty());
    assert!(
        tunnels
            .iter()
            .all(|l| l == "CONNECT auth.us-ashburn-1.oraclecloud.com:443 HTTP/1.1"),
        "{tunnels:?}"
    );
    let fetched: Vec<String> = imds
        .received()
        .iter()
        .map(|r| r.target().to_string())
        .collect();
    assert!(
        fetched.contains(&"/opc/v2/identity/cert.pem".to_string()),
        "{fetched:?}"
    );
}

#[test]
fn a_certificate_naming_a_malformed_tenancy_is_an_unusable_metadata_document() {
    let err = LeafCertificate::from_pem(&data("leaf_bad_tenancy_cert.pem")).unwrap_err();
    assert!(
        matches!(
            err,
            AuthError::ImdsDocument {
                document: "/identity/cert.pem",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("opc-tenant"), "{err}");
    assert_eq!(
        fleetctl_core::Error::from(err).class(),
        fleetctl_core::ErrorClass::Infrastructure
    );
}
