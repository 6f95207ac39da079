//! Errors of OCI calls, classified so operations can act on them.
//!
//! Messages carry the operation, the HTTP status, OCI's `code` and `message`, the
//! `opc-request-id` (what Oracle support asks for) and the attempt count; never credentials.

use std::fmt;

use super::auth::AuthError;
use super::endpoints::EndpointError;
use super::retry::is_out_of_host_capacity;
use super::signer::SignError;
use super::wire::parse_error_body;

/// What kind of failure an [`OciError`] is, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// 404 (`NotAuthorizedOrNotFound`, `NotFound`, `ObjectNotFound`, …): missing, or no
    /// permission (OCI does not tell them apart).
    NotFound,
    /// 429: throttled.
    Throttled,
    /// 500 `InternalError` "Out of host capacity.": no capacity for the shape in that
    /// availability/fault domain.
    OutOfHostCapacity,
    /// 400 `LimitExceeded` or `QuotaExceeded`: a service limit or compartment quota.
    LimitExceeded,
    /// 409: conflicting state (`IncorrectState`, `Conflict`, `LockConflict`,
    /// `InvalidatedRetryToken`, …).
    Conflict,
    /// 401/403 from the service, or credentials that could not be obtained.
    Auth,
    /// 412: an `if-match` precondition failed.
    PreconditionFailed,
    /// Another 4xx: the request is wrong.
    BadRequest,
    /// Another 5xx.
    ServerError,
    /// No HTTP response (connection, timeout).
    Transport,
    /// A local problem (URL, signing, an answer that cannot be decoded or is too large).
    Local,
}

