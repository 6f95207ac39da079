//! One function per route. Each reads top to bottom: the token check (mutations), the body,
//! one call into the core, the answer. The routes decide nothing about the fleet.

use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fleetctl_api::http::{
    Accepted, ErrorBody, ErrorCode, Health, MAX_DESIRED, MAX_REASON_CHARS, OutdatedInstance,
    PauseRequest, ReconcileReport, RollingRestartRequest, RolloutPlan, RolloutRequest,
    ScaleRequest, SyncStateRequest, UndoRequest,
};
use fleetctl_api::metrics::{
    ControlStatus, EventHistory, MetricsSnapshot, OperationStatus as ApiStatus, RolloutHistory,
    Strategy,
};
use fleetctl_api::status::FleetStatus;
use fleetctl_core::config::RolloutStrategy;
use fleetctl_core::ops;
use fleetctl_core::plan::{self, Mode};
use fleetctl_core::store::ledger::{Door, Ledger, OperationKind, OperationStatus, Origin};
use serde::de::DeserializeOwned;

use crate::StepDeadline;
use crate::error::ApiError;
use crate::fdk::FnCall;
use crate::state::AppState;

/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What `POST /reconcile` keeps for itself of an invocation's deadline: the answer has to
/// reach the platform before it ends.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /healthz`: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "read",
    responses((status = 200, description = "The server answers", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        token_required: true,
    })
}

/// `GET /status`: the ledger beside what OCI reports, as `fleetctl status` prints it, or
/// its JSON with `Accept: application/json`. OCI is observed at most once per cache period.
#[utoipa::path(get, path = "/status", tag = "read",
    responses(
        (status = 200, description = "The fleet's status (text unless JSON is asked for)",
            content((String = "text/plain"), (FleetStatus = "application/json"))),
        (status = 502, description = "OCI or the state store failed", body = ErrorBody),
    ))]
pub async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let status = state.status().await?;
    if prefers(&headers, &[JSON], TEXT_TYPES) {
        Ok(Json(status.as_ref()).into_response())
    } else {
        let text = fleetctl_api::text::status_text(&status);
        Ok(with_type(TEXT, text))
    }
}

/// `GET /metrics`: the metrics snapshot as JSON, or Prometheus's text format when `Accept`
/// asks for `text/plain` or `application/openmetrics-text` (a Prometheus scrape).
#[utoipa::path(get, path = "/metrics", tag = "read",
    responses(
        (status = 200, description = "The metrics snapshot (Prometheus text when asked for)",
            content((MetricsSnapshot = "application/json"), (String = "text/plain"))),
        (status = 502, description = "The state store failed", body = ErrorBody),
    ))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let view = state.view().await?;
    if prefers(&headers, TEXT_TYPES, &[JSON]) {
        let text = crate::prometheus::render(&view.metrics, &view.control);
        Ok(with_type(PROMETHEUS, text))
    } else {
        Ok(Json(&view.metrics).into_response())
    }
}

/// `GET /control`: the control loop's status.
#[utoipa::path(get, path = "/control", tag = "read",
    responses(
        (status = 200, description = "Desired against actual, the target, the last step's error",
            body = ControlStatus),
        (status = 502, description = "The state store failed", body = ErrorBody),
    ))]
pub async fn control(State(state): State<AppState>) -> Result<Response, ApiError> {
    let view = state.view().await?;
    Ok(Json(&view.control).into_response())
}

/// `GET /events`: the recent events as JSON, or Server-Sent Events with
/// `Accept: text/event-stream` (see [`crate::sse`]).
#[utoipa::path(get, path = "/events", tag = "read",
    params(("Last-Event-ID" = Option<u64>, Header,
        description = "SSE: replay the events after this id that the ledger still keeps")),
    responses(
        (status = 200, description = "The recent events, or an SSE stream of snapshots and events",
            content((EventHistory = "application/json"), (String = "text/event-stream"))),
        (status = 502, description = "The state store failed", body = ErrorBody),
    ))]
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if prefers(&headers, &["text/event-stream"], &[JSON]) {
        let last_id = headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        return crate::sse::stream(state, last_id).await;
    }
    let view = state.view().await?;
    Ok(Json(&view.events).into_response())
}

/// `POST /scale`: queues a scale to `desired` (FIFO).
#[utoipa::path(post, path = "/scale", tag = "mutate", security(("bearer" = [])),
    request_body = ScaleRequest,
    responses(
        (status = 202, description = "Queued in the ledger", body = Accepted),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "No or a wrong bearer token", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "A field is missing, unknown, mistyped or out of range",
            body = ErrorBody),
        (status = 502, description = "The state store failed", body = ErrorBody),
    ))]
