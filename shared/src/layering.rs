//! The ladder of the core's modules, checked: every module uses only modules on lower rungs.
//!
//! [`LADDER`] lists the crate's top-level modules bottom to top, [`OCI_LADDER`] the modules
//! inside `oci`. The test reads every file under `shared/src`, finds the `crate::…` and
//! `super::…` paths of its code (comments, strings and `#[cfg(test)]` modules left out: tests
//! and docs may name any module) and fails when one reaches a module on the same or a higher
//! rung. A new module must be placed on the ladder (and in `docs/ARCHITECTURE.md`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The crate's top-level modules, bottom to top. A module may use only modules of lower rungs.
const LADDER: &[&[&str]] = &[
    // Leaves: ids and names, small values, URL parsers, time and environment.
    &["ids", "values", "urls", "clock", "env"],
    // The HTTP client builder, proxies, DNS, redaction (reads the environment).
    &["http"],
    &["config"],
    &["oci"],
    &["store"],
    &["error"],
    // The fleet file turned into OCI values; hints.
    &["cloud"],
    // What the cloud shows, read once per step.
    &["observe"],
    // Drift findings and the planner: pure.
    &["drift"],
    &["plan"],
    // The status view, the metrics snapshot and the reconcile step.
    &["status", "metrics", "ops"],
    // The composition root.
    &["fleet"],
];

/// The modules inside `oci`, bottom to top. `oci/mod.rs` (re-exports only) is left out.
const OCI_LADDER: &[&[&str]] = &[
    &["wire", "retry", "pages"],
    &["region"],
    &["endpoints"],
    &["keys", "token"],
    &["signer"],
    &["auth"],
    // `OciError` wraps the errors of everything below it.
    &["error"],
    &["client"],
    &[
        "identity",
        "network",
        "objectstorage",
        "workrequest",
        "tags",
    ],
    &["compute"],
    // The backend-set view (trait and types), then its one client for both kinds.
    &["backends"],
    &["backend_set"],
];

/// The rung of `module` on `ladder`, and the unit it belongs to (a unit `a+b` would let `a`
/// and `b` use each other; the ladder has none today).
fn rung(ladder: &[&[&'static str]], module: &str) -> Option<(usize, &'static str)> {
    ladder.iter().enumerate().find_map(|(i, rung)| {
        rung.iter()
            .find(|unit| unit.split('+').any(|m| m == module))
            .map(|unit| (i, *unit))
    })
}

/// `text` with comments, string and char literals blanked and `#[cfg(test)]` items removed.
fn code_only(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if rest.starts_with("/*") {
            i += rest.find("*/").map_or(rest.len(), |e| e + 2);
        } else if rest.starts_with("r#\"") || rest.starts_with("r\"") {
            let hashes = rest[1..].bytes().take_while(|b| *b == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = 1 + hashes + 1;
            i += rest[body..]
                .find(&close)
                .map_or(rest.len(), |e| body + e + close.len());
            out.push_str("\"\"");
        } else if rest.starts_with('"') {
            let mut j = 1;
            while j < rest.len() {
                match rest.as_bytes()[j] {
                    b'\\' => j += 2,
                    b'"' => break,
                    _ => j += 1,
                }
            }
            i += (j + 1).min(rest.len());
            out.push_str("\"\"");
        } else if rest.starts_with("'\\") {
            // An escaped character literal: '\n', '\'', '\u{1F}'.
            i += rest
                .get(3..)
                .and_then(|r| r.find('\''))
                .map_or(rest.len(), |e| e + 4);
        } else if rest.len() >= 3
            && rest.starts_with('\'')
            && rest[1..].chars().nth(1) == Some('\'')
        {
            // A one-character literal such as 'a' (a lifetime has no closing quote).
            let c = rest[1..].chars().next().map_or(1, char::len_utf8);
            i += 2 + c;
        } else {
            let c = rest.chars().next().map_or(1, char::len_utf8);
            out.push_str(&rest[..c]);
            i += c;
        }
    }
    // Braces in strings are gone now, so items can be skipped by counting them.
    let mut code = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = rest.find("#[cfg(test)]") {
        code.push_str(&rest[..at]);
        rest = &rest[at + skip_item(&rest[at..])..];
    }
    code.push_str(rest);
    code
}

/// The length of the item `text` starts with (an attribute, then up to the `;` or the brace
/// that closes its body).
fn skip_item(text: &str) -> usize {
    let mut depth = 0usize;
    for (i, b) in text.bytes().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            b';' if depth == 0 => return i + 1,
            _ => {}
        }
    }
    text.len()
}

