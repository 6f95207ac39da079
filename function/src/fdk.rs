//! The Fn "http-stream" contract (what OCI Functions run a function container with), as a
//! listener and a tower layer around any router.
//!
//! - [`FnListener`]: `FN_LISTENER=unix:/tmp/iofs/lsnr.sock` and `FN_FORMAT=http-stream`: binds a
//!   phony socket in the same directory, makes it `0666` (the agent connects as another uid)
//!   and creates the **relative** symlink `lsnr.sock -> phonylsnr.sock` last, as the official
//!   FDKs do; removes both on drop.
//! - [`FnAdapter`] ([`FnLayer`]): decodes one `POST /call` of the agent into the request the
//!   router sees, and encodes the router's answer the way the agent wants it:
//!   * an HTTP invocation (API Gateway: `Fn-Http-Method`, `Fn-Http-Request-Url` relative or
//!     absolute, `Fn-Http-H-*`) becomes that method, path and headers;
//!   * any other invocation (a schedule's empty call, an OCI Events delivery, a Notifications
//!     message) becomes `POST /reconcile` with an empty body; a CloudEvents body is logged
//!     (type, resource id) and kept as [`FnEvent`]. The platform's own invocation path carries
//!     no bearer token: the router adds one with [`InvokeHeaders`] (a layer of the router, so
//!     that the token can be known after the socket already serves);
//!   * `Fn-Deadline` becomes the [`Deadline`] extension; a deadline already past answers 504
//!     without calling the router, and a router still busy at the deadline is abandoned (504);
//!   * the socket answer is 200 with the real status in `Fn-Http-Status` and the real headers
//!     as `Fn-Http-H-*` (`Content-Type` stays raw), or 502 when the handler panicked (and, for
//!     a non-HTTP invocation, when the router answered 4xx/5xx, so a failed scheduled step
//!     shows as a failed call); every answer carries `Fn-Fdk-Version` and `Fn-Fdk-Runtime`.
//! - [`serve`]: accepts the agent's connections and serves each with HTTP/1.1 keep-alive and no
//!   server timeouts (chunked request bodies are accepted).
//!
//! Facts about the contract: section H of the shared reference `oci-auth-fn.md`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use futures::FutureExt as _;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use serde::Serialize;
use tower::{Layer, Service, ServiceExt as _};

/// `Fn-Fdk-Version` of every answer: `fdk-rust/<fleetctl version>`.
pub const FDK_VERSION: &str = concat!("fdk-rust/", env!("CARGO_PKG_VERSION"));
/// `Fn-Fdk-Runtime` of every answer: `rust/<the rustc version that built the binary>`.
pub const FDK_RUNTIME: &str = concat!("rust/", env!("FLEETCTL_RUSTC_VERSION"));

/// The route non-HTTP invocations (schedules, events) are sent to.
pub const RECONCILE_PATH: &str = "/reconcile";

/// Largest invocation body the platform delivers (6 MB); a larger one is refused (502).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

const FN_HTTP_METHOD: &str = "fn-http-method";
const FN_HTTP_REQUEST_URL: &str = "fn-http-request-url";
const FN_HTTP_H: &str = "fn-http-h-";
const FN_HTTP_STATUS: &str = "fn-http-status";
const FN_DEADLINE: &str = "fn-deadline";
const FN_CALL_ID: &str = "fn-call-id";
const FN_INTENT: &str = "fn-intent";
const FN_FDK_VERSION: &str = "fn-fdk-version";
const FN_FDK_RUNTIME: &str = "fn-fdk-runtime";

/// When the platform abandons the call (`Fn-Deadline`), as an [`Instant`]: a request extension
/// the router may read to bound its work. Same shape as the API's step deadline, so one
/// converts to the other with `StepDeadline(d.0)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(pub Instant);

impl Deadline {
    /// Parses `Fn-Deadline` (RFC 3339, e.g. `2020-12-10T01:36:13Z`) against `now` (wall
    /// clock) and `now_instant` (the monotonic clock read at the same moment). A deadline in
    /// the past gives an instant at or before `now_instant`.
    pub fn parse(value: &str, now: SystemTime, now_instant: Instant) -> Option<Deadline> {
        let at = time::OffsetDateTime::parse(
            value.trim(),
            &time::format_description::well_known::Rfc3339,
        )
        .ok()?;
        let at = SystemTime::from(at);
        Some(Deadline(match at.duration_since(now) {
            Ok(ahead) => now_instant + ahead,
            Err(behind) => now_instant
                .checked_sub(behind.duration())
                .unwrap_or(now_instant),
        }))
    }

