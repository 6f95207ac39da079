//! The fleet file turned into the plain values OCI calls take: the auth and endpoint settings
//! ([`auth_settings`], which [`crate::fleet::connect`] turns into a provider and a client), a
//! group's launch request ([`launch_details`]), the load balancer's backend set
//! ([`load_balancer_backends`]), and troubleshooting hints for failures ([`hints`]).
//!
//! This is the only place that reads a [`FleetConfig`] on behalf of the `oci` module: `oci`
//! takes plain values ([`AuthSettings`], [`LaunchInstanceDetails`], ids and names) and never a
//! `FleetConfig` or a section of it.

use std::sync::Arc;

use serde_json::Value;

use crate::Error;
use crate::config::{self, FleetConfig, InstanceGroup, LoadBalancerConfig};
use crate::oci::auth::{AuthError, AuthMethod, AuthSettings};
use crate::oci::backend_set::BackendSetClient;
use crate::oci::backends::{LbError, LoadBalancerBackends};
use crate::oci::compute::{LaunchInstanceDetails, LaunchShapeConfig};
use crate::oci::{Endpoints, ErrorKind, FleetTags, OciClient, OciError, Principal, Region};
use crate::store::launch::LaunchSpec;

/// A ready connection: the client (which owns the provider and the endpoints) and who it signs
/// as. [`crate::fleet::connect`] makes one.
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

/// The launch details the fleet file sets (see [`crate::store::launch`]): image, shape and
/// shape config, each group's subnet, metadata, the user's defined and freeform tags.
pub fn launch_spec(fleet: &FleetConfig) -> LaunchSpec {
    let spec = &fleet.spec;
    LaunchSpec {
        image_id: spec.image_id.clone(),
        shape: spec.shape.clone(),
        shape_config: spec.shape_config.map(|c| {
            serde_json::to_value(LaunchShapeConfig {
                ocpus: c.ocpus,
                memory_in_gbs: c.memory_in_gbs,
            })
            .unwrap_or(Value::Null)
        }),
        subnets: spec
            .instances
            .iter()
            .map(|g| (g.name.clone(), fleet.subnet_for(g).clone()))
            .collect(),
        metadata: spec.metadata.clone(),
        defined_tags: spec
            .defined_tags
            .iter()
            .map(|(ns, kv)| {
                let values = kv
                    .iter()
                    .map(|(k, v)| {
                        let value = match v {
                            config::TagValue::String(s) => Value::String(s.clone()),
                            config::TagValue::Number(n) => Value::Number(n.clone()),
                            config::TagValue::Bool(b) => Value::Bool(*b),
                        };
                        (k.clone(), value)
                    })
                    .collect();
                (ns.clone(), values)
            })
            .collect(),
        freeform_tags: spec.freeform_tags.clone(),
    }
}

/// The launch of one instance of `group`: compartment, availability domain, shape and shape
/// config, image, the group's subnet, metadata, the user's defined tags, and the user's
/// freeform tags merged with `tags` (fleetctl's keys win). The display name is
/// `<displayNamePrefix>-<group>-<slot>`.
pub fn launch_details(
    fleet: &FleetConfig,
    group: &InstanceGroup,
    tags: &FleetTags,
) -> LaunchInstanceDetails {
    launch_details_from(fleet, &launch_spec(fleet), group, tags)
}

/// [`launch_details`] with the launch details of `launch` (a revision the ledger kept, for
/// an undo or a rollback) instead of the fleet file's; compartment, availability domain and
/// display name prefix come from the fleet file. A group the revision has no subnet for
/// (added since) takes the fleet file's.
pub fn launch_details_from(
    fleet: &FleetConfig,
    launch: &LaunchSpec,
    group: &InstanceGroup,
    tags: &FleetTags,
) -> LaunchInstanceDetails {
    let spec = &fleet.spec;
    let subnet = launch
        .subnets
        .get(&group.name)
        .unwrap_or_else(|| fleet.subnet_for(group))
        .clone();
    let mut details = LaunchInstanceDetails::new(
        spec.compartment_id.clone(),
        spec.availability_domain.clone(),
        launch.shape.clone(),
        launch.image_id.clone(),
        subnet,
    );
    details.shape_config = launch
        .shape_config
        .as_ref()
        .and_then(|v| serde_json::from_value::<LaunchShapeConfig>(v.clone()).ok());
    details.display_name = Some(format!(
        "{}-{}-{}",
        spec.display_name_prefix.as_str(),
        group.name.as_str(),
        tags.slot()
    ));
    details.metadata = launch.metadata.clone();
    details.defined_tags = launch.defined_tags.clone();
    details.freeform_tags = launch.freeform_tags.clone();
    details.tag_for_fleet(tags);
    details
}