/// Every path of `code` that starts at `crate::` or `super::`, braces expanded:
/// `crate::oci::{client::X, error}` gives `crate::oci::client::X` and `crate::oci::error`.
fn paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let starts = rest.starts_with("crate::") || rest.starts_with("super::");
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if starts && boundary {
            let used = expand("", rest, &mut found);
            i += used.max(1);
        } else {
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    found
}

/// Reads one path tree at the start of `text` (after `prefix`), pushes its full paths and
/// returns how many bytes it used.
fn expand(prefix: &str, text: &str, out: &mut Vec<String>) -> usize {
    let mut i = 0;
    let mut path = prefix.to_string();
    loop {
        let rest = &text[i..];
        let ident_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        path.push_str(&rest[..ident_len]);
        i += ident_len;
        let after = &text[i..];
        if let Some(tail) = after.strip_prefix("::") {
            i += 2;
            path.push_str("::");
            if tail.trim_start().starts_with('{') {
                i += tail.len() - tail.trim_start().len() + 1;
                loop {
                    let inner = &text[i..];
                    let skip = inner.len() - inner.trim_start().len();
                    i += skip;
                    if text[i..].starts_with('}') {
                        return i + 1;
                    }
                    i += expand(&path, &text[i..], out);
                    let inner = &text[i..];
                    i += inner.len() - inner.trim_start().len();
                    if text[i..].starts_with(',') {
                        i += 1;
                    } else if text[i..].starts_with('}') {
                        return i + 1;
                    } else if i >= text.len() {
                        return i;
                    }
                }
            }
            if !tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                out.push(path.trim_end_matches("::").to_string());
                return i;
            }
        } else {
            // `crate::x as y`, `crate::x;` or the end of an expression path.
            out.push(path);
            return i;
        }
    }
}

/// The module path of a file: `oci/auth/mod.rs` → `["oci", "auth"]`, `lib.rs` → `[]`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" && stem != "lib" {
            parts.push(stem.to_string());
        }
    }
    parts
}

