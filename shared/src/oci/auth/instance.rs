//! Instance principal: IMDS v2 documents, x509 federation, `ST$<token>` with an in-memory
//! session key.
//!
//! # Flow
//! 1. IMDS v2 (`http://169.254.169.254/opc/v2`, override: the `metadata_base_url` setting,
//!    else env `OCI_METADATA_BASE_URL`), every request with `Authorization: Bearer Oracle`:
//!    `/instance/region` and `/instance/id` once, then at every federation
//!    `/identity/cert.pem`, `/identity/key.pem` and `/identity/intermediate.pem` together
//!    (they rotate together). IMDS requests are retried on connection errors, 404, 429 and
//!    5xx, at most 8 attempts within 180 s.
//! 2. The tenancy is the leaf certificate subject's `OU=opc-tenant:<ocid>` (or
//!    `opc-identity:`); a later certificate naming another tenancy is refused.
//! 3. A fresh RSA-2048 session key is generated for every federation.
//! 4. `POST https://auth.<region>.<sld>/v1/x509` (or `<endpoint override>/v1/x509`) with
//!    `{"certificate", "publicKey", "intermediateCertificates", "purpose": "DEFAULT",
//!    "fingerprintAlgorithm": "SHA256"}`, signed with the leaf key, keyId
//!    `<tenancy>/fed-x509-sha256/<SHA-256 of the leaf, upper-case colon hex>`, `host` not
//!    signed. Retried (3 attempts) on 5xx and connection errors; a 4xx fails at once.
//! 5. The reply `{"token": "<JWT>"}`; requests are then signed with `ST$<token>` and the session
//!    key, until `exp - now < 5 min` (then steps 1–5 again) or a 401 (refresh once).
//!
//! # Renewal while the token still works
//! A renewal that starts while the token is still valid is an opportunity, not a necessity:
//! it gets a short budget ([`FederationBudget::Short`]: [`IMDS_PROBE_RETRY`],
//! [`FEDERATION_PROBE_RETRY`], at most [`SHORT_REFRESH_TIMEOUT`] in all), only one caller runs
//! it while the others go on with the current token, and after a failure the next attempt
//! waits [`REFRESH_RETRY_INTERVAL`]. Only once the token has expired does a renewal get the
//! full budget ([`FederationBudget::Full`]); callers that queued behind a renewal that failed
//! get its failure instead of starting another.
//!
//! # HTTP
//! The metadata service is link-local and always reached directly; the federation call goes
//! to the auth service like any OCI call, through the environment's proxy (see
//! [`ProxyConfig`]). Answers are read up to [`MAX_IMDS_RESPONSE_BYTES`] and
//! [`MAX_FEDERATION_RESPONSE_BYTES`]; a larger one is refused, not retried. A federation
//! answer whose body breaks off is a transport failure and is retried.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http::{HeaderMap, HeaderValue, Method};
use url::Url;
use x509_cert::der::Decode as _;
use x509_cert::der::{Tag, Tagged as _};

use super::{
    AuthContext, AuthError, AuthSettings, CredentialProvider, Credentials, Principal,
    PrincipalKind, lock, needs_refresh,
};
use crate::clock::{Clock, Sleeper};
use crate::http::{
    BodyError, ProxyConfig, SystemResolver, http_client_with_resolver, read_body_limited,
    redact_url,
};
use crate::ids::{InstanceId, TenancyId};
use crate::oci::endpoints::{Endpoints, Service};
use crate::oci::keys::{SigningKey, colon_hex, parse_pem_blocks};
use crate::oci::region::Region;
use crate::oci::retry::{RetryPolicy, backoff_delay, may_retry};
use crate::oci::signer::{self, BodyMode, KeyId, SignRequest};
use crate::oci::token::{SecurityToken, format_time};
use crate::oci::wire::parse_error_body;

/// The default IMDS v2 base URL.
pub const DEFAULT_METADATA_BASE_URL: &str = "http://169.254.169.254/opc/v2";
/// The environment variable overriding it.
pub const METADATA_BASE_URL_ENV: &str = "OCI_METADATA_BASE_URL";

/// The OID of `organizationalUnitName`.
const OID_OU: &str = "2.5.4.11";

/// IMDS retry limits: 8 attempts within 180 s (the Python SDK's numbers).
pub const IMDS_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 8,
    base_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(30),
    max_total: Duration::from_secs(180),
};

