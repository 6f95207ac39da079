//! The rules a JSON Schema cannot express, and the step from the raw file to [`FleetConfig`].
//!
//! The checks read the document as a JSON value, not the typed raw structs, so they run even
//! when other parts of the file have problems: a wrong type in one place never hides a
//! duplicate group name in another. Each check looks only at values of the right shape and
//! leaves shape errors to the schema.

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;

use super::expand::{Environment, ExpandError, expand_path};
use super::model::{
    ApiConfig, AuthConfig, FleetConfig, FleetSpec, InstanceGroup, InstanceMetadata,
    LoadBalancerConfig, Metadata, RolloutConfig, ShapeConfig, StateConfig,
};
use super::raw::{RawFleetFile, default_max_surge, default_max_unavailable};
use super::report::{Collector, Pos, Seg, Slot};
use super::types::CountOrPercent;
use super::yaml::Parsed;
use crate::ids::LoadBalancerId;

/// The metadata key `spec.sshAuthorizedKeys` become (newline-joined).
const SSH_KEYS_METADATA: &str = "ssh_authorized_keys";

/// The default OCI CLI config file.
pub(crate) const DEFAULT_CONFIG_FILE: &str = "~/.oci/config";

/// What the checks worked out that the typed build needs.
#[derive(Debug, Default)]
pub(crate) struct Extras {
    /// `spec.auth.configFile` expanded (or the default, expanded when possible).
    config_file: PathBuf,
    config_file_explicit: bool,
    profile_explicit: bool,
}

fn path(keys: &[&str]) -> Vec<Seg> {
    keys.iter().map(|k| Seg::Key((*k).to_owned())).collect()
}

fn with(base: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut p = base.to_vec();
    p.push(seg);
    p
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_owned())
}

/// Runs every cross-field check; problems go to `out`.
pub(crate) fn check(parsed: &Parsed, env: &dyn Environment, out: &mut Collector) -> Extras {
    let spec = parsed.value.get("spec").filter(|s| s.is_object());
    let mut extras = Extras {
        config_file: PathBuf::from(DEFAULT_CONFIG_FILE),
        ..Extras::default()
    };
    if let Some(spec) = spec {
        check_groups(parsed, spec, out);
        check_load_balancer(parsed, spec, out);
        check_flex_shape(parsed, spec, out);
        check_ssh_keys(parsed, spec, out);
        check_metadata_size(parsed, spec, out);
        check_not_blank(parsed, spec, out);
        check_rollout_limits(parsed, spec, out);
        check_auth(parsed, spec, env, out, &mut extras);
    } else {
        extras.config_file = default_config_file(env);
    }
    extras
}

/// Group names are unique, and every group has a subnet.
fn check_groups(parsed: &Parsed, spec: &Value, out: &mut Collector) {
    let Some(groups) = spec.get("instances").and_then(Value::as_array) else {
        return;
    };
    let spec_has_subnet = spec.get("subnetId").is_some();
    let mut first_line: HashMap<&str, usize> = HashMap::new();
    for (i, group) in groups.iter().enumerate() {
        let group_path = with(&path(&["spec", "instances"]), Seg::Index(i));
        let name = group.get("name").and_then(Value::as_str);
        if let Some(name) = name {
            let name_path = with(&group_path, key("name"));
            let line = parsed.value_pos(&name_path).line;
            match first_line.get(name) {
                Some(first) => out.add(
                    parsed.value_pos(&name_path),
                    &name_path,
                    Slot::Value,
                    format!("duplicate group name {name:?} (first defined at line {first})"),
                ),
                None => {
                    first_line.insert(name, line);
                }
            }
        }
        if group.is_object() && group.get("subnetId").is_none() && !spec_has_subnet {
            let who = name.map_or_else(|| "this group".to_owned(), |n| format!("group {n:?}"));
            out.add(
                parsed.key_pos(&group_path),
                &group_path,
                Slot::Other,
                format!("{who} has no subnet: set subnetId on the group or spec.subnetId"),
            );
        }
    }
}

