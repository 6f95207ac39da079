//! Resource principal v2.2: values and files, claims, refresh at exp − 5 min under a controlled
//! clock and after a 401, and clear errors.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::oci_support;

use std::sync::Arc;
use std::time::Duration;

use fleetctl_core::clock::ManualClock;
use fleetctl_core::env::Env;
use fleetctl_core::oci::auth::{
    AuthContext, AuthError, AuthMethod, AuthSettings, CredentialProvider, PrincipalKind,
    ResourcePrincipalProvider, build_provider, needs_refresh,
};
use fleetctl_core::oci::token::SecurityToken;
use oci_support::*;
use time::macros::datetime;

const TENANCY: &str = "ocid1.tenancy.oc1..rptenancy";
const COMPARTMENT: &str = "ocid1.compartment.oc1..rpcompartment";
const FN: &str = "ocid1.fnfunc.oc1.phx.function";

fn rpst(exp: time::OffsetDateTime, jti: &str) -> String {
    jwt(serde_json::json!({
        "sub": FN, "res_id": FN, "res_tenant": TENANCY, "res_compartment": COMPARTMENT,
        "ptype": "resource", "exp": exp.unix_timestamp(), "jti": jti
    }))
}

fn ctx(env: Env, clock: &ManualClock) -> AuthContext {
    AuthContext::new(env).with_clock(Arc::new(clock.clone()))
}

/// OCI Functions' environment, with files in a temp dir.
fn files_env(dir: &std::path::Path, token: &str) -> Env {
    let rpst = write(dir, "rpst", token);
    let pem = write(dir, "private.pem", &key_pem("private_key_pkcs8_pem"));
    Env::from_pairs([
        ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2"),
        ("OCI_RESOURCE_PRINCIPAL_RPST", rpst.to_str().unwrap()),
        ("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM", pem.to_str().unwrap()),
        ("OCI_RESOURCE_PRINCIPAL_REGION", "us-phoenix-1"),
    ])
}