    /// True when the deadline is at or before `now`.
    pub fn has_passed(&self, now: Instant) -> bool {
        self.0 <= now
    }
}

/// What kind of invocation a call is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvocationKind {
    /// An HTTP request relayed by API Gateway (or an fn HTTP trigger).
    Http,
    /// A call with an empty body (a schedule, a plain `fn invoke`).
    Schedule,
    /// An OCI Events delivery (a CloudEvents envelope).
    Event,
    /// Any other body (a Notifications message, Connector Hub records).
    Message,
}

/// The CloudEvents envelope of an OCI Events delivery, as much as fleetctl reads of it: a
/// request extension of the `POST /reconcile` it triggers.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct FnEvent {
    /// `type` (CloudEvents 1.0) or `eventType` (0.1), e.g.
    /// `com.oraclecloud.computeapi.terminateinstance.end`.
    pub event_type: String,
    /// `data.resourceId` (the instance OCID for compute events), when present.
    pub resource_id: Option<String>,
    /// `id` / `eventID`, when present.
    pub event_id: Option<String>,
}

impl FnEvent {
    /// Reads a CloudEvents envelope (1.0 `specversion` + `type`, or OCI's 0.1
    /// `cloudEventsVersion` + `eventType`); `None` for anything else.
    pub fn parse(body: &[u8]) -> Option<FnEvent> {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        let obj = v.as_object()?;
        let text = |k: &str| obj.get(k).and_then(|x| x.as_str()).map(str::to_string);
        let event_type = if obj.contains_key("specversion") {
            text("type")?
        } else if obj.contains_key("cloudEventsVersion") {
            text("eventType")?
        } else {
            return None;
        };
        let resource_id = obj
            .get("data")
            .and_then(|d| d.get("resourceId"))
            .and_then(|x| x.as_str())
            .map(str::to_string);
        Some(FnEvent {
            event_type,
            resource_id,
            event_id: text("id").or_else(|| text("eventID")),
        })
    }
}

/// The platform's view of one call, as a request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FnCall {
    /// `Fn-Call-Id`.
    pub call_id: Option<String>,
    /// What kind of invocation it is.
    pub kind: InvocationKind,
}

/// How the adapter maps calls: everything it needs is in the environment, so it is known
/// before the socket is bound.
#[derive(Debug, Clone)]
pub struct FnConfig {
    /// Removed from the front of `Fn-Http-Request-Url`'s path (API Gateway sends the
    /// deployment's path prefix, e.g. `/fleet`), when the path starts with it.
    pub path_prefix: Option<String>,
    /// `FN_LOGFRAME_NAME` and `FN_LOGFRAME_HDR`: before each call `\n<NAME>=<header value>\n`
    /// is printed to stdout and stderr, so OCI Logging can split the log per call.
    pub log_frame: Option<(String, String)>,
}

impl FnConfig {
    /// No path prefix, no log framing.
    pub fn new() -> Self {
        Self {
            path_prefix: None,
            log_frame: None,
        }
    }

    /// Reads `FLEETCTL_PATH_PREFIX`, `FN_LOGFRAME_NAME` and `FN_LOGFRAME_HDR` through `var`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Self {
        let mut config = FnConfig::new();
        let non_empty = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        config.path_prefix = non_empty("FLEETCTL_PATH_PREFIX");
        if let (Some(name), Some(header)) =
            (non_empty("FN_LOGFRAME_NAME"), non_empty("FN_LOGFRAME_HDR"))
        {
            config.log_frame = Some((name, header));
        }
        config
    }
}

/// Headers added to the request of every non-HTTP invocation (an [`FnCall`] of another kind
/// than [`InvocationKind::Http`]), e.g. `Authorization: Bearer <token>`, so that the router's
/// auth is satisfied by the platform's own invocation path (whoever may invoke the function
/// may run a step). Never added to HTTP invocations: those carry their client's own
/// credentials. A layer of the router ([`add_invoke_headers`]) rather than part of
/// [`FnConfig`]: the token is named by the fleet file, which is read while the socket already
/// serves.
#[derive(Debug, Clone, Default)]
pub struct InvokeHeaders(HeaderMap);