/// `path` as an absolute module path (`super::` resolved against `module`).
fn resolve(module: &[String], path: &str) -> Vec<String> {
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    if segments.first() == Some(&"crate") {
        segments.remove(0);
        return segments.iter().map(|s| s.to_string()).collect();
    }
    let mut base = module.to_vec();
    while segments.first() == Some(&"super") {
        segments.remove(0);
        base.pop();
    }
    base.extend(segments.iter().map(|s| s.to_string()));
    base
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("shared/src is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// What crate-root names re-export: `crate::Error` is the `error` module's.
fn root_reexports(lib: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for path in paths(&code_only(lib).replace("pub use ", "pub use crate::")) {
        let segments: Vec<&str> = path.split("::").collect();
        if let [_, module, name] = segments.as_slice() {
            pairs.push(((*name).to_string(), (*module).to_string()));
        }
    }
    pairs
}

/// Every use that reaches up the ladder, as `file: uses path (rung) ...`.
fn violations(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs is readable");
    let reexports = root_reexports(&lib);
    let mut problems = BTreeSet::new();
    for file in files {
        let relative = file.strip_prefix(src).expect("under src").to_path_buf();
        let module = module_of(&relative);
        let Some(top) = module.first() else {
            continue; // lib.rs declares the modules.
        };
        if top == "layering" {
            continue;
        }
        let shown = relative.display().to_string();
        let Some((from_rung, from_unit)) = rung(LADDER, top) else {
            problems.insert(format!("{shown}: module `{top}` is not on the ladder"));
            continue;
        };
        let text = std::fs::read_to_string(&file).expect("a source file is readable");
        for path in paths(&code_only(&text)) {
            let mut target = resolve(&module, &path);
            if let Some(first) = target.first().cloned()
                && let Some((_, m)) = reexports.iter().find(|(name, _)| *name == first)
            {
                target.insert(0, m.clone());
            }
            let Some(to_top) = target.first() else {
                continue;
            };
            let Some((to_rung, to_unit)) = rung(LADDER, to_top) else {
                problems.insert(format!(
                    "{shown}: `{path}` names `{to_top}`, not on the ladder"
                ));
                continue;
            };
            if to_unit == from_unit {
                if top == "oci" {
                    check_oci(&shown, &module, &target, &path, &mut problems);
                }
                continue;
            }
            if to_rung >= from_rung {
                problems.insert(format!(
                    "{shown}: `{path}` reaches up from `{top}` (rung {from_rung}) to `{to_top}` \
                     (rung {to_rung})"
                ));
            }
        }
    }
    problems.into_iter().collect()
}

/// A use inside `oci`, checked against [`OCI_LADDER`].
fn check_oci(
    shown: &str,
    module: &[String],
    target: &[String],
    path: &str,
    problems: &mut BTreeSet<String>,
) {
    let Some(from) = module.get(1) else {
        return; // oci/mod.rs: re-exports its children.
    };
    let Some((from_rung, from_unit)) = rung(OCI_LADDER, from) else {
        problems.insert(format!("{shown}: `oci::{from}` is not on the oci ladder"));
        return;
    };
    let Some(to) = target.get(1) else {
        return;
    };
    let Some((to_rung, to_unit)) = rung(OCI_LADDER, to) else {
        problems.insert(format!(
            "{shown}: `{path}` names `oci::{to}`, not a module on the oci ladder (name the \
             module, not a re-export)"
        ));
        return;
    };
    if to_unit != from_unit && to_rung >= from_rung {
        problems.insert(format!(
            "{shown}: `{path}` reaches up from `oci::{from}` (rung {from_rung}) to `oci::{to}` \
             (rung {to_rung})"
        ));
    }
}

#[test]
fn every_module_uses_only_modules_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = violations(&src);
    assert!(
        problems.is_empty(),
        "the ladder in shared/src/layering.rs (and docs/ARCHITECTURE.md) is broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_reader_finds_every_kind_of_path_and_ignores_comments_strings_and_tests() {
    let code = code_only(
        "use crate::oci::{client::{OciClient, X}, error};\n\
         // crate::fleet in a comment\n\
         let s = \"crate::fleet in a string\";\n\
         let c = '\"'; let t = r#\"crate::fleet\"#;\n\
         fn f<'a>(x: &'a str) { crate::store::open(super::sibling::g()) }\n\
         #[cfg(test)]\nmod tests { use crate::fleet::Fleet; }\n",
    );
    let found = paths(&code);
    assert_eq!(
        found,
        [
            "crate::oci::client::OciClient",
            "crate::oci::client::X",
            "crate::oci::error",
            "crate::store::open",
            "super::sibling::g",
        ],
        "{code}"
    );
    let module = module_of(Path::new("oci/auth/instance.rs"));
    assert_eq!(
        resolve(&module, "super::super::client::X"),
        ["oci", "client", "X"]
    );
    assert_eq!(module_of(Path::new("oci/mod.rs")), ["oci"]);
}

#[test]
fn a_module_that_reaches_up_is_named() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let write = |path: &str, text: &str| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("a directory");
        std::fs::write(path, text).expect("a file");
    };
    write(
        "lib.rs",
        "pub mod config;\npub mod oci;\npub use error::{Error, ErrorClass};\n",
    );
    write(
        "config/mod.rs",
        "use crate::ids::FleetName;\nuse crate::oci::client::OciClient;\n",
    );
    write(
        "oci/client.rs",
        "use super::auth::CredentialProvider;\nfn f() -> crate::Error {}\n",
    );
    write("oci/auth/mod.rs", "use super::client::ProxyConfig;\n");
    let problems = violations(dir.path());
    assert_eq!(
        problems,
        [
            "config/mod.rs: `crate::oci::client::OciClient` reaches up from `config` (rung 2) to \
             `oci` (rung 3)",
            "oci/auth/mod.rs: `super::client::ProxyConfig` reaches up from `oci::auth` (rung 5) \
             to `oci::client` (rung 7)",
            "oci/client.rs: `crate::Error` reaches up from `oci` (rung 3) to `error` (rung 5)",
        ]
    );
}