#[tokio::test]
async fn the_vector_rpst_from_files_signs_like_the_sdk() {
    // The resource_principal_v2_2_get vector, driven through the provider: files as in OCI
    // Functions, then the signature compared byte for byte.
    let v = vector("resource_principal_v2_2_get");
    let dir = tempfile::tempdir().unwrap();
    let env = files_env(dir.path(), v["rpst_file_contents"].as_str().unwrap());
    let clock = ManualClock::new(VECTOR_DATE);
    let p = build_provider(&AuthSettings::default(), &ctx(env, &clock))
        .await
        .unwrap();
    let creds = p.credentials().await.unwrap();
    assert_eq!(creds.key_id.header_value(), v["key_id"].as_str().unwrap());
    let url = url::Url::parse(v["url"].as_str().unwrap()).unwrap();
    let headers = http::HeaderMap::new();
    let signed = fleetctl_core::oci::signer::sign(
        &fleetctl_core::oci::signer::SignRequest {
            method: &http::Method::GET,
            url: &url,
            headers: &headers,
            body: b"",
            body_mode: fleetctl_core::oci::signer::BodyMode::Signed,
        },
        &creds.key_id,
        &creds.key,
        VECTOR_DATE,
    )
    .unwrap();
    assert_eq!(
        signed.get("authorization").unwrap(),
        v["expected"]["authorization"].as_str().unwrap()
    );
    let principal = p.principal();
    assert_eq!(principal.kind, PrincipalKind::Resource);
    assert_eq!(
        principal.tenancy.as_str(),
        "ocid1.tenancy.oc1..aaaaaaaatestvectortenancyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    );
    assert_eq!(
        principal.compartment.unwrap().as_str(),
        "ocid1.compartment.oc1..aaaaaaaatestvectorcompartmentxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    );
    assert_eq!(p.region().unwrap().id(), "us-phoenix-1");
}

#[tokio::test]
async fn literal_values_work_and_give_tenancy_compartment_and_resource() {
    let token = rpst(datetime!(2025-01-14 09:00:00 UTC), "literal");
    let env = Env::from_pairs([
        ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2"),
        ("OCI_RESOURCE_PRINCIPAL_RPST", token.as_str()),
        (
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM",
            key_pem("private_key_pkcs1_pem").as_str(),
        ),
        ("OCI_RESOURCE_PRINCIPAL_REGION", "phx"),
    ]);
    let clock = ManualClock::new(VECTOR_DATE);
    let p = ResourcePrincipalProvider::from_env(&ctx(env, &clock), None).unwrap();
    assert!(!p.can_refresh());
    let creds = p.credentials().await.unwrap();
    assert_eq!(creds.key_id.header_value(), format!("ST${token}"));
    assert_eq!(creds.key, vector_key());
    let principal = p.principal();
    assert_eq!(principal.tenancy.as_str(), TENANCY);
    assert_eq!(principal.compartment.unwrap().as_str(), COMPARTMENT);
    assert_eq!(principal.resource.unwrap().as_str(), FN);
    assert_eq!(
        p.region().unwrap().id(),
        "us-phoenix-1",
        "short code mapped"
    );
    assert!(
        !p.refresh_after_unauthorized().await.unwrap(),
        "literal values cannot refresh"
    );
}

#[test]
fn needs_refresh_is_true_within_five_minutes_of_exp() {
    let t = SecurityToken::parse(&rpst(datetime!(2025-01-14 09:00:00 UTC), "x")).unwrap();
    assert!(
        !needs_refresh(&t, datetime!(2025-01-14 08:55:00 UTC)),
        "exactly 5 min left"
    );
    assert!(needs_refresh(&t, datetime!(2025-01-14 08:55:01 UTC)));
    assert!(needs_refresh(&t, datetime!(2025-01-14 10:00:00 UTC)));
}

#[tokio::test]
async fn files_are_re_read_only_once_the_clock_passes_exp_minus_five_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let first = rpst(datetime!(2025-01-14 08:20:00 UTC), "first");
    let env = files_env(dir.path(), &first);
    let clock = ManualClock::new(VECTOR_DATE);
    let p = ResourcePrincipalProvider::from_env(&ctx(env, &clock), None).unwrap();
    assert!(p.can_refresh());

    // The platform rewrites the files early; the cached token is still used while it has
    // more than 5 minutes left.
    let second = rpst(datetime!(2025-01-14 08:40:00 UTC), "second");
    write(dir.path(), "rpst", &second);
    write(dir.path(), "private.pem", &data("second_key_pkcs8.pem"));
    clock.set(datetime!(2025-01-14 08:14:59 UTC));
    let creds = p.credentials().await.unwrap();
    assert_eq!(creds.key_id.header_value(), format!("ST${first}"));
    assert_eq!(creds.key, vector_key());

    // 4 min 59 s before exp: both token and key are re-read.
    clock.set(datetime!(2025-01-14 08:15:01 UTC));
    let creds = p.credentials().await.unwrap();
    assert_eq!(creds.key_id.header_value(), format!("ST${second}"));
    assert_eq!(
        creds.key.fingerprint(),
        "26:02:96:c2:0a:9e:ae:36:92:72:74:e4:27:ef:ec:f5"
    );
}

#[tokio::test]
async fn after_a_401_file_values_are_re_read_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = rpst(datetime!(2025-01-14 09:00:00 UTC), "first");
    let clock = ManualClock::new(VECTOR_DATE);
    let p = ResourcePrincipalProvider::from_env(&ctx(files_env(dir.path(), &first), &clock), None)
        .unwrap();
    assert!(
        !p.refresh_after_unauthorized().await.unwrap(),
        "same files: no point retrying"
    );
    let second = rpst(datetime!(2025-01-14 09:00:00 UTC), "second");
    write(dir.path(), "rpst", &second);
    assert!(p.refresh_after_unauthorized().await.unwrap());
    assert_eq!(
        p.credentials().await.unwrap().key_id.header_value(),
        format!("ST${second}")
    );
}