impl InvokeHeaders {
    /// `Authorization: Bearer <token>`, marked sensitive.
    ///
    /// # Errors
    /// A token that cannot be a header value (the message does not include it).
    pub fn bearer(token: &str) -> Result<Self, String> {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "the API token has characters a header cannot carry".to_string())?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value);
        Ok(Self(headers))
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.0
    }

    /// Adds the headers to `req` when it is a non-HTTP invocation (replacing any of the same
    /// name); leaves every other request alone.
    pub fn apply<B>(&self, req: &mut Request<B>) {
        let platform = req
            .extensions()
            .get::<FnCall>()
            .is_some_and(|c| c.kind != InvocationKind::Http);
        if platform {
            for (name, value) in &self.0 {
                req.headers_mut().insert(name.clone(), value.clone());
            }
        }
    }
}

/// The middleware of [`InvokeHeaders`]:
/// `router.layer(axum::middleware::from_fn_with_state(headers, add_invoke_headers))`.
pub async fn add_invoke_headers(
    axum::extract::State(headers): axum::extract::State<InvokeHeaders>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response<Body> {
    headers.apply(&mut req);
    next.run(req).await
}

impl Default for FnConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Wraps a router in [`FnAdapter`].
#[derive(Debug, Clone)]
pub struct FnLayer {
    config: std::sync::Arc<FnConfig>,
}

impl FnLayer {
    pub fn new(config: FnConfig) -> Self {
        Self {
            config: std::sync::Arc::new(config),
        }
    }
}

impl<S> Layer<S> for FnLayer {
    type Service = FnAdapter<S>;
    fn layer(&self, inner: S) -> FnAdapter<S> {
        FnAdapter {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The tower service that speaks the Fn contract on the outside and plain HTTP to `S` (an
/// `axum::Router`, or any service of `Request<Body>`). See the [module docs](self).
#[derive(Debug, Clone)]
pub struct FnAdapter<S> {
    inner: S,
    config: std::sync::Arc<FnConfig>,
}

impl<S> FnAdapter<S> {
    pub fn new(inner: S, config: FnConfig) -> Self {
        FnLayer::new(config).layer(inner)
    }
}

impl<S, B> Service<Request<B>> for FnAdapter<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let inner = self.inner.clone();
        let config = self.config.clone();
        Box::pin(async move {
            let req = req.map(Body::new);
            Ok(handle(inner, &config, req, SystemTime::now(), Instant::now()).await)
        })
    }
}

/// Decodes one call, runs it through `inner` and encodes the answer.
async fn handle<S>(
    inner: S,
    config: &FnConfig,
    req: Request<Body>,
    now: SystemTime,
    now_instant: Instant,
) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    if let Some((name, header)) = &config.log_frame {
        let value = header_str(req.headers(), header).unwrap_or_default();
        println!("\n{name}={value}");
        eprintln!("\n{name}={value}");
    }
    let call_id = header_str(req.headers(), FN_CALL_ID).map(str::to_string);
    let deadline = match header_str(req.headers(), FN_DEADLINE) {
        Some(text) => match Deadline::parse(text, now, now_instant) {
            Some(d) => Some(d),
            None => {
                tracing::warn!(
                    fn_deadline = text,
                    "ignoring an Fn-Deadline that is not RFC 3339"
                );
                None
            }
        },
        None => None,
    };
    if let Some(d) = deadline
        && d.has_passed(Instant::now())
    {
        tracing::warn!(
            call_id = call_id.as_deref(),
            "the call's deadline had passed on arrival"
        );
        return platform_error(
            StatusCode::GATEWAY_TIMEOUT,
            "the call's deadline (Fn-Deadline) has passed",
        );
    }
    let is_http = req.headers().contains_key(FN_HTTP_METHOD);
    let decoded = if is_http {
        decode_http(req, config)
    } else {
        decode_invocation(req).await
    };
    let mut inner_req = match decoded {
        Ok(r) => r,
        Err(message) => {
            tracing::warn!(call_id = call_id.as_deref(), %message, "cannot decode the call");
            return platform_error(StatusCode::BAD_GATEWAY, &message);
        }
    };
    let kind = inner_req
        .extensions()
        .get::<InvocationKind>()
        .cloned()
        .unwrap_or(InvocationKind::Http);
    inner_req.extensions_mut().insert(FnCall {
        call_id: call_id.clone(),
        kind: kind.clone(),
    });
    if let Some(d) = deadline {
        inner_req.extensions_mut().insert(d);
    }
    let method = inner_req.method().clone();
    let path = inner_req.uri().path().to_string();
    let call = AssertUnwindSafe(inner.oneshot(inner_req)).catch_unwind();
    let outcome = match deadline {
        Some(d) => match tokio::time::timeout_at(d.0.into(), call).await {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::warn!(call_id = call_id.as_deref(), %method, path, "the deadline passed before the answer");
                return platform_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the call's deadline (Fn-Deadline) passed before the answer",
                );
            }
        },
        None => call.await,
    };
    let response = match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => {
            tracing::error!(call_id = call_id.as_deref(), %method, path, "the handler panicked");
            return platform_error(StatusCode::BAD_GATEWAY, "the function failed");
        }
    };
    let status = response.status();
    tracing::info!(
        call_id = call_id.as_deref(),
        kind = ?kind,
        %method,
        path,
        status = status.as_u16(),
        "fn call answered"
    );
    let failed =
        kind != InvocationKind::Http && (status.is_client_error() || status.is_server_error());
    encode(response, failed)
}

