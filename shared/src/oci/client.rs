//! The OCI REST client core: one `send` path for every operation.
//!
//! For each request the URL is serialised once. Then, for each attempt: get credentials from
//! the provider, sign afresh (new `date`), send exactly the signed URL, read `opc-request-id`.
//! Failures are retried by the policy in [`super::retry`]; a 401 triggers one credential
//! refresh and one retry. Every base URL comes from [`Endpoints`], so the local simulator
//! plugs in by URL.
//!
//! # Proxies and name resolution
//! OCI calls go through the HTTP client of [`crate::http`]: the environment's proxy settings
//! as the OCI CLI and SDKs read them ([`ProxyConfig`]), loopback always direct, and host names
//! that do not resolve told apart from other connection failures
//! ([`OciError::NameResolution`]) and retried only briefly.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, IF_MATCH, RETRY_AFTER, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::auth::CredentialProvider;
use super::endpoints::{Endpoints, Service};
use super::error::{OciError, ServiceError};
use super::pages::{PageCounts, PageMemo};
use super::retry::{
    AttemptOutcome, Idempotency, RetryDecision, RetryPolicy, attempt_limit, decide,
    delay_with_retry_after, may_retry,
};
use super::signer::{self, BodyMode, SignRequest};
use super::wire::RetryToken;
use crate::clock::{Clock, Sleeper, SystemClock, TokioSleeper};
use crate::env::Env;
use crate::http::{
    BodyError, ProxyConfig, REQUEST_TIMEOUT, SystemResolver, http_client_with_resolver,
    read_body_limited, unresolved_host,
};

/// `opc-request-id`.
pub const OPC_REQUEST_ID: HeaderName = HeaderName::from_static("opc-request-id");
/// `opc-retry-token`.
pub const OPC_RETRY_TOKEN: HeaderName = HeaderName::from_static("opc-retry-token");
/// `opc-next-page`.
pub const OPC_NEXT_PAGE: HeaderName = HeaderName::from_static("opc-next-page");
/// `opc-client-retries`.
pub const OPC_CLIENT_RETRIES: HeaderName = HeaderName::from_static("opc-client-retries");

tokio::task_local! {
    /// What [`within`] set for the calls of its task.
    static CALL_SCOPE: CallScope;
}

/// What the calls made inside [`within`] carry and respect.
#[derive(Debug, Clone)]
pub struct CallScope {
    /// Put with a hyphen before every generated `opc-request-id` (`F7-1A2B3C4D-0E9F...`): the
    /// reconcile step stamps its calls with its lease's fencing counter and holder this way
    /// ([`crate::ops::call_stamp`]), so a request log (OCI Audit's, or the simulator's) says
    /// which holding period made each call. A request that sets its own `opc-request-id`
    /// keeps it. Keep it short (OCI keeps request ids up to 98 characters; the generated part
    /// is 32) and to ASCII letters, digits and hyphens.
    pub request_id_prefix: Arc<str>,
    /// No attempt is sent at or after this instant (on the client's clock): a reconcile step's
    /// calls end before its lease does, even when the process was paused (stopped, starved)
    /// between two attempts or two calls and the dropped call's next attempt would otherwise
    /// go out late. Such a call fails with [`OciError::NotSent`].
    pub not_after: Option<time::OffsetDateTime>,
}

/// Runs `f` with every call this client makes inside it in `scope`.
pub async fn within<F: std::future::Future>(scope: CallScope, f: F) -> F::Output {
    CALL_SCOPE.scope(scope, f).await
}

/// A new `opc-request-id`: 32 upper-case hex digits, after the scope's prefix if there is one.
fn new_request_id() -> String {
    let id = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .to_ascii_uppercase();
    match CALL_SCOPE.try_with(|s| format!("{}-{id}", s.request_id_prefix)) {
        Ok(prefixed) => prefixed,
        Err(_) => id,
    }
}

/// The scope's `not_after`, if the task has a scope that sets one.
fn not_after() -> Option<time::OffsetDateTime> {
    CALL_SCOPE.try_with(|s| s.not_after).ok().flatten()
}

