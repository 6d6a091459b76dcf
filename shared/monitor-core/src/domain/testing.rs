//! Builders for domain tests.

use super::*;
pub use crate::fixtures::observation;
use proptest::prelude::*;

pub fn status_strategy() -> impl Strategy<Value = DatastoreStatus> {
    prop_oneof![
        8 => proptest::sample::select(DatastoreStatus::KNOWN.to_vec()),
        1 => "[A-Z_]{1,12}".prop_map(|s| DatastoreStatus::parse(&s)),
    ]
}

pub fn cause_strategy() -> impl Strategy<Value = Option<ErrorCause>> {
    proptest::option::of(
        (
            "[ -~]{1,40}",
            prop_oneof![
                Just(ErrorCategory::Retryable),
                Just(ErrorCategory::NonRetryable)
            ],
        )
            .prop_map(|(message, category)| ErrorCause { message, category }),
    )
}

/// Observations with ids drawn from a pool of `pool` ids.
pub fn observation_strategy(pool: u8) -> impl Strategy<Value = Observation> {
    (0..pool, status_strategy(), cause_strategy()).prop_map(|(n, status, cause)| {
        let mut o = observation(&n.to_string(), status);
        o.error_cause = cause;
        o
    })
}
