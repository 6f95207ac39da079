//! The one place errors become HTTP answers: [`ApiError`] carries an [`ErrorCode`] (which
//! fixes the status), a message for the client and, for 5xx, nothing of the server's
//! internals; `From<fleetctl_core::Error>` maps the core's [`ErrorClass`]es.
//!
//! The request id is filled in by the request-id layer ([`crate::layers`]): an error answer
//! carries its [`ApiError`] as a response extension, and the layer writes the body with the
//! id, so every error, a rejected body as much as a failed step, has the same shape.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fleetctl_api::http::{ErrorBody, ErrorCode, ErrorDetail};
use fleetctl_core::ErrorClass;
use fleetctl_core::ops::StepError;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// What kind of error, and so the status.
    pub code: ErrorCode,
    /// For the client.
    pub message: String,
    /// The request field at fault.
    pub field: Option<String>,
}

impl ApiError {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            field: None,
        }
    }

    /// A 422 naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            code: ErrorCode::InvalidRequest,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    /// The 401 of a mutation without the right bearer token.
    pub fn unauthorized() -> Self {
        ApiError::new(
            ErrorCode::Unauthorized,
            "this endpoint needs `Authorization: Bearer <token>` with the server's API token",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The body, with `request_id` when known.
    pub fn body(&self, request_id: Option<&str>) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                field: self.field.clone(),
                request_id: request_id.map(str::to_string),
            },
        }
    }

    /// The answer: status, JSON body (the request-id layer rewrites it with the id) and the
    /// error itself as an extension.
    pub fn to_response(&self, request_id: Option<&str>) -> Response {
        let body = serde_json::to_vec(&self.body(request_id)).unwrap_or_else(|_| {
            br#"{"error":{"code":"internal","message":"internal error","field":null,"requestId":null}}"#
                .to_vec()
        });
        let mut response = (self.status(), body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.code == ErrorCode::Unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(self.clone());
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.to_response(None)
    }
}

impl From<fleetctl_core::Error> for ApiError {
    /// The core's classes: what the client can fix is 4xx with the core's message; what the
    /// server or the cloud failed is 5xx with a generic one (the full error goes to the log,
    /// under the request id).
    fn from(e: fleetctl_core::Error) -> Self {
        let class = e.class();
        let (code, message) = match class {
            ErrorClass::BadInput => (ErrorCode::InvalidRequest, e.to_string()),
            ErrorClass::Refused => (ErrorCode::Conflict, e.to_string()),
            ErrorClass::Conflict => (
                ErrorCode::Conflict,
                "another writer changed the fleet's state at the same time; try again".to_string(),
            ),
            ErrorClass::Infrastructure => (
                ErrorCode::Upstream,
                "a call to OCI or the state store failed; the server's log has the details"
                    .to_string(),
            ),
            ErrorClass::Configuration => (
                ErrorCode::Unavailable,
                "the server cannot use its fleet configuration; its log says why".to_string(),
            ),
            ErrorClass::Internal => (
                ErrorCode::Internal,
                "internal error; the server's log has the details".to_string(),
            ),
        };
        if code.status() >= 500 {
            tracing::error!(class = ?class, error = %chain(&e), "request failed");
        }
        ApiError::new(code, message)
    }
}

impl From<StepError> for ApiError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::LeaseBusy(busy) => ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "another process holds the fleet's lease until {}; the step was not run",
                    busy.expires
                ),
            ),
            StepError::Other(e) => e.into(),
        }
    }
}

/// An error and its causes on one line, for the log.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_map_to_statuses_and_5xx_hide_the_message() {
        let e = |err: fleetctl_core::Error| ApiError::from(err);
        assert_eq!(e(fleetctl_core::Error::BadInput("b".into())).status(), 422);
        assert_eq!(e(fleetctl_core::Error::Refused("r".into())).status(), 409);
        let internal = e(fleetctl_core::Error::Internal("secret detail".into()));
        assert_eq!(internal.status(), 500);
        assert!(!internal.message.contains("secret"), "{internal:?}");
    }
}
