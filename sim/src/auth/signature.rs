//! OCI request-signature verification (draft-cavage-http-signatures-08 as OCI uses it).
//!
//! The check is rebuilt from the request as RECEIVED: the request-target is the raw
//! `path?query` from the request line (never decoded or re-encoded), `host` is the Host header
//! that arrived, and `x-content-sha256` / `content-length` are recomputed over the received body.
//! Time is injected ([`VerifyTime`]) so vendor vectors with a pinned date can be checked.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, Method};

use super::keys::{KeyId, KeyResolver, Principal};
use crate::crypto::sha256_b64;
use crate::jwt::TokenError;

/// How far the signed date may be from the server clock.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// Which header set an operation must sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningRule {
    /// GET/HEAD/DELETE: `date (request-target) host`; POST/PUT/PATCH also `content-length
    /// content-type x-content-sha256`.
    Standard,
    /// Operations whose body the SDKs do not sign (Object Storage PutObject, UploadPart,
    /// Streaming PutMessages): `date (request-target) host` is enough; a signed body is checked.
    BodyOptional,
    /// `POST /v1/x509`: `date (request-target) content-length content-type x-content-sha256`,
    /// `host` not required.
    Federation,
}

/// The parts of a received request the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a Method,
    /// `path[?query]` exactly as it appeared in the request line.
    pub target: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The clocks the verifier compares against.
#[derive(Debug, Clone, Copy)]
pub struct VerifyTime {
    /// The `date` header must be within [`MAX_CLOCK_SKEW`] of this (the real clock).
    pub real_now: SystemTime,
    /// Token `exp` claims are compared with this (unix seconds; the simulated clock).
    pub token_now: i64,
}

/// Why a request was refused; every variant is a 401 `NotAuthenticated`. Messages say what
/// failed and never contain a token, a signature or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "The required information to complete authentication was not provided: no Authorization header"
    )]
    MissingAuthorization,
    #[error("the Authorization header is malformed: {0}")]
    Malformed(String),
    #[error("unsupported signature version {0:?} (only \"1\" is accepted)")]
    Version(String),
    #[error("unsupported signature algorithm {0:?} (only \"rsa-sha256\" is accepted)")]
    Algorithm(String),
    #[error(
        "The required information to complete authentication was not provided: the signature must cover the `{0}` header"
    )]
    MissingSignedHeader(&'static str),
    #[error("the signed header `{0}` is not present in the request")]
    AbsentHeader(String),
    #[error("the date header {0:?} is not an IMF-fixdate")]
    BadDate(String),
    #[error("the date header is {skew_secs} s away from the server clock (at most 300 s allowed)")]
    ClockSkew { skew_secs: u64 },
    #[error("x-content-sha256 does not match the SHA-256 of the received body")]
    BodyHash,
    #[error("content-length {header} does not match the received body length {actual}")]
    ContentLength { header: String, actual: usize },
    #[error("the keyId {0} is not a registered key")]
    UnknownKey(String),
    #[error("the certificate named by the federation keyId was not issued by this service")]
    UnknownCertificate,
    #[error(
        "the federation keyId names tenancy {key_id_tenancy} but the certificate belongs to another tenancy"
    )]
    CertificateTenancy { key_id_tenancy: String },
    #[error(
        "the certificate named by the federation keyId expired at {not_after} (unix seconds; now {now}); fetch the current one from the instance metadata service"
    )]
    CertificateExpired { not_after: i64, now: i64 },
    #[error(
        "a fed-x509 keyId may sign only the federation call (POST /v1/x509); sign this request with the token it returns (ST$ keyId)"
    )]
    FederationKeyOutsideFederation,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("signature does not match")]
    SignatureMismatch,
}

/// The parsed `Authorization: Signature ...` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParams {
    pub key_id: String,
    pub headers: Vec<String>,
    pub signature: Vec<u8>,
}

