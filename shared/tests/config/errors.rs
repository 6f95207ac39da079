//! Every kind of problem in a fleet file, with the exact line a user sees:
//! `file:line:column: path: message`.

use fleetctl_core::config::{FixedEnvironment, load_str, load_str_with_env};

/// The problems `text` gives, one display line each.
fn problems(text: &str) -> Vec<String> {
    match load_str("fleet.yaml", text) {
        Ok(_) => panic!("expected problems, but the file loaded:\n{text}"),
        Err(errors) => errors.problems.iter().map(ToString::to_string).collect(),
    }
}

/// A valid file with `body` as the rest of `spec` (after `shape`, at two spaces).
fn with_spec(body: &str) -> String {
    format!(
        "kind: FleetConfig\n\
         metadata: {{name: web}}\n\
         spec:\n  \
           compartmentId: ocid1.compartment.oc1..aaaa\n  \
           imageId: ocid1.image.oc1.iad.aaaa\n  \
           availabilityDomain: \"Uocm:US-ASHBURN-AD-1\"\n  \
           shape: VM.Standard2.1\n\
         {body}"
    )
}

#[test]
fn the_base_file_of_these_tests_is_valid() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  instances:\n  - name: blue\n    count: 2\n",
    );
    load_str("fleet.yaml", &text).unwrap();
}

#[test]
fn yaml_syntax_error_names_the_position_and_no_path() {
    let text = "kind: FleetConfig\nmetadata:\n  name: web: x\n";
    assert_eq!(
        problems(text),
        ["fleet.yaml:3:12: invalid YAML: mapping values are not allowed in this context"]
    );
}

#[test]
fn unclosed_flow_mapping_is_a_syntax_error() {
    let text = "kind: FleetConfig\nmetadata: {name: web\nspec: {}\n";
    assert_eq!(
        problems(text),
        [
            "fleet.yaml:3:5: invalid YAML: while parsing a flow mapping, did not find expected ',' or '}'"
        ]
    );
}

#[test]
fn wrong_type_says_what_was_expected_and_what_was_given() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  instances:\n  - name: blue\n    count: two\n",
    );
    assert_eq!(
        problems(&text),
        ["fleet.yaml:11:12: spec.instances[0].count: must be a whole number >= 0, got \"two\""]
    );
}

#[test]
fn negative_count_points_at_the_value() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           freeformTags: {team: web}\n  \
           instances:\n  \
           - name: blue\n    \
             count: 2\n  \
           - name: red\n    \
             count: -2\n",
    );
    // Exactly the documentation's example.
    assert_eq!(
        problems(&text),
        ["fleet.yaml:14:12: spec.instances[1].count: must be a whole number >= 0, got -2"]
    );
}

#[test]
fn fractional_count_is_not_a_whole_number() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  instances:\n  - name: blue\n    count: 2.0\n",
    );
    assert_eq!(
        problems(&text),
        ["fleet.yaml:11:12: spec.instances[0].count: must be a whole number >= 0, got 2.0"]
    );
}

#[test]
fn unknown_key_points_at_the_key_and_suggests_the_near_miss() {
    let text = "kind: FleetConfig\n\
                metadata: {name: web}\n\
                spec:\n  \
                  compartmentID: ocid1.compartment.oc1..aaaa\n  \
                  compartmentId: ocid1.compartment.oc1..aaaa\n  \
                  imageId: ocid1.image.oc1.iad.aaaa\n  \
                  availabilityDomain: AD-1\n  \
                  shape: VM.Standard2.1\n  \
                  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
                  instances: [{name: blue, count: 1, colour: red}]\n";
    assert_eq!(
        problems(text),
        [
            "fleet.yaml:4:3: spec: unknown field \"compartmentID\"; did you mean \"compartmentId\"?",
            "fleet.yaml:10:38: spec.instances[0]: unknown field \"colour\" (allowed here: count, name, subnetId)",
        ]
    );
}

#[test]
fn wrong_ocid_type_names_both_types() {
    let text = "kind: FleetConfig\n\
                metadata: {name: web}\n\
                spec:\n  \
                  compartmentId: ocid1.compartment.oc1..aaaa\n  \
                  imageId: ocid1.subnet.oc1.iad.aaaa\n  \
                  availabilityDomain: AD-1\n  \
                  shape: VM.Standard2.1\n  \
                  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
                  instances: [{name: blue, count: 1}]\n";
    assert_eq!(
        problems(text),
        [
            "fleet.yaml:5:12: spec.imageId: expected an image OCID (ocid1.image.…), got a subnet OCID"
        ]
    );
}

