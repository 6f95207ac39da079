//! The OCI client's network path: proxy settings from the environment (loopback exempt),
//! requests through a proxy, and host names that do not resolve. Every server here is a
//! [`TinyServer`] on 127.0.0.1, and name resolution is injected: nothing leaves the machine.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use crate::oci_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use fleetctl_core::clock::{ManualClock, RecordingSleeper};
use fleetctl_core::env::Env;
use fleetctl_core::http::{ProxyConfig, ProxyError};
use fleetctl_core::ids::{TenancyId, UserId};
use fleetctl_core::oci::auth::{
    AuthError, CredentialProvider, Credentials, Principal, PrincipalKind,
};
use fleetctl_core::oci::client::{OciClient, OciRequest};
use fleetctl_core::oci::endpoints::{Endpoints, Service};
use fleetctl_core::oci::error::{ErrorKind, OciError};
use fleetctl_core::oci::region::Region;
use fleetctl_core::oci::retry::{NAME_RESOLUTION_MAX_ATTEMPTS, RetryPolicy};
use fleetctl_core::oci::signer::KeyId;
use fleetctl_core::{Error, ErrorClass};
use http::Method;
use oci_support::*;
use url::Url;

#[derive(Debug)]
struct FixedKey(Arc<Credentials>);

impl FixedKey {
    fn new() -> Arc<Self> {
        Arc::new(Self(Arc::new(Credentials {
            key_id: KeyId::ApiKey {
                tenancy: TenancyId::parse("ocid1.tenancy.oc1..t").unwrap(),
                user: UserId::parse("ocid1.user.oc1..u").unwrap(),
                fingerprint: fixed("fingerprint"),
            },
            key: vector_key(),
        })))
    }
}

#[async_trait]
impl CredentialProvider for FixedKey {
    async fn credentials(&self) -> Result<Arc<Credentials>, AuthError> {
        Ok(self.0.clone())
    }
    async fn refresh_after_unauthorized(&self) -> Result<bool, AuthError> {
        Ok(false)
    }
    fn region(&self) -> Option<Region> {
        None
    }
    fn principal(&self) -> Principal {
        Principal {
            kind: PrincipalKind::ApiKey,
            tenancy: TenancyId::parse("ocid1.tenancy.oc1..t").unwrap(),
            user: None,
            instance: None,
            resource: None,
            compartment: None,
            source: "test".into(),
        }
    }
}

fn get_user() -> OciRequest {
    OciRequest::new(
        "GetUser",
        Service::Identity,
        Method::GET,
        "/20160918/users/ocid1.user.oc1..u",
    )
}

fn client(endpoints: Endpoints, proxy: ProxyConfig) -> (OciClient, RecordingSleeper) {
    let clock = ManualClock::new(VECTOR_DATE);
    let sleeper = RecordingSleeper::new(clock.clone());
    let c = OciClient::builder(FixedKey::new(), endpoints)
        .clock(Arc::new(clock))
        .sleeper(Arc::new(sleeper.clone()))
        .proxy(proxy)
        .build()
        .unwrap();
    (c, sleeper)
}

fn proxy_env(pairs: &[(&str, &str)]) -> ProxyConfig {
    ProxyConfig::from_env(&Env::from_pairs(pairs.iter().copied())).unwrap()
}

fn via(p: &ProxyConfig, url: &str) -> Option<String> {
    p.proxy_for(&Url::parse(url).unwrap())
        .map(|u| u.to_string())
}

// ------------------------------------------------------------------------------------------
// Proxy settings
// ------------------------------------------------------------------------------------------

#[test]
fn https_and_http_proxies_come_from_the_environment_and_loopback_never_uses_them() {
    let p = proxy_env(&[
        ("HTTPS_PROXY", "http://fleet:s3cr3t-pw@proxy.corp.test:3128"),
        ("HTTP_PROXY", "proxy.corp.test:8080"),
    ]);
    assert_eq!(
        via(
            &p,
            "https://iaas.us-ashburn-1.oraclecloud.com/20160918/instances"
        ),
        Some("http://fleet:s3cr3t-pw@proxy.corp.test:3128/".into())
    );
    assert_eq!(
        via(&p, "http://sim.example.test:8999/"),
        Some("http://proxy.corp.test:8080/".into()),
        "a proxy without a scheme is http://"
    );
    for local in [
        "http://127.0.0.1:8999/",
        "https://127.0.0.1:8999/",
        "http://127.9.9.9/",
        "http://localhost:8999/",
        "http://[::1]:8999/",
    ] {
        assert_eq!(via(&p, local), None, "{local}");
    }
    let shown = format!("{p:?}");
    assert!(!shown.contains("s3cr3t-pw"), "{shown}");
    assert!(shown.contains("proxy.corp.test:3128"), "{shown}");
}

