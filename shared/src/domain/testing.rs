//! Builders for domain tests.

use super::*;
use proptest::prelude::*;

pub fn observation(id: &str, status: DatastoreStatus) -> Observation {
    let id = format!("{id:0>32}");
    Observation {
        account: AccountId::parse("123456789012").expect("valid account"),
        region: Region::parse("us-east-1").expect("valid region"),
        arn: format!("arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/{id}"),
        id: DatastoreId::parse(id).expect("valid id"),
        name: "patients".into(),
        status,
        created_at: None,
        type_version: "R4".into(),
        endpoint: "https://healthlake.us-east-1.amazonaws.com/datastore/x/r4/".into(),
        error_cause: None,
    }
}

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
