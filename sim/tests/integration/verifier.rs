//! Signature verification over HTTP: what a client sees for good and bad signatures.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::common::{TestSigner, TestSim, assert_oci_error, json, pem_to_der};

fn now() -> String {
    httpdate::fmt_http_date(SystemTime::now())
}

fn user_path(t: &TestSim) -> String {
    format!("/20160918/users/{}", t.sim.user_id())
}

#[tokio::test]
async fn request_signed_with_the_written_api_key_is_accepted() {
    let t = TestSim::start().await;
    let resp = t
        .signed(&t.api_key_signer(), "GET", &user_path(&t), None)
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("etag").is_some());
    let body = json(resp).await;
    assert_eq!(body["id"], t.sim.user_id().as_str());
    assert_eq!(body["lifecycleState"], "ACTIVE");
}

#[tokio::test]
async fn request_signed_with_another_key_is_refused() {
    let t = TestSim::start().await;
    let genuine = t.api_key_signer();
    let key = oci_sim::crypto::RsaKey::generate().unwrap();
    let impostor = TestSigner::from_pkcs8(key.pkcs8_der(), genuine.key_id.clone());
    let resp = t.signed(&impostor, "GET", &user_path(&t), None).await;
    let msg = assert_oci_error(resp, 401, "NotAuthenticated").await;
    assert_eq!(msg, "signature does not match");
}

#[tokio::test]
async fn unknown_key_id_is_refused() {
    let t = TestSim::start().await;
    let mut signer = t.api_key_signer();
    signer.key_id = format!(
        "{}/{}/00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff",
        t.sim.tenancy_id(),
        t.sim.user_id()
    );
    let resp = t.signed(&signer, "GET", &user_path(&t), None).await;
    let msg = assert_oci_error(resp, 401, "NotAuthenticated").await;
    assert!(msg.contains("not a registered key"), "{msg}");
}

