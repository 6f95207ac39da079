//! Loading valid fleet files: defaults, resolution, path expansion, and reading files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fleetctl_core::config::{
    AuthMethod, CountOrPercent, FixedEnvironment, FleetConfig, LoadBalancerType, RebootAction,
    RolloutStrategy, load_file, load_file_with_env, load_str, load_str_with_env,
};
use fleetctl_core::{Error, ErrorClass};

const MINIMAL: &str = include_str!("../data/config/minimal.yaml");

fn env(vars: &[(&str, &str)], home: Option<&str>) -> FixedEnvironment {
    FixedEnvironment {
        vars: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        home: home.map(PathBuf::from),
    }
}

fn load(text: &str) -> FleetConfig {
    load_str_with_env("fleet.yaml", text, &env(&[], Some("/home/ada")))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// MINIMAL with `extra` appended to `spec` (two-space indented lines).
fn minimal_with(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

#[test]
fn a_minimal_file_gets_the_documented_defaults() {
    let c = load(MINIMAL);
    let s = &c.spec;
    assert_eq!(c.metadata.name.as_str(), "web");
    assert_eq!(s.display_name_prefix.as_str(), "web");
    assert_eq!(s.shape_config, None);
    assert!(s.defined_tags.is_empty());
    assert!(s.freeform_tags.is_empty());
    assert!(s.metadata.is_empty());
    assert_eq!(s.endpoint, None);

    assert_eq!(s.auth.method, None);
    assert_eq!(s.auth.config_file, PathBuf::from("/home/ada/.oci/config"));
    assert!(!s.auth.config_file_explicit);
    assert_eq!(s.auth.profile, "DEFAULT");
    assert!(!s.auth.profile_explicit);
    assert_eq!(s.auth.region, None);

    assert_eq!(s.load_balancer, None);

    assert_eq!(s.rollout.strategy, RolloutStrategy::Replace);
    assert_eq!(s.rollout.max_surge, CountOrPercent::Count(1));
    assert_eq!(s.rollout.max_unavailable, CountOrPercent::Count(0));
    assert_eq!(s.rollout.min_ready_seconds, 10);
    assert_eq!(s.rollout.reboot_action, RebootAction::SoftReset);
    assert_eq!(s.rollout.launch_timeout, Duration::from_secs(600));

    assert_eq!(s.state.url.as_str(), ".fleetctl/state.json");
    assert_eq!(s.state.url.scheme(), None);

    assert_eq!(s.api.listen.as_str(), "127.0.0.1:8080");
    assert_eq!(s.api.listen.port(), 8080);
    assert_eq!(s.api.token_env.as_str(), "FLEETCTL_API_TOKEN");
    assert_eq!(s.api.reconcile_every, Duration::from_secs(30));
}

#[test]
fn load_balancer_defaults_apply_when_it_is_enabled() {
    let c = load(&minimal_with(
        "  loadBalancer:\n    enabled: true\n    loadBalancerId: ocid1.loadbalancer.oc1.iad.aaaa\n    backendSetName: web-bs\n    port: 8080\n",
    ));
    let lb = c.spec.load_balancer.expect("enabled load balancer");
    assert_eq!(lb.lb_type, LoadBalancerType::Classic);
    assert_eq!(
        lb.load_balancer_id.as_str(),
        "ocid1.loadbalancer.oc1.iad.aaaa"
    );
    assert_eq!(lb.backend_set_name, "web-bs");
    assert_eq!(lb.port, 8080);
    assert_eq!(lb.weight, 1);
    assert_eq!(lb.drain_timeout, Duration::from_secs(30));
    assert_eq!(lb.health_timeout, Duration::from_secs(300));
}

#[test]
fn a_disabled_load_balancer_is_absent_even_with_fields() {
    let c = load(&minimal_with(
        "  loadBalancer: {enabled: false, loadBalancerId: ocid1.loadbalancer.oc1.iad.aaaa}\n",
    ));
    assert_eq!(c.spec.load_balancer, None);
}

#[test]
fn every_written_value_is_kept() {
    let c = load(&minimal_with(concat!(
        "  shapeConfig: {ocpus: 2, memoryInGBs: 32.5}\n",
        "  displayNamePrefix: web-prod\n",
        "  definedTags: {Operations: {CostCenter: \"42\", Tier: 3, Public: false}}\n",
        "  freeformTags: {team: payments}\n",
        "  metadata: {user_data: aGVsbG8=}\n",
        "  endpoint: http://127.0.0.1:8999\n",
        "  auth: {method: resource, profile: OTHER, region: iad}\n",
        "  loadBalancer: {enabled: true, type: network, loadBalancerId: ocid1.networkloadbalancer.oc1.iad.aaaa, backendSetName: bs, port: 443, weight: 50, drainTimeout: 1m30s, healthTimeout: 250ms}\n",
        "  rollout: {strategy: reboot, maxSurge: 0, maxUnavailable: \"25%\", minReadySeconds: 0, rebootAction: RESET, launchTimeout: 1h}\n",
        "  state: {url: \"oci://bucket@ns/fleets/web\"}\n",
        "  api: {listen: \"[::1]:9000\", tokenEnv: WEB_TOKEN, reconcileEvery: 2m}\n",
    )));
    let s = &c.spec;
    let shape = s.shape_config.expect("shape config");
    assert_eq!((shape.ocpus, shape.memory_in_gbs), (Some(2.0), Some(32.5)));
    assert_eq!(s.display_name_prefix.as_str(), "web-prod");
    let ops = &s.defined_tags["Operations"];
    assert_eq!(
        serde_json::to_value(ops).unwrap(),
        serde_json::json!({"CostCenter": "42", "Tier": 3, "Public": false})
    );
    assert_eq!(s.freeform_tags["team"], "payments");
    assert_eq!(s.metadata["user_data"], "aGVsbG8=");
    assert_eq!(
        s.endpoint.as_ref().map(|u| u.as_str()),
        Some("http://127.0.0.1:8999/")
    );
    assert_eq!(s.auth.method, Some(AuthMethod::Resource));
    assert_eq!(s.auth.profile, "OTHER");
    assert!(s.auth.profile_explicit);
    assert_eq!(s.auth.region.as_ref().map(|r| r.as_str()), Some("iad"));
    let lb = s.load_balancer.as_ref().expect("load balancer");
    assert_eq!(lb.lb_type, LoadBalancerType::Network);
    assert!(lb.load_balancer_id.is_network());
    assert_eq!((lb.port, lb.weight), (443, 50));
    assert_eq!(lb.drain_timeout, Duration::from_secs(90));
    assert_eq!(lb.health_timeout, Duration::from_millis(250));
    assert_eq!(s.rollout.strategy, RolloutStrategy::Reboot);
    assert_eq!(s.rollout.max_surge, CountOrPercent::Count(0));
    assert_eq!(s.rollout.max_unavailable, CountOrPercent::Percent(25));
    assert_eq!(s.rollout.min_ready_seconds, 0);
    assert_eq!(s.rollout.reboot_action, RebootAction::Reset);
    assert_eq!(s.rollout.launch_timeout, Duration::from_secs(3600));
    assert_eq!(s.state.url.scheme(), Some("oci"));
    assert_eq!((s.api.listen.host(), s.api.listen.port()), ("[::1]", 9000));
    assert_eq!(s.api.token_env.as_str(), "WEB_TOKEN");
    assert_eq!(s.api.reconcile_every, Duration::from_secs(120));
}

#[test]
fn groups_use_their_own_subnet_else_the_spec_subnet() {
    let text = MINIMAL.replace(
        "    - name: blue\n      count: 2\n",
        "    - name: blue\n      count: 2\n    - name: green\n      count: 3\n      subnetId: ocid1.subnet.oc1.iad.bbbb\n",
    );
    let c = load(&text);
    let blue = c.group("blue").expect("blue");
    let green = c.group("green").expect("green");
    assert_eq!(
        c.subnet_for(blue).as_str(),
        "ocid1.subnet.oc1.iad.aaaaaaaaexamplexxxx"
    );
    assert_eq!(c.subnet_for(green).as_str(), "ocid1.subnet.oc1.iad.bbbb");
    assert_eq!(blue.subnet_id, None);
    assert_eq!(c.total_instances(), 5);
}

#[test]
fn a_spec_subnet_is_optional_when_every_group_has_one() {
    let text = MINIMAL
        .replace("  subnetId: ocid1.subnet.oc1.iad.aaaaaaaaexamplexxxx\n", "")
        .replace(
            "      count: 2\n",
            "      count: 2\n      subnetId: ocid1.subnet.oc1.iad.cccc\n",
        );
    let c = load(&text);
    assert_eq!(c.spec.subnet_id, None);
    assert_eq!(
        c.subnet_for(&c.spec.instances[0]).as_str(),
        "ocid1.subnet.oc1.iad.cccc"
    );
}

#[test]
fn ssh_keys_become_newline_joined_instance_metadata() {
    let c = load(&minimal_with(
        "  sshAuthorizedKeys:\n    - ssh-ed25519 AAAA one@example\n    - ssh-rsa BBBB two@example\n  metadata: {user_data: eA==}\n",
    ));
    let expected: BTreeMap<String, String> = [
        (
            "ssh_authorized_keys",
            "ssh-ed25519 AAAA one@example\nssh-rsa BBBB two@example",
        ),
        ("user_data", "eA=="),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(*c.spec.metadata, expected);
}

#[test]
fn debug_output_of_a_loaded_fleet_hides_instance_metadata_values() {
    let c = load(&minimal_with(
        "  sshAuthorizedKeys: [ssh-ed25519 AAAA one@example]\n  metadata: {user_data: c2VjcmV0LXRva2Vu, db_password: hunter2}\n",
    ));
    let shown = format!("{c:?}");
    for secret in ["c2VjcmV0LXRva2Vu", "hunter2", "AAAA one@example"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("\"user_data\": <16 bytes>"), "{shown}");
    assert!(shown.contains("\"db_password\": <7 bytes>"), "{shown}");
    let spec = format!("{:#?}", c.spec);
    assert!(!spec.contains("hunter2"), "{spec}");
}

#[test]
fn zero_instances_in_a_group_is_allowed() {
    let c = load(&MINIMAL.replace("count: 2", "count: 0"));
    assert_eq!(c.total_instances(), 0);
}

#[test]
fn config_file_expands_home_and_variables_from_the_injected_environment() {
    let e = env(
        &[("OCI_DIR", "/etc/oci"), ("PROFILE_DIR", "team")],
        Some("/home/ada"),
    );
    for (written, expected) in [
        ("~/.oci/config", "/home/ada/.oci/config"),
        ("$OCI_DIR/config", "/etc/oci/config"),
        ("${OCI_DIR}/${PROFILE_DIR}.cfg", "/etc/oci/team.cfg"),
        ("'~/$PROFILE_DIR/config'", "/home/ada/team/config"),
        ("relative/config", "relative/config"),
    ] {
        let text = minimal_with(&format!("  auth:\n    configFile: {written}\n"));
        let c = load_str_with_env("fleet.yaml", &text, &e).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(
            c.spec.auth.config_file,
            PathBuf::from(expected),
            "{written}"
        );
        assert!(c.spec.auth.config_file_explicit);
    }
}

#[test]
fn config_file_with_tilde_but_no_home_directory_stays_as_written() {
    let text = minimal_with("  auth:\n    configFile: ~/.oci/config\n");
    let c = load_str_with_env("fleet.yaml", &text, &env(&[], None)).unwrap();
    assert_eq!(c.spec.auth.config_file, PathBuf::from("~/.oci/config"));
    assert!(c.spec.auth.config_file_explicit);
}

#[test]
fn the_default_config_file_stays_as_written_without_a_home_directory() {
    let c = load_str_with_env("fleet.yaml", MINIMAL, &env(&[], None)).unwrap();
    assert_eq!(c.spec.auth.config_file, PathBuf::from("~/.oci/config"));
    assert!(!c.spec.auth.config_file_explicit);
}

#[test]
fn unset_variable_in_a_quoted_config_file_points_inside_the_quotes() {
    let text = minimal_with("  auth:\n    configFile: \"$HOME/x/${NOPE}\"\n");
    let err = load_str_with_env("fleet.yaml", &text, &env(&[("HOME", "/h")], None)).unwrap_err();
    // `"` is column 17, `$HOME` starts at 18, `${NOPE}` at 26.
    assert_eq!(
        err.to_string(),
        "fleet.yaml:14:26: spec.auth.configFile: environment variable \"NOPE\" is not set"
    );
}

#[test]
fn load_file_reads_the_file_and_names_it_in_problems() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, MINIMAL).unwrap();
    let c = load_file_with_env(&path, &env(&[], Some("/home/ada"))).unwrap();
    assert_eq!(c.total_instances(), 2);

    std::fs::write(&path, MINIMAL.replace("count: 2", "count: -1")).unwrap();
    let err = load_file(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:12:14: spec.instances[0].count: must be a whole number >= 0, got -1",
            path.display()
        )
    );
}

