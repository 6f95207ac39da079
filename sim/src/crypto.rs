//! Key material the simulator owns: RSA key pairs, their PEM forms, fingerprints and JWKs.
//!
//! Every key is an aws-lc-rs `RsaKeyPair`; nothing here prints a private key (the `Debug` impl
//! of [`RsaKey`] shows only the public fingerprint).

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use md5::Digest as _;

/// A secret string (a token): usable, but never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret(<{} bytes redacted>)", self.0.len())
    }
}

/// A failure inside the crypto library. aws-lc-rs reports no detail, so neither can this.
#[derive(Debug, thiserror::Error)]
#[error("{what} failed in the crypto library")]
pub struct CryptoError {
    pub what: &'static str,
}

fn fail(what: &'static str) -> impl FnOnce(aws_lc_rs::error::Unspecified) -> CryptoError {
    move |_| CryptoError { what }
}

/// An RSA key pair with its public forms precomputed.
pub struct RsaKey {
    pair: RsaKeyPair,
    pkcs8_der: Vec<u8>,
    spki_der: Vec<u8>,
}

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RsaKey")
            .field("md5_fingerprint", &self.md5_fingerprint())
            .finish_non_exhaustive()
    }
}

impl RsaKey {
    /// A fresh RSA-2048 key (e = 65537).
    pub fn generate() -> Result<Self, CryptoError> {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(fail("RSA key generation"))?;
        Self::from_pair(pair)
    }

    /// Loads a PKCS#8 DER private key (used by tests that inject known keys).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|_| CryptoError {
            what: "parsing a PKCS#8 RSA private key",
        })?;
        Self::from_pair(pair)
    }

    fn from_pair(pair: RsaKeyPair) -> Result<Self, CryptoError> {
        let pkcs8_der = pair
            .as_der()
            .map_err(fail("PKCS#8 encoding"))?
            .as_ref()
            .to_vec();
        let spki_der = pair
            .public_key()
            .as_der()
            .map_err(fail("public key encoding"))?
            .as_ref()
            .to_vec();
        Ok(Self {
            pair,
            pkcs8_der,
            spki_der,
        })
    }

    /// PKCS#8 `-----BEGIN PRIVATE KEY-----` PEM (what the OCI Console generator writes).
    pub fn private_pkcs8_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.pkcs8_der)
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8_der
    }

    /// SubjectPublicKeyInfo DER.
    pub fn public_spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    pub fn public_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der)
    }

    /// OCI's API-key fingerprint: MD5 of the SPKI DER, lower-case hex pairs joined by `:`.
    pub fn md5_fingerprint(&self) -> String {
        md5_fingerprint(&self.spki_der)
    }

    /// The public key as an RSA JWK (`{"kty":"RSA","n":..,"e":..}`), serialised as a string
    /// the way OCI tokens carry it in their `jwk` claim.
    pub fn public_jwk(&self) -> PublicJwk {
        let components: PublicKeyComponents<Vec<u8>> = self.pair.public_key().into();
        PublicJwk {
            n: components.n,
            e: components.e,
        }
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256.
    pub fn sign_sha256(&self, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut sig = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut sig,
            )
            .map_err(fail("RSA signing"))?;
        Ok(sig)
    }
}

/// The public half of an RSA key as its two big-endian integers.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicJwk {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

impl fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicJwk(n: {} bytes)", self.n.len())
    }
}

impl PublicJwk {
    /// Reads an RSA public key from DER (SubjectPublicKeyInfo or PKCS#1 RSAPublicKey).
    pub fn from_public_der(der: &[u8]) -> Option<Self> {
        let key = aws_lc_rs::rsa::PublicKey::from_der(der).ok()?;
        let components: PublicKeyComponents<Vec<u8>> = (&key).into();
        Some(Self {
            n: components.n,
            e: components.e,
        })
    }

    /// Parses the JSON text of an RSA JWK; `None` when it is not one.
    pub fn from_json(text: &str) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        if v.get("kty")?.as_str()? != "RSA" {
            return None;
        }
        let n = URL_SAFE_NO_PAD.decode(v.get("n")?.as_str()?).ok()?;
        let e = URL_SAFE_NO_PAD.decode(v.get("e")?.as_str()?).ok()?;
        Some(Self {
            n: strip_leading_zeros(n),
            e: strip_leading_zeros(e),
        })
    }

    pub fn to_json(&self, kid: &str) -> String {
        serde_json::json!({
            "kid": kid,
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(&self.n),
            "e": URL_SAFE_NO_PAD.encode(&self.e),
        })
        .to_string()
    }

    /// Verifies an RSASSA-PKCS1-v1_5 SHA-256 signature (2048..8192-bit keys).
    pub fn verify_sha256(&self, message: &[u8], sig: &[u8]) -> bool {
        signature::RsaPublicKeyComponents {
            n: self.n.as_slice(),
            e: self.e.as_slice(),
        }
        .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
        .is_ok()
    }
}

fn strip_leading_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|b| **b == 0).count();
    v.drain(..zeros.min(v.len().saturating_sub(1)));
    v
}

pub fn md5_fingerprint(der: &[u8]) -> String {
    colon_hex(&md5::Md5::digest(der), false)
}

pub fn sha1_fingerprint(der: &[u8]) -> String {
    colon_hex(
        digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, der).as_ref(),
        true,
    )
}

pub fn sha256_fingerprint(der: &[u8]) -> String {
    colon_hex(digest::digest(&digest::SHA256, der).as_ref(), true)
}

pub fn sha256_b64(data: &[u8]) -> String {
    STANDARD.encode(digest::digest(&digest::SHA256, data).as_ref())
}

fn colon_hex(bytes: &[u8], upper: bool) -> String {
    bytes
        .iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect::<Vec<_>>()
        .join(":")
}

pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Strips PEM armour and whitespace and decodes the base64 body; accepts bare base64 too
/// (what the federation body carries).
pub fn pem_or_b64_decode(text: &str) -> Option<Vec<u8>> {
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_round_trips_through_jwk_and_verifies_its_own_signature() {
        let key = RsaKey::generate().unwrap();
        let jwk_text = key.public_jwk().to_json("k");
        let jwk = PublicJwk::from_json(&jwk_text).unwrap();
        let sig = key.sign_sha256(b"hello").unwrap();
        assert!(jwk.verify_sha256(b"hello", &sig));
        assert!(!jwk.verify_sha256(b"hellO", &sig));
        assert_eq!(PublicJwk::from_public_der(key.public_spki_der()), Some(jwk));
    }

    #[test]
    fn debug_output_shows_no_private_material() {
        let key = RsaKey::generate().unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.md5_fingerprint()));
        assert!(!shown.contains("PRIVATE"));
        let b64 = STANDARD.encode(key.pkcs8_der());
        assert!(!shown.contains(&b64[40..80]));
    }

    #[test]
    fn fingerprint_has_oci_shape() {
        let key = RsaKey::generate().unwrap();
        let fp = key.md5_fingerprint();
        assert_eq!(fp.len(), 47);
        assert!(fp.split(':').all(|p| {
            p.len() == 2
                && p.chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        }));
    }
}