/// Limits for the very first IMDS request when it cannot even connect: on an OCI instance the
/// link-local metadata service always accepts connections, so a refused or timed-out
/// connection means "not an OCI instance" and waiting the full [`IMDS_RETRY`] budget (three
/// minutes) would only delay that answer. Statuses (429, 5xx) still get the full budget.
pub const IMDS_PROBE_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 2,
    base_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(1),
    max_total: Duration::from_secs(5),
};

/// Federation retry limits: 3 attempts (5xx and connection errors only).
pub const FEDERATION_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 3,
    base_delay: Duration::from_secs(1),
    max_delay: Duration::from_secs(4),
    max_total: Duration::from_secs(100),
};

/// Federation retry limits while the current token still works ([`FederationBudget::Short`]).
pub const FEDERATION_PROBE_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 2,
    base_delay: Duration::from_millis(500),
    max_delay: Duration::from_secs(1),
    max_total: Duration::from_secs(5),
};

/// The most a renewal may take while the current token still works; callers wait at most this
/// long for credentials then (one caller; the others use the current token at once).
pub const SHORT_REFRESH_TIMEOUT: Duration = Duration::from_secs(10);

/// After a renewal failed while the token still works, the next attempt waits this long.
pub const REFRESH_RETRY_INTERVAL: Duration = Duration::from_secs(30);

/// The request timeout of metadata-service and federation requests.
const AUTH_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most bytes read of one metadata-service document: 64 KiB (a certificate, a key or a
/// region name is a few KiB at most). A larger answer is refused, not retried.
pub const MAX_IMDS_RESPONSE_BYTES: usize = 64 * 1024;

/// The most bytes read of one federation answer: 1 MiB (`{"token": "<JWT>"}` is a few KiB).
/// A larger answer is refused, not retried.
pub const MAX_FEDERATION_RESPONSE_BYTES: usize = 1024 * 1024;

/// How hard a federation tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FederationBudget {
    /// The current token still works: [`IMDS_PROBE_RETRY`] for every metadata request and
    /// [`FEDERATION_PROBE_RETRY`] for the federation call, so a failing metadata service or
    /// auth service costs seconds, not minutes.
    Short,
    /// There is no usable token (startup, expiry, a 401): [`IMDS_RETRY`] and
    /// [`FEDERATION_RETRY`].
    Full,
}

impl FederationBudget {
    fn imds(self) -> &'static RetryPolicy {
        match self {
            FederationBudget::Short => &IMDS_PROBE_RETRY,
            FederationBudget::Full => &IMDS_RETRY,
        }
    }

    fn federation(self) -> &'static RetryPolicy {
        match self {
            FederationBudget::Short => &FEDERATION_PROBE_RETRY,
            FederationBudget::Full => &FEDERATION_RETRY,
        }
    }
}

/// The identity documents fetched from IMDS for one federation.
#[derive(Clone)]
pub struct ImdsDocuments {
    /// `/identity/cert.pem`: the leaf certificate.
    pub leaf_certificate_pem: String,
    /// `/identity/key.pem`: the leaf private key (a secret).
    pub leaf_private_key_pem: String,
    /// `/identity/intermediate.pem`: the intermediate CA certificate(s).
    pub intermediate_certificate_pem: String,
}

impl fmt::Debug for ImdsDocuments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImdsDocuments")
            .field(
                "leaf_certificate_pem",
                &format_args!("<{} bytes>", self.leaf_certificate_pem.len()),
            )
            .field("leaf_private_key_pem", &"<redacted>")
            .field(
                "intermediate_certificate_pem",
                &format_args!("<{} bytes>", self.intermediate_certificate_pem.len()),
            )
            .finish()
    }
}

/// A parsed instance leaf certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct LeafCertificate {
    der: Vec<u8>,
    tenancy: TenancyId,
}

impl LeafCertificate {
    /// Parses the leaf PEM and reads the tenancy from its subject (`OU=opc-tenant:<ocid>`, or
    /// `OU=opc-identity:<ocid>`); OU values longer than X.509's 64-character bound are accepted.
    pub fn from_pem(pem: &str) -> Result<Self, AuthError> {
        let der = certificate_ders(pem, "/identity/cert.pem")?
            .into_iter()
            .next()
            .ok_or_else(|| doc_error("/identity/cert.pem", "no certificate in the document"))?;
        let tenancy = tenancy_from_certificate_der(&der)?.ok_or_else(|| {
            doc_error(
                "/identity/cert.pem",
                "the certificate subject has no `OU=opc-tenant:<tenancy OCID>`",
            )
        })?;
        let tenancy = tenancy.trim().parse::<TenancyId>().map_err(|e| {
            doc_error(
                "/identity/cert.pem",
                format!("the tenancy in the certificate subject (OU=opc-tenant) is unusable: {e}"),
            )
        })?;
        Ok(Self { der, tenancy })
    }

