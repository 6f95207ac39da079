//! What an operator sees and does on the dashboard, one behaviour per test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed unwrap is a failed test

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Browser, Demo, WAIT, rolling_progress, scaling_progress, serial, until_idle};

const KINDS_IDLE: [&str; 6] = [
    "fleet",
    "load_balancer",
    "scaling",
    "drift",
    "scale_queue",
    "minimums",
];

#[tokio::test]
async fn the_page_loads_and_shows_every_badge_in_order() {
    let _one = serial().await;
    let demo = Demo::start();
    let browser = Browser::start("loads").await;
    browser.client.goto(&demo.url).await.unwrap();
    let page = until_idle(&browser, &demo).await;
    let kinds: Vec<&str> = page.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, KINDS_IDLE, "{page:?}");
    assert_eq!(page[0].1, "demo");
    assert!(page[1].1.starts_with("LB "), "{page:?}");
    assert_eq!(page[3].1, "No drift");
    assert_eq!(page[4].1, "Scale queue: empty");
    assert!(page[5].1.starts_with("Minimums: 3 ("), "{page:?}");
    assert_eq!(browser.text("#connection").await.as_deref(), Some("Live"));
    // One row per instance the API lists, by name.
    let api = demo.get("metrics").await;
    let api_names: Vec<&str> = api["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    let rows = browser.rows().await;
    let names: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(names, api_names);
    // The token left the address bar for the tab's storage.
    let (hash, stored) = {
        let v = browser
            .js(
                "return [location.hash, sessionStorage.getItem('fleetctl.token')];",
                vec![],
            )
            .await;
        (v[0].clone(), v[1].clone())
    };
    assert_eq!(hash, "", "the token stays out of the address bar");
    assert_eq!(stored, Value::String(demo.token()));
    browser.shot("loaded").await;

    // A phone's width: nothing wider than the screen, the grid as cards.
    browser.client.set_window_size(390, 844).await.unwrap();
    let overflow = browser
        .until(
            "phone layout",
            "return document.documentElement.scrollWidth - window.innerWidth;",
            |v| v.as_i64().is_some(),
        )
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "wider than a phone by {overflow} px"
    );
    browser.shot("phone").await;
}

#[tokio::test]
async fn scale_to_5_counts_the_scaling_badge_up_and_adds_rows() {
    let _one = serial().await;
    let demo = Demo::start();
    let browser = Browser::start("scale").await;
    browser.client.goto(&demo.url).await.unwrap();
    until_idle(&browser, &demo).await;
    let before = browser.rows().await.len();
    assert!(before < 5, "the demo starts below 5: {before}");
    browser.record_badge("scaling").await;
    browser.type_into("#desired", "5").await;
    browser.click("#scale").await;
    browser
        .until(
            "scaling badge",
            "return document.querySelector('#badges [data-kind=scaling] .badge-text').textContent;",
            |v| v.as_str().is_some_and(|t| t.starts_with("Scaling up to 5")),
        )
        .await;
    browser.shot("scaling").await;
    assert!(
        browser.text("#outcome").await.unwrap().contains("accepted"),
        "{:?}",
        browser.text("#outcome").await
    );
    until_idle(&browser, &demo).await;
    browser.shot("scaled").await;
    let rows = browser.rows().await;
    assert_eq!(rows.len(), 5, "{rows:?}");

    // The badge counted up: X of N, never down, from below N to N, then idle.
    let seen = browser.recorded().await;
    let counts: Vec<(u32, u32)> = seen
        .iter()
        .flatten()
        .filter_map(|t| scaling_progress(t))
        .collect();
    assert!(
        counts
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 == w[1].1),
        "{seen:?}"
    );
    let n = counts
        .first()
        .map(|c| c.1)
        .unwrap_or_else(|| panic!("{seen:?}"));
    assert_eq!(
        n as usize,
        5 - before,
        "it launches the missing ones: {seen:?}"
    );
    assert!(
        counts.first().unwrap().0 < n,
        "it started below N: {seen:?}"
    );
    assert!(
        counts
            .iter()
            .map(|c| c.0)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            >= 2,
        "{seen:?}"
    );
    assert_eq!(
        seen.last().unwrap().as_deref(),
        Some("Scaling idle"),
        "{seen:?}"
    );

    // Keyboard only: a scale-down asks first; Escape cancels and nothing is sent.
    browser
        .type_into(
            "#desired",
            &format!("4{}", char::from(fantoccini::key::Key::Enter)),
        )
        .await;
    let question = browser
        .until(
            "confirmation",
            "const q = document.getElementById('confirm-q'); return q ? q.textContent : null;",
            |v| v.is_string(),
        )
        .await;
    assert!(
        question
            .as_str()
            .unwrap()
            .starts_with("Scale down from 5 to 4?"),
        "{question}"
    );
    let focused = browser
        .js("return document.activeElement.id;", vec![])
        .await;
    assert_eq!(focused, "confirm-yes", "the confirmation takes the focus");
    browser.shot("confirm-scale-down").await;
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys(&char::from(fantoccini::key::Key::Escape).to_string())
        .await
        .unwrap();
    browser
        .until(
            "confirmation closed",
            "return document.getElementById('confirm') === null;",
            |v| v == &Value::Bool(true),
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let api = demo.get("metrics").await;
    assert_eq!(api["scaleQueue"], serde_json::json!([]), "nothing was sent");
    assert_eq!(api["actual"], 5);
}

