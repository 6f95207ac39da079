//! No secret (private key, passphrase, token) appears in any `Debug`/`Display` output of a
//! provider, credential, configuration value or error, nor in log lines.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::oci_support;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fleetctl_core::clock::ManualClock;
use fleetctl_core::env::Env;
use fleetctl_core::ids::{InstanceId, TenancyId};
use fleetctl_core::oci::auth::config_file::OciConfigFile;
use fleetctl_core::oci::auth::instance::{
    FederatedToken, Federation, FederationBudget, ImdsDocuments, InstancePrincipalProvider,
    prepare_federation,
};
use fleetctl_core::oci::auth::{
    AuthContext, AuthError, AuthMethod, AuthSettings, CredentialProvider,
    ResourcePrincipalProvider, build_provider,
};
use fleetctl_core::oci::endpoints::Endpoints;
use fleetctl_core::oci::error::OciError;
use fleetctl_core::oci::keys::{Passphrase, SigningKey};
use fleetctl_core::oci::region::Region;
use fleetctl_core::oci::signer::{BodyMode, SignRequest, sign};
use fleetctl_core::oci::token::SecurityToken;
use oci_support::*;
use time::macros::datetime;

/// Substrings that must never be printed: PEM body lines of every key form, passphrases, and
/// the payload and signature parts of every token.
fn secrets(extra_tokens: &[&str]) -> Vec<String> {
    let mut out = vec![PASSPHRASE.to_string(), "se;cr#et".to_string()];
    for form in [
        "private_key_pkcs1_pem",
        "private_key_pkcs8_pem",
        "private_key_pkcs1_encrypted_pem",
        "private_key_pkcs8_encrypted_pem",
    ] {
        out.extend(pem_body_lines(&key_pem(form)));
    }
    out.extend(pem_body_lines(&data("second_key_pkcs8.pem")));
    let mut tokens: Vec<String> = ["session_token", "rpst", "instance_principal_token"]
        .iter()
        .map(|t| token(t))
        .collect();
    tokens.extend(extra_tokens.iter().map(|t| t.to_string()));
    for t in tokens {
        let parts: Vec<&str> = t.split('.').collect();
        out.push(parts[1][..40.min(parts[1].len())].to_string());
        out.push(parts[2][..20.min(parts[2].len())].to_string());
    }
    out
}

fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && !l.contains(':') && l.len() > 40)
        .take(3)
        .map(str::to_string)
        .collect()
}

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "{what} leaks a secret ({s}):\n{text}"
        );
    }
}

fn both<T: std::fmt::Debug + std::fmt::Display>(v: &T) -> String {
    format!("{v}\n{v:?}")
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = format!("{e}\n{e:?}");
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(&format!("\n{s}\n{s:?}"));
        cur = s.source();
    }
    out
}

fn home_with(config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".oci/config", config);
    write(
        dir.path(),
        ".oci/enc.pem",
        &key_pem("private_key_pkcs8_encrypted_pem"),
    );
    write(
        dir.path(),
        ".oci/semi.pem",
        &data("key_pkcs8_encrypted_semicolon_pass.pem"),
    );
    write(
        dir.path(),
        ".oci/key.pem",
        &key_pem("private_key_pkcs1_pem"),
    );
    dir
}

