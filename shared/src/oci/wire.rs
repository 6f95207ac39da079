//! Wire helpers shared by the service modules: open enums (unknown values kept, never a
//! decode failure), idempotency tokens (`opc-retry-token`) and OCI's error body
//! ([`parse_error_body`]).

use std::fmt;

use aws_lc_rs::digest;

use crate::ids::OperationId;

/// Declares an enum of OCI wire strings that keeps values it does not know as
/// `Unknown(<value>)` instead of failing to decode (OCI adds lifecycle states over time).
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this version of fleetctl does not know.
            Unknown(String),
        }

        impl $name {
            /// The wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $wire,)+
                    $name::Unknown(s) => s.as_str(),
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($wire => $name::$variant,)+
                    _ => $name::Unknown(s),
                }
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                match v {
                    $($name::$variant => $wire.to_string(),)+
                    $name::Unknown(s) => s,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use open_enum;

/// The longest `opc-retry-token` OCI accepts.
pub const MAX_RETRY_TOKEN_LEN: usize = 64;

/// An `opc-retry-token`: 1 to 64 characters of `A-Z a-z 0-9 - _ . :`.
///
/// OCI remembers a token for 24 hours: a create or action sent again with the same token
/// returns the original result instead of doing the work twice. fleetctl derives tokens from
/// the operation id and the slot ([`RetryToken::derive`]), so a retried or resumed step reuses
/// the token of its first attempt.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RetryToken(String);

/// A retry token that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryTokenError {
    /// Empty or longer than 64 characters.
    #[error("an opc-retry-token must be 1 to 64 characters, this one has {len}")]
    Length {
        /// Its length in bytes.
        len: usize,
    },
    /// A character outside `A-Z a-z 0-9 - _ . :`.
    #[error(
        "an opc-retry-token may only contain letters, digits, '-', '_', '.' and ':', found {found:?} at byte {at}"
    )]
    Character {
        /// The character.
        found: char,
        /// Its byte offset.
        at: usize,
    },
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

impl RetryToken {
    /// Checks and wraps a token chosen by the caller.
    pub fn new(token: impl Into<String>) -> Result<Self, RetryTokenError> {
        let token = token.into();
        if token.is_empty() || token.len() > MAX_RETRY_TOKEN_LEN {
            return Err(RetryTokenError::Length { len: token.len() });
        }
        if let Some((at, found)) = token.char_indices().find(|(_, c)| !token_char(*c)) {
            return Err(RetryTokenError::Character { found, at });
        }
        Ok(Self(token))
    }

    /// The token for one step of an operation: a pure function of `purpose` (what the call
    /// does, e.g. `launch`, `action-softreset`, `lb-add`), the operation id and the slot, so
    /// every retry and every resume of that step sends the same token, and different steps
    /// never share one.
    ///
    /// The readable form `purpose:operation:slot` is used when it fits in 64 characters of the
    /// allowed alphabet; otherwise the token is a readable prefix of it followed by 32 hex
    /// digits of its SHA-256, so long purposes and slots still give distinct, valid tokens.
    pub fn derive(purpose: &str, operation: &OperationId, slot: &str) -> Self {
        let readable = format!("{purpose}:{operation}:{slot}");
        if readable.len() <= MAX_RETRY_TOKEN_LEN && readable.chars().all(token_char) {
            return Self(readable);
        }
        let hash = digest::digest(&digest::SHA256, readable.as_bytes());
        let hex: String = hash.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        // 64 - 32 hex digits - one '-' = 31 characters of readable prefix.
        let prefix: String = readable
            .chars()
            .map(|c| if token_char(c) { c } else { '_' })
            .take(MAX_RETRY_TOKEN_LEN - hex.len() - 1)
            .collect();
        Self(format!("{prefix}-{hex}"))
    }

    /// The token.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RetryToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RetryToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RetryToken({:?})", self.0)
    }
}

/// `(code, message)` of an OCI error body; the trimmed text (at most 1000 characters) as
/// message when the body is not OCI JSON.
pub fn parse_error_body(body: &[u8]) -> (String, String) {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
        && v.is_object()
    {
        let code = v.get("code").and_then(|c| c.as_str()).unwrap_or("");
        let message = v.get("message").and_then(|c| c.as_str()).unwrap_or("");
        if !code.is_empty() || !message.is_empty() {
            return (code.to_string(), message.to_string());
        }
    }
    let text = String::from_utf8_lossy(body);
    (String::new(), text.trim().chars().take(1000).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(text: &str) -> OperationId {
        text.parse().unwrap()
    }

    #[test]
    fn derived_tokens_are_stable_valid_and_distinct_per_step() {
        let a = RetryToken::derive("launch", &op("op-20250114-0001"), "web-3");
        assert_eq!(a.as_str(), "launch:op-20250114-0001:web-3");
        assert_eq!(
            a,
            RetryToken::derive("launch", &op("op-20250114-0001"), "web-3")
        );
        assert_ne!(
            a,
            RetryToken::derive("launch", &op("op-20250114-0001"), "web-4")
        );
        assert_ne!(
            a,
            RetryToken::derive("action", &op("op-20250114-0001"), "web-3")
        );
        assert_ne!(
            a,
            RetryToken::derive("launch", &op("op-20250114-0002"), "web-3")
        );
    }

    #[test]
    fn long_or_odd_inputs_are_hashed_into_a_valid_token() {
        let uuid = OperationId::random();
        let t = RetryToken::derive("launch", &uuid, "group-with-a-long-name-1");
        assert_eq!(t.as_str().len(), MAX_RETRY_TOKEN_LEN);
        assert!(RetryToken::new(t.as_str()).is_ok());
        let u = RetryToken::derive("launch", &uuid, "group-with-a-long-name-2");
        assert_ne!(t, u, "the hash keeps the slot even when the prefix is cut");
        let odd = RetryToken::derive("launch", &op("op-1"), "slot with spaces/é");
        assert!(RetryToken::new(odd.as_str()).is_ok());
        assert_ne!(
            odd,
            RetryToken::derive("launch", &op("op-1"), "slot_with_spaces/é")
        );
    }

    #[test]
    fn caller_tokens_are_checked() {
        assert_eq!(RetryToken::new(""), Err(RetryTokenError::Length { len: 0 }));
        assert_eq!(
            RetryToken::new("x".repeat(65)),
            Err(RetryTokenError::Length { len: 65 })
        );
        assert_eq!(
            RetryToken::new("ab c"),
            Err(RetryTokenError::Character { found: ' ', at: 2 })
        );
        assert!(RetryToken::new("x".repeat(64)).is_ok());
    }
}
