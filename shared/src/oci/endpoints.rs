//! Service endpoints: realm-aware host templates and one override base URL.
//!
//! | Service | Host | API prefix (added by operations) |
//! |---|---|---|
//! | Core (compute, VCN) | `iaas.{region}.{sld}` | `/20160918` |
//! | Classic load balancer | `iaas.{region}.{sld}` (same host as Core) | `/20170115` |
//! | Network load balancer | `network-load-balancer-api.{region}.oci.{sld}` | `/20200501` |
//! | Identity | `identity.{region}.oci.{sld}` | `/20160918` |
//! | Object Storage | `objectstorage.{region}.{sld}` | none (`/n/...`) |
//! | Auth (federation, token refresh) | `auth.{region}.{sld}` | none (`/v1/...`) |
//!
//! The override (the `endpoint` setting, else env `FLEETCTL_OCI_ENDPOINT`) replaces the scheme,
//! host, port and an optional path prefix of *every* service, federation included, e.g.
//! `http://127.0.0.1:8999` for the local simulator. API version prefixes are never part of an
//! endpoint: operations append them.
//!
//! One rule set ([`parse_base_url`], from the leaf [`crate::urls::endpoint`]) decides what an
//! override may be, wherever it comes from (the fleet file checks its `endpoint` with it too):
//! `http://` or `https://`, a host, an optional port and path; no user info, query or
//! fragment. Errors show at most `scheme://host:port` of a refused value.
//!
//! # Plain HTTP
//! Every request carries its signature, and with a session token, instance or resource
//! principal its `keyId="ST$<token>"`: over plain HTTP anyone on the path could replay them.
//! So an `http://` override is accepted only for a loopback host ([`is_loopback_host`]: the
//! local simulator), unless env [`ALLOW_INSECURE_ENDPOINT_ENV`] is `1` or `true`. This rule
//! needs the environment, so it is applied where the endpoints are built
//! ([`Endpoints::from_settings`], [`Endpoints::with_override`]), not by [`parse_base_url`].

use url::Url;

use super::region::Region;
use crate::env::Env;
pub use crate::http::is_loopback_host;
pub use crate::urls::endpoint::{BaseUrlProblem, parse_base_url, shown_base_url};

/// The environment variable holding the endpoint override.
pub const ENDPOINT_ENV: &str = "FLEETCTL_OCI_ENDPOINT";

/// The environment variable that allows a plain `http://` override to a host that is not
/// loopback (`1` or `true`; `0`, `false` or unset: not allowed).
pub const ALLOW_INSECURE_ENDPOINT_ENV: &str = "FLEETCTL_ALLOW_INSECURE_ENDPOINT";

/// An OCI service fleetctl calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Compute and VCN (`iaas`).
    Core,
    /// The classic load balancer (also on `iaas`).
    LoadBalancer,
    /// The network load balancer.
    NetworkLoadBalancer,
    /// Identity and access management.
    Identity,
    /// Object Storage (native API).
    ObjectStorage,
    /// The auth service (x509 federation, session-token refresh).
    Auth,
}

impl Service {
    /// The API version path prefix operations put before their paths (`/20160918`), or `""`.
    pub fn api_prefix(self) -> &'static str {
        match self {
            Service::Core | Service::Identity => "/20160918",
            Service::LoadBalancer => "/20170115",
            Service::NetworkLoadBalancer => "/20200501",
            Service::ObjectStorage | Service::Auth => "",
        }
    }

    /// A short name for messages and logs.
    pub fn name(self) -> &'static str {
        match self {
            Service::Core => "core",
            Service::LoadBalancer => "load-balancer",
            Service::NetworkLoadBalancer => "network-load-balancer",
            Service::Identity => "identity",
            Service::ObjectStorage => "object-storage",
            Service::Auth => "auth",
        }
    }

    fn host_label(self) -> (&'static str, bool) {
        match self {
            Service::Core | Service::LoadBalancer => ("iaas", false),
            Service::NetworkLoadBalancer => ("network-load-balancer-api", true),
            Service::Identity => ("identity", true),
            Service::ObjectStorage => ("objectstorage", false),
            Service::Auth => ("auth", false),
        }
    }
}

/// An endpoint override that cannot be used. Messages name where the value came from and
/// show at most its `scheme://host:port`, never user info, path, query or fragment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not an http(s) base URL without user info, query or fragment.
    #[error(
        "the OCI endpoint override {}(from {origin}) {problem}; it must be an http:// or \
         https:// base URL without user info, query or fragment, e.g. `http://127.0.0.1:8999`",
        shown.as_deref().map(|s| format!("`{s}` ")).unwrap_or_default()
    )]
    Unusable {
        /// `scheme://host[:port]` of the value, when it has a host.
        shown: Option<String>,
        /// Where it came from (`env FLEETCTL_OCI_ENDPOINT`, `the `endpoint` setting`).
        origin: String,
        /// What is wrong.
        problem: BaseUrlProblem,
    },
    /// A plain `http://` override to a host that is not loopback, without the opt-in.
    #[error(
        "the OCI endpoint override `{shown}` (from {origin}) is plain http:// to a host that \
         is not loopback: every request would carry its signature, and with a session token, \
         instance or resource principal its token (keyId=\"ST$…\"), in cleartext; use \
         https://, or, only on a network path you trust, set \
         {ALLOW_INSECURE_ENDPOINT_ENV}=1"
    )]
    InsecureHttp {
        /// `scheme://host[:port]` of the value.
        shown: String,
        /// Where it came from.
        origin: String,
    },
    /// The opt-in variable holds something other than `1`, `true`, `0` or `false`.
    #[error("env {ALLOW_INSECURE_ENDPOINT_ENV} = `{value}` is not `1`, `true`, `0` or `false`")]
    BadInsecureOptIn {
        /// The value.
        value: String,
    },
    /// The region's domain does not form a valid host (e.g. a malformed `OCI_DEFAULT_REALM`).
    #[error(
        "`{host}` is not a valid host name for {service}; check the region and OCI_DEFAULT_REALM"
    )]
    BadHost {
        /// The host formed.
        host: String,
        /// The service.
        service: &'static str,
    },
    /// A path given to [`Endpoints::url`] that does not form a URL.
    #[error("`{path}` is not a valid request path for {service}")]
    BadPath {
        /// The path.
        path: String,
        /// The service.
        service: &'static str,
    },
}