/// When enabled, the load balancer needs its id, backend set and port; the id's type matches
/// `type`.
fn check_load_balancer(parsed: &Parsed, spec: &Value, out: &mut Collector) {
    let Some(lb) = spec.get("loadBalancer").filter(|v| v.is_object()) else {
        return;
    };
    let lb_path = path(&["spec", "loadBalancer"]);
    if lb.get("enabled") == Some(&Value::Bool(true)) {
        for field in ["loadBalancerId", "backendSetName", "port"] {
            if lb.get(field).is_none() {
                out.add(
                    parsed.key_pos(&lb_path),
                    &lb_path,
                    Slot::Other,
                    format!("missing required field {field:?} (required when enabled is true)"),
                );
            }
        }
    }
    let type_written = lb.get("type").and_then(Value::as_str);
    let lb_type = match type_written {
        Some(t @ ("classic" | "network")) => t,
        Some(_) => return,
        None => "classic",
    };
    let Some(Ok(id)) = lb
        .get("loadBalancerId")
        .and_then(Value::as_str)
        .map(LoadBalancerId::parse)
    else {
        return;
    };
    let (wanted, wanted_form) = match lb_type {
        "network" => ("a network load balancer", "ocid1.networkloadbalancer.…"),
        _ => ("a classic load balancer", "ocid1.loadbalancer.…"),
    };
    if id.is_network() != (lb_type == "network") {
        let id_path = with(&lb_path, key("loadBalancerId"));
        let because = if type_written.is_some() {
            format!("because type is {lb_type:?}")
        } else {
            "because type is \"classic\" (the default)".to_owned()
        };
        out.add(
            parsed.value_pos(&id_path),
            &id_path,
            Slot::Value,
            format!(
                "expected {wanted} OCID ({wanted_form}) {because}, got a {} OCID",
                id.as_ocid().resource_type()
            ),
        );
    }
}

/// A flexible shape needs shapeConfig with ocpus.
fn check_flex_shape(parsed: &Parsed, spec: &Value, out: &mut Collector) {
    let Some(shape) = spec
        .get("shape")
        .and_then(Value::as_str)
        .filter(|s| s.ends_with(".Flex"))
    else {
        return;
    };
    match spec.get("shapeConfig") {
        None => {
            let spec_path = path(&["spec"]);
            out.add(
                parsed.key_pos(&spec_path),
                &spec_path,
                Slot::Other,
                format!(
                    "missing required field \"shapeConfig\" (required for the flexible shape {shape:?})"
                ),
            );
        }
        Some(config) if config.is_object() && config.get("ocpus").is_none() => {
            let config_path = path(&["spec", "shapeConfig"]);
            out.add(
                parsed.key_pos(&config_path),
                &config_path,
                Slot::Other,
                format!(
                    "missing required field \"ocpus\" (required for the flexible shape {shape:?})"
                ),
            );
        }
        Some(_) => {}
    }
}

/// SSH keys are given in one place only.
fn check_ssh_keys(parsed: &Parsed, spec: &Value, out: &mut Collector) {
    let has_list = spec.get("sshAuthorizedKeys").is_some();
    let in_metadata = spec
        .get("metadata")
        .and_then(|m| m.get(SSH_KEYS_METADATA))
        .is_some();
    if has_list && in_metadata {
        let p = path(&["spec", "metadata", SSH_KEYS_METADATA]);
        out.add(
            parsed.key_pos(&p),
            &p,
            Slot::Other,
            "conflicts with spec.sshAuthorizedKeys: give the SSH keys in one place only",
        );
    }
}

/// The instance metadata, SSH keys included, fits OCI's limit ([`InstanceMetadata::MAX_BYTES`]
/// of keys and values), counted exactly as [`build`] assembles it. Values of the wrong type
/// are left to the schema.
fn check_metadata_size(parsed: &Parsed, spec: &Value, out: &mut Collector) {
    let mut entries: Vec<(&str, usize)> = Vec::new();
    if let Some(metadata) = spec.get("metadata").and_then(Value::as_object) {
        for (k, v) in metadata {
            let Some(v) = v.as_str() else { return };
            entries.push((k.as_str(), v.len()));
        }
    }
    let keys: Option<Vec<&str>> = match spec.get("sshAuthorizedKeys") {
        None => Some(Vec::new()),
        Some(list) => list
            .as_array()
            .and_then(|l| l.iter().map(Value::as_str).collect()),
    };
    let Some(keys) = keys else { return };
    let with_keys = !keys.is_empty();
    if with_keys {
        let joined = keys.iter().map(|k| k.len()).sum::<usize>() + keys.len() - 1;
        entries.retain(|(k, _)| *k != SSH_KEYS_METADATA);
        entries.push((SSH_KEYS_METADATA, joined));
    }
    let bytes: usize = entries.iter().map(|(k, v)| k.len() + v).sum();
    if bytes <= InstanceMetadata::MAX_BYTES {
        return;
    }
    let p = if spec.get("metadata").is_some() {
        path(&["spec", "metadata"])
    } else {
        path(&["spec", "sshAuthorizedKeys"])
    };
    let counted = if with_keys {
        "keys and values, spec.sshAuthorizedKeys included"
    } else {
        "keys and values"
    };
    out.add(
        parsed.key_pos(&p),
        &p,
        Slot::Other,
        format!(
            "the instance metadata holds {bytes} bytes ({counted}); OCI accepts at most {} per \
             instance",
            InstanceMetadata::MAX_BYTES
        ),
    );
}

