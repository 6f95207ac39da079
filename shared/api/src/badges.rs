//! The dashboard's badges, as text computed from a [`MetricsSnapshot`] alone, so the
//! dashboard and the CLI show the same words.
//!
//! In order: fleet name, load balancer, scaling, rolling restart (only while one runs or is
//! paused), drift, scale queue, minimums. Their texts:
//!
//! | Badge | Text |
//! |---|---|
//! | fleet | the fleet name |
//! | load balancer | `LB disabled`, `LB 1 backend`, `LB 3 backends` |
//! | scaling | `Scaling up to T (X of N)`, `Scaling down to T (X of N)`, `Scaling idle`; `, paused` appended while paused |
//! | rolling restart | `Rolling restart i/total` (`, paused` appended), hidden when idle |
//! | drift | `No drift`, `Drift detected` (desired against actual) |
//! | scale queue | `Scale queue: 5, 2` (oldest first), `Scale queue: empty` |
//! | minimums | `Minimums: 3 (web 2, api 1)` |
//!
//! Scaling up, X counts the instances launched and in service and N those the scale
//! launches; scaling down, X counts those terminated and N those it removes.

use serde::{Deserialize, Serialize};

use crate::metrics::{MetricsSnapshot, OperationKind, OperationStatus, SizeDrift};

/// Which badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadgeKind {
    /// The fleet name.
    Fleet,
    /// The load balancer.
    LoadBalancer,
    /// Scaling progress.
    Scaling,
    /// Rolling restart progress.
    RollingRestart,
    /// Desired against actual.
    Drift,
    /// The FIFO scale queue.
    ScaleQueue,
    /// The groups' counts from the fleet file.
    Minimums,
}

/// How a badge should catch the eye.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// Information at rest.
    Neutral,
    /// Work in progress.
    Active,
    /// Needs attention (paused, drift).
    Warning,
}

/// One badge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Badge {
    /// Which badge.
    pub kind: BadgeKind,
    /// Its text.
    pub text: String,
    /// How it should catch the eye.
    pub tone: Tone,
    /// A longer explanation (a tooltip), when there is one.
    pub detail: Option<String>,
}

impl Badge {
    fn new(kind: BadgeKind, text: String, tone: Tone) -> Self {
        Badge {
            kind,
            text,
            tone,
            detail: None,
        }
    }

    fn with_detail(mut self, detail: String) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// Every badge, in the dashboard's order; the rolling restart badge only while one runs or
/// is paused.
pub fn badges(s: &MetricsSnapshot) -> Vec<Badge> {
    let mut out = vec![fleet(s), load_balancer(s), scaling(s)];
    out.extend(rolling_restart(s));
    out.extend([drift(s), scale_queue(s), minimums(s)]);
    out
}

/// The fleet name.
pub fn fleet(s: &MetricsSnapshot) -> Badge {
    Badge::new(BadgeKind::Fleet, s.fleet.clone(), Tone::Neutral)
}

/// `LB disabled` or `LB X backends`.
pub fn load_balancer(s: &MetricsSnapshot) -> Badge {
    if !s.lb_enabled {
        return Badge::new(
            BadgeKind::LoadBalancer,
            "LB disabled".to_string(),
            Tone::Neutral,
        );
    }
    let text = match s.lb_backends {
        1 => "LB 1 backend".to_string(),
        n => format!("LB {n} backends"),
    };
    Badge::new(BadgeKind::LoadBalancer, text, Tone::Neutral)
        .with_detail("backends in service; one being drained no longer counts".to_string())
}

fn paused(s: &MetricsSnapshot) -> bool {
    s.operation_status == Some(OperationStatus::Paused)
}

fn progress_tone(s: &MetricsSnapshot) -> Tone {
    if paused(s) {
        Tone::Warning
    } else {
        Tone::Active
    }
}

fn paused_suffix(s: &MetricsSnapshot) -> &'static str {
    if paused(s) { ", paused" } else { "" }
}

