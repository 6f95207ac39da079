//! User principals from the OCI CLI config file: API keys and session tokens.
//!
//! Values come from the chosen profile (with `[DEFAULT]` inheritance); the OCI CLI's
//! environment overrides win over the file, as they do for the CLI: `OCI_CLI_USER`,
//! `OCI_CLI_TENANCY`, `OCI_CLI_FINGERPRINT`, `OCI_CLI_KEY_FILE`, `OCI_CLI_PASSPHRASE`,
//! `OCI_CLI_SECURITY_TOKEN_FILE`, `OCI_CLI_REGION`. The profile is the explicit one, else
//! `OCI_CLI_PROFILE`, else `DEFAULT`.

use crate::oci::auth::parse_ocid;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use async_trait::async_trait;

use super::config_file::{
    DEFAULT_PROFILE, OciConfigFile, Profile, describe_candidates, expand_path, locate_config_file,
};
use super::{
    AuthContext, AuthError, AuthSettings, CredentialProvider, Credentials, Principal,
    PrincipalKind, lock,
};
use crate::clock::Clock;
use crate::env::Env;
use crate::ids::{TenancyId, UserId};
use crate::oci::keys::{Passphrase, SigningKey};
use crate::oci::region::Region;
use crate::oci::signer::KeyId;
use crate::oci::token::{SecurityToken, format_time};

/// Builds the user-principal provider `settings` point at: a session-token provider when the
/// profile has `security_token_file` and no `user`, else an API-key provider.
pub(super) fn build_user_provider(
    settings: &AuthSettings,
    ctx: &AuthContext,
    region_override: Option<Region>,
) -> Result<Box<dyn CredentialProvider>, AuthError> {
    let location =
        locate_config_file(settings.config_file.as_deref(), &ctx.env)?.ok_or_else(|| {
            AuthError::NoConfigFile {
                tried: describe_candidates(&ctx.env),
            }
        })?;
    let profile_name = select_profile(settings.profile.as_deref(), &ctx.env);
    let file = OciConfigFile::load(&location.path)?;
    let profile = file.profile(&profile_name)?;
    tracing::debug!(
        config = %location.path.display(),
        origin = %location.origin,
        profile = %profile_name,
        "using OCI config profile"
    );
    if is_session_profile(&profile, &ctx.env) {
        Ok(Box::new(SessionTokenProvider::from_profile(
            &profile,
            &ctx.env,
            ctx.clock.clone(),
            region_override,
        )?))
    } else {
        Ok(Box::new(ApiKeyProvider::from_profile(
            &profile,
            &ctx.env,
            region_override,
        )?))
    }
}

/// The profile name: explicit, else env `OCI_CLI_PROFILE`, else `DEFAULT`.
pub fn select_profile(explicit: Option<&str>, env: &Env) -> String {
    explicit
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .or_else(|| env.get_non_empty("OCI_CLI_PROFILE"))
        .unwrap_or(DEFAULT_PROFILE)
        .to_string()
}

/// True when the profile signs with a session token: it has `security_token_file` and no
/// `user` of its own (after env overrides).
///
/// A `user` inherited from `[DEFAULT]` does not count: `oci session authenticate` writes
/// session profiles without `user` next to a DEFAULT API-key profile that has one, and with
/// the DEFAULT inheritance users expect (Python/CLI semantics) that user would otherwise turn
/// every session profile back into an API-key profile signed with the wrong key.
pub fn is_session_profile(profile: &Profile, env: &Env) -> bool {
    let own_user = value(profile, env, "user").is_some() && !profile.is_inherited("user")
        || env.get_non_empty("OCI_CLI_USER").is_some();
    value(profile, env, "security_token_file").is_some() && !own_user
}

/// A profile value with its `OCI_CLI_<KEY>` override; `(value, origin)`.
fn value(profile: &Profile, env: &Env, key: &'static str) -> Option<(String, String)> {
    let var = format!("OCI_CLI_{}", key.to_ascii_uppercase());
    if let Some(v) = env.get_non_empty(&var) {
        return Some((v.to_string(), format!("env {var}")));
    }
    let v = profile.get(key)?;
    let from = if profile.is_inherited(key) {
        format!("`{key}` of [DEFAULT] (inherited by {})", profile.describe())
    } else {
        format!("`{key}` of {}", profile.describe())
    };
    Some((v.to_string(), from))
}

fn required(
    profile: &Profile,
    env: &Env,
    key: &'static str,
    hint: &str,
) -> Result<(String, String), AuthError> {
    value(profile, env, key).ok_or_else(|| AuthError::MissingConfigKey {
        path: profile.path().to_path_buf(),
        profile: profile.name().to_string(),
        key,
        hint: hint.to_string(),
    })
}