/// The availability domain and the shape are names, not just blank characters (the schema's
/// minimum length lets `"  "` through; OCI would refuse every launch).
fn check_not_blank(parsed: &Parsed, spec: &Value, out: &mut Collector) {
    for (field, what) in [
        (
            "availabilityDomain",
            "an availability domain name such as \"Uocm:US-ASHBURN-AD-1\"",
        ),
        ("shape", "a shape name such as \"VM.Standard.E4.Flex\""),
    ] {
        let Some(text) = spec.get(field).and_then(Value::as_str) else {
            continue;
        };
        if !text.is_empty() && text.trim().is_empty() {
            let p = path(&["spec", field]);
            out.add(
                parsed.value_pos(&p),
                &p,
                Slot::Value,
                format!("must be {what}, got only blank characters"),
            );
        }
    }
}

/// maxSurge and maxUnavailable are not both zero.
fn check_rollout_limits(parsed: &Parsed, spec: &Value, out: &mut Collector) {
    let Some(rollout) = spec.get("rollout").filter(|v| v.is_object()) else {
        return;
    };
    let limit = |name: &str, default: CountOrPercent| match rollout.get(name) {
        None => Some(default),
        Some(v) => CountOrPercent::from_value(v).ok(),
    };
    let surge = limit("maxSurge", default_max_surge());
    let unavailable = limit("maxUnavailable", default_max_unavailable());
    if surge.is_some_and(CountOrPercent::is_zero)
        && unavailable.is_some_and(CountOrPercent::is_zero)
    {
        let field = if rollout.get("maxSurge").is_some() {
            "maxSurge"
        } else {
            "maxUnavailable"
        };
        let p = path(&["spec", "rollout", field]);
        out.add(
            parsed.value_pos(&p),
            &p,
            Slot::Other,
            "maxSurge and maxUnavailable are both 0, so a rollout could never make progress; \
             set one of them above 0",
        );
    }
    if let Some(list) = rollout.get("checkpoints").and_then(Value::as_array) {
        let mut last = 0;
        for (i, v) in list.iter().enumerate() {
            let Some(n) = v.as_u64() else { continue };
            if n <= last {
                let p = with(&path(&["spec", "rollout", "checkpoints"]), Seg::Index(i));
                out.add(
                    parsed.value_pos(&p),
                    &p,
                    Slot::Other,
                    "checkpoints must be ascending percentages, each once",
                );
                break;
            }
            last = n;
        }
    }
}

fn default_config_file(env: &dyn Environment) -> PathBuf {
    // Without a home directory the default stays as written (see `expand_path`).
    expand_path(DEFAULT_CONFIG_FILE, env).unwrap_or_else(|_| PathBuf::from(DEFAULT_CONFIG_FILE))
}

/// Expands `auth.configFile`; an unset variable is a problem pointing at its `$`.
fn check_auth(
    parsed: &Parsed,
    spec: &Value,
    env: &dyn Environment,
    out: &mut Collector,
    extras: &mut Extras,
) {
    let auth = spec.get("auth").filter(|v| v.is_object());
    extras.profile_explicit = auth.is_some_and(|a| a.get("profile").is_some());
    let written = auth.and_then(|a| a.get("configFile"));
    extras.config_file_explicit = written.is_some();
    let Some(Value::String(raw)) = written else {
        extras.config_file = default_config_file(env);
        return;
    };
    let p = path(&["spec", "auth", "configFile"]);
    if out.has_value_problem(&p) {
        return;
    }
    match expand_path(raw, env) {
        Ok(expanded) => extras.config_file = expanded,
        Err(e) => {
            let pos = error_pos(parsed, &p, &e);
            out.add(pos, &p, Slot::Value, e.to_string());
        }
    }
}

