//! Problems found in a fleet file, and how they are shown.

use std::collections::HashSet;
use std::fmt;

use serde_json::Value;

use crate::ids::quoted;

/// One problem in a fleet file: where it is and what is wrong.
///
/// Displayed as `file:line:column: path: message`, for example
/// `fleet.yaml:14:12: spec.instances[1].count: must be a whole number >= 0, got -2`.
/// Lines and columns are 1-based (columns count characters). A problem that is not about one
/// field (a YAML syntax error, a file that cannot be read) has an empty `path`, and the path
/// part is left out of the display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file name as given to the loader.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// The field path, such as `spec.instances[1].count`; empty when not about one field.
    pub path: String,
    /// What is wrong, in plain English.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

/// All problems found in one fleet file, sorted by position. Displayed one per line.
///
/// A file that cannot be read is reported the same way: one problem at line 1, column 1 with
/// the message `cannot read the file: <reason>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The problems, sorted by line then column (never empty when returned by a loader).
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// A 1-based position in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };
}

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A field path as users read it: `spec.instances[1].count`; keys that are not simple words
/// are quoted: `spec.freeformTags["a.b"]`.
pub(crate) fn display_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                let simple = !k.is_empty()
                    && k.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if !simple {
                    out.push_str(&format!("[{k:?}]"));
                } else {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// How a value reads in a message after "got": `-2`, `"abc"`, `true`, `a list`, `a mapping`,
/// `an empty value`.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "an empty value".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quoted(s),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

/// The problems of one load, collected in any order, deduplicated, then sorted.
pub(crate) struct Collector {
    file: String,
    items: Vec<(Pos, String, String)>,
    /// Paths whose value already has a problem.
    value_paths: HashSet<String>,
    /// Other problems already reported: (path, position, message).
    others: HashSet<(String, Pos, String)>,
}

/// What a problem is about, for deduplication: at most one problem about a field's value, and
/// one per (key, message) for key-level problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The value at the path.
    Value,
    /// Anything else (unknown or duplicate keys, missing fields, document-level problems).
    Other,
}

impl Collector {
    pub fn new(file: &str) -> Self {
        Collector {
            file: file.to_owned(),
            items: Vec::new(),
            value_paths: HashSet::new(),
            others: HashSet::new(),
        }
    }

    /// Adds a problem unless an equal one, or another one about the same value, is there.
    pub fn add(&mut self, pos: Pos, path: &[Seg], slot: Slot, message: impl Into<String>) {
        let path = display_path(path);
        let message = message.into();
        let new = match slot {
            Slot::Value => self.value_paths.insert(path.clone()),
            Slot::Other => self.others.insert((path.clone(), pos, message.clone())),
        };
        if new {
            self.items.push((pos, path, message));
        }
    }

    /// True when a problem about the value at `path` was already reported.
    pub fn has_value_problem(&self, path: &[Seg]) -> bool {
        self.value_paths.contains(&display_path(path))
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The problems sorted by position (ties keep the order they were found in).
    pub fn finish(self) -> ConfigErrors {
        let file = self.file;
        let mut items = self.items;
        items.sort_by_key(|(pos, ..)| *pos);
        ConfigErrors {
            problems: items
                .into_iter()
                .map(|(pos, path, message)| Problem {
                    file: file.clone(),
                    line: pos.line,
                    column: pos.column,
                    path,
                    message,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_like_the_yaml() {
        let path = [
            Seg::Key("spec".into()),
            Seg::Key("instances".into()),
            Seg::Index(1),
            Seg::Key("count".into()),
        ];
        assert_eq!(display_path(&path), "spec.instances[1].count");
        let odd = [
            Seg::Key("spec".into()),
            Seg::Key("freeformTags".into()),
            Seg::Key("a.b".into()),
        ];
        assert_eq!(display_path(&odd), "spec.freeformTags[\"a.b\"]");
    }

    #[test]
    fn problem_display_leaves_out_an_empty_path() {
        let mut p = Problem {
            file: "fleet.yaml".into(),
            line: 14,
            column: 12,
            path: "spec.instances[1].count".into(),
            message: "must be a whole number >= 0, got -2".into(),
        };
        assert_eq!(
            p.to_string(),
            "fleet.yaml:14:12: spec.instances[1].count: must be a whole number >= 0, got -2"
        );
        p.path.clear();
        assert_eq!(
            p.to_string(),
            "fleet.yaml:14:12: must be a whole number >= 0, got -2"
        );
    }

    #[test]
    fn collector_keeps_one_problem_per_value_and_sorts_by_position() {
        let mut c = Collector::new("f.yaml");
        let path = [Seg::Key("a".into())];
        c.add(Pos { line: 3, column: 1 }, &path, Slot::Value, "first");
        c.add(Pos { line: 3, column: 1 }, &path, Slot::Value, "second");
        c.add(Pos { line: 1, column: 4 }, &[], Slot::Other, "top");
        c.add(Pos { line: 1, column: 4 }, &[], Slot::Other, "top");
        let errs = c.finish();
        assert_eq!(errs.to_string(), "f.yaml:1:4: top\nf.yaml:3:1: a: first");
    }
}
