//! The auth service (`/v1`): x509 federation (instance principals) and session-token refresh;
//! plus the simulator's credentials: its token-signing key, its PKI, and the keys and tokens
//! it hands out through the files it writes.

use std::time::{Duration, SystemTime};

use http::Method;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::auth::{FederationCert, KeyIdKind, KeyStore, Principal, SigningRule};
use crate::clock::unix_secs;
use crate::crypto::{CryptoError, PublicJwk, RsaKey, Secret, pem_or_b64_decode};
use crate::http::router::{Access, Call, Operation, op};
use crate::http::{ApiError, SimResponse, internal};
use crate::jwt;
use crate::ocid::Ocid;
use crate::pki::{CertificateAuthority, IssuedCert, LeafSubject, PkiError};
use crate::state::Ctx;

/// The `kid` of the simulator's token-signing key.
pub const TOKEN_KID: &str = "oci-sim-token-key";
/// How long an instance leaf certificate is valid (on the simulated clock).
pub const LEAF_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// IMDS never serves a leaf with less than this left: when the simulated clock comes this
/// close to the current leaf's notAfter, the next IMDS read issues a new leaf and key (as OCI
/// rotates instance certificates ahead of expiry), so a client that fetches its certificate
/// from IMDS always gets one that federates.
pub const LEAF_RENEW_BEFORE: Duration = Duration::from_secs(3600);

/// The resource principal of the simulated function (what `DIR/rp/` holds).
#[derive(Debug)]
pub struct ResourcePrincipal {
    pub function_id: Ocid,
    pub compartment_id: Ocid,
    pub key: RsaKey,
    pub token: Secret,
}

/// Credentials and trust of the simulated realm.
#[derive(Debug)]
pub struct AuthState {
    pub keys: KeyStore,
    token_key: RsaKey,
    /// Lifetime of tokens issued from now on (`PUT /_sim/tokens`).
    pub token_lifetime: Duration,
    pub ca: CertificateAuthority,
    /// The host instance's current leaf certificate (what IMDS serves).
    pub instance_leaf: IssuedCert,
    pub host: LeafSubject,
    pub tenancy_id: Ocid,
    pub user_id: Ocid,
    /// The DEFAULT profile's API key.
    pub api_key: RsaKey,
    /// The SESSION profile's key and token.
    pub session_key: RsaKey,
    pub session_token: Secret,
    pub rp: ResourcePrincipal,
}

/// Fresh keys for [`AuthState::new`], generated outside any lock.
#[derive(Debug)]
pub struct AuthKeys {
    pub token: RsaKey,
    pub api: RsaKey,
    pub session: RsaKey,
    pub rp: RsaKey,
    pub leaf: RsaKey,
}

impl AuthKeys {
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self {
            token: RsaKey::generate()?,
            api: RsaKey::generate()?,
            session: RsaKey::generate()?,
            rp: RsaKey::generate()?,
            leaf: RsaKey::generate()?,
        })
    }
}

/// Who the seeded credentials belong to.
#[derive(Debug, Clone)]
pub struct AuthSeed {
    pub tenancy: Ocid,
    pub user: Ocid,
    pub compartment: Ocid,
    pub host_instance: Ocid,
    pub function: Ocid,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Pki(#[from] PkiError),
}

fn claims(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), Value::String((*v).to_string())))
        .collect()
}

impl AuthState {
    pub fn new(
        seed: &AuthSeed,
        keys: AuthKeys,
        now: SystemTime,
        token_now: i64,
        token_lifetime: Duration,
    ) -> Result<Self, AuthSetupError> {
        let mut store = KeyStore::default();
        store.add_token_key(keys.token.public_jwk());
        store.add_api_key(
            seed.tenancy.as_str(),
            seed.user.as_str(),
            &keys.api.md5_fingerprint(),
            keys.api.public_jwk(),
        );
        let mut ca = CertificateAuthority::new(now)?;
        let host = LeafSubject {
            instance_id: seed.host_instance.to_string(),
            compartment_id: seed.compartment.to_string(),
            tenancy_id: seed.tenancy.to_string(),
        };
        let leaf = ca.issue_instance_leaf(&host, keys.leaf, now, LEAF_LIFETIME)?;
        store.add_certificate(federation_cert(&leaf, &host));
        let placeholder = Secret::new("");
        let mut state = Self {
            keys: store,
            token_key: keys.token,
            token_lifetime,
            ca,
            instance_leaf: leaf,
            host,
            tenancy_id: seed.tenancy.clone(),
            user_id: seed.user.clone(),
            api_key: keys.api,
            session_key: keys.session,
            session_token: placeholder.clone(),
            rp: ResourcePrincipal {
                function_id: seed.function.clone(),
                compartment_id: seed.compartment.clone(),
                key: keys.rp,
                token: placeholder,
            },
        };
        state.session_token = state.issue_session_token(token_now)?;
        state.rp.token = state.issue_rpst(token_now)?;
        Ok(state)
    }

