//! The OCI REST client core: one `send` path for every operation.
//!
//! For each request the URL is serialised once. Then, for each attempt: get credentials from
//! the provider, sign afresh (new `date`), send exactly the signed URL, read `opc-request-id`.
//! Failures are retried by the policy in [`super::retry`]; a 401 triggers one credential
//! refresh and one retry. Every base URL comes from [`Endpoints`], so the local simulator
//! plugs in by URL.
//!
//! # Proxies and name resolution
//! OCI calls honour the environment's proxy settings as the OCI CLI and SDKs do
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`; see [`ProxyConfig`]); loopback
//! destinations (the local simulator) never go through a proxy. Host names are resolved by the
//! system resolver through a wrapper that marks resolution failures, so a host that does not
//! resolve is told apart from other connection failures ([`OciError::NameResolution`]) and
//! retried only briefly.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, IF_MATCH, RETRY_AFTER, USER_AGENT};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::auth::CredentialProvider;
use super::endpoints::{Endpoints, Service, is_loopback_host};
use super::error::{OciError, ServiceError};
use super::retry::{
    AttemptOutcome, Idempotency, RetryDecision, RetryPolicy, attempt_limit, decide,
    delay_with_retry_after, may_retry,
};
use super::signer::{self, BodyMode, SignRequest};
use super::wire::RetryToken;
use crate::clock::{Clock, Sleeper, SystemClock, TokioSleeper};
use crate::env::Env;

/// `opc-request-id`.
pub const OPC_REQUEST_ID: HeaderName = HeaderName::from_static("opc-request-id");
/// `opc-retry-token`.
pub const OPC_RETRY_TOKEN: HeaderName = HeaderName::from_static("opc-retry-token");
/// `opc-next-page`.
pub const OPC_NEXT_PAGE: HeaderName = HeaderName::from_static("opc-next-page");
/// `opc-client-retries`.
pub const OPC_CLIENT_RETRIES: HeaderName = HeaderName::from_static("opc-client-retries");

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

/// The request timeout of OCI calls (the default HTTP client).
pub const OCI_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The most bytes fleetctl reads of one OCI API answer: 16 MiB. A list page of 1000 instances
/// is a few MiB; a larger answer is refused ([`OciError::ResponseTooLarge`]) rather than held
/// in memory.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// `16 MiB`, `64 KiB`, or `1000 bytes`: a byte limit as messages show it.
pub fn format_byte_limit(limit: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    match limit {
        0 => "0 bytes".to_string(),
        n if n % MIB == 0 => format!("{} MiB", n / MIB),
        n if n % KIB == 0 => format!("{} KiB", n / KIB),
        n => format!("{n} bytes"),
    }
}

/// Why a response body was not read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than the limit: its `content-length` says so, or reading found out.
    #[error("the answer is larger than {}", format_byte_limit(*limit))]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The connection failed while the body was read.
    #[error("reading the answer failed")]
    Read(#[source] reqwest::Error),
}

/// Reads the body of `resp`, at most `limit` bytes: a `content-length` above the limit is
/// refused before anything is read, and a body without one is refused as soon as it passes
/// the limit (the rest is never read).
pub async fn read_body_limited(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Bytes, BodyError> {
    let declared = resp.content_length();
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge { limit });
    }
    let capacity = declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    let mut body = bytes::BytesMut::with_capacity(capacity);
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Read)? {
        if chunk.len() > limit - body.len() {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Builds an HTTP client: HTTP/1.1 only (OCI's signed `host` is an HTTP/1.1 header), rustls,
/// a 10 s connect timeout, `timeout` per request, the system resolver with failures marked as
/// [`NameResolutionError`], and `proxy` (use [`ProxyConfig::direct`] for none).
///
/// The OCI client uses it with [`OCI_REQUEST_TIMEOUT`] and the environment's proxy settings;
/// the instance principal uses it for the metadata service (direct) and for federation.
pub fn http_client(
    timeout: Duration,
    proxy: &ProxyConfig,
) -> Result<reqwest::Client, reqwest::Error> {
    http_client_with_resolver(timeout, proxy, Arc::new(SystemResolver))
}

/// [`http_client`] with `resolver` instead of the system resolver (its failures are still
/// marked as [`NameResolutionError`]).
pub fn http_client_with_resolver(
    timeout: Duration,
    proxy: &ProxyConfig,
    resolver: Arc<dyn reqwest::dns::Resolve>,
) -> Result<reqwest::Client, reqwest::Error> {
    let builder = reqwest::Client::builder()
        .http1_only()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .dns_resolver(Arc::new(MarkNameErrors(resolver)));
    let builder = if proxy.is_direct() {
        builder.no_proxy()
    } else {
        let proxy = proxy.clone();
        builder.proxy(reqwest::Proxy::custom(move |url| {
            proxy.proxy_for(url).cloned()
        }))
    };
    builder.build()
}

// ---------------------------------------------------------------------------------------------
// Name resolution
// ---------------------------------------------------------------------------------------------

/// A host name that did not resolve. It sits in the source chain of the `reqwest::Error` of a
/// failed request, which is how [`OciClient::send`] tells DNS failures apart.
#[derive(Debug, thiserror::Error)]
#[error("cannot resolve the host name `{host}`")]
pub struct NameResolutionError {
    /// The host name.
    pub host: String,
    /// The resolver's error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// The host that did not resolve, when `err` failed for that reason.
pub fn unresolved_host(err: &reqwest::Error) -> Option<&str> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(n) = e.downcast_ref::<NameResolutionError>() {
            return Some(&n.host);
        }
        cause = e.source();
    }
    None
}

/// The system resolver (`getaddrinfo` on a blocking thread, as reqwest's default does).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl reqwest::dns::Resolve for SystemResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(format!("no address for `{host}`").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Wraps a resolver so that every failure is a [`NameResolutionError`] naming the host.
struct MarkNameErrors(Arc<dyn reqwest::dns::Resolve>);

impl reqwest::dns::Resolve for MarkNameErrors {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let inner = self.0.resolve(name);
        Box::pin(async move {
            inner.await.map_err(|source| {
                Box::new(NameResolutionError { host, source })
                    as Box<dyn std::error::Error + Send + Sync>
            })
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Proxies
// ---------------------------------------------------------------------------------------------

/// Replaces the user info, query and fragment of a URL (or URL-like text) with `<redacted>`,
/// for messages: proxy and metadata URLs may carry a password or a token there.
pub fn redact_url(text: &str) -> String {
    let text = text.trim();
    let (scheme, rest) = match text.find("://") {
        Some(i) => text.split_at(i + 3),
        None => ("", text),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("<redacted>@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    let tail = match tail.find(['?', '#']) {
        Some(i) => {
            let mark = &tail[i..=i];
            format!("{}{mark}<redacted>", &tail[..i])
        }
        None => tail.to_string(),
    };
    format!("{scheme}{authority}{tail}")
}

/// Proxy settings that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// A proxy variable that is not a usable proxy URL.
    #[error(
        "env {variable} = `{value}` is not a usable proxy: {reason} (expected e.g. \
         `http://proxy.example.com:3128`)"
    )]
    Invalid {
        /// The variable.
        variable: &'static str,
        /// Its value with user info (a proxy password) redacted.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// One `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NoProxyRule {
    /// `*`: nothing goes through the proxy.
    All,
    /// An IP address or network (`10.0.0.1`, `10.0.0.0/8`, `fd00::/8`).
    Net { addr: IpAddr, prefix: u8 },
    /// A domain and its subdomains (`example.com`, `.example.com`, `*.example.com`), with an
    /// optional port (`example.com:8443`).
    Domain { name: String, port: Option<u16> },
}