#[tokio::test]
async fn an_expired_token_that_cannot_be_renewed_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let token = rpst(datetime!(2025-01-14 08:10:00 UTC), "short");
    let clock = ManualClock::new(VECTOR_DATE);
    let p = ResourcePrincipalProvider::from_env(&ctx(files_env(dir.path(), &token), &clock), None)
        .unwrap();
    clock.set(datetime!(2025-01-14 08:10:00 UTC));
    let err = p.credentials().await.unwrap_err();
    assert!(matches!(err, AuthError::TokenExpired { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("2025-01-14T08:10:00Z") && msg.contains("rpst"),
        "{msg}"
    );
    assert!(!msg.contains(&token[..30]), "{msg}");
}

#[tokio::test]
async fn a_failing_re_read_keeps_the_still_valid_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = rpst(datetime!(2025-01-14 08:10:00 UTC), "t");
    let clock = ManualClock::new(VECTOR_DATE);
    let p = ResourcePrincipalProvider::from_env(&ctx(files_env(dir.path(), &token), &clock), None)
        .unwrap();
    std::fs::remove_file(dir.path().join("rpst")).unwrap();
    clock.set(datetime!(2025-01-14 08:06:00 UTC));
    assert_eq!(
        p.credentials().await.unwrap().key_id.header_value(),
        format!("ST${token}")
    );
}