#[test]
fn no_proxy_exempts_domains_with_their_subdomains_networks_addresses_and_ports() {
    let p = proxy_env(&[
        ("HTTPS_PROXY", "http://proxy.corp.test:3128"),
        (
            "NO_PROXY",
            "internal.test, .corp.example, *.wild.test, 10.0.0.0/8, 192.168.1.5, fd00::/8, \
             only-port.test:8443",
        ),
    ]);
    for direct in [
        "https://internal.test/",
        "https://a.b.internal.test/",
        "https://corp.example/",
        "https://x.corp.example/",
        "https://x.wild.test/",
        "https://10.2.3.4/",
        "https://192.168.1.5/",
        "https://[fd00::1]/",
        "https://only-port.test:8443/",
    ] {
        assert_eq!(via(&p, direct), None, "{direct}");
    }
    for proxied in [
        "https://notinternal.test/",
        "https://internal.test.evil.test/",
        "https://11.0.0.1/",
        "https://192.168.1.6/",
        "https://only-port.test/",
        "https://iaas.us-ashburn-1.oraclecloud.com/",
    ] {
        assert!(via(&p, proxied).is_some(), "{proxied}");
    }
    let all = proxy_env(&[("HTTPS_PROXY", "proxy.corp.test:3128"), ("no_proxy", "*")]);
    assert_eq!(
        via(&all, "https://iaas.us-ashburn-1.oraclecloud.com/"),
        None
    );
}

#[test]
fn upper_case_wins_lower_case_and_all_proxy_are_fallbacks_and_empty_is_unset() {
    let p = proxy_env(&[
        ("HTTPS_PROXY", "http://upper.test:1"),
        ("https_proxy", "http://lower.test:2"),
    ]);
    assert_eq!(
        via(&p, "https://a.test/"),
        Some("http://upper.test:1/".into())
    );
    let p = proxy_env(&[("HTTPS_PROXY", ""), ("https_proxy", "http://lower.test:2")]);
    assert_eq!(
        via(&p, "https://a.test/"),
        Some("http://lower.test:2/".into())
    );
    let p = proxy_env(&[("ALL_PROXY", "http://all.test:3")]);
    assert_eq!(
        via(&p, "https://a.test/"),
        Some("http://all.test:3/".into())
    );
    assert_eq!(via(&p, "http://a.test/"), Some("http://all.test:3/".into()));
    let p = proxy_env(&[("HTTPS_PROXY", "  "), ("NO_PROXY", "")]);
    assert!(p.is_direct());
    assert!(proxy_env(&[]).is_direct());
}

#[test]
fn an_unusable_proxy_variable_is_named_without_its_password() {
    for (value, reason) in [
        (
            "socks5://fleet:s3cr3t-pw@proxy.test:1080",
            "only http:// and https://",
        ),
        ("http://fleet:s3cr3t-pw@:3128", "URL"),
    ] {
        let err = ProxyConfig::from_env(&Env::from_pairs([("HTTPS_PROXY", value)])).unwrap_err();
        let ProxyError::Invalid { variable, .. } = &err;
        assert_eq!(*variable, "HTTPS_PROXY");
        let msg = err.to_string();
        assert!(msg.contains("HTTPS_PROXY") && msg.contains(reason), "{msg}");
        assert!(!msg.contains("s3cr3t-pw"), "{msg}");
    }
}

