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

/// A failed step's error as `/control`'s `lastError` shows it: `/control` needs no token, so
/// this is what anyone who can reach the server may read. It says the error's class in words
/// and, for a failed OCI call, the operation, the HTTP status and OCI's error code (for
/// example `LaunchInstance: OCI answered HTTP 429 TooManyRequests; the server's log has the
/// details`). A request the fleet's state refused keeps the core's message, the one a 4xx
/// answer gives any client. Never a message from OCI or the store, a URL, host, path, OCID,
/// key or request id: those go to the log, where the step's full error is.
pub fn step_error_summary(e: &fleetctl_core::Error) -> String {
    const LOG: &str = "; the server's log has the details";
    match e.class() {
        ErrorClass::BadInput | ErrorClass::Refused => first_line(&e.to_string(), 200),
        ErrorClass::Conflict => {
            "another writer changed the fleet's state at the same time; the next step tries again"
                .to_string()
        }
        ErrorClass::Configuration => {
            "the server cannot use its fleet configuration; its log says why".to_string()
        }
        ErrorClass::Internal => format!("internal error{LOG}"),
        ErrorClass::Infrastructure => match oci_call(e) {
            Some(call) => format!("{call}{LOG}"),
            None if matches!(root(e), fleetctl_core::Error::Store(_)) => {
                format!("the state store failed{LOG}")
            }
            None => format!("a call to OCI or the state store failed{LOG}"),
        },
    }
}

/// `e` without its hints.
fn root(e: &fleetctl_core::Error) -> &fleetctl_core::Error {
    match e {
        fleetctl_core::Error::WithHints { error, .. } => root(error),
        other => other,
    }
}

/// The failed OCI call of `e`, in words made of fleetctl's own names and OCI's status and
/// error code only.
fn oci_call(e: &fleetctl_core::Error) -> Option<String> {
    use fleetctl_core::oci::OciError;
    use fleetctl_core::oci::backends::LbError;
    use fleetctl_core::oci::network::NetworkError;
    let oci: &OciError = match root(e) {
        fleetctl_core::Error::Oci(o)
        | fleetctl_core::Error::LoadBalancer(LbError::Oci(o))
        | fleetctl_core::Error::Network(NetworkError::Oci(o)) => o,
        fleetctl_core::Error::LoadBalancer(LbError::Busy {
            source: Some(o), ..
        }) => o,
        _ => return None,
    };
    Some(match oci {
        OciError::Service(s) => {
            // OCI's code is an identifier (`NotAuthorizedOrNotFound`); anything else is left out.
            let code = Some(s.code.as_str())
                .filter(|c| {
                    !c.is_empty()
                        && c.len() <= 64
                        && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
                })
                .map(|c| format!(" {c}"))
                .unwrap_or_default();
            format!("{}: OCI answered HTTP {}{code}", s.operation, s.status)
        }
        OciError::Transport { operation, .. } => format!("{operation}: no response from OCI"),
        OciError::NameResolution { operation, .. } => {
            format!("{operation}: a host name does not resolve (DNS)")
        }
        OciError::Auth { operation, .. } => format!("{operation}: no usable OCI credentials"),
        OciError::NotSent { operation, .. } => {
            format!("{operation}: not sent, the step's time ran out; the next step goes on")
        }
        _ => return None,
    })
}

/// The first line of `text`, at most `max` characters (then `…`).
fn first_line(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or_default();
    let mut short: String = first.chars().take(max).collect();
    if short.len() < first.len() {
        short.push('…');
    }
    short
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

    #[test]
    fn a_step_error_summary_keeps_the_call_status_and_code_and_drops_messages_and_ids() {
        use fleetctl_core::Error;
        use fleetctl_core::oci::{OciError, ServiceError};
        let service = |code: &str| {
            Error::Oci(OciError::Service(Box::new(ServiceError {
                operation: "LaunchInstance",
                status: 400,
                code: code.to_string(),
                message: "metadata.user_data=c2VjcmV0 is invalid for ocid1.instance.oc1..secret"
                    .to_string(),
                request_id: Some("SECRET-REQUEST-ID".to_string()),
                attempts: 1,
            })))
        };
        let summary = step_error_summary(&service("InvalidParameter"));
        assert_eq!(
            summary,
            "LaunchInstance: OCI answered HTTP 400 InvalidParameter; the server's log has the details"
        );
        // The same through hints; a code that is not an identifier is left out.
        let hinted = Error::WithHints {
            error: Box::new(service("Invalid <b>parameter</b> token=abc")),
            hints: vec!["check ~/.oci/config".to_string()],
        };
        assert_eq!(
            step_error_summary(&hinted),
            "LaunchInstance: OCI answered HTTP 400; the server's log has the details"
        );
        let secret = "-----BEGIN PRIVATE KEY----- /home/fn/.oci/key.pem";
        for e in [
            Error::Internal(secret.to_string()),
            Error::Config(fleetctl_core::config::ConfigErrors {
                problems: vec![fleetctl_core::config::Problem {
                    file: "/home/fn/fleet.yaml".to_string(),
                    line: 1,
                    column: 1,
                    path: String::new(),
                    message: secret.to_string(),
                }],
            }),
        ] {
            let summary = step_error_summary(&e);
            assert!(
                !summary.contains("PRIVATE") && !summary.contains("/home"),
                "{summary}"
            );
        }
        // What the fleet's state refused is the message a 4xx gives any client, first line only.
        let refused = Error::Refused(format!("another operation runs\n{}", "x".repeat(500)));
        assert_eq!(step_error_summary(&refused), "another operation runs");
        let long = Error::BadInput("y".repeat(500));
        assert_eq!(step_error_summary(&long).chars().count(), 201);
    }
}