    /// The tenancy named by the subject.
    pub fn tenancy(&self) -> &TenancyId {
        &self.tenancy
    }

    /// The certificate DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// base64 DER (a PEM without armour or newlines), as the federation body wants it.
    pub fn base64(&self) -> String {
        B64.encode(&self.der)
    }

    /// SHA-1 of the DER, upper-case colon hex (the `fed-x509` keyId form).
    pub fn sha1_fingerprint(&self) -> String {
        colon_hex(
            digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &self.der).as_ref(),
            true,
        )
    }

    /// SHA-256 of the DER, upper-case colon hex (the `fed-x509-sha256` keyId form).
    pub fn sha256_fingerprint(&self) -> String {
        colon_hex(digest::digest(&digest::SHA256, &self.der).as_ref(), true)
    }
}

impl fmt::Debug for LeafCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeafCertificate")
            .field("tenancy", &self.tenancy)
            .field("sha256", &self.sha256_fingerprint())
            .finish()
    }
}

fn doc_error(document: &'static str, reason: impl Into<String>) -> AuthError {
    AuthError::ImdsDocument {
        document,
        reason: reason.into(),
    }
}

/// The DER of every `CERTIFICATE` block in `pem`.
fn certificate_ders(pem: &str, document: &'static str) -> Result<Vec<Vec<u8>>, AuthError> {
    let blocks = parse_pem_blocks(pem).map_err(|e| match e {
        crate::oci::keys::KeyError::NotPem => {
            doc_error(document, "no `-----BEGIN CERTIFICATE-----` block")
        }
        other => doc_error(document, other.to_string()),
    })?;
    Ok(blocks
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| b.der)
        .collect())
}

/// The tenancy OCID in a certificate subject (`OU=opc-tenant:` first, then `opc-identity:`).
pub fn tenancy_from_certificate_der(der: &[u8]) -> Result<Option<String>, AuthError> {
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| {
        doc_error(
            "/identity/cert.pem",
            format!("not a valid X.509 certificate ({e})"),
        )
    })?;
    let mut tenant = None;
    let mut identity = None;
    for atv in cert.tbs_certificate().subject().iter() {
        if atv.oid.to_string() != OID_OU {
            continue;
        }
        // Read the raw string value: no length bound is applied (OCI's OU values exceed 64).
        let tag = atv.value.tag();
        if !matches!(
            tag,
            Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString
        ) {
            continue;
        }
        let Ok(text) = std::str::from_utf8(atv.value.value()) else {
            continue;
        };
        if let Some(t) = text.strip_prefix("opc-tenant:") {
            tenant.get_or_insert_with(|| t.to_string());
        } else if let Some(t) = text.strip_prefix("opc-identity:") {
            identity.get_or_insert_with(|| t.to_string());
        }
    }
    Ok(tenant.or(identity).filter(|t| !t.is_empty()))
}

/// A signed-ready federation call.
#[derive(Debug, Clone)]
pub struct FederationRequest {
    /// `<tenancy>/fed-x509-sha256/<fingerprint>`.
    pub key_id: KeyId,
    /// The IMDS leaf key that signs the call.
    pub leaf_key: SigningKey,
    /// The JSON body.
    pub body: Vec<u8>,
    /// The tenancy of the leaf certificate.
    pub tenancy: TenancyId,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct FederationBody<'a> {
    certificate: String,
    public_key: String,
    intermediate_certificates: Vec<String>,
    purpose: &'a str,
    fingerprint_algorithm: &'a str,
}

