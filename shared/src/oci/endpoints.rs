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

use url::Url;

use super::region::Region;
use crate::env::Env;
pub use crate::urls::endpoint::{BaseUrlProblem, parse_base_url, shown_base_url};

/// The environment variable holding the endpoint override.
pub const ENDPOINT_ENV: &str = "FLEETCTL_OCI_ENDPOINT";

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
    /// `FLEETCTL_OCI_ENDPOINT`, else none.
    pub fn from_settings(
        region: Region,
        setting: Option<&Url>,
        env: &Env,
    ) -> Result<Self, EndpointError> {
        let base = match (setting, env.get_non_empty(ENDPOINT_ENV)) {
            (Some(url), _) => Some(checked_base(url.as_str(), "the `endpoint` setting")?),
            (None, Some(value)) => Some(checked_base(value, &format!("env {ENDPOINT_ENV}"))?),
            (None, None) => None,
        };
        Ok(Self {
            region,
            override_base: base,
        })
    }

    /// Points every service at `base` (e.g. `http://127.0.0.1:8999`).
    pub fn with_override(mut self, base: Url) -> Result<Self, EndpointError> {
        self.override_base = Some(checked_base(base.as_str(), "the endpoint override")?);
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
