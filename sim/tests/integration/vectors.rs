//! The verifier against the signing vectors the official Python SDK produced
//! (`tests/data/oci-signing-vectors.json`), with the vector key registered and the clock pinned
//! to the vectors' date.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use oci_sim::auth::{
    AuthError, FederationCert, KeyIdKind, KeyStore, Principal, SignedRequest, SigningRule,
    VerifyTime, verify,
};
use oci_sim::crypto::{PublicJwk, RsaKey, sha1_fingerprint, sha256_fingerprint};
use serde_json::Value;
use x509_cert::der::Decode as _;

use super::common::pem_to_der;

struct Vectors {
    doc: Value,
    store: KeyStore,
    time: VerifyTime,
}

fn load() -> Vectors {
    let text = include_str!("../data/oci-signing-vectors.json");
    let doc: Value = serde_json::from_str(text).unwrap();
    let fixed = &doc["fixed_inputs"];
    let key_der = pem_to_der(
        doc["key_material"]["private_key_pkcs8_pem"]
            .as_str()
            .unwrap(),
    );
    let key = RsaKey::from_pkcs8_der(&key_der).unwrap();
    assert_eq!(
        key.md5_fingerprint(),
        doc["fingerprint_md5_colon_hex"].as_str().unwrap(),
        "the simulator's fingerprint of the vector key differs from the SDK's"
    );
    let tenancy = fixed["tenancy"].as_str().unwrap();
    let mut store = KeyStore::default();
    store.add_api_key(
        tenancy,
        fixed["user"].as_str().unwrap(),
        fixed["fingerprint"].as_str().unwrap(),
        key.public_jwk(),
    );
    // The vector tokens are self-signed with the vector key: trust it as the token issuer.
    store.add_token_key(key.public_jwk());
    store.add_verbatim_key(
        "resource/v2.1/ocid1.datascienceproject.oc1.iad.testvectorresource",
        tenancy,
        key.public_jwk(),
    );
    let fed = doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "instance_principal_federation_x509")
        .unwrap();
    let cert_der = pem_to_der(fed["leaf_certificate_pem"].as_str().unwrap());
    assert_eq!(
        sha1_fingerprint(&cert_der),
        fed["leaf_certificate_sha1_fingerprint"].as_str().unwrap()
    );
    assert!(
        sha256_fingerprint(&cert_der).eq_ignore_ascii_case(
            fed["leaf_certificate_sha256_fingerprint_go_style"]
                .as_str()
                .unwrap()
        )
    );
    let not_after = x509_cert::Certificate::from_der(&cert_der)
        .unwrap()
        .tbs_certificate()
        .validity()
        .not_after
        .to_unix_duration()
        .as_secs();
    store.add_certificate(FederationCert {
        not_after: i64::try_from(not_after).unwrap(),
        sha1: sha1_fingerprint(&cert_der),
        sha256: sha256_fingerprint(&cert_der),
        der: cert_der,
        public: key.public_jwk(),
        tenancy: tenancy.to_string(),
        instance_id:
            "ocid1.instance.oc1.iad.anuwcljtestvectorinstancexxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                .to_string(),
    });
    let date = httpdate::parse_http_date(fixed["date"].as_str().unwrap()).unwrap();
    let token_now = i64::try_from(
        date.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    Vectors {
        doc,
        store,
        time: VerifyTime {
            real_now: date,
            token_now,
        },
    }
}

struct Req {
    method: Method,
    target: String,
    headers: HeaderMap,
    body: Vec<u8>,
    rule: SigningRule,
}

fn request(v: &Value) -> Req {
    let (method, target) = v["request_target"]
        .as_str()
        .unwrap()
        .split_once(' ')
        .unwrap();
    let mut headers = HeaderMap::new();
    for pair in v["headers_after_signing"].as_array().unwrap() {
        headers.append(
            HeaderName::from_bytes(pair[0].as_str().unwrap().as_bytes()).unwrap(),
            HeaderValue::from_str(pair[1].as_str().unwrap()).unwrap(),
        );
    }
    let rule = if v["signer"] == "fed_x509" {
        SigningRule::Federation
    } else if v["enforce_content_headers"] == false {
        SigningRule::BodyOptional
    } else {
        SigningRule::Standard
    };
    Req {
        method: Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap(),
        target: target.to_string(),
        headers,
        body: STANDARD.decode(v["body_b64"].as_str().unwrap()).unwrap(),
        rule,
    }
}

fn check(vs: &Vectors, r: &Req, time: VerifyTime) -> Result<Principal, AuthError> {
    verify(
        &SignedRequest {
            method: &r.method,
            target: &r.target,
            headers: &r.headers,
            body: &r.body,
        },
        r.rule,
        time,
        &vs.store,
    )
}

fn vectors(vs: &Vectors) -> impl Iterator<Item = &Value> {
    vs.doc["vectors"].as_array().unwrap().iter()
}

fn named<'a>(vs: &'a Vectors, name: &str) -> &'a Value {
    vectors(vs).find(|v| v["name"] == name).unwrap()
}