#[tokio::test]
async fn api_key_and_session_providers_credentials_and_config_values_print_no_secret() {
    let session = jwt(
        serde_json::json!({"tenant": "ocid1.tenancy.oc1..t", "exp": 4102444800i64, "sub": "ocid1.user.oc1..u"}),
    );
    let dir = home_with(&format!(
        "[DEFAULT]\nuser=ocid1.user.oc1..u\nfingerprint={}\ntenancy=ocid1.tenancy.oc1..t\nregion=iad\n\
         key_file=~/.oci/semi.pem\npass_phrase=se;cr#et\n\
         [ENC]\nkey_file=~/.oci/enc.pem\npass_phrase={PASSPHRASE}\nkey_content=AAAASECRETKEYCONTENT\n\
         [SESSION]\nuser=\nkey_file=~/.oci/enc.pem\npass_phrase={PASSPHRASE}\nsecurity_token_file=~/.oci/token\n",
        fixed("fingerprint")
    ));
    write(dir.path(), ".oci/token", &session);
    let env = Env::from_pairs([
        ("HOME", dir.path().to_str().unwrap()),
        ("OCI_CLI_PASSPHRASE_UNUSED", PASSPHRASE),
    ]);
    let mut s = secrets(&[&session]);
    s.push("AAAASECRETKEYCONTENT".into());
    let (captured, guard) = capture_tracing();

    let ctx = AuthContext::new(env.clone()).with_clock(Arc::new(ManualClock::new(VECTOR_DATE)));
    let api = build_provider(&AuthSettings::default(), &ctx)
        .await
        .unwrap();
    let creds = api.credentials().await.unwrap();
    assert_clean("ApiKeyProvider", &format!("{api:?}"), &s);
    assert_clean("Credentials", &format!("{creds:?}\n{}", creds.key_id), &s);
    assert_clean("Principal", &format!("{:?}", api.principal()), &s);

    let file = OciConfigFile::load(&dir.path().join(".oci/config")).unwrap();
    assert_clean("OciConfigFile", &format!("{file:?}"), &s);
    for name in ["DEFAULT", "ENC", "SESSION"] {
        assert_clean("Profile", &format!("{:?}", file.profile(name).unwrap()), &s);
    }
    assert_clean("Env", &format!("{env:?}"), &s);

    // key_content is refused; the error does not echo it.
    let enc = AuthSettings {
        profile: Some("ENC".into()),
        ..AuthSettings::default()
    };
    let err = build_provider(&enc, &ctx).await.unwrap_err();
    assert_clean("key_content error", &chain(&err), &s);

    let session_settings = AuthSettings {
        profile: Some("SESSION".into()),
        method: Some(AuthMethod::User),
        ..AuthSettings::default()
    };
    let p = build_provider(&session_settings, &ctx).await.unwrap();
    let creds = p.credentials().await.unwrap();
    assert_clean("SessionTokenProvider", &format!("{p:?}"), &s);
    assert_clean(
        "session Credentials",
        &format!("{creds:?}\n{}", creds.key_id),
        &s,
    );
    let renewed = jwt(serde_json::json!({"tenant": "ocid1.tenancy.oc1..t", "exp": 4102444801i64}));
    write(dir.path(), ".oci/token", &renewed);
    assert!(p.refresh_after_unauthorized().await.unwrap());
    let s = [s, secrets(&[&renewed])].concat();
    assert_clean("refreshed session provider", &format!("{p:?}"), &s);

    drop(guard);
    assert_clean("log lines", &captured.all_text(), &s);
}

#[tokio::test]
async fn key_and_token_errors_print_no_secret() {
    let s = secrets(&[]);
    // Wrong passphrase (both encrypted forms).
    for form in [
        "private_key_pkcs1_encrypted_pem",
        "private_key_pkcs8_encrypted_pem",
    ] {
        let e =
            SigningKey::from_pem(&key_pem(form), Some(&Passphrase::new("se;cr#et"))).unwrap_err();
        assert_clean("KeyError", &chain(&e), &s);
    }
    // Expired session token.
    let dir = home_with(&format!(
        "[DEFAULT]\ntenancy=ocid1.tenancy.oc1..t\nkey_file=~/.oci/key.pem\nsecurity_token_file=~/.oci/token\nfingerprint={}\n",
        fixed("fingerprint")
    ));
    let expired =
        jwt(serde_json::json!({"exp": datetime!(2025-01-01 00:00:00 UTC).unix_timestamp()}));
    write(dir.path(), ".oci/token", &expired);
    let ctx = AuthContext::new(Env::from_pairs([("HOME", dir.path().to_str().unwrap())]))
        .with_clock(Arc::new(ManualClock::new(VECTOR_DATE)));
    let err = build_provider(&AuthSettings::default(), &ctx)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::SessionTokenExpired { .. }));
    let s2 = secrets(&[&expired]);
    assert_clean("SessionTokenExpired", &chain(&err), &s2);
    // Wrapped in the crate error and in an OCI error.
    let wrapped = fleetctl_core::Error::from(err);
    assert_eq!(wrapped.class(), fleetctl_core::ErrorClass::Configuration);
    assert_clean("crate Error", &chain(&wrapped), &s2);
}