/// Percent-encodes one path segment strictly (everything but `A-Z a-z 0-9 - . _ ~`), as the
/// SDKs do for Object Storage names; safe for OCIDs and names alike.
pub fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One OCI call, built without I/O.
///
/// `Debug` shows the body's length only: bodies carry secrets (a launch's
/// `metadata.user_data`, a ledger written to Object Storage).
#[derive(Clone)]
pub struct OciRequest {
    /// The operation name, for errors and logs (`GetUser`).
    pub operation: &'static str,
    /// The service (picks the endpoint).
    pub service: Service,
    /// HTTP method.
    pub method: Method,
    /// Percent-encoded path including the API prefix (`/20160918/users/ocid1...`).
    pub path: String,
    /// Query parameters, form-encoded in this order when the URL is built.
    pub query: Vec<(String, String)>,
    /// Extra headers (`if-match`, `opc-retry-token`, `content-type`, …).
    pub headers: HeaderMap,
    /// The body (empty for none).
    pub body: Bytes,
    /// How the body is signed.
    pub body_mode: BodyMode,
}

impl fmt::Debug for OciRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciRequest")
            .field("operation", &self.operation)
            .field("service", &self.service)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &self.headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("body_mode", &self.body_mode)
            .finish()
    }
}

impl OciRequest {
    /// A request with no query, headers or body.
    pub fn new(
        operation: &'static str,
        service: Service,
        method: Method,
        path: impl Into<String>,
    ) -> Self {
        Self {
            operation,
            service,
            method,
            path: path.into(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            body_mode: BodyMode::Signed,
        }
    }

    /// Adds a query parameter.
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    /// Sets a JSON body (and `content-type: application/json`).
    pub fn json_body<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self, OciError> {
        let bytes = serde_json::to_vec(body).map_err(|e| OciError::InvalidRequest {
            operation: self.operation,
            reason: format!("the body does not serialise to JSON: {e}"),
        })?;
        self.body = Bytes::from(bytes);
        self.headers
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Ok(self)
    }

    /// Sets a raw body with its content type.
    pub fn raw_body(mut self, body: Bytes, content_type: HeaderValue) -> Self {
        self.body = body;
        self.headers.insert(CONTENT_TYPE, content_type);
        self
    }

    /// Sets a header; fails when the value is not a valid header value.
    pub fn header(mut self, name: HeaderName, value: &str) -> Result<Self, OciError> {
        let value = HeaderValue::from_str(value).map_err(|_| OciError::InvalidRequest {
            operation: self.operation,
            reason: format!("the value of header `{name}` is not a valid header value"),
        })?;
        self.headers.insert(name, value);
        Ok(self)
    }

    /// Sets `opc-retry-token`: OCI deduplicates retries of this request, so it becomes
    /// retryable. The token was checked when the [`RetryToken`] was made.
    pub fn retry_token(mut self, token: &RetryToken) -> Self {
        // A RetryToken admits only [A-Za-z0-9_.:-], 1 to 64 bytes: always a header value.
        let value = HeaderValue::from_str(token.as_str())
            .expect("a RetryToken is always a valid header value");
        self.headers.insert(OPC_RETRY_TOKEN, value);
        self
    }

    /// Sets `if-match`.
    pub fn if_match(self, etag: &str) -> Result<Self, OciError> {
        self.header(IF_MATCH, etag)
    }

    /// Sets the body signing mode (see [`BodyMode`]).
    pub fn body_mode(mut self, mode: BodyMode) -> Self {
        self.body_mode = mode;
        self
    }

    /// Whether the request may be repeated: a retry token makes it so, else the method
    /// decides (GET, HEAD, PUT, DELETE are idempotent).
    pub fn effective_idempotency(&self) -> Idempotency {
        if self.headers.contains_key(OPC_RETRY_TOKEN) {
            return Idempotency::RetryToken;
        }
        match self.method {
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE => Idempotency::Idempotent,
            _ => Idempotency::NotIdempotent,
        }
    }
}

/// A successful response.
///
/// `Debug` shows the body's length only (a `GetInstance` body holds `metadata.user_data`).
#[derive(Clone)]
pub struct OciResponse {
    /// Status (2xx or 3xx).
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
    /// `opc-request-id`.
    pub request_id: Option<String>,
    /// Attempts made.
    pub attempts: u32,
}

impl fmt::Debug for OciResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("request_id", &self.request_id)
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl OciResponse {
    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `opc-next-page`, when there are more pages.
    pub fn next_page(&self) -> Option<&str> {
        self.header("opc-next-page").filter(|p| !p.is_empty())
    }

    /// `etag`.
    pub fn etag(&self) -> Option<&str> {
        self.header("etag")
    }

    /// Decodes the JSON body.
    pub fn json<T: DeserializeOwned>(&self, operation: &'static str) -> Result<T, OciError> {
        serde_json::from_slice(&self.body).map_err(|source| OciError::Decode {
            operation,
            request_id: self.request_id.clone(),
            source,
        })
    }
}

/// The most bytes fleetctl reads of one OCI API answer: 16 MiB. A list page of 1000 instances
/// is a few MiB; a larger answer is refused ([`OciError::ResponseTooLarge`]) rather than held
/// in memory.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Builds an [`OciClient`].
pub struct OciClientBuilder {
    provider: Arc<dyn CredentialProvider>,
    endpoints: Endpoints,
    http: Option<reqwest::Client>,
    proxy: Option<ProxyConfig>,
    resolver: Option<Arc<dyn reqwest::dns::Resolve>>,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    user_agent: String,
}

impl fmt::Debug for OciClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciClientBuilder")
            .field("provider", &self.provider)
            .field("endpoints", &self.endpoints)
            .field("custom_http_client", &self.http.is_some())
            .field("proxy", &self.proxy)
            .field("custom_resolver", &self.resolver.is_some())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl OciClientBuilder {
    /// Uses this HTTP client (tests, shared pools) instead of building one; it should be
    /// HTTP/1.1-only, and [`proxy`](Self::proxy) and [`dns_resolver`](Self::dns_resolver) do
    /// not apply to it.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The proxy settings of the built HTTP client. Without this, they are read from the
    /// process environment when the client is built ([`ProxyConfig::from_env`]).
    pub fn proxy(mut self, proxy: ProxyConfig) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Resolves host names with `resolver` instead of the system resolver (tests, pinned
    /// addresses). Its failures are still reported as [`OciError::NameResolution`].
    pub fn dns_resolver(mut self, resolver: Arc<dyn reqwest::dns::Resolve>) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Replaces the retry policy.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Replaces the clock (request dates, retry deadline).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the sleeper (backoff waits).
    pub fn sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Replaces the `user-agent`.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`OciError::Proxy`] when the proxy variables of the environment are unusable, and
    /// [`OciError::Transport`] when the HTTP client cannot be built.
    pub fn build(self) -> Result<OciClient, OciError> {
        const OPERATION: &str = "build HTTP client";
        let http = match self.http {
            Some(h) => h,
            None => {
                let proxy = match self.proxy {
                    Some(p) => p,
                    None => ProxyConfig::from_env(&Env::from_process()).map_err(|source| {
                        OciError::Proxy {
                            operation: OPERATION,
                            source,
                        }
                    })?,
                };
                let resolver = self.resolver.unwrap_or_else(|| Arc::new(SystemResolver));
                http_client_with_resolver(REQUEST_TIMEOUT, &proxy, resolver).map_err(|source| {
                    OciError::Transport {
                        operation: OPERATION,
                        url: String::new(),
                        attempts: 0,
                        request_id: None,
                        source,
                    }
                })?
            }
        };
        let user_agent =
            HeaderValue::from_str(&self.user_agent).map_err(|_| OciError::InvalidRequest {
                operation: "build HTTP client",
                reason: "the user agent is not a valid header value".into(),
            })?;
        Ok(OciClient {
            inner: Arc::new(Inner {
                provider: self.provider,
                endpoints: self.endpoints,
                http,
                retry: self.retry,
                clock: self.clock,
                sleeper: self.sleeper,
                user_agent,
                pages: PageMemo::default(),
            }),
        })
    }
}

/// The OCI REST client. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct OciClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    provider: Arc<dyn CredentialProvider>,
    endpoints: Endpoints,
    http: reqwest::Client,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
    user_agent: HeaderValue,
    /// Decoded pages of [`OciClient::list_all_remembered`]'s listings.
    pages: PageMemo,
}