/// `Scaling up to T (X of N)`, `Scaling down to T (X of N)` or `Scaling idle`.
pub fn scaling(s: &MetricsSnapshot) -> Badge {
    if s.operation != Some(OperationKind::Scale) || !s.operation_active() {
        return Badge::new(
            BadgeKind::Scaling,
            "Scaling idle".to_string(),
            Tone::Neutral,
        );
    }
    let (direction, done, of) = if s.target_total >= s.start_total {
        ("up", s.launch_succeeded, s.launch_total)
    } else {
        ("down", s.terminate_succeeded, s.terminate_total)
    };
    let text = format!(
        "Scaling {direction} to {} ({done} of {of}){}",
        s.target_total,
        paused_suffix(s)
    );
    let badge = Badge::new(BadgeKind::Scaling, text, progress_tone(s));
    match &s.paused_reason {
        Some(reason) if paused(s) => badge.with_detail(reason.clone()),
        _ => badge,
    }
}

/// `Rolling restart i/total` while a rolling restart runs or is paused; `None` otherwise.
pub fn rolling_restart(s: &MetricsSnapshot) -> Option<Badge> {
    if s.operation != Some(OperationKind::RollingRestart) || !s.operation_active() {
        return None;
    }
    let text = format!(
        "Rolling restart {}/{}{}",
        s.rolling_restart_index,
        s.rolling_restart_total,
        paused_suffix(s)
    );
    let badge = Badge::new(BadgeKind::RollingRestart, text, progress_tone(s));
    Some(match &s.paused_reason {
        Some(reason) if paused(s) => badge.with_detail(reason.clone()),
        _ => badge,
    })
}

/// `No drift` or `Drift detected`, from desired against actual.
pub fn drift(s: &MetricsSnapshot) -> Badge {
    match s.size_drift() {
        None => Badge::new(BadgeKind::Drift, "No drift".to_string(), Tone::Neutral),
        Some(d) => Badge::new(
            BadgeKind::Drift,
            "Drift detected".to_string(),
            Tone::Warning,
        )
        .with_detail(describe_drift(d, s.desired, s.actual)),
    }
}