#[test]
fn malformed_ocid_says_what_is_wrong_with_it() {
    let text =
        with_spec("  subnetId: ocid1.subnet.oc1.IAD.aaaa\n  instances: [{name: blue, count: 1}]\n");
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:8:13: spec.subnetId: malformed OCID \"ocid1.subnet.oc1.IAD.aaaa\": the region \
          must be lower-case letters, digits and '-' (or empty); an OCID has the form \
          ocid1.<type>.<realm>.[region][.future].<unique>"
        ]
    );
}

#[test]
fn duplicate_group_name_points_at_the_second_and_names_the_first_line() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances:\n  \
           - name: blue\n    \
             count: 1\n  \
           - name: blue\n    \
             count: 1\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:12:11: spec.instances[1].name: duplicate group name \"blue\" (first defined at line 10)"
        ]
    );
}

#[test]
fn missing_required_field_points_at_the_mapping_that_lacks_it() {
    let text = "kind: FleetConfig\n\
                metadata: {name: web}\n\
                spec:\n  \
                  compartmentId: ocid1.compartment.oc1..aaaa\n  \
                  availabilityDomain: AD-1\n  \
                  shape: VM.Standard2.1\n  \
                  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
                  instances: [{name: blue, count: 1}]\n";
    assert_eq!(
        problems(text),
        ["fleet.yaml:3:1: spec: missing required field \"imageId\""]
    );
    assert_eq!(
        problems("metadata: {name: web}\n"),
        [
            "fleet.yaml:1:1: missing required field \"kind\"",
            "fleet.yaml:1:1: missing required field \"spec\"",
        ]
    );
}

#[test]
fn flex_shape_without_shape_config_is_an_error() {
    let text = "kind: FleetConfig\n\
                metadata: {name: web}\n\
                spec:\n  \
                  compartmentId: ocid1.compartment.oc1..aaaa\n  \
                  imageId: ocid1.image.oc1.iad.aaaa\n  \
                  availabilityDomain: AD-1\n  \
                  shape: VM.Standard.E4.Flex\n  \
                  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
                  instances: [{name: blue, count: 1}]\n";
    assert_eq!(
        problems(text),
        [
            "fleet.yaml:3:1: spec: missing required field \"shapeConfig\" (required for the flexible shape \"VM.Standard.E4.Flex\")"
        ]
    );
    let text = text.replace(
        "  subnetId:",
        "  shapeConfig: {memoryInGBs: 16}\n  subnetId:",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:8:3: spec.shapeConfig: missing required field \"ocpus\" (required for the flexible shape \"VM.Standard.E4.Flex\")"
        ]
    );
}

#[test]
fn shape_config_numbers_must_be_positive() {
    let text = with_spec(
        "  shapeConfig: {ocpus: 0, memoryInGBs: -1}\n  subnetId: ocid1.subnet.oc1.iad.aaaa\n  instances: [{name: blue, count: 1}]\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:8:24: spec.shapeConfig.ocpus: must be a number > 0, got 0",
            "fleet.yaml:8:40: spec.shapeConfig.memoryInGBs: must be a number > 0, got -1",
        ]
    );
}

#[test]
fn enabled_load_balancer_needs_its_fields() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n  \
           loadBalancer:\n    \
             enabled: true\n    \
             backendSetName: web\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:10:3: spec.loadBalancer: missing required field \"loadBalancerId\" (required when enabled is true)",
            "fleet.yaml:10:3: spec.loadBalancer: missing required field \"port\" (required when enabled is true)",
        ]
    );
}

#[test]
fn load_balancer_id_must_match_its_type() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n  \
           loadBalancer:\n    \
             enabled: true\n    \
             type: network\n    \
             loadBalancerId: ocid1.loadbalancer.oc1.iad.aaaa\n    \
             backendSetName: web\n    \
             port: 80\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:13:21: spec.loadBalancer.loadBalancerId: expected a network load balancer OCID \
          (ocid1.networkloadbalancer.…) because type is \"network\", got a loadbalancer OCID"
        ]
    );
}

#[test]
fn both_rollout_limits_zero_is_an_error() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n  \
           rollout:\n    \
             maxSurge: 0\n    \
             maxUnavailable: 0%\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:11:15: spec.rollout.maxSurge: maxSurge and maxUnavailable are both 0, so a \
          rollout could never make progress; set one of them above 0"
        ]
    );
}

