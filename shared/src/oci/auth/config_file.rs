//! The OCI CLI config file (`~/.oci/config`), read with the Python SDK / CLI semantics:
//! `[PROFILE]` sections, keys case-insensitive, `=` or `:` separators, whole-line `#`/`;`
//! comments only (so `pass_phrase=se;cr#et` stays intact), every key of `[DEFAULT]` inherited
//! by every profile unless overridden, and duplicate profiles or keys refused.
//!
//! # Where the file is looked for
//! 1. the explicit path (the `config_file` setting);
//! 2. env `OCI_CLI_CONFIG_FILE` (the OCI CLI's default for `--config-file`, so people who use
//!    the CLI get the same file);
//! 3. `~/.oci/config` (the SDKs' and the CLI's default);
//! 4. env `OCI_CONFIG_FILE` (the SDKs honour it only when `~/.oci/config` is missing; so do we).
//!
//! A path named by 1 or 2 must exist (a missing one is an error, never a silent fall-through);
//! 3 and 4 are candidates, and when neither exists there is no config file (auto-detection then
//! moves on to the instance principal).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ini::{Ini, ParseOption};

use super::AuthError;
use crate::env::Env;

/// Keys whose values are secrets: never printed.
const SECRET_KEYS: &[&str] = &["pass_phrase", "passphrase", "key_content"];

/// The name of the default section.
pub const DEFAULT_PROFILE: &str = "DEFAULT";

/// Where a config file was found and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigFileLocation {
    /// The file.
    pub path: PathBuf,
    /// Where the path came from (`the config_file setting`, `env OCI_CLI_CONFIG_FILE`, …).
    pub origin: String,
}

/// Finds the config file (see the module docs for the order and why).
///
/// `Ok(None)` means no candidate exists; `Err` means a file named explicitly or by
/// `OCI_CLI_CONFIG_FILE` does not exist.
pub fn locate_config_file(
    explicit: Option<&Path>,
    env: &Env,
) -> Result<Option<ConfigFileLocation>, AuthError> {
    let named = match explicit {
        Some(p) => Some((
            expand_path(&p.to_string_lossy(), env),
            "the `config_file` setting".to_string(),
        )),
        None => env
            .get_non_empty("OCI_CLI_CONFIG_FILE")
            .map(|p| (expand_path(p, env), "env OCI_CLI_CONFIG_FILE".to_string())),
    };
    if let Some((path, origin)) = named {
        if path.is_file() {
            return Ok(Some(ConfigFileLocation { path, origin }));
        }
        return Err(AuthError::ConfigFileNotFound { path, origin });
    }
    for (path, origin) in default_candidates(env) {
        if path.is_file() {
            return Ok(Some(ConfigFileLocation { path, origin }));
        }
    }
    Ok(None)
}

/// The default candidates (`~/.oci/config`, then env `OCI_CONFIG_FILE`).
fn default_candidates(env: &Env) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    if env.get_non_empty("HOME").is_some() {
        out.push((
            expand_path("~/.oci/config", env),
            "the default location ~/.oci/config".to_string(),
        ));
    }
    if let Some(p) = env.get_non_empty("OCI_CONFIG_FILE") {
        out.push((expand_path(p, env), "env OCI_CONFIG_FILE".to_string()));
    }
    out
}