#[test]
fn every_sdk_vector_is_accepted_with_the_right_principal() {
    let vs = load();
    let mut seen = 0;
    for v in vectors(&vs) {
        let name = v["name"].as_str().unwrap();
        let principal = check(&vs, &request(v), vs.time)
            .unwrap_or_else(|e| panic!("vector {name} refused: {e}"));
        let expected_kind = match v["signer"].as_str().unwrap() {
            "api_key" => KeyIdKind::ApiKey,
            "security_token" => KeyIdKind::Session,
            "resource_principal_v2.2" | "resource_principal_v2.1" => KeyIdKind::Resource,
            "fed_x509" => KeyIdKind::Federation,
            other => panic!("unknown signer {other}"),
        };
        assert_eq!(principal.kind(), expected_kind, "vector {name}");
        assert_eq!(
            principal.tenancy(),
            vs.doc["fixed_inputs"]["tenancy"].as_str().unwrap(),
            "vector {name}"
        );
        seen += 1;
    }
    assert_eq!(seen, 16, "the vector file should hold 16 vectors");
}

#[test]
fn vector_with_a_changed_path_is_refused() {
    let vs = load();
    let mut r = request(named(&vs, "get_list_users_query_encoding"));
    r.target = r.target.replace("limit=10", "limit=11");
    assert_eq!(check(&vs, &r, vs.time), Err(AuthError::SignatureMismatch));
}

#[test]
fn vector_request_target_is_not_normalised() {
    // Decoding `%2B` to `+` changes the bytes the SDK signed: must not verify.
    let vs = load();
    let mut r = request(named(&vs, "get_list_users_query_encoding"));
    assert!(r.target.contains("%2B"));
    r.target = r.target.replace("%2B", "+");
    assert_eq!(check(&vs, &r, vs.time), Err(AuthError::SignatureMismatch));
}

#[test]
fn vector_with_a_changed_body_is_refused() {
    let vs = load();
    let mut r = request(named(&vs, "put_json_update_user"));
    let last = r.body.len() - 2;
    r.body[last] ^= 0x01;
    assert_eq!(check(&vs, &r, vs.time), Err(AuthError::BodyHash));
}

#[test]
fn vector_outside_the_five_minute_window_is_refused() {
    let vs = load();
    let r = request(named(&vs, "delete_object"));
    for (shift, ok) in [(299, true), (301, false)] {
        for later in [true, false] {
            let real_now = if later {
                vs.time.real_now + Duration::from_secs(shift)
            } else {
                vs.time.real_now - Duration::from_secs(shift)
            };
            let t = VerifyTime {
                real_now,
                ..vs.time
            };
            let result = check(&vs, &r, t);
            if ok {
                assert!(result.is_ok(), "{shift}s skew should pass: {result:?}");
            } else {
                assert!(
                    matches!(result, Err(AuthError::ClockSkew { .. })),
                    "{result:?}"
                );
            }
        }
    }
}

#[test]
fn vector_token_past_its_exp_is_refused() {
    let vs = load();
    let r = request(named(&vs, "security_token_get"));
    let t = VerifyTime {
        token_now: 4_102_444_800,
        ..vs.time
    };
    assert!(matches!(
        check(&vs, &r, t),
        Err(AuthError::Token(oci_sim::jwt::TokenError::Expired { .. }))
    ));
}

#[test]
fn vector_token_from_an_untrusted_issuer_is_refused() {
    let mut vs = load();
    let r = request(named(&vs, "resource_principal_v2_2_get"));
    let mut store = KeyStore::default();
    store.add_token_key(RsaKey::generate().unwrap().public_jwk());
    vs.store = store;
    assert_eq!(
        check(&vs, &r, vs.time),
        Err(AuthError::Token(oci_sim::jwt::TokenError::Signature))
    );
}

#[test]
fn vector_signed_with_another_key_is_refused() {
    let mut vs = load();
    let fixed = vs.doc["fixed_inputs"].clone();
    let other: PublicJwk = RsaKey::generate().unwrap().public_jwk();
    vs.store.add_api_key(
        fixed["tenancy"].as_str().unwrap(),
        fixed["user"].as_str().unwrap(),
        fixed["fingerprint"].as_str().unwrap(),
        other,
    );
    let r = request(named(&vs, "get_namespace_no_query"));
    assert_eq!(check(&vs, &r, vs.time), Err(AuthError::SignatureMismatch));
}

#[test]
fn unsigned_body_vector_is_refused_where_the_body_must_be_signed() {
    // PutObject's SDK request signs no body headers: fine for PutObject, not for a normal PUT.
    let vs = load();
    let mut r = request(named(&vs, "put_object_binary_body_unsigned"));
    assert!(check(&vs, &r, vs.time).is_ok());
    r.rule = SigningRule::Standard;
    assert_eq!(
        check(&vs, &r, vs.time),
        Err(AuthError::MissingSignedHeader("content-length"))
    );
}

#[test]
fn vector_federation_with_an_expired_certificate_is_refused() {
    let vs = load();
    let fed = named(&vs, "instance_principal_federation_x509");
    let r = request(fed);
    assert!(check(&vs, &r, vs.time).is_ok());
    let cert = x509_cert::Certificate::from_der(&pem_to_der(
        fed["leaf_certificate_pem"].as_str().unwrap(),
    ))
    .unwrap();
    let not_after = i64::try_from(
        cert.tbs_certificate()
            .validity()
            .not_after
            .to_unix_duration()
            .as_secs(),
    )
    .unwrap();
    let t = VerifyTime {
        token_now: not_after + 1,
        ..vs.time
    };
    assert_eq!(
        check(&vs, &r, t),
        Err(AuthError::CertificateExpired {
            not_after,
            now: not_after + 1
        })
    );
}