/// The base URL of every service for one region, or one override for all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    region: Region,
    override_base: Option<Url>,
}

impl Endpoints {
    /// Real OCI endpoints for `region`.
    pub fn new(region: Region) -> Self {
        Self {
            region,
            override_base: None,
        }
    }

    /// Endpoints for `region` with the override from `setting`, else from env
    /// `FLEETCTL_OCI_ENDPOINT`, else none. A plain `http://` override must name a loopback
    /// host unless env `FLEETCTL_ALLOW_INSECURE_ENDPOINT` allows it (see the module docs).
    pub fn from_settings(
        region: Region,
        setting: Option<&Url>,
        env: &Env,
    ) -> Result<Self, EndpointError> {
        let (text, origin) = match (setting, env.get_non_empty(ENDPOINT_ENV)) {
            (Some(url), _) => (url.as_str(), "the `endpoint` setting".to_string()),
            (None, Some(value)) => (value, format!("env {ENDPOINT_ENV}")),
            (None, None) => {
                return Ok(Self {
                    region,
                    override_base: None,
                });
            }
        };
        let base = checked_base(text, &origin)?;
        if !insecure_http_allowed(env)? {
            refuse_insecure_http(&base, &origin)?;
        }
        Ok(Self {
            region,
            override_base: Some(base),
        })
    }

    /// Points every service at `base` (e.g. `http://127.0.0.1:8999`). A plain `http://`
    /// base must name a loopback host (use [`Endpoints::from_settings`] for the opt-in).
    pub fn with_override(mut self, base: Url) -> Result<Self, EndpointError> {
        let origin = "the endpoint override";
        let base = checked_base(base.as_str(), origin)?;
        refuse_insecure_http(&base, origin)?;
        self.override_base = Some(base);
        Ok(self)
    }

    /// The region these endpoints serve.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The override, if any.
    pub fn override_base(&self) -> Option<&Url> {
        self.override_base.as_ref()
    }

    /// The base URL of `service` (no API prefix).
    pub fn base_url(&self, service: Service) -> Result<Url, EndpointError> {
        match &self.override_base {
            Some(base) => Ok(base.clone()),
            None => {
                let (label, oci) = service.host_label();
                let host = self.region.host(label, oci);
                Url::parse(&format!("https://{host}")).map_err(|_| EndpointError::BadHost {
                    host,
                    service: service.name(),
                })
            }
        }
    }

    /// The full URL of `path_and_query` (already percent-encoded, starting with `/`) on
    /// `service`. The result is what gets signed and sent.
    pub fn url(&self, service: Service, path_and_query: &str) -> Result<Url, EndpointError> {
        let base = self.base_url(service)?;
        let base_str = base.as_str().trim_end_matches('/');
        if !path_and_query.starts_with('/') {
            return Err(EndpointError::BadPath {
                path: path_and_query.to_string(),
                service: service.name(),
            });
        }
        Url::parse(&format!("{base_str}{path_and_query}")).map_err(|_| EndpointError::BadPath {
            path: path_and_query.to_string(),
            service: service.name(),
        })
    }
}

/// [`parse_base_url`], with an error that names `origin` and shows only `scheme://host:port`.
fn checked_base(text: &str, origin: &str) -> Result<Url, EndpointError> {
    parse_base_url(text).map_err(|problem| EndpointError::Unusable {
        shown: shown_base_url(text),
        origin: origin.to_string(),
        problem,
    })
}

/// Whether env `FLEETCTL_ALLOW_INSECURE_ENDPOINT` allows a plain `http://` override to a host
/// that is not loopback.
fn insecure_http_allowed(env: &Env) -> Result<bool, EndpointError> {
    match env
        .get_non_empty(ALLOW_INSECURE_ENDPOINT_ENV)
        .map(str::trim)
    {
        None => Ok(false),
        Some(v) if v == "1" || v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v == "0" || v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(EndpointError::BadInsecureOptIn {
            value: v.to_string(),
        }),
    }
}

/// Refuses a plain `http://` base whose host is not loopback.
fn refuse_insecure_http(base: &Url, origin: &str) -> Result<(), EndpointError> {
    if base.scheme() == "http" && !base.host().is_some_and(|h| is_loopback_host(&h)) {
        return Err(EndpointError::InsecureHttp {
            shown: shown_base_url(base.as_str()).unwrap_or_else(|| "http://".to_string()),
            origin: origin.to_string(),
        });
    }
    Ok(())
}
