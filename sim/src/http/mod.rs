//! The HTTP edge: requests as the services see them, OCI error bodies, the operation registry
//! and the connection-level server.

pub mod body;
pub mod router;
pub mod server;

use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Serialize;

/// A request with its body read, as every handler sees it. `Debug` shows the body's length
/// only and hides credential headers: bodies carry tokens (`currentToken`) and keys.
#[derive(Clone)]
pub struct SimRequest {
    pub method: Method,
    /// `path[?query]` exactly as received (what `(request-target)` signs).
    pub target: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub request_id: String,
}

impl fmt::Debug for SimRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimRequest")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("body", &BodyLen(self.body.len()))
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

/// Headers for `Debug`: the value of anything that can carry a credential is replaced.
struct RedactedHeaders<'a>(&'a HeaderMap);

/// Whether a header's value may be a credential (a signature, a token, a cookie).
fn is_credential_header(name: &http::HeaderName, value: &HeaderValue) -> bool {
    let name = name.as_str();
    value.is_sensitive()
        || matches!(
            name,
            "authorization" | "proxy-authorization" | "cookie" | "set-cookie"
        )
        || (name.contains("token") && name != "opc-retry-token")
}

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in self.0 {
            if is_credential_header(name, value) {
                map.entry(&name.as_str(), &format_args!("<redacted>"));
            } else {
                map.entry(&name.as_str(), value);
            }
        }
        map.finish()
    }
}

/// A body for `Debug`: its length only.
struct BodyLen(usize);

impl fmt::Debug for BodyLen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

impl SimRequest {
    /// The first value of a query parameter, form-decoded (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(k) == name).then(|| form_decode(v))
        })
    }

    /// A required query parameter, or 400 `MissingParameter` naming it.
    pub fn required_query(&self, name: &str) -> Result<String, ApiError> {
        match self.query_param(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "MissingParameter",
                format!("Missing required query parameter '{name}'"),
            )),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Parses the body as JSON, or 400 `CannotParseRequest` saying why.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "CannotParseRequest",
                format!("The request body is not valid JSON for this operation: {e}"),
            )
        })
    }
}

/// Percent-decodes a path segment (`%3A` -> `:`); invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_decode(s: &str) -> String {
    percent_decode(&s.replace('+', " "))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// An OCI error: status plus `{"code","message"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// 404 `NotAuthorizedOrNotFound` (OCI cannot tell missing from forbidden).
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotAuthorizedOrNotFound",
            format!("Authorization failed or requested resource not found: {what} {id}"),
        )
    }

    pub fn not_authenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "NotAuthenticated", message)
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "InvalidParameter", message)
    }

    /// The error OCI answers with for a status when nothing more specific is known.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status.as_u16() {
            400 => ("InvalidParameter", "Invalid parameter"),
            401 => (
                "NotAuthenticated",
                "The required information to complete authentication was not provided or was incorrect",
            ),
            403 => ("NotAuthorized", "Not authorized"),
            404 => (
                "NotAuthorizedOrNotFound",
                "Authorization failed or requested resource not found",
            ),
            405 => ("MethodNotAllowed", "Method not allowed"),
            409 => ("IncorrectState", "The resource is in a conflicting state"),
            412 => (
                "NoEtagMatch",
                "The If-Match header does not match the current etag",
            ),
            429 => ("TooManyRequests", "Too many requests for the user"),
            500 => ("InternalError", "Internal error occurred"),
            501 => ("MethodNotImplemented", "Method not implemented"),
            502 => ("BadGateway", "Bad gateway"),
            503 => ("ServiceUnavailable", "Service unavailable"),
            504 => ("GatewayTimeout", "Gateway timeout"),
            _ => ("InternalError", "Simulated failure"),
        };
        Self::new(status, code, message)
    }

    pub fn into_response(self) -> SimResponse {
        SimResponse::json(
            self.status,
            &serde_json::json!({"code": self.code, "message": self.message}),
        )
    }
}