fn passphrase(profile: &Profile, env: &Env) -> Option<Passphrase> {
    if let Some(v) = env.get("OCI_CLI_PASSPHRASE").filter(|v| !v.is_empty()) {
        return Some(Passphrase::new(v));
    }
    // `pass_phrase` is the documented key; the Go SDK also reads `passphrase`.
    profile
        .get("pass_phrase")
        .or_else(|| profile.get("passphrase"))
        .map(Passphrase::new)
}

fn reject_key_content(profile: &Profile) -> Result<(), AuthError> {
    if profile.get_raw("key_content").is_some() {
        return Err(AuthError::InvalidConfigValue {
            path: profile.path().to_path_buf(),
            profile: profile.name().to_string(),
            key: "key_content",
            reason: "is not accepted in a config file (the OCI SDKs refuse it too); save the key \
                     to a file and set `key_file`"
                .into(),
        });
    }
    Ok(())
}

fn profile_region(
    profile: &Profile,
    env: &Env,
    region_override: Option<Region>,
) -> Result<Option<Region>, AuthError> {
    if region_override.is_some() {
        return Ok(region_override);
    }
    if let Some(v) = env.get_non_empty("OCI_CLI_REGION") {
        return Region::resolve(v, "env OCI_CLI_REGION", env)
            .map(Some)
            .map_err(AuthError::Region);
    }
    match profile.get_raw("region") {
        Some(v) => Region::resolve(v, &format!("`region` of {}", profile.describe()), env)
            .map(Some)
            .map_err(AuthError::Region),
        None => Ok(None),
    }
}

/// Reads and loads a PEM key file; warns when others than its owner may read it.
pub(crate) fn load_key_file(
    path: &Path,
    origin: &str,
    passphrase: Option<&Passphrase>,
) -> Result<SigningKey, AuthError> {
    let pem = std::fs::read_to_string(path).map_err(|source| AuthError::KeyFileUnreadable {
        path: path.to_path_buf(),
        origin: origin.to_string(),
        source,
    })?;
    warn_if_readable_by_others(path);
    SigningKey::from_pem(&pem, passphrase).map_err(|source| AuthError::Key {
        origin: format!("{} ({origin})", path.display()),
        source,
    })
}

/// Key files already warned about in this process: a session provider re-reads its key on
/// every token change, and one warning per file is enough.
static WARNED_KEY_FILES: Mutex<std::collections::BTreeSet<PathBuf>> =
    Mutex::new(std::collections::BTreeSet::new());

