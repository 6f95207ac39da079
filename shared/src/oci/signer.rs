//! The OCI request signer (draft-cavage-http-signatures-08, `rsa-sha256`, `version="1"`).
//!
//! Stand-alone and pure: the date and the key are arguments, nothing is read from the clock,
//! the environment or the network. The rules (not just the vector cases):
//!
//! - GET, HEAD, DELETE sign `date (request-target) host`.
//! - POST, PUT, PATCH sign `date (request-target) host content-length content-type
//!   x-content-sha256`; `content-type` defaults to `application/json`, `content-length` is the
//!   length of the real body (`0` when empty) and `x-content-sha256` is base64(SHA-256(body)).
//! - [`BodyMode::Unsigned`] (Object Storage PutObject/UploadPart, Streaming PutMessages) signs
//!   only `date (request-target) host` and adds no `x-content-sha256`; `content-type` and
//!   `content-length` are still sent (never a chunked body).
//! - [`BodyMode::Federation`] (`POST /v1/x509`) signs the body headers but not `host`.
//! - `(request-target)` is the lower-case method, a space, and the path and query of the
//!   final serialised URL, byte for byte: nothing is re-encoded or sorted. The caller must send
//!   exactly that URL.
//! - `host` is the URL authority, with the port when it is not the scheme's default.

use std::fmt;
use std::time::SystemTime;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, DATE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use time::OffsetDateTime;
use url::Url;

use super::keys::{KeyError, SigningKey};
use super::token::SecurityToken;
use crate::ids::{ResourceId, TenancyId, UserId};

/// The `x-content-sha256` header name.
pub const X_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-content-sha256");

/// The content type used when the caller gives none (what the OCI SDKs do for byte bodies).
pub const DEFAULT_CONTENT_TYPE: &str = "application/json";

/// The keyId of a signature.
///
/// `Debug` and `Display` redact token bodies (`ST$<redacted jwt, exp=…>`); only
/// [`KeyId::header_value`] returns the real string.
#[derive(Clone, PartialEq, Eq)]
pub enum KeyId {
    /// A user API key: `<tenancy>/<user>/<fingerprint>`.
    ApiKey {
        /// Tenancy OCID.
        tenancy: TenancyId,
        /// User OCID.
        user: UserId,
        /// MD5 fingerprint of the public key, lower-case colon hex.
        fingerprint: String,
    },
    /// A session, instance-principal or resource-principal token: `ST$<jwt>`.
    SecurityToken(SecurityToken),
    /// The x509 federation call, SHA-1 form: `<tenancy>/fed-x509/<SHA-1 of the leaf cert>`.
    FederationX509Sha1 {
        /// Tenancy OCID from the leaf certificate.
        tenancy: TenancyId,
        /// SHA-1 of the leaf certificate DER, upper-case colon hex.
        fingerprint: String,
    },
    /// The x509 federation call, SHA-256 form:
    /// `<tenancy>/fed-x509-sha256/<SHA-256 of the leaf cert>`.
    FederationX509Sha256 {
        /// Tenancy OCID from the leaf certificate.
        tenancy: TenancyId,
        /// SHA-256 of the leaf certificate DER, colon hex (fleetctl sends upper case).
        fingerprint: String,
    },
    /// Resource principal v2.1.x key-pair ids: `resource/v<version>/[<tenancy>/]<resource>`.
    ResourceKeyPair {
        /// `2.1`, `2.1.1` or `2.1.2`.
        version: String,
        /// Present for 2.1.1 and 2.1.2.
        tenancy: Option<TenancyId>,
        /// The resource OCID.
        resource: ResourceId,
    },
}