impl NoProxyRule {
    fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim().to_ascii_lowercase();
        if entry.is_empty() {
            return None;
        }
        if entry == "*" {
            return Some(NoProxyRule::All);
        }
        let bare = entry.trim_start_matches('[').trim_end_matches(']');
        if let Ok(addr) = bare.parse::<IpAddr>() {
            let prefix = if addr.is_ipv4() { 32 } else { 128 };
            return Some(NoProxyRule::Net { addr, prefix });
        }
        if let Some((addr, prefix)) = entry.split_once('/')
            && let (Ok(addr), Ok(prefix)) = (addr.parse::<IpAddr>(), prefix.parse::<u8>())
            && prefix <= if addr.is_ipv4() { 32 } else { 128 }
        {
            return Some(NoProxyRule::Net { addr, prefix });
        }
        let (name, port) = match entry.rsplit_once(':') {
            Some((name, port)) if !name.contains(':') => match port.parse::<u16>() {
                Ok(port) => (name, Some(port)),
                Err(_) => (entry.as_str(), None),
            },
            _ => (entry.as_str(), None),
        };
        if let Ok(addr) = name.parse::<IpAddr>() {
            // `10.0.0.1:8080`: an address with a port; the port is not checked for addresses.
            let prefix = if addr.is_ipv4() { 32 } else { 128 };
            return Some(NoProxyRule::Net { addr, prefix });
        }
        let name = name.trim_start_matches("*.").trim_start_matches('.');
        Some(NoProxyRule::Domain {
            name: name.to_string(),
            port,
        })
    }

    fn matches(&self, host: &url::Host<&str>, port: Option<u16>) -> bool {
        match (self, host) {
            (NoProxyRule::All, _) => true,
            (NoProxyRule::Net { addr, prefix }, url::Host::Ipv4(ip)) => {
                in_network(IpAddr::V4(*ip), *addr, *prefix)
            }
            (NoProxyRule::Net { addr, prefix }, url::Host::Ipv6(ip)) => {
                in_network(IpAddr::V6(*ip), *addr, *prefix)
            }
            (NoProxyRule::Net { .. }, url::Host::Domain(_)) => false,
            (NoProxyRule::Domain { name, port: want }, url::Host::Domain(host)) => {
                let host = host.trim_end_matches('.').to_ascii_lowercase();
                let name_matches = host == *name
                    || (host.len() > name.len()
                        && host.ends_with(name.as_str())
                        && host.as_bytes()[host.len() - name.len() - 1] == b'.');
                name_matches && want.is_none_or(|w| Some(w) == port)
            }
            (NoProxyRule::Domain { .. }, _) => false,
        }
    }
}

