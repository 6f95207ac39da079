//! Request authentication: OCI HTTP signatures and the keys that may make them.

pub mod keys;
pub mod signature;

pub use keys::{FederationCert, KeyId, KeyIdKind, KeyResolver, KeyStore, Principal, ResolvedKey};
pub use signature::{AuthError, SignedRequest, SigningRule, VerifyTime, verify};
