//! Issue 12 item 4, the fleet file loader under bad input: random text and mutated copies of
//! the full template (characters inserted, removed or replaced with YAML's own punctuation,
//! lines duplicated, swapped or cut, the document truncated) never panic, and every error
//! names `file:line:column` inside the document with a message.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use std::sync::atomic::{AtomicUsize, Ordering};

use fleetctl_core::config::{FixedEnvironment, load_str_with_env};
use fleetctl_testkit::props;
use proptest::prelude::*;

const FILE: &str = "fleet.yaml";

fn template() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/fleet.yaml.tmpl");
    std::fs::read_to_string(path).unwrap()
}

/// Fragments that mean something to YAML (or to the loader's expansions), and some that
/// mean nothing to anyone.
const FRAGMENTS: &[&str] = &[
    ":",
    ": ",
    "- ",
    "-",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "\n",
    "  ",
    "\t",
    "&a ",
    "*a",
    "!!str ",
    "!!binary ",
    "!custom ",
    "#",
    "|",
    ">-",
    "? ",
    "%YAML 1.2\n",
    "---\n",
    "...\n",
    "\u{feff}",
    "\0",
    "\r",
    "é",
    "🦀",
    "~",
    "null",
    "1e999",
    "-0x10",
    "0o17",
    ".nan",
    "<<: *a\n",
    "${",
    "$",
    "${HOME}",
    "${NOPE:-x}",
    "~/",
    "%",
    "\\u0000",
    "ocid1.",
    "2s",
    "-1",
    "99999999999999999999",
];

/// One edit of the text.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, &'static str),
    InsertChar(usize, char),
    Remove(usize, usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    RemoveLine(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<prop::sample::Index>();
    prop_oneof![
        (at.clone(), prop::sample::select(FRAGMENTS))
            .prop_map(|(i, f)| Edit::Insert(i.index(1 << 20), f)),
        (at.clone(), any::<char>()).prop_map(|(i, c)| Edit::InsertChar(i.index(1 << 20), c)),
        (at.clone(), 1usize..40).prop_map(|(i, n)| Edit::Remove(i.index(1 << 20), n)),
        at.clone()
            .prop_map(|i| Edit::DuplicateLine(i.index(1 << 20))),
        (at.clone(), at.clone())
            .prop_map(|(a, b)| Edit::SwapLines(a.index(1 << 20), b.index(1 << 20))),
        at.clone().prop_map(|i| Edit::RemoveLine(i.index(1 << 20))),
        at.prop_map(|i| Edit::Truncate(i.index(1 << 20))),
    ]
}

/// The nearest character boundary at or below `i` (positions are taken modulo the length).
fn boundary(text: &str, i: usize) -> usize {
    let mut i = i % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(mut text: String, edit: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let n = lines.len().max(1);
    match *edit {
        Edit::Insert(i, f) => {
            let i = boundary(&text, i);
            text.insert_str(i, f);
        }
        Edit::InsertChar(i, c) => {
            let i = boundary(&text, i);
            text.insert(i, c);
        }
        Edit::Remove(i, len) => {
            let start = boundary(&text, i);
            let end = boundary(&text, (start + len).min(text.len()));
            text.replace_range(start..end.max(start), "");
        }
        Edit::DuplicateLine(i) if !lines.is_empty() => {
            let l = lines[i % n].clone();
            lines.insert(i % n, l);
            text = lines.join("\n");
        }
        Edit::SwapLines(a, b) if !lines.is_empty() => {
            lines.swap(a % n, b % n);
            text = lines.join("\n");
        }
        Edit::RemoveLine(i) if !lines.is_empty() => {
            lines.remove(i % n);
            text = lines.join("\n");
        }
        Edit::Truncate(i) => {
            let i = boundary(&text, i);
            text.truncate(i);
        }
        _ => {}
    }
    text
}

/// A document to load: the template with 1..6 edits, random text, or random `key: value`
/// lines.
fn document() -> impl Strategy<Value = String> {
    let base = template();
    prop_oneof![
        6 => prop::collection::vec(edit(), 1..6)
            .prop_map(move |edits| edits.iter().fold(base.clone(), apply)),
        1 => any::<String>(),
        1 => prop::collection::vec(
            (
                prop::sample::select(&["kind", "metadata", "spec", "name", "instances", "count", "x"][..]),
                prop::sample::select(FRAGMENTS),
                0usize..6,
            ),
            0..12,
        )
        .prop_map(|lines| {
            lines
                .iter()
                .map(|(k, v, indent)| format!("{}{k}: {v}", " ".repeat(*indent)))
                .collect::<Vec<_>>()
                .join("\n")
        }),
    ]
}

#[test]
fn random_and_mutated_fleet_files_never_panic_and_every_error_names_file_line_column() {
    let env = FixedEnvironment {
        home: Some("/home/test".into()),
        ..FixedEnvironment::default()
    };
    let (accepted, rejected, problems) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let mut runner = props::runner("fleet file loader", 4000);
    props::check(&mut runner, &document(), |text| {
        match load_str_with_env(FILE, &text, &env) {
            Ok(_) => {
                accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(errors) => {
                rejected.fetch_add(1, Ordering::Relaxed);
                prop_assert!(!errors.problems.is_empty(), "an error with no problems");
                // A position may point just past the last line (an unexpected end).
                let last_line = text.lines().count() + 1;
                for p in &errors.problems {
                    problems.fetch_add(1, Ordering::Relaxed);
                    prop_assert_eq!(p.file.as_str(), FILE);
                    prop_assert!(
                        p.line >= 1 && p.line <= last_line,
                        "{} (of {} lines)",
                        p,
                        last_line
                    );
                    prop_assert!(p.column >= 1, "{}", p);
                    prop_assert!(!p.message.trim().is_empty(), "{}", p);
                    prop_assert!(!p.message.contains("internal error"), "{}", p);
                    let shown = p.to_string();
                    let prefix = format!("{FILE}:{}:{}: ", p.line, p.column);
                    prop_assert!(shown.starts_with(&prefix), "{}", shown);
                }
            }
        }
        Ok(())
    });
    let (a, r) = (accepted.into_inner(), rejected.into_inner());
    println!(
        "fleet file loader: {} documents tried ({a} accepted, {r} rejected with {} problems), \
         panics 0",
        a + r,
        problems.into_inner()
    );
    // Both outcomes happened, or the mutations prove little.
    assert!(a > 0 && r > a, "accepted {a}, rejected {r}");
}