#[tokio::test]
async fn resource_principal_values_given_literally_are_never_printed() {
    let rpst = token("rpst");
    let env = Env::from_pairs([
        ("OCI_RESOURCE_PRINCIPAL_VERSION", "2.2"),
        ("OCI_RESOURCE_PRINCIPAL_RPST", rpst.as_str()),
        (
            "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM",
            key_pem("private_key_pkcs8_encrypted_pem").as_str(),
        ),
        ("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE", PASSPHRASE),
        ("OCI_RESOURCE_PRINCIPAL_REGION", "iad"),
    ]);
    let s = secrets(&[]);
    assert_clean("Env", &format!("{env:?}"), &s);
    let clock = ManualClock::new(VECTOR_DATE);
    let ctx = AuthContext::new(env.clone()).with_clock(Arc::new(clock.clone()));
    let (captured, guard) = capture_tracing();
    let p = ResourcePrincipalProvider::from_env(&ctx, None).unwrap();
    let creds = p.credentials().await.unwrap();
    assert_clean("ResourcePrincipalProvider", &format!("{p:?}"), &s);
    assert_clean(
        "RP Credentials",
        &format!("{creds:?}\n{}", creds.key_id),
        &s,
    );
    assert_clean("RP Principal", &format!("{:?}", p.principal()), &s);
    // A wrong literal passphrase: the error names the variable, not the value.
    let bad = env
        .clone()
        .with("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE", "se;cr#et");
    let err = ResourcePrincipalProvider::from_env(&AuthContext::new(bad), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM"),
        "{err}"
    );
    assert_clean("RP key error", &chain(&err), &s);
    // An expired literal token.
    let short = jwt(
        serde_json::json!({"res_tenant": "ocid1.tenancy.oc1..t", "exp": datetime!(2025-01-14 08:01:00 UTC).unix_timestamp()}),
    );
    let env2 = env.with("OCI_RESOURCE_PRINCIPAL_RPST", short.as_str());
    let p2 = ResourcePrincipalProvider::from_env(
        &AuthContext::new(env2).with_clock(Arc::new(clock.clone())),
        None,
    )
    .unwrap();
    clock.advance(Duration::from_secs(120));
    let err = p2.credentials().await.unwrap_err();
    let s2 = secrets(&[&short]);
    assert_clean("RP TokenExpired", &chain(&err), &s2);
    let oci = OciError::Auth {
        operation: "GetUser",
        source: err,
    };
    assert_clean("OciError::Auth", &chain(&oci), &s2);
    drop(guard);
    assert_clean("log lines", &captured.all_text(), &s2);
}

#[derive(Debug)]
struct StaticFederation;

#[async_trait]
impl Federation for StaticFederation {
    async fn federate(
        &self,
        expected: Option<&TenancyId>,
        _budget: FederationBudget,
    ) -> Result<FederatedToken, AuthError> {
        let v = vector("instance_principal_federation_x509");
        let docs = ImdsDocuments {
            leaf_certificate_pem: v["leaf_certificate_pem"].as_str().unwrap().into(),
            leaf_private_key_pem: data("second_key_pkcs8.pem"),
            intermediate_certificate_pem: v["intermediate_certificate_pem"]
                .as_str()
                .unwrap()
                .into(),
        };
        let session = SigningKey::generate_rsa_2048().unwrap();
        let req = prepare_federation(&docs, &session, expected)?;
        assert_clean("ImdsDocuments", &format!("{docs:?}"), &secrets(&[]));
        assert_clean("FederationRequest", &format!("{req:?}"), &secrets(&[]));
        Ok(FederatedToken {
            token: SecurityToken::parse(&token("instance_principal_token")).unwrap(),
            session_key: session,
            tenancy: req.tenancy,
        })
    }
}