/// Builds the federation call from the IMDS documents and a (fresh) session key. Fails when
/// `expected_tenancy` is given and the certificate names another tenancy.
pub fn prepare_federation(
    docs: &ImdsDocuments,
    session_key: &SigningKey,
    expected_tenancy: Option<&TenancyId>,
) -> Result<FederationRequest, AuthError> {
    let leaf = LeafCertificate::from_pem(&docs.leaf_certificate_pem)?;
    if let Some(expected) = expected_tenancy
        && expected != leaf.tenancy()
    {
        return Err(AuthError::TenancyChanged {
            before: expected.clone(),
            now: leaf.tenancy().clone(),
        });
    }
    let leaf_key = SigningKey::from_pem(&docs.leaf_private_key_pem, None).map_err(|e| {
        doc_error(
            "/identity/key.pem",
            format!("unusable leaf private key: {e}"),
        )
    })?;
    let intermediates = certificate_ders(
        &docs.intermediate_certificate_pem,
        "/identity/intermediate.pem",
    )?
    .iter()
    .map(|der| B64.encode(der))
    .collect::<Vec<_>>();
    if intermediates.is_empty() {
        return Err(doc_error(
            "/identity/intermediate.pem",
            "no certificate in the document",
        ));
    }
    let body = FederationBody {
        certificate: leaf.base64(),
        public_key: session_key.public_key_base64(),
        intermediate_certificates: intermediates,
        purpose: "DEFAULT",
        fingerprint_algorithm: "SHA256",
    };
    let body = serde_json::to_vec(&body).map_err(|e| {
        doc_error(
            "/identity/cert.pem",
            format!("cannot encode the federation body: {e}"),
        )
    })?;
    Ok(FederationRequest {
        key_id: KeyId::FederationX509Sha256 {
            tenancy: leaf.tenancy().clone(),
            fingerprint: leaf.sha256_fingerprint(),
        },
        leaf_key,
        body,
        tenancy: leaf.tenancy().clone(),
    })
}

/// Reads the token from a 2xx federation reply (`{"token": "<JWT>"}`).
pub fn parse_federation_response(body: &[u8]) -> Result<SecurityToken, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "the reply is not JSON".to_string())?;
    let token = value
        .get("token")
        .and_then(|t| t.as_str())
        .ok_or_else(|| "the reply has no string `token` field".to_string())?;
    SecurityToken::parse(token).map_err(|e| format!("the reply's token is unusable: {e}"))
}

/// True for IMDS statuses worth retrying: 404, 429 and 5xx.
pub fn imds_status_is_retryable(status: u16) -> bool {
    status == 404 || status == 429 || status >= 500
}

/// The IMDS base URL: the setting, else env `OCI_METADATA_BASE_URL`, else the default.
///
/// It must be an `http://` or `https://` URL with a host and without user info, query or
/// fragment (it appears in messages, so it must not carry credentials); errors show the value
/// with those parts redacted.
pub fn metadata_base_url(settings: &AuthSettings, env: &crate::env::Env) -> Result<Url, AuthError> {
    let (value, origin) = match (
        &settings.metadata_base_url,
        env.get_non_empty(METADATA_BASE_URL_ENV),
    ) {
        (Some(u), _) => (u.to_string(), "the `metadata_base_url` setting".to_string()),
        (None, Some(v)) => (v.to_string(), format!("env {METADATA_BASE_URL_ENV}")),
        (None, None) => (
            DEFAULT_METADATA_BASE_URL.to_string(),
            "the default".to_string(),
        ),
    };
    let invalid = |reason| AuthError::InvalidMetadataUrl {
        value: redact_url(&value),
        origin: origin.clone(),
        reason,
    };
    let url = Url::parse(&value).map_err(|_| invalid("is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("must be an http:// or https:// URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not contain user info (a user name or password): the metadata service needs \
             none, and the URL appears in messages",
        ));
    }
    if url.query().is_some() {
        return Err(invalid("must not have a query (`?…`)"));
    }
    if url.fragment().is_some() {
        return Err(invalid("must not have a fragment (`#…`)"));
    }
    Ok(url)
}

/// The federation URL: `<endpoint override>/v1/x509`, else `https://auth.<region>.<sld>/v1/x509`.
pub fn federation_url(
    settings: &AuthSettings,
    env: &crate::env::Env,
    imds_region: &Region,
) -> Result<Url, AuthError> {
    let endpoints = Endpoints::from_settings(imds_region.clone(), settings.endpoint.as_ref(), env)
        .map_err(AuthError::Endpoint)?;
    endpoints
        .url(Service::Auth, "/v1/x509")
        .map_err(AuthError::Endpoint)
}

fn join(base: &Url, path: &str) -> String {
    format!("{}{path}", base.as_str().trim_end_matches('/'))
}

fn auth_http_client(
    purpose: &'static str,
    proxy: &ProxyConfig,
    resolver: Arc<dyn reqwest::dns::Resolve>,
) -> Result<reqwest::Client, AuthError> {
    http_client_with_resolver(AUTH_REQUEST_TIMEOUT, proxy, resolver)
        .map_err(|source| AuthError::HttpClient { purpose, source })
}

/// A new token and the session key it belongs to.
pub struct FederatedToken {
    /// The token (`ST$<token>` keyId).
    pub token: SecurityToken,
    /// The session key generated for this federation.
    pub session_key: SigningKey,
    /// The tenancy of the leaf certificate used.
    pub tenancy: TenancyId,
}