/// Points at the character where an expansion problem starts when the source spells the value
/// exactly; else at the value.
fn error_pos(parsed: &Parsed, p: &[Seg], e: &ExpandError) -> Pos {
    let value_pos = parsed.value_pos(p);
    match parsed.loc(p).and_then(|l| l.text_column) {
        Some(column) => Pos {
            line: value_pos.line,
            column: column + e.offset(),
        },
        None => value_pos,
    }
}

/// Turns the checked raw file into a [`FleetConfig`]. Fails only if the checks above missed
/// something (a bug), with a description of what.
pub(crate) fn build(raw: RawFleetFile, extras: Extras) -> Result<FleetConfig, String> {
    let spec = raw.spec;
    let mut instances = Vec::with_capacity(spec.instances.len());
    for group in spec.instances {
        let subnet = group
            .subnet_id
            .clone()
            .or_else(|| spec.subnet_id.clone())
            .ok_or_else(|| format!("group {:?} has no subnet", group.name.as_str()))?;
        instances.push(InstanceGroup {
            name: group.name,
            count: group.count,
            subnet_id: group.subnet_id,
            subnet,
        });
    }
    let mut metadata = InstanceMetadata::from(spec.metadata);
    if !spec.ssh_authorized_keys.is_empty() {
        let keys: Vec<&str> = spec
            .ssh_authorized_keys
            .iter()
            .map(|k| k.as_str())
            .collect();
        metadata.insert(SSH_KEYS_METADATA.to_owned(), keys.join("\n"));
    }
    let endpoint = match spec.endpoint {
        Some(e) => Some(e.to_url().ok_or("endpoint did not parse")?),
        None => None,
    };
    let lb = spec.load_balancer;
    let load_balancer = if lb.enabled {
        Some(LoadBalancerConfig {
            lb_type: lb.lb_type,
            load_balancer_id: lb.load_balancer_id.ok_or("loadBalancerId missing")?,
            backend_set_name: lb.backend_set_name.ok_or("backendSetName missing")?,
            port: lb.port.ok_or("port missing")?,
            weight: lb.weight,
            drain_timeout: lb.drain_timeout.get(),
            health_timeout: lb.health_timeout.get(),
        })
    } else {
        None
    };
    Ok(FleetConfig {
        spec: FleetSpec {
            compartment_id: spec.compartment_id,
            image_id: spec.image_id,
            availability_domain: spec.availability_domain,
            shape: spec.shape,
            shape_config: spec.shape_config.map(|c| ShapeConfig {
                ocpus: c.ocpus,
                memory_in_gbs: c.memory_in_gbs,
            }),
            subnet_id: spec.subnet_id,
            display_name_prefix: spec
                .display_name_prefix
                .unwrap_or_else(|| raw.metadata.name.clone()),
            defined_tags: spec.defined_tags,
            freeform_tags: spec.freeform_tags,
            metadata,
            instances,
            endpoint,
            auth: AuthConfig {
                method: spec.auth.method,
                config_file: extras.config_file,
                config_file_explicit: extras.config_file_explicit,
                profile: spec.auth.profile,
                profile_explicit: extras.profile_explicit,
                region: spec.auth.region,
            },
            load_balancer,
            rollout: RolloutConfig {
                strategy: spec.rollout.strategy,
                max_surge: spec.rollout.max_surge,
                max_unavailable: spec.rollout.max_unavailable,
                min_ready_seconds: spec.rollout.min_ready_seconds,
                reboot_action: spec.rollout.reboot_action,
                launch_timeout: spec.rollout.launch_timeout.get(),
                surge_counts_draining: spec.rollout.surge_counts_draining,
                checkpoints: spec.rollout.checkpoints,
                checkpoint_wait: spec.rollout.checkpoint_wait,
                rollback_on_failure: spec.rollout.rollback_on_failure,
            },
            state: StateConfig {
                url: spec.state.url,
            },
            api: ApiConfig {
                listen: spec.api.listen,
                token_env: spec.api.token_env,
                reconcile_every: spec.api.reconcile_every.get(),
            },
        },
        metadata: Metadata {
            name: raw.metadata.name,
        },
    })
}