    /// Signs a token with the simulator's key: adds `iss`, `aud`, `iat`, `exp`, `jti` and the
    /// `jwk` claim (the caller's session public key as a JSON string).
    pub fn issue(
        &self,
        mut claims: Map<String, Value>,
        session_key: &PublicJwk,
        now: i64,
    ) -> Result<Secret, CryptoError> {
        let lifetime = i64::try_from(self.token_lifetime.as_secs()).unwrap_or(i64::MAX / 2);
        claims.insert("iss".into(), "authService.oracle.com".into());
        claims.insert("aud".into(), "oci".into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), now.saturating_add(lifetime).into());
        claims.insert("jti".into(), uuid::Uuid::new_v4().to_string().into());
        claims.insert("jwk".into(), session_key.to_json("session-key").into());
        jwt::sign(&self.token_key, TOKEN_KID, &claims).map(Secret::new)
    }

    /// A user session token (UPST) for the SESSION profile.
    pub fn issue_session_token(&self, now: i64) -> Result<Secret, CryptoError> {
        let c = claims(&[
            ("sub", self.user_id.as_str()),
            ("tenant", self.tenancy_id.as_str()),
            ("ptype", "user"),
        ]);
        self.issue(c, &self.session_key.public_jwk(), now)
    }

    /// A resource-principal session token for the simulated function.
    pub fn issue_rpst(&self, now: i64) -> Result<Secret, CryptoError> {
        let c = claims(&[
            ("sub", self.rp.function_id.as_str()),
            ("ptype", "resource"),
            ("res_type", "fnfunc"),
            ("res_id", self.rp.function_id.as_str()),
            ("res_compartment", self.rp.compartment_id.as_str()),
            ("res_tenant", self.tenancy_id.as_str()),
            ("tenant", self.tenancy_id.as_str()),
        ]);
        self.issue(c, &self.rp.key.public_jwk(), now)
    }

    /// Replaces the host's leaf certificate and key; the old certificate stays trusted for
    /// federation until it expires (a client that has not re-fetched is not locked out).
    /// Expired certificates stay known, so federating with one says it expired.
    pub fn rotate_instance_cert(&mut self, key: RsaKey, now: SystemTime) -> Result<(), PkiError> {
        let leaf = self
            .ca
            .issue_instance_leaf(&self.host, key, now, LEAF_LIFETIME)?;
        self.keys
            .add_certificate(federation_cert(&leaf, &self.host));
        self.instance_leaf = leaf;
        Ok(())
    }

    /// Whether the leaf IMDS serves has less than [`LEAF_RENEW_BEFORE`] left at `now` (the
    /// simulated clock), or has expired.
    pub fn leaf_needs_renewal(&self, now: SystemTime) -> bool {
        self.instance_leaf
            .not_after
            .duration_since(now)
            .map_or(true, |left| left < LEAF_RENEW_BEFORE)
    }

    /// New resource-principal key and RPST; the old RPST stays valid until its `exp`.
    pub fn rotate_resource_principal(&mut self, key: RsaKey, now: i64) -> Result<(), CryptoError> {
        self.rp.key = key;
        self.rp.token = self.issue_rpst(now)?;
        Ok(())
    }
}

fn federation_cert(leaf: &IssuedCert, host: &LeafSubject) -> FederationCert {
    FederationCert {
        der: leaf.der.clone(),
        sha1: leaf.sha1_fingerprint(),
        sha256: leaf.sha256_fingerprint(),
        public: leaf.key.public_jwk(),
        tenancy: host.tenancy_id.clone(),
        instance_id: host.instance_id.clone(),
        not_after: unix_secs(leaf.not_after),
    }
}

