//! Text renderings for people and terminals: `fleetctl status` (and `GET /status` as text)
//! and [`terminal_safe`], which every string from outside fleetctl (display names and states
//! from OCI, names in the ledger, messages of foreign servers) passes through before it is
//! printed as text.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::status::FleetStatus;

/// `fleetctl status` as text: a headline, the load balancer, one table row per instance
/// grouped by group, then every drift.
pub fn status_text(s: &FleetStatus) -> String {
    let t = terminal_safe;
    let mut out = String::new();
    let ledger = if s.ledger.exists {
        format!(
            "{} active record{}, scale queue {}",
            s.ledger.active,
            plural(s.ledger.active),
            s.ledger.scale_queue
        )
    } else {
        "no ledger yet".to_string()
    };
    let _ = writeln!(
        out,
        "Fleet {}: {} of {} desired instance{} in OCI (ledger at {}: {})",
        t(&s.fleet),
        s.running,
        s.desired,
        plural(s.desired),
        t(&s.state_url),
        ledger
    );
    if let Some(op) = &s.ledger.operation {
        let _ = writeln!(
            out,
            "Operation {} ({}): {}",
            t(&op.id),
            t(&op.kind),
            t(&op.status)
        );
    }
    if let Some(lb) = &s.load_balancer {
        let _ = writeln!(
            out,
            "Load balancer {} ({}), backend set {} port {}: {} backend{}, {} healthy, set health {}",
            t(&lb.id),
            t(&lb.lb_type),
            t(&lb.backend_set),
            lb.port,
            lb.backends,
            plural(lb.backends),
            lb.healthy,
            t(&lb.health)
        );
    }
    for g in &s.groups {
        let _ = writeln!(
            out,
            "\nGroup {}: desired {}, in ledger {}, in OCI {}",
            t(&g.name),
            g.desired,
            g.in_ledger,
            g.in_oci
        );
        if g.instances.is_empty() {
            continue;
        }
        let rows: Vec<[String; 6]> = g
            .instances
            .iter()
            .map(|i| {
                [
                    i.name.clone(),
                    i.id.clone(),
                    i.private_ip.clone().unwrap_or_else(|| "-".into()),
                    i.oci_state.clone().unwrap_or_else(|| "(gone)".into()),
                    i.ledger_state
                        .clone()
                        .unwrap_or_else(|| "(not managed)".into()),
                    i.backend
                        .as_ref()
                        .map(|b| {
                            let mut v = b.health.clone();
                            if b.drain {
                                v.push_str(" drain");
                            }
                            if b.offline {
                                v.push_str(" offline");
                            }
                            v
                        })
                        .unwrap_or_else(|| "-".into()),
                ]
                .map(|cell| t(&cell).into_owned())
            })
            .collect();
        let header = ["NAME", "INSTANCE", "IP", "OCI", "LEDGER", "LB"].map(String::from);
        let widths: Vec<usize> = (0..6)
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].chars().count())
                    .chain([header[c].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in std::iter::once(&header).chain(rows.iter()) {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            let _ = writeln!(out, "  {}", line.join("  ").trim_end());
        }
        let outdated: Vec<String> = g
            .instances
            .iter()
            .filter(|i| !i.outdated.is_empty())
            .map(|i| format!("{} ({})", t(&i.name), t(&i.outdated.join(", "))))
            .collect();
        if !outdated.is_empty() {
            let _ = writeln!(
                out,
                "  outdated (launch details differ from the fleet file; `fleetctl rollout` replaces them): {}",
                outdated.join(", ")
            );
        }
    }
    if s.drift.is_empty() {
        let _ = writeln!(
            out,
            "\nNo drift: the ledger, OCI and the load balancer agree."
        );
    } else {
        let _ = writeln!(out, "\nDrift ({}):", s.drift.len());
        for d in &s.drift {
            let _ = writeln!(out, "  {}: {}", d.kind.describe(), t(&d.detail));
        }
    }
    out
}

/// `text` with every control character written as an escape (`\n`, `\r`, `\t`, else
/// `\u{1b}`), so text from outside cannot move the cursor, clear the screen, change colours
/// or the window title, or hide and reorder what a terminal shows: C0 and C1 controls, DEL,
/// and the Unicode line separators and bidirectional formatting characters.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control()
            || matches!(
                c,
                '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}'
                    | '\u{2066}'..='\u{2069}'
            )
    }
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
