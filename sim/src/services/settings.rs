//! The simulator's knobs for the cloud services: lifecycle durations, page sizes, work-request
//! timing, health timing, and the capacity and limit rules. Set at start through
//! [`crate::SimConfig`] and later through `/_sim/settings`, `/_sim/capacity` and `/_sim/limits`.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::far_future;
use crate::http::PageSize;
use crate::ocid::Ocid;

/// Durations are simulated seconds: each is multiplied by the time scale when it is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceSettings {
    /// PROVISIONING -> STARTING.
    pub provision_seconds: f64,
    /// STARTING -> RUNNING.
    pub start_seconds: f64,
    /// STOPPING -> STOPPED (or -> STARTING for a reset).
    pub stop_seconds: f64,
    /// TERMINATING -> TERMINATED.
    pub terminate_seconds: f64,
    /// How long a TERMINATED instance is still returned by GetInstance and ListInstances.
    pub terminated_retention_seconds: f64,
    /// List page size when the request has no `limit` (1..=1000).
    pub default_page_size: usize,
    /// When set, no list page holds more than this, whatever `limit` asks (forces paging).
    pub max_page_size: Option<usize>,
    /// How long a classic LB work request stays ACCEPTED once it reaches the head of its
    /// load balancer's queue.
    pub lb_work_request_accepted_seconds: f64,
    /// How long a classic LB work request is IN_PROGRESS before it SUCCEEDS or FAILS.
    pub lb_work_request_seconds: f64,
    /// Classic LB: answer a mutation with 409 while another work request of the same load
    /// balancer is not finished (default: queue it, as OCI documents).
    pub lb_reject_concurrent_mutations: bool,
    /// NLB: ACCEPTED time, then IN_PROGRESS time, of a work request.
    pub nlb_work_request_accepted_seconds: f64,
    pub nlb_work_request_seconds: f64,
    /// A backend is UNKNOWN until this long after it was added (its first health check).
    pub first_health_check_seconds: f64,
    /// A backend turns OK this long after its instance reached RUNNING.
    pub backend_healthy_after_seconds: f64,
    /// How long an `opc-retry-token` is remembered. NOT scaled: it follows the simulated
    /// clock (real time plus `/_sim/time/advance`), like token expiry.
    pub retry_token_retention_seconds: f64,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        Self {
            provision_seconds: 30.0,
            start_seconds: 20.0,
            stop_seconds: 20.0,
            terminate_seconds: 30.0,
            terminated_retention_seconds: 3600.0,
            default_page_size: 100,
            max_page_size: None,
            lb_work_request_accepted_seconds: 1.0,
            lb_work_request_seconds: 3.0,
            lb_reject_concurrent_mutations: false,
            nlb_work_request_accepted_seconds: 1.0,
            nlb_work_request_seconds: 3.0,
            first_health_check_seconds: 5.0,
            backend_healthy_after_seconds: 10.0,
            retry_token_retention_seconds: 86_400.0,
        }
    }
}

/// A setting that makes no sense.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct BadSetting {
    pub field: String,
    pub problem: String,
}

impl ServiceSettings {
    /// Checks every field; the first problem is returned.
    pub fn validate(&self) -> Result<(), BadSetting> {
        let secs = [
            ("provisionSeconds", self.provision_seconds),
            ("startSeconds", self.start_seconds),
            ("stopSeconds", self.stop_seconds),
            ("terminateSeconds", self.terminate_seconds),
            (
                "terminatedRetentionSeconds",
                self.terminated_retention_seconds,
            ),
            (
                "lbWorkRequestAcceptedSeconds",
                self.lb_work_request_accepted_seconds,
            ),
            ("lbWorkRequestSeconds", self.lb_work_request_seconds),
            (
                "nlbWorkRequestAcceptedSeconds",
                self.nlb_work_request_accepted_seconds,
            ),
            ("nlbWorkRequestSeconds", self.nlb_work_request_seconds),
            ("firstHealthCheckSeconds", self.first_health_check_seconds),
            (
                "backendHealthyAfterSeconds",
                self.backend_healthy_after_seconds,
            ),
            (
                "retryTokenRetentionSeconds",
                self.retry_token_retention_seconds,
            ),
        ];
        for (field, v) in secs {
            if !(v.is_finite() && (0.0..=1e9).contains(&v)) {
                return Err(BadSetting {
                    field: field.into(),
                    problem: format!("must be a number of seconds from 0 to 1e9, got {v}"),
                });
            }
        }
        if !(1..=1000).contains(&self.default_page_size) {
            return Err(BadSetting {
                field: "defaultPageSize".into(),
                problem: format!("must be from 1 to 1000, got {}", self.default_page_size),
            });
        }
        if let Some(m) = self.max_page_size
            && !(1..=1000).contains(&m)
        {
            return Err(BadSetting {
                field: "maxPageSize".into(),
                problem: format!("must be from 1 to 1000 (or null), got {m}"),
            });
        }
        Ok(())
    }

