//! The demo, the browser and the waiting: what every dashboard test shares.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard};

use crate::support::{self, ChildGuard};

/// Simulated durations are multiplied by this (a 60 s boot takes 3 s): slow enough that
/// an operation's progress is seen step by step, fast enough for a test.
pub const TIME_SCALE: &str = "0.05";
/// The longest any one thing may take to show on the page.
pub const WAIT: Duration = Duration::from_secs(120);

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

/// Holds the browser-test lock for the test's duration (a failed test releases it too).
pub async fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    support::closed_port()
}

/// Lines of a child's stdout, read on a thread.
struct Lines {
    rx: Receiver<std::io::Result<String>>,
    seen: Vec<String>,
}

impl Lines {
    fn new(stdout: std::process::ChildStdout) -> Self {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            rx,
            seen: Vec::new(),
        }
    }

    /// The first line for which `pick` gives something, within `deadline`.
    fn find<T>(&mut self, deadline: Instant, pick: impl Fn(&str) -> Option<T>) -> Option<T> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Ok(line)) => {
                    let hit = pick(&line);
                    self.seen.push(line);
                    if hit.is_some() {
                        return hit;
                    }
                }
                Ok(Err(_)) | Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return None;
                }
            }
        }
    }
}

/// `fleetctl demo --http 127.0.0.1:<port>`: the simulated OCI, the API and the dashboard.
pub struct Demo {
    child: Option<ChildGuard>,
    dir: tempfile::TempDir,
    port: u16,
    /// The dashboard's address as the demo printed it (`http://127.0.0.1:P/#token=T`).
    pub url: String,
}

impl Demo {
    /// Starts a demo on a free port.
    pub fn start() -> Demo {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let (child, url) = Self::spawn(&dir, port);
        Demo {
            child: Some(child),
            dir,
            port,
            url,
        }
    }