/// Warns once per file when a private key file can be read by its group or by others, as the
/// OCI CLI warns about its files (`oci setup repair-file-permissions`). Only a warning: the
/// key still loads, since refusing it would break setups the OCI CLI accepts.
fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return;
        }
        let first = WARNED_KEY_FILES
            .lock()
            .map(|mut warned| warned.insert(path.to_path_buf()))
            .unwrap_or(true);
        if first {
            tracing::warn!(
                "permissions on {path} are too open ({mode:04o}): the private key can be read \
                 by others than its owner; run chmod 600 {path}",
                path = path.display()
            );
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Compares the configured fingerprint with the key's. A mismatch is only a warning: requests
/// name the key's own fingerprint (the only one its signatures can verify against), and OCI
/// decides whether that key is one of the user's. Returns true when they match.
pub fn check_fingerprint(configured: &str, key: &SigningKey, origin: &str) -> bool {
    let matches = fingerprints_match(configured, key.fingerprint());
    if !matches {
        tracing::warn!(
            configured_fingerprint = configured.trim(),
            key_fingerprint = key.fingerprint(),
            origin,
            "the configured fingerprint does not match the private key; requests name the \
             key's own fingerprint, and OCI rejects them (401) unless that key is uploaded as \
             an API key of this user"
        );
    }
    matches
}

/// Fingerprint comparison: case-insensitive, surrounding whitespace ignored.
pub fn fingerprints_match(configured: &str, actual: &str) -> bool {
    configured.trim().eq_ignore_ascii_case(actual.trim())
}

// ---------------------------------------------------------------------------------------------
// API key
// ---------------------------------------------------------------------------------------------

/// The user principal with an API key (`<tenancy>/<user>/<fingerprint>`).
#[derive(Debug)]
pub struct ApiKeyProvider {
    profile: Profile,
    env: Env,
    region_override: Option<Region>,
    state: Mutex<LoadedApiKey>,
}

#[derive(Debug, Clone)]
struct LoadedApiKey {
    creds: Arc<Credentials>,
    principal: Principal,
    region: Option<Region>,
}

impl ApiKeyProvider {
    /// Loads the API key of `profile` (key file read, fingerprint checked).
    pub fn from_profile(
        profile: &Profile,
        env: &Env,
        region_override: Option<Region>,
    ) -> Result<Self, AuthError> {
        let loaded = load_api_key(profile, env, region_override.clone())?;
        Ok(Self {
            profile: profile.clone(),
            env: env.clone(),
            region_override,
            state: Mutex::new(loaded),
        })
    }
}

fn load_api_key(
    profile: &Profile,
    env: &Env,
    region_override: Option<Region>,
) -> Result<LoadedApiKey, AuthError> {
    reject_key_content(profile)?;
    let (user, user_origin) = required(profile, env, "user", "")?;
    let (tenancy, tenancy_origin) = required(profile, env, "tenancy", "")?;
    // Required, as by the OCI CLI and SDKs, and compared with the key; the keyId names the
    // key's own fingerprint (lower-case colon hex, as OCI computes it and compares it).
    let (fingerprint, _) = required(
        profile,
        env,
        "fingerprint",
        " (the MD5 fingerprint of the API key, as shown in the OCI console)",
    )?;
    let (key_file, key_origin) = required(profile, env, "key_file", "")?;
    let key_path = expand_path(&key_file, env);
    let key = load_key_file(&key_path, &key_origin, passphrase(profile, env).as_ref())?;
    check_fingerprint(&fingerprint, &key, &profile.describe());
    let region = profile_region(profile, env, region_override)?;
    let tenancy: TenancyId = parse_ocid(&tenancy, || tenancy_origin.to_string())?;
    let user: UserId = parse_ocid(&user, || user_origin.to_string())?;
    let key_id = KeyId::ApiKey {
        tenancy: tenancy.clone(),
        user: user.clone(),
        fingerprint: key.fingerprint().to_string(),
    };
    Ok(LoadedApiKey {
        creds: Arc::new(Credentials { key_id, key }),
        principal: Principal {
            kind: PrincipalKind::ApiKey,
            tenancy,
            user: Some(user),
            instance: None,
            resource: None,
            compartment: None,
            source: profile.describe(),
        },
        region,
    })
}

#[async_trait]
impl CredentialProvider for ApiKeyProvider {
    async fn credentials(&self) -> Result<Arc<Credentials>, AuthError> {
        Ok(lock(&self.state).creds.clone())
    }

    /// Re-reads the config file and the key file; retry when either changed the keyId or key.
    async fn refresh_after_unauthorized(&self) -> Result<bool, AuthError> {
        let profile = OciConfigFile::load(self.profile.path())?.profile(self.profile.name())?;
        let reloaded = load_api_key(&profile, &self.env, self.region_override.clone())?;
        let mut state = lock(&self.state);
        let changed =
            reloaded.creds.key_id != state.creds.key_id || reloaded.creds.key != state.creds.key;
        if changed {
            tracing::info!(profile = %self.profile.describe(), "API key changed on disk after a 401; retrying with it");
            *state = reloaded;
        }
        Ok(changed)
    }

    fn region(&self) -> Option<Region> {
        lock(&self.state).region.clone()
    }

    fn principal(&self) -> Principal {
        lock(&self.state).principal.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Session token
// ---------------------------------------------------------------------------------------------

/// The user principal with a session token (`ST$<token>` + the profile's key), as written by
/// `oci session authenticate`. Token and key file are re-read whenever either changes on disk
/// (`oci session authenticate` writes a new key with the new token) and after a 401; an
/// expired token is an error that says to run `oci session refresh`.
#[derive(Debug)]
pub struct SessionTokenProvider {
    profile_name: String,
    profile_desc: String,
    token_path: PathBuf,
    token_origin: String,
    key_path: PathBuf,
    key_origin: String,
    passphrase: Option<Passphrase>,
    clock: Arc<dyn Clock>,
    principal: Principal,
    region: Option<Region>,
    state: Mutex<SessionState>,
}

#[derive(Debug)]
struct SessionState {
    /// The token file and the key file as last read.
    stamps: (Option<FileStamp>, Option<FileStamp>),
    token: SecurityToken,
    creds: Arc<Credentials>,
}

/// What is compared to notice that a file changed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

fn stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some(FileStamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    })
}

impl SessionTokenProvider {
    /// Loads the session token and key of `profile`. Fails when the token has expired.
    pub fn from_profile(
        profile: &Profile,
        env: &Env,
        clock: Arc<dyn Clock>,
        region_override: Option<Region>,
    ) -> Result<Self, AuthError> {
        reject_key_content(profile)?;
        let (token_file, token_origin) = required(profile, env, "security_token_file", "")?;
        let (key_file, key_origin) = required(
            profile,
            env,
            "key_file",
            " (the session key written by `oci session authenticate`)",
        )?;
        let token_path = expand_path(&token_file, env);
        let key_path = expand_path(&key_file, env);
        let passphrase = passphrase(profile, env);
        let key_stamp = stamp(&key_path);
        let key = load_key_file(&key_path, &key_origin, passphrase.as_ref())?;
        if let Some((fp, _)) = value(profile, env, "fingerprint") {
            check_fingerprint(&fp, &key, &profile.describe());
        }
        let file_stamp = stamp(&token_path);
        let token = read_token(&token_path, &token_origin)?;
        let tenancy: TenancyId = match value(profile, env, "tenancy") {
            Some((t, origin)) => parse_ocid(&t, || origin.to_string())?,
            None => {
                let claim = token.claims().tenant.as_deref().ok_or_else(|| {
                    AuthError::MissingConfigKey {
                        path: profile.path().to_path_buf(),
                        profile: profile.name().to_string(),
                        key: "tenancy",
                        hint: " (and the session token has no `tenant` claim)".into(),
                    }
                })?;
                parse_ocid(claim, || format!("claim tenant of {token_origin}"))?
            }
        };
        // The session token's subject is the user; a token whose subject is not a user OCID
        // simply has no user to report.
        let user = token
            .claims()
            .sub
            .as_deref()
            .and_then(|sub| sub.parse::<UserId>().ok());
        let region = profile_region(profile, env, region_override)?;
        let provider = Self {
            profile_name: profile.name().to_string(),
            profile_desc: profile.describe(),
            token_path,
            token_origin,
            key_path,
            key_origin,
            passphrase,
            clock,
            principal: Principal {
                kind: PrincipalKind::SessionToken,
                tenancy,
                user,
                instance: None,
                resource: None,
                compartment: None,
                source: profile.describe(),
            },
            region,
            state: Mutex::new(SessionState {
                stamps: (file_stamp, key_stamp),
                creds: Arc::new(Credentials {
                    key_id: KeyId::SecurityToken(token.clone()),
                    key,
                }),
                token,
            }),
        };
        {
            let state = lock(&provider.state);
            provider.check_expiry(&state.token)?;
        }
        Ok(provider)
    }

    fn check_expiry(&self, token: &SecurityToken) -> Result<(), AuthError> {
        let now = self.clock.now();
        if token.is_expired(now) {
            return Err(AuthError::SessionTokenExpired {
                path: self.token_path.clone(),
                origin: self.token_origin.clone(),
                profile: self.profile_name.clone(),
                expired_at: token.expires_at().map(format_time).unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// The stamps of the token file and the key file now.
    fn stamps(&self) -> (Option<FileStamp>, Option<FileStamp>) {
        (stamp(&self.token_path), stamp(&self.key_path))
    }

    /// Re-reads the token and the key into `state`; true when the credentials changed.
    fn reload(&self, state: &mut SessionState) -> Result<bool, AuthError> {
        let new_stamps = self.stamps();
        let token = read_token(&self.token_path, &self.token_origin)?;
        let key = load_key_file(&self.key_path, &self.key_origin, self.passphrase.as_ref())?;
        let changed = token != state.token || key != state.creds.key;
        state.stamps = new_stamps;
        if changed {
            tracing::debug!(profile = %self.profile_desc, token = %token, "session token re-read");
            state.creds = Arc::new(Credentials {
                key_id: KeyId::SecurityToken(token.clone()),
                key,
            });
            state.token = token;
        }
        Ok(changed)
    }
}

fn read_token(path: &Path, origin: &str) -> Result<SecurityToken, AuthError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| AuthError::SessionTokenUnreadable {
            path: path.to_path_buf(),
            origin: origin.to_string(),
            source,
        })?;
    SecurityToken::parse(&text).map_err(|source| AuthError::Token {
        origin: format!("{} ({origin})", path.display()),
        source,
    })
}

#[async_trait]
impl CredentialProvider for SessionTokenProvider {
    async fn credentials(&self) -> Result<Arc<Credentials>, AuthError> {
        let mut state = lock(&self.state);
        if self.stamps() != state.stamps {
            self.reload(&mut state)?;
        }
        self.check_expiry(&state.token)?;
        Ok(state.creds.clone())
    }

    async fn refresh_after_unauthorized(&self) -> Result<bool, AuthError> {
        let mut state = lock(&self.state);
        let changed = self.reload(&mut state)?;
        self.check_expiry(&state.token)?;
        Ok(changed)
    }

    fn region(&self) -> Option<Region> {
        self.region.clone()
    }

    fn principal(&self) -> Principal {
        self.principal.clone()
    }
}
