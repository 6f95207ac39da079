//! `GET /metrics` in Prometheus's text exposition format (version 0.0.4), for a scrape
//! without a separate exporter. Every series is a gauge labelled with the fleet; the values
//! are those of the JSON snapshot.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use fleetctl_api::metrics::{ControlStatus, MetricsSnapshot};

/// The snapshot and control status as exposition text.
pub fn render(m: &MetricsSnapshot, c: &ControlStatus) -> String {
    let mut out = String::new();
    let fleet = [("fleet", m.fleet.as_str())];
    let mut gauge = |name: &str, help: &str, series: &[(Vec<(&str, &str)>, u64)]| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (labels, value) in series {
            let _ = writeln!(out, "{name}{} {value}", labels_text(labels));
        }
    };
    let one = |v: u32| vec![(fleet.to_vec(), u64::from(v))];
    gauge(
        "fleetctl_desired_instances",
        "The fleet file's total of spec.instances[].count.",
        &one(m.desired),
    );
    gauge(
        "fleetctl_active_instances",
        "Instances the ledger has as launching, running, draining or rebooting.",
        &one(m.actual),
    );
    gauge(
        "fleetctl_target_instances",
        "What the control loop brings the fleet to: max(desired, active).",
        &one(c.target),
    );
    gauge(
        "fleetctl_lb_enabled",
        "1 when the fleet uses a load balancer.",
        &one(u32::from(m.lb_enabled)),
    );
    gauge(
        "fleetctl_lb_backends",
        "Instances in service behind the load balancer.",
        &one(m.lb_backends),
    );
    gauge(
        "fleetctl_scale_queue_length",
        "Scale requests waiting in the FIFO queue.",
        &one(u32::try_from(m.scale_queue.len()).unwrap_or(u32::MAX)),
    );
    gauge(
        "fleetctl_outdated_instances",
        "Active instances whose launch details differ from the fleet file's (what fleetctl rollout replaces).",
        &one(m.outdated),
    );
    gauge(
        "fleetctl_last_step_failed",
        "1 when the last reconcile step of this server failed.",
        &one(u32::from(c.last_error.is_some())),
    );
    let mut by_state: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for row in &m.instances {
        *by_state
            .entry((row.group.as_str(), row.state.as_str()))
            .or_default() += 1;
    }
    let series: Vec<(Vec<(&str, &str)>, u64)> = by_state
        .iter()
        .map(|((group, state), n)| {
            (
                vec![
                    ("fleet", m.fleet.as_str()),
                    ("group", *group),
                    ("state", *state),
                ],
                *n,
            )
        })
        .collect();
    gauge(
        "fleetctl_instances",
        "Live instances in the ledger by group and ledger state.",
        &series,
    );
    let series: Vec<(Vec<(&str, &str)>, u64)> = m
        .minimums
        .iter()
        .map(|g| {
            (
                vec![("fleet", m.fleet.as_str()), ("group", g.group.as_str())],
                u64::from(g.count),
            )
        })
        .collect();
    gauge(
        "fleetctl_group_count",
        "Each group's count in the fleet file.",
        &series,
    );
    if let (Some(op), Some(status)) = (m.operation, m.operation_status) {
        let op = serde_plain(&op);
        let status = serde_plain(&status);
        let labels = vec![
            ("fleet", m.fleet.as_str()),
            ("operation", op.as_str()),
            ("status", status.as_str()),
            ("phase", m.phase.as_str()),
        ];
        gauge(
            "fleetctl_operation_info",
            "The active or last operation (always 1).",
            &[(labels, 1)],
        );
        for (name, help, value) in [
            (
                "fleetctl_operation_launches",
                "Instances the operation launches.",
                m.launch_total,
            ),
            (
                "fleetctl_operation_launches_succeeded",
                "Of those, the ones in service.",
                m.launch_succeeded,
            ),
            (
                "fleetctl_operation_terminations",
                "Instances the operation removes.",
                m.terminate_total,
            ),
            (
                "fleetctl_operation_terminations_succeeded",
                "Of those, the ones terminated.",
                m.terminate_succeeded,
            ),
        ] {
            gauge(name, help, &one(value));
        }
    }
    out
}

/// An enum value as its JSON string (`rolling_restart`).
fn serde_plain<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn labels_text(labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A label value escaped as the format says: backslash, double quote and line feed.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(
            labels_text(&[("group", "a\"b\\c\nd")]),
            r#"{group="a\"b\\c\nd"}"#
        );
    }
}
