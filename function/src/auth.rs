//! The bearer token every mutation needs.
//!
//! The token comes from the environment variable the fleet file names (`spec.api.tokenEnv`,
//! default `FLEETCTL_API_TOKEN`); without one the server makes a random token and its caller
//! prints it once (never to the log). The server keeps only the token's SHA-256 digest and
//! compares digests in constant time, so neither the comparison's time nor a memory dump of
//! the state tells the token.

use aws_lc_rs::digest::{SHA256, digest};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use crate::error::ApiError;

/// The shortest token accepted from the environment: shorter ones are guessable.
pub const MIN_TOKEN_CHARS: usize = 16;

/// The API token in clear: only for printing it once at start. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

/// Where the token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenOrigin {
    /// The environment variable of that name.
    Env(String),
    /// Made at random at start: the caller prints it once.
    Generated,
}

/// Why the configured token cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    /// Too short, or not printable ASCII without spaces.
    #[error(
        "the API token in ${var} must be at least {MIN_TOKEN_CHARS} printable ASCII characters \
         without spaces (it is not shown)"
    )]
    Unusable {
        /// The variable.
        var: String,
    },
    /// The system's random source failed.
    #[error("cannot make a random API token: the system's random source failed")]
    Random,
}

impl ApiToken {
    /// The token of `var` in `env` when set and not empty, else a random one.
    ///
    /// # Errors
    /// [`TokenError::Unusable`] for a token shorter than [`MIN_TOKEN_CHARS`] or with
    /// characters a header cannot carry; [`TokenError::Random`] when no random token can be
    /// made.
    pub fn from_env_or_random(
        var: &str,
        value: Option<String>,
    ) -> Result<(ApiToken, TokenOrigin), TokenError> {
        match value.filter(|v| !v.is_empty()) {
            Some(token) => {
                let ok = token.chars().count() >= MIN_TOKEN_CHARS
                    && token.bytes().all(|b| b.is_ascii_graphic());
                if !ok {
                    return Err(TokenError::Unusable {
                        var: var.to_string(),
                    });
                }
                Ok((ApiToken(token), TokenOrigin::Env(var.to_string())))
            }
            None => Ok((ApiToken::random()?, TokenOrigin::Generated)),
        }
    }

    /// A random token: 32 bytes from the system's random source, as 64 hex digits.
    ///
    /// # Errors
    /// [`TokenError::Random`] when the random source fails.
    pub fn random() -> Result<ApiToken, TokenError> {
        random_hex(32).map(ApiToken).ok_or(TokenError::Random)
    }

    /// The token in clear, to print once.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// What the server keeps.
    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of(&self.0)
    }
}

/// The SHA-256 digest of the API token.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenDigest([u8; 32]);

impl std::fmt::Debug for TokenDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenDigest(***)")
    }
}

impl TokenDigest {
    /// The digest of `token`.
    pub fn of(token: &str) -> TokenDigest {
        let d = digest(&SHA256, token.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        TokenDigest(out)
    }

    /// True when `token` has this digest, in time independent of where they differ.
    pub fn matches(&self, token: &str) -> bool {
        let other = TokenDigest::of(token);
        let diff = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }

    /// `Ok` when `headers` carry `Authorization: Bearer <token>` with this digest.
    ///
    /// # Errors
    /// [`ApiError::unauthorized`] otherwise (which of "missing" or "wrong" is not said).
    pub fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let token = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            });
        match token {
            Some(t) if self.matches(t) => Ok(()),
            _ => Err(ApiError::unauthorized()),
        }
    }
}

/// `bytes` random bytes as lower-case hex, or `None` when the random source fails.
pub(crate) fn random_hex(bytes: usize) -> Option<String> {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut buf = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buf).ok()?;
    Some(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_only_itself_and_never_shows_in_debug() {
        let (token, origin) =
            ApiToken::from_env_or_random("T", Some("0123456789abcdef-x".into())).unwrap();
        assert_eq!(origin, TokenOrigin::Env("T".into()));
        let d = token.digest();
        assert!(d.matches("0123456789abcdef-x"));
        assert!(!d.matches("0123456789abcdef-y"));
        assert!(!d.matches(""));
        assert!(!format!("{token:?}{d:?}").contains("0123"));
    }

    #[test]
    fn short_or_spaced_tokens_are_refused_and_none_makes_a_random_one() {
        assert!(ApiToken::from_env_or_random("T", Some("short".into())).is_err());
        assert!(ApiToken::from_env_or_random("T", Some("with space 0123456789".into())).is_err());
        let (a, origin) = ApiToken::from_env_or_random("T", Some(String::new())).unwrap();
        assert_eq!(origin, TokenOrigin::Generated);
        let (b, _) = ApiToken::from_env_or_random("T", None).unwrap();
        assert_eq!(a.reveal().len(), 64);
        assert_ne!(a, b);
    }

    #[test]
    fn only_a_bearer_header_with_the_token_passes() {
        let d = TokenDigest::of("0123456789abcdef");
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, v.parse().unwrap());
            d.check(&h)
        };
        assert!(with("Bearer 0123456789abcdef").is_ok());
        assert!(with("bearer 0123456789abcdef").is_ok());
        assert!(with("Basic 0123456789abcdef").is_err());
        assert!(with("Bearer 0123456789abcdeX").is_err());
        assert!(d.check(&HeaderMap::new()).is_err());
    }
}