fn in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Where OCI calls go through a proxy, read from the environment as the OCI CLI and the Go
/// SDK read it:
///
/// - `https://` URLs use `HTTPS_PROXY` (else `https_proxy`, else `ALL_PROXY`/`all_proxy`);
///   `http://` URLs use `HTTP_PROXY` (else `http_proxy`, else `ALL_PROXY`/`all_proxy`).
///   Upper case wins over lower case; an empty variable counts as unset. A value without a
///   scheme means `http://`; user info in it (`http://user:pass@proxy:3128`) is sent as proxy
///   basic authentication and never printed.
/// - `NO_PROXY` (else `no_proxy`): comma-separated `*`, IP addresses, CIDR networks
///   (`10.0.0.0/8`) and domains (`example.com`, `.example.com`, with an optional `:port`),
///   a domain matching itself and its subdomains.
/// - Loopback destinations (`127.0.0.0/8`, `::1`, `localhost`) never use a proxy, so the local
///   simulator keeps working with a proxy set.
///
/// `Debug` redacts proxy credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    http: Option<Url>,
    https: Option<Url>,
    no_proxy: Vec<NoProxyRule>,
}

impl fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |u: &Option<Url>| u.as_ref().map(|u| redact_url(u.as_str()));
        f.debug_struct("ProxyConfig")
            .field("http", &shown(&self.http))
            .field("https", &shown(&self.https))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

impl ProxyConfig {
    /// No proxy at all (the instance metadata service is link-local).
    pub fn direct() -> Self {
        Self::default()
    }

