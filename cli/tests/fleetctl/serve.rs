//! `fleetctl serve` end to end: the binary against `oci-sim` (in this process) over real
//! HTTP on loopback; a scale through the API converges, `/control` and an SSE client see it,
//! and SIGTERM stops it cleanly with the lease released.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::process::Stdio;
use std::time::Duration;

use fleetctl_testkit::{TestSim, eventually};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support;

const TOKEN: &str = "serve-test-token-0123456789";

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// An SSE client reading `event:`/`data:` blocks from a streaming answer.
struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let event = block
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .unwrap_or_default()
                    .to_string();
                let data = block
                    .lines()
                    .find_map(|l| l.strip_prefix("data: "))
                    .unwrap_or("null");
                if !event.is_empty() {
                    return (event, serde_json::from_str(data).unwrap());
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(30), self.response.chunk())
                .await
                .expect("an SSE chunk within 30 s")
                .unwrap()
                .expect("the stream goes on");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test]
async fn serve_scales_through_the_api_and_stops_cleanly_on_sigterm() {
    let sim = TestSim::start_with(|c| c.seed = Some(11)).await;
    let fleet_file = sim.edited_fleet_file(3, ", drainTimeout: 50ms", "minReadySeconds: 0");
    let state = sim.dir().join("state.json");
    let mut cmd = support::fleetctl_async();
    cmd.args(["--config", fleet_file.to_str().unwrap()])
        .args(["--state", state.to_str().unwrap()])
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--reconcile-every",
            "500ms",
        ])
        .env("FLEETCTL_API_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("serve says where it listens within 60 s")
        .unwrap()
        .unwrap();
    let base = first
        .strip_prefix("fleetctl serve: listening on ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_string();
    let client = http();

    let health: Value = client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");

    // The control loop brings the fleet file's 3 into service on its own.
    let control = |client: reqwest::Client| {
        let url = format!("{base}/control");
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    eventually("3 active", || async {
        let c = control(client.clone()).await;
        (c["actual"] == 3 && c["drift"].is_null())
            .then_some(())
            .ok_or(c)
    })
    .await;

    let mut sse = Sse {
        response: client
            .get(format!("{base}/events"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap(),
        buffer: String::new(),
    };
    let (event, first_snapshot) = sse.next().await;
    assert_eq!(event, "snapshot");
    assert_eq!(first_snapshot["actual"], 3);

    let unauthorized = client
        .post(format!("{base}/scale"))
        .json(&json!({"desired": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    let accepted = client
        .post(format!("{base}/scale"))
        .bearer_auth(TOKEN)
        .json(&json!({"desired": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);

    // The SSE client sees the scale: its event, then snapshots up to 5 active.
    let mut saw_event = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "SSE never showed 5 active"
        );
        let (event, data) = sse.next().await;
        if event == "event" && data["message"] == "scale to 5 queued" {
            saw_event = true;
        }
        if event == "snapshot" && data["actual"] == 5 && data["lbBackends"] == 5 {
            break;
        }
    }
    assert!(
        saw_event,
        "the queued scale's event came before the snapshots"
    );
    let c = control(client.clone()).await;
    assert_eq!(
        (c["actual"].clone(), c["target"].clone()),
        (json!(5), json!(5))
    );
    let world = sim.world().await;
    let states: Vec<(String, String)> = world["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["displayName"].as_str().unwrap_or_default().to_string(),
                i["lifecycleState"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let live = states
        .iter()
        .filter(|(n, s)| n.starts_with("demo-web-") && s != "TERMINATING" && s != "TERMINATED")
        .count();
    assert_eq!(live, 5, "{states:?}");

    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("serve exits within 30 s of SIGTERM")
        .unwrap();
    let mut rest = Vec::new();
    while let Ok(Some(line)) = lines.next_line().await {
        rest.push(line);
    }
    assert_eq!(status.code(), Some(0), "{rest:?}");
    assert_eq!(
        rest.last().map(String::as_str),
        Some("fleetctl serve: stopped")
    );
    let ledger: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert!(
        ledger["lease"]["held"].is_null(),
        "the lease is released when idle: {}",
        ledger["lease"]
    );
}

#[tokio::test]
async fn serve_on_a_port_in_use_is_exit_2() {
    let sim = TestSim::start().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = support::fleetctl_async()
        .args(["--config", sim.fleet_file().to_str().unwrap()])
        .args(["--state", sim.dir().join("s.json").to_str().unwrap()])
        .args(["serve", "--http", &addr])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("API token"),
        "no token is printed for a server that never ran: {stderr}"
    );
}
