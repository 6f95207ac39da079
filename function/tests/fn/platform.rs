//! The test plays the Fn platform: it makes the socket directory, starts the built
//! `fleetctl-function` with the Functions environment, waits for the symlink, and sends
//! gateway-style, schedule-style and Events-style calls over the unix socket.

use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tokio::process::{Child, Command};

use axum::body::Body;
use http::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

use fleetctl_testkit::{TestSim, eventually};

use crate::support::{OBJECT, fleet_text, functions_env, object_url, put};

const BIN: &str = env!("CARGO_BIN_EXE_fleetctl-function");
const TOKEN: &str = "fn-test-token-not-a-secret";

/// A started function: its process, its `iofs` directory and the socket path.
struct Function {
    child: Child,
    iofs: TempDir,
}

impl Function {
    fn socket(&self) -> PathBuf {
        self.iofs.path().join("lsnr.sock")
    }

    /// Stops it with SIGTERM (as a container stop does) and returns its output.
    async fn stop(self) -> (Output, TempDir) {
        let pid = self.child.id().expect("still running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        (self.child.wait_with_output().await.unwrap(), self.iofs)
    }
}

/// The command with the Functions environment of `sim` and nothing else from this process.
fn command(sim: &TestSim, iofs: &Path, extra: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env_clear()
        .env("HOME", iofs)
        .env(
            "FN_LISTENER",
            format!("unix:{}", iofs.join("lsnr.sock").display()),
        )
        .env("FN_FORMAT", "http-stream")
        .env("FN_APP_ID", "ocid1.fnapp.oc1.iad.test")
        .env("FN_FN_ID", "ocid1.fnfunc.oc1.iad.test")
        .env("FLEETCTL_CONFIG", object_url(sim, OBJECT))
        .env("FLEETCTL_API_TOKEN", TOKEN)
        .env("FLEETCTL_PATH_PREFIX", "/fleet")
        .env("FLEETCTL_LOG_FORMAT", "json")
        .envs(functions_env(sim))
        .envs(extra.iter().copied())
        .kill_on_drop(true)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

async fn start(sim: &TestSim, extra: &[(&str, &str)]) -> Function {
    let iofs = tempfile::tempdir().unwrap();
    let child = command(sim, iofs.path(), extra).spawn().unwrap();
    let f = Function { child, iofs };
    let link = f.socket();
    // The platform watches for the link; the function makes it last.
    eventually("the lsnr.sock symlink", || {
        let link = link.clone();
        async move { std::fs::symlink_metadata(&link).map(|_| ()) }
    })
    .await;
    f
}

/// One HTTP/1.1 connection to the socket, kept alive across calls as the agent does.
async fn connect(socket: &Path) -> hyper::client::conn::http1::SendRequest<Body> {
    let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    sender
}

async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<Body>,
    req: Request<Body>,
) -> (Response<()>, Value) {
    sender.ready().await.unwrap();
    let response = sender.send_request(req).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = http_body_util_collect(body).await;
    let value = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    (Response::from_parts(parts, ()), value)
}

async fn http_body_util_collect(body: hyper::body::Incoming) -> bytes::Bytes {
    axum::body::to_bytes(Body::new(body), 8 << 20)
        .await
        .unwrap()
}

fn call() -> http::request::Builder {
    Request::post("/call")
        .header("host", "localhost")
        .header("fn-call-id", "01ES6STAH91BT0G48ZJ00J07ZT")
        .header("opc-request-id", "/32DE/01ES6")
}

fn rfc3339(offset: time::Duration) -> String {
    (time::OffsetDateTime::now_utc() + offset)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// The JSON log lines of a finished function.
fn log_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test]
async fn the_function_serves_gateway_schedule_and_events_calls_over_the_fn_socket() {
    let sim = TestSim::start().await;
    put(&sim, OBJECT, &fleet_text(&sim, 3)).await;
    let f = start(
        &sim,
        &[
            ("FN_LOGFRAME_NAME", "01ES54E5RN"),
            ("FN_LOGFRAME_HDR", "Opc-Request-Id"),
        ],
    )
    .await;

    // H2: a relative link to a socket anyone may connect to.
    let link = f.socket();
    let target = std::fs::read_link(&link).unwrap();
    assert_eq!(
        target.parent(),
        Some(Path::new("")),
        "relative, no directory: {target:?}"
    );
    let phony = f.iofs.path().join(&target);
    let meta = std::fs::metadata(&phony).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o666);

    let mut agent = connect(&link).await;

    // A gateway call: the client's method, URL (with the deployment prefix) and headers.
    let (response, body) = send(
        &mut agent,
        call()
            .header("fn-intent", "httprequest")
            .header("fn-invoke-type", "sync")
            .header("fn-deadline", rfc3339(time::Duration::minutes(1)))
            .header("fn-http-method", "GET")
            .header("fn-http-request-url", "/fleet/healthz?verbose=1")
            .header(
                "fn-http-h-host",
                "abc.apigateway.us-ashburn-1.oci.customer-oci.com",
            )
            .header("fn-http-h-accept", "application/json")
            .header("transfer-encoding", "chunked")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK, "{body}");
    let h = response.headers();
    assert_eq!(h["fn-http-status"], "200");
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(
        h["fn-fdk-version"],
        format!("fdk-rust/{}", env!("CARGO_PKG_VERSION")).as_str()
    );
    let runtime = h["fn-fdk-runtime"].to_str().unwrap();
    assert!(runtime.starts_with("rust/1."), "{runtime}");
    assert_eq!(body["status"], "ok");

