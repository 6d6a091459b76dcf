//! What the snapshot stores keep as JSON, each value in a layout of its own:
//! the pending and undeliverable alerts of a record (the DynamoDB store keeps
//! them as JSON inside an item), and whole records and scopes (the file store
//! keeps the snapshot as one JSON file). The field names are fixed here, apart
//! from the domain types, so that renaming a domain field never makes a stored
//! value unreadable; every conversion between the two is in this module.
//!
//! Every stored value carries the [`Format`] of its layout. Values written
//! before layouts were numbered have none and are format 1, so they read as
//! they always did.

use crate::domain::{
    AccountId, Alert, Change, Claim, DatastoreId, DatastoreStatus, ErrorCategory, ErrorCause,
    Observation, PendingAlert, Reason, Record, Region, ScopeSnapshot, Severity, UndeliverableAlert,
};
use crate::field::{FieldError, id, one_of};
use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// The layout a stored value is written in. Reading refuses a format this
/// version does not know, by its number, rather than misreading a layout
/// written by a newer version: the value is then reported as corrupt and left
/// as it is. It is written first, so that a reader meets it before any field
/// whose meaning a newer format changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Format(u32);

impl Format {
    /// The only layout this version reads and writes.
    pub const V1: Format = Format(1);
}

/// A value without a format was written before formats were numbered.
impl Default for Format {
    fn default() -> Self {
        Self::V1
    }
}

impl<'de> Deserialize<'de> for Format {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match u64::deserialize(deserializer)? {
            1 => Ok(Self::V1),
            n => Err(D::Error::custom(format_args!(
                "format {n} is newer than this version of healthlake-monitor reads (format 1)"
            ))),
        }
    }
}

/// An alert, inside a stored pending or undeliverable alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAlert {
    pub id: String,
    pub severity: String,
    pub reason: String,
    pub change: String,
    pub account: String,
    pub region: String,
    pub datastore_id: String,
    pub datastore_name: String,
    pub datastore_arn: String,
    pub previous_status: Option<String>,
    pub status: Option<String>,
    pub error_cause: Option<StoredErrorCause>,
    pub observed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,

    /// Written only for the alerts that have it (stuck, unstuck, reminder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredErrorCause {
    pub message: String,
    pub category: String,
}

/// An alert still owed. Its fields sit beside the alert's (flattened), as
/// they did when a pending alert was stored as the alert alone: one stored
/// before attempts were counted reads as one not yet tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPendingAlert {
    #[serde(default)]
    pub format: Format,
    #[serde(flatten)]
    pub alert: StoredAlert,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// An alert set aside as undeliverable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredUndeliverableAlert {
    #[serde(default)]
    pub format: Format,
    pub alert: StoredAlert,
    pub reason: String,
    pub attempts: u32,
    pub at: DateTime<Utc>,
}

/// The last observation of a store, inside a stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredObservation {
    pub account: String,
    pub region: String,
    pub id: String,
    pub arn: String,
    pub name: String,
    pub status: String,
    pub created_at: Option<DateTime<Utc>>,
    pub type_version: String,
    pub endpoint: String,
    pub error_cause: Option<StoredErrorCause>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredClaim {
    pub owner: String,
    pub at: DateTime<Utc>,
}

/// One data store's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRecord {
    #[serde(default)]
    pub format: Format,
    pub observation: StoredObservation,
    pub version: u64,
    pub first_seen: DateTime<Utc>,
    pub last_changed: DateTime<Utc>,
    pub vanished_at: Option<DateTime<Utc>>,
    pub pending: Vec<StoredPendingAlert>,
    pub undeliverable: Vec<StoredUndeliverableAlert>,
    pub undeliverable_total: u64,
    pub claim: Option<StoredClaim>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,

    /// Absent in records written before it was kept: see [`status_since_or`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stuck_warned_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reminded_at: Option<DateTime<Utc>>,
}

/// The `status_since` of a record, or for one written before it was kept,
/// the best known: the time of its last recorded change (a status change, or
/// a new error cause in the same status, so never before the status was
/// entered), or HealthLake's creation time for a store still CREATING.
pub fn status_since_or(
    stored: Option<DateTime<Utc>>,
    observation: &Observation,
    last_changed: DateTime<Utc>,
) -> DateTime<Utc> {
    stored.unwrap_or_else(|| Record::status_since_of(observation, last_changed))
}

