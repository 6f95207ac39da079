//! fleetctl's HTTP API: [`router`] is the whole application, served over TCP by
//! `fleetctl-function` (and by `fleetctl serve`), and later over the Fn unix socket.
//!
//! Today it answers only `GET /healthz`; the fleet routes (`/status`, `/metrics`, `/control`,
//! `/events`, `POST /scale`, `POST /rolling-restart`, `POST /sync-state`, `POST /reconcile`)
//! arrive with the reconcile step and are listed as planned in `docs/fleetctl-spec.md`.

pub mod dashboard;

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

/// The body of `GET /healthz`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// Always `"ok"` when the process can answer.
    pub status: &'static str,
    /// The fleetctl version serving the request.
    pub version: &'static str,
}

/// The whole HTTP application.
pub fn router() -> Router {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    #[tokio::test]
    async fn healthz_answers_ok_with_the_version() {
        let response = router()
            .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["status"], "ok");
        assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    }

    #[tokio::test]
    async fn unknown_routes_are_404() {
        let response = router()
            .oneshot(Request::get("/status").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
