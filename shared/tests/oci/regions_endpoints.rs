//! Regions, realms and service endpoints, including the one override URL.
#![allow(clippy::unwrap_used)] // helpers outside #[test] fns unwrap test data

use fleetctl_core::env::Env;
use fleetctl_core::oci::endpoints::{Endpoints, Service};
use fleetctl_core::oci::region::{Region, RegionError, realm_domain, region_for_short_code};
use url::Url;

#[test]
fn the_short_codes_of_the_fact_sheet_map_to_region_ids() {
    let table = [
        ("phx", "us-phoenix-1"),
        ("iad", "us-ashburn-1"),
        ("fra", "eu-frankfurt-1"),
        ("lhr", "uk-london-1"),
        ("nrt", "ap-tokyo-1"),
        ("syd", "ap-sydney-1"),
        ("ord", "us-chicago-1"),
        ("sjc", "us-sanjose-1"),
        ("ams", "eu-amsterdam-1"),
        ("gru", "sa-saopaulo-1"),
        ("yyz", "ca-toronto-1"),
        ("sin", "ap-singapore-1"),
    ];
    for (code, id) in table {
        assert_eq!(region_for_short_code(code), Some(id), "{code}");
        assert_eq!(
            Region::parse(&code.to_uppercase(), "test").unwrap().id(),
            id,
            "{code}"
        );
    }
}

#[test]
fn region_ids_are_trimmed_lower_cased_and_kept() {
    let r = Region::parse("  US-Ashburn-1\n", "test").unwrap();
    assert_eq!(r.id(), "us-ashburn-1");
    assert_eq!(r.realm(), Some("oc1"));
    assert!(r.is_known());
}

#[test]
fn realms_map_to_their_second_level_domains() {
    assert_eq!(realm_domain("oc1"), Some("oraclecloud.com"));
    assert_eq!(realm_domain("oc2"), Some("oraclegovcloud.com"));
    assert_eq!(realm_domain("oc4"), Some("oraclegovcloud.uk"));
    assert_eq!(realm_domain("oc8"), Some("oraclecloud8.com"));
    assert_eq!(realm_domain("oc19"), Some("oraclecloud.eu"));
    assert_eq!(realm_domain("oc99"), None);
    let r = Region::parse("us-langley-1", "test").unwrap();
    assert_eq!(r.second_level_domain(), Some("oraclegovcloud.com"));
}