/// The records of one scope, keyed by data store id. Items that could not be
/// read are not stored: a store that keeps whole scopes reports a scope it
/// cannot read as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredScope {
    #[serde(default)]
    pub format: Format,
    pub records: BTreeMap<String, StoredRecord>,
}

impl From<&ErrorCause> for StoredErrorCause {
    fn from(cause: &ErrorCause) -> Self {
        Self {
            message: cause.message.clone(),
            category: cause.category.as_str().to_owned(),
        }
    }
}

impl From<StoredErrorCause> for ErrorCause {
    fn from(stored: StoredErrorCause) -> Self {
        Self {
            category: ErrorCategory::parse(&stored.category),
            message: stored.message,
        }
    }
}

impl From<&Alert> for StoredAlert {
    fn from(alert: &Alert) -> Self {
        Self {
            id: alert.id.clone(),
            severity: alert.severity.as_str().to_owned(),
            reason: alert.reason.as_str().to_owned(),
            change: alert.change.as_str().to_owned(),
            account: alert.account.to_string(),
            region: alert.region.to_string(),
            datastore_id: alert.datastore_id.to_string(),
            datastore_name: alert.datastore_name.clone(),
            datastore_arn: alert.datastore_arn.clone(),
            previous_status: alert
                .previous_status
                .as_ref()
                .map(|s| s.as_str().to_owned()),
            status: alert.status.as_ref().map(|s| s.as_str().to_owned()),
            error_cause: alert.error_cause.as_ref().map(StoredErrorCause::from),
            observed_at: alert.observed_at,
            tags: alert.tags.clone(),

            since: alert.since,
        }
    }
}

impl TryFrom<StoredAlert> for Alert {
    type Error = FieldError;

    fn try_from(s: StoredAlert) -> Result<Self, FieldError> {
        Ok(Self {
            id: s.id,
            severity: one_of("severity", &s.severity, &Severity::ALL, Severity::as_str)?,
            reason: one_of("reason", &s.reason, &Reason::ALL, Reason::as_str)?,
            change: one_of("change", &s.change, &Change::ALL, Change::as_str)?,
            account: id("account", s.account, AccountId::parse)?,
            // Not stored: the name is set as the alert is sent.
            account_name: None,
            region: id("region", s.region, Region::parse)?,
            datastore_id: id("datastore_id", s.datastore_id, DatastoreId::parse)?,
            datastore_name: s.datastore_name,
            datastore_arn: s.datastore_arn,
            previous_status: s.previous_status.as_deref().map(DatastoreStatus::parse),
            status: s.status.as_deref().map(DatastoreStatus::parse),
            error_cause: s.error_cause.map(ErrorCause::from),
            observed_at: s.observed_at,
            tags: s.tags,

            since: s.since,
        })
    }
}

impl From<&PendingAlert> for StoredPendingAlert {
    fn from(pending: &PendingAlert) -> Self {
        Self {
            format: Format::V1,
            alert: StoredAlert::from(&pending.alert),
            attempts: pending.attempts,
            last_error: pending.last_error.clone(),
        }
    }
}

impl TryFrom<StoredPendingAlert> for PendingAlert {
    type Error = FieldError;

    fn try_from(s: StoredPendingAlert) -> Result<Self, FieldError> {
        Ok(Self {
            alert: Alert::try_from(s.alert)?,
            attempts: s.attempts,
            last_error: s.last_error,
        })
    }
}

impl From<&UndeliverableAlert> for StoredUndeliverableAlert {
    fn from(u: &UndeliverableAlert) -> Self {
        Self {
            format: Format::V1,
            alert: StoredAlert::from(&u.alert),
            reason: u.reason.clone(),
            attempts: u.attempts,
            at: u.at,
        }
    }
}

impl TryFrom<StoredUndeliverableAlert> for UndeliverableAlert {
    type Error = FieldError;

    fn try_from(s: StoredUndeliverableAlert) -> Result<Self, FieldError> {
        Ok(Self {
            alert: Alert::try_from(s.alert)?,
            reason: s.reason,
            attempts: s.attempts,
            at: s.at,
        })
    }
}

impl From<&Observation> for StoredObservation {
    fn from(o: &Observation) -> Self {
        Self {
            account: o.account.to_string(),
            region: o.region.to_string(),
            id: o.id.to_string(),
            arn: o.arn.clone(),
            name: o.name.clone(),
            status: o.status.as_str().to_owned(),
            created_at: o.created_at,
            type_version: o.type_version.clone(),
            endpoint: o.endpoint.clone(),
            error_cause: o.error_cause.as_ref().map(StoredErrorCause::from),
        }
    }
}

