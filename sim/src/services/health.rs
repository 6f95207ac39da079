//! Backend health, shared by the classic and network load balancers. Pure functions of the
//! backend, what its address points at, the admin overrides and the time.
//!
//! A backend is UNKNOWN until its first check (`firstHealthCheckSeconds` after it was added);
//! after that it is OK once its instance has been RUNNING for `backendHealthyAfterSeconds`,
//! and CRITICAL when the instance is not RUNNING, is still booting, or no instance holds the
//! address. An `offline` backend is CRITICAL with OFFLINE check results. An admin override
//! (`/_sim/health-overrides`) forces a status, e.g. CRITICAL for a bad deploy; one by image
//! (`/_sim/health-overrides/images`) forces it for every instance of that image.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// OCI's backend / backend-set / load-balancer health status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthStatus {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl HealthStatus {
    pub fn wire(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Warning => "WARNING",
            Self::Critical => "CRITICAL",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire())
    }
}

/// One health-check probe's result (what `healthCheckResults[].healthCheckStatus` shows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckResult {
    Ok,
    ConnectFailed,
    Offline,
    Unknown,
}

impl CheckResult {
    /// The classic LB enum value.
    pub fn classic(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::ConnectFailed => "CONNECT_FAILED",
            Self::Offline => "OFFLINE",
            Self::Unknown => "UNKNOWN",
        }
    }

    /// The NLB enum has no OFFLINE: an offline NLB backend's probes do not connect.
    pub fn nlb(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::ConnectFailed | Self::Offline => "CONNECT_FAILED",
            Self::Unknown => "UNKNOWN",
        }
    }
}

/// What a backend's address leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// No live instance holds the address.
    Nothing,
    /// An instance that is not RUNNING (provisioning, stopped, rebooting, terminating).
    NotRunning,
    /// A RUNNING instance, since this time.
    RunningSince(SystemTime),
}

/// The inputs of one backend's health.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub offline: bool,
    pub added_at: SystemTime,
    pub target: Target,
    pub forced: Option<HealthStatus>,
}

/// When checks happen, already at the current time scale.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub first_check_after: std::time::Duration,
    pub healthy_after: std::time::Duration,
}

/// The backend's status and the results of the primary and standby probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendHealth {
    pub status: HealthStatus,
    pub results: [CheckResult; 2],
}

pub fn backend_health(p: Probe, now: SystemTime, t: Timing) -> BackendHealth {
    use CheckResult as R;
    use HealthStatus as H;
    let (status, results) = if let Some(forced) = p.forced {
        let results = match forced {
            H::Ok => [R::Ok, R::Ok],
            H::Warning => [R::Ok, R::ConnectFailed],
            H::Critical => [R::ConnectFailed, R::ConnectFailed],
            H::Unknown => [R::Unknown, R::Unknown],
        };
        (forced, results)
    } else if p.offline {
        (H::Critical, [R::Offline, R::Offline])
    } else if now < p.added_at + t.first_check_after {
        (H::Unknown, [R::Unknown, R::Unknown])
    } else {
        match p.target {
            Target::RunningSince(since) if now >= since + t.healthy_after => {
                (H::Ok, [R::Ok, R::Ok])
            }
            _ => (H::Critical, [R::ConnectFailed, R::ConnectFailed]),
        }
    };
    BackendHealth { status, results }
}

/// A backend set's (or load balancer's) health from its members' statuses (oci-api.md §3.4):
/// UNKNOWN when more than half are UNKNOWN (or there are none); OK when all are OK; WARNING
/// when at least half are OK; CRITICAL otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetHealth {
    pub status: Option<HealthStatus>,
    pub warning: Vec<String>,
    pub critical: Vec<String>,
    pub unknown: Vec<String>,
    pub total: usize,
}

pub fn aggregate<'a>(members: impl IntoIterator<Item = (&'a str, HealthStatus)>) -> SetHealth {
    let mut h = SetHealth::default();
    let mut ok = 0usize;
    for (name, status) in members {
        h.total += 1;
        match status {
            HealthStatus::Ok => ok += 1,
            HealthStatus::Warning => h.warning.push(name.to_string()),
            HealthStatus::Critical => h.critical.push(name.to_string()),
            HealthStatus::Unknown => h.unknown.push(name.to_string()),
        }
    }
    h.status = Some(if h.total == 0 || h.unknown.len() * 2 > h.total {
        HealthStatus::Unknown
    } else if ok == h.total {
        HealthStatus::Ok
    } else if ok * 2 >= h.total {
        HealthStatus::Warning
    } else {
        HealthStatus::Critical
    });
    h
}

/// A load balancer's health from its backend sets' statuses (OCI's LoadBalancerHealth):
/// UNKNOWN with no sets; CRITICAL when any set is CRITICAL; WARNING when any is WARNING;
/// UNKNOWN when more than half are UNKNOWN; OK when all are OK; WARNING otherwise.
pub fn aggregate_sets<'a>(sets: impl IntoIterator<Item = (&'a str, HealthStatus)>) -> SetHealth {
    let mut h = aggregate(sets);
    let all_ok = h.warning.is_empty() && h.critical.is_empty() && h.unknown.is_empty();
    h.status = Some(if h.total == 0 {
        HealthStatus::Unknown
    } else if !h.critical.is_empty() {
        HealthStatus::Critical
    } else if !h.warning.is_empty() {
        HealthStatus::Warning
    } else if h.unknown.len() * 2 > h.total {
        HealthStatus::Unknown
    } else if all_ok {
        HealthStatus::Ok
    } else {
        HealthStatus::Warning
    });
    h
}