impl KeyId {
    /// The exact keyId string for the `Authorization` header. Contains the token for
    /// token keyIds: never log it.
    pub fn header_value(&self) -> String {
        match self {
            KeyId::ApiKey {
                tenancy,
                user,
                fingerprint,
            } => format!("{tenancy}/{user}/{fingerprint}"),
            KeyId::SecurityToken(token) => format!("ST${}", token.expose()),
            KeyId::FederationX509Sha1 {
                tenancy,
                fingerprint,
            } => format!("{tenancy}/fed-x509/{fingerprint}"),
            KeyId::FederationX509Sha256 {
                tenancy,
                fingerprint,
            } => format!("{tenancy}/fed-x509-sha256/{fingerprint}"),
            KeyId::ResourceKeyPair {
                version,
                tenancy: Some(tenancy),
                resource,
            } => format!("resource/v{version}/{tenancy}/{resource}"),
            KeyId::ResourceKeyPair {
                version,
                tenancy: None,
                resource,
            } => format!("resource/v{version}/{resource}"),
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyId::SecurityToken(token) => write!(f, "ST${token}"),
            other => f.write_str(&other.header_value()),
        }
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// How the body takes part in the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyMode {
    /// The default: POST/PUT/PATCH sign `content-length content-type x-content-sha256`.
    #[default]
    Signed,
    /// "Exclude body" operations (Object Storage PutObject and UploadPart, Streaming
    /// PutMessages): only `date (request-target) host` are signed, no `x-content-sha256`.
    Unsigned,
    /// The x509 federation call: body headers signed, `host` not signed.
    Federation,
}

/// One request to sign. `url` must be the final serialised URL that will be sent.
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    /// HTTP method; GET, HEAD, DELETE, POST, PUT or PATCH.
    pub method: &'a Method,
    /// The exact URL that will be sent.
    pub url: &'a Url,
    /// Headers the caller already set; only `content-type` is read (its value is signed and
    /// sent as is).
    pub headers: &'a HeaderMap,
    /// The exact body bytes that will be sent.
    pub body: &'a [u8],
    /// See [`BodyMode`].
    pub body_mode: BodyMode,
}

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// A method OCI's signing rules do not cover.
    #[error(
        "cannot sign a {method} request: OCI signs only GET, HEAD, DELETE, POST, PUT and PATCH"
    )]
    UnsupportedMethod {
        /// The method.
        method: String,
    },
    /// A URL without a host.
    #[error("cannot sign a request to `{url}`: the URL has no host")]
    NoHost {
        /// The URL.
        url: String,
    },
    /// The caller's content-type is not a visible-ASCII header value.
    #[error("the request's content-type header is not visible ASCII")]
    BadContentType,
    /// The RSA operation failed.
    #[error("signing the request failed")]
    Key(#[source] KeyError),
}

/// The signing string and the header list it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningString {
    /// The signed header names, in order (`date`, `(request-target)`, …).
    pub headers: Vec<&'static str>,
    /// Lines `<name>: <value>` joined with `\n`, no trailing newline.
    pub text: String,
}

/// The headers to add to the request, `authorization` included.
#[derive(Clone)]
pub struct SignedHeaders {
    headers: Vec<(HeaderName, HeaderValue)>,
    signed: Vec<&'static str>,
}

impl SignedHeaders {
    /// The value of a header this signer produced (`date`, `host`, `content-type`,
    /// `content-length`, `x-content-sha256`, `authorization`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_str().eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.to_str().ok())
    }

    /// The names of the signed headers, in signing-string order.
    pub fn signed_header_names(&self) -> &[&'static str] {
        &self.signed
    }

    /// Every produced header, in the order produced.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.headers.iter().map(|(n, v)| (n, v))
    }

    /// Inserts every produced header into `map`, replacing earlier values. The
    /// `authorization` value is marked sensitive, so `http`'s `Debug` hides it.
    pub fn apply_to(&self, map: &mut HeaderMap) {
        for (name, value) in &self.headers {
            map.insert(name.clone(), value.clone());
        }
    }
}

impl fmt::Debug for SignedHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (name, value) in &self.headers {
            if name == AUTHORIZATION {
                m.entry(&name.as_str(), &"<redacted>");
            } else {
                m.entry(&name.as_str(), &value.to_str().unwrap_or("<non-ascii>"));
            }
        }
        m.finish()
    }
}

/// Formats `date` as an RFC 7231 IMF-fixdate (`Tue, 14 Jan 2025 08:00:00 GMT`).
pub fn http_date(date: OffsetDateTime) -> String {
    httpdate::fmt_http_date(SystemTime::from(date))
}

/// `(request-target)` value: `<lower-case method> <path>[?<query>]` of the serialised URL.
pub fn request_target(method: &Method, url: &Url) -> String {
    let mut target = method.as_str().to_ascii_lowercase();
    target.push(' ');
    let path = url.path();
    target.push_str(if path.is_empty() { "/" } else { path });
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    target
}