/// Parses `Signature k="v",k="v"` with the parameters in any order.
pub fn parse_authorization(value: &str) -> Result<SignatureParams, AuthError> {
    let rest = value
        .trim()
        .strip_prefix("Signature")
        .filter(|r| r.starts_with(char::is_whitespace))
        .ok_or_else(|| AuthError::Malformed("the scheme must be `Signature`".into()))?;
    let mut version = None;
    let mut algorithm = None;
    let mut headers = None;
    let mut key_id = None;
    let mut signature = None;
    let mut s = rest.trim_start();
    while !s.is_empty() {
        let eq = s
            .find('=')
            .ok_or_else(|| AuthError::Malformed("expected name=\"value\" pairs".into()))?;
        let name = s[..eq].trim().to_ascii_lowercase();
        let after = s[eq + 1..].trim_start();
        let quoted = after
            .strip_prefix('"')
            .ok_or_else(|| AuthError::Malformed(format!("the value of `{name}` must be quoted")))?;
        let end = quoted
            .find('"')
            .ok_or_else(|| AuthError::Malformed(format!("the value of `{name}` is not closed")))?;
        let val = quoted[..end].to_string();
        let slot = match name.as_str() {
            "version" => &mut version,
            "algorithm" => &mut algorithm,
            "headers" => &mut headers,
            "keyid" => &mut key_id,
            "signature" => &mut signature,
            _ => return Err(AuthError::Malformed(format!("unknown parameter `{name}`"))),
        };
        if slot.replace(val).is_some() {
            return Err(AuthError::Malformed(format!(
                "parameter `{name}` appears twice"
            )));
        }
        s = quoted[end + 1..].trim_start();
        if let Some(next) = s.strip_prefix(',') {
            s = next.trim_start();
        } else if !s.is_empty() {
            return Err(AuthError::Malformed(
                "parameters must be separated by commas".into(),
            ));
        }
    }
    if let Some(v) = version
        && v != "1"
    {
        return Err(AuthError::Version(v));
    }
    match algorithm {
        Some(a) if a == "rsa-sha256" => {}
        Some(a) => return Err(AuthError::Algorithm(a)),
        None => return Err(AuthError::Malformed("missing `algorithm`".into())),
    }
    let headers: Vec<String> = headers
        .ok_or_else(|| AuthError::Malformed("missing `headers`".into()))?
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    let key_id = key_id.ok_or_else(|| AuthError::Malformed("missing `keyId`".into()))?;
    let signature = STANDARD
        .decode(
            signature
                .ok_or_else(|| AuthError::Malformed("missing `signature`".into()))?
                .as_bytes(),
        )
        .map_err(|_| AuthError::Malformed("`signature` is not base64".into()))?;
    Ok(SignatureParams {
        key_id,
        headers,
        signature,
    })
}

fn has_body_headers(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

/// Checks that the signed header list covers what `rule` requires for `method`.
fn check_required(
    params: &SignatureParams,
    method: &Method,
    rule: SigningRule,
) -> Result<(), AuthError> {
    let signed = |h: &str| params.headers.iter().any(|x| x == h);
    if !signed("date") && !signed("x-date") {
        return Err(AuthError::MissingSignedHeader("date"));
    }
    let mut required: Vec<&'static str> = vec!["(request-target)"];
    match rule {
        SigningRule::Standard => {
            required.push("host");
            if has_body_headers(method) {
                required.extend(["content-length", "content-type", "x-content-sha256"]);
            }
        }
        SigningRule::BodyOptional => required.push("host"),
        SigningRule::Federation => {
            required.extend(["content-length", "content-type", "x-content-sha256"]);
        }
    }
    match required.into_iter().find(|h| !signed(h)) {
        Some(missing) => Err(AuthError::MissingSignedHeader(missing)),
        None => Ok(()),
    }
}

fn header_value(headers: &HeaderMap, name: &str) -> Result<String, AuthError> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    if values.is_empty() {
        return Err(AuthError::AbsentHeader(name.to_string()));
    }
    Ok(values.join(", "))
}

/// The signing string: one `name: value` line per signed header, joined by `\n`.
pub fn signing_string(req: &SignedRequest<'_>, headers: &[String]) -> Result<String, AuthError> {
    let mut lines = Vec::with_capacity(headers.len());
    for h in headers {
        if h == "(request-target)" {
            lines.push(format!(
                "(request-target): {} {}",
                req.method.as_str().to_ascii_lowercase(),
                req.target
            ));
        } else {
            lines.push(format!("{h}: {}", header_value(req.headers, h)?));
        }
    }
    Ok(lines.join("\n"))
}

/// Parses a `date` / `x-date` value, which OCI's signing rules require to be an IMF-fixdate
/// (`Tue, 14 Jan 2025 08:00:00 GMT`). `httpdate` also accepts the obsolete RFC 850 and asctime
/// forms; printing the parsed instant back must give the text received, which only an
/// IMF-fixdate (with the right weekday) does.
fn parse_imf_fixdate(text: &str) -> Result<SystemTime, AuthError> {
    match httpdate::parse_http_date(text) {
        Ok(t) if httpdate::fmt_http_date(t) == text => Ok(t),
        _ => Err(AuthError::BadDate(text.to_string())),
    }
}