/// An error response from OCI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// The operation (`GetUser`, `LaunchInstance`, …).
    pub operation: &'static str,
    /// HTTP status.
    pub status: u16,
    /// OCI's error `code` (empty when the body had none).
    pub code: String,
    /// OCI's `message`, or the raw body text when it is not JSON.
    pub message: String,
    /// The `opc-request-id` of the response.
    pub request_id: Option<String>,
    /// Attempts made, the failing one included.
    pub attempts: u32,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: OCI answered HTTP {}", self.operation, self.status)?;
        if !self.code.is_empty() {
            write!(f, " {}", self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        write!(
            f,
            " (opc-request-id: {}",
            self.request_id.as_deref().unwrap_or("none")
        )?;
        if self.attempts > 1 {
            write!(f, ", after {} attempts", self.attempts)?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for ServiceError {}

impl ServiceError {
    /// Builds the error from a response body: OCI's `{"code","message"}`, else the raw text.
    pub fn from_body(
        operation: &'static str,
        status: u16,
        body: &[u8],
        request_id: Option<String>,
        attempts: u32,
    ) -> Self {
        let (code, message) = parse_error_body(body);
        Self {
            operation,
            status,
            code,
            message,
            request_id,
            attempts,
        }
    }

    /// The classification.
    pub fn kind(&self) -> ErrorKind {
        match self.status {
            404 => ErrorKind::NotFound,
            429 => ErrorKind::Throttled,
            409 => ErrorKind::Conflict,
            412 => ErrorKind::PreconditionFailed,
            401 | 403 => ErrorKind::Auth,
            400 if matches!(self.code.as_str(), "LimitExceeded" | "QuotaExceeded") => {
                ErrorKind::LimitExceeded
            }
            s if is_out_of_host_capacity(s, Some(&self.message)) => ErrorKind::OutOfHostCapacity,
            s if (400..500).contains(&s) => ErrorKind::BadRequest,
            s if s >= 500 => ErrorKind::ServerError,
            _ => ErrorKind::Local,
        }
    }
}

/// Why an OCI call failed.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// OCI answered with an error status.
    #[error(transparent)]
    Service(Box<ServiceError>),
    /// No response: connection, TLS or timeout.
    #[error(
        "{operation}: no response from {url} after {attempts} attempt(s) (opc-request-id sent: {})",
        request_id.as_deref().unwrap_or("none")
    )]
    Transport {
        /// The operation.
        operation: &'static str,
        /// The URL (no secrets: OCIDs and paths only).
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The `opc-request-id` the client sent (OCI logs it when the request arrived).
        request_id: Option<String>,
        /// The last transport error.
        #[source]
        source: reqwest::Error,
    },
    /// A host name did not resolve (DNS): a misspelt region or endpoint, or no working
    /// resolver. Retried at most [`NAME_RESOLUTION_MAX_ATTEMPTS`] times in all.
    ///
    /// [`NAME_RESOLUTION_MAX_ATTEMPTS`]: super::retry::NAME_RESOLUTION_MAX_ATTEMPTS
    #[error(
        "{operation}: the host name `{host}` does not resolve (DNS), so {url} could not be \
         reached after {attempts} attempt(s){}",
        unknown_region_note(unknown_region.as_deref())
    )]
    NameResolution {
        /// The operation.
        operation: &'static str,
        /// The URL of the request.
        url: String,
        /// The host that did not resolve (the request's, or a proxy's).
        host: String,
        /// Attempts made.
        attempts: u32,
        /// The region the host was formed from, when fleetctl does not know that region (it
        /// assumed realm oc1); `None` for known regions, an endpoint override or a proxy host.
        unknown_region: Option<String>,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The proxy settings of the environment are unusable.
    #[error("{operation}: unusable proxy settings")]
    Proxy {
        /// The operation.
        operation: &'static str,
        /// What is wrong.
        #[source]
        source: crate::http::ProxyError,
    },
    /// Credentials could not be obtained or refreshed.
    #[error("{operation}: no usable OCI credentials")]
    Auth {
        /// The operation.
        operation: &'static str,
        /// Why.
        #[source]
        source: AuthError,
    },
    /// The request could not be signed.
    #[error("{operation}: cannot sign the request")]
    Sign {
        /// The operation.
        operation: &'static str,
        /// Why.
        #[source]
        source: SignError,
    },
    /// The URL could not be formed.
    #[error("{operation}: cannot form the request URL")]
    Endpoint {
        /// The operation.
        operation: &'static str,
        /// Why.
        #[source]
        source: EndpointError,
    },
    /// The request itself is invalid (a header value, a body that does not serialise).
    #[error("{operation}: invalid request: {reason}")]
    InvalidRequest {
        /// The operation.
        operation: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// An answer larger than fleetctl reads ([`MAX_RESPONSE_BYTES`]); not retried.
    ///
    /// [`MAX_RESPONSE_BYTES`]: super::client::MAX_RESPONSE_BYTES
    #[error(
        "{operation}: the answer from {url} (HTTP {status}, opc-request-id: {}) is larger than \
         {}, the most fleetctl reads of one OCI answer; it was not read",
        request_id.as_deref().unwrap_or("none"),
        crate::http::format_byte_limit(*limit)
    )]
    ResponseTooLarge {
        /// The operation.
        operation: &'static str,
        /// The URL of the request.
        url: String,
        /// The status of the answer.
        status: u16,
        /// The limit, in bytes.
        limit: usize,
        /// The `opc-request-id` of the response.
        request_id: Option<String>,
    },
    /// Not sent: the caller's time for it ran out first (a reconcile step's calls end before
    /// its lease does; see [`super::client::CallScope::not_after`]). Nothing reached OCI in
    /// the attempt that was not sent; earlier attempts may have.
    #[error(
        "{operation}: not sent after {attempts} attempt(s): the reconcile step's time ran out \
         (its lease ends soon); the next step does what is left (opc-request-id: {request_id})"
    )]
    NotSent {
        /// The operation.
        operation: &'static str,
        /// Attempts sent before.
        attempts: u32,
        /// The `opc-request-id` the attempts carried.
        request_id: String,
    },
    /// A successful response whose body is not what the operation expects.
    #[error(
        "{operation}: the response (opc-request-id: {}) is not the expected JSON",
        request_id.as_deref().unwrap_or("none")
    )]
    Decode {
        /// The operation.
        operation: &'static str,
        /// The `opc-request-id` of the response.
        request_id: Option<String>,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

fn unknown_region_note(region: Option<&str>) -> String {
    region
        .map(|r| {
            format!(
                "; `{r}` is not a region fleetctl knows (it assumed realm oc1), so the region \
                 may be misspelt"
            )
        })
        .unwrap_or_default()
}

impl OciError {
    /// The classification operations branch on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OciError::Service(e) => e.kind(),
            OciError::Transport { .. } | OciError::NameResolution { .. } => ErrorKind::Transport,
            OciError::Auth { .. } => ErrorKind::Auth,
            OciError::Sign { .. }
            | OciError::Proxy { .. }
            | OciError::Endpoint { .. }
            | OciError::InvalidRequest { .. }
            | OciError::ResponseTooLarge { .. }
            | OciError::Decode { .. }
            | OciError::NotSent { .. } => ErrorKind::Local,
        }
    }

    /// The service error, when OCI answered.
    pub fn service(&self) -> Option<&ServiceError> {
        match self {
            OciError::Service(e) => Some(e),
            _ => None,
        }
    }

    /// HTTP status, when OCI answered.
    pub fn status(&self) -> Option<u16> {
        self.service().map(|e| e.status)
    }

    /// OCI's error code, when OCI answered with one.
    pub fn code(&self) -> Option<&str> {
        self.service()
            .map(|e| e.code.as_str())
            .filter(|c| !c.is_empty())
    }

    /// The `opc-request-id`: the response's, or the one the client sent when no response came.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            OciError::Service(e) => e.request_id.as_deref(),
            OciError::Decode { request_id, .. } | OciError::ResponseTooLarge { request_id, .. } => {
                request_id.as_deref()
            }
            OciError::Transport { request_id, .. } => request_id.as_deref(),
            OciError::NotSent { request_id, .. } => Some(request_id),
            _ => None,
        }
    }

    /// 404.
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// 429.
    pub fn is_throttled(&self) -> bool {
        self.kind() == ErrorKind::Throttled
    }

    /// 500 "Out of host capacity.".
    pub fn is_out_of_host_capacity(&self) -> bool {
        self.kind() == ErrorKind::OutOfHostCapacity
    }

    /// 400 `LimitExceeded` / `QuotaExceeded`.
    pub fn is_limit_exceeded(&self) -> bool {
        self.kind() == ErrorKind::LimitExceeded
    }

    /// 409.
    pub fn is_conflict(&self) -> bool {
        self.kind() == ErrorKind::Conflict
    }

    /// 401/403 or unusable credentials.
    pub fn is_auth(&self) -> bool {
        self.kind() == ErrorKind::Auth
    }

    /// 412.
    pub fn is_precondition_failed(&self) -> bool {
        self.kind() == ErrorKind::PreconditionFailed
    }

    /// True when the error is a configuration problem the user fixes (exit code 1):
    /// credentials that could not be loaded for configuration reasons, an unusable endpoint
    /// override or proxy setting, and a host that does not resolve because it was formed from a
    /// region fleetctl does not know (most likely a misspelt region). Everything else is an
    /// infrastructure failure (exit code 2) or, see [`OciError::is_internal`], a bug (3).
    pub fn is_configuration_problem(&self) -> bool {
        match self {
            OciError::Auth { source, .. } => source.is_configuration_problem(),
            OciError::Endpoint { .. } | OciError::Proxy { .. } => true,
            OciError::NameResolution { unknown_region, .. } => unknown_region.is_some(),
            _ => false,
        }
    }

    /// True when the error is a bug in fleetctl (exit code 3): a request our own code built
    /// that cannot be signed, or credentials that failed for an internal reason (see
    /// [`AuthError::is_internal`]).
    pub fn is_internal(&self) -> bool {
        match self {
            OciError::Sign { .. } => true,
            OciError::Auth { source, .. } => source.is_internal(),
            _ => false,
        }
    }

    /// The host name that did not resolve, when that is why the call failed.
    pub fn unresolved_host(&self) -> Option<&str> {
        match self {
            OciError::NameResolution { host, .. } => Some(host),
            _ => None,
        }
    }

    /// The region the failing host was formed from, when fleetctl does not know it (see
    /// [`OciError::NameResolution`]).
    pub fn unknown_region(&self) -> Option<&str> {
        match self {
            OciError::NameResolution { unknown_region, .. } => unknown_region.as_deref(),
            _ => None,
        }
    }
}