#[test]
fn bad_duration_shows_the_accepted_form() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n  \
           rollout:\n    \
             launchTimeout: 10 minutes\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:11:20: spec.rollout.launchTimeout: must be a duration such as \"90s\", \"5m\" \
          or \"1m30s\" (a whole number followed by ms, s, m, h or d), got \"10 minutes\""
        ]
    );
}

#[test]
fn unset_variable_in_config_file_points_at_the_variable() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n  \
           auth:\n    \
             configFile: /etc/${OCI_DIR}/config\n",
    );
    let env = FixedEnvironment::default();
    let errors = load_str_with_env("fleet.yaml", &text, &env).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "fleet.yaml:11:22: spec.auth.configFile: environment variable \"OCI_DIR\" is not set"
    );
}

#[test]
fn several_problems_are_all_reported_in_file_order() {
    let text = include_str!("../data/config/several-problems.yaml");
    assert_eq!(
        problems(text),
        [
            "fleet.yaml:3:1: spec: missing required field \"compartmentId\"",
            "fleet.yaml:3:1: spec: missing required field \"imageId\"",
            "fleet.yaml:4:3: spec: unknown field \"compartmentID\"; did you mean \"compartmentId\"?",
            "fleet.yaml:8:13: spec.subnetId: expected a subnet OCID (ocid1.subnet.…), got an image OCID",
            "fleet.yaml:10:15: spec.rollout.maxSurge: maxSurge and maxUnavailable are both 0, so a \
             rollout could never make progress; set one of them above 0",
            "fleet.yaml:12:20: spec.rollout.launchTimeout: must be a duration such as \"90s\", \"5m\" \
             or \"1m30s\" (a whole number followed by ms, s, m, h or d), got \"ten\"",
            "fleet.yaml:14:11: spec.instances[0].name: must be 1-32 characters of lower-case letters, \
             digits and '-', starting with a letter, got \"Blue\"",
            "fleet.yaml:18:11: spec.instances[2].name: duplicate group name \"green\" (first defined at line 16)",
            "fleet.yaml:19:12: spec.instances[2].count: must be a whole number >= 0, got -2",
        ]
    );
}

#[test]
fn errors_display_one_problem_per_line() {
    let text = include_str!("../data/config/several-problems.yaml");
    let errors = load_str("fleet.yaml", text).unwrap_err();
    let shown = errors.to_string();
    assert_eq!(shown.lines().count(), errors.problems.len());
    assert!(
        shown.lines().all(|l| l.starts_with("fleet.yaml:")),
        "{shown}"
    );
}

#[test]
fn duplicate_yaml_keys_are_errors() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  shape: VM.Standard3.Flex\n  instances: [{name: blue, count: 1}]\n",
    );
    assert_eq!(
        problems(&text),
        ["fleet.yaml:9:3: spec: duplicate key \"shape\" (first defined at line 7)"]
    );
}

#[test]
fn group_without_any_subnet_is_an_error() {
    let text = with_spec(
        "  instances:\n  - name: blue\n    count: 1\n    subnetId: ocid1.subnet.oc1.iad.aaaa\n  - name: green\n    count: 1\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:12:5: spec.instances[1]: group \"green\" has no subnet: set subnetId on the group or spec.subnetId"
        ]
    );
}

#[test]
fn empty_instance_list_is_an_error() {
    let text = with_spec("  subnetId: ocid1.subnet.oc1.iad.aaaa\n  instances: []\n");
    assert_eq!(
        problems(&text),
        ["fleet.yaml:9:14: spec.instances: must have at least 1 entry, got an empty list"]
    );
}

#[test]
fn empty_file_non_mapping_and_several_documents_are_errors() {
    assert_eq!(
        problems(""),
        [
            "fleet.yaml:1:1: the file is empty: expected a fleet definition (kind: FleetConfig, metadata, spec)"
        ]
    );
    assert_eq!(
        problems("# nothing but a comment\n"),
        [
            "fleet.yaml:1:1: the file is empty: expected a fleet definition (kind: FleetConfig, metadata, spec)"
        ]
    );
    assert_eq!(
        problems("- kind: FleetConfig\n"),
        ["fleet.yaml:1:1: the file must be a mapping of fields (kind, metadata, spec), got a list"]
    );
    assert_eq!(
        problems("just text\n"),
        [
            "fleet.yaml:1:1: the file must be a mapping of fields (kind, metadata, spec), got \"just text\""
        ]
    );
    let two = format!(
        "{}---\n{}",
        with_spec("  subnetId: ocid1.subnet.oc1.iad.aaaa\n  instances: [{name: blue, count: 1}]\n"),
        "kind: FleetConfig\n"
    );
    assert_eq!(
        problems(&two),
        [
            "fleet.yaml:10:1: a second YAML document starts here; a fleet file holds exactly one document"
        ]
    );
}

