//! The fleet's connection to OCI: the fleet file's auth and endpoint settings turned into the
//! credential provider they select and the one [`OciClient`] everything else uses, plus the
//! credential check behind `fleetctl auth validate`.
//!
//! This is the only place that reads `spec.auth` and `spec.endpoint`; the `oci` module takes
//! plain [`AuthSettings`] and knows nothing of the fleet file.

use std::sync::Arc;

use serde::Serialize;

use crate::Error;
use crate::config::{self, FleetConfig};
use crate::oci::auth::{self, AuthContext, AuthError, AuthMethod, AuthSettings, PrincipalKind};
use crate::oci::{ErrorKind, OciClient, OciError, Principal, Region, identity};

/// A ready connection: the client (which owns the provider and the endpoints) and who it signs
/// as.
#[derive(Debug)]
pub struct Cloud {
    /// The client every OCI operation goes through.
    pub client: OciClient,
    /// The region requests go to.
    pub region: Region,
    /// Who the requests are signed as.
    pub principal: Principal,
}

/// The plain auth settings the fleet file asks for.
///
/// A config file or profile the fleet file does not name is left to the provider's own search
/// (`OCI_CLI_CONFIG_FILE`, `~/.oci/config`, `OCI_CONFIG_FILE`; `OCI_CLI_PROFILE`, `DEFAULT`).
pub fn auth_settings(fleet: &FleetConfig) -> AuthSettings {
    let auth = &fleet.spec.auth;
    AuthSettings {
        method: auth.method.map(|m| match m {
            config::AuthMethod::User => AuthMethod::User,
            config::AuthMethod::Instance => AuthMethod::Instance,
            config::AuthMethod::Resource => AuthMethod::Resource,
        }),
        config_file: auth.config_file_explicit.then(|| auth.config_file.clone()),
        profile: auth.profile_explicit.then(|| auth.profile.clone()),
        region: auth.region.as_ref().map(|r| r.as_str().to_string()),
        endpoint: fleet.spec.endpoint.clone(),
        metadata_base_url: None,
    }
}

/// Builds the provider the fleet file selects and a client over it.
///
/// # Errors
/// [`Error::Auth`] for credentials that cannot be loaded (exit 1 when the configuration is at
/// fault, 2 when a call such as instance-principal federation failed) and [`Error::Oci`] when
/// the HTTP client cannot be built.
pub async fn connect(fleet: &FleetConfig, ctx: AuthContext) -> Result<Cloud, Error> {
    let settings = auth_settings(fleet);
    let provider: Arc<dyn auth::CredentialProvider> =
        Arc::from(auth::build_provider(&settings, &ctx).await?);
    let endpoints = auth::endpoints_for(&*provider, &settings, &ctx.env)?;
    let region = endpoints.region().clone();
    let principal = provider.principal();
    let mut builder = OciClient::builder(provider, endpoints)
        .clock(ctx.clock.clone())
        .sleeper(ctx.sleeper.clone());
    if let Some(http) = ctx.http.clone() {
        builder = builder.http_client(http);
    }
    let client = builder.build()?;
    Ok(Cloud {
        client,
        region,
        principal,
    })
}

/// What `fleetctl auth validate` reports when OCI accepted the credentials.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthReport {
    /// Always true in a report (failures are errors).
    pub ok: bool,
    /// `api_key`, `session_token`, `instance` or `resource`.
    pub principal_kind: &'static str,
    /// The principal in words, e.g. `user (API key)`.
    pub principal: String,
    /// Where the credentials came from, e.g. `profile [DEFAULT] in /home/u/.oci/config`.
    pub source: String,
    /// The region requests went to.
    pub region: String,
    /// The tenancy OCID.
    pub tenancy: String,
    /// The user OCID (API key, session token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The user's name, when the check read the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The instance OCID (instance principal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The resource OCID (resource principal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The IAM operation that proved the credentials (`GetUser` or `ListAvailabilityDomains`).
    pub check: &'static str,
    /// The base URL of the identity service that answered.
    pub identity_endpoint: String,
}

