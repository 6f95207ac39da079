//! Who may sign requests: registered API keys, tokens signed by the simulator's token key, and
//! leaf certificates the simulator issued (for the federation call).

use std::collections::HashMap;

use serde::Serialize;

use super::signature::AuthError;
use crate::crypto::{PublicJwk, Secret};
use crate::jwt::{self, Claims};

/// The keyId forms OCI uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyId {
    /// `<tenancy>/<user>/<md5 fingerprint>`
    ApiKey {
        tenancy: String,
        user: String,
        fingerprint: String,
    },
    /// `ST$<jwt>`: session token, instance-principal token or RPST.
    SecurityToken(Secret),
    /// `<tenancy>/fed-x509/<SHA-1>` or `<tenancy>/fed-x509-sha256/<SHA-256>`.
    FedX509 {
        tenancy: String,
        sha256: bool,
        fingerprint: String,
    },
    /// Anything else (e.g. resource principal v2.1 `resource/v2.1/<id>`), matched verbatim.
    Other(String),
}

impl KeyId {
    pub fn parse(s: &str) -> Self {
        if let Some(token) = s.strip_prefix("ST$") {
            return Self::SecurityToken(Secret::new(token.trim()));
        }
        let parts: Vec<&str> = s.splitn(3, '/').collect();
        if let [tenancy, kind, fp] = parts[..] {
            if kind == "fed-x509" || kind == "fed-x509-sha256" {
                return Self::FedX509 {
                    tenancy: tenancy.to_string(),
                    sha256: kind == "fed-x509-sha256",
                    fingerprint: fp.to_ascii_uppercase(),
                };
            }
            if tenancy.starts_with("ocid1.tenancy.") && !fp.contains('/') {
                // Kept as sent: OCI matches the fingerprint exactly, in the lower-case colon
                // hex it computes when a key is uploaded (`AA:BB:…` is another, unknown key).
                return Self::ApiKey {
                    tenancy: tenancy.to_string(),
                    user: kind.to_string(),
                    fingerprint: fp.to_string(),
                };
            }
        }
        Self::Other(s.to_string())
    }

    /// The kind of principal, for the request log; reads token claims without verifying them.
    pub fn kind(&self) -> KeyIdKind {
        match self {
            Self::ApiKey { .. } => KeyIdKind::ApiKey,
            Self::FedX509 { .. } => KeyIdKind::Federation,
            Self::Other(s) if s.starts_with("resource/") => KeyIdKind::Resource,
            Self::Other(_) => KeyIdKind::Other,
            Self::SecurityToken(t) => jwt::decode_unverified(t.expose())
                .map(|c| kind_of_claims(&c))
                .unwrap_or(KeyIdKind::Session),
        }
    }
}

/// The principal kinds the request log reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyIdKind {
    ApiKey,
    Session,
    Instance,
    Resource,
    Federation,
    Other,
}

fn kind_of_claims(c: &Claims) -> KeyIdKind {
    match c.str("ptype") {
        Some("instance") => KeyIdKind::Instance,
        Some("resource") => KeyIdKind::Resource,
        _ if c.str("res_type").is_some() => KeyIdKind::Resource,
        _ => KeyIdKind::Session,
    }
}

/// Who signed a verified request.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    User {
        tenancy: String,
        user: String,
    },
    /// A token-bearing principal (session, instance or resource).
    Token {
        kind: KeyIdKind,
        tenancy: String,
        subject: String,
        claims: Claims,
        /// The raw token (needed by the refresh call; redacted in `Debug`).
        token: Secret,
    },
    /// The federation call, signed with an instance leaf certificate's key.
    Federation {
        tenancy: String,
        instance_id: String,
        cert_der: Vec<u8>,
    },
    /// A key registered verbatim under a keyId (e.g. RP v2.1 key pairs).
    KeyPair {
        tenancy: String,
        key_id: String,
    },
}

impl Principal {
    pub fn tenancy(&self) -> &str {
        match self {
            Self::User { tenancy, .. }
            | Self::Token { tenancy, .. }
            | Self::Federation { tenancy, .. }
            | Self::KeyPair { tenancy, .. } => tenancy,
        }
    }