#[tokio::test]
async fn instance_principal_provider_and_signed_headers_print_no_secret() {
    let s = secrets(&[]);
    let (captured, guard) = capture_tracing();
    let p = InstancePrincipalProvider::with_federation(
        Box::new(StaticFederation),
        Arc::new(ManualClock::new(VECTOR_DATE)),
        Region::parse("iad", "test").unwrap(),
        Some(InstanceId::parse("ocid1.instance.oc1.iad.i").unwrap()),
        "test".into(),
    )
    .await
    .unwrap();
    let creds = p.credentials().await.unwrap();
    assert!(p.refresh_after_unauthorized().await.unwrap());
    assert_clean("InstancePrincipalProvider", &format!("{p:?}"), &s);
    assert_clean(
        "instance Credentials",
        &format!("{creds:?}\n{}", creds.key_id),
        &s,
    );

    // Signed headers and the header map they are applied to.
    let url =
        url::Url::parse("https://iaas.us-ashburn-1.oraclecloud.com/20160918/instances").unwrap();
    let mut headers = http::HeaderMap::new();
    let signed = sign(
        &SignRequest {
            method: &http::Method::GET,
            url: &url,
            headers: &headers,
            body: b"",
            body_mode: BodyMode::Signed,
        },
        &creds.key_id,
        &creds.key,
        VECTOR_DATE,
    )
    .unwrap();
    assert!(
        signed
            .get("authorization")
            .unwrap()
            .contains(&token("instance_principal_token")),
        "the real header carries the token"
    );
    assert_clean("SignedHeaders", &format!("{signed:?}"), &s);
    signed.apply_to(&mut headers);
    assert_clean("HeaderMap", &format!("{headers:?}"), &s);
    let token_text = SecurityToken::parse(&token("instance_principal_token")).unwrap();
    assert_clean("SecurityToken", &both(&token_text), &s);
    drop(guard);
    assert_clean("log lines", &captured.all_text(), &s);
}

#[test]
fn endpoint_overrides_are_refused_showing_only_their_source_scheme_host_and_port() {
    let region = Region::parse("iad", "test").unwrap();
    let secrets = vec!["S3cretKey".to_string(), "user:".to_string()];
    // From env FLEETCTL_OCI_ENDPOINT, as text.
    let rows = [
        (
            "http://user:S3cretKey@127.0.0.1:8999",
            Some("http://127.0.0.1:8999"),
            "has user info",
        ),
        (
            "http://S3cretKey@127.0.0.1:8999/",
            Some("http://127.0.0.1:8999"),
            "has user info",
        ),
        (
            "https://oci.example.com/?sig=S3cretKey",
            Some("https://oci.example.com"),
            "has a query",
        ),
        (
            "http://127.0.0.1:8999/sim#S3cretKey",
            Some("http://127.0.0.1:8999"),
            "has a fragment",
        ),
        (
            "ftp://127.0.0.1/S3cretKey",
            Some("ftp://127.0.0.1"),
            "is not http:// or https://",
        ),
        (
            "user:S3cretKey@127.0.0.1:8999",
            None,
            "is not http:// or https://",
        ),
        ("S3cretKey", None, "is not http:// or https://"),
        ("http://user:S3cretKey@", None, "has user info"),
        (
            "http://127.0.0.1:8999/a b?S3cretKey",
            Some("http://127.0.0.1:8999"),
            "contains whitespace",
        ),
    ];
    for (value, shown, reason) in rows {
        let env = Env::from_pairs([("FLEETCTL_OCI_ENDPOINT", value)]);
        let err = Endpoints::from_settings(region.clone(), None, &env).unwrap_err();
        let text = chain(&err);
        assert_clean(value, &text, &secrets);
        assert!(
            err.to_string().contains("(from env FLEETCTL_OCI_ENDPOINT)"),
            "{value}: {err}"
        );
        assert!(err.to_string().contains(reason), "{value}: {err}");
        match shown {
            Some(shown) => assert!(
                err.to_string()
                    .starts_with(&format!("the OCI endpoint override `{shown}` ")),
                "{value}: {err}"
            ),
            None => assert!(
                err.to_string()
                    .starts_with("the OCI endpoint override (from "),
                "{value}: {err}"
            ),
        }
        // The auth layer passes it on as it is.
        let auth = AuthError::Endpoint(err);
        assert_clean(value, &chain(&auth), &secrets);
    }
    // From the `endpoint` setting and `with_override`, already parsed.
    for value in [
        "http://user:S3cretKey@127.0.0.1:8999",
        "https://oci.example.com/?sig=S3cretKey",
        "http://127.0.0.1:8999/#S3cretKey",
    ] {
        let url = url::Url::parse(value).unwrap();
        let err = Endpoints::from_settings(region.clone(), Some(&url), &Env::empty()).unwrap_err();
        assert_clean(value, &chain(&err), &secrets);
        assert!(
            err.to_string().contains("(from the `endpoint` setting)"),
            "{err}"
        );
        let err = Endpoints::new(region.clone())
            .with_override(url)
            .unwrap_err();
        assert_clean(value, &chain(&err), &secrets);
    }
}