impl TryFrom<StoredObservation> for Observation {
    type Error = FieldError;

    fn try_from(s: StoredObservation) -> Result<Self, FieldError> {
        Ok(Self {
            account: id("account", s.account, AccountId::parse)?,
            region: id("region", s.region, Region::parse)?,
            id: id("id", s.id, DatastoreId::parse)?,
            arn: s.arn,
            name: s.name,
            status: DatastoreStatus::parse(&s.status),
            created_at: s.created_at,
            type_version: s.type_version,
            endpoint: s.endpoint,
            error_cause: s.error_cause.map(ErrorCause::from),
        })
    }
}

impl From<&Record> for StoredRecord {
    fn from(r: &Record) -> Self {
        Self {
            format: Format::V1,
            observation: StoredObservation::from(&r.observation),
            version: r.version,
            first_seen: r.first_seen,
            last_changed: r.last_changed,
            vanished_at: r.vanished_at,
            pending: r.pending.iter().map(StoredPendingAlert::from).collect(),
            undeliverable: r
                .undeliverable
                .iter()
                .map(StoredUndeliverableAlert::from)
                .collect(),
            undeliverable_total: r.undeliverable_total,
            claim: r.claim.as_ref().map(|c| StoredClaim {
                owner: c.owner.clone(),
                at: c.at,
            }),
            tags: r.tags.clone(),

            status_since: Some(r.status_since),
            stuck_warned_at: r.stuck_warned_at,
            reminded_at: r.reminded_at,
        }
    }
}

impl TryFrom<StoredRecord> for Record {
    type Error = FieldError;

    fn try_from(s: StoredRecord) -> Result<Self, FieldError> {
        let observation = Observation::try_from(s.observation)?;
        Ok(Self {
            status_since: status_since_or(s.status_since, &observation, s.last_changed),
            stuck_warned_at: s.stuck_warned_at,
            reminded_at: s.reminded_at,
            observation,
            version: s.version,
            first_seen: s.first_seen,
            last_changed: s.last_changed,
            vanished_at: s.vanished_at,
            pending: s
                .pending
                .into_iter()
                .map(PendingAlert::try_from)
                .collect::<Result<_, _>>()?,
            undeliverable: s
                .undeliverable
                .into_iter()
                .map(UndeliverableAlert::try_from)
                .collect::<Result<_, _>>()?,
            undeliverable_total: s.undeliverable_total,
            claim: s.claim.map(|c| Claim {
                owner: c.owner,
                at: c.at,
            }),
            tags: s.tags,
        })
    }
}

impl From<&ScopeSnapshot> for StoredScope {
    fn from(snapshot: &ScopeSnapshot) -> Self {
        Self {
            format: Format::V1,
            records: snapshot
                .records
                .iter()
                .map(|(id, r)| (id.to_string(), StoredRecord::from(r)))
                .collect(),
        }
    }
}

impl TryFrom<StoredScope> for ScopeSnapshot {
    type Error = FieldError;

