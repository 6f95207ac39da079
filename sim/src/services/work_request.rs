//! When a load-balancer work request runs: each LB (and NLB) runs its work requests one at a
//! time in arrival order. A request waits ACCEPTED until the previous one finished plus its
//! own accepted time, is IN_PROGRESS for its run time, and then is due: the settle step applies
//! its change (or its failure) at that instant.

use std::time::SystemTime;

use super::settings::Tick;

/// The three instants of a work request, fixed when it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub accepted: SystemTime,
    pub started: SystemTime,
    pub finishes: SystemTime,
}

/// Where a work request is at some instant (before the settle step applies it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Accepted,
    InProgress,
    Due,
}

impl Schedule {
    /// A request accepted now, behind a queue that is free from `queue_free` on.
    pub fn after(
        queue_free: Option<SystemTime>,
        tick: Tick,
        accepted_secs: f64,
        run_secs: f64,
    ) -> Self {
        let head = queue_free.map_or(tick.now, |f| f.max(tick.now));
        let started = tick.later(head, accepted_secs);
        Self {
            accepted: tick.now,
            started,
            finishes: tick.later(started, run_secs),
        }
    }

    pub fn phase(&self, now: SystemTime) -> Phase {
        if now >= self.finishes {
            Phase::Due
        } else if now >= self.started {
            Phase::InProgress
        } else {
            Phase::Accepted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn a_queued_request_starts_after_the_previous_one_finishes() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let tick = Tick {
            now: t0,
            scale: 1.0,
        };
        let first = Schedule::after(None, tick, 1.0, 3.0);
        assert_eq!(first.started, t0 + Duration::from_secs(1));
        assert_eq!(first.finishes, t0 + Duration::from_secs(4));
        let second = Schedule::after(Some(first.finishes), tick, 1.0, 3.0);
        assert_eq!(second.started, t0 + Duration::from_secs(5));
        assert_eq!(second.phase(t0 + Duration::from_secs(4)), Phase::Accepted);
        assert_eq!(second.phase(t0 + Duration::from_secs(6)), Phase::InProgress);
        assert_eq!(second.phase(t0 + Duration::from_secs(8)), Phase::Due);
    }

    #[test]
    fn an_idle_queue_does_not_delay_a_new_request() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
        let tick = Tick {
            now: t0,
            scale: 0.5,
        };
        let s = Schedule::after(Some(t0 - Duration::from_secs(60)), tick, 2.0, 4.0);
        assert_eq!(s.started, t0 + Duration::from_secs(1));
        assert_eq!(s.finishes, t0 + Duration::from_secs(3));
    }
}