#[test]
fn wrong_kind_and_enum_values_suggest_the_right_spelling() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n  \
           rollout: {strategy: Reboot, rebootAction: soft}\n",
    )
    .replace("kind: FleetConfig", "kind: Fleet");
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:1:7: kind: must be \"FleetConfig\", got \"Fleet\"",
            "fleet.yaml:10:23: spec.rollout.strategy: must be \"replace\" or \"reboot\", got \"Reboot\"; did you mean \"reboot\"?",
            "fleet.yaml:10:45: spec.rollout.rebootAction: must be \"SOFTRESET\" or \"RESET\", got \"soft\"",
        ]
    );
}

#[test]
fn yaml_1_1_booleans_and_unquoted_numbers_get_a_hint() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n  \
           freeformTags: {build: 42}\n  \
           loadBalancer: {enabled: yes}\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:10:25: spec.freeformTags.build: must be text, got 42 (YAML reads 42 as a \
             number; write \"42\" in quotes to use it as text)",
            "fleet.yaml:11:27: spec.loadBalancer.enabled: must be true or false, got \"yes\" (YAML \
             1.2 reads yes as text; write true or false)",
        ]
    );
}

#[test]
fn empty_values_are_reported_as_empty() {
    let text = with_spec("  subnetId:\n  instances: [{name: blue, count: 1}]\n");
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:8:3: spec.subnetId: must be a subnet OCID (ocid1.subnet.…), got an empty value"
        ]
    );
}

#[test]
fn ssh_keys_in_two_places_conflict() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n  \
           sshAuthorizedKeys: [\"ssh-ed25519 AAAA me\"]\n  \
           metadata:\n    \
             ssh_authorized_keys: ssh-ed25519 BBBB you\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:12:5: spec.metadata.ssh_authorized_keys: conflicts with spec.sshAuthorizedKeys: \
          give the SSH keys in one place only"
        ]
    );
}

#[test]
fn a_token_pasted_into_token_env_is_not_repeated_in_the_error() {
    let token = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.sig";
    let text = with_spec(&format!(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  instances: [{{name: blue, count: 1}}]\n  api: {{tokenEnv: \"{token}\"}}\n"
    ));
    let shown = problems(&text).join("\n");
    assert!(!shown.contains("eyJ"), "{shown}");
    assert_eq!(
        shown,
        "fleet.yaml:10:19: spec.api.tokenEnv: must be the name of an environment variable (letters, \
         digits and '_', not starting with a digit); the value given is not shown in case it is a secret"
    );
}

#[test]
fn a_private_key_pasted_as_an_ssh_key_is_not_repeated_in_the_error() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n  \
           sshAuthorizedKeys:\n    \
             - |\n      \
               -----BEGIN OPENSSH PRIVATE KEY-----\n      \
               b3BlbnNzaC1rZXktdjEAAAAA\n      \
               -----END OPENSSH PRIVATE KEY-----\n",
    );
    let shown = problems(&text).join("\n");
    assert!(!shown.contains("b3Blbn"), "{shown}");
    assert!(
        shown.contains("spec.sshAuthorizedKeys[0]: this looks like a private key"),
        "{shown}"
    );
}

#[test]
fn values_the_schema_pattern_allows_but_the_parser_rejects_are_still_errors() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n  \
           api: {listen: \"0.0.0.0:99999\"}\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:10:17: spec.api.listen: must be host:port such as \"127.0.0.1:8080\" or \
          \"[::1]:8080\" (port 0-65535), got \"0.0.0.0:99999\""
        ]
    );
}

#[test]
fn state_url_with_an_unknown_scheme_is_an_error() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n  \
           state: {url: \"http://example.com/state.json\"}\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:10:16: spec.state.url: must be a path or a URL starting with file://, memory://, \
          s3:// or oci://, got \"http://example.com/state.json\" (the scheme `http` is not \
          supported; use a path, file://, memory://, s3://bucket/key or \
          oci://bucket@namespace/prefix)"
        ]
    );
}