    /// The settings of `env` (see the type docs).
    pub fn from_env(env: &Env) -> Result<Self, ProxyError> {
        let https = first_proxy(
            env,
            &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"],
        )?;
        let http = first_proxy(env, &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])?;
        let no_proxy = ["NO_PROXY", "no_proxy"]
            .iter()
            .find_map(|v| env.get_non_empty(v))
            .map(|list| list.split(',').filter_map(NoProxyRule::parse).collect())
            .unwrap_or_default();
        Ok(Self {
            http,
            https,
            no_proxy,
        })
    }

    /// True when no request goes through a proxy.
    pub fn is_direct(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }

    /// The proxy a request to `url` goes through, or `None` for a direct connection.
    pub fn proxy_for(&self, url: &Url) -> Option<&Url> {
        let proxy = match url.scheme() {
            "https" => self.https.as_ref(),
            "http" => self.http.as_ref(),
            _ => None,
        }?;
        let host = url.host()?;
        if is_loopback_host(&host) {
            return None;
        }
        let port = url.port_or_known_default();
        if self.no_proxy.iter().any(|r| r.matches(&host, port)) {
            return None;
        }
        Some(proxy)
    }
}

fn first_proxy(env: &Env, vars: &[&'static str]) -> Result<Option<Url>, ProxyError> {
    let Some((variable, value)) = vars
        .iter()
        .find_map(|v| env.get_non_empty(v).map(|value| (*v, value)))
    else {
        return Ok(None);
    };
    let invalid = |reason| ProxyError::Invalid {
        variable,
        value: redact_url(value),
        reason,
    };
    let text = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let url = Url::parse(&text).map_err(|_| invalid("it is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("only http:// and https:// proxies are supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it names no host"));
    }
    Ok(Some(url))
}

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
                http_client_with_resolver(OCI_REQUEST_TIMEOUT, &proxy, resolver).map_err(
                    |source| OciError::Transport {
                        operation: OPERATION,
                        url: String::new(),
                        attempts: 0,
                        request_id: None,
                        source,
                    },
                )?
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
}

impl OciClient {
    /// Starts a builder with the system clock, tokio sleeps, the default retry policy and an
    /// HTTP client built by [`http_client`] with the environment's proxy settings.
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
            .unwrap_or_else(|| {
                uuid::Uuid::new_v4()
                    .simple()
                    .to_string()
                    .to_ascii_uppercase()
            });
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
            out.extend(decode_list_page::<T>(
                req.operation,
                resp.request_id.as_deref(),
                &resp.body,
            )?);
            match resp.next_page() {
                Some(next) if page.as_deref() != Some(next) => page = Some(next.to_string()),
                Some(_) => {
                    return Err(OciError::InvalidRequest {
                        operation: req.operation,
                        reason: "the service returned the same opc-next-page twice".into(),
                    });
                }
                None => return Ok(out),
            }
        }
        Err(OciError::InvalidRequest {
            operation: req.operation,
            reason: "more than 10000 pages; stopping".into(),
        })
    }
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
    let decode_error = |source| OciError::Decode {
        operation,
        request_id: request_id.map(str::to_string),
        source,
    };
    let value: serde_json::Value = serde_json::from_slice(body).map_err(decode_error)?;
    let items = match value {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Object(mut o) => match o.remove("items") {
            Some(serde_json::Value::Array(items)) => items,
            Some(other) => {
                return Err(decode_error(serde::de::Error::custom(format_args!(
                    "the `items` of a list answer is {}, not an array",
                    json_type(&other)
                ))));
            }
            None => {
                return Err(decode_error(serde::de::Error::custom(
                    "the list answer is an object without an `items` array",
                )));
            }
        },
        other => {
            return Err(decode_error(serde::de::Error::custom(format_args!(
                "the list answer is {}, not an array or an object with `items`",
                json_type(&other)
            ))));
        }
    };
    items
        .into_iter()
        .map(|item| serde_json::from_value(item).map_err(decode_error))
        .collect()
}

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
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