/// Connects as the fleet file says and makes one lightweight IAM call: `GetUser` for a user
/// principal (it proves the user OCID and the key together), `ListAvailabilityDomains` on the
/// tenancy otherwise (every principal may list them, so no policy is needed).
pub async fn validate_auth(fleet: &FleetConfig, ctx: AuthContext) -> Result<AuthReport, Error> {
    let cloud = connect(fleet, ctx).await?;
    let p = &cloud.principal;
    let (check, user_name) = match &p.user {
        Some(user) => {
            let u = identity::get_user(&cloud.client, user).await?;
            ("GetUser", u.name)
        }
        None => {
            let compartment = crate::ocid::CompartmentId::from(&p.tenancy);
            identity::list_availability_domains(&cloud.client, &compartment).await?;
            ("ListAvailabilityDomains", None)
        }
    };
    let identity_endpoint = cloud
        .client
        .endpoints()
        .base_url(crate::oci::Service::Identity)
        .map(|u| u.to_string())
        .unwrap_or_default();
    Ok(AuthReport {
        ok: true,
        principal_kind: match p.kind {
            PrincipalKind::ApiKey => "api_key",
            PrincipalKind::SessionToken => "session_token",
            PrincipalKind::Instance => "instance",
            PrincipalKind::Resource => "resource",
        },
        principal: p.kind.to_string(),
        source: p.source.clone(),
        region: cloud.region.id().to_string(),
        tenancy: p.tenancy.to_string(),
        user: p.user.as_ref().map(ToString::to_string),
        user_name,
        instance: p.instance.as_ref().map(ToString::to_string),
        resource: p.resource.as_ref().map(ToString::to_string),
        check,
        identity_endpoint,
    })
}

/// Troubleshooting hints for a failed `auth validate` (or any failed connection), in the order
/// a user should try them. Empty when fleetctl has nothing useful to add.
pub fn auth_hints(err: &Error, fleet: &FleetConfig) -> Vec<String> {
    let method = fleet.spec.auth.method;
    let mut hints = Vec::new();
    match err {
        Error::Auth(auth) => match auth {
            AuthError::ConfigFileNotFound { .. } | AuthError::NoConfigFile { .. } => {
                hints.push(
                    "no OCI CLI config file: run `oci setup config` (or `oci session \
                     authenticate`), or point spec.auth.configFile at one"
                        .into(),
                );
                hints.push(wrong_machine_hint());
            }
            AuthError::ProfileNotFound { .. } => hints.push(
                "set spec.auth.profile (or env OCI_CLI_PROFILE) to one of the profiles listed \
                 above"
                    .into(),
            ),
            AuthError::MissingConfigKey { .. }
            | AuthError::InvalidConfigValue { .. }
            | AuthError::InvalidOcid { .. } => hints.push(
                "compare the profile with the values shown in the OCI console (Profile > API \
                 keys > View configuration file)"
                    .into(),
            ),
            AuthError::KeyFileUnreadable { .. } | AuthError::Key { .. } => hints.push(
                "key_file must be the PEM private key whose public half is uploaded as an API \
                 key; an encrypted key needs pass_phrase in the profile"
                    .into(),
            ),
            AuthError::SessionTokenExpired { .. } => {}
            AuthError::NoRegion { .. } | AuthError::Region(_) => hints.push(
                "the region is empty or unknown: set spec.auth.region (e.g. us-ashburn-1 or \
                 iad), env OCI_REGION, or region in the OCI config profile"
                    .into(),
            ),
            AuthError::Imds { .. } | AuthError::ImdsDocument { .. } => {
                hints.push(
                    "the instance metadata service did not answer: instance principals work \
                     only on an OCI compute instance"
                        .into(),
                );
                if method == Some(config::AuthMethod::Instance) {
                    hints.push(
                        "on a workstation use spec.auth.method: user with an OCI CLI config \
                         file; in OCI Functions use resource"
                            .into(),
                    );
                }
            }
            AuthError::Federation { .. } => hints.push(
                "the instance is not allowed to federate: check that it belongs to a dynamic \
                 group and that a policy grants that group access"
                    .into(),
            ),
            AuthError::ResourcePrincipalEnvMissing { .. } => hints.push(
                "resource principals exist only inside OCI Functions (which set \
                 OCI_RESOURCE_PRINCIPAL_*); elsewhere use spec.auth.method: user or instance"
                    .into(),
            ),
            _ => {}
        },
        Error::Oci(oci) => hints.extend(call_hints(oci)),
        _ => {}
    }
    hints
}

fn wrong_machine_hint() -> String {
    "on an OCI compute instance use spec.auth.method: instance; inside OCI Functions use \
     resource"
        .into()
}

fn call_hints(err: &OciError) -> Vec<String> {
    match err.kind() {
        ErrorKind::Auth => vec![
            "OCI refused the request signature: check that `fingerprint` matches the key in \
             key_file (the public key uploaded in the console), and that `tenancy` and `user` \
             are the right OCIDs"
                .into(),
            "a clock more than 5 minutes off is refused too: check this machine's time".into(),
            "a session token may have expired: run `oci session refresh`".into(),
        ],
        ErrorKind::NotFound => vec![
            "OCI answers 404 both for a missing resource and for one you may not read: check \
             the user/tenancy OCIDs and that the region is one your tenancy is subscribed to"
                .into(),
        ],
        ErrorKind::Transport => vec![
            "OCI could not be reached: check the network, any proxy, and the region (or \
             spec.endpoint / FLEETCTL_OCI_ENDPOINT if you point fleetctl at another endpoint)"
                .into(),
        ],
        _ => Vec::new(),
    }
}
