//! The templates in config/ load as they are, and their schema modeline works from the
//! repository root (where the README says to copy them, as fleet.yaml).

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::path::{Path, PathBuf};

use fleetctl_core::config::{LoadBalancerType, json_schema_pretty, load_file};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn template(name: &str) -> PathBuf {
    repo_root().join("config").join(name)
}

const MODELINE_PREFIX: &str = "# yaml-language-server: $schema=";

fn modeline_target(name: &str) -> PathBuf {
    let text = std::fs::read_to_string(template(name)).unwrap();
    let first = text.lines().next().unwrap_or_default();
    let target = first
        .strip_prefix(MODELINE_PREFIX)
        .unwrap_or_else(|| panic!("{name} does not start with the schema modeline: {first:?}"));
    repo_root().join(target.trim())
}

#[test]
fn the_cloud_template_loads_and_validates() {
    let c = load_file(&template("fleet.yaml.tmpl")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.spec.instances.len(), 2, "two groups");
    let lb = c.spec.load_balancer.as_ref().expect("a load balancer");
    assert_eq!(lb.lb_type, LoadBalancerType::Classic);
    assert_eq!(
        c.spec.auth.method,
        Some(fleetctl_core::config::AuthMethod::User)
    );
    assert_eq!(
        c.spec.endpoint, None,
        "the cloud template talks to the real cloud"
    );
    assert_eq!(c.total_instances(), 3);
}

/// The template shows the config file and profile defaults as comments: written as values,
/// they would count as named by the fleet file and switch off OCI_CLI_CONFIG_FILE and
/// OCI_CLI_PROFILE.
#[test]
fn the_cloud_template_leaves_the_oci_cli_environment_overrides_in_force() {
    let c = load_file(&template("fleet.yaml.tmpl")).unwrap_or_else(|e| panic!("{e}"));
    assert!(!c.spec.auth.config_file_explicit, "configFile is set");
    assert!(!c.spec.auth.profile_explicit, "profile is set");
    let settings = fleetctl_core::cloud::auth_settings(&c);
    assert_eq!(settings.config_file, None);
    assert_eq!(settings.profile, None);
    let text = std::fs::read_to_string(template("fleet.yaml.tmpl")).unwrap();
    for shown in ["# configFile: ~/.oci/config", "# profile: DEFAULT"] {
        assert!(
            text.contains(shown),
            "the template still shows the default: {shown}"
        );
    }
}

#[test]
fn the_local_template_targets_the_simulator() {
    let c = load_file(&template("fleet.local.yaml.tmpl")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.spec.endpoint.as_ref().map(|u| u.as_str()),
        Some("http://127.0.0.1:8999/")
    );
    assert_eq!(
        c.spec.auth.config_file,
        PathBuf::from(".fleetctl/demo/sim/config")
    );
    assert_eq!(c.spec.state.url.as_str(), ".fleetctl/state.json");
}

#[test]
fn the_modeline_names_the_checked_in_schema_from_the_repository_root() {
    for name in ["fleet.yaml.tmpl", "fleet.local.yaml.tmpl"] {
        let target = modeline_target(name);
        let schema = std::fs::read_to_string(&target)
            .unwrap_or_else(|e| panic!("{name}: modeline names {}: {e}", target.display()));
        assert!(
            schema == json_schema_pretty(),
            "{name}: {} is not the current schema",
            target.display()
        );
    }
}
