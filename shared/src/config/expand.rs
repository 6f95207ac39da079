//! Expansion of `~`, `$VAR` and `${VAR}` in paths written in the fleet file.
//!
//! The environment and the home directory are injected ([`Environment`]), so tests never read
//! or change the process environment.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where expansion reads variables and the home directory from.
pub trait Environment {
    /// The value of an environment variable, `None` when unset.
    fn var(&self, name: &str) -> Option<String>;
    /// The user's home directory, `None` when unknown.
    fn home_dir(&self) -> Option<PathBuf>;
}

/// The process environment. A variable whose value is not valid UTF-8 counts as unset. The
/// home directory is `$HOME` (or `%USERPROFILE%` on Windows).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnvironment;

impl Environment for ProcessEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    fn home_dir(&self) -> Option<PathBuf> {
        let home = std::env::var_os("HOME").or_else(|| {
            if cfg!(windows) {
                std::env::var_os("USERPROFILE")
            } else {
                None
            }
        })?;
        (!home.is_empty()).then(|| PathBuf::from(home))
    }
}

/// A fixed environment: a map of variables and a home directory. For tests, and for callers
/// that snapshot the environment once.
#[derive(Debug, Clone, Default)]
pub struct FixedEnvironment {
    /// The variables.
    pub vars: BTreeMap<String, String>,
    /// The home directory.
    pub home: Option<PathBuf>,
}

impl Environment for FixedEnvironment {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn home_dir(&self) -> Option<PathBuf> {
        self.home.clone()
    }
}

/// Why a path could not be expanded. `offset` is the position (in characters, 0-based) in the
/// written text where the problem starts, so a message can point at it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// `$NAME` or `${NAME}` names a variable that is not set.
    #[error("environment variable {name:?} is not set")]
    Unset {
        /// The variable name.
        name: String,
        /// Where `$` is.
        offset: usize,
    },
    /// `${` without its `}`.
    #[error("\"${{\" has no closing \"}}\"")]
    Unterminated {
        /// Where `$` is.
        offset: usize,
    },
    /// `${…}` with something that is not a variable name inside.
    #[error("\"${{…}}\" must contain a variable name (letters, digits and '_')")]
    BadName {
        /// Where `$` is.
        offset: usize,
    },
}

impl ExpandError {
    /// Where the problem starts in the written text (characters, 0-based).
    pub fn offset(&self) -> usize {
        match self {
            ExpandError::Unset { offset, .. }
            | ExpandError::Unterminated { offset }
            | ExpandError::BadName { offset } => *offset,
        }
    }
}

/// Expands a path as written in the fleet file:
///
/// - a leading `~` alone or followed by `/` becomes the home directory (`~user` is left as
///   is, and so is `~` when no home directory is known: the config file may not even be used,
///   as with instance or resource principals, and whoever opens it reports the path);
/// - `$NAME` and `${NAME}` (NAME = letters, digits and `_`, not starting with a digit) become
///   the variable's value; an unset variable is an error;
/// - `$$` is a literal `$`, and a `$` not followed by a name is kept as is.
pub fn expand_path(raw: &str, env: &dyn Environment) -> Result<PathBuf, ExpandError> {
    let mut out = String::new();
    let chars: Vec<char> = raw.chars().collect();
    let mut i = 0;
    if chars.first() == Some(&'~')
        && (chars.len() == 1 || chars[1] == '/')
        && let Some(home) = env.home_dir()
    {
        out.push_str(&home.to_string_lossy());
        i = 1;
    }
    let is_start = |c: char| c.is_ascii_alphabetic() || c == '_';
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.push(c);
            i += 1;
            continue;
        }
        let start = i;
        match chars.get(i + 1) {
            Some('$') => {
                out.push('$');
                i += 2;
            }
            Some('{') => {
                let close = chars[i + 2..]
                    .iter()
                    .position(|&c| c == '}')
                    .ok_or(ExpandError::Unterminated { offset: start })?;
                let name: String = chars[i + 2..i + 2 + close].iter().collect();
                if !name.starts_with(is_start) || !name.chars().all(is_name) {
                    return Err(ExpandError::BadName { offset: start });
                }
                out.push_str(&lookup(env, name, start)?);
                i += 3 + close;
            }
            Some(&c) if is_start(c) => {
                let len = chars[i + 1..].iter().take_while(|&&c| is_name(c)).count();
                let name: String = chars[i + 1..i + 1 + len].iter().collect();
                out.push_str(&lookup(env, name, start)?);
                i += 1 + len;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    Ok(PathBuf::from(out))
}

fn lookup(env: &dyn Environment, name: String, offset: usize) -> Result<String, ExpandError> {
    env.var(&name).ok_or(ExpandError::Unset { name, offset })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> FixedEnvironment {
        FixedEnvironment {
            vars: [("OCI_DIR", "/etc/oci"), ("USER", "ada"), ("EMPTY", "")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            home: Some(PathBuf::from("/home/ada")),
        }
    }

    fn expand(raw: &str) -> Result<String, ExpandError> {
        expand_path(raw, &env()).map(|p| p.to_string_lossy().into_owned())
    }

    #[test]
    fn tilde_becomes_the_home_directory_only_at_the_start() {
        assert_eq!(expand("~/.oci/config").unwrap(), "/home/ada/.oci/config");
        assert_eq!(expand("~").unwrap(), "/home/ada");
        assert_eq!(expand("~bob/config").unwrap(), "~bob/config");
        assert_eq!(expand("a/~/b").unwrap(), "a/~/b");
    }

    #[test]
    fn variables_expand_in_both_spellings() {
        assert_eq!(expand("$OCI_DIR/config").unwrap(), "/etc/oci/config");
        assert_eq!(expand("${OCI_DIR}/config").unwrap(), "/etc/oci/config");
        assert_eq!(expand("/x/${USER}_cfg").unwrap(), "/x/ada_cfg");
        assert_eq!(expand("/x/$USER.cfg").unwrap(), "/x/ada.cfg");
        assert_eq!(expand("a${EMPTY}b").unwrap(), "ab");
        assert_eq!(expand("~/$USER").unwrap(), "/home/ada/ada");
    }

    #[test]
    fn dollar_signs_that_are_not_variables_stay() {
        assert_eq!(expand("a$$b").unwrap(), "a$b");
        assert_eq!(expand("cost$").unwrap(), "cost$");
        assert_eq!(expand("a$1b").unwrap(), "a$1b");
    }

    #[test]
    fn unset_variables_are_errors_that_say_where() {
        let err = expand("/etc/${NOPE}/x").unwrap_err();
        assert_eq!(err.to_string(), "environment variable \"NOPE\" is not set");
        assert_eq!(err.offset(), 5);
        let err = expand("ab$NOPE").unwrap_err();
        assert_eq!(err.offset(), 2);
        assert_eq!(
            expand("${OCI_DIR").unwrap_err(),
            ExpandError::Unterminated { offset: 0 }
        );
        assert_eq!(
            expand("x${1A}").unwrap_err(),
            ExpandError::BadName { offset: 1 }
        );
        assert_eq!(
            expand("${}").unwrap_err(),
            ExpandError::BadName { offset: 0 }
        );
    }

    #[test]
    fn tilde_without_a_home_directory_stays_as_written() {
        let no_home = FixedEnvironment::default();
        assert_eq!(expand_path("~/x", &no_home).unwrap(), PathBuf::from("~/x"));
        assert_eq!(expand_path("/x", &no_home).unwrap(), PathBuf::from("/x"));
    }
}
