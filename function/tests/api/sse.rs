//! `/events` as Server-Sent Events: a snapshot on connect, then events and snapshots as the
//! ledger changes, ids that let a client resume.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use futures::StreamExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::Api;

/// One SSE message.
#[derive(Debug, Clone)]
struct Message {
    event: String,
    id: String,
    data: Value,
}

/// An open stream, parsed message by message.
struct Client {
    body: axum::body::BodyDataStream,
    buffer: String,
}

impl Client {
    async fn connect(api: &Api, last_event_id: Option<&str>) -> Client {
        let mut r = Request::get("/events").header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            r = r.header("last-event-id", id);
        }
        let response = api
            .router
            .clone()
            .oneshot(r.body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Client {
            body: response.into_body().into_data_stream(),
            buffer: String::new(),
        }
    }

    /// The next message (comments skipped), within 10 s.
    async fn next(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let block: String = self.buffer.drain(..end + 2).collect();
                    let (mut event, mut id, mut data) =
                        (String::new(), String::new(), String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event: ") {
                            event = v.to_string();
                        } else if let Some(v) = line.strip_prefix("id: ") {
                            id = v.to_string();
                        } else if let Some(v) = line.strip_prefix("data: ") {
                            data.push_str(v);
                        }
                    }
                    if event.is_empty() {
                        continue; // a keep-alive comment
                    }
                    return Message {
                        event,
                        id,
                        data: serde_json::from_str(&data).unwrap(),
                    };
                }
                let chunk = self.body.next().await.expect("the stream ended").unwrap();
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("an SSE message within 10 s")
    }
}

#[tokio::test]
async fn a_client_gets_a_snapshot_then_each_event_and_the_changed_snapshot() {
    let api = Api::start().await;
    let mut client = Client::connect(&api, None).await;
    let first = client.next().await;
    assert_eq!((first.event.as_str(), first.id.as_str()), ("snapshot", "0"));
    assert_eq!(first.data["scaleQueue"], json!([]));
    assert_eq!(
        api.post("/scale", Some(json!({"desired": 4}))).await.status,
        202
    );
    let event = client.next().await;
    assert_eq!(event.event, "event");
    assert_eq!(event.id, "1");
    assert_eq!(event.data["message"], "scale to 4 queued");
    assert_eq!(event.data["id"], 1);
    let snapshot = client.next().await;
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.id, "1");
    assert_eq!(snapshot.data["scaleQueue"], json!([4]));
}

#[tokio::test]
async fn a_change_made_by_another_process_reaches_the_stream() {
    let api = Api::start_with(fleetctl_function::Options {
        refresh_every: Duration::from_millis(50),
        status_ttl: Duration::ZERO,
    })
    .await;
    let mut client = Client::connect(&api, None).await;
    assert_eq!(client.next().await.event, "snapshot");
    // Written to the store directly, as a `fleetctl scale --no-wait` elsewhere would.
    fleetctl_core::ops::request(
        api.state.context(),
        fleetctl_core::store::ledger::OperationKind::Scale { desired: 2 },
    )
    .await
    .unwrap();
    let event = client.next().await;
    assert_eq!(event.data["message"], "scale to 2 queued");
    assert_eq!(client.next().await.data["scaleQueue"], json!([2]));
}

#[tokio::test]
async fn last_event_id_replays_the_events_after_it_then_a_snapshot() {
    let api = Api::start().await;
    for n in [1, 2, 3] {
        assert_eq!(
            api.post("/scale", Some(json!({"desired": n}))).await.status,
            202
        );
    }
    let mut client = Client::connect(&api, Some("1")).await;
    let a = client.next().await;
    let b = client.next().await;
    let s = client.next().await;
    assert_eq!((a.event.as_str(), a.id.as_str()), ("event", "2"));
    assert_eq!(a.data["message"], "scale to 2 queued");
    assert_eq!((b.event.as_str(), b.id.as_str()), ("event", "3"));
    assert_eq!((s.event.as_str(), s.id.as_str()), ("snapshot", "3"));
    assert_eq!(s.data["scaleQueue"], json!([1, 2, 3]));
}

#[tokio::test]
async fn the_stream_ends_when_the_server_shuts_down() {
    let api = Api::start().await;
    let mut client = Client::connect(&api, None).await;
    assert_eq!(client.next().await.event, "snapshot");
    api.state.shut_down();
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(chunk) = client.body.next().await {
            chunk.unwrap();
        }
    })
    .await;
    assert!(end.is_ok(), "the stream did not end");
}
