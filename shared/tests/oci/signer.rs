//! The request signer against the 16 official SDK vectors (stage by stage: request target,
//! signing string, then the headers), and against the rules beyond the vectors.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::oci_support;

use fleetctl_core::ids::{ResourceId, TenancyId, UserId};
use fleetctl_core::oci::auth::instance::LeafCertificate;
use fleetctl_core::oci::signer::{
    BodyMode, KeyId, SignRequest, http_date, request_target, sign, signing_string,
};
use fleetctl_core::oci::token::SecurityToken;
use http::{HeaderMap, HeaderValue, Method};
use oci_support::*;
use serde_json::Value;
use url::Url;

struct Case {
    name: String,
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Vec<u8>,
    mode: BodyMode,
    key_id: KeyId,
    v: Value,
}

fn key_id_for(v: &Value) -> KeyId {
    match v["signer"].as_str().unwrap() {
        "api_key" => KeyId::ApiKey {
            tenancy: TenancyId::parse(&fixed("tenancy")).unwrap(),
            user: UserId::parse(&fixed("user")).unwrap(),
            fingerprint: fixed("fingerprint"),
        },
        "security_token" => {
            KeyId::SecurityToken(SecurityToken::parse(&token("session_token")).unwrap())
        }
        "resource_principal_v2.2" => KeyId::SecurityToken(
            SecurityToken::parse(v["rpst_file_contents"].as_str().unwrap()).unwrap(),
        ),
        "resource_principal_v2.1" => KeyId::ResourceKeyPair {
            version: "2.1".into(),
            tenancy: None,
            resource: ResourceId::parse("ocid1.datascienceproject.oc1.iad.testvectorresource")
                .unwrap(),
        },
        "fed_x509" => {
            let leaf =
                LeafCertificate::from_pem(v["leaf_certificate_pem"].as_str().unwrap()).unwrap();
            KeyId::FederationX509Sha1 {
                tenancy: leaf.tenancy().clone(),
                fingerprint: leaf.sha1_fingerprint(),
            }
        }
        other => panic!("unknown signer {other}"),
    }
}

fn cases() -> Vec<Case> {
    use base64::Engine as _;
    vectors_file()["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let mut headers = HeaderMap::new();
            for pair in v["headers_before_signing"].as_array().unwrap() {
                let (name, value) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
                // The signer reads only content-type from the caller's headers.
                if name.eq_ignore_ascii_case("content-type") {
                    headers.insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_str(value).unwrap(),
                    );
                }
            }
            let mode = if v["signer"] == "fed_x509" {
                BodyMode::Federation
            } else if v["enforce_content_headers"] == false {
                BodyMode::Unsigned
            } else {
                BodyMode::Signed
            };
            Case {
                name: v["name"].as_str().unwrap().to_string(),
                method: Method::from_bytes(v["method"].as_str().unwrap().as_bytes()).unwrap(),
                url: Url::parse(v["url"].as_str().unwrap()).unwrap(),
                headers,
                body: base64::engine::general_purpose::STANDARD
                    .decode(v["body_b64"].as_str().unwrap())
                    .unwrap(),
                mode,
                key_id: key_id_for(v),
                v: v.clone(),
            }
        })
        .collect()
}

fn req(c: &Case) -> SignRequest<'_> {
    SignRequest {
        method: &c.method,
        url: &c.url,
        headers: &c.headers,
        body: &c.body,
        body_mode: c.mode,
    }
}

#[test]
fn the_vector_file_has_sixteen_vectors_and_urls_survive_parsing_unchanged() {
    let cases = cases();
    assert_eq!(cases.len(), 16);
    for c in &cases {
        // The URL we sign is the URL we send: parsing must not re-encode anything.
        assert_eq!(c.url.as_str(), c.v["url"].as_str().unwrap(), "{}", c.name);
    }
}

#[test]
fn date_is_formatted_as_imf_fixdate() {
    assert_eq!(http_date(VECTOR_DATE), fixed("date"));
}

#[test]
fn every_vector_key_id_is_reproduced() {
    for c in cases() {
        assert_eq!(
            c.key_id.header_value(),
            c.v["key_id"].as_str().unwrap(),
            "{}",
            c.name
        );
    }
}

#[test]
fn stage_one_request_target_matches_every_vector() {
    for c in cases() {
        assert_eq!(
            request_target(&c.method, &c.url),
            c.v["request_target"].as_str().unwrap(),
            "{}",
            c.name
        );
    }
}

