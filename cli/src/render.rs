//! Text renderings of results for people (JSON output is the wire types as they are).

use std::fmt::Write as _;

use fleetctl_api::status::FleetStatus;

/// `fleetctl status` as text: a headline, the load balancer, one table row per instance
/// grouped by group, then every drift.
pub fn status_text(s: &FleetStatus) -> String {
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
        s.fleet,
        s.running,
        s.desired,
        plural(s.desired),
        s.state_url,
        ledger
    );
    if let Some(op) = &s.ledger.operation {
        let _ = writeln!(out, "Operation {} ({}): {}", op.id, op.kind, op.status);
    }
    if let Some(lb) = &s.load_balancer {
        let _ = writeln!(
            out,
            "Load balancer {} ({}), backend set {} port {}: {} backend{}, {} healthy, set health {}",
            lb.id,
            lb.lb_type,
            lb.backend_set,
            lb.port,
            lb.backends,
            plural(lb.backends),
            lb.healthy,
            lb.health
        );
    }
    for g in &s.groups {
        let _ = writeln!(
            out,
            "\nGroup {}: desired {}, in ledger {}, in OCI {}",
            g.name, g.desired, g.in_ledger, g.in_oci
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
    }
    if s.drift.is_empty() {
        let _ = writeln!(
            out,
            "\nNo drift: the ledger, OCI and the load balancer agree."
        );
    } else {
        let _ = writeln!(out, "\nDrift ({}):", s.drift.len());
        for d in &s.drift {
            let _ = writeln!(out, "  {}: {}", d.kind.describe(), d.detail);
        }
    }
    out
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
