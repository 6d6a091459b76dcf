//! Builders for domain tests.

use super::*;
pub use crate::fixtures::observation;
use chrono::{DateTime, Duration, Utc};
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

/// Data store ids of every shape HealthLake's model allows: the 32 hex
/// characters HealthLake makes up, ASCII letters, digits and `_.:/=+-%@`, and
/// any Unicode letter, number or separator (spaces included), 1 to 32 of them.
pub fn datastore_id_strategy() -> impl Strategy<Value = DatastoreId> {
    let character = prop_oneof![
        4 => "[a-zA-Z0-9]",
        2 => "[ _.:/=+%@-]",
        2 => "\\p{L}",
        1 => "\\p{N}",
        1 => "\\p{Z}",
    ];
    prop_oneof![
        1 => "[0-9a-f]{32}",
        4 => proptest::collection::vec(character, 1..=32).prop_map(|chars| chars.concat()),
    ]
    .prop_map(|id| DatastoreId::parse(id).expect("the strategy draws from the model's pattern"))
}

/// One character the model does not allow in a data store id: `#`, the other
/// ASCII punctuation outside `_.:/=+-%@`, controls, invisible formatting
/// characters, combining marks, symbols.
pub fn not_in_datastore_id_strategy() -> impl Strategy<Value = char> {
    prop_oneof![
        "[#!\"$&'()*,;<>?\\[\\\\\\]^`{|}~]",
        "\\p{Cc}",
        "\\p{Cf}",
        "\\p{M}",
        "[\\p{S}&&[^+=]]",
        "[\\p{P}&&[^_.:/%@-]]",
    ]
    .prop_map(|s| s.chars().next().expect("one character"))
}

/// The `n`th id of a pool: each shape the model allows in turn, so every
/// property over observations sees spaces, non-ASCII letters and punctuation.
fn pool_id(n: u8) -> String {
    match n % 5 {
        0 => format!("é:ü/{n}=+%@"),
        1 => format!("store {n}"),
        2 => format!("data_store.v{n}"),
        3 => format!("{n:0>32}"),
        _ => format!("{n:ж>32}"),
    }
}

/// Observations with ids drawn from a pool of `pool` ids.
pub fn observation_strategy(pool: u8) -> impl Strategy<Value = Observation> {
    (0..pool, status_strategy(), cause_strategy()).prop_map(|(n, status, cause)| {
        let mut o = observation(&n.to_string(), status);
        let id = pool_id(n);
        o.arn = format!(
            "arn:aws:healthlake:{}:{}:datastore/fhir/{id}",
            o.region, o.account
        );
        o.id = DatastoreId::parse(id).expect("a pool id is one the model allows");
        o.error_cause = cause;
        o
    })
}

/// An instant within three years of the epoch.
pub fn instant_strategy() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..100_000_000).prop_map(|s| DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(s))
}

/// Policies with any critical and informational sets and any switches.
pub fn policy_strategy() -> impl Strategy<Value = AlertPolicy> {
    let statuses = || {
        proptest::sample::subsequence(
            DatastoreStatus::KNOWN.to_vec(),
            0..=DatastoreStatus::KNOWN.len(),
        )
    };
    (statuses(), statuses(), any::<[bool; 3]>()).prop_map(
        |(critical, info, [recovery, unknown_status, error_cause])| AlertPolicy {
            critical: critical.into_iter().collect(),
            info: info.into_iter().collect(),
            recovery,
            unknown_status,
            error_cause,
            // Time in a status is judged by the tick tests; these properties
            // are of transitions.
            stuck: crate::domain::StuckAfter::OFF,
            failed_reminder: None,
        },
    )
}

/// An alert about the store of `observation`, as the record of `version` owes it.
fn owed(observation: &Observation, version: u64) -> Alert {
    let scope = Scope::new(observation.account.clone(), observation.region.clone());
    let transition = Transition::Appeared {
        current: observation.clone(),
    };
    let decision = (Severity::Warning, Reason::Status);
    Alert::new(&scope, &transition, decision, version, DateTime::UNIX_EPOCH)
}

/// A record as ticks leave it, of the one store of `observation_strategy(1)`:
/// live or vanished, owing and holding up to its bounds, perhaps claimed.
pub fn record_strategy() -> impl Strategy<Value = Record> {
    (
        observation_strategy(1),
        1u64..1_000,
        0..=MAX_PENDING,
        0..=MAX_UNDELIVERABLE,
        0u64..100,
        proptest::option::of(instant_strategy()),
        any::<bool>(),
        instant_strategy(),
    )
        .prop_map(
            |(observation, version, pending, kept, forgotten, vanished_at, claimed, at)| {
                let mut record = Record::new(observation, version, at);
                let alert = |n: usize| owed(&record.observation, version.saturating_sub(n as u64));
                let pending = (0..pending)
                    .rev()
                    .map(|n| PendingAlert::new(alert(n)))
                    .collect();
                let undeliverable = (0..kept)
                    .map(|n| UndeliverableAlert {
                        alert: alert(MAX_PENDING + n),
                        reason: "refused: InvalidParameter".into(),
                        attempts: 1,
                        at,
                    })
                    .collect();
                record.pending = pending;
                record.undeliverable = undeliverable;
                record.undeliverable_total = kept as u64 + forgotten;
                record.vanished_at = vanished_at;
                record.claim = claimed.then(|| Claim {
                    owner: "an earlier tick".into(),
                    at,
                });
                record
            },
        )
}

/// A store's record (none before it is first seen) and the transition a
/// tick's diff finds for it: it appears (for the first time, or again after
/// it vanished), changes, or vanishes.
pub fn evolution_strategy() -> impl Strategy<Value = (Option<Record>, Transition)> {
    (
        proptest::option::of(record_strategy()),
        proptest::option::of(observation_strategy(1)),
    )
        .prop_filter_map("the store did not change", |(old, listed)| {
            let live = old.iter().filter(|r| r.vanished_at.is_none());
            let previous = observations_of(live.map(|r| r.observation.clone()));
            let transition = diff(&previous, &observations_of(listed)).pop()?;
            Some((old, transition))
        })
}