/// The one problem of a fleet file whose `spec.state.url` is `url`.
fn state_url_problem(url: &str) -> String {
    let text = with_spec(&format!(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{{name: blue, count: 1}}]\n  \
           state: {{url: \"{url}\"}}\n"
    ));
    let problems = problems(&text);
    assert_eq!(problems.len(), 1, "{url}: {problems:?}");
    problems[0].clone()
}

#[test]
fn state_urls_the_store_would_refuse_are_refused_by_validate() {
    let rows = [
        (
            "oci://bucket/x",
            "oci://bucket/x",
            "the namespace is missing",
        ),
        ("s3://", "s3://", "the bucket is missing"),
        ("file://a?b", "file://a?b", "query strings and fragments"),
        ("s3://bucket//key", "s3://bucket//key", "starts with `/`"),
        (
            "oci://b@n.s/x",
            "oci://b@n.s/x",
            "the namespace `n.s` is not valid",
        ),
    ];
    for (url, shown, reason) in rows {
        let problem = state_url_problem(url);
        assert!(
            problem.starts_with(&format!(
                "fleet.yaml:10:16: spec.state.url: must be a path or a URL starting with \
                 file://, memory://, s3:// or oci://, got \"{shown}\" ("
            )),
            "{url}: {problem}"
        );
        assert!(problem.contains(reason), "{url}: {problem}");
    }
}

#[test]
fn state_urls_with_credentials_are_refused_without_repeating_them() {
    let rows = [
        (
            "https://AKIAEXAMPLE:S3cretKey@example.com/state.json",
            "https://***",
        ),
        ("s3://AKIAEXAMPLE:S3cretKey@bucket/key", "s3://***"),
        (
            "s3://AKIAEXAMPLE:wJalr/K7MDS3cretKey@bucket/key",
            "s3://***",
        ),
        ("oci://user:pa/S3cretKey@bucket@ns/x", "oci://***"),
        ("memory://user:S3cretKey@x", "memory://***"),
        ("file://user:S3cretKey@host/state.json", "file://***"),
    ];
    for (url, shown) in rows {
        let problem = state_url_problem(url);
        assert!(
            problem.starts_with(&format!(
                "fleet.yaml:10:16: spec.state.url: must be a path or a URL starting with \
                 file://, memory://, s3:// or oci://, got \"{shown}\" ("
            )),
            "{url}: {problem}"
        );
        for secret in [
            "S3cretKey",
            "AKIAEXAMPLE",
            "user:",
            "bucket/",
            "bucket@",
            "@ns",
            "example.com",
            "host/",
        ] {
            assert!(
                !problem.contains(secret),
                "{url}: `{secret}` leaked: {problem}"
            );
        }
    }
}

/// The one problem of a fleet file whose `spec.endpoint` is `url`.
fn endpoint_problem(url: &str) -> String {
    let text = with_spec(&format!(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{{name: blue, count: 1}}]\n  \
           endpoint: \"{url}\"\n"
    ));
    let problems = problems(&text);
    assert_eq!(problems.len(), 1, "{url}: {problems:?}");
    problems[0].clone()
}

#[test]
fn endpoints_the_client_would_refuse_are_refused_by_validate_without_secrets() {
    let rows = [
        (
            "http://user:S3cretKey@127.0.0.1:8999",
            "`http://127.0.0.1:8999` has user info",
        ),
        ("http://S3cretKey@127.0.0.1:8999", "has user info"),
        ("https://@127.0.0.1:8999", "has user info"),
        (
            "http://127.0.0.1:8999/?token=S3cretKey",
            "`http://127.0.0.1:8999` has a query",
        ),
        ("http://127.0.0.1:8999/sim#S3cretKey", "has a fragment"),
        (
            "ftp://127.0.0.1/S3cretKey",
            "`ftp://127.0.0.1` is not http:// or https://",
        ),
        ("127.0.0.1:8999/S3cretKey", "is not http:// or https://"),
    ];
    for (url, reason) in rows {
        let problem = endpoint_problem(url);
        assert!(
            problem.starts_with(
                "fleet.yaml:10:13: spec.endpoint: must be an http:// or https:// base URL \
                 without user info, query or fragment, such as \"http://127.0.0.1:8999\""
            ),
            "{url}: {problem}"
        );
        assert!(problem.contains(reason), "{url}: {problem}");
        assert!(!problem.contains("S3cretKey"), "{url}: leaked: {problem}");
        assert!(!problem.contains("user:"), "{url}: leaked: {problem}");
    }
}