pub async fn scale(
    State(state): State<AppState>,
    fn_call: Option<axum::Extension<FnCall>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.token().check(&headers)?;
    let request: ScaleRequest = read_json(&headers, body, false)
        .await?
        .ok_or_else(|| ApiError::invalid("desired", "the body must be {\"desired\": N}"))?;
    if request.desired > MAX_DESIRED {
        return Err(ApiError::invalid(
            "desired",
            format!(
                "desired must be at most {MAX_DESIRED}, got {}",
                request.desired
            ),
        ));
    }
    let desired = request.desired;
    let (id, ledger) =
        request_operation(&state, OperationKind::Scale { desired }, door(&fn_call)).await?;
    accepted(&state, &ledger, id, format!("scale to {desired} queued")).await
}

/// `POST /rolling-restart`: starts a rolling restart (`replace` or `reboot`; the fleet
/// file's strategy without a body).
#[utoipa::path(post, path = "/rolling-restart", tag = "mutate", security(("bearer" = [])),
    request_body(content = Option<RollingRestartRequest>, description = "Optional"),
    responses(
        (status = 202, description = "Recorded; the steps carry it out", body = Accepted),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "No or a wrong bearer token", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 409, description = "Another operation runs (pause or abort it first)",
            body = ErrorBody),
        (status = 422, description = "A field is unknown or mistyped", body = ErrorBody),
        (status = 502, description = "The state store failed", body = ErrorBody),
    ))]
pub async fn rolling_restart(
    State(state): State<AppState>,
    fn_call: Option<axum::Extension<FnCall>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.token().check(&headers)?;
    let request: RollingRestartRequest = read_json(&headers, body, true).await?.unwrap_or_default();
    let strategy = request.strategy.map(|s| match s {
        Strategy::Replace => RolloutStrategy::Replace,
        Strategy::Reboot => RolloutStrategy::Reboot,
    });
    let kind = plan::rolling_restart_kind(&state.context().config, strategy);
    let (id, ledger) = request_operation(&state, kind, door(&fn_call)).await?;
    accepted(&state, &ledger, id, "rolling restart started".into()).await
}

/// `POST /rollout`: a rolling update: replaces only the instances whose launch details
/// differ from the fleet file's, with the rolling restart's limits, health gating, drain
/// and failure budget (and the fleet file's checkpoints and rollback policy). With
/// `dryRun`, answers 200 with the instances it would replace and why, and records nothing.
#[utoipa::path(post, path = "/rollout", tag = "mutate", security(("bearer" = [])),
    request_body(content = Option<RolloutRequest>, description = "Optional"),
    responses(
        (status = 202, description = "Recorded; the steps carry it out", body = Accepted),
        (status = 200, description = "`dryRun`: what it would replace", body = RolloutPlan),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "No or a wrong bearer token", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 409, description = "Another operation runs (pause or abort it first)",
            body = ErrorBody),
        (status = 422, description = "A field is unknown or mistyped", body = ErrorBody),
        (status = 502, description = "The state store failed", body = ErrorBody),
    ))]
pub async fn rollout(
    State(state): State<AppState>,
    fn_call: Option<axum::Extension<FnCall>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.token().check(&headers)?;
    let request: RolloutRequest = read_json(&headers, body, true).await?.unwrap_or_default();
    if request.dry_run {
        let (ledger, _) = ops::load(state.context()).await?;
        let config = &state.context().config;
        let replace = plan::outdated(config, &ledger)
            .into_iter()
            .map(|o| OutdatedInstance {
                id: o.instance.to_string(),
                name: o.name,
                fields: o.fields,
            })
            .collect();
        let revision = state.view().await?.metrics.revision;
        return Ok(Json(RolloutPlan { revision, replace }).into_response());
    }
    let (id, ledger) = request_operation(&state, plan::rollout_kind(), door(&fn_call)).await?;
    accepted(&state, &ledger, id, "rolling update started".into()).await
}

/// `POST /rollout/undo`: a rolling update back to an earlier revision's launch details
/// (`toRevision`, by default the one before the fleet file's). The fleet file is unchanged:
/// the instances show as outdated against it until it changes too.
#[utoipa::path(post, path = "/rollout/undo", tag = "mutate", security(("bearer" = [])),
    request_body(content = Option<UndoRequest>, description = "Optional"),
    responses(
        (status = 202, description = "Recorded; the steps carry it out", body = Accepted),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "No or a wrong bearer token", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 409, description = "Another operation runs, or the ledger does not keep the revision",
            body = ErrorBody),
        (status = 422, description = "A field is unknown or mistyped", body = ErrorBody),
        (status = 502, description = "The state store failed", body = ErrorBody),
    ))]