    fn spawn(dir: &tempfile::TempDir, port: u16) -> (ChildGuard, String) {
        let mut child = ChildGuard::spawn(
            support::fleetctl()
                .args(["demo", "--dir"])
                .arg(dir.path().join("demo"))
                .args(["--sim-listen", "127.0.0.1:0", "--time-scale", TIME_SCALE])
                .args(["--http", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        );
        let mut lines = Lines::new(child.stdout.take().unwrap());
        let url = lines.find(Instant::now() + WAIT, |l| {
            let at = l.find("http://127.0.0.1:")?;
            let url: String = l[at..].chars().take_while(|c| !c.is_whitespace()).collect();
            url.contains("#token=").then_some(url)
        });
        let url = url.unwrap_or_else(|| {
            panic!(
                "`fleetctl demo --http` printed no dashboard URL with #token= within {WAIT:?}:\n{}",
                lines.seen.join("\n")
            )
        });
        // Keep draining stdout so the demo never blocks on a full pipe.
        std::thread::spawn(move || while lines.rx.recv().is_ok() {});
        (child, url)
    }

    /// The address without the token (`http://127.0.0.1:P/`).
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The token the demo printed.
    pub fn token(&self) -> String {
        self.url
            .split_once("#token=")
            .map(|(_, t)| t.to_string())
            .unwrap()
    }

    /// Kills the demo (SIGKILL: the server goes away without a goodbye).
    pub fn kill(&mut self) {
        drop(self.child.take());
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        let (child, url) = Self::spawn(&self.dir, self.port);
        self.child = Some(child);
        self.url = url;
    }

    /// `GET path` of the demo's API, as JSON.
    pub async fn get(&self, path: &str) -> Value {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.base()))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// The badge texts the API's snapshot gives now (`fleetctl_api::badges`).
    pub async fn badge_texts(&self) -> Vec<(String, String)> {
        let snapshot: fleetctl_api::metrics::MetricsSnapshot =
            serde_json::from_value(self.get("metrics").await).unwrap();
        fleetctl_api::badges::badges(&snapshot)
            .into_iter()
            .map(|b| {
                let kind = serde_json::to_value(b.kind).unwrap();
                (kind.as_str().unwrap().to_string(), b.text)
            })
            .collect()
    }
}

fn program(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// A Chrome DevTools Protocol command sent through chromedriver (`goog/cdp/execute`).
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Headless chromium through chromedriver, with a fresh profile.
pub struct Browser {
    pub client: Client,
    _driver: DriverGroup,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

/// chromedriver in a process group of its own, with the browser it starts: dropped, the whole
/// group is killed. (Killing chromedriver alone leaves its chromium running, orphaned, after
/// the tests end.)
struct DriverGroup(ChildGuard);

impl Drop for DriverGroup {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        // Best effort: the group may be gone already.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Browser {
    /// Starts chromedriver and a browser session; screenshots go under `test`'s directory.
    pub async fn start(test: &str) -> Browser {
        let chromedriver = program("FLEETCTL_CHROMEDRIVER", "chromedriver");
        let chromium = program("FLEETCTL_CHROMIUM", "/usr/bin/chromium");
        let port = free_port();
        let driver = std::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {chromedriver:?} ({e}): the dashboard's browser tests need \
                     chromium and chromedriver; run `cargo xtask setup`"
                )
            });
        let driver = DriverGroup(ChildGuard(driver));
        let webdriver = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = reqwest::get(format!("{webdriver}/status"))
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_string(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&webdriver)
            .await
            .unwrap_or_else(|e| panic!("no browser session from {chromedriver:?}: {e}"));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let shots = target.join("dashboard-e2e").join(test);
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            client,
            _driver: driver,
            _profile: profile,
            shots,
        }
    }

    /// Makes every request whose URL matches one of `patterns` fail (as a gateway that does
    /// not pass a route would), from now on.
    pub async fn block(&self, patterns: &[&str]) {
        for (cmd, params) in [
            ("Network.enable", json!({})),
            ("Network.setBlockedURLs", json!({ "urls": patterns })),
        ] {
            self.client
                .issue_cmd(Cdp { cmd, params })
                .await
                .unwrap_or_else(|e| panic!("{cmd}: {e}"));
        }
    }

    /// Saves a screenshot as `<name>.png`.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap()
    }

    /// Polls `script` until `done` accepts its value; fails with the last value (and a
    /// screenshot) after [`WAIT`].
    pub async fn until(&self, what: &str, script: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.js(script, vec![]).await;
            if done(&value) {
                return value;
            }
            if Instant::now() > deadline {
                self.shot(&format!("timeout-{}", what.replace(' ', "-")))
                    .await;
                panic!("{what}: not within {WAIT:?}; last seen: {value}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The badges as (kind, text), in page order.
    pub async fn badges(&self) -> Vec<(String, String)> {
        let v = self.js(BADGES, vec![]).await;
        serde_json::from_value(v).unwrap()
    }

    /// The status grid's rows as (id, name, state).
    pub async fn rows(&self) -> Vec<(String, String, String)> {
        serde_json::from_value(self.js(ROWS, vec![]).await).unwrap()
    }

    /// Starts recording every text the badge of `kind` shows (`null` while hidden), so a
    /// test sees each step of an operation, however briefly it showed.
    pub async fn record_badge(&self, kind: &str) {
        self.js(
            r#"const kind = arguments[0];
               window.__seen = [];
               const record = () => {
                 const el = document.querySelector(`#badges [data-kind="${kind}"] .badge-text`);
                 const text = el ? el.textContent : null;
                 const seen = window.__seen;
                 if (seen.length === 0 || seen[seen.length - 1] !== text) seen.push(text);
               };
               record();
               window.__observer = new MutationObserver(record);
               window.__observer.observe(document.getElementById('badges'),
                 {childList: true, subtree: true, characterData: true});"#,
            vec![json!(kind)],
        )
        .await;
    }

    /// The texts recorded since [`Browser::record_badge`].
    pub async fn recorded(&self) -> Vec<Option<String>> {
        serde_json::from_value(self.js("return window.__seen;", vec![]).await).unwrap()
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Types `text` into the element `css` (after clearing it).
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap();
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    /// The text of `css`, or `None` when it is not on the page.
    pub async fn text(&self, css: &str) -> Option<String> {
        let v = self
            .js(
                "const el = document.querySelector(arguments[0]); return el ? el.textContent : null;",
                vec![json!(css)],
            )
            .await;
        v.as_str().map(str::to_string)
    }
}

const BADGES: &str = "return [...document.querySelectorAll('#badges > li')]
    .map(li => [li.dataset.kind, li.querySelector('.badge-text').textContent]);";

const ROWS: &str = "return [...document.querySelectorAll('#instances tbody tr')]
    .map(tr => [tr.dataset.id, tr.dataset.name, tr.dataset.state]);";

/// Waits until the page shows an idle fleet: no operation running, every row running, and
/// exactly the API's badges.
pub async fn until_idle(browser: &Browser, demo: &Demo) -> Vec<(String, String)> {
    let deadline = Instant::now() + WAIT;
    loop {
        let page = browser.badges().await;
        let api = demo.badge_texts().await;
        let idle = page
            .iter()
            .any(|(k, t)| k == "scaling" && t == "Scaling idle")
            && !page.iter().any(|(k, _)| k == "rolling_restart");
        let rows = browser.rows().await;
        if idle && page == api && !rows.is_empty() && rows.iter().all(|r| r.2 == "running") {
            return page;
        }
        if Instant::now() > deadline {
            browser.shot("timeout-idle").await;
            panic!(
                "the fleet did not settle within {WAIT:?}: page {page:?}, API {api:?}, rows {rows:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `(X, N)` of a scaling badge's "Scaling up to T (X of N)".
pub fn scaling_progress(text: &str) -> Option<(u32, u32)> {
    let inner = text.split_once('(')?.1.split_once(')')?.0;
    let (x, n) = inner.split_once(" of ")?;
    Some((x.trim().parse().ok()?, n.trim().parse().ok()?))
}

/// `(i, total)` of "Rolling restart i/total" (", paused" may follow).
pub fn rolling_progress(text: &str) -> Option<(u32, u32)> {
    let rest = text.strip_prefix("Rolling restart ")?;
    let rest = rest.split(',').next()?;
    let (i, n) = rest.split_once('/')?;
    Some((i.trim().parse().ok()?, n.trim().parse().ok()?))
}

#[test]
fn badge_progress_is_read_back() {
    assert_eq!(scaling_progress("Scaling up to 5 (2 of 5)"), Some((2, 5)));
    assert_eq!(
        scaling_progress("Scaling up to 5 (0 of 2), paused"),
        Some((0, 2))
    );
    assert_eq!(scaling_progress("Scaling idle"), None);
    assert_eq!(rolling_progress("Rolling restart 2/3"), Some((2, 3)));
    assert_eq!(
        rolling_progress("Rolling restart 1/3, paused"),
        Some((1, 3))
    );
    assert_eq!(rolling_progress("No drift"), None);
}
