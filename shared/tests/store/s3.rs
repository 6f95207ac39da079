//! The `s3://` store against scripted S3 and STS endpoints on 127.0.0.1: what it refuses to
//! send in cleartext, how much it reads, and what of a server's error body it repeats.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::store_support;

use fleetctl_core::env::Env;
use fleetctl_core::store::{OpenOptions, StateStore, StoreError};
use fleetctl_core::{Error, ErrorClass};
use store_support::{FakeHttp, Reply, response};

/// Every message of `err`'s chain, one per line, as the CLI prints them.
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        out.push('\n');
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// An endpoint that must never be contacted: it answers 500 and counts connections.
async fn trap() -> FakeHttp {
    FakeHttp::start(|_| Reply::Send(response("500 Internal Server Error", &[], ""))).await
}

/// Issue 7, item 2: an `http://` endpoint was accepted without `AWS_ALLOW_HTTP`, sending the
/// request signature, any session token and the ledger in cleartext.
#[tokio::test]
async fn an_http_endpoint_without_aws_allow_http_is_refused_before_any_request() {
    let server = trap().await;
    let env = Env::from_pairs([
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "t0p-s3cret"),
        ("AWS_SESSION_TOKEN", "session-t0ken"),
        ("AWS_ENDPOINT_URL", server.url.as_str()),
    ]);
    let err = StateStore::open("s3://fleet/state.json", &OpenOptions::new().env(env))
        .map(|store| store.url().to_string())
        .unwrap_err();
    assert!(matches!(err, StoreError::Unusable { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "cannot open the state store s3://fleet/state.json: env AWS_ENDPOINT_URL is a plain \
         http:// endpoint, which would send the credentials and the ledger in cleartext; use \
         https://, or set AWS_ALLOW_HTTP=true for a local test server"
    );
    assert_eq!(Error::from(err).class(), ErrorClass::Configuration);
    assert_eq!(server.connections(), 0);

    // `AWS_ALLOW_HTTP=false` is the same as unset; a value that is no boolean is refused.
    for (value, expected) in [
        (
            "false",
            "env AWS_ENDPOINT_URL_S3 is a plain http:// endpoint",
        ),
        ("maybe", "env AWS_ALLOW_HTTP = `maybe` is not true or false"),
    ] {
        let env = Env::from_pairs([
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "t0p-s3cret"),
            ("AWS_ENDPOINT_URL_S3", server.url.as_str()),
            ("AWS_ALLOW_HTTP", value),
        ]);
        let err = StateStore::open("s3://fleet/state.json", &OpenOptions::new().env(env))
            .map(|store| store.url().to_string())
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{value}: {err}");
    }
}

/// Issue 7, item 2: the S3 client dropped object_store's client options, so the web-identity
/// token went to an `http://` STS endpoint although object_store asks for https there.
#[tokio::test]
async fn the_web_identity_token_is_never_sent_over_plain_http() {
    let s3 = trap().await;
    let sts = trap().await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "web-identity-s3cret").unwrap();
    let env = Env::from_pairs([
        ("AWS_ENDPOINT_URL", s3.url.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
        ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/fleet"),
        ("AWS_ENDPOINT_URL_STS", sts.url.as_str()),
    ]);
    let store = StateStore::open("s3://fleet/state.json", &OpenOptions::new().env(env)).unwrap();
    let err = tokio::time::timeout(std::time::Duration::from_secs(60), store.load())
        .await
        .expect("the load ends")
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert_eq!(
        sts.connections(),
        0,
        "the STS endpoint was contacted over http"
    );
    assert_eq!(s3.connections(), 0, "S3 was called without credentials");
    assert!(
        !chain(&err).contains("web-identity-s3cret"),
        "{}",
        chain(&err)
    );
}

/// The environment of a store whose S3 endpoint is `server` (plain http allowed: a test
/// server on loopback).
fn env_for(server: &FakeHttp) -> Env {
    Env::from_pairs([
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "t0p-s3cret"),
        ("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEXAMPLEsessiontoken"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", server.url.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
    ])
}

/// Issue 7, item 3: the ledger was read whole, whatever its size. An object announced larger
/// than 64 MiB is refused on its `Content-Length`, without waiting for its content (this
/// server sends the head of a 1 GiB answer and then nothing).
#[tokio::test]
async fn an_object_over_64_mib_is_refused_on_its_content_length() {
    let server = FakeHttp::start(|_| {
        Reply::Stall(
            b"HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\netag: \"abc\"\r\n\
              last-modified: Tue, 14 Jan 2025 08:00:00 GMT\r\n\r\n{\"version\": 1"
                .to_vec(),
        )
    })
    .await;
    let store = StateStore::open(
        "s3://fleet/state.json",
        &OpenOptions::new().env(env_for(&server)),
    )
    .unwrap();
    let err = tokio::time::timeout(std::time::Duration::from_secs(20), store.load())
        .await
        .expect("refused without reading the content")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the state document at s3://fleet/state.json was not read: 1073741824 bytes is more \
         than the limit of 64 MiB; a fleetctl ledger is far smaller, so check the URL or move \
         the object away"
    );
    assert_eq!(Error::from(err).class(), ErrorClass::Infrastructure);
    assert_eq!(server.requests().len(), 1);
}