/// A size drift in words: "shortfall: 1 of 3 desired instances missing (2 active)".
pub fn describe_drift(d: SizeDrift, desired: u32, actual: u32) -> String {
    match d {
        SizeDrift::Shortfall { missing } => format!(
            "shortfall: {missing} of {desired} desired instance{} missing ({actual} active)",
            plural(desired)
        ),
        SizeDrift::Surplus { extra } => {
            format!("surplus: {actual} active, {extra} more than the {desired} desired")
        }
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `Scale queue: 5, 2` (oldest first) or `Scale queue: empty`.
pub fn scale_queue(s: &MetricsSnapshot) -> Badge {
    let text = if s.scale_queue.is_empty() {
        "Scale queue: empty".to_string()
    } else {
        let items: Vec<String> = s.scale_queue.iter().map(u32::to_string).collect();
        format!("Scale queue: {}", items.join(", "))
    };
    Badge::new(BadgeKind::ScaleQueue, text, Tone::Neutral)
}

/// `Minimums: 3 (web 2, api 1)`: the fleet file's total and each group's count.
pub fn minimums(s: &MetricsSnapshot) -> Badge {
    let total: u64 = s.minimums.iter().map(|g| u64::from(g.count)).sum();
    let groups: Vec<String> = s
        .minimums
        .iter()
        .map(|g| format!("{} {}", g.group, g.count))
        .collect();
    Badge::new(
        BadgeKind::Minimums,
        format!("Minimums: {total} ({})", groups.join(", ")),
        Tone::Neutral,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{GroupMinimum, Phase};

    /// An idle fleet of 3 (web 2, api 1) behind a load balancer, all running.
    fn idle() -> MetricsSnapshot {
        MetricsSnapshot {
            fleet: "demo".into(),
            at: "2026-03-01T12:00:00Z".into(),
            operation: None,
            operation_id: None,
            operation_status: None,
            operation_started: None,
            phase: Phase::Done,
            start_total: 3,
            target_total: 3,
            launch_total: 0,
            launch_succeeded: 0,
            terminate_total: 0,
            terminate_succeeded: 0,
            rolling_restart_index: 0,
            rolling_restart_total: 0,
            strategy: None,
            limits: None,
            paused_reason: None,
            error: None,
            waiting_on: vec![],
            lb_enabled: true,
            lb_backends: 3,
            scale_queue: vec![],
            desired: 3,
            actual: 3,
            minimums: vec![
                GroupMinimum {
                    group: "web".into(),
                    count: 2,
                },
                GroupMinimum {
                    group: "api".into(),
                    count: 1,
                },
            ],
            instances: vec![],
            revision: Some(1),
            outdated: 0,
            rollout: None,
            history: vec![],
        }
    }

    fn texts(s: &MetricsSnapshot) -> Vec<String> {
        badges(s).into_iter().map(|b| b.text).collect()
    }

    #[test]
    fn an_idle_fleet_shows_every_badge_but_the_rolling_restart_in_order() {
        assert_eq!(
            texts(&idle()),
            vec![
                "demo",
                "LB 3 backends",
                "Scaling idle",
                "No drift",
                "Scale queue: empty",
                "Minimums: 3 (web 2, api 1)",
            ]
        );
        let kinds: Vec<BadgeKind> = badges(&idle()).iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds,
            vec![
                BadgeKind::Fleet,
                BadgeKind::LoadBalancer,
                BadgeKind::Scaling,
                BadgeKind::Drift,
                BadgeKind::ScaleQueue,
                BadgeKind::Minimums,
            ]
        );
    }

    #[test]
    fn load_balancer_badge_counts_backends_or_says_disabled() {
        let mut s = idle();
        for (enabled, n, want) in [
            (false, 0, "LB disabled"),
            (true, 0, "LB 0 backends"),
            (true, 1, "LB 1 backend"),
            (true, 20, "LB 20 backends"),
        ] {
            s.lb_enabled = enabled;
            s.lb_backends = n;
            assert_eq!(load_balancer(&s).text, want);
        }
    }

    #[test]
    fn scaling_badge_counts_launches_up_and_terminations_down() {
        let mut s = idle();
        s.operation = Some(OperationKind::Scale);
        s.operation_status = Some(OperationStatus::Running);
        // Up from 0 to 5, two launched and serving.
        (s.start_total, s.target_total) = (0, 5);
        (s.launch_total, s.launch_succeeded) = (5, 2);
        assert_eq!(scaling(&s).text, "Scaling up to 5 (2 of 5)");
        assert_eq!(scaling(&s).tone, Tone::Active);
        // Up from 3 to 5.
        (s.start_total, s.launch_total, s.launch_succeeded) = (3, 2, 0);
        assert_eq!(scaling(&s).text, "Scaling up to 5 (0 of 2)");
        // Down from 5 to 1, three of four terminated.
        (s.start_total, s.target_total) = (5, 1);
        (s.terminate_total, s.terminate_succeeded) = (4, 3);
        assert_eq!(scaling(&s).text, "Scaling down to 1 (3 of 4)");
        // Paused: said, with the reason as detail.
        s.operation_status = Some(OperationStatus::Paused);
        s.paused_reason = Some("1 step(s) failed".into());
        let b = scaling(&s);
        assert_eq!(b.text, "Scaling down to 1 (3 of 4), paused");
        assert_eq!(
            (b.tone, b.detail.as_deref()),
            (Tone::Warning, Some("1 step(s) failed"))
        );
        // Finished: idle again.
        for status in [
            OperationStatus::Succeeded,
            OperationStatus::Failed,
            OperationStatus::Cancelled,
        ] {
            s.operation_status = Some(status);
            assert_eq!(scaling(&s).text, "Scaling idle", "{status:?}");
        }
        // Another operation: idle.
        s.operation = Some(OperationKind::RollingRestart);
        s.operation_status = Some(OperationStatus::Running);
        assert_eq!(scaling(&s).text, "Scaling idle");
    }

    #[test]
    fn rolling_restart_badge_shows_its_position_and_hides_when_idle() {
        let mut s = idle();
        assert_eq!(rolling_restart(&s), None);
        s.operation = Some(OperationKind::RollingRestart);
        s.operation_status = Some(OperationStatus::Running);
        (s.rolling_restart_index, s.rolling_restart_total) = (2, 6);
        assert_eq!(
            rolling_restart(&s).map(|b| b.text).as_deref(),
            Some("Rolling restart 2/6")
        );
        assert_eq!(
            texts(&s)[3],
            "Rolling restart 2/6",
            "after the scaling badge, before drift"
        );
        s.operation_status = Some(OperationStatus::Paused);
        assert_eq!(
            rolling_restart(&s).map(|b| b.text).as_deref(),
            Some("Rolling restart 2/6, paused")
        );
        s.operation_status = Some(OperationStatus::Succeeded);
        assert_eq!(rolling_restart(&s), None);
        assert_eq!(texts(&s).len(), 6);
    }

    #[test]
    fn drift_badge_compares_desired_with_actual() {
        let mut s = idle();
        for (desired, actual, text, detail) in [
            (3, 3, "No drift", None),
            (
                3,
                0,
                "Drift detected",
                Some("shortfall: 3 of 3 desired instances missing (0 active)"),
            ),
            (
                1,
                0,
                "Drift detected",
                Some("shortfall: 1 of 1 desired instance missing (0 active)"),
            ),
            (
                3,
                5,
                "Drift detected",
                Some("surplus: 5 active, 2 more than the 3 desired"),
            ),
        ] {
            (s.desired, s.actual) = (desired, actual);
            let b = drift(&s);
            assert_eq!((b.text.as_str(), b.detail.as_deref()), (text, detail));
        }
    }

    #[test]
    fn scale_queue_badge_lists_requests_oldest_first() {
        let mut s = idle();
        s.scale_queue = vec![5];
        assert_eq!(scale_queue(&s).text, "Scale queue: 5");
        s.scale_queue = vec![5, 2, 9];
        assert_eq!(scale_queue(&s).text, "Scale queue: 5, 2, 9");
    }

    #[test]
    fn minimums_badge_sums_the_groups() {
        let mut s = idle();
        s.minimums = vec![GroupMinimum {
            group: "web".into(),
            count: 0,
        }];
        assert_eq!(minimums(&s).text, "Minimums: 0 (web 0)");
    }

    #[test]
    fn a_snapshot_read_back_from_json_gives_the_same_badges() {
        let mut s = idle();
        s.operation = Some(OperationKind::Scale);
        s.operation_status = Some(OperationStatus::Running);
        (
            s.start_total,
            s.target_total,
            s.launch_total,
            s.launch_succeeded,
        ) = (3, 4, 1, 0);
        s.scale_queue = vec![2];
        let json = serde_json::to_string(&s).unwrap();
        let back: MetricsSnapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(badges(&back), badges(&s));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        for field in [
            "operation",
            "phase",
            "startTotal",
            "targetTotal",
            "launchSucceeded",
            "terminateSucceeded",
            "rollingRestartIndex",
            "rollingRestartTotal",
            "lbEnabled",
            "lbBackends",
            "scaleQueue",
        ] {
            assert!(v.get(field).is_some(), "{field} missing from {json}");
        }
        assert_eq!(v["operation"], "scale");
        assert_eq!(v["phase"], "done");
    }
}