pub async fn rollout_undo(
    State(state): State<AppState>,
    fn_call: Option<axum::Extension<FnCall>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.token().check(&headers)?;
    let request: UndoRequest = read_json(&headers, body, true).await?.unwrap_or_default();
    let config = state.context().config.clone();
    let origin = Some(Origin::door(door(&fn_call)));
    let (id, ledger) = ops::update(state.context(), |ledger, now| {
        let kind = plan::undo_kind(ledger, &config, request.to_revision)?;
        Ok(plan::request_from(
            ledger,
            &config,
            kind,
            now,
            origin.clone(),
        )?)
    })
    .await?;
    accepted(&state, &ledger, id.to_string(), "undo started".into()).await
}

/// `GET /rollout/history`: the launch-details revisions the ledger keeps (digests and the
/// names of the fields that changed, never the details) and the finished operations.
#[utoipa::path(get, path = "/rollout/history", tag = "read",
    responses(
        (status = 200, description = "Revisions and finished operations", body = RolloutHistory),
        (status = 502, description = "The state store failed", body = ErrorBody),
    ))]
pub async fn rollout_history(State(state): State<AppState>) -> Result<Response, ApiError> {
    let view = state.view().await?;
    Ok(Json(&view.history).into_response())
}

/// `POST /sync-state`: brings the ledger up to date with OCI (with `adoptUntagged`, also
/// adopts untagged instances named as the fleet names them).
#[utoipa::path(post, path = "/sync-state", tag = "mutate", security(("bearer" = [])),
    request_body(content = Option<SyncStateRequest>, description = "Optional"),
    responses(
        (status = 202, description = "Recorded; the next step carries it out", body = Accepted),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "No or a wrong bearer token", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 409, description = "Another operation runs", body = ErrorBody),
        (status = 422, description = "A field is unknown or mistyped", body = ErrorBody),
        (status = 502, description = "The state store failed", body = ErrorBody),
    ))]
pub async fn sync_state(
    State(state): State<AppState>,
    fn_call: Option<axum::Extension<FnCall>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.token().check(&headers)?;
    let request: SyncStateRequest = read_json(&headers, body, true).await?.unwrap_or_default();
    let kind = OperationKind::SyncState {
        adopt_untagged: request.adopt_untagged,
    };
    let (id, ledger) = request_operation(&state, kind, door(&fn_call)).await?;
    accepted(&state, &ledger, id, "sync started".into()).await
}

/// `POST /pause`: the running operation starts no more steps.
#[utoipa::path(post, path = "/pause", tag = "mutate", security(("bearer" = [])),
    request_body(content = Option<PauseRequest>, description = "Optional"),
    responses(
        (status = 200, description = "Paused", body = Accepted),
        (status = 400, description = "Not JSON", body = ErrorBody),
        (status = 401, description = "No or a wrong bearer token", body = ErrorBody),
        (status = 413, description = "Body over 16 KiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 409, description = "No operation is running", body = ErrorBody),
        (status = 422, description = "A field is unknown, mistyped or too long", body = ErrorBody),
        (status = 502, description = "The state store failed", body = ErrorBody),
    ))]
pub async fn pause(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.token().check(&headers)?;
    let request: PauseRequest = read_json(&headers, body, true).await?.unwrap_or_default();
    let reason = request
        .reason
        .unwrap_or_else(|| "paused by the operator".to_string());
    if reason.chars().count() > MAX_REASON_CHARS || reason.trim().is_empty() {
        return Err(ApiError::invalid(
            "reason",
            format!("reason must be 1 to {MAX_REASON_CHARS} characters"),
        ));
    }
    let (id, ledger) = ops::update(state.context(), |ledger, now| {
        plan::pause(ledger, &reason, now)?;
        Ok(current_id(ledger))
    })
    .await?;
    state.publish(&ledger).await;
    Ok((
        StatusCode::OK,
        Json(Accepted {
            operation_id: id,
            message: "paused: no step starts; steps in flight finish".into(),
        }),
    )
        .into_response())
}

/// `POST /resume`: a paused operation runs again (its failed steps are tried again).
#[utoipa::path(post, path = "/resume", tag = "mutate", security(("bearer" = [])),
    responses(
        (status = 202, description = "Running again", body = Accepted),
        (status = 401, description = "No or a wrong bearer token", body = ErrorBody),
        (status = 409, description = "No operation is paused", body = ErrorBody),
        (status = 502, description = "The state store failed", body = ErrorBody),
    ))]