impl OciClient {
    /// Starts a builder with the system clock, tokio sleeps, the default retry policy and an
    /// HTTP client built by [`crate::http::http_client`] with the environment's proxy settings.
    pub fn builder(
        provider: Arc<dyn CredentialProvider>,
        endpoints: Endpoints,
    ) -> OciClientBuilder {
        OciClientBuilder {
            provider,
            endpoints,
            http: None,
            proxy: None,
            resolver: None,
            retry: RetryPolicy::default(),
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            user_agent: format!("fleetctl/{}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// The credential provider.
    pub fn provider(&self) -> &Arc<dyn CredentialProvider> {
        &self.inner.provider
    }

    /// The endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.endpoints
    }

    /// The clock (request dates, retry deadlines); operations that wait use it too.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The sleeper (backoff waits); operations that poll wait through it too.
    pub fn sleeper(&self) -> &Arc<dyn Sleeper> {
        &self.inner.sleeper
    }

    /// The region hosts are formed from, when fleetctl does not know it (no endpoint override
    /// and a region outside its table and `OCI_REGION_METADATA`).
    fn unknown_region(&self) -> Option<String> {
        let endpoints = &self.inner.endpoints;
        (endpoints.override_base().is_none() && !endpoints.region().is_known())
            .then(|| endpoints.region().id().to_string())
    }

    /// The URL `req` is sent to: endpoint + path + form-encoded query, serialised once.
    pub fn request_url(&self, req: &OciRequest) -> Result<Url, OciError> {
        let mut url = self
            .inner
            .endpoints
            .url(req.service, &req.path)
            .map_err(|source| OciError::Endpoint {
                operation: req.operation,
                source,
            })?;
        if !req.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &req.query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Sends `req` with signing, retries and one refresh after a 401. Returns the 2xx/3xx
    /// response, or the classified error.
    pub async fn send(&self, req: &OciRequest) -> Result<OciResponse, OciError> {
        let inner = &self.inner;
        let url = self.request_url(req)?;
        let idempotency = req.effective_idempotency();
        let client_request_id = req
            .headers
            .get(OPC_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(new_request_id);
        let start = inner.clock.now();
        let mut attempts = 0u32;
        let mut refreshed = false;
        loop {
            attempts += 1;
            let creds = inner
                .provider
                .credentials()
                .await
                .map_err(|source| OciError::Auth {
                    operation: req.operation,
                    source,
                })?;
            let mut headers = req.headers.clone();
            if !headers.contains_key(ACCEPT) {
                headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
            }
            headers.insert(USER_AGENT, inner.user_agent.clone());
            if let Ok(v) = HeaderValue::from_str(&client_request_id) {
                headers.insert(OPC_REQUEST_ID, v);
            }
            if attempts > 1 {
                headers.insert(OPC_CLIENT_RETRIES, HeaderValue::from_static("true"));
            }
            let signed = signer::sign(
                &SignRequest {
                    method: &req.method,
                    url: &url,
                    headers: &headers,
                    body: &req.body,
                    body_mode: req.body_mode,
                },
                &creds.key_id,
                &creds.key,
                inner.clock.now(),
            )
            .map_err(|source| OciError::Sign {
                operation: req.operation,
                source,
            })?;
            signed.apply_to(&mut headers);

            if let Some(at) = not_after()
                && inner.clock.now() >= at
            {
                return Err(OciError::NotSent {
                    operation: req.operation,
                    attempts: attempts - 1,
                    request_id: client_request_id,
                });
            }
            let result = inner
                .http
                .request(req.method.clone(), url.clone())
                .headers(headers)
                .body(req.body.clone())
                .send()
                .await;

            let (outcome_err, retry_after): (OciError, Option<Duration>) = match result {
                Ok(resp) => {
                    let status = resp.status();
                    let resp_headers = resp.headers().clone();
                    let request_id = resp_headers
                        .get(OPC_REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    match read_body_limited(resp, MAX_RESPONSE_BYTES).await {
                        Ok(body) if status.as_u16() < 400 => {
                            return Ok(OciResponse {
                                status,
                                headers: resp_headers,
                                body,
                                request_id,
                                attempts,
                            });
                        }
                        Ok(body) => {
                            let err = ServiceError::from_body(
                                req.operation,
                                status.as_u16(),
                                &body,
                                request_id,
                                attempts,
                            );
                            let retry_after = resp_headers
                                .get(RETRY_AFTER)
                                .and_then(|v| v.to_str().ok())
                                .and_then(|v| v.trim().parse::<u64>().ok())
                                .map(Duration::from_secs);
                            (OciError::Service(Box::new(err)), retry_after)
                        }
                        Err(BodyError::TooLarge { limit }) => {
                            let err = OciError::ResponseTooLarge {
                                operation: req.operation,
                                url: url.to_string(),
                                status: status.as_u16(),
                                limit,
                                request_id,
                            };
                            log_failure(req, &err, attempts, "giving up");
                            return Err(err);
                        }
                        Err(BodyError::Read(source)) => (
                            OciError::Transport {
                                operation: req.operation,
                                url: url.to_string(),
                                attempts,
                                request_id: Some(client_request_id.clone()),
                                source,
                            },
                            None,
                        ),
                    }
                }
                Err(source) => match unresolved_host(&source).map(str::to_string) {
                    Some(host) => {
                        let unknown_region = (url.host_str() == Some(host.as_str()))
                            .then(|| self.unknown_region())
                            .flatten();
                        (
                            OciError::NameResolution {
                                operation: req.operation,
                                url: url.to_string(),
                                host,
                                attempts,
                                unknown_region,
                                source,
                            },
                            None,
                        )
                    }
                    None => (
                        OciError::Transport {
                            operation: req.operation,
                            url: url.to_string(),
                            attempts,
                            request_id: Some(client_request_id.clone()),
                            source,
                        },
                        None,
                    ),
                },
            };

            let outcome = match &outcome_err {
                OciError::Service(e) => AttemptOutcome::Response {
                    status: e.status,
                    code: Some(e.code.as_str()).filter(|c| !c.is_empty()),
                    message: Some(e.message.as_str()),
                },
                OciError::NameResolution { .. } => AttemptOutcome::NameNotResolved,
                OciError::Transport { source, .. } if source.is_connect() => {
                    AttemptOutcome::NotSent
                }
                _ => AttemptOutcome::TransportFailure,
            };
            match decide(outcome, idempotency, refreshed) {
                RetryDecision::GiveUp => {
                    log_failure(req, &outcome_err, attempts, "giving up");
                    return Err(outcome_err);
                }
                RetryDecision::RefreshAndRetry => {
                    refreshed = true;
                    match inner.provider.refresh_after_unauthorized().await {
                        Ok(true) => {
                            log_failure(
                                req,
                                &outcome_err,
                                attempts,
                                "credentials refreshed after 401; retrying once",
                            );
                            continue;
                        }
                        Ok(false) => {
                            log_failure(
                                req,
                                &outcome_err,
                                attempts,
                                "401 and the credentials did not change; giving up",
                            );
                            return Err(outcome_err);
                        }
                        Err(e) => {
                            tracing::warn!(operation = req.operation, error = %e, "refreshing credentials after a 401 failed");
                            log_failure(req, &outcome_err, attempts, "giving up");
                            return Err(outcome_err);
                        }
                    }
                }
                RetryDecision::Retry => {
                    let delay = delay_with_retry_after(
                        &inner.retry,
                        attempts,
                        fastrand::f64(),
                        retry_after,
                    );
                    let elapsed =
                        Duration::try_from(inner.clock.now() - start).unwrap_or(Duration::ZERO);
                    let policy = RetryPolicy {
                        max_attempts: attempt_limit(&inner.retry, outcome),
                        ..inner.retry
                    };
                    if !may_retry(&policy, attempts, elapsed, delay) {
                        log_failure(
                            req,
                            &outcome_err,
                            attempts,
                            "retry budget exhausted; giving up",
                        );
                        return Err(outcome_err);
                    }
                    log_failure(req, &outcome_err, attempts, "retrying");
                    inner.sleeper.sleep(delay).await;
                }
            }
        }
    }

    /// Sends `req` and decodes the JSON body.
    pub async fn send_json<T: DeserializeOwned>(&self, req: &OciRequest) -> Result<T, OciError> {
        self.send(req).await?.json(req.operation)
    }

    /// Sends a list request and follows `opc-next-page` until the last page, concatenating
    /// items. Each page must be a JSON array or an object with an `items` array (see
    /// [`decode_list_page`]).
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        req: &OciRequest,
    ) -> Result<Vec<T>, OciError> {
        let mut out = Vec::new();
        self.each_page(req, |resp| {
            out.extend(decode_list_page::<T>(
                req.operation,
                resp.request_id.as_deref(),
                &resp.body,
            )?);
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// [`list_all`](Self::list_all) for a listing repeated step after step (a compartment's
    /// instances, a backend set's backends): a page whose bytes are those of a page the
    /// previous listing of the same request decoded is not parsed again (see
    /// [`super::pages`]). The result is the same as `list_all`'s.
    pub async fn list_all_remembered<T>(&self, req: &OciRequest) -> Result<Vec<T>, OciError>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let mut listing = self.inner.pages.listing(listing_key(req));
        let mut out = Vec::new();
        self.each_page(req, |resp| {
            let items = listing.page(&resp.body, |body| {
                decode_list_page::<T>(req.operation, resp.request_id.as_deref(), body)
            })?;
            out.extend(items.iter().cloned());
            Ok(())
        })
        .await?;
        listing.finish();
        Ok(out)
    }

    /// How many list pages [`list_all_remembered`](Self::list_all_remembered) parsed and how
    /// many it recognised, since this client was built (clones share them).
    pub fn page_counts(&self) -> PageCounts {
        self.inner.pages.counts()
    }

    /// Sends a list request and hands each page to `each`, following `opc-next-page` until
    /// the last.
    async fn each_page(
        &self,
        req: &OciRequest,
        mut each: impl FnMut(&OciResponse) -> Result<(), OciError>,
    ) -> Result<(), OciError> {
        let mut page: Option<String> = None;
        // A service that returns the same page token forever would loop; stop at a generous
        // bound and say so.
        for _ in 0..10_000 {
            let mut r = req.clone();
            if let Some(p) = &page {
                r.query.retain(|(k, _)| k != "page");
                r.query.push(("page".into(), p.clone()));
            }
            let resp = self.send(&r).await?;
            each(&resp)?;
            match resp.next_page() {
                Some(next) if page.as_deref() != Some(next) => page = Some(next.to_string()),
                Some(_) => {
                    return Err(OciError::InvalidRequest {
                        operation: req.operation,
                        reason: "the service returned the same opc-next-page twice".into(),
                    });
                }
                None => return Ok(()),
            }
        }
        Err(OciError::InvalidRequest {
            operation: req.operation,
            reason: "more than 10000 pages; stopping".into(),
        })
    }
}

/// What identifies a listing for [`PageMemo`]: the operation, service, path and query but the
/// page token.
fn listing_key(req: &OciRequest) -> String {
    let mut key = format!("{} {:?} {}", req.operation, req.service, req.path);
    for (k, v) in req.query.iter().filter(|(k, _)| k != "page") {
        key.push_str(&format!(" {k}={v}"));
    }
    key
}

/// The items of one page of a list answer: a bare JSON array, or an object with an `items`
/// array. Anything else (`{}`, `null`, an object without `items`) is an
/// [`OciError::Decode`], never an empty list: to a fleet manager "no instances" means launching
/// the fleet again.
pub fn decode_list_page<T: DeserializeOwned>(
    operation: &'static str,
    request_id: Option<&str>,
    body: &[u8],
) -> Result<Vec<T>, OciError> {
    use serde::de::DeserializeSeed as _;
    let decode_error = |source| OciError::Decode {
        operation,
        request_id: request_id.map(str::to_string),
        source,
    };
    // Straight from the bytes into `T`s: no `serde_json::Value` of the page in between (a
    // page of 1000 instances is a megabyte). A body that is valid UTF-8 as a whole (JSON
    // always is) is checked once, in one pass, instead of string by string as it is parsed;
    // any other is read from its bytes, which accepts and refuses exactly the same.
    fn read<'de, T: Deserialize<'de>>(
        mut de: serde_json::Deserializer<impl serde_json::de::Read<'de>>,
    ) -> Result<Vec<T>, serde_json::Error> {
        let items = list_page::Page::<T>::new().deserialize(&mut de)?;
        de.end()?;
        Ok(items)
    }
    match std::str::from_utf8(body) {
        Ok(text) => read(serde_json::Deserializer::from_str(text)),
        Err(_) => read(serde_json::Deserializer::from_slice(body)),
    }
    .map_err(decode_error)
}

/// The visitors of [`decode_list_page`]: a bare array, or an object whose `items` is one
/// (other fields skipped unread); anything else is an error that names what it found.
mod list_page {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{
        self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
    };

    /// What a JSON value that is not an array is, for messages.
    fn what(unexpected: de::Unexpected<'_>) -> &'static str {
        match unexpected {
            de::Unexpected::Unit | de::Unexpected::Option => "null",
            de::Unexpected::Bool(_) => "a boolean",
            de::Unexpected::Unsigned(_) | de::Unexpected::Signed(_) | de::Unexpected::Float(_) => {
                "a number"
            }
            de::Unexpected::Str(_) | de::Unexpected::Char(_) => "a string",
            de::Unexpected::Map => "an object",
            _ => "an array",
        }
    }

    /// Reads a JSON array of `T`s.
    fn seq<'de, T: de::Deserialize<'de>, A: SeqAccess<'de>>(
        mut seq: A,
    ) -> Result<Vec<T>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            out.push(item);
        }
        Ok(out)
    }

    /// The whole answer.
    pub(super) struct Page<T>(PhantomData<T>);

    impl<T> Page<T> {
        pub(super) fn new() -> Self {
            Page(PhantomData)
        }
    }

    /// The `items` field.
    struct Items<T>(PhantomData<T>);

    macro_rules! refuse_scalars {
        ($message:expr) => {
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Err(E::custom(format_args!(
                    $message,
                    what(de::Unexpected::Bool(v))
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Err(E::custom(format_args!(
                    $message,
                    what(de::Unexpected::Signed(v))
                )))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Err(E::custom(format_args!(
                    $message,
                    what(de::Unexpected::Unsigned(v))
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Err(E::custom(format_args!(
                    $message,
                    what(de::Unexpected::Float(v))
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Err(E::custom(format_args!(
                    $message,
                    what(de::Unexpected::Str(v))
                )))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Err(E::custom(format_args!(
                    $message,
                    what(de::Unexpected::Unit)
                )))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Err(E::custom(format_args!(
                    $message,
                    what(de::Unexpected::Option)
                )))
            }
        };
    }

    impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for Page<T> {
        type Value = Vec<T>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de, T: de::Deserialize<'de>> Visitor<'de> for Page<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array or an object with `items`")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<Vec<T>, A::Error> {
            seq(s)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<T>, A::Error> {
            let mut items = None;
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if key == "items" && items.is_none() {
                    items = Some(map.next_value_seed(Items(PhantomData))?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            items.ok_or_else(|| {
                de::Error::custom("the list answer is an object without an `items` array")
            })
        }
        refuse_scalars!("the list answer is {}, not an array or an object with `items`");
    }

    impl<'de, T: de::Deserialize<'de>> DeserializeSeed<'de> for Items<T> {
        type Value = Vec<T>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<T>, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de, T: de::Deserialize<'de>> Visitor<'de> for Items<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<Vec<T>, A::Error> {
            seq(s)
        }
        fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Vec<T>, A::Error> {
            Err(de::Error::custom(
                "the `items` of a list answer is an object, not an array",
            ))
        }
        refuse_scalars!("the `items` of a list answer is {}, not an array");
    }
}

fn log_failure(req: &OciRequest, err: &OciError, attempt: u32, action: &str) {
    match err {
        OciError::Service(e) => tracing::warn!(
            operation = req.operation,
            status = e.status,
            code = %e.code,
            message = %e.message,
            opc_request_id = e.request_id.as_deref().unwrap_or("none"),
            attempt,
            "OCI call failed; {action}"
        ),
        other => tracing::warn!(
            operation = req.operation,
            error = %other,
            opc_request_id = other.request_id().unwrap_or("none"),
            attempt,
            "OCI call failed; {action}"
        ),
    }
}