/// An HTTP invocation: `Fn-Http-Method`, `Fn-Http-Request-Url` and `Fn-Http-H-*` make the
/// request; every other platform header is dropped.
fn decode_http(req: Request<Body>, config: &FnConfig) -> Result<Request<Body>, String> {
    let (parts, body) = req.into_parts();
    let method_text = header_str(&parts.headers, FN_HTTP_METHOD).unwrap_or_default();
    let method = Method::from_bytes(method_text.trim().as_bytes())
        .map_err(|_| format!("Fn-Http-Method {method_text:?} is not an HTTP method"))?;
    let url = header_str(&parts.headers, FN_HTTP_REQUEST_URL).unwrap_or("/");
    let uri = request_uri(url, config.path_prefix.as_deref())?;
    let mut builder = Request::builder().method(method).uri(uri);
    let headers = builder
        .headers_mut()
        .ok_or_else(|| "cannot build the request".to_string())?;
    *headers = decap_headers(&parts.headers);
    let mut out = builder
        .body(body)
        .map_err(|e| format!("cannot build the request: {e}"))?;
    out.extensions_mut().insert(InvocationKind::Http);
    Ok(out)
}

/// A non-HTTP invocation: `POST /reconcile` with an empty body and the CloudEvents summary
/// when the body is one (the router adds its [`InvokeHeaders`]).
async fn decode_invocation(req: Request<Body>) -> Result<Request<Body>, String> {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| format!("cannot read the invocation body: {e}"))?;
    let (kind, event) = if bytes.iter().all(u8::is_ascii_whitespace) {
        (InvocationKind::Schedule, None)
    } else if let Some(event) = FnEvent::parse(&bytes) {
        (InvocationKind::Event, Some(event))
    } else {
        (InvocationKind::Message, None)
    };
    match &event {
        Some(e) => tracing::info!(
            event_type = e.event_type,
            resource_id = e.resource_id.as_deref(),
            event_id = e.event_id.as_deref(),
            intent = header_str(&parts.headers, FN_INTENT),
            "event delivery: running a reconcile step"
        ),
        None => {
            tracing::info!(kind = ?kind, body_bytes = bytes.len(), "invocation: running a reconcile step")
        }
    }
    let mut builder = Request::builder().method(Method::POST).uri(RECONCILE_PATH);
    let headers = builder
        .headers_mut()
        .ok_or_else(|| "cannot build the request".to_string())?;
    headers.insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    let mut out = builder
        .body(Body::empty())
        .map_err(|e| format!("cannot build the request: {e}"))?;
    out.extensions_mut().insert(kind);
    if let Some(event) = event {
        out.extensions_mut().insert(event);
    }
    Ok(out)
}

