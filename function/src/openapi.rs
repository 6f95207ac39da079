//! The API's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types of `fleetctl-api` (its `openapi` feature): the routes the
//! document lists are the routes the router has ([`api_routes`] builds both).
//!
//! Checked in at `docs/openapi.json`; `cargo xtask openapi` regenerates it and a test fails
//! when it is stale.

use std::sync::OnceLock;

use axum::Router;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::handlers;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "fleetctl",
        description = "Manage a fleet of OCI compute instances from one YAML file: its status, \
            metrics and events, and scale, rolling restart, rolling update (rollout, undo, \
            history), sync, pause, resume, abort and one bounded reconcile step. Mutations need `Authorization: Bearer <token>`; every error \
            is `{\"error\": {\"code\", \"message\", \"field\", \"requestId\"}}`. See \
            docs/fleetctl-spec.md, section 6.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    modifiers(&BearerToken),
    tags(
        (name = "read", description = "Open to every client; served from the ledger, no OCI call per request (except /status, cached)"),
        (name = "mutate", description = "Need the bearer token"),
    ),
)]
struct ApiDoc;

struct BearerToken;

impl utoipa::Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The API's routes and their document, built together.
pub(crate) fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(handlers::healthz))
        .routes(routes!(handlers::status))
        .routes(routes!(handlers::metrics))
        .routes(routes!(handlers::control))
        .routes(routes!(handlers::events))
        .routes(routes!(handlers::scale))
        .routes(routes!(handlers::rolling_restart))
        .routes(routes!(handlers::rollout))
        .routes(routes!(handlers::rollout_undo))
        .routes(routes!(handlers::rollout_history))
        .routes(routes!(handlers::sync_state))
        .routes(routes!(handlers::pause))
        .routes(routes!(handlers::resume))
        .routes(routes!(handlers::abort))
        .routes(routes!(handlers::reconcile))
        .routes(routes!(handlers::openapi_json))
        .split_for_parts()
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    api_routes().1
}

/// The document as pretty JSON with a final newline (the bytes of `docs/openapi.json`).
pub fn document_json() -> String {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut text = document()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"cannot encode the document: {e}\"}}"));
        text.push('\n');
        text
    })
    .clone()
}
