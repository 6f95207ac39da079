//! Security tokens (JWTs): session tokens (UPST), instance-principal tokens and resource
//! principal session tokens (RPST).
//!
//! The token is a bearer secret: `Debug` and `Display` print `<redacted jwt, exp=…>` and only
//! [`SecurityToken::expose`] returns the text. The payload is decoded without verifying the
//! signature (OCI verifies it); only the claims fleetctl needs are read.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD_INDIFFERENT as B64URL;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Why a token could not be read. Never contains the token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Empty (or whitespace only).
    #[error("the token is empty")]
    Empty,
    /// Not three dot-separated parts.
    #[error("the token is not a JWT (expected three dot-separated base64url parts)")]
    NotAJwt,
    /// The payload is not base64url JSON object.
    #[error("the token's payload is not base64url-encoded JSON")]
    BadPayload,
    /// A claim has the wrong type.
    #[error("the token's `{claim}` claim is not {expected}")]
    BadClaim {
        /// Claim name.
        claim: &'static str,
        /// What was expected.
        expected: &'static str,
    },
}

/// The claims fleetctl reads from a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenClaims {
    /// `exp`: expiry time.
    pub exp: Option<OffsetDateTime>,
    /// `iat`: issue time.
    pub iat: Option<OffsetDateTime>,
    /// `sub`: subject (a user, instance or resource OCID).
    pub sub: Option<String>,
    /// `tenant`: tenancy OCID (session and instance tokens).
    pub tenant: Option<String>,
    /// `res_tenant`: tenancy of a resource principal.
    pub res_tenant: Option<String>,
    /// `res_compartment`: compartment of a resource principal.
    pub res_compartment: Option<String>,
    /// `res_id`: OCID of the resource a resource principal stands for.
    pub res_id: Option<String>,
    /// `ptype`: principal type (`user`, `instance`, `resource`).
    pub ptype: Option<String>,
}

/// A JWT used as `ST$<token>` keyId. Cheap to clone.
#[derive(Clone, PartialEq, Eq)]
pub struct SecurityToken {
    jwt: Arc<str>,
    claims: TokenClaims,
}

impl SecurityToken {
    /// Parses a token, trimming surrounding whitespace and newlines (token files often end
    /// with one).
    pub fn parse(raw: &str) -> Result<Self, TokenError> {
        let jwt = raw.trim();
        if jwt.is_empty() {
            return Err(TokenError::Empty);
        }
        let parts: Vec<&str> = jwt.split('.').collect();
        if parts.len() != 3 || parts.iter().take(2).any(|p| p.is_empty()) {
            return Err(TokenError::NotAJwt);
        }
        let payload = B64URL
            .decode(parts[1].as_bytes())
            .map_err(|_| TokenError::BadPayload)?;
        let value: serde_json::Value =
            serde_json::from_slice(&payload).map_err(|_| TokenError::BadPayload)?;
        let obj = value.as_object().ok_or(TokenError::BadPayload)?;
        let claims = TokenClaims {
            exp: time_claim(obj, "exp")?,
            iat: time_claim(obj, "iat")?,
            sub: string_claim(obj, "sub")?,
            tenant: string_claim(obj, "tenant")?,
            res_tenant: string_claim(obj, "res_tenant")?,
            res_compartment: string_claim(obj, "res_compartment")?,
            res_id: string_claim(obj, "res_id")?,
            ptype: string_claim(obj, "ptype")?,
        };
        Ok(Self {
            jwt: Arc::from(jwt),
            claims,
        })
    }

    /// The token text: a secret. Only the signer (for the keyId) and token-refresh bodies
    /// should call this.
    pub fn expose(&self) -> &str {
        &self.jwt
    }

    /// The decoded claims.
    pub fn claims(&self) -> &TokenClaims {
        &self.claims
    }

    /// The `exp` claim.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.claims.exp
    }

    /// True when `exp` is at or before `now`. A token without `exp` never expires here (OCI
    /// decides).
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.claims.exp.is_some_and(|exp| exp <= now)
    }

    /// True when the token expires within `window` of `now` (`exp - now < window`), or is
    /// already expired.
    pub fn expires_within(&self, now: OffsetDateTime, window: Duration) -> bool {
        self.claims.exp.is_some_and(|exp| exp - now < window)
    }
}

impl fmt::Debug for SecurityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for SecurityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.claims.exp {
            Some(exp) => write!(f, "<redacted jwt, exp={}>", format_time(exp)),
            None => f.write_str("<redacted jwt, no exp>"),
        }
    }
}

/// RFC 3339 for messages; falls back to the unix timestamp.
pub(crate) fn format_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn time_claim(
    obj: &serde_json::Map<String, serde_json::Value>,
    claim: &'static str,
) -> Result<Option<OffsetDateTime>, TokenError> {
    let bad = TokenError::BadClaim {
        claim,
        expected: "a number of seconds since 1970",
    };
    match obj.get(claim) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => {
            let secs = n
                .as_i64()
                // Some issuers write fractional seconds; whole seconds are enough here.
                .or_else(|| n.as_f64().map(|f| f.floor() as i64))
                .ok_or(bad)?;
            OffsetDateTime::from_unix_timestamp(secs)
                .map(Some)
                .map_err(|_| TokenError::BadClaim {
                    claim,
                    expected: "a representable time",
                })
        }
        Some(_) => Err(bad),
    }
}

fn string_claim(
    obj: &serde_json::Map<String, serde_json::Value>,
    claim: &'static str,
) -> Result<Option<String>, TokenError> {
    match obj.get(claim) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenError::BadClaim {
            claim,
            expected: "a string",
        }),
    }
}

/// Builds an unsigned-looking JWT (`header.payload.sig`) with the given claims; for tests and
/// simulations that need tokens with a chosen `exp`. The signature part is a fixed
/// placeholder: OCI would reject it, the local simulator decides for itself.
pub fn unsigned_test_jwt(claims: &serde_json::Value) -> String {
    let header = B64URL.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let payload = B64URL.encode(claims.to_string().as_bytes());
    format!("{header}.{payload}.c2lnbmF0dXJl")
}