    fn try_from(s: StoredScope) -> Result<Self, FieldError> {
        let records = s
            .records
            .into_iter()
            .map(|(key, r)| {
                Ok((
                    id("records", key, DatastoreId::parse)?,
                    Record::try_from(r)?,
                ))
            })
            .collect::<Result<_, FieldError>>()?;
        Ok(Self {
            records,
            unreadable: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::{observation, observation_strategy};
    use crate::domain::{
        AlertPolicy, DatastoreStatus, ErrorCategory, Reason, Scope, Severity, Transition,
    };
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    /// `pending_alerts` and `undeliverable_alerts` as the DynamoDB store wrote
    /// them before stored values were numbered.
    const PENDING_V1: &str = include_str!("../tests/fixtures/pending-alerts-v1.json");
    const UNDELIVERABLE_V1: &str = include_str!("../tests/fixtures/undeliverable-alerts-v1.json");

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 9, minute, 0)
            .single()
            .expect("a valid time")
    }

    fn read<S, T>(json: &str) -> Result<Vec<T>, String>
    where
        S: serde::de::DeserializeOwned,
        T: TryFrom<S, Error = FieldError>,
    {
        let stored: Vec<S> = serde_json::from_str(json).map_err(|e| e.to_string())?;
        stored
            .into_iter()
            .map(|s| T::try_from(s).map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn pending_alerts_stored_without_a_format_still_read() {
        let pending: Vec<PendingAlert> =
            read::<StoredPendingAlert, _>(PENDING_V1).expect("today's pending alerts read");
        assert_eq!(pending.len(), 2);
        let (first, second) = (&pending[0], &pending[1]);
        assert_eq!(
            first.alert.id,
            "123456789012#us-east-1#000000000000000000000000000000f3#7"
        );
        assert_eq!(
            (first.alert.severity, first.alert.reason, first.alert.change),
            (Severity::Info, Reason::Recovery, Change::Vanished)
        );
        assert_eq!(
            first.alert.previous_status,
            Some(DatastoreStatus::CreateFailed)
        );
        assert_eq!(first.alert.status, None);
        assert_eq!(
            first.alert.error_cause.as_ref().map(|c| &c.category),
            Some(&ErrorCategory::Retryable)
        );
        assert_eq!(first.alert.observed_at, at(40));
        assert_eq!((first.attempts, first.last_error.as_deref()), (0, None));
        assert_eq!(second.alert.datastore_name, "archive-2019");
        assert_eq!(
            second.alert.status,
            Some(DatastoreStatus::Unrecognized("ARCHIVED".into()))
        );
        assert_eq!(second.alert.previous_status, None);
        assert_eq!(second.attempts, 1);
        assert_eq!(
            second.last_error.as_deref(),
            Some("publishing failed (retryable): NotFound: Topic does not exist")
        );
    }

    #[test]
    fn a_pending_alert_stored_before_attempts_were_counted_still_reads() {
        let mut old: Vec<Value> = serde_json::from_str(PENDING_V1).unwrap();
        let entry = old[1].as_object_mut().unwrap();
        entry.remove("attempts");
        entry.remove("last_error");
        let pending: Vec<PendingAlert> =
            read::<StoredPendingAlert, _>(&Value::from(old).to_string()).unwrap();
        assert_eq!((pending[1].attempts, &pending[1].last_error), (0, &None));
    }

    #[test]
    fn undeliverable_alerts_stored_without_a_format_still_read() {
        let set_aside: Vec<UndeliverableAlert> =
            read::<StoredUndeliverableAlert, _>(UNDELIVERABLE_V1).expect("they read");
        assert_eq!(set_aside.len(), 1);
        let u = &set_aside[0];
        assert_eq!(u.reason, "refused: InvalidParameter: Message too long");
        assert_eq!((u.attempts, u.at), (2, at(41)));
        assert_eq!(u.alert.datastore_name, "claims-prod");
        assert_eq!(
            (u.alert.previous_status.clone(), u.alert.status.clone()),
            (
                Some(DatastoreStatus::Updating),
                Some(DatastoreStatus::UpdateFailed)
            )
        );
    }

    #[test]
    fn what_is_written_is_todays_layout_with_its_format() {
        for (json, written) in [
            (
                PENDING_V1,
                serde_json::to_value(
                    read::<StoredPendingAlert, PendingAlert>(PENDING_V1)
                        .unwrap()
                        .iter()
                        .map(StoredPendingAlert::from)
                        .collect::<Vec<_>>(),
                )
                .unwrap(),
            ),
            (
                UNDELIVERABLE_V1,
                serde_json::to_value(
                    read::<StoredUndeliverableAlert, UndeliverableAlert>(UNDELIVERABLE_V1)
                        .unwrap()
                        .iter()
                        .map(StoredUndeliverableAlert::from)
                        .collect::<Vec<_>>(),
                )
                .unwrap(),
            ),
        ] {
            let mut expected: Vec<Value> = serde_json::from_str(json).unwrap();
            for value in &mut expected {
                value["format"] = json!(1);
            }
            assert_eq!(written, Value::from(expected));
        }
    }

    #[test]
    fn a_newer_format_is_corrupt_and_named() {
        let mut pending: Vec<Value> = serde_json::from_str(PENDING_V1).unwrap();
        pending[1]["format"] = json!(2);
        let mut undeliverable: Vec<Value> = serde_json::from_str(UNDELIVERABLE_V1).unwrap();
        undeliverable[0]["format"] = json!(2);
        // A newer layout may rename or retype any field: the format is named all the same.
        let renamed = json!([{"format": 2, "alert_id": "x", "severity": 3}]);
        for error in [
            read::<StoredPendingAlert, PendingAlert>(&Value::from(pending).to_string())
                .unwrap_err(),
            read::<StoredUndeliverableAlert, UndeliverableAlert>(
                &Value::from(undeliverable).to_string(),
            )
            .unwrap_err(),
            read::<StoredPendingAlert, PendingAlert>(&renamed.to_string()).unwrap_err(),
        ] {
            assert!(
                error.starts_with(
                    "format 2 is newer than this version of healthlake-monitor reads (format 1)"
                ),
                "{error}"
            );
        }
        let record = json!({"format": 2, "records": {}});
        let error = serde_json::from_value::<StoredScope>(record).unwrap_err();
        assert!(error.to_string().contains("format 2"), "{error}");
    }

    #[test]
    fn a_stored_value_that_does_not_convert_names_the_field_not_the_value() {
        let mut pending: Vec<Value> = serde_json::from_str(PENDING_V1).unwrap();
        pending[0]["severity"] = json!("patient-jane-doe");
        let error = read::<StoredPendingAlert, PendingAlert>(&Value::from(pending).to_string())
            .unwrap_err();
        assert_eq!(
            error,
            "field severity: expected one of info, warning, critical"
        );
    }

    fn alert_of(transition: &Transition, n: u64) -> Alert {
        let latest = transition.latest();
        let scope = Scope::new(latest.account.clone(), latest.region.clone());
        let decision = AlertPolicy::default()
            .classify(transition)
            .unwrap_or((Severity::Info, Reason::Status));
        Alert::new(&scope, transition, decision, n, at(n as u32 % 60))
    }

    proptest! {
        #[test]
        fn a_scope_reads_back_as_it_was_stored(
            stores in proptest::collection::vec((observation_strategy(6), observation_strategy(6)), 0..6),
            owed in 0usize..12,
            claimed in any::<bool>(),
        ) {
            let mut snapshot = ScopeSnapshot::default();
            for (n, (previous, current)) in stores.into_iter().enumerate() {
                let mut record = Record::new(current.clone(), n as u64 + 1, at(0));
                record.vanished_at = (n % 3 == 0).then(|| at(5));
                record.observation.created_at = (n % 2 == 0).then(|| at(1));
                let mut current = current;
                current.id = previous.id.clone();
                let transition = match n % 3 {
                    0 => Transition::Vanished { previous },
                    1 => Transition::Appeared { current },
                    _ => Transition::Changed { previous, current },
                };
                for k in 0..owed as u64 {
                    record.owe(alert_of(&transition, k), at(2));
                }
                if let Some(first) = record.pending.first_mut() {
                    first.attempts = 3;
                    first.last_error = Some("Throttling: Rate exceeded".into());
                }
                record.claim = claimed.then(|| Claim { owner: format!("request-{n}"), at: at(3) });
                snapshot.records.insert(record.observation.id.clone(), record);
            }
            let json = serde_json::to_string(&StoredScope::from(&snapshot)).unwrap();
            let stored: StoredScope = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(ScopeSnapshot::try_from(stored).unwrap(), snapshot);
        }
    }

    #[test]
    fn a_record_key_that_is_no_data_store_id_is_named() {
        let record = StoredRecord::from(&Record::new(
            observation("1", DatastoreStatus::Active),
            1,
            at(0),
        ));
        let stored = StoredScope {
            format: Format::default(),
            records: [("a#b".to_owned(), record)].into(),
        };
        let error = ScopeSnapshot::try_from(stored).unwrap_err();
        assert_eq!(
            error.to_string(),
            "field records: expected 1 to 32 letters, numbers, spaces or _.:/=+-%@"
        );
    }

    #[test]
    fn a_record_stored_before_stays_were_kept_is_in_its_status_since_its_last_change() {
        let mut record = Record::new(observation("1", DatastoreStatus::UpdateFailed), 3, at(0));
        record.last_changed = at(7);
        record.status_since = at(7);
        let mut json = serde_json::to_value(StoredRecord::from(&record)).unwrap();
        let object = json.as_object_mut().unwrap();
        assert_eq!(object.remove("status_since"), Some(json!(at(7))));
        assert_eq!(object.get("stuck_warned_at"), None, "written only when set");
        let read = Record::try_from(serde_json::from_value::<StoredRecord>(json).unwrap()).unwrap();
        assert_eq!(read, record);

        let mut creating = observation("2", DatastoreStatus::Creating);
        creating.created_at = Some(at(1));
        let mut json =
            serde_json::to_value(StoredRecord::from(&Record::new(creating, 1, at(5)))).unwrap();
        json.as_object_mut().unwrap().remove("status_since");
        let read = Record::try_from(serde_json::from_value::<StoredRecord>(json).unwrap()).unwrap();
        assert_eq!(read.status_since, at(1), "HealthLake's creation time");
    }
}