/// The answer S3 gives a request whose signature it cannot verify: the canonical request it
/// expected, `x-amz-security-token` included, as text and as hex bytes.
fn signature_does_not_match(request: &store_support::Recorded) -> String {
    let token = request.header("x-amz-security-token").unwrap_or_default();
    let signature = request
        .header("authorization")
        .and_then(|a| a.split("Signature=").nth(1))
        .unwrap_or_default();
    let canonical = format!(
        "GET\n{}\n\nhost:{}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:{}\n\
         x-amz-security-token:{token}\n\nhost;x-amz-content-sha256;x-amz-date;\
         x-amz-security-token\nUNSIGNED-PAYLOAD",
        request.target,
        request.header("host").unwrap_or_default(),
        request.header("x-amz-date").unwrap_or_default(),
    );
    let hex: Vec<String> = canonical.bytes().map(|b| format!("{b:02x}")).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>\
         <Message>The request signature we calculated does not match the signature you \
         provided. Check your key and signing method.</Message>\
         <AWSAccessKeyId>AKIDEXAMPLE</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256\n\
         20250114T080000Z\n20250114/us-east-1/s3/aws4_request\n{}</StringToSign>\
         <SignatureProvided>{signature}</SignatureProvided>\
         <CanonicalRequest>{canonical}</CanonicalRequest>\
         <CanonicalRequestBytes>{}</CanonicalRequestBytes>\
         <RequestId>4442587FB7D0A2F9</RequestId><HostId>{}</HostId></Error>",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        hex.join(" "),
        "h".repeat(76),
    )
}

/// Issue 7, item 7: the CLI prints the whole cause chain, and object_store's errors carry
/// S3's answer whole; a `SignatureDoesNotMatch` answer echoes the session token. The store's
/// errors keep the code and message, never the token, signature or long bodies.
#[tokio::test]
async fn s3_error_bodies_are_cut_and_their_credentials_redacted() {
    let server = FakeHttp::start(|request| {
        let body = signature_does_not_match(request);
        Reply::Send(response(
            "403 Forbidden",
            &[("content-type", "application/xml")],
            &body,
        ))
    })
    .await;
    let env = env_for(&server);
    let token = "FQoGZXIvYXdzEXAMPLEsessiontoken";
    let store = StateStore::open("s3://fleet/state.json", &OpenOptions::new().env(env)).unwrap();
    let err = store.load().await.unwrap_err();
    let printed = chain(&err);
    let request = server.requests().pop().unwrap();
    assert_eq!(request.header("x-amz-security-token"), Some(token));
    let signature = request
        .header("authorization")
        .and_then(|a| a.split("Signature=").nth(1))
        .unwrap()
        .to_string();
    let token_hex: String = token.bytes().take(8).map(|b| format!("{b:02x} ")).collect();
    for secret in [token, signature.as_str(), token_hex.trim_end()] {
        assert!(!printed.contains(secret), "{secret} leaked:\n{printed}");
    }
    assert!(
        printed.contains(
            "SignatureDoesNotMatch: The request signature we calculated does not \
                          match the signature you provided."
        ),
        "{printed}"
    );
    assert_eq!(
        printed.matches("SignatureDoesNotMatch").count(),
        1,
        "the answer is printed once:\n{printed}"
    );
    for line in printed.lines() {
        assert!(line.chars().count() <= 400, "a long line: {line}");
    }

    // Any other body is cut, and what looks like a credential in it is redacted.
    let server = FakeHttp::start(|_| {
        let body = format!(
            "proxy refused the request (Authorization: AWS4-HMAC-SHA256 \
             Credential=AKIDEXAMPLE/20250114/us-east-1/s3/aws4_request, SignedHeaders=host, \
             Signature=0123456789abcdef) {}",
            "<p>filler</p>".repeat(2000)
        );
        Reply::Send(response("400 Bad Request", &[], &body))
    })
    .await;
    let store = StateStore::open(
        "s3://fleet/state.json",
        &OpenOptions::new().env(env_for(&server)),
    )
    .unwrap();
    let printed = chain(&store.load().await.unwrap_err());
    assert!(!printed.contains("0123456789abcdef"), "{printed}");
    assert!(!printed.contains("AKIDEXAMPLE/2025"), "{printed}");
    assert!(printed.contains("proxy refused the request"), "{printed}");
    assert!(printed.contains("more characters)"), "{printed}");
    for line in printed.lines() {
        assert!(line.chars().count() <= 400, "a long line: {line}");
    }
}
