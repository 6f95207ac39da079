//! Credential providers: user principal (API key), session token, instance principal and
//! resource principal, behind one [`CredentialProvider`] interface, and the selection logic
//! ([`build_provider`]) that turns plain settings plus an injected environment and clock into
//! a provider.
//!
//! Secrets (private keys, passphrases, tokens) never appear in a `Debug`/`Display` output, a
//! log line or an error of this module.

pub mod config_file;
pub mod instance;
pub mod resource;
pub mod user;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use url::Url;

use super::endpoints::{EndpointError, Endpoints};
use super::keys::{KeyError, SigningKey};
use super::region::{Region, RegionError};
use super::signer::KeyId;
use super::token::{SecurityToken, TokenError};
use crate::clock::{Clock, Sleeper, SystemClock, TokioSleeper};
use crate::env::Env;
use crate::http::{ProxyError, redact_url};
use crate::ids::{CompartmentId, InstanceId, ResourceId, TenancyId, UserId};

pub use config_file::{
    ConfigFileLocation, OciConfigFile, Profile, expand_path, locate_config_file,
};
pub use instance::{ImdsDocuments, InstancePrincipalProvider, LeafCertificate};
pub use resource::ResourcePrincipalProvider;
pub use user::{ApiKeyProvider, SessionTokenProvider};

/// Tokens (instance principal, resource principal) are refreshed when they expire within this
/// window (`exp - now < 5 min`), as the Go SDK does.
pub const TOKEN_REFRESH_WINDOW: Duration = Duration::from_secs(5 * 60);

/// What a request is signed with: the keyId and the private key.
///
/// `Debug` is safe: the key prints as its fingerprint, a token keyId as
/// `ST$<redacted jwt, exp=…>`.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// The keyId of the `Authorization` header.
    pub key_id: KeyId,
    /// The key that signs.
    pub key: SigningKey,
}

/// The kind of principal a provider authenticates as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// A user with an API key (OCI config file).
    ApiKey,
    /// A user with a session token (`oci session authenticate`).
    SessionToken,
    /// A compute instance (instance principal).
    Instance,
    /// A resource such as a function (resource principal).
    Resource,
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrincipalKind::ApiKey => "user (API key)",
            PrincipalKind::SessionToken => "user (session token)",
            PrincipalKind::Instance => "instance principal",
            PrincipalKind::Resource => "resource principal",
        })
    }
}

/// Who the provider authenticates as; what `auth validate` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The kind of principal.
    pub kind: PrincipalKind,
    /// The tenancy.
    pub tenancy: TenancyId,
    /// The user (API key and session token).
    pub user: Option<UserId>,
    /// The instance (instance principal, when IMDS reports it).
    pub instance: Option<InstanceId>,
    /// The resource (resource principal, from the token's `res_id`/`sub`).
    pub resource: Option<ResourceId>,
    /// The compartment of a resource principal (`res_compartment`).
    pub compartment: Option<CompartmentId>,
    /// Where the credentials come from, in words (e.g. `profile DEFAULT of /home/u/.oci/config`).
    pub source: String,
}

/// The interface every credential provider implements.
#[async_trait]
pub trait CredentialProvider: Send + Sync + fmt::Debug {
    /// Key id + key to sign the next request with (cached; refreshed before expiry).
    async fn credentials(&self) -> Result<Arc<Credentials>, AuthError>;
    /// Called after a 401: re-read or re-federate; `Ok(true)` if the caller should retry once.
    async fn refresh_after_unauthorized(&self) -> Result<bool, AuthError>;
    /// The region: the explicit setting, else env `OCI_REGION`, else the provider's own.
    fn region(&self) -> Option<Region>;
    /// Kind, tenancy and user/instance/resource ids, for `auth validate`.
    fn principal(&self) -> Principal;
}

/// The authentication method chosen in the fleet file (`spec.auth.method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// OCI CLI config file and profile: API key, or session token when the profile has
    /// `security_token_file` and no `user`.
    User,
    /// Instance principal (IMDS + x509 federation).
    Instance,
    /// Resource principal (OCI Functions).
    Resource,
}

impl std::str::FromStr for AuthMethod {
    type Err = String;

    /// `user`, `instance` or `resource` (case-insensitive), as written in the fleet file.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "user" => Ok(AuthMethod::User),
            "instance" => Ok(AuthMethod::Instance),
            "resource" => Ok(AuthMethod::Resource),
            other => Err(format!(
                "`{other}` is not an auth method; expected `user`, `instance` or `resource`"
            )),
        }
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthMethod::User => "user",
            AuthMethod::Instance => "instance",
            AuthMethod::Resource => "resource",
        })
    }
}

