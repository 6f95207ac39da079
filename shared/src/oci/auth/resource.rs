//! Resource principal v2.2: what OCI Functions give a function.
//!
//! | Variable | Meaning |
//! |---|---|
//! | `OCI_RESOURCE_PRINCIPAL_VERSION` | must be `2.2` |
//! | `OCI_RESOURCE_PRINCIPAL_RPST` | the token, or an absolute path to a file holding it |
//! | `OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM` | the PEM key, or an absolute path to it |
//! | `OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE` | optional; a path when the PEM is a path, a literal when it is a literal (the Go SDK's rule) |
//! | `OCI_RESOURCE_PRINCIPAL_REGION` | the function's region |
//!
//! Requests are signed with `ST$<RPST>` and the key. Tenancy and compartment come from the
//! token's `res_tenant` and `res_compartment` claims. Token and key are cached and re-read
//! (file values only) when `exp - now < 5 min` and after a 401; a literal value cannot be
//! refreshed.

use crate::oci::auth::parse_ocid;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::{
    AuthContext, AuthError, CredentialProvider, Credentials, Principal, PrincipalKind, lock,
    needs_refresh,
};
use crate::clock::Clock;
use crate::ids::{CompartmentId, ResourceId, TenancyId};
use crate::oci::keys::{Passphrase, SigningKey};
use crate::oci::region::Region;
use crate::oci::signer::KeyId;
use crate::oci::token::{SecurityToken, format_time};

/// `OCI_RESOURCE_PRINCIPAL_VERSION`.
pub const VERSION_VAR: &str = "OCI_RESOURCE_PRINCIPAL_VERSION";
/// `OCI_RESOURCE_PRINCIPAL_RPST`.
pub const RPST_VAR: &str = "OCI_RESOURCE_PRINCIPAL_RPST";
/// `OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM`.
pub const PEM_VAR: &str = "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM";
/// `OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE`.
pub const PASSPHRASE_VAR: &str = "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM_PASSPHRASE";
/// `OCI_RESOURCE_PRINCIPAL_REGION`.
pub const REGION_VAR: &str = "OCI_RESOURCE_PRINCIPAL_REGION";

/// A value given either literally or as an absolute path to a file.
#[derive(Clone, PartialEq, Eq)]
enum Source {
    Literal(String),
    File(PathBuf),
}

impl Source {
    /// An absolute path means a file (Python `os.path.isabs`, Go `path.IsAbs`).
    fn from_env_value(v: &str) -> Self {
        let trimmed = v.trim();
        if Path::new(trimmed).is_absolute() && !trimmed.contains('\n') {
            Source::File(PathBuf::from(trimmed))
        } else {
            Source::Literal(v.to_string())
        }
    }

    fn read(&self, var: &'static str) -> Result<String, AuthError> {
        match self {
            Source::Literal(v) => Ok(v.clone()),
            Source::File(path) => {
                std::fs::read_to_string(path).map_err(|source| AuthError::ResourcePrincipalFile {
                    var,
                    path: path.clone(),
                    source,
                })
            }
        }
    }

    fn describe(&self, var: &str) -> String {
        match self {
            Source::Literal(_) => format!("env {var} (literal value)"),
            Source::File(p) => format!("{} (from env {var})", p.display()),
        }
    }
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Literal(_) => f.write_str("Literal(<redacted>)"),
            Source::File(p) => write!(f, "File({p:?})"),
        }
    }
}

/// The resource principal v2.2 provider.
#[derive(Debug)]
pub struct ResourcePrincipalProvider {
    token_source: Source,
    key_source: Source,
    passphrase_source: Option<Source>,
    clock: Arc<dyn Clock>,
    region: Option<Region>,
    state: Mutex<RpState>,
}

#[derive(Debug)]
struct RpState {
    token: SecurityToken,
    creds: Arc<Credentials>,
    principal: Principal,
}

impl ResourcePrincipalProvider {
    /// Reads the `OCI_RESOURCE_PRINCIPAL_*` variables of `ctx.env` and loads token and key.
    /// `region_override` (explicit setting or `OCI_REGION`) wins over
    /// `OCI_RESOURCE_PRINCIPAL_REGION`.
    pub fn from_env(ctx: &AuthContext, region_override: Option<Region>) -> Result<Self, AuthError> {
        let env = &ctx.env;
        let version = env.get_non_empty(VERSION_VAR).ok_or(
            AuthError::ResourcePrincipalEnvMissing {
                var: VERSION_VAR,
                hint: " (resource principals exist inside OCI Functions and other OCI services)",
            },
        )?;
        if version != "2.2" {
            return Err(AuthError::ResourcePrincipalUnsupportedVersion {
                version: version.to_string(),
            });
        }
        let token_source = env
            .get_non_empty(RPST_VAR)
            .map(Source::from_env_value)
            .ok_or(AuthError::ResourcePrincipalEnvMissing {
                var: RPST_VAR,
                hint: "",
            })?;
        let key_source = env
            .get(PEM_VAR)
            .filter(|v| !v.trim().is_empty())
            .map(Source::from_env_value)
            .ok_or(AuthError::ResourcePrincipalEnvMissing {
                var: PEM_VAR,
                hint: "",
            })?;
        let passphrase_source = match env.get(PASSPHRASE_VAR).filter(|v| !v.is_empty()) {
            None => None,
            Some(v) => {
                let s = Source::from_env_value(v);
                let same_form = matches!(
                    (&s, &key_source),
                    (Source::File(_), Source::File(_)) | (Source::Literal(_), Source::Literal(_))
                );
                if !same_form {
                    return Err(AuthError::ResourcePrincipalPassphraseForm);
                }
                Some(s)
            }
        };
        let region = match region_override {
            Some(r) => Some(r),
            None => match env.get_non_empty(REGION_VAR) {
                Some(v) => Some(
                    Region::resolve(v, &format!("env {REGION_VAR}"), env)
                        .map_err(AuthError::Region)?,
                ),
                None => None,
            },
        };
        let state = load_state(&token_source, &key_source, passphrase_source.as_ref())?;
        let provider = Self {
            token_source,
            key_source,
            passphrase_source,
            clock: ctx.clock.clone(),
            region,
            state: Mutex::new(state),
        };
        {
            let state = lock(&provider.state);
            if state.token.is_expired(provider.clock.now()) {
                return Err(provider.expired_error(&state.token));
            }
        }
        Ok(provider)
    }