#[test]
fn stage_two_signing_string_and_header_list_match_every_vector() {
    for c in cases() {
        let s = signing_string(&req(&c), VECTOR_DATE).unwrap();
        let expected_headers: Vec<&str> = c.v["signed_headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        assert_eq!(s.headers, expected_headers, "{}", c.name);
        assert_eq!(
            s.text,
            c.v["signing_string"].as_str().unwrap(),
            "{}",
            c.name
        );
    }
}

#[test]
fn stage_three_authorization_header_matches_every_vector_byte_for_byte() {
    let key = vector_key();
    for c in cases() {
        let signed = sign(&req(&c), &c.key_id, &key, VECTOR_DATE).unwrap();
        assert_eq!(
            signed.get("authorization").unwrap(),
            c.v["expected"]["authorization"].as_str().unwrap(),
            "{}",
            c.name
        );
    }
}

#[test]
fn produced_headers_equal_the_sdk_values_for_every_vector() {
    let key = vector_key();
    for c in cases() {
        let signed = sign(&req(&c), &c.key_id, &key, VECTOR_DATE).unwrap();
        let expected = c.v["expected"].as_object().unwrap();
        // Every header the signer produces has the SDK's value.
        for (name, value) in signed.iter() {
            let want = expected
                .get(name.as_str())
                .unwrap_or_else(|| panic!("{}: unexpected header {name}", c.name));
            assert_eq!(
                value.to_str().unwrap(),
                want.as_str().unwrap(),
                "{} {name}",
                c.name
            );
        }
        // Every signed header is produced (host only where it is signed).
        for name in signed.signed_header_names() {
            if *name != "(request-target)" {
                assert!(signed.get(name).is_some(), "{}: {name} missing", c.name);
            }
        }
        // Body headers exist exactly for POST/PUT/PATCH; x-content-sha256 only when signed.
        let has_body = matches!(c.method, Method::POST | Method::PUT | Method::PATCH);
        assert_eq!(
            signed.get("content-length").is_some(),
            has_body,
            "{}",
            c.name
        );
        assert_eq!(
            signed.get("x-content-sha256").is_some(),
            has_body && c.mode != BodyMode::Unsigned,
            "{}",
            c.name
        );
        assert_eq!(
            signed.get("host").is_some(),
            c.mode != BodyMode::Federation,
            "{}",
            c.name
        );
    }
}

#[test]
fn the_federation_vector_certificate_gives_its_tenancy_and_both_fingerprints() {
    let v = vector("instance_principal_federation_x509");
    let leaf = LeafCertificate::from_pem(v["leaf_certificate_pem"].as_str().unwrap()).unwrap();
    assert_eq!(
        leaf.tenancy().as_str(),
        v["tenancy_from_certificate"].as_str().unwrap()
    );
    assert_eq!(
        leaf.sha1_fingerprint(),
        v["leaf_certificate_sha1_fingerprint"].as_str().unwrap()
    );
    // Go prints lower case; fleetctl sends upper case (the Rust SDK's form). Same digest.
    assert_eq!(
        leaf.sha256_fingerprint(),
        v["leaf_certificate_sha256_fingerprint_go_style"]
            .as_str()
            .unwrap()
            .to_ascii_uppercase()
    );
    let sha256_id = KeyId::FederationX509Sha256 {
        tenancy: leaf.tenancy().clone(),
        fingerprint: leaf.sha256_fingerprint(),
    };
    assert_eq!(
        sha256_id.header_value(),
        format!(
            "{}/fed-x509-sha256/71:64:29:36:7C:74:51:BA:25:16:CE:97:0D:E8:6C:3D:73:B5:3A:74:BF:D3:B2:3E:D5:C9:B0:3D:58:E1:7F:F3",
            fixed("tenancy")
        )
    );
}

// ---------------------------------------------------------------------------------------
// Rules beyond the vectors. Expected signing strings are written out by hand here and the
// signature is checked with the public key, so these tests do not repeat the signer's logic.
// ---------------------------------------------------------------------------------------

fn api_key_id() -> KeyId {
    KeyId::ApiKey {
        tenancy: TenancyId::parse("ocid1.tenancy.oc1..t").unwrap(),
        user: UserId::parse("ocid1.user.oc1..u").unwrap(),
        fingerprint: "aa:bb".into(),
    }
}

#[test]
fn patch_signs_the_body_headers_and_the_signature_verifies() {
    let url = Url::parse(
        "https://iaas.us-ashburn-1.oraclecloud.com/20160918/instances/ocid1.instance.oc1.iad.x",
    )
    .unwrap();
    let body = br#"{"displayName":"web-1"}"#;
    let headers = HeaderMap::new();
    let r = SignRequest {
        method: &Method::PATCH,
        url: &url,
        headers: &headers,
        body,
        body_mode: BodyMode::Signed,
    };
    // sha256 of the body, computed by `printf '{"displayName":"web-1"}' | openssl dgst -sha256 -binary | base64`
    let expected = "date: Tue, 14 Jan 2025 08:00:00 GMT\n\
        (request-target): patch /20160918/instances/ocid1.instance.oc1.iad.x\n\
        host: iaas.us-ashburn-1.oraclecloud.com\n\
        content-length: 23\n\
        content-type: application/json\n\
        x-content-sha256: Ap4+PmmGTm4hA/vLv+vfkZbvtM7vsh81RT/ahsfXGPU=";
    assert_eq!(signing_string(&r, VECTOR_DATE).unwrap().text, expected);
    let key = vector_key();
    let signed = sign(&r, &api_key_id(), &key, VECTOR_DATE).unwrap();
    let auth = signed.get("authorization").unwrap();
    assert_eq!(
        param(auth, "headers"),
        "date (request-target) host content-length content-type x-content-sha256"
    );
    assert!(verify(
        key.public_key_der(),
        expected.as_bytes(),
        &signature_param(auth)
    ));
}

#[test]
fn host_with_a_port_is_signed_with_the_port() {
    let url = Url::parse(
        "http://127.0.0.1:8999/20160918/instances?compartmentId=ocid1.compartment.oc1..c",
    )
    .unwrap();
    let headers = HeaderMap::new();
    let r = SignRequest {
        method: &Method::GET,
        url: &url,
        headers: &headers,
        body: b"",
        body_mode: BodyMode::Signed,
    };
    let expected = "date: Tue, 14 Jan 2025 08:00:00 GMT\n\
        (request-target): get /20160918/instances?compartmentId=ocid1.compartment.oc1..c\n\
        host: 127.0.0.1:8999";
    assert_eq!(signing_string(&r, VECTOR_DATE).unwrap().text, expected);
    let key = vector_key();
    let signed = sign(&r, &api_key_id(), &key, VECTOR_DATE).unwrap();
    assert_eq!(signed.get("host"), Some("127.0.0.1:8999"));
    assert!(verify(
        key.public_key_der(),
        expected.as_bytes(),
        &signature_param(signed.get("authorization").unwrap())
    ));
}

#[test]
fn a_pre_encoded_url_is_signed_exactly_as_written() {
    let raw = "https://objectstorage.us-ashburn-1.oraclecloud.com/n/ns/b/bkt/o/a%2Fb%20c%3F%C3%BC?prefix=x%2Fy+z&start=%7E";
    let url = Url::parse(raw).unwrap();
    assert_eq!(url.as_str(), raw, "parsing must not re-encode");
    let headers = HeaderMap::new();
    let r = SignRequest {
        method: &Method::HEAD,
        url: &url,
        headers: &headers,
        body: b"",
        body_mode: BodyMode::Signed,
    };
    let s = signing_string(&r, VECTOR_DATE).unwrap().text;
    assert!(
        s.contains(
            "\n(request-target): head /n/ns/b/bkt/o/a%2Fb%20c%3F%C3%BC?prefix=x%2Fy+z&start=%7E\n"
        ),
        "{s}"
    );
}

#[test]
fn a_token_key_id_with_a_json_body_verifies_and_carries_the_whole_token() {
    let token = jwt(serde_json::json!({"sub": "ocid1.instance.oc1..i", "exp": 4102444800i64}));
    let key_id = KeyId::SecurityToken(SecurityToken::parse(&token).unwrap());
    let url = Url::parse("https://iaas.us-ashburn-1.oraclecloud.com/20160918/instances/").unwrap();
    let body = br#"{"a":1}"#;
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let r = SignRequest {
        method: &Method::POST,
        url: &url,
        headers: &headers,
        body,
        body_mode: BodyMode::Signed,
    };
    // `printf '{"a":1}' | openssl dgst -sha256 -binary | base64`
    let expected = "date: Tue, 14 Jan 2025 08:00:00 GMT\n\
        (request-target): post /20160918/instances/\n\
        host: iaas.us-ashburn-1.oraclecloud.com\n\
        content-length: 7\n\
        content-type: application/json\n\
        x-content-sha256: AVq9f1zFei3ZS3WQ8ErYCEJzkF7jPsXOvq5iJ2qX+GI=";
    let key = vector_key();
    let signed = sign(&r, &key_id, &key, VECTOR_DATE).unwrap();
    let auth = signed.get("authorization").unwrap();
    assert_eq!(param(auth, "keyId"), format!("ST${token}"));
    assert!(verify(
        key.public_key_der(),
        expected.as_bytes(),
        &signature_param(auth)
    ));
}

#[test]
fn unsigned_body_mode_still_sends_length_and_type_but_no_hash() {
    let url =
        Url::parse("https://objectstorage.us-ashburn-1.oraclecloud.com/n/ns/b/b/o/x").unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let r = SignRequest {
        method: &Method::PUT,
        url: &url,
        headers: &headers,
        body: &[0u8; 10],
        body_mode: BodyMode::Unsigned,
    };
    let signed = sign(&r, &api_key_id(), &vector_key(), VECTOR_DATE).unwrap();
    assert_eq!(
        signed.signed_header_names(),
        ["date", "(request-target)", "host"]
    );
    assert_eq!(signed.get("content-length"), Some("10"));
    assert_eq!(signed.get("content-type"), Some("application/octet-stream"));
    assert_eq!(signed.get("x-content-sha256"), None);
}

#[test]
fn post_with_an_empty_body_signs_length_zero_and_the_empty_hash() {
    let url =
        Url::parse("https://iaas.us-ashburn-1.oraclecloud.com/20160918/instances/i?action=RESET")
            .unwrap();
    let headers = HeaderMap::new();
    let r = SignRequest {
        method: &Method::POST,
        url: &url,
        headers: &headers,
        body: b"",
        body_mode: BodyMode::Signed,
    };
    let s = signing_string(&r, VECTOR_DATE).unwrap().text;
    assert!(s.ends_with(
        "content-length: 0\ncontent-type: application/json\nx-content-sha256: 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    ));
}

#[test]
fn delete_ignores_any_body_for_signing() {
    let url = Url::parse("https://iaas.us-ashburn-1.oraclecloud.com/20160918/instances/i").unwrap();
    let headers = HeaderMap::new();
    let r = SignRequest {
        method: &Method::DELETE,
        url: &url,
        headers: &headers,
        body: b"ignored",
        body_mode: BodyMode::Signed,
    };
    let s = signing_string(&r, VECTOR_DATE).unwrap();
    assert_eq!(s.headers, ["date", "(request-target)", "host"]);
}

#[test]
fn a_new_date_gives_a_new_signature() {
    let url =
        Url::parse("https://identity.us-ashburn-1.oci.oraclecloud.com/20160918/users/u").unwrap();
    let headers = HeaderMap::new();
    let r = SignRequest {
        method: &Method::GET,
        url: &url,
        headers: &headers,
        body: b"",
        body_mode: BodyMode::Signed,
    };
    let key = vector_key();
    let a = sign(&r, &api_key_id(), &key, VECTOR_DATE).unwrap();
    let b = sign(
        &r,
        &api_key_id(),
        &key,
        VECTOR_DATE + std::time::Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(b.get("date"), Some("Tue, 14 Jan 2025 08:00:01 GMT"));
    assert_ne!(a.get("authorization"), b.get("authorization"));
}

#[test]
fn token_key_ids_are_redacted_in_debug_and_display() {
    let t = token("session_token");
    let key_id = KeyId::SecurityToken(SecurityToken::parse(&t).unwrap());
    for shown in [format!("{key_id}"), format!("{key_id:?}")] {
        assert!(!shown.contains(&t[..40]), "{shown}");
        assert!(
            shown.contains("ST$<redacted jwt, exp=2100-01-01T00:00:00Z>"),
            "{shown}"
        );
    }
    // An API keyId is not a secret and is shown as is.
    assert_eq!(
        api_key_id().to_string(),
        "ocid1.tenancy.oc1..t/ocid1.user.oc1..u/aa:bb"
    );
}

#[test]
fn resource_key_pair_ids_have_the_sdk_shapes() {
    let with_tenancy = KeyId::ResourceKeyPair {
        version: "2.1.1".into(),
        tenancy: Some(TenancyId::parse("ocid1.tenancy.oc1..t").unwrap()),
        resource: ResourceId::parse("ocid1.fnfunc.oc1..r").unwrap(),
    };
    assert_eq!(
        with_tenancy.header_value(),
        "resource/v2.1.1/ocid1.tenancy.oc1..t/ocid1.fnfunc.oc1..r"
    );
}
