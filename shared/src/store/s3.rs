//! The `s3://` backend: object_store's `AmazonS3`, configured from the `AWS_*` environment and
//! talking through an HTTP client built by fleetctl's rules.
//!
//! # Guarantees
//! - Plain `http://` is used only when `AWS_ALLOW_HTTP` says so: an `http://` endpoint without
//!   it is refused when the store is opened (exit 1), and every client object_store asks for
//!   honours the `allow_http` of its [`ClientOptions`], so the web-identity STS call (for which
//!   object_store always asks for https) never goes out in cleartext, whatever the variables.
//! - The client options object_store passes are honoured: `allow_http`, the request, connect
//!   and read timeouts (object_store's defaults: 30 s and 5 s; 1 s to connect to the
//!   instance metadata service), pool settings, user agent, default headers and
//!   `allow_invalid_certificates`. Two are replaced by fleetctl's own rules: proxies come from
//!   the injected environment with loopback always direct ([`ProxyConfig`]), and requests use
//!   HTTP/1.1.

use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use object_store::client::{HttpClient, HttpConnector};
use object_store::{ClientConfigKey, ClientOptions};

use super::{StoreError, foreign};
use crate::env::Env;
use crate::http::ProxyConfig;

/// The environment variables an `s3://` store passes to object_store (besides the region),
/// each under its lower-case name.
const S3_ENV: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ALLOW_HTTP",
    "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
    "AWS_UNSIGNED_PAYLOAD",
    "AWS_SKIP_SIGNATURE",
    "AWS_CHECKSUM_ALGORITHM",
    "AWS_IMDSV1_FALLBACK",
    "AWS_METADATA_ENDPOINT",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_ENDPOINT_URL_STS",
];

/// The variables that name the S3 endpoint, in the order object_store prefers them.
const ENDPOINT_VARS: &[&str] = &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT"];

/// Builds the `s3://BUCKET` store from `env` (see the module docs). `display` names the store
/// in errors.
pub(super) fn open(bucket: &str, env: &Env, display: &str) -> Result<AmazonS3, StoreError> {
    let unusable = |reason: String, source: Option<object_store::Error>| StoreError::Unusable {
        url: display.to_string(),
        reason,
        source: source.as_ref().map(|e| foreign::sanitize(e)),
    };
    let region = env
        .get_non_empty("AWS_REGION")
        .or_else(|| env.get_non_empty("AWS_DEFAULT_REGION"))
        .unwrap_or("us-east-1");
    let mut builder = AmazonS3Builder::new().with_region(region);
    for name in S3_ENV {
        if let Some(value) = env.get_non_empty(name)
            && let Ok(config) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>()
        {
            builder = builder.with_config(config, value);
        }
    }
    let allow_http = match env.get_non_empty("AWS_ALLOW_HTTP") {
        None => false,
        Some(value) => parse_bool(value).ok_or_else(|| {
            unusable(
                format!("env AWS_ALLOW_HTTP = `{value}` is not true or false"),
                None,
            )
        })?,
    };
    if !allow_http
        && let Some((variable, endpoint)) = ENDPOINT_VARS
            .iter()
            .find_map(|v| env.get_non_empty(v).map(|e| (*v, e)))
        && endpoint
            .get(..7)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
    {
        // The endpoint may carry credentials in its user info: show only that it is http.
        return Err(unusable(
            format!(
                "env {variable} is a plain http:// endpoint, which would send the credentials \
                 and the ledger in cleartext; use https://, or set AWS_ALLOW_HTTP=true for a \
                 local test server"
            ),
            None,
        ));
    }
    let proxy = ProxyConfig::from_env(env)
        .map_err(|e| unusable(format!("the proxy settings are not usable: {e}"), None))?;
    builder
        .with_bucket_name(bucket)
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        .with_http_connector(S3Connector { proxy })
        .build()
        .map_err(|e| {
            unusable(
                "the S3 settings (AWS_* environment variables) are not usable".into(),
                Some(e),
            )
        })
}

/// object_store's boolean spellings (`ConfigValue<bool>`): `true`, `1`, `yes`, `y`, `on`
/// and their opposites, in any case.
fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" | "y" => Some(true),
        "0" | "false" | "off" | "no" | "n" => Some(false),
        _ => None,
    }
}

/// Builds every HTTP client of an `s3://` store (the S3 calls and each credential provider's)
/// from the [`ClientOptions`] object_store asks for, with fleetctl's proxy rules.
#[derive(Debug)]
pub(super) struct S3Connector {
    proxy: ProxyConfig,
}

impl HttpConnector for S3Connector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        http_client(options, &self.proxy).map(HttpClient::new)
    }
}

fn config_error(message: String) -> object_store::Error {
    object_store::Error::Generic {
        store: "S3",
        source: message.into(),
    }
}

/// The option `key`, parsed by `parse`; `None` when it is not set.
fn option<T>(
    options: &ClientOptions,
    key: ClientConfigKey,
    what: &str,
    parse: impl FnOnce(&str) -> Option<T>,
) -> object_store::Result<Option<T>> {
    match options.get_config_value(&key) {
        None => Ok(None),
        Some(text) => parse(&text).map(Some).ok_or_else(|| {
            config_error(format!(
                "the S3 client option {} = `{text}` is not {what}",
                key.as_ref()
            ))
        }),
    }
}

fn duration(
    options: &ClientOptions,
    key: ClientConfigKey,
) -> object_store::Result<Option<Duration>> {
    option(options, key, "a duration", |t| {
        humantime::parse_duration(t).ok()
    })
}

fn flag(options: &ClientOptions, key: ClientConfigKey) -> object_store::Result<bool> {
    Ok(option(options, key, "true or false", parse_bool)?.unwrap_or(false))
}

/// The reqwest client for `options` (see the module docs for what is honoured).
pub(super) fn http_client(
    options: &ClientOptions,
    proxy: &ProxyConfig,
) -> object_store::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .http1_only()
        // object_store relies on Content-Length being the object's size.
        .no_gzip()
        .no_brotli()
        .no_zstd()
        .no_deflate()
        .https_only(!flag(options, ClientConfigKey::AllowHttp)?)
        .danger_accept_invalid_certs(flag(options, ClientConfigKey::AllowInvalidCertificates)?);
    if let Some(t) = duration(options, ClientConfigKey::Timeout)? {
        builder = builder.timeout(t);
    }
    if let Some(t) = duration(options, ClientConfigKey::ConnectTimeout)? {
        builder = builder.connect_timeout(t);
    }
    if let Some(t) = duration(options, ClientConfigKey::ReadTimeout)? {
        builder = builder.read_timeout(t);
    }
    if let Some(t) = duration(options, ClientConfigKey::PoolIdleTimeout)? {
        builder = builder.pool_idle_timeout(t);
    }
    if let Some(n) = option(
        options,
        ClientConfigKey::PoolMaxIdlePerHost,
        "a number",
        |t| t.parse::<usize>().ok(),
    )? {
        builder = builder.pool_max_idle_per_host(n);
    }
    if let Some(agent) = options.get_config_value(&ClientConfigKey::UserAgent) {
        builder = builder.user_agent(agent);
    }
    if let Some(headers) = options.get_default_headers() {
        builder = builder.default_headers(headers.clone());
    }
    builder = if proxy.is_direct() {
        builder.no_proxy()
    } else {
        let proxy = proxy.clone();
        builder.proxy(reqwest::Proxy::custom(move |url| {
            proxy.proxy_for(url).cloned()
        }))
    };
    builder.build().map_err(|e| object_store::Error::Generic {
        store: "S3",
        source: Box::new(e),
    })
}
