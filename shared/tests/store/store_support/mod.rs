//! Helpers shared by the `store_*` integration tests: backends to run the conformance suite
//! against (file, memory, s3 on a real moto server, oci on the simulator), and the suite
//! itself (`conformance`).
#![allow(clippy::unwrap_used, dead_code)]

pub mod conformance;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetctl_core::config::FleetName;
use fleetctl_core::env::Env;
use fleetctl_core::store::{Ledger, OpenOptions, StateStore};
use time::macros::datetime;

/// A fixed "now" for ledgers built by tests.
pub const T0: time::OffsetDateTime = datetime!(2025-01-14 08:00:00 UTC);

/// An empty ledger for fleet `web`.
pub fn ledger() -> Ledger {
    Ledger::new("web".parse::<FleetName>().unwrap(), T0)
}

/// A fresh, unique name for one case's document.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The workspace root (the parent of `shared/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

// ------------------------------------------------------------------------------------------
// moto (a real S3-compatible server)
// ------------------------------------------------------------------------------------------

/// `moto_server` beside `FLEETCTL_TEST_PYTHON` if that is set, else in `<workspace>/.venv`.
/// Panics (the test FAILS) with the way to install it when it is missing.
pub fn moto_server_path() -> PathBuf {
    if let Some(python) = std::env::var_os("FLEETCTL_TEST_PYTHON") {
        let python = PathBuf::from(python);
        let moto = python.with_file_name("moto_server");
        assert!(
            moto.exists(),
            "FLEETCTL_TEST_PYTHON={} has no moto_server beside it ({} is missing): install \
             tests/python/requirements.txt into that environment, or unset it and run \
             `cargo xtask setup`",
            python.display(),
            moto.display()
        );
        return moto;
    }
    let moto = workspace_root().join(".venv/bin/moto_server");
    assert!(
        moto.exists(),
        "no S3 test server: {} is missing and FLEETCTL_TEST_PYTHON is not set. Run `cargo \
         xtask setup` (it creates .venv from tests/python/requirements.txt, which includes \
         moto[server])",
        moto.display()
    );
    moto
}

/// A moto server on 127.0.0.1, killed when dropped.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

impl Moto {
    /// Starts `moto_server -H 127.0.0.1 -p <free port>` and waits until it answers.
    pub async fn start() -> Moto {
        let exe = moto_server_path();
        let mut last_error = String::new();
        // A port picked free can be taken before moto binds it; try a few.
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(&exe)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", exe.display()));
            let mut moto = Moto {
                child,
                url: format!("http://127.0.0.1:{port}"),
            };
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if let Some(status) = moto.child.try_wait().unwrap() {
                    last_error = format!("moto_server exited with {status} before answering");
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && reqwest::Client::builder()
                        .no_proxy()
                        .build()
                        .unwrap()
                        .get(format!("{}/", moto.url))
                        .send()
                        .await
                        .is_ok()
                {
                    return moto;
                }
                if Instant::now() > deadline {
                    panic!("moto_server on port {port} did not answer within 60 s");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        panic!("could not start moto_server: {last_error}");
    }

    /// Creates `bucket` with a plain PUT.
    pub async fn create_bucket(&self, bucket: &str) {
        let resp = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .put(format!("{}/{bucket}", self.url))
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "creating bucket {bucket} on moto: {}",
            resp.status()
        );
    }

    /// The environment an `s3://` store needs to reach this server.
    pub fn env(&self) -> Env {
        Env::from_pairs([
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", self.url.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
        ])
    }
}

// ------------------------------------------------------------------------------------------
// The simulator
// ------------------------------------------------------------------------------------------

/// A running simulator (real time, random seed) and a client signed with its DEFAULT profile
/// (API key): the one harness, `fleetctl_testkit::TestSim`.
pub struct SimEnv(fleetctl_testkit::TestSim);

impl std::ops::Deref for SimEnv {
    type Target = fleetctl_testkit::TestSim;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl SimEnv {
    pub async fn start() -> SimEnv {
        SimEnv(
            fleetctl_testkit::TestSim::start_with(|c| {
                c.time_scale = 1.0;
                c.seed = None;
            })
            .await,
        )
    }

    /// `oci://<seeded bucket>@<namespace>/<name>`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "oci://{}@{}/{name}",
            self.sim.bucket(),
            self.sim.namespace()
        )
    }

    pub fn open(&self, name: &str) -> StateStore {
        StateStore::open(
            &self.url(name),
            &OpenOptions::new().oci_client(self.client.clone()),
        )
        .unwrap()
    }
}

// ------------------------------------------------------------------------------------------
// A scripted HTTP server (an S3 or STS endpoint that answers what a case needs)
// ------------------------------------------------------------------------------------------

/// One request a [`FakeHttp`] received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a [`FakeHttp`] does with a request.
pub enum Reply {
    /// Write these bytes (a whole HTTP response) and keep serving the connection.
    Send(Vec<u8>),
    /// Write these bytes (e.g. only the head of a response) and then hold the connection open
    /// without another byte.
    Stall(Vec<u8>),
}

/// A response with `status`, extra `headers` and `body` (Content-Length set).
pub fn response(status: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (n, v) in headers {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

type Responder = dyn Fn(&Recorded) -> Reply + Send + Sync;

/// An HTTP/1.1 server on 127.0.0.1 that records every connection and request and answers with
/// what its responder returns. Stops accepting when dropped.
pub struct FakeHttp {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    connections: Arc<std::sync::atomic::AtomicUsize>,
    requests: Arc<std::sync::Mutex<Vec<Recorded>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeHttp {
    pub async fn start(respond: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> FakeHttp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let respond: Arc<Responder> = Arc::new(respond);
        let task = {
            let connections = Arc::clone(&connections);
            let requests = Arc::clone(&requests);
            tokio::spawn(async move {
                loop {
                    let Ok((socket, _)) = listener.accept().await else {
                        return;
                    };
                    connections.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::spawn(serve(socket, Arc::clone(&requests), Arc::clone(&respond)));
                }
            })
        };
        FakeHttp {
            url,
            connections,
            requests,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn serve(
    mut socket: tokio::net::TcpStream,
    requests: Arc<std::sync::Mutex<Vec<Recorded>>>,
    respond: Arc<Responder>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let method = first.next().unwrap_or_default().to_string();
        let target = first.next().unwrap_or_default().to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 4096];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        let request = Recorded {
            method,
            target,
            headers,
            body,
        };
        requests.lock().unwrap().push(request.clone());
        match respond(&request) {
            Reply::Send(bytes) => {
                if socket.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::Stall(bytes) => {
                let _ = socket.write_all(&bytes).await;
                std::future::pending::<()>().await;
            }
        }
    }
}
