//! The simulated clock: the real clock plus an offset that `POST /_sim/time/advance` grows, and
//! a time scale that shrinks every simulated duration (0.001 turns a 60 s boot into 60 ms).

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy)]
struct State {
    scale: f64,
    offset: Duration,
}

/// Shared by every service; cheap to read.
#[derive(Debug)]
pub struct SimClock {
    state: Mutex<State>,
}

/// The slowest and fastest time scales accepted: a simulated second takes from 1 µs to
/// 1000 real seconds.
pub const MIN_TIME_SCALE: f64 = 1e-6;
pub const MAX_TIME_SCALE: f64 = 1e3;

/// How far `POST /_sim/time/advance` may move the simulated clock ahead of the real one, in
/// total: 100 years (of 365.25 days). Far enough to expire anything the simulator issues,
/// near enough that every instant stays printable.
pub const MAX_OFFSET: Duration = Duration::from_secs(100 * 31_557_600);

/// A time scale outside [`MIN_TIME_SCALE`]..=[`MAX_TIME_SCALE`] (or not a number).
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("time scale must be a number from {MIN_TIME_SCALE} to {MAX_TIME_SCALE}, got {0}")]
pub struct BadTimeScale(pub f64);

pub fn check_scale(scale: f64) -> Result<f64, BadTimeScale> {
    if (MIN_TIME_SCALE..=MAX_TIME_SCALE).contains(&scale) {
        Ok(scale)
    } else {
        Err(BadTimeScale(scale))
    }
}

/// An advance the clock refuses.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum BadAdvance {
    #[error("seconds must be a non-negative number, got {0}")]
    NotNonNegative(f64),
    #[error(
        "seconds: the simulated clock may run at most {} s (100 years) ahead of the real clock; it is {} s ahead, so it can advance at most {} s more, not {requested}",
        MAX_OFFSET.as_secs(),
        .offset.as_secs_f64(),
        MAX_OFFSET.saturating_sub(*.offset).as_secs_f64()
    )]
    TooFar { requested: f64, offset: Duration },
}

impl SimClock {
    pub fn new(scale: f64) -> Result<Self, BadTimeScale> {
        Ok(Self {
            state: Mutex::new(State {
                scale: check_scale(scale)?,
                offset: Duration::ZERO,
            }),
        })
    }

    fn state(&self) -> State {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Simulated now: real now plus the advanced offset.
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + self.state().offset
    }

    /// Simulated now in unix seconds (what token `exp` claims are compared with).
    pub fn now_unix(&self) -> i64 {
        unix_secs(self.now())
    }

    pub fn time_scale(&self) -> f64 {
        self.state().scale
    }

    pub fn set_time_scale(&self, scale: f64) -> Result<(), BadTimeScale> {
        let scale = check_scale(scale)?;
        self.state.lock().unwrap_or_else(|p| p.into_inner()).scale = scale;
        Ok(())
    }

    pub fn offset(&self) -> Duration {
        self.state().offset
    }

    /// Moves the simulated clock forward by `by`, unless that takes it more than
    /// [`MAX_OFFSET`] ahead of the real clock (then nothing changes).
    pub fn advance(&self, by: Duration) -> Result<(), BadAdvance> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.offset.checked_add(by) {
            Some(total) if total <= MAX_OFFSET => {
                state.offset = total;
                Ok(())
            }
            _ => Err(BadAdvance::TooFar {
                requested: by.as_secs_f64(),
                offset: state.offset,
            }),
        }
    }

    /// [`SimClock::advance`] by a number of seconds as a client sends it (JSON).
    pub fn advance_secs(&self, seconds: f64) -> Result<(), BadAdvance> {
        if !(seconds.is_finite() && seconds >= 0.0) {
            return Err(BadAdvance::NotNonNegative(seconds));
        }
        match Duration::try_from_secs_f64(seconds) {
            Ok(by) if by <= MAX_OFFSET => self.advance(by),
            _ => Err(BadAdvance::TooFar {
                requested: seconds,
                offset: self.offset(),
            }),
        }
    }
}

/// Later than any instant the simulator reaches (9999-12-31T23:59:59.999Z, the last one
/// [`rfc3339`] prints): where a deadline too far to compute saturates.
pub fn far_future() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(253_402_300_799_999)
}

pub fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// RFC 3339 with milliseconds, as OCI prints timestamps (`2016-08-25T21:10:29.600Z`). Total:
/// an instant after [`far_future`] prints as it, one before 1970 as the epoch.
pub fn rfc3339(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t.clamp(UNIX_EPOCH, far_future()));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_scales_outside_the_sane_range_are_refused() {
        let c = SimClock::new(0.001).unwrap();
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-7, 1001.0, 1e300] {
            assert!(c.set_time_scale(bad).is_err(), "{bad}");
            assert!(SimClock::new(bad).is_err(), "{bad}");
        }
        assert_eq!(c.time_scale(), 0.001);
        c.set_time_scale(MAX_TIME_SCALE).unwrap();
        c.set_time_scale(MIN_TIME_SCALE).unwrap();
        assert_eq!(c.time_scale(), MIN_TIME_SCALE);
    }

    #[test]
    fn advancing_moves_simulated_now_forward() {
        let c = SimClock::new(1.0).unwrap();
        let before = c.now_unix();
        c.advance(Duration::from_secs(7200)).unwrap();
        assert!(c.now_unix() >= before + 7200);
        c.advance_secs(0.5).unwrap();
        assert_eq!(c.offset(), Duration::from_millis(7_200_500));
    }

    #[test]
    fn the_clock_never_runs_more_than_a_hundred_years_ahead() {
        let c = SimClock::new(1.0).unwrap();
        for bad in [f64::NAN, -1.0, f64::INFINITY] {
            assert!(
                matches!(c.advance_secs(bad), Err(BadAdvance::NotNonNegative(_))),
                "{bad}"
            );
        }
        for huge in [1e300, 1e18, MAX_OFFSET.as_secs_f64() + 1.0] {
            assert!(
                matches!(c.advance_secs(huge), Err(BadAdvance::TooFar { .. })),
                "{huge}"
            );
        }
        assert!(c.advance(Duration::MAX).is_err());
        assert_eq!(
            c.offset(),
            Duration::ZERO,
            "a refused advance changes nothing"
        );
        c.advance(MAX_OFFSET - Duration::from_secs(10)).unwrap();
        let e = c.advance_secs(11.0).unwrap_err();
        assert!(e.to_string().contains("at most 10 s more"), "{e}");
        c.advance_secs(10.0).unwrap();
        assert_eq!(c.offset(), MAX_OFFSET);
        // Every instant the clock can reach prints.
        assert!(rfc3339(c.now()).starts_with("21"));
    }

    #[test]
    fn timestamps_print_like_oci() {
        let t = UNIX_EPOCH + Duration::from_millis(1_472_159_429_600);
        assert_eq!(rfc3339(t), "2016-08-25T21:10:29.600Z");
        assert_eq!(rfc3339(far_future()), "9999-12-31T23:59:59.999Z");
        let beyond = UNIX_EPOCH + Duration::from_secs(1_000_000_000_000);
        assert_eq!(rfc3339(beyond), "9999-12-31T23:59:59.999Z");
    }
}