/// The candidates tried when no file was found, for the error message.
pub(crate) fn describe_candidates(env: &Env) -> String {
    let c = default_candidates(env);
    if c.is_empty() {
        return "~/.oci/config (HOME is not set)".to_string();
    }
    c.iter()
        .map(|(p, origin)| format!("{} ({origin})", p.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Expands a leading `~` (from `HOME`) and `$VAR` / `${VAR}` (from `env`). Unknown variables
/// are left as written, as Python's `os.path.expandvars` does, so the error about the missing
/// file shows them.
pub fn expand_path(value: &str, env: &Env) -> PathBuf {
    let value = value.trim();
    let mut s = String::new();
    let rest = if value == "~" || value.starts_with("~/") {
        match env.get_non_empty("HOME") {
            Some(home) => {
                s.push_str(home.trim_end_matches('/'));
                &value[1..]
            }
            None => value,
        }
    } else {
        value
    };
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '$' {
            if chars.get(i + 1) == Some(&'{')
                && let Some(close) = chars[i + 2..].iter().position(|&c| c == '}')
            {
                let name: String = chars[i + 2..i + 2 + close].iter().collect();
                match env.get(&name) {
                    Some(v) if !name.is_empty() => s.push_str(v),
                    _ => s.extend(&chars[i..i + 3 + close]),
                }
                i += 3 + close;
                continue;
            }
            let name: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                .collect();
            if !name.is_empty() {
                match env.get(&name) {
                    Some(v) => s.push_str(v),
                    None => {
                        s.push('$');
                        s.push_str(&name);
                    }
                }
                i += 1 + name.chars().count();
                continue;
            }
        }
        s.push(chars[i]);
        i += 1;
    }
    PathBuf::from(s)
}

/// A parsed OCI config file.
#[derive(Clone)]
pub struct OciConfigFile {
    path: PathBuf,
    /// Section name → lower-cased key → value, sections in file order.
    sections: Vec<(String, BTreeMap<String, String>)>,
}

impl OciConfigFile {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                AuthError::ConfigFileNotFound {
                    path: path.to_path_buf(),
                    origin: "the config file path".into(),
                }
            } else {
                AuthError::ConfigFileUnreadable {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        Self::parse(&text, path)
    }

    /// Parses config text; `path` is used in errors and messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, AuthError> {
        let opt = ParseOption {
            enabled_quote: false,
            enabled_escape: false,
            enabled_indented_mutiline_value: false,
            enabled_preserve_key_leading_whitespace: false,
        };
        // A UTF-8 BOM would otherwise become part of the first header.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let ini = Ini::load_from_str_opt(text, opt).map_err(|e| AuthError::ConfigFileSyntax {
            path: path.to_path_buf(),
            line: e.line + 1,
            column: e.col + 1,
            message: e.msg.to_string(),
        })?;
        let mut sections: Vec<(String, BTreeMap<String, String>)> = Vec::new();
        for (name, props) in ini.iter() {
            let Some(name) = name else {
                if !props.is_empty() {
                    return Err(AuthError::KeysOutsideProfile {
                        path: path.to_path_buf(),
                    });
                }
                continue;
            };
            if sections.iter().any(|(n, _)| n == name) {
                return Err(AuthError::DuplicateProfile {
                    path: path.to_path_buf(),
                    profile: name.to_string(),
                });
            }
            let mut values = BTreeMap::new();
            for (key, value) in props.iter() {
                let key = key.trim().to_ascii_lowercase();
                if values
                    .insert(key.clone(), value.trim().to_string())
                    .is_some()
                {
                    return Err(AuthError::DuplicateKey {
                        path: path.to_path_buf(),
                        profile: name.to_string(),
                        key,
                    });
                }
            }
            sections.push((name.to_string(), values));
        }
        Ok(Self {
            path: path.to_path_buf(),
            sections,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Profile names in file order (`DEFAULT` included when present).
    pub fn profile_names(&self) -> Vec<&str> {
        self.sections.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The profile `name` with `[DEFAULT]` keys inherited (Python configparser semantics).
    pub fn profile(&self, name: &str) -> Result<Profile, AuthError> {
        let own = self
            .sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v);
        let default = self
            .sections
            .iter()
            .find(|(n, _)| n == DEFAULT_PROFILE)
            .map(|(_, v)| v);
        let own = match own {
            Some(v) => v,
            None => {
                let names = self.profile_names();
                return Err(AuthError::ProfileNotFound {
                    path: self.path.clone(),
                    profile: name.to_string(),
                    available: if names.is_empty() {
                        "none".into()
                    } else {
                        names
                            .iter()
                            .map(|n| format!("[{n}]"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                });
            }
        };
        let mut values = BTreeMap::new();
        if name != DEFAULT_PROFILE
            && let Some(default) = default
        {
            for (k, v) in default {
                values.insert(k.clone(), (v.clone(), true));
            }
        }
        for (k, v) in own {
            values.insert(k.clone(), (v.clone(), false));
        }
        Ok(Profile {
            name: name.to_string(),
            path: self.path.clone(),
            values,
        })
    }
}

impl fmt::Debug for OciConfigFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciConfigFile")
            .field("path", &self.path)
            .field("profiles", &self.profile_names())
            .finish()
    }
}

/// One profile, with `[DEFAULT]` inheritance applied.
#[derive(Clone, PartialEq, Eq)]
pub struct Profile {
    name: String,
    path: PathBuf,
    /// key → (value, inherited from DEFAULT)
    values: BTreeMap<String, (String, bool)>,
}

impl Profile {
    /// The profile name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The config file it came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The value of `key` (case-insensitive), `None` when absent or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(&key.to_ascii_lowercase())
            .map(|(v, _)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The value of `key` as written, even when empty (`Some("")` for `region=`).
    pub fn get_raw(&self, key: &str) -> Option<&str> {
        self.values
            .get(&key.to_ascii_lowercase())
            .map(|(v, _)| v.as_str())
    }

    /// True when `key` is present and came from `[DEFAULT]`.
    pub fn is_inherited(&self, key: &str) -> bool {
        self.values
            .get(&key.to_ascii_lowercase())
            .is_some_and(|(_, inherited)| *inherited)
    }

    /// `profile [NAME] in PATH`, for messages.
    pub fn describe(&self) -> String {
        format!("profile [{}] in {}", self.name, self.path.display())
    }
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (k, (v, inherited)) in &self.values {
            let shown = if SECRET_KEYS.contains(&k.as_str()) {
                "<redacted>"
            } else {
                v.as_str()
            };
            if *inherited {
                m.entry(k, &format_args!("{shown:?} (from DEFAULT)"));
            } else {
                m.entry(k, &shown);
            }
        }
        m.finish()?;
        write!(f, " of {}", self.describe())
    }
}