/// The backend set of the fleet file's load balancer, classic or network by
/// `loadBalancer.type`, with the default wait policy and the process-wide mutation locks.
///
/// # Errors
/// [`LbError::WrongKind`] when the id is of the other kind (validation refuses such a file, so
/// only a hand-built [`LoadBalancerConfig`] gets here).
pub fn load_balancer_backends(
    client: &OciClient,
    lb: &LoadBalancerConfig,
) -> Result<Arc<dyn LoadBalancerBackends>, LbError> {
    Ok(Arc::new(BackendSetClient::new(
        client.clone(),
        lb.lb_type,
        lb.load_balancer_id.clone(),
        lb.backend_set_name.clone(),
    )?))
}

/// `err` with [`hints`] attached as [`Error::WithHints`]; `err` unchanged when there are none.
pub fn with_hints(err: Error, fleet: &FleetConfig, endpoints: Option<&Endpoints>) -> Error {
    let hints = hints(&err, fleet, endpoints);
    if hints.is_empty() {
        err
    } else {
        Error::WithHints {
            error: Box::new(err),
            hints,
        }
    }
}

/// Troubleshooting hints for a failed connection or OCI call, in the order a user should try
/// them; empty when fleetctl has nothing useful to add. `endpoints` are the connection's, when
/// connecting got that far: they name the region and whether an endpoint override was in
/// force.
pub fn hints(err: &Error, fleet: &FleetConfig, endpoints: Option<&Endpoints>) -> Vec<String> {
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
            AuthError::Proxy { .. } => hints.push(
                "fix or unset the proxy variable named above (HTTPS_PROXY, HTTP_PROXY, \
                 ALL_PROXY, NO_PROXY)"
                    .into(),
            ),
            AuthError::ResourcePrincipalEnvMissing { .. } => hints.push(
                "resource principals exist only inside OCI Functions (which set \
                 OCI_RESOURCE_PRINCIPAL_*); elsewhere use spec.auth.method: user or instance"
                    .into(),
            ),
            _ => {}
        },
        Error::Oci(oci) => hints.extend(call_hints(oci, fleet, endpoints)),
        Error::LoadBalancer(lb) => {
            if let Some(oci) = lb.oci() {
                hints.extend(call_hints(oci, fleet, endpoints));
            }
        }
        _ => {}
    }
    hints
}

fn wrong_machine_hint() -> String {
    "on an OCI compute instance use spec.auth.method: instance; inside OCI Functions use \
     resource"
        .into()
}

fn call_hints(err: &OciError, fleet: &FleetConfig, endpoints: Option<&Endpoints>) -> Vec<String> {
    match err {
        OciError::NameResolution {
            host,
            unknown_region: Some(region),
            ..
        } => vec![format!(
            "`{region}` is not a region fleetctl knows and `{host}` does not resolve: check the \
             spelling of spec.auth.region, env OCI_REGION or the profile's region (e.g. \
             us-ashburn-1 or iad); for a region newer than fleetctl, set OCI_REGION_METADATA"
        )],
        OciError::NameResolution { host, .. } => vec![format!(
            "the host name `{host}` does not resolve: check this machine's DNS (or, if you need \
             a proxy to reach OCI, set HTTPS_PROXY)"
        )],
        OciError::Proxy { .. } => {
            vec!["fix or unset the proxy variable named above (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY)".into()]
        }
        OciError::Transport { url, .. } => transport_hints(url, fleet, endpoints),
        _ => match err.kind() {
            ErrorKind::Auth => vec![
                "OCI refused the request signature: check that `fingerprint` matches the key \
                 in key_file (the public key uploaded in the console), and that `tenancy` and \
                 `user` are the right OCIDs"
                    .into(),
                "a clock more than 5 minutes off is refused too: check this machine's time".into(),
                "a session token may have expired: run `oci session refresh`".into(),
            ],
            ErrorKind::NotFound => vec![
                "OCI answers 404 both for a missing resource and for one you may not read: \
                 check the OCIDs involved (user, tenancy, compartment), that an IAM policy \
                 lets you use them, and that the region is one your tenancy is subscribed to"
                    .into(),
            ],
            _ => Vec::new(),
        },
    }
}

