//! The HTTP API's own requests and answers: what `POST /scale` and the other mutations take
//! and return, `GET /healthz`, `POST /reconcile`'s report, and the one error shape every
//! route answers with (`docs/fleetctl-spec.md`, section 6).
//!
//! Field names are camelCase, enum values snake_case, as in [`crate::metrics`].

use serde::{Deserialize, Serialize};

/// The largest `desired` `POST /scale` accepts: far above any fleet fleetctl is measured with
/// (`docs/benchmarks.md` steps a fleet of 10,000), far below a typo's billions.
pub const MAX_DESIRED: u32 = 10_000;

/// The longest `reason` `POST /pause` accepts, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// Always `ok` when the process can answer.
    pub status: String,
    /// The fleetctl version serving the request.
    pub version: String,
    /// Whether mutations need `Authorization: Bearer <token>` (always true today; a client
    /// that finds no token asks the user for one).
    pub token_required: bool,
}

/// `POST /scale`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScaleRequest {
    /// The desired total number of instances, 0 to [`MAX_DESIRED`].
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10000))]
    pub desired: u32,
}

/// `POST /rolling-restart` (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollingRestartRequest {
    /// `replace` or `reboot`; the fleet file's `spec.rollout.strategy` when absent.
    #[serde(default)]
    pub strategy: Option<crate::metrics::Strategy>,
}

/// `POST /rollout` (the body is optional): a rolling update to the fleet file's launch
/// details.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutRequest {
    /// Plan only: list what would be replaced and why, record nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /rollout/undo` (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UndoRequest {
    /// The revision to go back to; the one before the fleet file's when absent.
    #[serde(default)]
    pub to_revision: Option<u32>,
}

/// The answer to `POST /rollout` with `dryRun`: the instances a rolling update would replace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RolloutPlan {
    /// The revision it would roll out.
    pub revision: Option<u32>,
    /// The outdated instances, oldest first.
    pub replace: Vec<OutdatedInstance>,
}

/// An instance a rolling update would replace, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct OutdatedInstance {
    /// The instance OCID.
    pub id: String,
    /// Its display name.
    pub name: String,
    /// The fields that differ (names only).
    pub fields: Vec<String>,
}

/// `POST /sync-state` (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncStateRequest {
    /// Also adopt live instances with no fleet tag whose display name is one the fleet gives
    /// (`fleetctl sync --adopt-untagged`); false when absent.
    #[serde(default)]
    pub adopt_untagged: bool,
}

/// `POST /pause` (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PauseRequest {
    /// Why, shown with the operation (at most [`MAX_REASON_CHARS`] characters);
    /// `paused by the operator` when absent.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The answer to a mutation: what was recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The operation the request created or acted on.
    pub operation_id: String,
    /// What happens next, in words (`scale to 5 queued`).
    pub message: String,
}

/// `POST /reconcile`: what one bounded reconcile step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    /// The calls the step made, one line each.
    pub did: Vec<String>,
    /// What the step waits on.
    pub waiting_on: Vec<String>,
    /// Notes (resolved limits, warnings).
    pub notes: Vec<String>,
    /// When another step is useful, in milliseconds; `null` when nothing is in progress.
    pub requeue_after_ms: Option<u64>,
    /// The operation after the step, if any.
    pub operation_id: Option<String>,
    /// Its status after the step.
    pub operation_status: Option<crate::metrics::OperationStatus>,
}

/// Every error answer: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    /// A stable, machine-readable code (see [`ErrorCode`]).
    pub code: ErrorCode,
    /// For people: what the client sent wrong (4xx), or that the server failed (5xx, never
    /// its internals).
    pub message: String,
    /// The request field at fault (`desired`, `strategy`), when one is.
    pub field: Option<String>,
    /// This request's id, also in the `x-request-id` header and the server's log line.
    pub request_id: Option<String>,
}

/// The stable error codes, each with one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the body is not JSON.
    MalformedJson,
    /// 422: the body is JSON but a field is missing, unknown, of the wrong type or out of
    /// range (`field` names it); or the core refused the value.
    InvalidRequest,
    /// 401: no bearer token, or the wrong one.
    Unauthorized,
    /// 404: no such route.
    NotFound,
    /// 405: the route exists, the method does not.
    MethodNotAllowed,
    /// 406: `Accept` asks for nothing the route serves.
    NotAcceptable,
    /// 409: the fleet's state refuses the request now (another operation runs, nothing to
    /// pause), another writer won, or another process holds the lease.
    Conflict,
    /// 413: the body is larger than the limit.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 500: a bug.
    Internal,
    /// 502: OCI or the state store failed or refused a call.
    Upstream,
    /// 503: the server cannot serve the fleet as configured (its log says why).
    Unavailable,
}

impl ErrorCode {
    /// The HTTP status of the code.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::MalformedJson => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::NotAcceptable => 406,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::InvalidRequest => 422,
            ErrorCode::Internal => 500,
            ErrorCode::Upstream => 502,
            ErrorCode::Unavailable => 503,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_refuse_unknown_fields_and_keep_their_names() {
        let r: ScaleRequest = serde_json::from_str(r#"{"desired":3}"#).unwrap();
        assert_eq!(r.desired, 3);
        assert!(serde_json::from_str::<ScaleRequest>(r#"{"desired":3,"x":1}"#).is_err());
        let r: RollingRestartRequest = serde_json::from_str(r#"{"strategy":"reboot"}"#).unwrap();
        assert_eq!(r.strategy, Some(crate::metrics::Strategy::Reboot));
        let body = ErrorBody {
            error: ErrorDetail {
                code: ErrorCode::PayloadTooLarge,
                message: "m".into(),
                field: None,
                request_id: Some("r".into()),
            },
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"error": {"code": "payload_too_large", "message": "m",
                "field": null, "requestId": "r"}})
        );
    }
}