#[tokio::test]
async fn an_api_key_fingerprint_is_matched_exactly_as_oci_computes_it() {
    let t = TestSim::start().await;
    let signer = t.api_key_signer();
    let fingerprint = signer.key_id.rsplit('/').next().unwrap().to_string();
    assert_eq!(
        fingerprint,
        fingerprint.to_ascii_lowercase(),
        "the written profile has OCI's lower-case fingerprint"
    );
    let mut upper = t.api_key_signer();
    upper.key_id = format!(
        "{}/{}/{}",
        t.sim.tenancy_id(),
        t.sim.user_id(),
        fingerprint.to_ascii_uppercase()
    );
    let resp = t.signed(&upper, "GET", &user_path(&t), None).await;
    let msg = assert_oci_error(resp, 401, "NotAuthenticated").await;
    assert!(msg.contains("not a registered key"), "{msg}");
    let resp = t.signed(&signer, "GET", &user_path(&t), None).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn request_sent_to_another_path_than_signed_is_refused() {
    let t = TestSim::start().await;
    let path = user_path(&t);
    let req = t
        .api_key_signer()
        .sign("GET", &path, &t.host(), None, &now());
    assert_eq!(t.send(&req, &path).await.unwrap().status(), 200);
    let resp = t.send(&req, &format!("{path}?extra=1")).await.unwrap();
    assert_oci_error(resp, 401, "NotAuthenticated").await;
}

#[tokio::test]
async fn request_with_a_changed_body_is_refused_and_changes_nothing() {
    let t = TestSim::start().await;
    let path = user_path(&t);
    let mut req = t.api_key_signer().sign(
        "PUT",
        &path,
        &t.host(),
        Some(br#"{"description":"aaaa"}"#),
        &now(),
    );
    req.body = Some(br#"{"description":"bbbb"}"#.to_vec());
    let msg = assert_oci_error(t.send(&req, &path).await.unwrap(), 401, "NotAuthenticated").await;
    assert!(msg.contains("x-content-sha256"), "{msg}");
    let user = json(t.signed(&t.api_key_signer(), "GET", &path, None).await).await;
    assert_ne!(user["description"], "bbbb");
}

#[tokio::test]
async fn signed_put_updates_the_user_and_its_etag() {
    let t = TestSim::start().await;
    let path = user_path(&t);
    let signer = t.api_key_signer();
    let before = t.signed(&signer, "GET", &path, None).await;
    let etag_before = before.headers()["etag"].to_str().unwrap().to_string();
    let resp = t
        .signed(
            &signer,
            "PUT",
            &path,
            Some(r#"{"description":"new words"}"#),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_ne!(resp.headers()["etag"].to_str().unwrap(), etag_before);
    assert_eq!(json(resp).await["description"], "new words");
}

#[tokio::test]
async fn date_more_than_five_minutes_off_is_refused() {
    let t = TestSim::start().await;
    let path = user_path(&t);
    let signer = t.api_key_signer();
    let stale = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(6 * 60));
    let req = signer.sign("GET", &path, &t.host(), None, &stale);
    let msg = assert_oci_error(t.send(&req, &path).await.unwrap(), 401, "NotAuthenticated").await;
    assert!(msg.contains("away from the server clock"), "{msg}");
    let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(6 * 60));
    let req = signer.sign("GET", &path, &t.host(), None, &future);
    assert_oci_error(t.send(&req, &path).await.unwrap(), 401, "NotAuthenticated").await;
    let recent = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(4 * 60));
    let req = signer.sign("GET", &path, &t.host(), None, &recent);
    assert_eq!(t.send(&req, &path).await.unwrap().status(), 200);
}

#[tokio::test]
async fn missing_required_signed_headers_are_refused() {
    let t = TestSim::start().await;
    let path = user_path(&t);
    let signer = t.api_key_signer();
    // A PUT that signs no body headers.
    let req = signer.sign_with(
        "PUT",
        &path,
        &t.host(),
        Some(b"{}"),
        &now(),
        Some(&["date", "(request-target)", "host"]),
    );
    let msg = assert_oci_error(t.send(&req, &path).await.unwrap(), 401, "NotAuthenticated").await;
    assert!(
        msg.contains("The required information to complete authentication was not provided"),
        "{msg}"
    );
    assert!(msg.contains("content-length"), "{msg}");
    // A GET that does not sign host.
    let req = signer.sign_with(
        "GET",
        &path,
        &t.host(),
        None,
        &now(),
        Some(&["date", "(request-target)"]),
    );
    let msg = assert_oci_error(t.send(&req, &path).await.unwrap(), 401, "NotAuthenticated").await;
    assert!(msg.contains("host"), "{msg}");
    // A signed header that is not sent.
    let mut req = signer.sign("GET", &path, &t.host(), None, &now());
    req.remove_header("date");
    assert_oci_error(t.send(&req, &path).await.unwrap(), 401, "NotAuthenticated").await;
    // No Authorization at all.
    let resp = t.client.get(t.url(&path)).send().await.unwrap();
    let msg = assert_oci_error(resp, 401, "NotAuthenticated").await;
    assert!(
        msg.starts_with("The required information to complete authentication was not provided")
    );
}

#[tokio::test]
async fn session_token_from_the_written_profile_is_accepted() {
    let t = TestSim::start().await;
    let path = format!("/20160918/tenancies/{}", t.sim.tenancy_id());
    let resp = t.signed(&t.session_signer(), "GET", &path, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(json(resp).await["id"], t.sim.tenancy_id().as_str());
}

#[tokio::test]
async fn session_token_past_its_expiry_is_refused() {
    let t = TestSim::start().await;
    let path = format!("/20160918/tenancies/{}", t.sim.tenancy_id());
    let resp = t
        .admin("POST", "/_sim/time/advance", Some(json!({"seconds": 3601})))
        .await;
    assert_eq!(resp.status(), 200);
    let resp = t.signed(&t.session_signer(), "GET", &path, None).await;
    let msg = assert_oci_error(resp, 401, "NotAuthenticated").await;
    assert!(msg.contains("expired"), "{msg}");
    // The API key does not expire with the simulated clock.
    assert_eq!(
        t.signed(&t.api_key_signer(), "GET", &path, None)
            .await
            .status(),
        200
    );
}

fn forge_token(claims: &Value, signer_key: &oci_sim::crypto::RsaKey) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let sig = signer_key.sign_sha256(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[tokio::test]
async fn self_made_session_token_is_refused() {
    let t = TestSim::start().await;
    let key = oci_sim::crypto::RsaKey::generate().unwrap();
    let far = 4_102_444_800_i64;
    let claims = json!({
        "sub": t.sim.user_id(), "tenant": t.sim.tenancy_id(), "ptype": "user",
        "exp": far, "iat": 0, "jwk": key.public_jwk().to_json("k"),
    });
    let token = forge_token(&claims, &key);
    let signer = TestSigner::from_pkcs8(key.pkcs8_der(), format!("ST${token}"));
    let path = format!("/20160918/tenancies/{}", t.sim.tenancy_id());
    let msg = assert_oci_error(
        t.signed(&signer, "GET", &path, None).await,
        401,
        "NotAuthenticated",
    )
    .await;
    assert!(msg.contains("not issued by this service"), "{msg}");
    assert!(!msg.contains(&token[..40]), "the error echoes the token");
}

#[tokio::test]
async fn session_token_with_edited_claims_is_refused() {
    let t = TestSim::start().await;
    let genuine = t.session_signer();
    let token = genuine.key_id.strip_prefix("ST$").unwrap().to_string();
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["exp"] = json!(4_102_444_800_i64);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let profile = super::common::read_profile(&t.out().join("config"), "SESSION");
    let signer = TestSigner::from_pem_file(
        std::path::Path::new(&profile("key_file")),
        format!("ST${forged}"),
    );
    let path = format!("/20160918/tenancies/{}", t.sim.tenancy_id());
    assert_oci_error(
        t.signed(&signer, "GET", &path, None).await,
        401,
        "NotAuthenticated",
    )
    .await;
}

#[tokio::test]
async fn session_refresh_returns_a_token_with_the_configured_lifetime() {
    let t = TestSim::start().await;
    let resp = t
        .admin("PUT", "/_sim/tokens", Some(json!({"lifetimeSeconds": 120})))
        .await;
    assert_eq!(json(resp).await["lifetimeSeconds"], 120);
    let signer = t.session_signer();
    let current = signer.key_id.strip_prefix("ST$").unwrap().to_string();
    let body = json!({"currentToken": current}).to_string();
    let resp = t
        .signed(&signer, "POST", "/v1/authentication/refresh", Some(&body))
        .await;
    assert_eq!(resp.status(), 200);
    let new_token = json(resp).await["token"].as_str().unwrap().to_string();
    assert_ne!(new_token, current);
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(new_token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
    assert_eq!(claims["sub"], t.sim.user_id().as_str());
    // The refreshed token works with the same session key.
    let profile = super::common::read_profile(&t.out().join("config"), "SESSION");
    let refreshed = TestSigner::from_pem_file(
        std::path::Path::new(&profile("key_file")),
        format!("ST${new_token}"),
    );
    let path = format!("/20160918/tenancies/{}", t.sim.tenancy_id());
    assert_eq!(t.signed(&refreshed, "GET", &path, None).await.status(), 200);
    // Refreshing someone else's token is refused.
    let body = json!({"currentToken": "not-the-signing-token"}).to_string();
    let resp = t
        .signed(&signer, "POST", "/v1/authentication/refresh", Some(&body))
        .await;
    assert_oci_error(resp, 401, "NotAuthenticated").await;
}

async fn imds_text(t: &TestSim, path: &str) -> String {
    let resp = t
        .client
        .get(t.url(path))
        .header("authorization", "Bearer Oracle")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.text().await.unwrap()
}

fn b64_der(pem: &str) -> String {
    STANDARD.encode(pem_to_der(pem))
}

/// The instance's identity as IMDS serves it now: certificate and key (PEM).
async fn imds_identity(t: &TestSim) -> (String, String) {
    let cert = imds_text(t, "/opc/v2/identity/cert.pem").await;
    let key = imds_text(t, "/opc/v2/identity/key.pem").await;
    (cert, key)
}

/// Federates like an instance would: IMDS certificate and key, `/v1/x509`, then `ST$`.
async fn federate(t: &TestSim, sha256: bool) -> (reqwest::Response, TestSigner) {
    let (cert, key) = imds_identity(t).await;
    federate_with(t, &cert, &key, sha256).await
}

/// Federates with a given leaf certificate and key (PEM), e.g. one fetched before a rotation.
async fn federate_with(
    t: &TestSim,
    cert: &str,
    key: &str,
    sha256: bool,
) -> (reqwest::Response, TestSigner) {
    let inter = imds_text(t, "/opc/v2/identity/intermediate.pem").await;
    let der = pem_to_der(cert);
    let fp = if sha256 {
        oci_sim::crypto::sha256_fingerprint(&der).to_ascii_lowercase()
    } else {
        oci_sim::crypto::sha1_fingerprint(&der)
    };
    let kind = if sha256 {
        "fed-x509-sha256"
    } else {
        "fed-x509"
    };
    let leaf = TestSigner::from_pkcs8(
        &pem_to_der(key),
        format!("{}/{kind}/{fp}", t.sim.tenancy_id()),
    );
    let session_key = oci_sim::crypto::RsaKey::generate().unwrap();
    let session = TestSigner::from_pkcs8(session_key.pkcs8_der(), String::new());
    let mut body = json!({
        "certificate": b64_der(cert),
        "publicKey": STANDARD.encode(session.public_spki_der()),
        "intermediateCertificates": [b64_der(&inter)],
    });
    if sha256 {
        body["purpose"] = json!("DEFAULT");
        body["fingerprintAlgorithm"] = json!("SHA256");
    }
    let body = body.to_string();
    let req = leaf.sign_with(
        "POST",
        "/v1/x509",
        &t.host(),
        Some(body.as_bytes()),
        &now(),
        Some(&[
            "date",
            "(request-target)",
            "content-length",
            "content-type",
            "x-content-sha256",
        ]),
    );
    let resp = t.send(&req, "/v1/x509").await.unwrap();
    (resp, session)
}

#[tokio::test]
async fn instance_principal_federation_issues_a_working_token() {
    let t = TestSim::start().await;
    for sha256 in [false, true] {
        let (resp, mut session) = federate(&t, sha256).await;
        assert_eq!(resp.status(), 200, "sha256={sha256}");
        let token = json(resp).await["token"].as_str().unwrap().to_string();
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["sub"], t.sim.host_instance_id().as_str());
        assert_eq!(claims["tenant"], t.sim.tenancy_id().as_str());
        assert_eq!(claims["res_tenant"], t.sim.tenancy_id().as_str());
        session.key_id = format!("ST${token}");
        let path = format!("/20160918/tenancies/{}", t.sim.tenancy_id());
        assert_eq!(t.signed(&session, "GET", &path, None).await.status(), 200);
    }
    let kinds: Vec<_> = t
        .sim
        .requests()
        .iter()
        .filter_map(|e| e.key_id_kind)
        .collect();
    assert!(kinds.contains(&oci_sim::auth::KeyIdKind::Federation));
    assert!(kinds.contains(&oci_sim::auth::KeyIdKind::Instance));
}

#[tokio::test]
async fn federation_with_a_certificate_that_did_not_sign_is_refused() {
    let t = TestSim::start().await;
    let cert = imds_text(&t, "/opc/v2/identity/cert.pem").await;
    let key = imds_text(&t, "/opc/v2/identity/key.pem").await;
    let inter = imds_text(&t, "/opc/v2/identity/intermediate.pem").await;
    let fp = oci_sim::crypto::sha1_fingerprint(&pem_to_der(&cert));
    let leaf = TestSigner::from_pkcs8(
        &pem_to_der(&key),
        format!("{}/fed-x509/{fp}", t.sim.tenancy_id()),
    );
    let body = json!({
        "certificate": b64_der(&inter),
        "publicKey": STANDARD.encode(leaf.public_spki_der()),
        "intermediateCertificates": [b64_der(&inter)],
    })
    .to_string();
    let hdrs = [
        "date",
        "(request-target)",
        "content-length",
        "content-type",
        "x-content-sha256",
    ];
    let req = leaf.sign_with(
        "POST",
        "/v1/x509",
        &t.host(),
        Some(body.as_bytes()),
        &now(),
        Some(&hdrs),
    );
    let msg = assert_oci_error(
        t.send(&req, "/v1/x509").await.unwrap(),
        401,
        "NotAuthenticated",
    )
    .await;
    assert!(msg.contains("not the certificate that signed"), "{msg}");
    // An API key cannot call the federation endpoint either.
    let req = t.api_key_signer().sign_with(
        "POST",
        "/v1/x509",
        &t.host(),
        Some(body.as_bytes()),
        &now(),
        Some(&hdrs),
    );
    assert_oci_error(
        t.send(&req, "/v1/x509").await.unwrap(),
        401,
        "NotAuthenticated",
    )
    .await;
}

#[tokio::test]
async fn rotated_instance_certificate_is_served_and_federates() {
    let t = TestSim::start().await;
    let before = imds_text(&t, "/opc/v2/identity/cert.pem").await;
    let key_before = imds_text(&t, "/opc/v2/identity/key.pem").await;
    let resp = t.admin("POST", "/_sim/rotate/instance-cert", None).await;
    assert_eq!(resp.status(), 200);
    let after = imds_text(&t, "/opc/v2/identity/cert.pem").await;
    assert_ne!(before, after);
    assert_ne!(key_before, imds_text(&t, "/opc/v2/identity/key.pem").await);
    let (resp, _) = federate(&t, false).await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_rotated_out_certificate_federates_until_it_expires_and_imds_serves_a_live_one() {
    let t = TestSim::start().await;
    let (old_cert, old_key) = imds_identity(&t).await;
    let resp = t.admin("POST", "/_sim/rotate/instance-cert", None).await;
    assert_eq!(resp.status(), 200);
    let (rotated_cert, _) = imds_identity(&t).await;
    assert_ne!(rotated_cert, old_cert);
    // A client that has not re-fetched still federates while the old certificate is valid.
    let (resp, _) = federate_with(&t, &old_cert, &old_key, false).await;
    assert_eq!(resp.status(), 200);

    // Past the certificates' 24 h lifetime on the simulated clock.
    t.advance(25.0 * 3600.0).await;
    for sha256 in [false, true] {
        let (resp, _) = federate_with(&t, &old_cert, &old_key, sha256).await;
        let msg = assert_oci_error(resp, 401, "NotAuthenticated").await;
        assert!(msg.contains("expired"), "{msg}");
    }
    // IMDS now serves a new certificate (the rotated one expired too), and it federates to a
    // token that works.
    let (current, _) = imds_identity(&t).await;
    assert_ne!(current, rotated_cert);
    assert_ne!(current, old_cert);
    let (resp, _) = federate_with(&t, &old_cert, &old_key, false).await;
    let msg = assert_oci_error(resp, 401, "NotAuthenticated").await;
    assert!(msg.contains("expired"), "after the renewal too: {msg}");
    let (resp, mut session) = federate(&t, true).await;
    assert_eq!(resp.status(), 200);
    session.key_id = format!("ST${}", json(resp).await["token"].as_str().unwrap());
    let path = format!("/20160918/tenancies/{}", t.sim.tenancy_id());
    assert_eq!(t.signed(&session, "GET", &path, None).await.status(), 200);
}

#[tokio::test]
async fn rotated_resource_principal_files_work_and_the_old_token_stays_valid() {
    let t = TestSim::start().await;
    let rpst_path = t.out().join("rp").join("rpst");
    let key_path = t.out().join("rp").join("private.pem");
    let old = TestSigner::from_pem_file(
        &key_path,
        format!("ST${}", std::fs::read_to_string(&rpst_path).unwrap()),
    );
    let old_token = std::fs::read_to_string(&rpst_path).unwrap();
    let resp = t
        .admin("POST", "/_sim/rotate/resource-principal", None)
        .await;
    assert_eq!(resp.status(), 200);
    let new_token = std::fs::read_to_string(&rpst_path).unwrap();
    assert_ne!(old_token, new_token);
    let new = TestSigner::from_pem_file(&key_path, format!("ST${new_token}"));
    let path = format!("/20160918/tenancies/{}", t.sim.tenancy_id());
    assert_eq!(t.signed(&new, "GET", &path, None).await.status(), 200);
    assert_eq!(t.signed(&old, "GET", &path, None).await.status(), 200);
    // The old token with the new key is a mismatch: the token binds its own key.
    let mixed = TestSigner::from_pem_file(&key_path, format!("ST${old_token}"));
    assert_oci_error(
        t.signed(&mixed, "GET", &path, None).await,
        401,
        "NotAuthenticated",
    )
    .await;
}

#[tokio::test]
async fn other_tenancy_ids_are_not_found() {
    let t = TestSim::start().await;
    let signer = t.api_key_signer();
    let other = "ocid1.tenancy.oc1..aaaaaaaaotherotherotherotherotherotherotherotherotherother";
    for path in [
        format!("/20160918/tenancies/{other}"),
        format!("/20160918/tenancies/{other}/regionSubscriptions"),
        "/20160918/users/ocid1.user.oc1..aaaaaaaanosuchuser".to_string(),
        format!("/20160918/availabilityDomains?compartmentId={other}"),
        "/20160918/compartments/ocid1.compartment.oc1..aaaaaaaanosuch".to_string(),
    ] {
        let resp = t.signed(&signer, "GET", &path, None).await;
        assert_oci_error(resp, 404, "NotAuthorizedOrNotFound").await;
    }
    let resp = t
        .signed(&signer, "GET", "/20160918/availabilityDomains", None)
        .await;
    let msg = assert_oci_error(resp, 400, "MissingParameter").await;
    assert!(msg.contains("compartmentId"));
}

/// The IMDS leaf key as a signer under a `fed-x509` (SHA-1) keyId.
async fn leaf_signer(t: &TestSim) -> TestSigner {
    let cert = imds_text(t, "/opc/v2/identity/cert.pem").await;
    let key = imds_text(t, "/opc/v2/identity/key.pem").await;
    let fp = oci_sim::crypto::sha1_fingerprint(&pem_to_der(&cert));
    TestSigner::from_pkcs8(
        &pem_to_der(&key),
        format!("{}/fed-x509/{fp}", t.sim.tenancy_id()),
    )
}

#[tokio::test]
async fn a_federation_key_cannot_sign_anything_but_the_federation_call() {
    let t = TestSim::start().await;
    let leaf = leaf_signer(&t).await;
    let mut sha256_leaf = leaf_signer(&t).await;
    let cert = imds_text(&t, "/opc/v2/identity/cert.pem").await;
    sha256_leaf.key_id = format!(
        "{}/fed-x509-sha256/{}",
        t.sim.tenancy_id(),
        oci_sim::crypto::sha256_fingerprint(&pem_to_der(&cert))
    );
    let tenancy = format!("/20160918/tenancies/{}", t.sim.tenancy_id());
    let instances = format!(
        "/20160918/instances?compartmentId={}",
        t.sim.compartment_id()
    );
    for signer in [&leaf, &sha256_leaf] {
        for path in [&tenancy, &instances] {
            let resp = t.signed(signer, "GET", path, None).await;
            let msg = assert_oci_error(resp, 401, "NotAuthenticated").await;
            assert!(msg.contains("only the federation call"), "{path}: {msg}");
        }
    }
    // A mutation too (signed with the body headers, as the SDKs do).
    let body = super::compute::launch_body(&t, "via-fed-key").to_string();
    let resp = t
        .signed(&leaf, "POST", "/20160918/instances", Some(&body))
        .await;
    assert_oci_error(resp, 401, "NotAuthenticated").await;
    let listed = json(t.oci("GET", &instances, None).await).await;
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["displayName"] == "via-fed-key"),
        "the refused launch must not create an instance"
    );
    // The same key still federates.
    let (resp, _) = federate(&t, false).await;
    assert_eq!(resp.status(), 200);
}

/// `Tue, 14 Jan 2025 08:00:00 GMT` as RFC 850 (`Tuesday, 14-Jan-25 08:00:00 GMT`) and asctime
/// (`Tue Jan 14 08:00:00 2025`), the obsolete forms HTTP parsers still accept.
fn obsolete_forms(imf: &str) -> [String; 2] {
    let parts: Vec<&str> = imf.split(' ').collect();
    let [wday, day, mon, year, clock, "GMT"] = parts[..] else {
        panic!("not an IMF-fixdate: {imf}")
    };
    let wday = wday.trim_end_matches(',');
    let long = match wday {
        "Mon" => "Monday",
        "Tue" => "Tuesday",
        "Wed" => "Wednesday",
        "Thu" => "Thursday",
        "Fri" => "Friday",
        "Sat" => "Saturday",
        _ => "Sunday",
    };
    let day_num: u32 = day.parse().unwrap();
    [
        format!("{long}, {day}-{mon}-{} {clock} GMT", &year[2..]),
        format!("{wday} {mon} {day_num:>2} {clock} {year}"),
    ]
}

#[tokio::test]
async fn obsolete_date_formats_are_refused() {
    let t = TestSim::start().await;
    let path = user_path(&t);
    let signer = t.api_key_signer();
    let now = SystemTime::now();
    let imf = httpdate::fmt_http_date(now);
    let req = signer.sign("GET", &path, &t.host(), None, &imf);
    assert_eq!(t.send(&req, &path).await.unwrap().status(), 200);
    for old in obsolete_forms(&imf) {
        // The same instant: only the form is wrong.
        assert_eq!(
            httpdate::parse_http_date(&old).unwrap(),
            httpdate::parse_http_date(&imf).unwrap(),
            "{old}"
        );
        let req = signer.sign("GET", &path, &t.host(), None, &old);
        let msg =
            assert_oci_error(t.send(&req, &path).await.unwrap(), 401, "NotAuthenticated").await;
        assert!(msg.contains("IMF-fixdate"), "{old}: {msg}");
    }
}
