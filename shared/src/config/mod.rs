//! The fleet file: loading, validation and its JSON Schema.
//!
//! A fleet file is one YAML document (`kind: FleetConfig`, `metadata`, `spec`); the templates
//! in `config/` show every field. [`load_file`] and [`load_str`] turn it into a validated
//! [`FleetConfig`] or report **every** problem at once, each with `file:line:column`, the field
//! path and a plain-English message, sorted by position:
//!
//! ```text
//! fleet.yaml:3:1: spec: missing required field "compartmentId"
//! fleet.yaml:3:1: spec: missing required field "imageId"
//! fleet.yaml:4:3: spec: unknown field "compartmentID"; did you mean "compartmentId"?
//! fleet.yaml:13:14: spec.instances[1].count: must be a whole number >= 0, got -2
//! ```
//!
//! Bad values are reported at the value, unknown and duplicate keys at the key, and a missing
//! required field at the key of the mapping that lacks it.
//!
//! How it works:
//!
//! 1. `yaml`: granit-parser events become a JSON value, with the position of every key and
//!    value kept by path (YAML 1.2 core schema: `yes`/`on` are text; quoted scalars are always
//!    text). Syntax errors, duplicate keys, an empty file, several documents or a top level
//!    that is not a mapping are reported here.
//! 2. `schema`: the value is checked against the JSON Schema generated from the raw types
//!    (`raw`, schemars); every error is mapped back to a position and reworded by kind.
//! 3. `validate`: rules a schema cannot express (unique group names, a subnet for every group,
//!    load balancer fields when enabled, flexible shapes, OCI's metadata size limit, a blank
//!    availability domain or shape, rollout limits, `~`/`$VAR` expansion of
//!    `auth.configFile`).
//! 4. Only when nothing was found, the value is deserialized into the raw types and resolved
//!    into a [`FleetConfig`] (defaults applied, each group's subnet resolved).
//!
//! The schema is [`json_schema`]; `schema/fleetctl.schema.json` holds
//! [`json_schema_pretty`]'s output and a test fails when it is stale (`cargo xtask schema`
//! rewrites it).

mod expand;
mod model;
mod raw;
mod report;
mod schema;
mod types;
mod validate;
mod yaml;

use std::io::Read;
use std::path::Path;

pub use crate::ids::{FleetName, GroupName};
pub use expand::{Environment, ExpandError, FixedEnvironment, ProcessEnvironment, expand_path};
pub use model::{
    ApiConfig, AuthConfig, AuthMethod, FleetConfig, FleetSpec, InstanceGroup, InstanceMetadata,
    LoadBalancerConfig, LoadBalancerType, Metadata, RebootAction, RolloutConfig, RolloutStrategy,
    ShapeConfig, StateConfig,
};
pub use report::{ConfigErrors, Problem};
pub use types::{
    CheckpointWaitSpec, CountOrPercent, EndpointUrl, EnvVarName, HumanDuration, InvalidValue,
    ListenAddr, Region, SshPublicKey, StateUrl, TagValue,
};

pub(crate) use report::describe;
use report::{Collector, Pos, Slot};

/// Fleet files larger than this are refused (a fleet file is a few kilobytes).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Reads, parses and validates a fleet file, expanding `auth.configFile` with the process
/// environment.
///
/// Problems name the file as `path` is displayed. A file that cannot be read gives one problem
/// at line 1, column 1: `cannot read the file: <reason>`; so does a file larger than
/// [`MAX_FILE_BYTES`]. A file that is not UTF-8 gives one problem at the first bad byte.
pub fn load_file(path: &Path) -> Result<FleetConfig, ConfigErrors> {
    load_file_with_env(path, &ProcessEnvironment)
}

/// [`load_file`] with an injected environment (variables and home directory).
pub fn load_file_with_env(path: &Path, env: &dyn Environment) -> Result<FleetConfig, ConfigErrors> {
    let name = path.display().to_string();
    let text = read_text(path).map_err(|(pos, message)| {
        let mut out = Collector::new(&name);
        out.add(pos, &[], Slot::Other, message);
        out.finish()
    })?;
    load_str_with_env(&name, &text, env)
}

/// Parses and validates fleet-file text; `file_name` is used in problems.
pub fn load_str(file_name: &str, text: &str) -> Result<FleetConfig, ConfigErrors> {
    load_str_with_env(file_name, text, &ProcessEnvironment)
}

/// [`load_str`] with an injected environment (variables and home directory).
pub fn load_str_with_env(
    file_name: &str,
    text: &str,
    env: &dyn Environment,
) -> Result<FleetConfig, ConfigErrors> {
    let mut out = Collector::new(file_name);
    let Some(parsed) = yaml::parse(text, &mut out) else {
        return Err(out.finish());
    };
    schema::validate(&parsed, &mut out);
    schema::check_typed_values(&parsed, &mut out);
    let extras = validate::check(&parsed, env, &mut out);
    if !out.is_empty() {
        return Err(out.finish());
    }
    let built = serde_json::from_value::<raw::RawFleetFile>(parsed.value)
        .map_err(|e| e.to_string())
        .and_then(|raw| validate::build(raw, extras));
    built.map_err(|e| {
        out.add(
            Pos::START,
            &[],
            Slot::Other,
            format!("internal error: the file passed every check but could not be loaded ({e}); please report this"),
        );
        out.finish()
    })
}

/// The JSON Schema of the fleet file (draft 2020-12), generated from the types.
pub fn json_schema() -> serde_json::Value {
    schema::schema().clone()
}

/// The exact contents of `schema/fleetctl.schema.json`: [`json_schema`] as pretty JSON with a
/// trailing newline.
pub fn json_schema_pretty() -> String {
    let mut text = serde_json::to_string_pretty(schema::schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// Reads a file as UTF-8 text, or says why not (with the position of the first bad byte for
/// text that is not UTF-8).
fn read_text(path: &Path) -> Result<String, (Pos, String)> {
    let cannot = |reason: String| (Pos::START, format!("cannot read the file: {reason}"));
    let file = std::fs::File::open(path).map_err(|e| cannot(io_reason(&e)))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot(io_reason(&e)))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(cannot(format!(
            "it is larger than {} KiB, too large for a fleet file",
            MAX_FILE_BYTES / 1024
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // Valid up to here, so this cannot fail; fall back to the start if it somehow does.
        let before = std::str::from_utf8(good).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (
            Pos { line, column },
            "the file is not UTF-8 text (an invalid byte starts here)".to_owned(),
        )
    })
}

fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "the file does not exist".to_owned(),
        ErrorKind::PermissionDenied => "permission denied".to_owned(),
        ErrorKind::IsADirectory => "it is a directory, not a file".to_owned(),
        _ => e.to_string(),
    }
}