pub async fn resume(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.token().check(&headers)?;
    read_json::<serde_json::Map<String, serde_json::Value>>(&headers, body, true).await?;
    let (id, ledger) = ops::update(state.context(), |ledger, now| {
        plan::resume(ledger, now)?;
        Ok(current_id(ledger))
    })
    .await?;
    accepted(&state, &ledger, id, "resumed".into()).await
}

/// `POST /abort`: no step starts; those in flight finish; then the operation is cancelled.
#[utoipa::path(post, path = "/abort", tag = "mutate", security(("bearer" = [])),
    responses(
        (status = 202, description = "Abort recorded", body = Accepted),
        (status = 401, description = "No or a wrong bearer token", body = ErrorBody),
        (status = 409, description = "No operation is running or paused", body = ErrorBody),
        (status = 502, description = "The state store failed", body = ErrorBody),
    ))]
pub async fn abort(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    state.token().check(&headers)?;
    read_json::<serde_json::Map<String, serde_json::Value>>(&headers, body, true).await?;
    let (id, ledger) = ops::update(state.context(), |ledger, now| {
        plan::abort(ledger, now)?;
        Ok(current_id(ledger))
    })
    .await?;
    accepted(
        &state,
        &ledger,
        id,
        "abort recorded: steps in flight finish, then it is cancelled".into(),
    )
    .await
}

/// `POST /reconcile`: one bounded reconcile step with the control loop (for schedules and
/// events). Its budget is the default step budget, or what is left of the invocation when
/// the platform set a deadline ([`StepDeadline`]).
#[utoipa::path(post, path = "/reconcile", tag = "mutate", security(("bearer" = [])),
    responses(
        (status = 200, description = "What the step did", body = ReconcileReport),
        (status = 401, description = "No or a wrong bearer token", body = ErrorBody),
        (status = 409, description = "Another process holds the fleet's lease", body = ErrorBody),
        (status = 502, description = "OCI or the state store failed", body = ErrorBody),
    ))]
pub async fn reconcile(
    State(state): State<AppState>,
    headers: HeaderMap,
    deadline: Option<axum::Extension<StepDeadline>>,
    body: Body,
) -> Result<Response, ApiError> {
    state.token().check(&headers)?;
    read_json::<serde_json::Map<String, serde_json::Value>>(&headers, body, true).await?;
    let budget = match deadline {
        Some(axum::Extension(StepDeadline(at))) => at
            .saturating_duration_since(Instant::now())
            .saturating_sub(DEADLINE_MARGIN)
            .min(ops::STEP_BUDGET),
        None => ops::STEP_BUDGET,
    };
    let report = state.step(Mode::Control, budget).await?;
    if report.requeue_after.is_none() {
        // Nothing in progress: hand the lease back, so another door (a function container,
        // a CLI) can act at once instead of waiting for it to expire.
        state.release_if_idle().await;
    }
    let op = report.operation();
    Ok(Json(ReconcileReport {
        did: report.did.clone(),
        waiting_on: report.waiting_on.clone(),
        notes: report.notes.clone(),
        requeue_after_ms: report
            .requeue_after
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        operation_id: op.map(|o| o.id.to_string()),
        operation_status: op.map(|o| api_status(o.status)),
    })
    .into_response())
}

/// `GET /openapi.json`: this API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "read",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> Response {
    with_type(JSON, crate::openapi::document_json())
}

/// The 404 of a path no route has.
pub async fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "no such route; GET /openapi.json lists them",
    )
}

/// The 405 of a route asked with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method; GET /openapi.json lists them",
    )
}

// ---- helpers ------------------------------------------------------------------------------

const TEXT_TYPES: &[&str] = &["text/plain", "application/openmetrics-text"];

/// True when `Accept` ranks one of `wanted` above every one of `other` (by q-value, then
/// order). No `Accept`, or only `*/*`, is neither: false.
fn prefers(headers: &HeaderMap, wanted: &[&str], other: &[&str]) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut best_wanted: Option<(f32, usize)> = None;
    let mut best_other: Option<(f32, usize)> = None;
    for (i, item) in accept.split(',').enumerate() {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        let better = |best: Option<(f32, usize)>| best.is_none_or(|(bq, _)| q > bq);
        if wanted.contains(&media.as_str()) && better(best_wanted) {
            best_wanted = Some((q, i));
        } else if other.contains(&media.as_str()) && better(best_other) {
            best_other = Some((q, i));
        }
    }
    match (best_wanted, best_other) {
        (Some(_), None) => true,
        (Some((wq, wi)), Some((oq, oi))) => wq > oq || (wq == oq && wi < oi),
        _ => false,
    }
}