/// No HTTP answer at all. Without an endpoint override the host comes from the region, and a
/// host that does not resolve almost always means a region name OCI does not have.
fn transport_hints(url: &str, fleet: &FleetConfig, endpoints: Option<&Endpoints>) -> Vec<String> {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| url.to_string());
    let overridden = match endpoints {
        Some(e) => e.override_base().is_some(),
        None => fleet.spec.endpoint.is_some(),
    };
    let network = "otherwise check this machine's network and firewall; if you need a proxy to \
                   reach OCI, set HTTPS_PROXY"
        .to_string();
    if overridden {
        return vec![
            format!(
                "OCI could not be reached at {host}, the endpoint set by spec.endpoint or env \
                 FLEETCTL_OCI_ENDPOINT: check that it is serving and that the address is right"
            ),
            network,
        ];
    }
    let region = endpoints.map(|e| e.region().id().to_string()).or_else(|| {
        fleet
            .spec
            .auth
            .region
            .as_ref()
            .map(|r| r.as_str().to_string())
    });
    let region = match region {
        Some(r) => format!("region {r}"),
        None => "the configured region".to_string(),
    };
    vec![
        format!(
            "OCI could not be reached at {host} ({region}): when the host name does not \
             resolve, an unknown or mistyped region name is the usual cause; check \
             spec.auth.region, env OCI_REGION or the profile's region (e.g. us-ashburn-1 or iad)"
        ),
        network,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(auth: &str) -> FleetConfig {
        let text = format!(
            "kind: FleetConfig
metadata: {{name: web}}
spec:
  compartmentId: ocid1.compartment.oc1..aaaa
  imageId: ocid1.image.oc1.iad.aaaa
  availabilityDomain: AD-1
  shape: VM.Standard2.1
  subnetId: ocid1.subnet.oc1.iad.aaaa
  auth: {auth}
  instances: [{{name: blue, count: 1}}]
"
        );
        match config::load_str("fleet.yaml", &text) {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        }
    }

    /// A real transport error: a connection refused by a loopback port nothing listens on.
    async fn refused(url: &str) -> OciError {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let source = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        OciError::Transport {
            operation: "ListInstances",
            url: url.to_string(),
            attempts: 2,
            request_id: None,
            source,
        }
    }

    const IAAS: &str = "https://iaas.us-ashburn-1.oraclecloud.com/20160918/instances?x=1";

    #[tokio::test]
    async fn an_unreachable_oci_names_the_region_and_host_and_the_usual_cause() {
        let err = Error::Oci(refused(IAAS).await);
        let hints = hints(&err, &fleet("{region: us-ashburn-1}"), None).join("\n");
        assert!(
            hints.contains("at iaas.us-ashburn-1.oraclecloud.com (region us-ashburn-1)"),
            "{hints}"
        );
        assert!(
            hints.contains("unknown or mistyped region name is the usual cause"),
            "{hints}"
        );
        assert!(
            hints.contains("if you need a proxy to reach OCI, set HTTPS_PROXY"),
            "{hints}"
        );
        assert!(
            !hints.contains("FLEETCTL_OCI_ENDPOINT"),
            "no override: {hints}"
        );
    }

    #[tokio::test]
    async fn the_region_of_the_connection_wins_over_the_fleet_file() {
        let err = Error::Oci(refused("https://iaas.xx-nowhere-1.oraclecloud.com/20160918/x").await);
        let region = Region::parse("xx-nowhere-1", "env OCI_REGION").unwrap();
        let endpoints = Endpoints::new(region);
        let hints = hints(&err, &fleet("{}"), Some(&endpoints)).join("\n");
        assert!(
            hints.contains("at iaas.xx-nowhere-1.oraclecloud.com (region xx-nowhere-1)"),
            "{hints}"
        );

        let hints = crate::cloud::hints(&err, &fleet("{}"), None).join("\n");
        assert!(hints.contains("(the configured region)"), "{hints}");
    }

    #[tokio::test]
    async fn an_unreachable_endpoint_override_is_blamed_not_the_region() {
        let err = Error::Oci(refused("http://127.0.0.1:9/20160918/users/x").await);
        let region = Region::parse("us-ashburn-1", "test").unwrap();
        let endpoints = Endpoints::new(region)
            .with_override(url::Url::parse("http://127.0.0.1:9").unwrap())
            .unwrap();
        let hints = hints(&err, &fleet("{}"), Some(&endpoints)).join("\n");
        assert!(
            hints.contains(
                "OCI could not be reached at 127.0.0.1:9, the endpoint set by spec.endpoint"
            ),
            "{hints}"
        );
        assert!(!hints.contains("region"), "{hints}");
    }

    #[tokio::test]
    async fn hints_are_attached_only_when_there_are_some() {
        let err = with_hints(Error::Oci(refused(IAAS).await), &fleet("{}"), None);
        assert!(
            matches!(&err, Error::WithHints { hints, .. } if hints.len() == 2),
            "{err:?}"
        );
        assert_eq!(err.class(), crate::ErrorClass::Infrastructure);
        let plain = with_hints(Error::BadInput("x".into()), &fleet("{}"), None);
        assert!(matches!(plain, Error::BadInput(_)));
    }
}