#[tokio::test]
async fn a_rolling_restart_advances_its_badge_and_replaces_the_rows() {
    let _one = serial().await;
    let demo = Demo::start();
    let browser = Browser::start("rolling-restart").await;
    browser.client.goto(&demo.url).await.unwrap();
    until_idle(&browser, &demo).await;
    let before: Vec<String> = browser.rows().await.into_iter().map(|r| r.0).collect();
    browser.record_badge("rolling_restart").await;
    let strategy = browser
        .client
        .find(fantoccini::Locator::Css("#strategy"))
        .await
        .unwrap();
    strategy.select_by_value("replace").await.unwrap();
    browser.click("#rolling-restart").await;
    browser
        .until(
            "rolling restart badge",
            "const el = document.querySelector('#badges [data-kind=rolling_restart] .badge-text'); return el ? el.textContent : null;",
            |v| v.as_str().is_some_and(|t| t.starts_with("Rolling restart")),
        )
        .await;
    // While it runs: the progress bar and what it waits on.
    browser
        .until(
            "progress bar",
            "return document.getElementById('op-progress') !== null;",
            |v| v == &Value::Bool(true),
        )
        .await;
    browser.shot("rolling").await;
    // Each replacement waits minReadySeconds (10 s) and drains the old backend (30 s) in
    // real time: the demo's three take about 150 s.
    let deadline = Instant::now() + 3 * WAIT;
    loop {
        let seen = browser.recorded().await;
        if seen.last() == Some(&None) && seen.len() > 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rolling restart did not end: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    until_idle(&browser, &demo).await;
    browser.shot("restarted").await;
    let seen = browser.recorded().await;
    let steps: Vec<(u32, u32)> = seen
        .iter()
        .flatten()
        .filter_map(|t| rolling_progress(t))
        .collect();
    let total = before.len() as u32;
    assert!(steps.iter().all(|s| s.1 == total), "{seen:?}");
    assert!(
        steps.windows(2).all(|w| w[0].0 <= w[1].0),
        "advances: {seen:?}"
    );
    assert!(steps.first().unwrap().0 < total, "{seen:?}");
    assert_eq!(steps.last().unwrap().0, total, "{seen:?}");
    let after: Vec<String> = browser.rows().await.into_iter().map(|r| r.0).collect();
    assert_eq!(after.len(), before.len());
    assert!(
        after.iter().all(|id| !before.contains(id)),
        "every row replaced: {before:?} -> {after:?}"
    );
}

#[tokio::test]
async fn pause_shows_the_reason_and_abort_asks_first() {
    let _one = serial().await;
    let demo = Demo::start();
    let browser = Browser::start("pause").await;
    browser.client.goto(&demo.url).await.unwrap();
    until_idle(&browser, &demo).await;
    browser.click("#rolling-restart").await;
    browser
        .until(
            "pause enabled",
            "const b = document.getElementById('pause'); return b && !b.disabled;",
            |v| v == &Value::Bool(true),
        )
        .await;
    browser.click("#pause").await;
    let reason = browser
        .until("paused banner", "const el = document.getElementById('paused-reason'); return el ? el.textContent : null;", |v| v.is_string())
        .await;
    browser.shot("paused").await;
    let api = demo.get("metrics").await;
    assert_eq!(api["operationStatus"], "paused");
    assert_eq!(
        reason, api["pausedReason"],
        "the page shows the API's reason"
    );
    assert!(!reason.as_str().unwrap().is_empty());
    // The banner comes before the badges: where the eye goes first.
    let first = browser
        .js("return document.getElementById('paused').compareDocumentPosition(document.getElementById('badges')) & Node.DOCUMENT_POSITION_FOLLOWING;", vec![])
        .await;
    assert_ne!(first, 0, "the paused banner precedes the badges");
    let rolling = browser.badges().await;
    assert!(
        rolling
            .iter()
            .any(|(k, t)| k == "rolling_restart" && t.ends_with(", paused")),
        "{rolling:?}"
    );

    // Abort asks, then cancels the operation.
    browser.click("#abort").await;
    let q = browser
        .until(
            "abort question",
            "const q = document.getElementById('confirm-q'); return q ? q.textContent : null;",
            |v| v.is_string(),
        )
        .await;
    assert!(
        q.as_str().unwrap().starts_with("Abort the operation?"),
        "{q}"
    );
    browser.shot("confirm-abort").await;
    browser.click("#confirm-yes").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let api = demo.get("metrics").await;
        if api["operationStatus"] == "cancelled" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not cancelled: {}",
            api["operationStatus"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser
        .until(
            "banner gone",
            "return document.getElementById('paused') === null;",
            |v| v == &Value::Bool(true),
        )
        .await;
    browser.shot("aborted").await;
}

#[tokio::test]
async fn without_a_token_the_page_asks_for_one() {
    let _one = serial().await;
    let demo = Demo::start();
    let browser = Browser::start("token").await;
    browser.client.goto(&demo.base()).await.unwrap();
    let why = browser
        .until(
            "token prompt",
            "const el = document.getElementById('token-why'); return el ? el.textContent : null;",
            |v| v.is_string(),
        )
        .await;
    assert!(
        why.as_str()
            .unwrap()
            .starts_with("This server needs a token"),
        "{why}"
    );
    browser.shot("prompt").await;
    // Reading needs no token: the page shows the fleet meanwhile.
    until_idle(&browser, &demo).await;
    // A wrong token: the server refuses it, the page says so and asks again.
    browser.type_into("#token-input", "not-the-token").await;
    browser.click("#token-save").await;
    browser.click("#sync-state").await;
    let refused = browser
        .until(
            "refused",
            "const el = document.getElementById('token-why'); return el ? el.textContent : null;",
            |v| {
                v.as_str()
                    .is_some_and(|t| t.starts_with("The server refused"))
            },
        )
        .await;
    assert!(refused.is_string());
    let outcome = browser.text("#outcome").await.unwrap();
    assert!(outcome.contains("refused"), "{outcome}");
    browser.shot("refused").await;
    // The right one: accepted.
    browser.type_into("#token-input", &demo.token()).await;
    browser.click("#token-save").await;
    browser.click("#sync-state").await;
    browser
        .until(
            "accepted",
            "return document.getElementById('outcome').textContent;",
            |v| v.as_str().is_some_and(|t| t.contains("accepted")),
        )
        .await;
    assert_eq!(
        browser.text("#token-prompt").await,
        None,
        "the prompt is gone"
    );
}

#[tokio::test]
async fn the_server_going_away_shows_reconnecting_and_the_page_recovers() {
    let _one = serial().await;
    let mut demo = Demo::start();
    let browser = Browser::start("reconnect").await;
    browser.client.goto(&demo.url).await.unwrap();
    until_idle(&browser, &demo).await;
    assert_eq!(browser.text("#connection").await.as_deref(), Some("Live"));
    demo.kill();
    browser
        .until(
            "reconnecting",
            "return document.getElementById('connection').textContent;",
            |v| v.as_str().is_some_and(|t| t.contains("reconnecting")),
        )
        .await;
    assert!(
        browser.text("#connection-lost").await.is_some(),
        "an alert says so"
    );
    browser.shot("reconnecting").await;
    demo.restart();
    browser
        .until(
            "live again",
            "return document.getElementById('connection').textContent;",
            |v| v == "Live",
        )
        .await;
    assert_eq!(browser.text("#connection-lost").await, None);
    until_idle(&browser, &demo).await;
    browser.shot("recovered").await;
}

#[tokio::test]
async fn where_streaming_is_unavailable_the_page_polls() {
    let _one = serial().await;
    let demo = Demo::start();
    let browser = Browser::start("polling").await;
    // As behind a gateway that does not pass the event stream.
    browser.block(&["*/events*"]).await;
    browser.client.goto(&demo.url).await.unwrap();
    browser
        .until(
            "polling",
            "return document.getElementById('connection').textContent;",
            |v| v == "Polling (live stream unavailable)",
        )
        .await;
    until_idle(&browser, &demo).await;
    browser.shot("polling").await;
    // Changes still show, from /metrics.
    let before = browser.rows().await.len();
    browser
        .type_into("#desired", &(before + 1).to_string())
        .await;
    browser.click("#scale").await;
    browser
        .until(
            "a row more",
            "return document.querySelectorAll('#instances tbody tr').length;",
            |v| v.as_u64() == Some(before as u64 + 1),
        )
        .await;
    until_idle(&browser, &demo).await;
    assert_eq!(
        browser.text("#connection").await.as_deref(),
        Some("Polling (live stream unavailable)")
    );
    browser.shot("polled").await;
}

#[tokio::test]
async fn a_rollout_shows_launch_details_asks_first_and_lands_in_the_history() {
    let _one = serial().await;
    let demo = Demo::start();
    let browser = Browser::start("rollout").await;
    browser.client.goto(&demo.url).await.unwrap();
    until_idle(&browser, &demo).await;
    // Every instance was launched from the fleet file's launch details.
    let details = browser
        .js(
            "return [...document.querySelectorAll('#instances tbody tr')]
               .map(tr => [tr.dataset.outdated, tr.querySelector('.details').textContent]);",
            vec![],
        )
        .await;
    let details: Vec<(String, String)> = serde_json::from_value(details).unwrap();
    assert!(!details.is_empty());
    assert!(
        details.iter().all(|(o, t)| o == "false" && t == "current"),
        "{details:?}"
    );
    assert_eq!(browser.text("#rollout").await.as_deref(), Some("Roll out"));
    // The demo's bring-up is in the history, as the API has it.
    let api = demo.get("metrics").await;
    let first = &api["history"][0];
    assert!(first["id"].is_string(), "{api}");
    let shown = browser
        .until(
            "the history table",
            "const tr = document.querySelector('#history-table tbody tr'); return tr ? [tr.dataset.id, tr.dataset.status] : null;",
            |v| v.is_array(),
        )
        .await;
    assert_eq!(shown[0], first["id"], "{api}");
    assert_eq!(shown[1], first["status"], "{api}");

    // Roll out: the page asks first, and says nothing is outdated.
    browser.click("#rollout").await;
    let question = browser
        .until(
            "the rollout confirmation",
            "const el = document.getElementById('confirm-q'); return el ? el.textContent : null;",
            |v| v.is_string(),
        )
        .await;
    assert!(
        question
            .as_str()
            .unwrap()
            .contains("No instance is outdated: nothing will be replaced"),
        "{question}"
    );
    browser.shot("rollout-confirm").await;
    browser.click("#confirm-yes").await;
    let outcome = browser
        .until(
            "the rollout's answer",
            "return document.getElementById('outcome').textContent;",
            |v| v.as_str().is_some_and(|t| t.contains("accepted")),
        )
        .await;
    assert!(
        outcome
            .as_str()
            .unwrap()
            .starts_with("Roll out: accepted (HTTP 202)"),
        "{outcome}"
    );
    // It replaces nothing and lands in the history as a rolling update that succeeded.
    let top = browser
        .until(
            "the rolling update in the history",
            "const tr = document.querySelector('#history-table tbody tr'); return tr ? [tr.querySelector('th').textContent, tr.dataset.status, tr.children[4].textContent] : null;",
            |v| v[0] == "Rolling update" && v[1] == "succeeded",
        )
        .await;
    assert_eq!(top[2], "0 / 0", "nothing launched or removed: {top}");
    browser.shot("rollout-history").await;
    let rows_after: Vec<String> = browser.rows().await.into_iter().map(|r| r.0).collect();
    let api_after = demo.get("metrics").await;
    assert_eq!(api_after["outdated"], 0, "{api_after}");
    assert_eq!(rows_after.len(), details.len());
}