impl fmt::Debug for FederatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FederatedToken")
            .field("token", &self.token)
            .field("session_key", &self.session_key)
            .field("tenancy", &self.tenancy)
            .finish()
    }
}

/// One way of obtaining a token: the real one fetches IMDS documents and calls `/v1/x509`
/// ([`HttpFederation`]); tests can substitute one that builds the call from fixed documents
/// with [`prepare_federation`], so the caching logic is tested without a server.
#[async_trait]
pub trait Federation: Send + Sync + fmt::Debug {
    /// Fetches fresh documents, generates a new session key and exchanges them for a token,
    /// retrying as much as `budget` allows. Must fail with [`AuthError::TenancyChanged`] when
    /// `expected_tenancy` is given and the certificate names another tenancy.
    async fn federate(
        &self,
        expected_tenancy: Option<&TenancyId>,
        budget: FederationBudget,
    ) -> Result<FederatedToken, AuthError>;
}

/// The real federation: IMDS over HTTP and `POST /v1/x509`.
pub struct HttpFederation {
    /// The metadata service (direct).
    imds_http: reqwest::Client,
    /// The auth service (through the environment's proxy).
    federation_http: reqwest::Client,
    metadata_base: Url,
    federation_url: Url,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
}

impl fmt::Debug for HttpFederation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpFederation")
            .field("metadata_base", &self.metadata_base.as_str())
            .field("federation_url", &self.federation_url.as_str())
            .finish_non_exhaustive()
    }
}

impl HttpFederation {
    fn fetcher(&self) -> Fetcher<'_> {
        Fetcher {
            http: &self.imds_http,
            base: &self.metadata_base,
            clock: self.clock.as_ref(),
            sleeper: self.sleeper.as_ref(),
        }
    }
}

#[async_trait]
impl Federation for HttpFederation {
    async fn federate(
        &self,
        expected_tenancy: Option<&TenancyId>,
        budget: FederationBudget,
    ) -> Result<FederatedToken, AuthError> {
        federate_http(
            &self.fetcher(),
            &self.federation_http,
            &self.federation_url,
            expected_tenancy,
            budget,
        )
        .await
    }
}

/// The instance-principal provider: caches the token and session key, renews them when
/// `exp - now < 5 min` and after a 401 (see the module docs for renewals that fail).
#[derive(Debug)]
pub struct InstancePrincipalProvider {
    federation: Box<dyn Federation>,
    clock: Arc<dyn Clock>,
    region: Region,
    instance: Option<InstanceId>,
    tenancy: TenancyId,
    source: String,
    /// The current token and how the last renewal went; locked briefly, never across I/O.
    state: std::sync::Mutex<InstanceState>,
    /// Held while a renewal runs: one at a time.
    renewal: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct InstanceState {
    token: SecurityToken,
    creds: Arc<Credentials>,
    /// Renewals finished so far, successful or not: a caller that waited for a renewal sees
    /// from it that one finished meanwhile.
    renewals: u64,
    /// The last renewal failed.
    last_failed: bool,
    /// After a renewal failed while the token still worked: no new attempt before this.
    retry_at: Option<time::OffsetDateTime>,
}

impl InstanceState {
    fn from_federated(f: FederatedToken) -> Self {
        Self {
            creds: Arc::new(Credentials {
                key_id: KeyId::SecurityToken(f.token.clone()),
                key: f.session_key,
            }),
            token: f.token,
            renewals: 0,
            last_failed: false,
            retry_at: None,
        }
    }
}

impl InstancePrincipalProvider {
    /// Reads region and instance id from IMDS and federates once, so configuration problems
    /// show up now rather than at the first API call. `region_override` (explicit setting or
    /// `OCI_REGION`) wins over the IMDS region for API calls; federation always uses the
    /// instance's own region (or the endpoint override).
    pub async fn new(
        settings: &AuthSettings,
        ctx: &AuthContext,
        region_override: Option<Region>,
    ) -> Result<Self, AuthError> {
        let metadata_base = metadata_base_url(settings, &ctx.env)?;
        let (imds_http, federation_http) = match &ctx.http {
            Some(c) => (c.clone(), c.clone()),
            None => {
                let resolver = ctx
                    .resolver
                    .clone()
                    .unwrap_or_else(|| Arc::new(SystemResolver));
                (
                    // The metadata service is always direct, whatever its URL and the proxies.
                    auth_http_client(
                        "the instance metadata service",
                        &ProxyConfig::direct(),
                        resolver.clone(),
                    )?,
                    auth_http_client(
                        "instance principal federation",
                        &ProxyConfig::from_env(&ctx.env).map_err(AuthError::Proxy)?,
                        resolver,
                    )?,
                )
            }
        };
        let fetcher = Fetcher {
            http: &imds_http,
            base: &metadata_base,
            clock: ctx.clock.as_ref(),
            sleeper: ctx.sleeper.as_ref(),
        };
        let region_text = fetcher.get("/instance/region", &IMDS_RETRY, true).await?;
        let imds_region = Region::resolve(&region_text, "IMDS /instance/region", &ctx.env)
            .map_err(|e| doc_error("/instance/region", e.to_string()))?;
        let instance_text = fetcher.get("/instance/id", &IMDS_RETRY, false).await?;
        let instance = match instance_text.trim() {
            "" => None,
            id => Some(
                id.parse::<InstanceId>()
                    .map_err(|e| doc_error("/instance/id", format!("not an instance OCID: {e}")))?,
            ),
        };
        let federation_url = federation_url(settings, &ctx.env, &imds_region)?;
        let source = format!("instance metadata at {metadata_base}");
        let federation = HttpFederation {
            imds_http,
            federation_http,
            metadata_base,
            federation_url,
            clock: ctx.clock.clone(),
            sleeper: ctx.sleeper.clone(),
        };
        Self::with_federation(
            Box::new(federation),
            ctx.clock.clone(),
            region_override.unwrap_or(imds_region),
            instance,
            source,
        )
        .await
    }

