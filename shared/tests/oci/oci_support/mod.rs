//! Helpers shared by the `oci_*` integration tests: the SDK signing vectors, test keys and
//! files, temporary config trees and a tracing capture.
#![allow(clippy::unwrap_used, dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use fleetctl_core::oci::keys::SigningKey;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::datetime;

/// The date pinned in every vector: `Tue, 14 Jan 2025 08:00:00 GMT`.
pub const VECTOR_DATE: OffsetDateTime = datetime!(2025-01-14 08:00:00 UTC);
/// The passphrase of every encrypted test key.
pub const PASSPHRASE: &str = "test-passphrase";

/// `shared/tests/data/oci/<name>`.
pub fn data_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/oci")
        .join(name)
}

/// The text of a test data file.
pub fn data(name: &str) -> String {
    std::fs::read_to_string(data_path(name)).unwrap()
}

/// The vector file (the repository copy; tests never read outside the repository).
pub fn vectors_file() -> Value {
    serde_json::from_str(&data("oci-signing-vectors.json")).unwrap()
}

/// The vector called `name`.
pub fn vector(name: &str) -> Value {
    vectors_file()["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// `key_material.<form>` of the vector file.
pub fn key_pem(form: &str) -> String {
    vectors_file()["key_material"][form]
        .as_str()
        .unwrap()
        .to_string()
}

/// The vector test key.
pub fn vector_key() -> SigningKey {
    SigningKey::from_pem(&key_pem("private_key_pkcs8_pem"), None).unwrap()
}

/// `fixed_inputs.<name>`.
pub fn fixed(name: &str) -> String {
    vectors_file()["fixed_inputs"][name]
        .as_str()
        .unwrap()
        .to_string()
}

/// `tokens.<name>`.
pub fn token(name: &str) -> String {
    vectors_file()["tokens"][name].as_str().unwrap().to_string()
}

/// A JWT with these claims (not validly signed; only claims matter to the client).
pub fn jwt(claims: Value) -> String {
    fleetctl_core::oci::token::unsigned_test_jwt(&claims)
}

/// Verifies an RSASSA-PKCS1-v1_5/SHA-256 signature with the public key, independently of the
/// signer under test.
pub fn verify(public_key_der: &[u8], message: &[u8], signature_b64: &str) -> bool {
    use base64::Engine as _;
    let sig = base64::engine::general_purpose::STANDARD
        .decode(signature_b64)
        .unwrap();
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key_der,
    )
    .verify(message, &sig)
    .is_ok()
}

/// The `signature="…"` parameter of an Authorization header.
pub fn signature_param(authorization: &str) -> String {
    param(authorization, "signature")
}

/// A `name="…"` parameter of an Authorization header.
pub fn param(authorization: &str, name: &str) -> String {
    let start = authorization.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
    let end = authorization[start..].find('"').unwrap() + start;
    authorization[start..end].to_string()
}

/// Captured tracing events (level and rendered fields) while the guard lives.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl Captured {
    pub fn events(&self) -> Vec<(tracing::Level, String)> {
        self.0.lock().unwrap().clone()
    }
    pub fn warnings(&self) -> Vec<String> {
        self.events()
            .into_iter()
            .filter(|(l, _)| *l == tracing::Level::WARN)
            .map(|(_, s)| s)
            .collect()
    }
    pub fn all_text(&self) -> String {
        self.events()
            .into_iter()
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

struct CaptureSubscriber(Captured);

struct FieldText(String);

impl tracing::field::Visit for FieldText {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl tracing::Subscriber for CaptureSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = FieldText(String::new());
        event.record(&mut text);
        (self.0)
            .0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), text.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Installs a capturing subscriber for the current thread until the guard is dropped.
pub fn capture_tracing() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let guard = tracing::subscriber::set_default(CaptureSubscriber(captured.clone()));
    (captured, guard)
}

/// Writes `contents` to `dir/name` with mode 0600 (as `oci setup config` leaves keys and
/// configs; a key others can read is warned about) and returns the path.
pub fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&path, contents).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// One request a [`TinyServer`] received.
#[derive(Debug, Clone)]
pub struct Received {
    /// `GET /path HTTP/1.1`, `CONNECT host:443 HTTP/1.1`, …
    pub request_line: String,
    /// Header names (lower-cased) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Received {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path of the request line (the authority for `CONNECT`).
    pub fn target(&self) -> &str {
        self.request_line.split(' ').nth(1).unwrap_or("")
    }
}

/// What a [`TinyServer`] answers: status, extra headers, body.
pub type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// A minimal HTTP/1.1 server on 127.0.0.1 for answers the simulator never gives (malformed
/// bodies, a metadata service with bad documents, a proxy that records what it was asked):
/// each connection gets one answer from `respond` and is closed.
pub struct TinyServer {
    addr: std::net::SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TinyServer {
    /// Starts the server on a free loopback port.
    pub async fn start<F>(respond: F) -> Self
    where
        F: Fn(&Received) -> Answer + Send + Sync + 'static,
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let respond = Arc::new(respond);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let log = log.clone();
                let respond = respond.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i;
                        }
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                    let mut lines = head.split("\r\n");
                    let request_line = lines.next().unwrap_or("").to_string();
                    let headers: Vec<(String, String)> = lines
                        .filter_map(|l| l.split_once(':'))
                        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    let len = headers
                        .iter()
                        .find(|(n, _)| n == "content-length")
                        .and_then(|(_, v)| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    let mut body = buf[head_end + 4..].to_vec();
                    while body.len() < len {
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => body.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let req = Received {
                        request_line,
                        headers,
                        body,
                    };
                    let (status, extra, body) = respond(&req);
                    log.lock().unwrap().push(req);
                    let mut out = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n",
                        body.len()
                    );
                    for (n, v) in extra {
                        out.push_str(&format!("{n}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    let mut bytes = out.into_bytes();
                    bytes.extend_from_slice(&body);
                    let _ = socket.write_all(&bytes).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self {
            addr,
            received,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for TinyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A JSON answer with status 200.
pub fn json_answer(body: &str) -> Answer {
    (
        200,
        vec![("content-type".into(), "application/json".into())],
        body.as_bytes().to_vec(),
    )
}
