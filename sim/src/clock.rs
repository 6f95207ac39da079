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

/// A time scale that is not a positive finite number.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("time scale must be a positive finite number, got {0}")]
pub struct BadTimeScale(pub f64);

pub fn check_scale(scale: f64) -> Result<f64, BadTimeScale> {
    if scale.is_finite() && scale > 0.0 {
        Ok(scale)
    } else {
        Err(BadTimeScale(scale))
    }
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

    pub fn advance(&self, by: Duration) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).offset += by;
    }

    /// When something that takes `simulated` in OCI (a boot, a work request) is done:
    /// `now() + scaled(simulated)`. Later lifecycle code compares `now()` with this deadline,
    /// so both the time scale and `time/advance` bring it closer.
    pub fn deadline(&self, simulated: Duration) -> SystemTime {
        self.now() + self.scaled(simulated)
    }

    /// The real duration a simulated duration takes at the current scale.
    pub fn scaled(&self, simulated: Duration) -> Duration {
        simulated.mul_f64(self.state().scale)
    }
}

pub fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// RFC 3339 with milliseconds, as OCI prints timestamps (`2016-08-25T21:10:29.600Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let dt = time::OffsetDateTime::from(t);
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
    fn time_scale_shrinks_durations_and_rejects_nonsense() {
        let c = SimClock::new(0.001).unwrap();
        assert_eq!(c.scaled(Duration::from_secs(60)), Duration::from_millis(60));
        assert!(SimClock::new(0.0).is_err());
        assert!(c.set_time_scale(f64::NAN).is_err());
        assert_eq!(c.time_scale(), 0.001);
        let d = c.deadline(Duration::from_secs(60));
        assert!(d <= c.now() + Duration::from_millis(61));
    }

    #[test]
    fn advancing_moves_simulated_now_forward() {
        let c = SimClock::new(1.0).unwrap();
        let before = c.now_unix();
        c.advance(Duration::from_secs(7200));
        assert!(c.now_unix() >= before + 7200);
    }

    #[test]
    fn timestamps_print_like_oci() {
        let t = UNIX_EPOCH + Duration::from_millis(1_472_159_429_600);
        assert_eq!(rfc3339(t), "2016-08-25T21:10:29.600Z");
    }
}