    /// A provider over any [`Federation`]; federates once now (full budget).
    pub async fn with_federation(
        federation: Box<dyn Federation>,
        clock: Arc<dyn Clock>,
        region: Region,
        instance: Option<InstanceId>,
        source: String,
    ) -> Result<Self, AuthError> {
        let first = federation.federate(None, FederationBudget::Full).await?;
        let tenancy = first.tenancy.clone();
        let state = InstanceState::from_federated(first);
        tracing::info!(tenancy = %tenancy, region = %region, token = %state.token, "instance principal ready");
        Ok(Self {
            federation,
            clock,
            region,
            instance,
            tenancy,
            source,
            state: std::sync::Mutex::new(state),
            renewal: tokio::sync::Mutex::new(()),
        })
    }

    /// Federates with `budget` (bounded by [`SHORT_REFRESH_TIMEOUT`] when short) and records
    /// the outcome. The caller holds the renewal lock.
    async fn renew(&self, budget: FederationBudget) -> Result<Arc<Credentials>, AuthError> {
        let attempt = self.federation.federate(Some(&self.tenancy), budget);
        let result = match budget {
            FederationBudget::Full => attempt.await,
            FederationBudget::Short => tokio::time::timeout(SHORT_REFRESH_TIMEOUT, attempt)
                .await
                .unwrap_or(Err(AuthError::RenewalTimedOut {
                    seconds: SHORT_REFRESH_TIMEOUT.as_secs(),
                })),
        };
        let now = self.clock.now();
        let mut state = lock(&self.state);
        state.renewals += 1;
        match result {
            Ok(federated) => {
                let renewals = state.renewals;
                *state = InstanceState::from_federated(federated);
                state.renewals = renewals;
                tracing::debug!(token = %state.token, "instance principal token renewed");
                Ok(state.creds.clone())
            }
            Err(e) => {
                state.last_failed = true;
                // An error the current token may outlive puts the next attempt off; one it may
                // not (a tenancy change) is met again at the next call.
                state.retry_at = (tolerable(&e) && !state.token.is_expired(now))
                    .then(|| now + REFRESH_RETRY_INTERVAL);
                Err(e)
            }
        }
    }

    fn renewal_failed_error(&self, token: &SecurityToken) -> AuthError {
        AuthError::TokenExpired {
            origin: self.source.clone(),
            expired_at: token.expires_at().map(format_time).unwrap_or_default(),
            hint: " (the renewal this call waited for failed; its error is logged)",
        }
    }
}

/// Fetches IMDS documents with the v2 header and an IMDS retry policy.
struct Fetcher<'a> {
    http: &'a reqwest::Client,
    base: &'a Url,
    clock: &'a dyn Clock,
    sleeper: &'a dyn Sleeper,
}