/// Verifies the request's signature and returns who signed it.
pub fn verify(
    req: &SignedRequest<'_>,
    rule: SigningRule,
    time: VerifyTime,
    keys: &dyn KeyResolver,
) -> Result<Principal, AuthError> {
    let auth = req
        .headers
        .get(http::header::AUTHORIZATION)
        .ok_or(AuthError::MissingAuthorization)?;
    let auth = auth
        .to_str()
        .map_err(|_| AuthError::Malformed("the header is not ASCII".into()))?;
    let params = parse_authorization(auth)?;
    check_required(&params, req.method, rule)?;

    // Build the signing string first: it fails if a signed header is absent.
    let text = signing_string(req, &params.headers)?;

    let date_name = if params.headers.iter().any(|h| h == "date") {
        "date"
    } else {
        "x-date"
    };
    let date_text = header_value(req.headers, date_name)?;
    let date = parse_imf_fixdate(&date_text)?;
    let skew = match time.real_now.duration_since(date) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > MAX_CLOCK_SKEW {
        return Err(AuthError::ClockSkew {
            skew_secs: skew.as_secs(),
        });
    }

    if params.headers.iter().any(|h| h == "x-content-sha256")
        && header_value(req.headers, "x-content-sha256")? != sha256_b64(req.body)
    {
        return Err(AuthError::BodyHash);
    }
    if params.headers.iter().any(|h| h == "content-length") {
        let declared = header_value(req.headers, "content-length")?;
        if declared.trim().parse::<usize>().ok() != Some(req.body.len()) {
            return Err(AuthError::ContentLength {
                header: declared,
                actual: req.body.len(),
            });
        }
    }

    let key_id = KeyId::parse(&params.key_id);
    let resolved = keys.resolve(&key_id, time.token_now)?;
    // OCI accepts an instance certificate as a signing key only to federate.
    if matches!(resolved.principal, Principal::Federation { .. }) && rule != SigningRule::Federation
    {
        return Err(AuthError::FederationKeyOutsideFederation);
    }
    if !resolved
        .public
        .verify_sha256(text.as_bytes(), &params.signature)
    {
        return Err(AuthError::SignatureMismatch);
    }
    Ok(resolved.principal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_parse_in_any_order() {
        let a = parse_authorization(
            r#"Signature version="1",headers="date (request-target) host",keyId="t/u/f",algorithm="rsa-sha256",signature="AAAA""#,
        )
        .unwrap();
        let b = parse_authorization(
            r#"Signature signature="AAAA", algorithm="rsa-sha256", keyId="t/u/f", headers="date (request-target) host""#,
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.headers, vec!["date", "(request-target)", "host"]);
    }

    #[test]
    fn other_schemes_and_broken_pairs_are_malformed() {
        for bad in [
            r#"Bearer abc"#,
            r#"Signatures headers="date",keyId="k",algorithm="rsa-sha256",signature="AAAA""#,
            r#"Signature headers=date,keyId="k",algorithm="rsa-sha256",signature="AAAA""#,
            r#"Signature headers="date" keyId="k",algorithm="rsa-sha256",signature="AAAA""#,
            r#"Signature keyId="k",keyId="k",headers="date",algorithm="rsa-sha256",signature="AAAA""#,
            r#"Signature headers="date",algorithm="rsa-sha256",signature="AAAA""#,
            r#"Signature headers="date",keyId="k",algorithm="rsa-sha256",signature="not base64!""#,
        ] {
            assert!(
                matches!(parse_authorization(bad), Err(AuthError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn wrong_version_or_algorithm_is_refused() {
        let v2 = parse_authorization(
            r#"Signature version="2",headers="date",keyId="k",algorithm="rsa-sha256",signature="AAAA""#,
        );
        assert_eq!(v2, Err(AuthError::Version("2".into())));
        let hmac = parse_authorization(
            r#"Signature headers="date",keyId="k",algorithm="hmac-sha256",signature="AAAA""#,
        );
        assert_eq!(hmac, Err(AuthError::Algorithm("hmac-sha256".into())));
    }

    #[test]
    fn post_without_body_headers_is_missing_required_headers() {
        let p = parse_authorization(
            r#"Signature headers="date (request-target) host",keyId="k",algorithm="rsa-sha256",signature="AAAA""#,
        )
        .unwrap();
        assert_eq!(
            check_required(&p, &Method::POST, SigningRule::Standard),
            Err(AuthError::MissingSignedHeader("content-length"))
        );
        assert_eq!(
            check_required(&p, &Method::PUT, SigningRule::BodyOptional),
            Ok(())
        );
        assert_eq!(
            check_required(&p, &Method::GET, SigningRule::Standard),
            Ok(())
        );
        assert_eq!(
            check_required(&p, &Method::POST, SigningRule::Federation),
            Err(AuthError::MissingSignedHeader("content-length"))
        );
    }

    #[test]
    fn only_an_imf_fixdate_with_the_right_weekday_is_a_date() {
        assert!(parse_imf_fixdate("Tue, 14 Jan 2025 08:00:00 GMT").is_ok());
        for bad in [
            "Tuesday, 14-Jan-25 08:00:00 GMT",
            "Tue Jan 14 08:00:00 2025",
            "Wed, 14 Jan 2025 08:00:00 GMT",
            "Tue, 14 Jan 2025 08:00:00 UTC",
            " Tue, 14 Jan 2025 08:00:00 GMT",
        ] {
            assert_eq!(
                parse_imf_fixdate(bad),
                Err(AuthError::BadDate(bad.to_string())),
                "{bad}"
            );
        }
    }
}