/// `Fn-Http-Request-Url` as the router's URI: OCI API Gateway sends path and query
/// (`/v1/things?x=1`), the fn server an absolute URL (`http://host/t/app/things?x=1`); both
/// keep only path and query, then `prefix` is removed from the front of the path (on a segment
/// boundary).
pub fn request_uri(url: &str, prefix: Option<&str>) -> Result<Uri, String> {
    let bad = || format!("Fn-Http-Request-Url {url:?} is not a URL or a path");
    let trimmed = url.trim();
    let uri: Uri = if trimmed.starts_with('/') || trimmed.contains("://") {
        trimmed.parse()
    } else {
        format!("/{trimmed}").parse()
    }
    .map_err(|_| bad())?;
    let path_and_query = match uri.path_and_query() {
        Some(pq) => pq.as_str().to_string(),
        None if uri.scheme().is_some() => "/".to_string(),
        None => return Err(bad()),
    };
    let path_and_query = if path_and_query.starts_with('/') {
        path_and_query
    } else {
        format!("/{path_and_query}")
    };
    let stripped = match prefix
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| !p.is_empty())
    {
        Some(prefix) => match path_and_query.strip_prefix(prefix) {
            Some("") => "/".to_string(),
            Some(rest) if rest.starts_with('/') => rest.to_string(),
            Some(rest) if rest.starts_with('?') => format!("/{rest}"),
            _ => path_and_query,
        },
        None => path_and_query,
    };
    stripped.parse().map_err(|_| bad())
}

/// The client's headers: every `Fn-Http-H-<Name>` as `<Name>` (all values kept, in order);
/// the raw `Content-Type` and `Content-Length` when the client's copy is absent. Every other
/// platform header (`Fn-*`, `Opc-Request-Id`, the socket's `Host`) is dropped.
pub fn decap_headers(platform: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in platform {
        if let Some(client) = name.as_str().strip_prefix(FN_HTTP_H)
            && let Ok(client) = HeaderName::from_bytes(client.as_bytes())
        {
            out.append(client, value.clone());
        }
    }
    for name in [CONTENT_TYPE, CONTENT_LENGTH] {
        if !out.contains_key(&name)
            && let Some(value) = platform.get(&name)
        {
            out.insert(name, value.clone());
        }
    }
    // The body the router reads is the socket's body: its length is the socket's.
    if let Some(len) = platform.get(CONTENT_LENGTH) {
        out.insert(CONTENT_LENGTH, len.clone());
    } else {
        out.remove(CONTENT_LENGTH);
    }
    out
}

/// The router's response as the agent wants it: socket status 200 (502 when `failed`),
/// `Fn-Http-Status`, every header as `Fn-Http-H-*` except `Content-Type` (raw) and the
/// hop-by-hop ones, and the FDK headers.
pub fn encode(response: Response<Body>, failed: bool) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if name == CONTENT_TYPE {
            headers.append(CONTENT_TYPE, value.clone());
        } else if is_hop_by_hop(name) {
            continue;
        } else if let Ok(prefixed) = HeaderName::from_bytes(format!("{FN_HTTP_H}{name}").as_bytes())
        {
            headers.append(prefixed, value.clone());
        }
    }
    headers.insert(
        HeaderName::from_static(FN_HTTP_STATUS),
        HeaderValue::from(parts.status.as_u16()),
    );
    fdk_headers(&mut headers);
    let mut out = Response::new(body);
    *out.status_mut() = if failed {
        StatusCode::BAD_GATEWAY
    } else {
        StatusCode::OK
    };
    *out.headers_mut() = headers;
    out
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "content-length"
            | "proxy-authenticate"
            | "proxy-authorization"
    )
}

fn fdk_headers(headers: &mut HeaderMap) {
    headers.insert(
        HeaderName::from_static(FN_FDK_VERSION),
        HeaderValue::from_static(FDK_VERSION),
    );
    headers.insert(
        HeaderName::from_static(FN_FDK_RUNTIME),
        HeaderValue::from_static(FDK_RUNTIME),
    );
}