/// 500 `InternalError` for a failure of the simulator itself (key generation, a file write),
/// with the error and its causes in the message.
pub fn internal(e: impl std::error::Error) -> ApiError {
    let mut message = format!("the simulator failed: {e}");
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
}

/// A response before the server adds `opc-request-id`. `Debug` shows the body's length only:
/// bodies carry issued tokens and IMDS's private key.
#[derive(Clone)]
pub struct SimResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl fmt::Debug for SimResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimResponse")
            .field("status", &self.status)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("body", &BodyLen(self.body.len()))
            .finish()
    }
}

impl SimResponse {
    pub fn json(status: StatusCode, value: &impl Serialize) -> Self {
        let body = serde_json::to_vec(value).unwrap_or_else(|e| {
            format!(r#"{{"code":"InternalError","message":"serialising the response: {e}"}}"#)
                .into_bytes()
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Self {
            status,
            headers,
            body: Bytes::from(body),
        }
    }

    pub fn ok_json(value: &impl Serialize) -> Self {
        Self::json(StatusCode::OK, value)
    }

    pub fn text(body: impl Into<String>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain"),
        );
        Self {
            status: StatusCode::OK,
            headers,
            body: Bytes::from(body.into()),
        }
    }

    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header; values the simulator builds are always valid header text.
    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.insert(name, v);
        }
        self
    }

    pub fn with_etag(self, etag: &str) -> Self {
        self.with_header("etag", etag)
    }
}

/// How many items a list answers per page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize {
    /// When the request has no `limit`.
    pub default: usize,
    /// A cap below the client's `limit` (a server may always answer fewer): the admin knob
    /// that makes clients page.
    pub max: Option<usize>,
}

/// The page size a request asks for: `limit` (1..=1000) or the default, then the cap.
pub fn page_limit(req: &SimRequest, size: PageSize) -> Result<usize, ApiError> {
    let limit = match req.query_param("limit") {
        None => size.default,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => n,
            _ => {
                return Err(ApiError::invalid_parameter(format!(
                    "limit must be an integer from 1 to 1000, got '{s}'"
                )));
            }
        },
    };
    Ok(size.max.map_or(limit, |m| limit.min(m)).max(1))
}

/// Pages a list the way OCI does: `limit` (1..=1000, default and cap from `size`) and an
/// opaque `page` token; returns the page and the `opc-next-page` token when more remain.
pub fn paginate_with<T: Clone>(
    items: &[T],
    req: &SimRequest,
    size: PageSize,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let limit = page_limit(req, size)?;
    let start = match req.query_param("page") {
        None => 0,
        Some(p) => URL_SAFE_NO_PAD
            .decode(&p)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.strip_prefix("offset:")
                    .and_then(|n| n.parse::<usize>().ok())
            })
            .filter(|n| *n <= items.len())
            .ok_or_else(|| ApiError::invalid_parameter(format!("page token '{p}' is not valid")))?,
    };
    let end = (start + limit).min(items.len());
    let next = (end < items.len()).then(|| URL_SAFE_NO_PAD.encode(format!("offset:{end}")));
    Ok((items[start..end].to_vec(), next))
}