/// Plain auth settings; the integrator fills them from the fleet file and CLI flags.
///
/// `Debug` hides user info, query and fragment of the URLs (they may carry credentials).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthSettings {
    /// The method; `None` detects it (see [`build_provider`]).
    pub method: Option<AuthMethod>,
    /// OCI config file path (user principal).
    pub config_file: Option<PathBuf>,
    /// Profile name (user principal).
    pub profile: Option<String>,
    /// Region id or short code; wins over `OCI_REGION` and the provider's region.
    pub region: Option<String>,
    /// One base URL for every OCI service, federation included (e.g. the simulator). Else env
    /// `FLEETCTL_OCI_ENDPOINT`.
    pub endpoint: Option<Url>,
    /// IMDS base URL (instance principal). Else env `OCI_METADATA_BASE_URL`, else
    /// `http://169.254.169.254/opc/v2`.
    pub metadata_base_url: Option<Url>,
}

impl fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = |u: &Option<Url>| u.as_ref().map(|u| redact_url(u.as_str()));
        f.debug_struct("AuthSettings")
            .field("method", &self.method)
            .field("config_file", &self.config_file)
            .field("profile", &self.profile)
            .field("region", &self.region)
            .field("endpoint", &url(&self.endpoint))
            .field("metadata_base_url", &url(&self.metadata_base_url))
            .finish()
    }
}

/// True when a token (instance or resource principal) should be renewed now:
/// `exp - now <` [`TOKEN_REFRESH_WINDOW`].
pub fn needs_refresh(token: &SecurityToken, now: time::OffsetDateTime) -> bool {
    token.expires_within(now, TOKEN_REFRESH_WINDOW)
}

/// Locks a provider's state. A poisoned lock only means another thread panicked while
/// holding plain data, which stays usable.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The injected world a provider runs in: environment snapshot, clock, sleeper and (optional)
/// HTTP client for IMDS and federation.
#[derive(Clone)]
pub struct AuthContext {
    /// Environment snapshot.
    pub env: Env,
    /// Clock for expiry decisions and request dates.
    pub clock: Arc<dyn Clock>,
    /// Waits between IMDS/federation retries.
    pub sleeper: Arc<dyn Sleeper>,
    /// HTTP client for IMDS and federation; `None` builds one (HTTP/1.1, rustls, timeouts,
    /// the metadata service direct and federation through the environment's proxy).
    pub http: Option<reqwest::Client>,
    /// The resolver of the HTTP clients built when `http` is `None`; `None`: the system
    /// resolver. Tests use it to give a name that does not look like loopback a loopback
    /// address, so the real clients, proxy rules included, are exercised.
    pub resolver: Option<Arc<dyn reqwest::dns::Resolve>>,
}

impl fmt::Debug for AuthContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthContext")
            .field("env", &self.env)
            .field("clock", &self.clock)
            .field("sleeper", &self.sleeper)
            .field("http", &self.http)
            .field("custom_resolver", &self.resolver.is_some())
            .finish()
    }
}

impl AuthContext {
    /// A context with the system clock and tokio sleeps.
    pub fn new(env: Env) -> Self {
        Self {
            env,
            clock: Arc::new(SystemClock),
            sleeper: Arc::new(TokioSleeper),
            http: None,
            resolver: None,
        }
    }

    /// Replaces the clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the sleeper.
    pub fn with_sleeper(mut self, sleeper: Arc<dyn Sleeper>) -> Self {
        self.sleeper = sleeper;
        self
    }