/// A 502 or 504 of the FDK itself: the JSON `{"message": ...}` the official FDKs send.
fn platform_error(status: StatusCode, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    out.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    fdk_headers(out.headers_mut());
    out
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Why the Fn listener could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum FnError {
    /// `FN_FORMAT` names another format than `http-stream`.
    #[error(
        "FN_FORMAT={0:?} is not supported: fleetctl-function speaks the `http-stream` format only \
         (set it to `http-stream`, or leave it unset)"
    )]
    Format(String),
    /// `FN_LISTENER` is not `unix:<absolute path>`.
    #[error("FN_LISTENER={0:?} must be `unix:<absolute path of the socket>`")]
    Listener(String),
    /// A socket or link file could not be created.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl FnError {
    /// True for a wrong environment (exit 1), false for a failed system call (exit 2).
    pub fn is_configuration_problem(&self) -> bool {
        matches!(self, FnError::Format(_) | FnError::Listener(_))
    }
}

/// The unix socket the Fn agent connects to (see the [module docs](self)).
#[derive(Debug)]
pub struct FnListener {
    listener: tokio::net::UnixListener,
    link: PathBuf,
    phony: PathBuf,
}

impl FnListener {
    /// Checks `FN_FORMAT` (`http-stream`, or unset/empty as fdk-go accepts) and binds
    /// `FN_LISTENER` (`unix:/path/lsnr.sock`): a phony socket `phony<name>` in the same
    /// directory, `chmod 0666`, then the relative symlink `<name> -> phony<name>`, last.
    /// Stale files at both paths are removed first. Must run inside a tokio runtime.
    ///
    /// # Errors
    /// [`FnError::Format`], [`FnError::Listener`], or [`FnError::Io`] for a failed system call.
    pub fn bind(fn_listener: &str, fn_format: Option<&str>) -> Result<FnListener, FnError> {
        use std::os::unix::fs::PermissionsExt as _;
        if let Some(format) = fn_format.map(str::trim).filter(|f| !f.is_empty())
            && format != "http-stream"
        {
            return Err(FnError::Format(format.to_string()));
        }
        let bad = || FnError::Listener(fn_listener.to_string());
        let link = fn_listener
            .strip_prefix("unix:")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .ok_or_else(bad)?;
        let (dir, name) = match (link.parent(), link.file_name()) {
            (Some(dir), Some(name)) => (dir.to_path_buf(), name.to_string_lossy().into_owned()),
            _ => return Err(bad()),
        };
        let phony_name = format!("phony{name}");
        let phony = dir.join(&phony_name);
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| FnError::Io {
                action,
                path,
                source,
            }
        };
        for stale in [&link, &phony] {
            match std::fs::remove_file(stale) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    return Err(io("remove the stale file", stale)(e));
                }
                _ => {}
            }
        }
        let std_listener = std::os::unix::net::UnixListener::bind(&phony)
            .map_err(io("bind the socket", &phony))?;
        std_listener
            .set_nonblocking(true)
            .map_err(io("configure the socket", &phony))?;
        std::fs::set_permissions(&phony, std::fs::Permissions::from_mode(0o666))
            .map_err(io("set the permissions of", &phony))?;
        let listener = tokio::net::UnixListener::from_std(std_listener)
            .map_err(io("register the socket", &phony))?;
        let bound = FnListener {
            listener,
            link: link.clone(),
            phony,
        };
        std::os::unix::fs::symlink(&phony_name, &link).map_err(io("create the symlink", &link))?;
        Ok(bound)
    }

    /// The path the agent connects to (the symlink).
    pub fn path(&self) -> &Path {
        &self.link
    }

    /// Waits for the agent's next connection.
    pub async fn accept(&self) -> io::Result<tokio::net::UnixStream> {
        self.listener.accept().await.map(|(stream, _)| stream)
    }
}

impl Drop for FnListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.link);
        let _ = std::fs::remove_file(&self.phony);
    }
}

/// Serves `service` (usually `FnAdapter<Router>`) on `listener` until `shutdown` resolves:
/// one task per connection, HTTP/1.1 keep-alive, no read or write timeouts.
///
/// # Errors
/// A failed `accept` that is not a per-connection error.
pub async fn serve<S>(
    listener: &FnListener,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()>
where
    S: Service<Request<hyper::body::Incoming>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(stream) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "accept on the Fn socket failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let service = service.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| service.clone().oneshot(req));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "Fn socket connection ended");
            }
        });
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

#[cfg(test)]
mod tests;