impl Fetcher<'_> {
    /// GETs `path`, retrying within `policy`. With `probe` (the first request of a provider),
    /// a failure to connect gets only [`IMDS_PROBE_RETRY`].
    async fn get(
        &self,
        path: &'static str,
        policy: &RetryPolicy,
        probe: bool,
    ) -> Result<String, AuthError> {
        let url = join(self.base, path);
        let start = self.clock.now();
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let result = self
                .http
                .get(&url)
                .header(http::header::AUTHORIZATION, "Bearer Oracle")
                .send()
                .await;
            let (status, source) = match result {
                Ok(resp) if resp.status().is_success() => {
                    match read_body_limited(resp, MAX_IMDS_RESPONSE_BYTES).await {
                        Ok(body) => return Ok(String::from_utf8_lossy(&body).into_owned()),
                        Err(BodyError::TooLarge { limit }) => {
                            return Err(AuthError::ResponseTooLarge {
                                request: format!("instance metadata request GET {url}"),
                                limit,
                            });
                        }
                        // The connection failed mid-answer: a transport error, retried.
                        Err(BodyError::Read(e)) => (None, Some(e)),
                    }
                }
                Ok(resp) => (Some(resp.status().as_u16()), None),
                Err(e) => (None, Some(e)),
            };
            let retryable = status.is_none_or(imds_status_is_retryable);
            let policy = if probe && status.is_none() {
                &IMDS_PROBE_RETRY
            } else {
                policy
            };
            let delay = backoff_delay(policy, attempts, fastrand::f64());
            let elapsed = elapsed_since(self.clock, start);
            if !retryable || !may_retry(policy, attempts, elapsed, delay) {
                return Err(AuthError::Imds {
                    url,
                    attempts,
                    status: status.map(|s| format!(": HTTP {s}")).unwrap_or_default(),
                    source,
                });
            }
            tracing::debug!(url = %url, attempts, ?status, ?delay, "IMDS request failed; retrying");
            self.sleeper.sleep(delay).await;
        }
    }

    async fn documents(&self, policy: &RetryPolicy) -> Result<ImdsDocuments, AuthError> {
        Ok(ImdsDocuments {
            leaf_certificate_pem: self.get("/identity/cert.pem", policy, false).await?,
            leaf_private_key_pem: self.get("/identity/key.pem", policy, false).await?,
            intermediate_certificate_pem: self
                .get("/identity/intermediate.pem", policy, false)
                .await?,
        })
    }
}

fn elapsed_since(clock: &dyn Clock, start: time::OffsetDateTime) -> Duration {
    let d = clock.now() - start;
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}

/// One federation: fetch documents, new session key, POST /v1/x509, parse the token.
async fn federate_http(
    fetcher: &Fetcher<'_>,
    http: &reqwest::Client,
    url: &Url,
    expected_tenancy: Option<&TenancyId>,
    budget: FederationBudget,
) -> Result<FederatedToken, AuthError> {
    let docs = fetcher.documents(budget.imds()).await?;
    let session_key = tokio::task::spawn_blocking(SigningKey::generate_rsa_2048)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the session key generation task failed");
            AuthError::SessionKey(crate::oci::keys::KeyError::GenerationFailed)
        })?
        .map_err(AuthError::SessionKey)?;
    let request = prepare_federation(&docs, &session_key, expected_tenancy)?;
    let policy = budget.federation();
    let start = fetcher.clock.now();
    let mut attempts = 0u32;
    let token = loop {
        attempts += 1;
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let signed = signer::sign(
            &SignRequest {
                method: &Method::POST,
                url,
                headers: &headers,
                body: &request.body,
                body_mode: BodyMode::Federation,
            },
            &request.key_id,
            &request.leaf_key,
            fetcher.clock.now(),
        )
        .map_err(AuthError::FederationSigning)?;
        signed.apply_to(&mut headers);
        let result = http
            .post(url.clone())
            .headers(headers)
            .body(request.body.clone())
            .send()
            .await;
        let (status, detail, source) = match result {
            Ok(resp) => {
                let status = resp.status();
                match read_body_limited(resp, MAX_FEDERATION_RESPONSE_BYTES).await {
                    Ok(body) if status.is_success() => match parse_federation_response(&body) {
                        Ok(token) => break token,
                        Err(reason) => {
                            return Err(AuthError::Federation {
                                url: url.to_string(),
                                attempts,
                                status: format!(": HTTP {}: {reason}", status.as_u16()),
                                source: None,
                            });
                        }
                    },
                    Ok(body) => (Some(status.as_u16()), error_detail(&body), None),
                    Err(BodyError::TooLarge { limit }) => {
                        return Err(AuthError::ResponseTooLarge {
                            request: format!("instance principal federation POST {url}"),
                            limit,
                        });
                    }
                    // A success whose body was lost on the way is no answer: a transport
                    // error, retried like one.
                    Err(BodyError::Read(e)) if status.is_success() => {
                        (None, String::new(), Some(e))
                    }
                    Err(BodyError::Read(e)) => (Some(status.as_u16()), String::new(), Some(e)),
                }
            }
            Err(e) => (None, String::new(), Some(e)),
        };
        // Go's rule: a 4xx (429 included) fails at once; 5xx and transport errors are retried.
        let retryable = status.is_none_or(|s| s >= 500);
        let delay = backoff_delay(policy, attempts, fastrand::f64());
        let elapsed = elapsed_since(fetcher.clock, start);
        if !retryable || !may_retry(policy, attempts, elapsed, delay) {
            return Err(AuthError::Federation {
                url: url.to_string(),
                attempts,
                status: status
                    .map(|s| format!(": HTTP {s}{detail}"))
                    .unwrap_or_default(),
                source,
            });
        }
        tracing::warn!(url = %url, attempts, ?status, "federation failed; retrying");
        fetcher.sleeper.sleep(delay).await;
    };
    Ok(FederatedToken {
        token,
        session_key,
        tenancy: request.tenancy,
    })
}