pub fn operations() -> Vec<Operation> {
    vec![
        op(
            "X509FederationRequest",
            "auth",
            Method::POST,
            "/v1/x509",
            Access::Signed(SigningRule::Federation),
            federate_x509,
        ),
        op(
            "RefreshSessionToken",
            "auth",
            Method::POST,
            "/v1/authentication/refresh",
            Access::Signed(SigningRule::Standard),
            refresh_session_token,
        ),
    ]
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct X509FederationBody {
    certificate: String,
    public_key: String,
    #[serde(default)]
    intermediate_certificates: Vec<String>,
    #[serde(default)]
    purpose: Option<String>,
    #[serde(default)]
    fingerprint_algorithm: Option<String>,
}

fn federate_x509(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let Principal::Federation {
        tenancy,
        instance_id,
        cert_der,
    } = call.principal()?
    else {
        return Err(ApiError::not_authenticated(
            "the federation call must be signed with a fed-x509 or fed-x509-sha256 keyId",
        ));
    };
    let body: X509FederationBody = call.req.json()?;
    if let Some(alg) = &body.fingerprint_algorithm
        && alg != "SHA256"
        && alg != "SHA1"
    {
        return Err(ApiError::invalid_parameter(format!(
            "fingerprintAlgorithm must be SHA256 or SHA1, got {alg:?}"
        )));
    }
    let _ = &body.purpose;
    let cert = pem_or_b64_decode(&body.certificate).ok_or_else(|| {
        ApiError::invalid_parameter("certificate must be a base64 DER certificate")
    })?;
    if &cert != cert_der {
        return Err(ApiError::not_authenticated(
            "the certificate in the body is not the certificate that signed the request",
        ));
    }
    let session_key = pem_or_b64_decode(&body.public_key)
        .and_then(|der| PublicJwk::from_public_der(&der))
        .ok_or_else(|| {
            ApiError::invalid_parameter("publicKey must be a base64 SubjectPublicKeyInfo RSA key")
        })?;
    let now = ctx.clock.now_unix();
    let world = ctx.world();
    let auth = &world.auth;
    let chain_ok = body
        .intermediate_certificates
        .iter()
        .filter_map(|c| pem_or_b64_decode(c))
        .any(|der| der == auth.ca.intermediate.der);
    if !chain_ok {
        return Err(ApiError::not_authenticated(
            "intermediateCertificates does not contain the intermediate that issued the certificate",
        ));
    }
    let compartment = world
        .compute
        .instances
        .iter()
        .find(|i| i.id.as_str() == instance_id)
        .map(|i| i.compartment_id.to_string())
        .unwrap_or_else(|| auth.host.compartment_id.clone());
    let c = claims(&[
        ("sub", instance_id),
        ("tenant", tenancy),
        ("res_tenant", tenancy),
        ("ptype", "instance"),
        ("opc-instance", instance_id),
        ("opc-compartment", &compartment),
        ("opc-tenant", tenancy),
    ]);
    let token = auth.issue(c, &session_key, now).map_err(internal)?;
    Ok(SimResponse::ok_json(
        &serde_json::json!({"token": token.expose()}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshBody {
    current_token: String,
}

fn refresh_session_token(ctx: &Ctx, call: &Call<'_>) -> Result<SimResponse, ApiError> {
    let Principal::Token {
        kind,
        claims,
        token,
        ..
    } = call.principal()?
    else {
        return Err(ApiError::not_authenticated(
            "the refresh call must be signed with the session token (ST$ keyId)",
        ));
    };
    let body: RefreshBody = call.req.json()?;
    if body.current_token.trim() != token.expose() {
        return Err(ApiError::not_authenticated(
            "currentToken is not the token that signed the request",
        ));
    }
    if *kind != KeyIdKind::Session {
        return Err(ApiError::invalid_parameter(
            "only session tokens can be refreshed",
        ));
    }
    let session_key = claims
        .jwk()
        .ok_or_else(|| ApiError::not_authenticated("the session token has no jwk claim"))?;
    let mut fresh = claims.0.clone();
    for k in ["iat", "exp", "jti", "jwk", "iss", "aud"] {
        fresh.remove(k);
    }
    let now = ctx.clock.now_unix();
    let world = ctx.world();
    let token = world
        .auth
        .issue(fresh, &session_key, now)
        .map_err(internal)?;
    Ok(SimResponse::ok_json(
        &serde_json::json!({"token": token.expose()}),
    ))
}
