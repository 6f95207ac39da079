//! The instance lifecycle as an explicit state machine: one [`next`] function over
//! (state, event) pairs. Illegal pairs are errors (409 `IncorrectState` on the wire), never a
//! silent overwrite. Timed transitions are the [`Event::Elapsed`] event; how long each state
//! lasts comes from [`dwell`].

use std::fmt;

use super::settings::ServiceSettings;

/// Where an instance is. `Stopping` remembers whether a reset will start it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    Provisioning,
    Starting,
    Running,
    Stopping { then_start: bool },
    Stopped,
    Terminating,
    Terminated,
}

impl InstanceState {
    /// OCI's `lifecycleState` value.
    pub fn wire(self) -> &'static str {
        match self {
            Self::Provisioning => "PROVISIONING",
            Self::Starting => "STARTING",
            Self::Running => "RUNNING",
            Self::Stopping { .. } => "STOPPING",
            Self::Stopped => "STOPPED",
            Self::Terminating => "TERMINATING",
            Self::Terminated => "TERMINATED",
        }
    }

    /// Every `lifecycleState` a ListInstances filter may name (OCI's enum).
    pub const WIRE_VALUES: &'static [&'static str] = &[
        "MOVING",
        "PROVISIONING",
        "RUNNING",
        "STARTING",
        "STOPPING",
        "STOPPED",
        "CREATING_IMAGE",
        "TERMINATING",
        "TERMINATED",
    ];

    pub fn is_terminal(self) -> bool {
        self == Self::Terminated
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.wire())
    }
}

/// What can happen to an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// InstanceAction START.
    Start,
    /// InstanceAction STOP or SOFTSTOP.
    Stop,
    /// InstanceAction RESET or SOFTRESET (and the reboot-like actions).
    Reset,
    /// TerminateInstance.
    Terminate,
    /// The current state's duration ran out.
    Elapsed,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Start => "START",
            Self::Stop => "STOP",
            Self::Reset => "RESET",
            Self::Terminate => "TERMINATE",
            Self::Elapsed => "the end of the state's duration",
        })
    }
}

/// The result of a legal event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The instance moves to this state (its etag changes).
    Moved(InstanceState),
    /// The instance is already where the event would take it (START on RUNNING, STOP on
    /// STOPPED, TERMINATE on TERMINATING/TERMINATED): 200/204, nothing changes.
    NoOp,
}

/// An event the state cannot take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an instance in state {from} cannot take {event}")]
pub struct IllegalTransition {
    pub from: InstanceState,
    pub event: Event,
}

/// The transition function.
pub fn next(from: InstanceState, event: Event) -> Result<Outcome, IllegalTransition> {
    use Event as E;
    use InstanceState as S;
    let to = match (from, event) {
        (S::Provisioning, E::Elapsed) => S::Starting,
        (S::Starting, E::Elapsed) => S::Running,
        (S::Stopping { then_start: false }, E::Elapsed) => S::Stopped,
        (S::Stopping { then_start: true }, E::Elapsed) => S::Starting,
        (S::Terminating, E::Elapsed) => S::Terminated,

        (S::Stopped, E::Start) => S::Starting,
        (S::Running, E::Start) => return Ok(Outcome::NoOp),

        (S::Running, E::Stop) => S::Stopping { then_start: false },
        (S::Stopped, E::Stop) => return Ok(Outcome::NoOp),

        (S::Running, E::Reset) => S::Stopping { then_start: true },

        (S::Terminating | S::Terminated, E::Terminate) => return Ok(Outcome::NoOp),
        (_, E::Terminate) => S::Terminating,

        _ => return Err(IllegalTransition { from, event }),
    };
    Ok(Outcome::Moved(to))
}

/// How long an instance stays in a state before [`Event::Elapsed`], in simulated seconds;
/// `None` for states that only an action leaves.
pub fn dwell(state: InstanceState, s: &ServiceSettings) -> Option<f64> {
    match state {
        InstanceState::Provisioning => Some(s.provision_seconds),
        InstanceState::Starting => Some(s.start_seconds),
        InstanceState::Stopping { .. } => Some(s.stop_seconds),
        InstanceState::Terminating => Some(s.terminate_seconds),
        InstanceState::Running | InstanceState::Stopped | InstanceState::Terminated => None,
    }
}

#[cfg(test)]
mod tests {
    use super::InstanceState as S;
    use super::*;

    const ALL: [InstanceState; 8] = [
        S::Provisioning,
        S::Starting,
        S::Running,
        S::Stopping { then_start: false },
        S::Stopping { then_start: true },
        S::Stopped,
        S::Terminating,
        S::Terminated,
    ];

    fn run(mut s: InstanceState, events: &[Event]) -> Vec<&'static str> {
        let mut seen = vec![s.wire()];
        for e in events {
            if let Outcome::Moved(to) = next(s, *e).unwrap() {
                s = to;
                seen.push(s.wire());
            }
        }
        seen
    }

    #[test]
    fn launch_goes_through_starting_to_running() {
        assert_eq!(
            run(S::Provisioning, &[Event::Elapsed, Event::Elapsed]),
            ["PROVISIONING", "STARTING", "RUNNING"]
        );
    }

    #[test]
    fn stop_start_and_reset_follow_oci_order() {
        assert_eq!(
            run(S::Running, &[Event::Stop, Event::Elapsed]),
            ["RUNNING", "STOPPING", "STOPPED"]
        );
        assert_eq!(
            run(S::Stopped, &[Event::Start, Event::Elapsed]),
            ["STOPPED", "STARTING", "RUNNING"]
        );
        assert_eq!(
            run(S::Running, &[Event::Reset, Event::Elapsed, Event::Elapsed]),
            ["RUNNING", "STOPPING", "STARTING", "RUNNING"]
        );
    }

    #[test]
    fn every_live_state_can_be_terminated_and_termination_is_idempotent() {
        for s in ALL {
            let out = next(s, Event::Terminate).unwrap();
            match s {
                S::Terminating | S::Terminated => assert_eq!(out, Outcome::NoOp, "{s}"),
                _ => assert_eq!(out, Outcome::Moved(S::Terminating), "{s}"),
            }
        }
        assert_eq!(
            next(S::Terminating, Event::Elapsed).unwrap(),
            Outcome::Moved(S::Terminated)
        );
    }

    #[test]
    fn start_on_running_and_stop_on_stopped_are_no_ops() {
        assert_eq!(next(S::Running, Event::Start).unwrap(), Outcome::NoOp);
        assert_eq!(next(S::Stopped, Event::Stop).unwrap(), Outcome::NoOp);
    }

    #[test]
    fn actions_in_transitional_or_dead_states_are_illegal() {
        for (s, e) in [
            (S::Provisioning, Event::Start),
            (S::Provisioning, Event::Stop),
            (S::Starting, Event::Stop),
            (S::Stopped, Event::Reset),
            (S::Terminated, Event::Start),
            (S::Terminating, Event::Stop),
            (S::Stopping { then_start: false }, Event::Start),
        ] {
            assert_eq!(
                next(s, e),
                Err(IllegalTransition { from: s, event: e }),
                "{s} + {e}"
            );
        }
    }

    #[test]
    fn only_transitional_states_elapse() {
        let settings = ServiceSettings::default();
        for s in ALL {
            assert_eq!(
                next(s, Event::Elapsed).is_ok(),
                dwell(s, &settings).is_some(),
                "{s}: a state elapses exactly when it has a duration"
            );
        }
    }
}