impl SetHealth {
    pub fn status(&self) -> HealthStatus {
        self.status.unwrap_or(HealthStatus::Unknown)
    }
}

/// Admin overrides by `ip` or `ip:port` (the exact `ip:port` wins).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    pub by_key: BTreeMap<String, HealthStatus>,
    /// Health forced for every backend whose address an instance of this image holds (a
    /// bad image that never passes its health check): `/_sim/health-overrides/images`.
    /// An `ip` or `ip:port` override wins.
    pub by_image: BTreeMap<String, HealthStatus>,
}

impl Overrides {
    pub fn key(ip: &str, port: Option<u16>) -> String {
        match port {
            Some(p) => format!("{ip}:{p}"),
            None => ip.to_string(),
        }
    }

    pub fn lookup(&self, ip: &str, port: u16) -> Option<HealthStatus> {
        self.by_key
            .get(&Self::key(ip, Some(port)))
            .or_else(|| self.by_key.get(ip))
            .copied()
    }

    /// [`Overrides::lookup`], then the override of `image` (the image of the instance that
    /// holds the address), if any.
    pub fn lookup_with_image(
        &self,
        ip: &str,
        port: u16,
        image: Option<&str>,
    ) -> Option<HealthStatus> {
        self.lookup(ip, port)
            .or_else(|| image.and_then(|i| self.by_image.get(i).copied()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    const T: Timing = Timing {
        first_check_after: Duration::from_secs(5),
        healthy_after: Duration::from_secs(10),
    };

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    fn probe(target: Target) -> Probe {
        Probe {
            offline: false,
            added_at: t(0),
            target,
            forced: None,
        }
    }

    #[test]
    fn a_new_backend_is_unknown_until_its_first_check() {
        let h = backend_health(probe(Target::RunningSince(t(0))), t(4), T);
        assert_eq!(h.status, HealthStatus::Unknown);
        assert_eq!(h.results, [CheckResult::Unknown; 2]);
    }

    #[test]
    fn a_running_instance_turns_ok_after_the_delay() {
        let p = probe(Target::RunningSince(t(2)));
        assert_eq!(backend_health(p, t(11), T).status, HealthStatus::Critical);
        assert_eq!(backend_health(p, t(12), T).status, HealthStatus::Ok);
    }

    #[test]
    fn no_instance_or_a_stopped_one_is_critical() {
        for target in [Target::Nothing, Target::NotRunning] {
            let h = backend_health(probe(target), t(100), T);
            assert_eq!(h.status, HealthStatus::Critical);
            assert_eq!(h.results, [CheckResult::ConnectFailed; 2]);
        }
    }

    #[test]
    fn offline_backends_report_offline_and_overrides_win() {
        let mut p = probe(Target::RunningSince(t(0)));
        p.offline = true;
        let h = backend_health(p, t(100), T);
        assert_eq!(h.results, [CheckResult::Offline; 2]);
        assert_eq!(h.results[0].nlb(), "CONNECT_FAILED");
        p.offline = false;
        p.forced = Some(HealthStatus::Critical);
        assert_eq!(backend_health(p, t(100), T).status, HealthStatus::Critical);
    }

    #[test]
    fn set_health_follows_the_half_rules() {
        use HealthStatus::*;
        let agg = |v: &[HealthStatus]| {
            let names: Vec<String> = (0..v.len()).map(|i| format!("b{i}")).collect();
            aggregate(names.iter().map(String::as_str).zip(v.iter().copied()))
        };
        assert_eq!(agg(&[Ok, Ok]).status(), Ok);
        assert_eq!(agg(&[Ok, Critical]).status(), Warning);
        assert_eq!(agg(&[Ok, Critical, Critical]).status(), Critical);
        assert_eq!(agg(&[Unknown, Unknown, Ok]).status(), Unknown);
        assert_eq!(agg(&[Unknown, Ok]).status(), Warning);
        assert_eq!(agg(&[]).status(), Unknown);
        let h = agg(&[Ok, Critical, Unknown, Warning]);
        assert_eq!(h.critical, ["b1"]);
        assert_eq!(h.unknown, ["b2"]);
        assert_eq!(h.warning, ["b3"]);
        assert_eq!(h.total, 4);
    }

    #[test]
    fn load_balancer_health_is_as_bad_as_its_worst_set() {
        use HealthStatus::*;
        let agg = |v: &[HealthStatus]| {
            let names: Vec<String> = (0..v.len()).map(|i| format!("s{i}")).collect();
            aggregate_sets(names.iter().map(String::as_str).zip(v.iter().copied())).status()
        };
        assert_eq!(agg(&[Warning]), Warning);
        assert_eq!(agg(&[Ok, Critical]), Critical);
        assert_eq!(agg(&[Ok, Ok]), Ok);
        assert_eq!(agg(&[Unknown, Unknown, Ok]), Unknown);
        assert_eq!(agg(&[]), Unknown);
    }

    #[test]
    fn an_exact_port_override_beats_an_address_override() {
        let mut o = Overrides::default();
        o.by_key.insert("10.0.0.5".into(), HealthStatus::Critical);
        o.by_key.insert("10.0.0.5:8080".into(), HealthStatus::Ok);
        assert_eq!(o.lookup("10.0.0.5", 8080), Some(HealthStatus::Ok));
        assert_eq!(o.lookup("10.0.0.5", 9090), Some(HealthStatus::Critical));
        assert_eq!(o.lookup("10.0.0.6", 8080), None);
    }
}