#[test]
fn unsupported_yaml_features_are_reported_not_ignored() {
    let text = with_spec(
        "  subnetId: !Ref MySubnet\n  \
           instances: [{name: blue, count: 1}]\n  \
           <<: {shape: x}\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:8:13: spec.subnetId: the YAML tag !Ref is not supported here",
            "fleet.yaml:10:3: spec: YAML merge keys (<<) are not supported; write the fields out in full",
        ]
    );
}

#[test]
fn rollout_limits_must_be_whole_numbers_or_percentages() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n  \
           rollout: {maxSurge: 2.0, maxUnavailable: 150%}\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:10:23: spec.rollout.maxSurge: must be a whole number >= 0 or a percentage \
             such as \"25%\" (0-100%), got 2.0",
            "fleet.yaml:10:44: spec.rollout.maxUnavailable: must be a whole number >= 0 or a \
             percentage such as \"25%\" (0-100%), got \"150%\"",
        ]
    );
}

#[test]
fn an_empty_section_says_how_to_get_the_defaults() {
    let text = with_spec(
        "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n  \
           loadBalancer:\n  \
           #  enabled: true\n",
    );
    assert_eq!(
        problems(&text),
        [
            "fleet.yaml:10:3: spec.loadBalancer: must be a mapping, got an empty value (remove the \
          key, or write {} to use the defaults)"
        ]
    );
}

/// OCI refuses a launch whose metadata (keys and values, the SSH keys included) exceeds
/// 32,000 bytes; validate says so first.
#[test]
fn instance_metadata_over_the_oci_limit_is_an_error() {
    let base = "  subnetId: ocid1.subnet.oc1.iad.aaaa\n  instances: [{name: blue, count: 1}]\n";
    // "user_data" (9 bytes) + 31,991 bytes: exactly the limit is accepted.
    let at_limit = with_spec(&format!(
        "{base}  metadata:\n    user_data: {}\n",
        "x".repeat(31_991)
    ));
    load_str("fleet.yaml", &at_limit).unwrap_or_else(|e| panic!("{e}"));

    let over = with_spec(&format!(
        "{base}  metadata:\n    user_data: {}\n",
        "x".repeat(31_992)
    ));
    assert_eq!(
        problems(&over),
        [
            "fleet.yaml:10:3: spec.metadata: the instance metadata holds 32001 bytes (keys and \
             values); OCI accepts at most 32000 per instance"
        ]
    );

    // The SSH keys count too: "ssh_authorized_keys" (19) + the key (19) = 38 bytes more.
    let with_keys = with_spec(&format!(
        "{base}  sshAuthorizedKeys: [\"ssh-ed25519 AAAA me\"]\n  metadata:\n    user_data: {}\n",
        "x".repeat(31_992 - 38)
    ));
    assert_eq!(
        problems(&with_keys),
        [
            "fleet.yaml:11:3: spec.metadata: the instance metadata holds 32001 bytes (keys and \
             values, spec.sshAuthorizedKeys included); OCI accepts at most 32000 per instance"
        ]
    );

    // Keys alone: the problem is at the list.
    let keys: Vec<String> = (0..400)
        .map(|i| format!("\"ssh-ed25519 {} k{i}\"", "A".repeat(76)))
        .collect();
    let only_keys = with_spec(&format!(
        "{base}  sshAuthorizedKeys: [{}]\n",
        keys.join(", ")
    ));
    let got = problems(&only_keys);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("fleet.yaml:10:3: spec.sshAuthorizedKeys: the instance metadata holds "),
        "{got:?}"
    );
}

#[test]
fn a_blank_availability_domain_or_shape_is_an_error() {
    let text = "kind: FleetConfig\n\
         metadata: {name: web}\n\
         spec:\n  \
           compartmentId: ocid1.compartment.oc1..aaaa\n  \
           imageId: ocid1.image.oc1.iad.aaaa\n  \
           availabilityDomain: \"   \"\n  \
           shape: \"\\t\"\n  \
           subnetId: ocid1.subnet.oc1.iad.aaaa\n  \
           instances: [{name: blue, count: 1}]\n";
    assert_eq!(
        problems(text),
        [
            "fleet.yaml:6:23: spec.availabilityDomain: must be an availability domain name such \
             as \"Uocm:US-ASHBURN-AD-1\", got only blank characters",
            "fleet.yaml:7:10: spec.shape: must be a shape name such as \"VM.Standard.E4.Flex\", \
             got only blank characters",
        ]
    );
}
