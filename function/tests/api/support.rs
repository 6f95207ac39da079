//! A router over the simulator's demo fleet (group `web` of 3 behind the classic load
//! balancer), with its ledger in a memory store of its own.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use fleetctl_core::config;
use fleetctl_core::env::Env;
use fleetctl_core::fleet::{Fleet, Overrides};
use fleetctl_function::{AppState, Options, TokenDigest};
use fleetctl_testkit::TestSim;
use serde_json::Value;
use tower::ServiceExt;

/// The token the test servers accept.
pub const TOKEN: &str = "test-token-0123456789";

pub struct Api {
    pub sim: TestSim,
    pub state: AppState,
    pub router: Router,
}

/// One answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Asserts the one error shape with `status` and `code`; returns the `error` object.
    pub fn error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "{}", self.text());
        assert!(self.content_type().starts_with("application/json"));
        let body = self.json();
        let error = body["error"].clone();
        assert_eq!(error["code"], code, "{body}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
        let id = self.headers["x-request-id"].to_str().unwrap();
        assert_eq!(error["requestId"], id, "{body}");
        assert_eq!(
            body.as_object().unwrap().len(),
            1,
            "only `error` at the top: {body}"
        );
        error
    }
}

impl Api {
    /// A server with short cache periods, so tests see changes at once.
    pub async fn start() -> Api {
        Api::start_with(Options {
            refresh_every: Duration::ZERO,
            status_ttl: Duration::ZERO,
        })
        .await
    }

    pub async fn start_with(options: Options) -> Api {
        static N: AtomicUsize = AtomicUsize::new(0);
        let sim = TestSim::start().await;
        let config = config::load_file(&sim.fleet_file()).unwrap();
        let state_url = format!(
            "memory://api-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let overrides = Overrides::new(Env::empty())
            .state_url(Some(state_url))
            .endpoint(url::Url::parse(sim.base_url()).unwrap())
            .lease_ttl(Some(Duration::from_secs(5)));
        let fleet = Fleet::open(config, overrides).await.unwrap();
        let state = AppState::with_options(fleet, TokenDigest::of(TOKEN), options);
        let router = fleetctl_function::router(state.clone());
        Api { sim, state, router }
    }

    pub async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 1 << 24)
            .await
            .unwrap();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.get_as(path, None).await
    }

    pub async fn get_as(&self, path: &str, accept: Option<&str>) -> Answer {
        let mut r = Request::get(path);
        if let Some(a) = accept {
            r = r.header("accept", a);
        }
        self.send(r.body(Body::empty()).unwrap()).await
    }

    /// A POST with the right token and, when given, a JSON body.
    pub async fn post(&self, path: &str, body: Option<Value>) -> Answer {
        self.post_raw(
            path,
            Some(TOKEN),
            body.map(|b| b.to_string()).unwrap_or_default(),
        )
        .await
    }

    /// A POST with `token` (none when `None`) and `body` as it is (JSON content type).
    pub async fn post_raw(&self, path: &str, token: Option<&str>, body: impl Into<Body>) -> Answer {
        let mut r = Request::post(path).header("content-type", "application/json");
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        self.send(r.body(body.into()).unwrap()).await
    }
}