/// The `host` value: the URL authority with a non-default port.
pub fn host_header(url: &Url) -> Result<String, SignError> {
    let host = url.host_str().ok_or_else(|| SignError::NoHost {
        url: url.to_string(),
    })?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// base64(SHA-256(body)).
pub fn content_sha256(body: &[u8]) -> String {
    B64.encode(digest::digest(&digest::SHA256, body))
}

struct Plan {
    /// (header name as signed, value) in signing order.
    signed: Vec<(&'static str, String)>,
    /// Headers to add that are sent but not signed.
    unsigned: Vec<(&'static str, String)>,
}

fn plan(req: &SignRequest<'_>, date: OffsetDateTime) -> Result<Plan, SignError> {
    let has_body_headers = match *req.method {
        Method::GET | Method::HEAD | Method::DELETE => false,
        Method::POST | Method::PUT | Method::PATCH => true,
        ref other => {
            return Err(SignError::UnsupportedMethod {
                method: other.to_string(),
            });
        }
    };
    let mut signed = vec![
        ("date", http_date(date)),
        ("(request-target)", request_target(req.method, req.url)),
    ];
    let mut unsigned = Vec::new();
    let host = host_header(req.url)?;
    if req.body_mode == BodyMode::Federation {
        // The federation call sends `host` but does not sign it; the HTTP client adds it.
    } else {
        signed.push(("host", host));
    }
    if has_body_headers {
        let content_type = match req.headers.get(CONTENT_TYPE) {
            Some(v) => v
                .to_str()
                .map_err(|_| SignError::BadContentType)?
                .to_string(),
            None => DEFAULT_CONTENT_TYPE.to_string(),
        };
        let content_length = req.body.len().to_string();
        if req.body_mode == BodyMode::Unsigned {
            unsigned.push(("content-type", content_type));
            unsigned.push(("content-length", content_length));
        } else {
            signed.push(("content-length", content_length));
            signed.push(("content-type", content_type));
            signed.push(("x-content-sha256", content_sha256(req.body)));
        }
    }
    Ok(Plan { signed, unsigned })
}

/// The signing string for `req` at `date` (exposed so tests can check it stage by stage).
pub fn signing_string(
    req: &SignRequest<'_>,
    date: OffsetDateTime,
) -> Result<SigningString, SignError> {
    let plan = plan(req, date)?;
    Ok(SigningString {
        headers: plan.signed.iter().map(|(n, _)| *n).collect(),
        text: join_lines(&plan.signed),
    })
}

fn join_lines(lines: &[(&'static str, String)]) -> String {
    lines
        .iter()
        .map(|(n, v)| format!("{n}: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Signs `req` with `key` under `key_id` at `date` and returns the headers to add:
/// `date`, `host` (unless federation), for POST/PUT/PATCH `content-length`, `content-type`
/// and (body signed) `x-content-sha256`, then `authorization`.
pub fn sign(
    req: &SignRequest<'_>,
    key_id: &KeyId,
    key: &SigningKey,
    date: OffsetDateTime,
) -> Result<SignedHeaders, SignError> {
    let plan = plan(req, date)?;
    let text = join_lines(&plan.signed);
    let signature = key.sign_sha256(text.as_bytes()).map_err(SignError::Key)?;
    let names: Vec<&'static str> = plan.signed.iter().map(|(n, _)| *n).collect();
    let authorization = format!(
        "Signature algorithm=\"rsa-sha256\",headers=\"{}\",keyId=\"{}\",signature=\"{}\",version=\"1\"",
        names.join(" "),
        key_id.header_value(),
        B64.encode(signature)
    );

    let mut headers = Vec::new();
    for (name, value) in plan.signed.iter().chain(plan.unsigned.iter()) {
        let header = match *name {
            "(request-target)" => continue,
            "date" => DATE,
            "host" => HOST,
            "content-length" => CONTENT_LENGTH,
            "content-type" => CONTENT_TYPE,
            "x-content-sha256" => X_CONTENT_SHA256,
            _ => continue,
        };
        // Every value here is visible ASCII (dates, hosts from a parsed URL, digits, base64,
        // or a content-type already checked with `to_str`).
        let value = HeaderValue::from_str(value).map_err(|_| SignError::BadContentType)?;
        headers.push((header, value));
    }
    let mut auth = HeaderValue::from_str(&authorization).map_err(|_| SignError::BadContentType)?;
    auth.set_sensitive(true);
    headers.push((AUTHORIZATION, auth));
    Ok(SignedHeaders {
        headers,
        signed: names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn host_keeps_a_non_default_port_and_drops_the_default_one() {
        assert_eq!(
            host_header(&url("http://127.0.0.1:8999/x")).unwrap(),
            "127.0.0.1:8999"
        );
        assert_eq!(
            host_header(&url("https://h.example:443/x")).unwrap(),
            "h.example"
        );
        assert_eq!(
            host_header(&url("https://[::1]:8443/")).unwrap(),
            "[::1]:8443"
        );
    }

    #[test]
    fn request_target_keeps_encoding_and_empty_path_becomes_slash() {
        let u = url("https://h.example/o/a%2Fb%20c?x=a+b&y=%7E");
        assert_eq!(
            request_target(&Method::GET, &u),
            "get /o/a%2Fb%20c?x=a+b&y=%7E"
        );
        assert_eq!(
            request_target(&Method::HEAD, &url("https://h.example")),
            "head /"
        );
    }

    #[test]
    fn options_requests_are_refused() {
        let u = url("https://h.example/");
        let headers = HeaderMap::new();
        let req = SignRequest {
            method: &Method::OPTIONS,
            url: &u,
            headers: &headers,
            body: b"",
            body_mode: BodyMode::Signed,
        };
        assert!(matches!(
            signing_string(&req, OffsetDateTime::UNIX_EPOCH),
            Err(SignError::UnsupportedMethod { .. })
        ));
    }
}