    // The same route without the prefix is not found, and the client sees the 404.
    let (response, _) = send(
        &mut agent,
        call()
            .header("fn-http-method", "GET")
            .header("fn-http-request-url", "/nowhere")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["fn-http-status"], "404");

    // A schedule's empty call and an Events delivery: each runs a step (POST /reconcile),
    // authorised by the token the platform's own calls carry, and it succeeds.
    let (response, body) = send(
        &mut agent,
        call()
            .header("fn-deadline", rfc3339(time::Duration::minutes(1)))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let step_status: u16 = response.headers()["fn-http-status"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(step_status, 200, "{body}");
    assert_eq!(response.status(), StatusCode::OK, "{body}");

    let event = json!({
        "eventType": "com.oraclecloud.computeapi.terminateinstance.end",
        "cloudEventsVersion": "0.1",
        "eventTypeVersion": "2.0",
        "source": "ComputeApi",
        "eventTime": "2026-12-06T07:00:00Z",
        "contentType": "application/json",
        "eventID": "5f4b-events-1",
        "extensions": {"compartmentId": sim.compartment().as_str()},
        "data": {"resourceId": "ocid1.instance.oc1.iad.terminated1", "resourceName": "web-2"}
    });
    let (response, _) = send(
        &mut agent,
        call()
            .header("content-type", "application/json")
            .header("fn-deadline", rfc3339(time::Duration::minutes(1)))
            .body(Body::from(event.to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(
        response.headers()["fn-http-status"].to_str().unwrap(),
        step_status.to_string()
    );
    assert!(response.headers().contains_key("fn-fdk-version"));

    // A call whose deadline has passed: 504, nothing run.
    let (response, body) = send(
        &mut agent,
        call()
            .header("fn-deadline", rfc3339(-time::Duration::seconds(5)))
            .header("fn-http-method", "GET")
            .header("fn-http-request-url", "/fleet/healthz")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(
        body["message"].as_str().unwrap().contains("deadline"),
        "{body}"
    );

    drop(agent);
    let (output, iofs) = f.stop().await;
    assert!(
        output.status.success(),
        "SIGTERM is a clean stop: {output:?}"
    );
    assert!(
        std::fs::read_dir(iofs.path()).unwrap().next().is_none(),
        "the link and the phony socket are removed on exit"
    );
    let logs = log_lines(&output);
    let step = |kind: &str| {
        logs.iter().any(|l| {
            l["message"] == "fn call answered" && l["path"] == "/reconcile" && l["kind"] == kind
        })
    };
    assert!(step("Schedule") && step("Event"), "{logs:#?}");
    assert!(
        logs.iter().any(
            |l| l["event_type"] == "com.oraclecloud.computeapi.terminateinstance.end"
                && l["resource_id"] == "ocid1.instance.oc1.iad.terminated1"
        ),
        "the delivery's type and resource are logged: {logs:#?}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("\n01ES54E5RN=/32DE/01ES6\n"),
        "log framing on stdout: {stdout:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains(TOKEN), "the invoke token is never logged");
}

#[tokio::test]
async fn a_format_other_than_http_stream_exits_1_without_a_socket() {
    let sim = TestSim::start().await;
    let iofs = tempfile::tempdir().unwrap();
    let output = command(&sim, iofs.path(), &[("FN_FORMAT", "json")])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FN_FORMAT=\"json\" is not supported"),
        "{stderr}"
    );
    assert!(std::fs::read_dir(iofs.path()).unwrap().next().is_none());
}

#[tokio::test]
async fn a_broken_fleet_object_exits_1_naming_it() {
    let sim = TestSim::start().await;
    let broken = fleet_text(&sim, 3).replace("count: 3", "count: lots");
    put(&sim, OBJECT, &broken).await;
    let iofs = tempfile::tempdir().unwrap();
    let output = command(&sim, iofs.path(), &[]).output().await.unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = broken
        .lines()
        .position(|l| l.contains("count: lots"))
        .unwrap()
        + 1;
    assert!(
        stderr.contains(&format!("{}:{line}:", object_url(&sim, OBJECT))),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_socket_that_cannot_be_bound_exits_2() {
    let sim = TestSim::start().await;
    let iofs = tempfile::tempdir().unwrap();
    let missing = iofs.path().join("no-such-dir").join("lsnr.sock");
    let output = command(
        &sim,
        iofs.path(),
        &[("FN_LISTENER", &format!("unix:{}", missing.display()))],
    )
    .output()
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot bind the socket"), "{stderr}");
}

#[tokio::test]
async fn without_fn_listener_it_serves_http_with_the_same_fleet() {
    let sim = TestSim::start().await;
    let path = sim.dir().join("fleet.yaml");
    std::fs::write(&path, fleet_text(&sim, 3)).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let iofs = tempfile::tempdir().unwrap();
    let mut cmd = command(&sim, iofs.path(), &[]);
    cmd.env_remove("FN_LISTENER")
        .env("FLEETCTL_CONFIG", &path)
        .args(["--listen", &format!("127.0.0.1:{port}")]);
    let child = cmd.spawn().unwrap();
    let f = Function { child, iofs };
    let http = fleetctl_testkit::admin_http();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let body: Value = eventually("GET /healthz", || {
        let http = http.clone();
        let url = url.clone();
        async move { http.get(&url).send().await?.json::<Value>().await }
    })
    .await;
    assert_eq!(body["status"], "ok");
    let (output, _) = f.stop().await;
    assert!(output.status.success(), "{output:?}");
    let logs = log_lines(&output);
    assert!(
        logs.iter().any(|l| l["message"] == "fleet file loaded"
            && l["fleet"] == path.display().to_string().as_str()
            && l["name"] == "demo"),
        "{logs:#?}"
    );
}
