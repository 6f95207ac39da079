//! `fleetctl status` with an `s3://` ledger and proxy variables in the environment: loopback
//! never goes through the proxy, and an unusable proxy variable is a configuration error.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use crate::support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback server that counts connections and answers every request with `answer`.
async fn answering(answer: String) -> (String, Arc<AtomicUsize>) {
    let answer: Arc<str> = answer.into();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            let answer = Arc::clone(&answer);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    (url, count)
}

/// A whole HTTP answer that closes the connection.
fn http_response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Issue 7 (test gaps): the `s3://` store's rule that loopback never goes through a proxy
/// was fixed by hand without a test. With every proxy variable pointing at a proxy that
/// refuses everything, a store on 127.0.0.1 (and the simulator) is still reached directly.
#[tokio::test(flavor = "multi_thread")]
async fn an_s3_store_on_loopback_is_never_reached_through_the_proxy() {
    let sim = fleetctl_testkit::TestSim::start().await;
    // S3's answer for a key that does not exist: there is no ledger yet.
    let (s3, s3_connections) = answering(http_response(
        "404 Not Found",
        "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>\
         </Error>",
    ))
    .await;
    // A proxy that refuses everything.
    let (proxy, proxy_connections) = answering(http_response("502 Bad Gateway", "")).await;
    let fleet = sim.fleet_file();
    let mut cmd = support::fleetctl_async();
    cmd.args(["--config", fleet.to_str().unwrap()])
        .args(["--state", "s3://fleet/state.json", "status"])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "t0p-s3cret")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", &s3)
        .env("AWS_ALLOW_HTTP", "true");
    for variable in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
    ] {
        cmd.env(variable, &proxy);
    }
    let out = cmd.output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("(ledger at s3://fleet/state.json: no ledger yet)"),
        "{stdout}"
    );
    assert!(s3_connections.load(Ordering::SeqCst) >= 1);
    assert_eq!(proxy_connections.load(Ordering::SeqCst), 0, "{stderr}");
}

/// Issue 7 (test gaps): a proxy variable the `s3://` store cannot use is a configuration error
/// (exit 1) naming the variable, found before anything is contacted.
#[tokio::test]
async fn an_unusable_proxy_variable_for_an_s3_store_is_exit_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = dir.path().join("fleet.yaml");
    std::fs::write(&fleet, support::fleet_yaml("{method: instance}")).unwrap();
    let out = support::fleetctl_async()
        .args(["--config", fleet.to_str().unwrap()])
        .args(["--state", "s3://fleet/state.json", "status"])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "t0p-s3cret")
        .env("HTTPS_PROXY", "socks5://127.0.0.1:1080")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(
            "fleetctl: error: cannot open the state store s3://fleet/state.json: the proxy \
             settings are not usable: env HTTPS_PROXY = `socks5://127.0.0.1:1080` is not a \
             usable proxy"
        ),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}