/// ` <code>: <message>` of an OCI error body (or its text), for the federation error.
fn error_detail(body: &[u8]) -> String {
    match parse_error_body(body) {
        (code, message) if code.is_empty() && message.is_empty() => String::new(),
        (code, message) if code.is_empty() => format!(" {message}"),
        (code, message) => format!(" {code}: {message}"),
    }
}

/// True for errors a still-valid token may outlive (see the module docs).
fn tolerable(e: &AuthError) -> bool {
    !matches!(e, AuthError::TenancyChanged { .. })
}

#[async_trait]
impl CredentialProvider for InstancePrincipalProvider {
    async fn credentials(&self) -> Result<Arc<Credentials>, AuthError> {
        let (seen, valid) = {
            let state = lock(&self.state);
            let now = self.clock.now();
            if !needs_refresh(&state.token, now) {
                return Ok(state.creds.clone());
            }
            let valid = !state.token.is_expired(now);
            if valid && state.retry_at.is_some_and(|at| now < at) {
                return Ok(state.creds.clone());
            }
            (state.renewals, valid)
        };
        let _turn = if valid {
            match self.renewal.try_lock() {
                Ok(turn) => turn,
                // Another caller is renewing; the current token still works meanwhile.
                Err(_) => return Ok(lock(&self.state).creds.clone()),
            }
        } else {
            self.renewal.lock().await
        };
        let valid = {
            let state = lock(&self.state);
            let now = self.clock.now();
            let expired = state.token.is_expired(now);
            if state.renewals != seen {
                // A renewal finished while this call waited: use its token, or its failure.
                return if state.last_failed && expired {
                    Err(self.renewal_failed_error(&state.token))
                } else {
                    Ok(state.creds.clone())
                };
            }
            !expired
        };
        let budget = if valid {
            FederationBudget::Short
        } else {
            FederationBudget::Full
        };
        match self.renew(budget).await {
            Ok(creds) => Ok(creds),
            Err(e) => {
                let state = lock(&self.state);
                if tolerable(&e) && !state.token.is_expired(self.clock.now()) {
                    tracing::warn!(error = %e, token = %state.token, retry_in = ?REFRESH_RETRY_INTERVAL, "instance principal renewal failed; using the current token until it expires");
                    Ok(state.creds.clone())
                } else {
                    tracing::error!(error = %e, expired_at = %state.token.expires_at().map(format_time).unwrap_or_default(), "instance principal token expired and renewal failed");
                    Err(e)
                }
            }
        }
    }

    /// Re-federates with the full budget: the service refused the current token. When a
    /// renewal finished while this call waited for its turn, its outcome is the answer.
    async fn refresh_after_unauthorized(&self) -> Result<bool, AuthError> {
        let seen = lock(&self.state).renewals;
        let _turn = self.renewal.lock().await;
        {
            let state = lock(&self.state);
            if state.renewals != seen {
                return Ok(!state.last_failed);
            }
        }
        self.renew(FederationBudget::Full).await.map(|_| true)
    }

    fn region(&self) -> Option<Region> {
        Some(self.region.clone())
    }

    fn principal(&self) -> Principal {
        Principal {
            kind: PrincipalKind::Instance,
            tenancy: self.tenancy.clone(),
            user: None,
            instance: self.instance.clone(),
            resource: None,
            compartment: None,
            source: self.source.clone(),
        }
    }
}