    pub fn kind(&self) -> KeyIdKind {
        match self {
            Self::User { .. } => KeyIdKind::ApiKey,
            Self::Token { kind, .. } => *kind,
            Self::Federation { .. } => KeyIdKind::Federation,
            Self::KeyPair { .. } => KeyIdKind::Resource,
        }
    }
}

/// A key the verifier found for a keyId.
#[derive(Debug, Clone)]
pub struct ResolvedKey {
    pub public: PublicJwk,
    pub principal: Principal,
}

/// Looks keyIds up. `token_now` is the (simulated) unix time token expiry is checked against.
pub trait KeyResolver {
    fn resolve(&self, key_id: &KeyId, token_now: i64) -> Result<ResolvedKey, AuthError>;
}

/// A certificate the simulator issued, trusted for the federation call until `not_after`.
#[derive(Debug, Clone)]
pub struct FederationCert {
    pub der: Vec<u8>,
    pub sha1: String,
    pub sha256: String,
    pub public: PublicJwk,
    pub tenancy: String,
    pub instance_id: String,
    /// The certificate's notAfter in unix seconds, compared with the simulated clock (like a
    /// token's `exp`): from then on it no longer federates.
    pub not_after: i64,
}

/// The simulator's trust store.
#[derive(Debug, Default, Clone)]
pub struct KeyStore {
    api_keys: HashMap<(String, String, String), PublicJwk>,
    verbatim: HashMap<String, (PublicJwk, String)>,
    token_keys: Vec<PublicJwk>,
    certs: Vec<FederationCert>,
}

impl KeyStore {
    /// Registers an API key under its fingerprint as OCI computes it (MD5 of the public key,
    /// lower-case colon hex, see `RsaKey::md5_fingerprint`); keyIds must name it exactly.
    pub fn add_api_key(&mut self, tenancy: &str, user: &str, fingerprint: &str, key: PublicJwk) {
        self.api_keys.insert(
            (
                tenancy.to_string(),
                user.to_string(),
                fingerprint.to_string(),
            ),
            key,
        );
    }

    /// Registers a key under an exact keyId string (e.g. `resource/v2.1/<id>`).
    pub fn add_verbatim_key(&mut self, key_id: &str, tenancy: &str, key: PublicJwk) {
        self.verbatim
            .insert(key_id.to_string(), (key, tenancy.to_string()));
    }

    /// Trusts JWTs signed by this key in `ST$` keyIds.
    pub fn add_token_key(&mut self, key: PublicJwk) {
        self.token_keys.push(key);
    }

    pub fn add_certificate(&mut self, cert: FederationCert) {
        self.certs.push(cert);
    }
}