/// A list response with `opc-next-page` when there is one.
pub fn list_response<T: Serialize>(items: &[T], next_page: Option<String>) -> SimResponse {
    let resp = SimResponse::ok_json(&items);
    match next_page {
        Some(p) => resp.with_header("opc-next-page", &p),
        None => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str) -> SimRequest {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (target.to_string(), None),
        };
        SimRequest {
            method: Method::GET,
            target: target.to_string(),
            path,
            query,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            request_id: "r".into(),
        }
    }

    /// Pages with a default size and no cap.
    fn paginate<T: Clone>(
        items: &[T],
        req: &SimRequest,
        default: usize,
    ) -> Result<(Vec<T>, Option<String>), ApiError> {
        paginate_with(items, req, PageSize { default, max: None })
    }

    #[test]
    fn debug_of_requests_and_responses_shows_no_token_or_key() {
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlc2VjcmV0";
        let mut r = req("/v1/authentication/refresh");
        r.method = Method::POST;
        r.body = Bytes::from(format!(r#"{{"currentToken":"{token}"}}"#));
        r.headers.insert(
            "authorization",
            HeaderValue::from_str(&format!(
                r#"Signature version="1",keyId="ST${token}",algorithm="rsa-sha256",headers="date",signature="AAAA""#
            ))
            .unwrap(),
        );
        r.headers.insert(
            "opc-obo-token",
            HeaderValue::from_static("obo-secret-value"),
        );
        r.headers
            .insert("opc-retry-token", HeaderValue::from_static("retry-1"));
        let shown = format!("{r:?} {r:#?}");
        assert!(!shown.contains(token), "{shown}");
        assert!(!shown.contains("c2lnbmF0dXJlc2VjcmV0"), "{shown}");
        assert!(!shown.contains("obo-secret-value"), "{shown}");
        assert!(
            shown.contains(&format!("<{} bytes>", r.body.len())),
            "{shown}"
        );
        assert!(
            shown.contains("retry-1"),
            "harmless headers stay visible: {shown}"
        );
        assert!(shown.contains("/v1/authentication/refresh"));

        let resp = SimResponse::ok_json(&serde_json::json!({"token": token}));
        let shown = format!("{resp:?}");
        assert!(!shown.contains(token), "{shown}");
        assert!(shown.contains(&format!("<{} bytes>", resp.body.len())));
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";
        let shown = format!("{:?}", SimResponse::text(pem));
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        assert!(
            !shown.contains("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
            "{shown}"
        );
    }

    #[test]
    fn query_values_are_form_decoded() {
        let r = req("/x?name=Jane+Doe%2B%2F&compartmentId=ocid1.c");
        assert_eq!(r.query_param("name").as_deref(), Some("Jane Doe+/"));
        assert_eq!(r.query_param("compartmentId").as_deref(), Some("ocid1.c"));
        assert_eq!(r.query_param("missing"), None);
    }

    #[test]
    fn pages_walk_the_whole_list_once() {
        let items: Vec<u32> = (0..7).collect();
        let (p1, next) = paginate(&items, &req("/x?limit=3"), 100).unwrap();
        assert_eq!(p1, vec![0, 1, 2]);
        let next = next.unwrap();
        let (p2, next2) = paginate(&items, &req(&format!("/x?limit=3&page={next}")), 100).unwrap();
        assert_eq!(p2, vec![3, 4, 5]);
        let (p3, next3) = paginate(
            &items,
            &req(&format!("/x?limit=3&page={}", next2.unwrap())),
            100,
        )
        .unwrap();
        assert_eq!(p3, vec![6]);
        assert_eq!(next3, None);
    }

    #[test]
    fn a_page_size_cap_wins_over_the_clients_limit() {
        let items: Vec<u32> = (0..5).collect();
        let cap = PageSize {
            default: 100,
            max: Some(2),
        };
        let (p1, next) = paginate_with(&items, &req("/x?limit=50"), cap).unwrap();
        assert_eq!(p1, vec![0, 1]);
        assert!(next.is_some());
        let (all, none) = paginate(&items, &req("/x?limit=50"), 100).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(none, None);
    }

    #[test]
    fn bad_limit_and_page_are_invalid_parameters() {
        let items = vec![1];
        assert_eq!(
            paginate(&items, &req("/x?limit=0"), 10).unwrap_err().code,
            "InvalidParameter"
        );
        assert_eq!(
            paginate(&items, &req("/x?page=garbage"), 10)
                .unwrap_err()
                .code,
            "InvalidParameter"
        );
    }

    #[test]
    fn percent_decoding_handles_colons_and_bad_escapes() {
        assert_eq!(percent_decode("10.0.0.3%3A8080"), "10.0.0.3:8080");
        assert_eq!(percent_decode("a%2Fb%zz%"), "a/b%zz%");
    }
}
