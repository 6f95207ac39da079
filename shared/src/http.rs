//! The HTTP layer every fleetctl client shares: the client builder ([`http_client`]), proxy
//! rules from the environment ([`ProxyConfig`]), a resolver that marks DNS failures
//! ([`unresolved_host`]), bounded body reads ([`read_body_limited`]), loopback hosts
//! ([`is_loopback_host`]) and URL redaction for messages ([`redact_url`]).
//!
//! A leaf of the core: it uses only [`crate::env`].
//!
//! # Proxies and name resolution
//! Clients honour the environment's proxy settings as the OCI CLI and SDKs do
//! (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`; see [`ProxyConfig`]); loopback
//! destinations (the local simulator) never go through a proxy. Host names are resolved by the
//! system resolver through a wrapper that marks resolution failures, so a host that does not
//! resolve is told apart from other connection failures and retried only briefly.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use url::Url;

use crate::env::Env;

/// The request timeout of fleetctl's HTTP clients (OCI calls, the `s3://` store).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

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
/// The OCI client and the `s3://` store use it with [`REQUEST_TIMEOUT`] and the environment's
/// proxy settings; the instance principal uses it for the metadata service (direct) and for
/// federation.
pub fn http_client(
    timeout: Duration,
    proxy: &ProxyConfig,
) -> Result<reqwest::Client, reqwest::Error> {
    http_client_with_resolver(timeout, proxy, Arc::new(SystemResolver))
}

/// [`http_client`] with another resolver (tests, pinned addresses); its failures are still
/// marked as [`NameResolutionError`].
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
/// failed request, which is how the OCI client tells DNS failures apart ([`unresolved_host`]).
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

/// True for loopback hosts: `127.0.0.0/8`, `::1`, `localhost` and names under `.localhost`
/// (which resolve to loopback by definition, RFC 6761).
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
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