#[test]
fn a_missing_file_is_one_problem_at_line_one() {
    let err = load_file(Path::new("/nonexistent/dir/fleet.yaml")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/dir/fleet.yaml:1:1: cannot read the file: the file does not exist"
    );
    let dir = tempfile::tempdir().unwrap();
    let err = load_file(dir.path()).unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert_eq!((err.problems[0].line, err.problems[0].column), (1, 1));
    assert!(
        err.problems[0]
            .message
            .starts_with("cannot read the file: "),
        "{err}"
    );
}

#[test]
fn a_file_that_is_not_utf8_points_at_the_first_bad_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, b"kind: FleetConfig\nmetadata: {name: w\xffb}\n").unwrap();
    let err = load_file(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:19: the file is not UTF-8 text (an invalid byte starts here)",
            path.display()
        )
    );
}

#[test]
fn an_oversized_file_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.yaml");
    std::fs::write(&path, "#".repeat(2 * 1024 * 1024)).unwrap();
    let err = load_file(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1:1: cannot read the file: it is larger than 1024 KiB, too large for a fleet file",
            path.display()
        )
    );
}

#[test]
fn config_errors_are_configuration_problems() {
    let err: Error = load_str("fleet.yaml", "kind: FleetConfig\n")
        .unwrap_err()
        .into();
    assert_eq!(err.class(), ErrorClass::Configuration);
    assert_eq!(
        err.to_string(),
        "fleet.yaml:1:1: missing required field \"metadata\"\nfleet.yaml:1:1: missing required field \"spec\""
    );
}

#[test]
fn yaml_1_2_plain_scalars_that_look_like_other_types_stay_text_where_text_is_expected() {
    // `on`, `no` and `yes` are text in YAML 1.2; a quoted number is text.
    let c = load(&minimal_with(
        "  freeformTags: {enabled: on, country: no, build: \"42\"}\n",
    ));
    assert_eq!(c.spec.freeform_tags["enabled"], "on");
    assert_eq!(c.spec.freeform_tags["country"], "no");
    assert_eq!(c.spec.freeform_tags["build"], "42");
}

#[test]
fn anchors_and_aliases_can_share_values() {
    let text = MINIMAL.replace(
        "    - name: blue\n      count: 2\n",
        "    - name: blue\n      count: &n 2\n    - name: green\n      count: *n\n",
    );
    assert_eq!(load(&text).total_instances(), 4);
}