#[test]
fn an_empty_or_malformed_region_is_an_error_naming_its_origin() {
    let err = Region::parse(" ", "env OCI_REGION").unwrap_err();
    assert!(matches!(err, RegionError::Empty { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("env OCI_REGION") && msg.contains("us-ashburn-1") && msg.contains("iad"),
        "{msg}"
    );
    let err = Region::parse("us ashburn", "the fleet file").unwrap_err();
    assert!(err.to_string().contains("`us ashburn`") && err.to_string().contains("the fleet file"));
}

#[test]
fn unknown_regions_take_their_realm_from_region_metadata_then_default_realm() {
    let meta = r#"{"realmKey":"oc77","realmDomainComponent":"example-cloud.test","regionKey":"NEW","regionIdentifier":"xx-new-1"}"#;
    let env = Env::from_pairs([("OCI_REGION_METADATA", meta)]);
    let r = Region::resolve("xx-new-1", "test", &env).unwrap();
    assert_eq!(r.second_level_domain(), Some("example-cloud.test"));
    assert_eq!(r.realm(), Some("oc77"));
    let env = Env::from_pairs([("OCI_DEFAULT_REALM", "other-cloud.test")]);
    let r = Region::resolve("xx-new-2", "test", &env).unwrap();
    assert_eq!(r.second_level_domain(), Some("other-cloud.test"));
    let r = Region::parse("xx-new-3", "test").unwrap();
    assert_eq!(r.second_level_domain(), Some("oraclecloud.com"));
    assert!(!r.is_known());
}

#[test]
fn service_hosts_follow_the_templates() {
    let e = Endpoints::new(Region::parse("phx", "test").unwrap());
    let host = |s| e.base_url(s).unwrap().to_string();
    assert_eq!(
        host(Service::Core),
        "https://iaas.us-phoenix-1.oraclecloud.com/"
    );
    assert_eq!(
        host(Service::LoadBalancer),
        "https://iaas.us-phoenix-1.oraclecloud.com/"
    );
    assert_eq!(
        host(Service::NetworkLoadBalancer),
        "https://network-load-balancer-api.us-phoenix-1.oci.oraclecloud.com/"
    );
    assert_eq!(
        host(Service::Identity),
        "https://identity.us-phoenix-1.oci.oraclecloud.com/"
    );
    assert_eq!(
        host(Service::ObjectStorage),
        "https://objectstorage.us-phoenix-1.oraclecloud.com/"
    );
    assert_eq!(
        host(Service::Auth),
        "https://auth.us-phoenix-1.oraclecloud.com/"
    );
    let eu = Endpoints::new(Region::parse("eu-frankfurt-2", "test").unwrap());
    assert_eq!(
        eu.base_url(Service::Identity).unwrap().as_str(),
        "https://identity.eu-frankfurt-2.oci.oraclecloud.eu/"
    );
}

#[test]
fn api_prefixes_belong_to_operations_not_to_endpoints() {
    assert_eq!(Service::Core.api_prefix(), "/20160918");
    assert_eq!(Service::LoadBalancer.api_prefix(), "/20170115");
    assert_eq!(Service::NetworkLoadBalancer.api_prefix(), "/20200501");
    assert_eq!(Service::Identity.api_prefix(), "/20160918");
    assert_eq!(Service::ObjectStorage.api_prefix(), "");
    assert_eq!(Service::Auth.api_prefix(), "");
    let e = Endpoints::new(Region::parse("iad", "test").unwrap());
    assert_eq!(
        e.url(Service::LoadBalancer, "/20170115/loadBalancers/x")
            .unwrap()
            .as_str(),
        "https://iaas.us-ashburn-1.oraclecloud.com/20170115/loadBalancers/x"
    );
}

#[test]
fn one_override_points_every_service_at_the_simulator() {
    let region = Region::parse("iad", "test").unwrap();
    let setting = Url::parse("http://127.0.0.1:8999").unwrap();
    let env = Env::from_pairs([("FLEETCTL_OCI_ENDPOINT", "http://127.0.0.1:7000")]);
    let e = Endpoints::from_settings(region.clone(), Some(&setting), &env).unwrap();
    for s in [
        Service::Core,
        Service::LoadBalancer,
        Service::NetworkLoadBalancer,
        Service::Identity,
        Service::ObjectStorage,
        Service::Auth,
    ] {
        assert_eq!(
            e.base_url(s).unwrap().as_str(),
            "http://127.0.0.1:8999/",
            "{s:?}"
        );
    }
    assert_eq!(
        e.url(Service::Identity, "/20160918/users/u")
            .unwrap()
            .as_str(),
        "http://127.0.0.1:8999/20160918/users/u"
    );
    // Without the setting, the env variable is used.
    let e = Endpoints::from_settings(region.clone(), None, &env).unwrap();
    assert_eq!(
        e.url(Service::Auth, "/v1/x509").unwrap().as_str(),
        "http://127.0.0.1:7000/v1/x509"
    );
    // A base with a path prefix keeps it.
    let e = Endpoints::new(region.clone())
        .with_override(Url::parse("http://127.0.0.1:8999/sim/").unwrap())
        .unwrap();
    assert_eq!(
        e.url(Service::Core, "/20160918/instances")
            .unwrap()
            .as_str(),
        "http://127.0.0.1:8999/sim/20160918/instances"
    );
}

#[test]
fn an_unusable_override_is_refused_with_its_origin() {
    let region = Region::parse("iad", "test").unwrap();
    let env = Env::from_pairs([("FLEETCTL_OCI_ENDPOINT", "127.0.0.1:8999")]);
    let err = Endpoints::from_settings(region.clone(), None, &env).unwrap_err();
    assert!(err.to_string().contains("FLEETCTL_OCI_ENDPOINT"), "{err}");
    let err =
        Endpoints::from_settings(region, Some(&Url::parse("ftp://x").unwrap()), &Env::empty())
            .unwrap_err();
    assert!(err.to_string().contains("http:// or https://"), "{err}");
}

#[test]
fn the_fleet_file_and_the_client_accept_the_same_override_urls() {
    use fleetctl_core::config::EndpointUrl;
    let region = Region::parse("iad", "test").unwrap();
    let rows = [
        ("http://127.0.0.1:8999", true),
        ("https://oci.example.com/sim/", true),
        ("http://[::1]:8999/p@th", true),
        ("http://user:pw@127.0.0.1:8999", false),
        ("http://user@127.0.0.1:8999", false),
        ("http://@127.0.0.1:8999", false),
        ("http://127.0.0.1:8999/?q=1", false),
        ("http://127.0.0.1:8999?", false),
        ("http://127.0.0.1:8999/#f", false),
        ("http://127.0.0.1:8999#", false),
        ("http://127.0.0.1:99999", false),
        ("http://", false),
        ("http:///p", false),
        ("HTTP://x", false),
        ("ftp://x", false),
        ("127.0.0.1:8999", false),
        ("http://a b", false),
        ("http://a\tb", false),
    ];
    for (value, ok) in rows {
        let in_file = value.parse::<EndpointUrl>();
        assert_eq!(in_file.is_ok(), ok, "fleet file, {value:?}: {in_file:?}");
        let env = Env::from_pairs([("FLEETCTL_OCI_ENDPOINT", value)]);
        let from_env = Endpoints::from_settings(region.clone(), None, &env);
        assert_eq!(from_env.is_ok(), ok, "env, {value:?}: {from_env:?}");
        if let Ok(parsed) = in_file {
            let url = parsed.to_url().unwrap();
            let from_setting = Endpoints::from_settings(region.clone(), Some(&url), &Env::empty());
            assert!(from_setting.is_ok(), "setting, {value:?}: {from_setting:?}");
        }
    }
}

#[test]
fn plain_http_is_refused_for_hosts_that_are_not_loopback_unless_allowed() {
    use fleetctl_core::oci::endpoints::EndpointError;
    let region = Region::parse("iad", "test").unwrap();
    // Loopback (the simulator) and https are always fine.
    for ok in [
        "http://127.0.0.1:8999",
        "http://127.9.9.9:1/p",
        "http://[::1]:8999",
        "http://localhost:8999",
        "http://sim.localhost:8999",
        "https://oci.example.com",
        "https://10.0.0.5:8443",
    ] {
        let env = Env::from_pairs([("FLEETCTL_OCI_ENDPOINT", ok)]);
        assert!(
            Endpoints::from_settings(region.clone(), None, &env).is_ok(),
            "{ok}"
        );
    }
    for bad in [
        "http://oci.example.com",
        "http://10.0.0.5:8999/sim",
        "http://169.254.169.254",
        "http://[fd00::1]:80",
        "http://localhost.example.com",
    ] {
        let env = Env::from_pairs([("FLEETCTL_OCI_ENDPOINT", bad)]);
        let err = Endpoints::from_settings(region.clone(), None, &env).unwrap_err();
        assert!(
            matches!(err, EndpointError::InsecureHttp { .. }),
            "{bad}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("(from env FLEETCTL_OCI_ENDPOINT)"), "{text}");
        assert!(text.contains("not loopback"), "{text}");
        assert!(
            text.contains("set FLEETCTL_ALLOW_INSECURE_ENDPOINT=1"),
            "{text}"
        );
        assert!(
            !text.contains("/sim"),
            "only scheme://host:port is shown: {text}"
        );
        // The same from the fleet file's setting, and through `with_override`.
        let url = Url::parse(bad).unwrap();
        let err = Endpoints::from_settings(region.clone(), Some(&url), &Env::empty()).unwrap_err();
        assert!(
            err.to_string().contains("(from the `endpoint` setting)"),
            "{err}"
        );
        assert!(
            Endpoints::new(region.clone())
                .with_override(url.clone())
                .is_err(),
            "{bad}"
        );
        // The federation URL of an instance principal is formed by the same rule.
        let settings = fleetctl_core::oci::auth::AuthSettings {
            endpoint: Some(url),
            ..Default::default()
        };
        assert!(
            fleetctl_core::oci::auth::instance::federation_url(&settings, &Env::empty(), &region)
                .is_err(),
            "{bad}"
        );
    }
    // The documented opt-in, and only it, lifts the rule.
    for (value, allowed) in [
        ("1", true),
        ("true", true),
        ("TRUE", true),
        ("0", false),
        ("false", false),
        ("", false),
    ] {
        let env = Env::from_pairs([
            ("FLEETCTL_OCI_ENDPOINT", "http://oci.example.com:8080"),
            ("FLEETCTL_ALLOW_INSECURE_ENDPOINT", value),
        ]);
        let got = Endpoints::from_settings(region.clone(), None, &env);
        assert_eq!(got.is_ok(), allowed, "{value:?}: {got:?}");
    }
    let env = Env::from_pairs([
        ("FLEETCTL_OCI_ENDPOINT", "http://oci.example.com:8080"),
        ("FLEETCTL_ALLOW_INSECURE_ENDPOINT", "yes"),
    ]);
    let err = Endpoints::from_settings(region.clone(), None, &env).unwrap_err();
    assert!(
        err.to_string().contains(
            "env FLEETCTL_ALLOW_INSECURE_ENDPOINT = `yes` is not `1`, `true`, `0` or `false`"
        ),
        "{err}"
    );
    // An unusable endpoint, for whatever reason, is a configuration error (exit 1).
    let auth = fleetctl_core::oci::auth::AuthError::Endpoint(err);
    assert_eq!(
        fleetctl_core::Error::from(auth).class(),
        fleetctl_core::ErrorClass::Configuration
    );
}