impl KeyResolver for KeyStore {
    fn resolve(&self, key_id: &KeyId, token_now: i64) -> Result<ResolvedKey, AuthError> {
        match key_id {
            KeyId::ApiKey {
                tenancy,
                user,
                fingerprint,
            } => {
                let public = self
                    .api_keys
                    .get(&(tenancy.clone(), user.clone(), fingerprint.clone()))
                    .ok_or_else(|| {
                        AuthError::UnknownKey(format!("{tenancy}/{user}/{fingerprint}"))
                    })?;
                Ok(ResolvedKey {
                    public: public.clone(),
                    principal: Principal::User {
                        tenancy: tenancy.clone(),
                        user: user.clone(),
                    },
                })
            }
            KeyId::SecurityToken(token) => {
                let claims = jwt::verify(token.expose(), &self.token_keys, token_now)?;
                let public = claims.jwk().ok_or(jwt::TokenError::NoJwk)?;
                let tenancy = claims
                    .str("tenant")
                    .or_else(|| claims.str("res_tenant"))
                    .unwrap_or_default()
                    .to_string();
                let subject = claims.str("sub").unwrap_or_default().to_string();
                Ok(ResolvedKey {
                    public,
                    principal: Principal::Token {
                        kind: kind_of_claims(&claims),
                        tenancy,
                        subject,
                        claims,
                        token: token.clone(),
                    },
                })
            }
            KeyId::FedX509 {
                tenancy,
                sha256,
                fingerprint,
            } => {
                let cert = self
                    .certs
                    .iter()
                    .find(|c| {
                        let fp = if *sha256 { &c.sha256 } else { &c.sha1 };
                        fp.eq_ignore_ascii_case(fingerprint)
                    })
                    .ok_or(AuthError::UnknownCertificate)?;
                if &cert.tenancy != tenancy {
                    return Err(AuthError::CertificateTenancy {
                        key_id_tenancy: tenancy.clone(),
                    });
                }
                if cert.not_after < token_now {
                    return Err(AuthError::CertificateExpired {
                        not_after: cert.not_after,
                        now: token_now,
                    });
                }
                Ok(ResolvedKey {
                    public: cert.public.clone(),
                    principal: Principal::Federation {
                        tenancy: cert.tenancy.clone(),
                        instance_id: cert.instance_id.clone(),
                        cert_der: cert.der.clone(),
                    },
                })
            }
            KeyId::Other(s) => {
                let (public, tenancy) = self
                    .verbatim
                    .get(s)
                    .ok_or_else(|| AuthError::UnknownKey("(a keyId of no known form)".into()))?;
                Ok(ResolvedKey {
                    public: public.clone(),
                    principal: Principal::KeyPair {
                        tenancy: tenancy.clone(),
                        key_id: s.clone(),
                    },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_id_forms_are_recognised() {
        assert!(matches!(
            KeyId::parse("ocid1.tenancy.oc1..aaa/ocid1.user.oc1..bbb/AA:bb"),
            KeyId::ApiKey { ref fingerprint, .. } if fingerprint == "AA:bb"
        ));
        assert!(
            matches!(KeyId::parse("ST$abc"), KeyId::SecurityToken(ref t) if t.expose() == "abc")
        );
        assert!(!format!("{:?}", KeyId::parse("ST$abcdef")).contains("abcdef"));
        assert!(matches!(
            KeyId::parse("ocid1.tenancy.oc1..aaa/fed-x509-sha256/ab:cd"),
            KeyId::FedX509 { sha256: true, ref fingerprint, .. } if fingerprint == "AB:CD"
        ));
        assert_eq!(KeyId::parse("resource/v2.1/x").kind(), KeyIdKind::Resource);
    }

    #[test]
    fn resolved_token_principal_does_not_show_its_token() {
        let issuer = crate::crypto::RsaKey::generate().unwrap();
        let session = crate::crypto::RsaKey::generate().unwrap();
        let claims: serde_json::Map<String, serde_json::Value> =
            serde_json::from_value(serde_json::json!({
                "sub": "ocid1.user.oc1..u", "tenant": "ocid1.tenancy.oc1..t", "ptype": "user",
                "exp": 2_000_000_000_i64, "jwk": session.public_jwk().to_json("k"),
            }))
            .unwrap();
        let token = crate::jwt::sign(&issuer, "k", &claims).unwrap();
        let mut store = KeyStore::default();
        store.add_token_key(issuer.public_jwk());
        let resolved = store
            .resolve(&KeyId::parse(&format!("ST${token}")), 1_000_000_000)
            .unwrap();
        assert_eq!(resolved.principal.kind(), KeyIdKind::Session);
        assert_eq!(resolved.principal.tenancy(), "ocid1.tenancy.oc1..t");
        assert_eq!(resolved.public, session.public_jwk());
        let shown = format!("{resolved:?}");
        assert!(!shown.contains(&token), "Debug shows the token");
        assert!(!shown.contains(token.split('.').nth(2).unwrap()));
    }

    #[test]
    fn a_federation_certificate_resolves_until_its_not_after_only() {
        let key = crate::crypto::RsaKey::generate().unwrap();
        let mut store = KeyStore::default();
        store.add_certificate(FederationCert {
            der: vec![1, 2, 3],
            sha1: "AA:BB".into(),
            sha256: "CC:DD".into(),
            public: key.public_jwk(),
            tenancy: "ocid1.tenancy.oc1..t".into(),
            instance_id: "ocid1.instance.oc1.iad.i".into(),
            not_after: 1_000,
        });
        let id = KeyId::parse("ocid1.tenancy.oc1..t/fed-x509/aa:bb");
        assert!(store.resolve(&id, 1_000).is_ok());
        assert_eq!(
            store.resolve(&id, 1_001).unwrap_err(),
            AuthError::CertificateExpired {
                not_after: 1_000,
                now: 1_001
            }
        );
    }
}