// ------------------------------------------------------------------------------------------
// Requests through a proxy
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn oci_calls_tunnel_through_the_https_proxy_with_its_credentials() {
    // The proxy refuses the tunnel, so nothing goes further than 127.0.0.1.
    let proxy = TinyServer::start(|_| (403, Vec::new(), Vec::new())).await;
    let proxy_url = proxy.url().replace("http://", "http://fleet:s3cr3t-pw@");
    let endpoints = Endpoints::new(Region::parse("iad", "test").unwrap());
    let (c, _) = client(endpoints, proxy_env(&[("HTTPS_PROXY", &proxy_url)]));
    let err = c.send(&get_user()).await.unwrap_err();
    let seen = proxy.received();
    assert!(!seen.is_empty());
    assert_eq!(
        seen[0].request_line,
        "CONNECT identity.us-ashburn-1.oci.oraclecloud.com:443 HTTP/1.1"
    );
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode("fleet:s3cr3t-pw");
    assert_eq!(
        seen[0].header("proxy-authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    assert_eq!(err.kind(), ErrorKind::Transport);
    let text = format!("{err} {err:?}");
    assert!(!text.contains("s3cr3t-pw"), "{text}");
}

#[tokio::test]
async fn a_plain_http_endpoint_is_forwarded_by_the_http_proxy_and_signed_for_its_host() {
    let proxy = TinyServer::start(|_| json_answer(r#"{"id":"ocid1.user.oc1..u"}"#)).await;
    // Plain http to a host that is not loopback needs the documented opt-in.
    let endpoints = Endpoints::from_settings(
        Region::parse("iad", "test").unwrap(),
        None,
        &Env::from_pairs([
            ("FLEETCTL_OCI_ENDPOINT", "http://sim.example.test:8999"),
            ("FLEETCTL_ALLOW_INSECURE_ENDPOINT", "1"),
        ]),
    )
    .unwrap();
    let (c, _) = client(endpoints, proxy_env(&[("HTTP_PROXY", &proxy.url())]));
    let resp = c.send(&get_user()).await.unwrap();
    assert_eq!(resp.status, 200);
    let seen = proxy.received();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].request_line,
        "GET http://sim.example.test:8999/20160918/users/ocid1.user.oc1..u HTTP/1.1"
    );
    assert_eq!(seen[0].header("host"), Some("sim.example.test:8999"));
    let auth = seen[0].header("authorization").unwrap();
    assert!(param(auth, "headers").contains("host"), "{auth}");
}

#[tokio::test]
async fn the_local_simulator_is_reached_directly_with_every_proxy_variable_set() {
    let target = TinyServer::start(|_| json_answer(r#"{"id":"ocid1.user.oc1..u"}"#)).await;
    let proxy = TinyServer::start(|_| (502, Vec::new(), Vec::new())).await;
    let endpoints = Endpoints::new(Region::parse("iad", "test").unwrap())
        .with_override(Url::parse(&target.url()).unwrap())
        .unwrap();
    let p = proxy.url();
    let config = proxy_env(&[
        ("HTTPS_PROXY", &p),
        ("HTTP_PROXY", &p),
        ("ALL_PROXY", &p),
        ("https_proxy", &p),
        ("http_proxy", &p),
    ]);
    let (c, _) = client(endpoints, config);
    c.send(&get_user()).await.unwrap();
    assert_eq!(target.received().len(), 1);
    assert!(
        proxy.received().is_empty(),
        "loopback never goes through a proxy"
    );
}

// ------------------------------------------------------------------------------------------
// Host names that do not resolve
// ------------------------------------------------------------------------------------------

/// A resolver that knows no name and counts the questions.
#[derive(Debug, Default)]
struct NoSuchHost(AtomicU32);

impl reqwest::dns::Resolve for NoSuchHost {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Err("Name or service not known".into()) })
    }
}

async fn unresolvable(region: &str) -> (OciError, Arc<NoSuchHost>, RecordingSleeper) {
    let resolver = Arc::new(NoSuchHost::default());
    let clock = ManualClock::new(VECTOR_DATE);
    let sleeper = RecordingSleeper::new(clock.clone());
    let c = OciClient::builder(
        FixedKey::new(),
        Endpoints::new(Region::parse(region, "the `region` setting").unwrap()),
    )
    .clock(Arc::new(clock))
    .sleeper(Arc::new(sleeper.clone()))
    .proxy(ProxyConfig::direct())
    .dns_resolver(resolver.clone())
    .retry_policy(RetryPolicy::default())
    .build()
    .unwrap();
    let err = c.send(&get_user()).await.unwrap_err();
    (err, resolver, sleeper)
}

#[tokio::test]
async fn a_host_of_a_misspelt_region_that_does_not_resolve_is_tried_twice_and_named() {
    let (err, resolver, sleeper) = unresolvable("us-ashburn1").await;
    match &err {
        OciError::NameResolution {
            host,
            attempts,
            unknown_region,
            ..
        } => {
            assert_eq!(host, "identity.us-ashburn1.oci.oraclecloud.com");
            assert_eq!(*attempts, NAME_RESOLUTION_MAX_ATTEMPTS);
            assert_eq!(unknown_region.as_deref(), Some("us-ashburn1"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(resolver.0.load(Ordering::SeqCst), 2);
    assert_eq!(
        sleeper.slept().len(),
        1,
        "one short wait, not the 8-attempt budget"
    );
    assert_eq!(err.unknown_region(), Some("us-ashburn1"));
    assert_eq!(
        err.unresolved_host(),
        Some("identity.us-ashburn1.oci.oraclecloud.com")
    );
    let msg = err.to_string();
    assert!(
        msg.contains("identity.us-ashburn1.oci.oraclecloud.com")
            && msg.contains("DNS")
            && msg.contains("`us-ashburn1` is not a region fleetctl knows"),
        "{msg}"
    );
    assert_eq!(err.kind(), ErrorKind::Transport);
    assert!(err.is_configuration_problem(), "a misspelt region: exit 1");
    assert_eq!(Error::from(err).class(), ErrorClass::Configuration);
}

#[tokio::test]
async fn a_host_of_a_known_region_that_does_not_resolve_is_an_infrastructure_error() {
    let (err, resolver, _) = unresolvable("us-ashburn-1").await;
    assert!(
        matches!(
            &err,
            OciError::NameResolution {
                unknown_region: None,
                attempts: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(resolver.0.load(Ordering::SeqCst), 2);
    assert!(!err.to_string().contains("not a region"), "{err}");
    assert_eq!(Error::from(err).class(), ErrorClass::Infrastructure);
}
