//! The emulator's clock: wall time plus an offset that only moves forward.
//!
//! A store's status follows from the time since its creation or deletion (see
//! [`Lifecycle`](crate::model::Lifecycle)), read from this clock. Tests move
//! it forward with `POST /_emulator/clock` instead of waiting for a
//! transition to pass.

use chrono::{DateTime, TimeDelta, Utc};

/// How far ahead of the wall clock it may run: a hundred years, far from
/// the limits of chrono's dates.
pub const MAX_AHEAD: TimeDelta = TimeDelta::days(36_525);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    offset: TimeDelta,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdvanceError {
    #[error("the clock only moves forward")]
    Backwards,
    #[error("the clock runs at most {} seconds ahead of the wall clock", MAX_AHEAD.num_seconds())]
    TooFar,
}

impl Clock {
    /// The emulator's now.
    pub fn now(&self) -> DateTime<Utc> {
        self.at(Utc::now())
    }

    /// The emulator's time when the wall clock shows `wall`.
    pub fn at(&self, wall: DateTime<Utc>) -> DateTime<Utc> {
        // The offset is at most MAX_AHEAD, so this fails only for a wall clock
        // near the end of chrono's range.
        wall.checked_add_signed(self.offset)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// How far ahead of the wall clock it is.
    pub fn offset(&self) -> TimeDelta {
        self.offset
    }

    /// Moves it forward by `by`; on error it stays where it was.
    pub fn advance(&mut self, by: TimeDelta) -> Result<(), AdvanceError> {
        if by < TimeDelta::zero() {
            return Err(AdvanceError::Backwards);
        }
        match self.offset.checked_add(&by) {
            Some(offset) if offset <= MAX_AHEAD => {
                self.offset = offset;
                Ok(())
            }
            _ => Err(AdvanceError::TooFar),
        }
    }

    /// Back to wall time.
    pub fn reset(&mut self) {
        self.offset = TimeDelta::zero();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall() -> DateTime<Utc> {
        DateTime::from_timestamp(1_764_150_000, 0).unwrap()
    }

    #[test]
    fn it_starts_at_wall_time() {
        let clock = Clock::default();
        assert_eq!(clock.offset(), TimeDelta::zero());
        assert_eq!(clock.at(wall()), wall());
        let before = Utc::now();
        let now = clock.now();
        assert!(before <= now && now <= Utc::now());
    }

    #[test]
    fn advances_add_up_and_move_its_now() {
        let mut clock = Clock::default();
        clock.advance(TimeDelta::seconds(3600)).unwrap();
        clock.advance(TimeDelta::seconds(90)).unwrap();
        clock.advance(TimeDelta::zero()).unwrap();
        assert_eq!(clock.offset(), TimeDelta::seconds(3690));
        assert_eq!(clock.at(wall()), wall() + TimeDelta::seconds(3690));
        let now = clock.now();
        assert!(now >= Utc::now() + TimeDelta::seconds(3689), "{now}");
    }

    #[test]
    fn it_never_goes_back_nor_past_its_limit() {
        let mut clock = Clock::default();
        clock.advance(TimeDelta::seconds(10)).unwrap();
        assert_eq!(
            clock.advance(TimeDelta::seconds(-1)),
            Err(AdvanceError::Backwards)
        );
        assert_eq!(clock.advance(MAX_AHEAD), Err(AdvanceError::TooFar));
        assert_eq!(clock.advance(TimeDelta::MAX), Err(AdvanceError::TooFar));
        assert_eq!(
            clock.offset(),
            TimeDelta::seconds(10),
            "unchanged by a refusal"
        );
        clock
            .advance(MAX_AHEAD - TimeDelta::seconds(10))
            .expect("up to the limit");
        assert_eq!(clock.offset(), MAX_AHEAD);
    }

    #[test]
    fn reset_returns_to_wall_time() {
        let mut clock = Clock::default();
        clock.advance(TimeDelta::days(2)).unwrap();
        clock.reset();
        assert_eq!(clock.at(wall()), wall());
    }
}