    /// Uses this HTTP client for IMDS and federation.
    pub fn with_http(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Resolves host names with `resolver` in the IMDS and federation clients it builds.
    pub fn with_dns_resolver(mut self, resolver: Arc<dyn reqwest::dns::Resolve>) -> Self {
        self.resolver = Some(resolver);
        self
    }
}

/// Builds the provider `settings` ask for.
///
/// # Selection
/// With `method` set, that method is used. With `method: None` the order is:
/// 1. resource principal, if env `OCI_RESOURCE_PRINCIPAL_VERSION` is set (OCI Functions);
/// 2. user principal, if an OCI config file exists (see [`locate_config_file`] for where it
///    is looked for);
/// 3. instance principal.
///
/// `method: User` with a profile that has `security_token_file` and no `user` gives the
/// session-token provider.
///
/// # Region
/// The explicit `region` setting, else env `OCI_REGION`, else the provider's own (config
/// profile `region`, IMDS, `OCI_RESOURCE_PRINCIPAL_REGION`). Short codes are mapped to ids.
///
/// # Errors
/// Configuration problems (missing file, profile, key, bad region) and, for the instance
/// principal, IMDS or federation failures; see [`AuthError::is_configuration_problem`].
pub async fn build_provider(
    settings: &AuthSettings,
    ctx: &AuthContext,
) -> Result<Box<dyn CredentialProvider>, AuthError> {
    let region_override = region_override(settings, &ctx.env)?;
    let method = match settings.method {
        Some(m) => m,
        None => detect_method(settings, &ctx.env)?,
    };
    tracing::debug!(?method, "building OCI credential provider");
    match method {
        AuthMethod::User => user::build_user_provider(settings, ctx, region_override),
        AuthMethod::Resource => Ok(Box::new(ResourcePrincipalProvider::from_env(
            ctx,
            region_override,
        )?)),
        AuthMethod::Instance => Ok(Box::new(
            InstancePrincipalProvider::new(settings, ctx, region_override).await?,
        )),
    }
}

/// The method `build_provider` picks when none is configured (see its docs).
pub fn detect_method(settings: &AuthSettings, env: &Env) -> Result<AuthMethod, AuthError> {
    if env.get_non_empty(resource::VERSION_VAR).is_some() {
        return Ok(AuthMethod::Resource);
    }
    match locate_config_file(settings.config_file.as_deref(), env)? {
        Some(_) => Ok(AuthMethod::User),
        None => Ok(AuthMethod::Instance),
    }
}

/// The explicit region (setting, else `OCI_REGION`), resolved; `None` when neither is set.
pub fn region_override(settings: &AuthSettings, env: &Env) -> Result<Option<Region>, AuthError> {
    if let Some(r) = &settings.region {
        return Region::resolve(r, "the `region` setting", env)
            .map(Some)
            .map_err(AuthError::Region);
    }
    if let Some(r) = env.get_non_empty("OCI_REGION") {
        return Region::resolve(r, "env OCI_REGION", env)
            .map(Some)
            .map_err(AuthError::Region);
    }
    Ok(None)
}

/// The provider's region or a clear error saying where to set one.
pub fn require_region(provider: &dyn CredentialProvider) -> Result<Region, AuthError> {
    provider.region().ok_or_else(|| AuthError::NoRegion {
        principal: provider.principal().source,
    })
}

/// The endpoints for `provider`: its region (see [`require_region`]) and the endpoint override
/// (the `endpoint` setting, else env `FLEETCTL_OCI_ENDPOINT`).
pub fn endpoints_for(
    provider: &dyn CredentialProvider,
    settings: &AuthSettings,
    env: &Env,
) -> Result<Endpoints, AuthError> {
    let region = require_region(provider)?;
    Endpoints::from_settings(region, settings.endpoint.as_ref(), env).map_err(AuthError::Endpoint)
}

/// Everything that can go wrong while loading or refreshing credentials.
///
/// Messages name the file, profile, variable or URL involved, never a secret.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A config file that was asked for by name does not exist.
    #[error("the OCI config file {path} (from {origin}) does not exist")]
    ConfigFileNotFound {
        /// The path.
        path: PathBuf,
        /// Where the path came from.
        origin: String,
    },
    /// `method: user` but no config file anywhere.
    #[error(
        "no OCI config file found (looked for {tried}); create one with `oci setup config`, or \
         set `config_file` / OCI_CLI_CONFIG_FILE"
    )]
    NoConfigFile {
        /// The candidates tried, joined.
        tried: String,
    },
    /// The config file exists but cannot be read.
    #[error("cannot read the OCI config file {path}")]
    ConfigFileUnreadable {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The config file is not valid INI.
    #[error("{path}:{line}:{column}: the OCI config file is not valid: {message}")]
    ConfigFileSyntax {
        /// The path.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The same profile header twice (Python's configparser refuses this too).
    #[error("{path}: profile [{profile}] appears more than once")]
    DuplicateProfile {
        /// The path.
        path: PathBuf,
        /// The profile.
        profile: String,
    },
    /// The same key twice in one profile (Python's configparser refuses this too).
    #[error("{path}: key `{key}` appears more than once in profile [{profile}]")]
    DuplicateKey {
        /// The path.
        path: PathBuf,
        /// The profile.
        profile: String,
        /// The key.
        key: String,
    },
    /// `key = value` lines before the first `[PROFILE]` header.
    #[error(
        "{path}: settings appear before the first [PROFILE] header; put them under [DEFAULT] or a named profile"
    )]
    KeysOutsideProfile {
        /// The path.
        path: PathBuf,
    },
    /// The profile is not in the file.
    #[error("profile [{profile}] not found in {path}; profiles in that file: {available}")]
    ProfileNotFound {
        /// The path.
        path: PathBuf,
        /// The profile asked for.
        profile: String,
        /// The profiles that exist, joined (or `none`).
        available: String,
    },
    /// A key the chosen auth needs is missing.
    #[error("profile [{profile}] in {path} has no `{key}`{hint}")]
    MissingConfigKey {
        /// The path.
        path: PathBuf,
        /// The profile.
        profile: String,
        /// The missing key.
        key: &'static str,
        /// Extra advice (may be empty).
        hint: String,
    },
    /// A value in the config file is unusable (the value itself is named only when it is not
    /// a secret).
    #[error("profile [{profile}] in {path}: `{key}` {reason}")]
    InvalidConfigValue {
        /// The path.
        path: PathBuf,
        /// The profile.
        profile: String,
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A key file cannot be read.
    #[error("cannot read the private key file {path} ({origin})")]
    KeyFileUnreadable {
        /// The key file.
        path: PathBuf,
        /// Which setting named it, e.g. `key_file of profile [DEFAULT] in /h/.oci/config`.
        origin: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A key cannot be loaded.
    #[error("cannot use the private key from {origin}")]
    Key {
        /// Which key, in words.
        origin: String,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// A session token file cannot be read.
    #[error("cannot read the session token file {path} ({origin})")]
    SessionTokenUnreadable {
        /// The token file.
        path: PathBuf,
        /// Which setting named it.
        origin: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A token cannot be parsed.
    #[error("the token from {origin} is unusable")]
    Token {
        /// Where the token came from.
        origin: String,
        /// Why.
        #[source]
        source: TokenError,
    },
    /// The session token has expired.
    #[error(
        "the session token in {path} ({origin}) expired at {expired_at}; run \
         `oci session refresh --profile {profile}` (or `oci session authenticate` when the \
         session cannot be refreshed any more)"
    )]
    SessionTokenExpired {
        /// The token file.
        path: PathBuf,
        /// Which setting named it.
        origin: String,
        /// The profile.
        profile: String,
        /// `exp` in RFC 3339.
        expired_at: String,
    },
    /// A resource principal variable is missing.
    #[error("resource principal: env {var} is not set{hint}")]
    ResourcePrincipalEnvMissing {
        /// The variable.
        var: &'static str,
        /// Extra advice.
        hint: &'static str,
    },
    /// A resource principal version fleetctl does not implement.
    #[error(
        "resource principal: OCI_RESOURCE_PRINCIPAL_VERSION={version} is not supported; \
         fleetctl supports 2.2 (what OCI Functions provides)"
    )]
    ResourcePrincipalUnsupportedVersion {
        /// The version found.
        version: String,
    },
    /// A resource principal file cannot be read.
    #[error("resource principal: cannot read {path} (from env {var})")]
    ResourcePrincipalFile {
        /// The variable.
        var: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The passphrase form does not match the key form (Go SDK rule).
    #[error(
        "resource principal: OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE must be a file path \
         when OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM is a path, and a literal when it is a literal"
    )]
    ResourcePrincipalPassphraseForm,
    /// A token claim the principal needs is missing.
    #[error("the token from {origin} has no `{claim}` claim")]
    MissingClaim {
        /// Where the token came from.
        origin: String,
        /// The claim.
        claim: &'static str,
    },
    /// A resource or instance token expired and cannot be renewed.
    #[error("the token from {origin} expired at {expired_at} and could not be renewed{hint}")]
    TokenExpired {
        /// Where the token came from.
        origin: String,
        /// `exp` in RFC 3339.
        expired_at: String,
        /// Extra advice.
        hint: &'static str,
    },
    /// An id taken from a config file, a token or a certificate is not a well-formed OCID
    /// of the expected type.
    #[error("{origin}: not a usable OCID")]
    InvalidOcid {
        /// Where the id came from, e.g. `tenancy of profile [DEFAULT] in /h/.oci/config`.
        origin: String,
        /// What is wrong with it.
        #[source]
        source: crate::ids::InvalidId,
    },
    /// A region value is unusable.
    #[error(transparent)]
    Region(RegionError),
    /// No region from any source.
    #[error(
        "no OCI region is configured for {principal}; set `region` in the fleet file, env \
         OCI_REGION, or `region` in the OCI config profile"
    )]
    NoRegion {
        /// The principal's source, in words.
        principal: String,
    },
    /// The endpoint override is unusable.
    #[error(transparent)]
    Endpoint(EndpointError),
    /// The IMDS base URL is unusable.
    #[error("the instance metadata URL `{value}` (from {origin}) {reason}")]
    InvalidMetadataUrl {
        /// The value, with any user info, query and fragment replaced by `<redacted>`.
        value: String,
        /// Where it came from.
        origin: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The proxy settings of the environment are unusable (federation goes through them).
    #[error(transparent)]
    Proxy(ProxyError),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client for {purpose}")]
    HttpClient {
        /// What it was for.
        purpose: &'static str,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// IMDS could not be reached or answered with an error.
    #[error("instance metadata request GET {url} failed after {attempts} attempt(s){status}")]
    Imds {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// `: HTTP <code>` when a status was received.
        status: String,
        /// The transport error of the last attempt, if any.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// The metadata service or the auth service answered more than fleetctl reads
    /// ([`MAX_IMDS_RESPONSE_BYTES`](instance::MAX_IMDS_RESPONSE_BYTES),
    /// [`MAX_FEDERATION_RESPONSE_BYTES`](instance::MAX_FEDERATION_RESPONSE_BYTES)); not
    /// retried.
    #[error(
        "{request}: the answer is larger than {}, the most fleetctl reads of it; it was not read",
        crate::http::format_byte_limit(*limit)
    )]
    ResponseTooLarge {
        /// The request (`instance metadata request GET <url>`).
        request: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// An IMDS document is unusable.
    #[error("the instance metadata document {document} is unusable: {reason}")]
    ImdsDocument {
        /// Which document (`/identity/cert.pem`, …).
        document: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The leaf certificate's tenancy changed between refreshes.
    #[error(
        "the instance certificate now names tenancy {now} but this process started with \
         {before}; refusing to continue with a different tenancy"
    )]
    TenancyChanged {
        /// Tenancy at start.
        before: TenancyId,
        /// Tenancy in the new certificate.
        now: TenancyId,
    },
    /// The federation call failed.
    #[error("instance principal federation POST {url} failed after {attempts} attempt(s){status}")]
    Federation {
        /// The URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// `: HTTP <code> <OCI code>: <message>` when a status was received.
        status: String,
        /// The transport error, if any.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// Signing the federation request failed (a bug: fleetctl builds that request itself).
    #[error("cannot sign the federation request")]
    FederationSigning(#[source] super::signer::SignError),
    /// The session key for a federation could not be generated (a bug or a broken crypto
    /// library, not a configuration problem).
    #[error("cannot generate the session key for instance principal federation")]
    SessionKey(#[source] KeyError),
    /// Renewing a still-valid instance principal token took longer than allowed; the
    /// current token is kept and renewal is tried again later.
    #[error("renewing the instance principal token took longer than {seconds} s; gave up for now")]
    RenewalTimedOut {
        /// The time allowed.
        seconds: u64,
    },
}

impl AuthError {
    /// True for problems the user fixes in configuration (files, profiles, keys, regions,
    /// settings): exit code 1. False for failed calls, network errors and credentials the
    /// service refused: exit code 2.
    pub fn is_configuration_problem(&self) -> bool {
        !self.is_internal()
            && !matches!(
                self,
                AuthError::Imds { .. }
                    | AuthError::ResponseTooLarge { .. }
                    | AuthError::ImdsDocument { .. }
                    | AuthError::TenancyChanged { .. }
                    | AuthError::Federation { .. }
                    | AuthError::HttpClient { .. }
                    | AuthError::TokenExpired { .. }
                    | AuthError::RenewalTimedOut { .. }
            )
    }

    /// True for failures that are bugs in fleetctl rather than the user's configuration or
    /// the infrastructure (exit code 3): a session key that cannot be generated, a federation
    /// request that cannot be signed.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            AuthError::SessionKey(_) | AuthError::FederationSigning(_)
        )
    }
}

/// Parses an OCID read from outside (config file, token claim, certificate) into its typed id,
/// naming where it came from when it is unusable.
pub(crate) fn parse_ocid<T>(text: &str, origin: impl FnOnce() -> String) -> Result<T, AuthError>
where
    T: std::str::FromStr<Err = crate::ids::InvalidId>,
{
    text.trim()
        .parse()
        .map_err(|source| AuthError::InvalidOcid {
            origin: origin(),
            source,
        })
}