    /// True when token and key come from files (and so can be refreshed).
    pub fn can_refresh(&self) -> bool {
        matches!(self.token_source, Source::File(_)) || matches!(self.key_source, Source::File(_))
    }

    fn load(&self) -> Result<RpState, AuthError> {
        load_state(
            &self.token_source,
            &self.key_source,
            self.passphrase_source.as_ref(),
        )
    }

    fn expired_error(&self, token: &SecurityToken) -> AuthError {
        AuthError::TokenExpired {
            origin: self.token_source.describe(RPST_VAR),
            expired_at: token.expires_at().map(format_time).unwrap_or_default(),
            hint: if self.can_refresh() {
                " (the platform did not rewrite the file in time)"
            } else {
                " (a literal OCI_RESOURCE_PRINCIPAL_RPST cannot be refreshed)"
            },
        }
    }
}

fn load_state(
    token_source: &Source,
    key_source: &Source,
    passphrase_source: Option<&Source>,
) -> Result<RpState, AuthError> {
    let origin = token_source.describe(RPST_VAR);
    let token_text = token_source.read(RPST_VAR)?;
    let token = SecurityToken::parse(&token_text).map_err(|source| AuthError::Token {
        origin: origin.clone(),
        source,
    })?;
    let passphrase = match passphrase_source {
        Some(s) => Some(Passphrase::new(
            s.read(PASSPHRASE_VAR)?.trim_end_matches(['\r', '\n']),
        )),
        None => None,
    };
    let pem = key_source.read(PEM_VAR)?;
    let key = SigningKey::from_pem(&pem, passphrase.as_ref()).map_err(|source| AuthError::Key {
        origin: key_source.describe(PEM_VAR),
        source,
    })?;
    let claims = token.claims();
    let tenancy = claims
        .res_tenant
        .clone()
        .ok_or_else(|| AuthError::MissingClaim {
            origin: origin.clone(),
            claim: "res_tenant",
        })?;
    let principal = Principal {
        kind: PrincipalKind::Resource,
        tenancy: parse_ocid::<TenancyId>(&tenancy, || format!("claim res_tenant of {origin}"))?,
        user: None,
        instance: None,
        resource: claims
            .res_id
            .as_deref()
            .or(claims.sub.as_deref())
            .map(|id| parse_ocid::<ResourceId>(id, || format!("claim res_id of {origin}")))
            .transpose()?,
        compartment: claims
            .res_compartment
            .as_deref()
            .map(|id| {
                parse_ocid::<CompartmentId>(id, || format!("claim res_compartment of {origin}"))
            })
            .transpose()?,
        source: format!("resource principal v2.2 ({origin})"),
    };
    Ok(RpState {
        creds: Arc::new(Credentials {
            key_id: KeyId::SecurityToken(token.clone()),
            key,
        }),
        token,
        principal,
    })
}

#[async_trait]
impl CredentialProvider for ResourcePrincipalProvider {
    async fn credentials(&self) -> Result<Arc<Credentials>, AuthError> {
        let now = self.clock.now();
        let mut state = lock(&self.state);
        if needs_refresh(&state.token, now) && self.can_refresh() {
            match self.load() {
                Ok(loaded) => {
                    if loaded.token != state.token {
                        tracing::debug!(token = %loaded.token, "resource principal token re-read");
                    }
                    *state = loaded;
                }
                Err(e) if !state.token.is_expired(now) => {
                    tracing::warn!(error = %e, "could not re-read the resource principal token; using the cached one until it expires");
                }
                Err(e) => return Err(e),
            }
        }
        if state.token.is_expired(now) {
            return Err(self.expired_error(&state.token));
        }
        Ok(state.creds.clone())
    }

    async fn refresh_after_unauthorized(&self) -> Result<bool, AuthError> {
        if !self.can_refresh() {
            return Ok(false);
        }
        let loaded = self.load()?;
        let mut state = lock(&self.state);
        let changed = loaded.token != state.token || loaded.creds.key != state.creds.key;
        *state = loaded;
        Ok(changed)
    }

    fn region(&self) -> Option<Region> {
        self.region.clone()
    }

    fn principal(&self) -> Principal {
        lock(&self.state).principal.clone()
    }
}