    /// Applies a partial JSON document (only the fields it names); refuses unknown fields
    /// and invalid values, leaving `self` unchanged on error.
    pub fn merge(&mut self, patch: &Value) -> Result<(), BadSetting> {
        let Value::Object(patch) = patch else {
            return Err(BadSetting {
                field: "body".into(),
                problem: "must be a JSON object of settings".into(),
            });
        };
        let mut current = serde_json::to_value(&*self).map_err(|e| BadSetting {
            field: "body".into(),
            problem: e.to_string(),
        })?;
        if let Value::Object(cur) = &mut current {
            for (k, v) in patch {
                if !cur.contains_key(k) {
                    return Err(BadSetting {
                        field: k.clone(),
                        problem: format!(
                            "unknown setting (known: {})",
                            cur.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    });
                }
                cur.insert(k.clone(), v.clone());
            }
        }
        let next: ServiceSettings = serde_json::from_value(current).map_err(|e| BadSetting {
            field: "body".into(),
            problem: e.to_string(),
        })?;
        next.validate()?;
        *self = next;
        Ok(())
    }

    pub fn page_size(&self) -> PageSize {
        PageSize {
            default: self.default_page_size,
            max: self.max_page_size,
        }
    }
}

/// A simulated duration at a time scale (the real time it takes).
pub fn scaled(seconds: f64, scale: f64) -> Duration {
    let real = seconds * scale;
    if real.is_finite() && real > 0.0 {
        Duration::try_from_secs_f64(real).unwrap_or(Duration::MAX)
    } else {
        Duration::ZERO
    }
}

/// The simulated "now" of one request, with the time scale it runs at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    pub now: SystemTime,
    pub scale: f64,
}

impl Tick {
    /// `from` plus a simulated duration, at this tick's scale ([`far_future`] if that is
    /// beyond what a `SystemTime` holds).
    pub fn later(&self, from: SystemTime, seconds: f64) -> SystemTime {
        from.checked_add(scaled(seconds, self.scale))
            .map_or_else(far_future, |t| t.min(far_future()))
    }
}

/// Host capacity for a shape, optionally in one availability domain. Launches beyond it fail
/// with 500 `InternalError` "Out of host capacity." and create nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapacityRule {
    pub shape: String,
    /// `None`: the rule counts the shape in every AD together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_domain: Option<String>,
    /// At most this many instances of the shape (not TERMINATED) at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
    /// At most this many OCPUs of the shape at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocpus: Option<f64>,
}

impl CapacityRule {
    pub fn validate(&self) -> Result<(), BadSetting> {
        if self.shape.trim().is_empty() {
            return Err(BadSetting {
                field: "shape".into(),
                problem: "is required".into(),
            });
        }
        if self.instances.is_none() && self.ocpus.is_none() {
            return Err(BadSetting {
                field: "instances".into(),
                problem: "a capacity rule needs `instances` or `ocpus`".into(),
            });
        }
        if let Some(o) = self.ocpus
            && !(o.is_finite() && o >= 0.0)
        {
            return Err(BadSetting {
                field: "ocpus".into(),
                problem: format!("must be a non-negative number, got {o}"),
            });
        }
        Ok(())
    }

    pub fn same_key(&self, other: &CapacityRule) -> bool {
        self.shape == other.shape && self.availability_domain == other.availability_domain
    }
}

/// A service limit: at most `instances` instances (not TERMINATED) of `shape` (any shape when
/// absent) in `compartmentId` (any compartment when absent). Launches beyond it fail with
/// 400 `LimitExceeded`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compartment_id: Option<Ocid>,
    pub instances: u32,
}

impl LimitRule {
    pub fn same_key(&self, other: &LimitRule) -> bool {
        self.shape == other.shape && self.compartment_id == other.compartment_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_changes_only_named_fields_and_refuses_unknown_ones() {
        let mut s = ServiceSettings::default();
        s.merge(&serde_json::json!({"provisionSeconds": 5, "maxPageSize": 2}))
            .unwrap();
        assert_eq!(s.provision_seconds, 5.0);
        assert_eq!(s.max_page_size, Some(2));
        assert_eq!(s.start_seconds, 20.0);
        let before = s.clone();
        let e = s
            .merge(&serde_json::json!({"provisonSeconds": 1}))
            .unwrap_err();
        assert_eq!(e.field, "provisonSeconds");
        let e = s
            .merge(&serde_json::json!({"stopSeconds": -1}))
            .unwrap_err();
        assert_eq!(e.field, "stopSeconds");
        let e = s.merge(&serde_json::json!({"maxPageSize": 0})).unwrap_err();
        assert_eq!(e.field, "maxPageSize");
        assert_eq!(s, before, "a refused patch must change nothing");
        s.merge(&serde_json::json!({"maxPageSize": null})).unwrap();
        assert_eq!(s.max_page_size, None);
    }

    #[test]
    fn scaling_multiplies_and_never_goes_negative() {
        assert_eq!(scaled(30.0, 0.001), Duration::from_millis(30));
        assert_eq!(scaled(-1.0, 1.0), Duration::ZERO);
        assert_eq!(scaled(0.0, 1.0), Duration::ZERO);
    }

    #[test]
    fn a_deadline_too_far_to_compute_saturates_instead_of_panicking() {
        let tick = Tick {
            now: SystemTime::now(),
            scale: 1e3,
        };
        assert_eq!(tick.later(tick.now, 1e300), far_future());
        assert_eq!(tick.later(tick.now, 1e12), far_future());
        assert_eq!(
            tick.later(tick.now, 2.0),
            tick.now + Duration::from_secs(2000)
        );
    }
}
