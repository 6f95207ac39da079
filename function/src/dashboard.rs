//! `GET /`: the dashboard. A plain page until the Leptos dashboard (issue 11) replaces this
//! module; it links what the API already serves.

use axum::Router;
use axum::response::Html;
use axum::routing::get;

/// The dashboard's routes, for any router state.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", get(page))
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>fleetctl</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto">
<h1>fleetctl</h1>
<p>The dashboard arrives later. Until then, the API answers here:</p>
<ul>
<li><a href="/status">/status</a>: the ledger beside what OCI reports</li>
<li><a href="/metrics">/metrics</a>: the metrics snapshot (JSON; Prometheus text on request)</li>
<li><a href="/control">/control</a>: the control loop</li>
<li><a href="/events">/events</a>: recent events (Server-Sent Events on request)</li>
<li><a href="/openapi.json">/openapi.json</a>: every route</li>
</ul>
</body>
</html>
"#;