fn with_type(content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut response = Response::new(body.into());
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`]: `None` for an empty body when
/// `optional`. 413 past the limit, 415 for a body that says it is not JSON, 400 for one
/// that is not JSON, 422 naming the field for one of the wrong shape.
async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    optional: bool,
) -> Result<Option<T>, ApiError> {
    let bytes: Bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            )
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        if optional {
            return Ok(None);
        }
        return Err(ApiError::new(
            ErrorCode::MalformedJson,
            "the body is empty; it must be a JSON object",
        ));
    }
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let media = ct
            .to_str()
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if media != JSON && !media.ends_with("+json") {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "the body must be JSON: send `Content-Type: application/json`",
            ));
        }
    }
    parse_json(&bytes).map(Some)
}

/// Parses a JSON body into `T` (an object), naming the field at fault.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "the body must be a JSON object",
        ));
    }
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = if path != "." {
            Some(path)
        } else {
            // Unknown and missing fields are reported at the object itself.
            message
                .split('`')
                .nth(1)
                .filter(|_| message.contains("field `"))
                .map(str::to_string)
        };
        let message = strip_position(&message);
        ApiError {
            code: ErrorCode::InvalidRequest,
            message: match &field {
                Some(f) => format!("{f}: {message}"),
                None => message,
            },
            field,
        }
    })
}

/// serde_json's message without its ` at line L column C` tail.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The door a request came through: the function when the Fn adapter relayed it.
fn door(fn_call: &Option<axum::Extension<FnCall>>) -> Door {
    if fn_call.is_some() {
        Door::Function
    } else {
        Door::Api
    }
}

async fn request_operation(
    state: &AppState,
    kind: OperationKind,
    door: Door,
) -> Result<(String, Ledger), ApiError> {
    let config = state.context().config.clone();
    let (id, ledger) = ops::update(state.context(), |ledger, now| {
        Ok(plan::request_from(
            ledger,
            &config,
            kind.clone(),
            now,
            Some(Origin::door(door)),
        )?)
    })
    .await?;
    Ok((id.to_string(), ledger))
}

async fn accepted(
    state: &AppState,
    ledger: &Ledger,
    operation_id: impl Into<Option<String>>,
    message: String,
) -> Result<Response, ApiError> {
    state.publish(ledger).await;
    state.kick();
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            operation_id: operation_id.into().unwrap_or_default(),
            message,
        }),
    )
        .into_response())
}

fn current_id(ledger: &Ledger) -> String {
    ledger
        .operation
        .as_ref()
        .map(|o| o.id.to_string())
        .unwrap_or_default()
}

fn api_status(s: OperationStatus) -> ApiStatus {
    match s {
        OperationStatus::Running => ApiStatus::Running,
        OperationStatus::Paused => ApiStatus::Paused,
        OperationStatus::Succeeded => ApiStatus::Succeeded,
        OperationStatus::Failed => ApiStatus::Failed,
        OperationStatus::Cancelled => ApiStatus::Cancelled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, v.parse().unwrap());
        h
    }

    #[test]
    fn accept_headers_pick_the_format() {
        let prom = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                    version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert!(prefers(&accept(prom), TEXT_TYPES, &[JSON]));
        assert!(!prefers(&accept("*/*"), TEXT_TYPES, &[JSON]));
        assert!(!prefers(&HeaderMap::new(), TEXT_TYPES, &[JSON]));
        assert!(prefers(&accept("application/json"), &[JSON], TEXT_TYPES));
        assert!(!prefers(
            &accept("text/plain, application/json"),
            &[JSON],
            TEXT_TYPES
        ));
        assert!(prefers(
            &accept("text/plain;q=0.5, application/json"),
            &[JSON],
            TEXT_TYPES
        ));
        assert!(!prefers(
            &accept("text/event-stream;q=0"),
            &["text/event-stream"],
            &[]
        ));
    }

    #[test]
    fn bodies_name_the_field_at_fault() {
        let e = parse_json::<ScaleRequest>(br#"{"desired":-1}"#).unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::InvalidRequest, Some("desired"))
        );
        let e = parse_json::<ScaleRequest>(br#"{"desired":"3"}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("desired"));
        let e = parse_json::<ScaleRequest>(br#"{"desierd":3}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("desierd"), "{e:?}");
        let e = parse_json::<ScaleRequest>(br#"{}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("desired"), "{e:?}");
        let e = parse_json::<ScaleRequest>(br#"{"desired":3"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedJson);
        let e = parse_json::<ScaleRequest>(br#"{"desired":3} x"#).unwrap_err();
        assert_eq!(e.code, ErrorCode::MalformedJson);
    }
}