#[tokio::test]
async fn unsupported_versions_and_missing_variables_are_named() {
    let clock = ManualClock::new(VECTOR_DATE);
    let base = Env::from_pairs([("OCI_RESOURCE_PRINCIPAL_VERSION", "1.1")]);
    let err = ResourcePrincipalProvider::from_env(&ctx(base, &clock), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("OCI_RESOURCE_PRINCIPAL_VERSION=1.1")
            && err.to_string().contains("2.2"),
        "{err}"
    );

    let err = build_provider(
        &AuthSettings {
            method: Some(AuthMethod::Resource),
            ..AuthSettings::default()
        },
        &ctx(Env::empty(), &clock),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("OCI_RESOURCE_PRINCIPAL_VERSION"),
        "{err}"
    );

    let env = Env::from_pairs([("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2")]);
    let err = ResourcePrincipalProvider::from_env(&ctx(env.clone(), &clock), None).unwrap_err();
    assert!(
        err.to_string().contains("OCI_RESOURCE_PRINCIPAL_RPST"),
        "{err}"
    );
    let env = env.with("OCI_RESOURCE_PRINCIPAL_RPST", "x.y.z");
    let err = ResourcePrincipalProvider::from_env(&ctx(env, &clock), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreadable_file_names_the_variable_and_path() {
    let clock = ManualClock::new(VECTOR_DATE);
    let env = Env::from_pairs([
        ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2"),
        ("OCI_RESOURCE_PRINCIPAL_RPST", "/nonexistent/rpst"),
        (
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM",
            "/nonexistent/private.pem",
        ),
    ]);
    let err = ResourcePrincipalProvider::from_env(&ctx(env, &clock), None).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/rpst") && msg.contains("OCI_RESOURCE_PRINCIPAL_RPST"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_encrypted_key_uses_the_passphrase_in_the_same_form() {
    let clock = ManualClock::new(VECTOR_DATE);
    let token = rpst(datetime!(2025-01-14 09:00:00 UTC), "enc");
    // Literal PEM + literal passphrase.
    let env = Env::from_pairs([
        ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2"),
        ("OCI_RESOURCE_PRINCIPAL_RPST", token.as_str()),
        (
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM",
            key_pem("private_key_pkcs8_encrypted_pem").as_str(),
        ),
        ("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE", PASSPHRASE),
    ]);
    let p = ResourcePrincipalProvider::from_env(&ctx(env, &clock), None).unwrap();
    assert_eq!(p.credentials().await.unwrap().key, vector_key());
    // File PEM + file passphrase.
    let dir = tempfile::tempdir().unwrap();
    let mut env = files_env(dir.path(), &token);
    write(
        dir.path(),
        "private.pem",
        &key_pem("private_key_pkcs1_encrypted_pem"),
    );
    let pass_file = write(dir.path(), "passphrase", &format!("{PASSPHRASE}\n"));
    env = env.with(
        "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE",
        pass_file.to_str().unwrap(),
    );
    let p = ResourcePrincipalProvider::from_env(&ctx(env.clone(), &clock), None).unwrap();
    assert_eq!(p.credentials().await.unwrap().key, vector_key());
    // File PEM + literal passphrase: refused (the Go SDK's rule).
    let env = env.with("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE", PASSPHRASE);
    let err = ResourcePrincipalProvider::from_env(&ctx(env, &clock), None).unwrap_err();
    assert!(
        matches!(err, AuthError::ResourcePrincipalPassphraseForm),
        "{err:?}"
    );
    assert!(!err.to_string().contains(PASSPHRASE));
}

#[tokio::test]
async fn a_token_without_res_tenant_is_refused() {
    let clock = ManualClock::new(VECTOR_DATE);
    let token =
        jwt(serde_json::json!({"exp": datetime!(2025-01-14 09:00:00 UTC).unix_timestamp()}));
    let env = Env::from_pairs([
        ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2"),
        ("OCI_RESOURCE_PRINCIPAL_RPST", token.as_str()),
        (
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM",
            key_pem("private_key_pkcs8_pem").as_str(),
        ),
    ]);
    let err = ResourcePrincipalProvider::from_env(&ctx(env, &clock), None).unwrap_err();
    assert!(err.to_string().contains("res_tenant"), "{err}");
}

#[tokio::test]
async fn oci_region_wins_over_the_resource_principal_region() {
    let dir = tempfile::tempdir().unwrap();
    let token = rpst(datetime!(2025-01-14 09:00:00 UTC), "r");
    let env = files_env(dir.path(), &token).with("OCI_REGION", "fra");
    let clock = ManualClock::new(VECTOR_DATE);
    let p = build_provider(&AuthSettings::default(), &ctx(env, &clock))
        .await
        .unwrap();
    assert_eq!(p.region().unwrap().id(), "eu-frankfurt-1");
    clock.advance(Duration::from_secs(60));
    assert!(p.credentials().await.is_ok());
}

#[tokio::test]
async fn an_empty_resource_principal_region_counts_as_unset() {
    let dir = tempfile::tempdir().unwrap();
    let token = rpst(datetime!(2025-01-14 09:00:00 UTC), "empty-region");
    let env = files_env(dir.path(), &token).with("OCI_RESOURCE_PRINCIPAL_REGION", "");
    let clock = ManualClock::new(VECTOR_DATE);
    let p = build_provider(&AuthSettings::default(), &ctx(env.clone(), &clock))
        .await
        .unwrap();
    assert_eq!(
        p.region(),
        None,
        "no region rather than an `empty region` error"
    );
    let p = build_provider(
        &AuthSettings::default(),
        &ctx(env.with("OCI_REGION", "iad"), &clock),
    )
    .await
    .unwrap();
    assert_eq!(p.region().unwrap().id(), "us-ashburn-1");
}

#[test]
fn an_empty_resource_principal_version_does_not_select_the_resource_principal() {
    use fleetctl_core::oci::auth::detect_method;
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "config", "[DEFAULT]\n");
    let settings = AuthSettings {
        config_file: Some(config),
        ..AuthSettings::default()
    };
    let env = Env::from_pairs([("OCI_RESOURCE_PRINCIPAL_VERSION", "")]);
    assert_eq!(detect_method(&settings, &env).unwrap(), AuthMethod::User);
    let env = Env::from_pairs([("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2")]);
    assert_eq!(
        detect_method(&settings, &env).unwrap(),
        AuthMethod::Resource
    );
}
