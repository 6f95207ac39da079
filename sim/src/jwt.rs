//! RS256 JSON Web Tokens: the session tokens, instance-principal tokens and resource-principal
//! session tokens (RPSTs) the simulator issues and later accepts in `ST$` keyIds.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::crypto::{CryptoError, PublicJwk, RsaKey};

/// Why a token was refused. Messages never contain the token itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the security token is not a well-formed JWT")]
    Malformed,
    #[error("the security token uses algorithm {0:?}; only RS256 is accepted")]
    Algorithm(String),
    #[error("the security token was not issued by this service (signature does not verify)")]
    Signature,
    #[error("the security token expired at {exp} (now {now})")]
    Expired { exp: i64, now: i64 },
    #[error("the security token has no usable `jwk` claim")]
    NoJwk,
}

/// Claims of a decoded token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }
    pub fn exp(&self) -> Option<i64> {
        self.0.get("exp").and_then(Value::as_i64)
    }
    /// The session public key carried in the `jwk` claim (a JSON string, or an object).
    pub fn jwk(&self) -> Option<PublicJwk> {
        match self.0.get("jwk")? {
            Value::String(s) => PublicJwk::from_json(s),
            v @ Value::Object(_) => PublicJwk::from_json(&v.to_string()),
            _ => None,
        }
    }
}

/// Signs `claims` with `key` as an RS256 JWT.
pub fn sign(key: &RsaKey, kid: &str, claims: &Map<String, Value>) -> Result<String, CryptoError> {
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
    );
    let sig = key.sign_sha256(signing_input.as_bytes())?;
    Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// Decodes a token's claims without checking anything (for logging which kind of principal
/// sent a request). `None` when the token is not a JWT.
pub fn decode_unverified(token: &str) -> Option<Claims> {
    let mut parts = token.split('.');
    let _header = parts.next()?;
    let payload = parts.next()?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(Claims(map)),
        _ => None,
    }
}

/// Verifies signature (against any of `trusted`) and expiry (`exp` must be after `now`).
pub fn verify(token: &str, trusted: &[PublicJwk], now: i64) -> Result<Claims, TokenError> {
    let token = token.trim();
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let header: Value = URL_SAFE_NO_PAD
        .decode(h.trim_end_matches('='))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(TokenError::Malformed)?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if alg != "RS256" {
        return Err(TokenError::Algorithm(alg.to_string()));
    }
    let sig = URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| TokenError::Malformed)?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    if !trusted
        .iter()
        .any(|k| k.verify_sha256(signing_input.as_bytes(), &sig))
    {
        return Err(TokenError::Signature);
    }
    let claims = decode_unverified(token).ok_or(TokenError::Malformed)?;
    let exp = claims.exp().ok_or(TokenError::Malformed)?;
    if exp <= now {
        return Err(TokenError::Expired { exp, now });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Map<String, Value> {
        let Value::Object(m) = serde_json::json!({"sub": "x", "exp": exp}) else {
            unreachable!()
        };
        m
    }

    #[test]
    fn token_verifies_until_exp_and_not_after() {
        let key = RsaKey::generate().unwrap();
        let t = sign(&key, "k", &claims(1000)).unwrap();
        let trusted = [key.public_jwk()];
        assert_eq!(verify(&t, &trusted, 999).unwrap().str("sub"), Some("x"));
        assert_eq!(
            verify(&t, &trusted, 1000),
            Err(TokenError::Expired {
                exp: 1000,
                now: 1000
            })
        );
    }

    #[test]
    fn token_signed_by_another_key_is_refused() {
        let key = RsaKey::generate().unwrap();
        let other = RsaKey::generate().unwrap();
        let t = sign(&other, "k", &claims(1000)).unwrap();
        assert_eq!(
            verify(&t, &[key.public_jwk()], 1),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn token_with_edited_claims_is_refused() {
        let key = RsaKey::generate().unwrap();
        let t = sign(&key, "k", &claims(1000)).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let forged_payload = URL_SAFE_NO_PAD.encode(r#"{"sub":"x","exp":99999999999}"#);
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(
            verify(&forged, &[key.public_jwk()], 1),
            Err(TokenError::Signature)
        );
    }
}
