//! The public alert document, version 1: the JSON that SQS, Lambda and email
//! subscribers receive, and that the Slack notifier reads. Its fields are
//! spelled out here, apart from the domain's [`Alert`], so that the domain can
//! change without changing what subscribers read. Its schema is
//! `docs/alert-document.v1.schema.json`; a reader of version 1 accepts fields
//! added later.

use crate::domain::{
    AccountId, Alert, Change, DatastoreId, DatastoreStatus, ErrorCategory, ErrorCause, Reason,
    Region, Severity,
};
use crate::field::{FieldError, exactly, id, one_of};
use crate::render;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The schema id of [`AlertDocumentV1`]. A change that a version 1 reader
/// cannot read is a new document type with a new id.
pub const SCHEMA_V1: &str = "healthlake-monitor/alert/v1";

/// Version 1 of the alert document, in the order its fields are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertDocumentV1 {
    /// Always [`SCHEMA_V1`].
    pub schema: String,
    pub subject: String,
    pub next_step: String,
    pub id: String,
    pub severity: String,
    pub reason: String,
    pub change: String,
    pub account: String,
    /// The account's name in its organization; absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    pub region: String,
    pub datastore_id: String,
    pub datastore_name: String,
    pub datastore_arn: String,
    /// As AWS names it; `null` for a store seen for the first time.
    pub previous_status: Option<String>,
    /// As AWS names it; `null` for a store no longer listed.
    pub status: Option<String>,
    pub error_cause: Option<ErrorCauseV1>,
    pub observed_at: DateTime<Utc>,
    /// The store's tags of the keys chosen to travel with alerts
    /// (`ALERT_TAG_KEYS`); absent when none was chosen or the store has none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,

    /// For reasons `stuck` and `reminder`: since when the store has been in
    /// `status`; for `unstuck`: since when it had been in `previous_status`.
    /// Absent for other reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

/// The `error_cause` of [`AlertDocumentV1`], as HealthLake reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCauseV1 {
    pub message: String,
    pub category: String,
}

impl From<&Alert> for AlertDocumentV1 {
    fn from(alert: &Alert) -> Self {
        Self {
            schema: SCHEMA_V1.to_owned(),
            subject: render::subject(alert),
            next_step: render::next_step(alert),
            id: alert.id.clone(),
            severity: alert.severity.as_str().to_owned(),
            reason: alert.reason.as_str().to_owned(),
            change: alert.change.as_str().to_owned(),
            account: alert.account.to_string(),
            account_name: alert.account_name.clone(),
            region: alert.region.to_string(),
            datastore_id: alert.datastore_id.to_string(),
            datastore_name: alert.datastore_name.clone(),
            datastore_arn: alert.datastore_arn.clone(),
            previous_status: alert
                .previous_status
                .as_ref()
                .map(|s| s.as_str().to_owned()),
            status: alert.status.as_ref().map(|s| s.as_str().to_owned()),
            error_cause: alert.error_cause.as_ref().map(|c| ErrorCauseV1 {
                message: c.message.clone(),
                category: c.category.as_str().to_owned(),
            }),
            observed_at: alert.observed_at,
            tags: alert.tags.clone(),

            since: alert.since,
        }
    }
}

/// The alert a document tells of. Statuses and error categories are open
/// sets (AWS adds to them): an unknown one is kept as it is, never refused.
impl TryFrom<AlertDocumentV1> for Alert {
    type Error = FieldError;

    fn try_from(d: AlertDocumentV1) -> Result<Self, FieldError> {
        exactly("schema", &d.schema, SCHEMA_V1)?;
        Ok(Alert {
            id: d.id,
            severity: one_of("severity", &d.severity, &Severity::ALL, Severity::as_str)?,
            reason: one_of("reason", &d.reason, &Reason::ALL, Reason::as_str)?,
            change: one_of("change", &d.change, &Change::ALL, Change::as_str)?,
            account: id("account", d.account, AccountId::parse)?,
            account_name: d.account_name,
            region: id("region", d.region, Region::parse)?,
            datastore_id: id("datastore_id", d.datastore_id, DatastoreId::parse)?,
            datastore_name: d.datastore_name,
            datastore_arn: d.datastore_arn,
            previous_status: d.previous_status.as_deref().map(DatastoreStatus::parse),
            status: d.status.as_deref().map(DatastoreStatus::parse),
            error_cause: d.error_cause.map(|c| ErrorCause {
                category: ErrorCategory::parse(&c.category),
                message: c.message,
            }),
            observed_at: d.observed_at,
            tags: d.tags,

            since: d.since,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::observation;
    use crate::domain::{
        AlertPolicy, Change, DatastoreStatus, ErrorCategory, ErrorCause, Reason, Scope, Severity,
        Transition,
    };
    use chrono::TimeZone;
    use serde_json::{Value, json};

    const APPEARED: &str = include_str!("../../../docs/examples/alert-document-v1-appeared.json");
    const CHANGED: &str = include_str!("../../../docs/examples/alert-document-v1-changed.json");
    const VANISHED: &str = include_str!("../../../docs/examples/alert-document-v1-vanished.json");

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 9, minute, 0)
            .single()
            .expect("a valid time")
    }

    fn alert(transition: Transition, version: u64, observed_at: DateTime<Utc>) -> Alert {
        let latest = transition.latest();
        let scope = Scope::new(latest.account.clone(), latest.region.clone());
        let decision = AlertPolicy::default()
            .classify(&transition)
            .expect("an alert");
        Alert::new(&scope, &transition, decision, version, observed_at)
    }

    /// The alerts the frozen documents were written from.
    fn appeared() -> Alert {
        let mut current = observation("a1", DatastoreStatus::parse("ARCHIVED"));
        current.name = "archive-2019".into();
        alert(Transition::Appeared { current }, 1, at(30))
    }

    fn changed() -> Alert {
        let mut previous = observation("c2", DatastoreStatus::Updating);
        previous.name = "claims-prod".into();
        let mut current = observation("c2", DatastoreStatus::UpdateFailed);
        current.name = "claims-prod".into();
        current.error_cause = Some(ErrorCause {
            message: "The customer managed KMS key is disabled: kms:Decrypt was denied.".into(),
            category: ErrorCategory::NonRetryable,
        });
        alert(Transition::Changed { previous, current }, 4, at(35))
    }

    fn vanished() -> Alert {
        let mut previous = observation("f3", DatastoreStatus::CreateFailed);
        previous.name = "imaging-test".into();
        previous.error_cause = Some(ErrorCause {
            message: "Internal error while creating the data store.".into(),
            category: ErrorCategory::Retryable,
        });
        alert(Transition::Vanished { previous }, 7, at(40))
    }

    fn parse(text: &str) -> AlertDocumentV1 {
        serde_json::from_str(text).expect("a v1 document parses")
    }

    #[test]
    fn a_v1_document_of_a_store_that_appeared_still_parses() {
        let document = parse(APPEARED);
        assert_eq!(document.schema, "healthlake-monitor/alert/v1");
        assert_eq!(
            document.subject,
            "[WARNING] HealthLake data store archive-2019 has unknown status ARCHIVED in us-east-1"
        );
        assert_eq!(
            document.id,
            "123456789012#us-east-1#000000000000000000000000000000a1#1"
        );
        assert_eq!(
            (
                document.severity.as_str(),
                document.reason.as_str(),
                document.change.as_str()
            ),
            ("warning", "unknown_status", "appeared")
        );
        assert_eq!(document.previous_status, None);
        assert_eq!(document.status.as_deref(), Some("ARCHIVED"));
        assert_eq!(document.error_cause, None);
        assert_eq!(document.observed_at, at(30));
        let alert = Alert::try_from(document).expect("an alert");
        assert_eq!(alert, appeared());
        assert_eq!(
            alert.status,
            Some(DatastoreStatus::Unrecognized("ARCHIVED".into()))
        );
    }

    #[test]
    fn a_v1_document_of_a_change_with_an_error_cause_still_parses() {
        let document = parse(CHANGED);
        assert_eq!(
            (
                document.severity.as_str(),
                document.reason.as_str(),
                document.change.as_str()
            ),
            ("critical", "failure", "changed")
        );
        assert_eq!(document.account, "123456789012");
        assert_eq!(document.region, "us-east-1");
        assert_eq!(document.datastore_id, "000000000000000000000000000000c2");
        assert_eq!(document.datastore_name, "claims-prod");
        assert_eq!(
            document.datastore_arn,
            "arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/000000000000000000000000000000c2"
        );
        assert_eq!(document.previous_status.as_deref(), Some("UPDATING"));
        assert_eq!(document.status.as_deref(), Some("UPDATE_FAILED"));
        assert_eq!(
            document.error_cause,
            Some(ErrorCauseV1 {
                message: "The customer managed KMS key is disabled: kms:Decrypt was denied.".into(),
                category: "NON_RETRYABLE_ERROR".into(),
            })
        );
        assert!(document.next_step.starts_with("Retrying will not help"));
        let alert = Alert::try_from(document).expect("an alert");
        assert_eq!(alert, changed());
        assert_eq!(alert.severity, Severity::Critical);
        assert_eq!(alert.reason, Reason::Failure);
    }

    #[test]
    fn a_v1_document_of_a_store_that_vanished_still_parses() {
        let document = parse(VANISHED);
        assert_eq!(
            (
                document.severity.as_str(),
                document.reason.as_str(),
                document.change.as_str()
            ),
            ("info", "recovery", "vanished")
        );
        assert_eq!(document.previous_status.as_deref(), Some("CREATE_FAILED"));
        assert_eq!(document.status, None);
        assert_eq!(
            document.error_cause.as_ref().map(|c| c.category.as_str()),
            Some("RETRYABLE_ERROR")
        );
        let alert = Alert::try_from(document).expect("an alert");
        assert_eq!(alert, vanished());
        assert_eq!(alert.change, Change::Vanished);
    }

    #[test]
    fn todays_alerts_write_the_frozen_documents_byte_for_byte() {
        for (frozen, alert) in [
            (APPEARED, appeared()),
            (CHANGED, changed()),
            (VANISHED, vanished()),
        ] {
            let written = serde_json::to_string_pretty(&AlertDocumentV1::from(&alert)).unwrap();
            assert_eq!(written + "\n", frozen);
        }
    }

    #[test]
    fn a_document_with_a_field_added_later_parses() {
        let mut value: Value = serde_json::from_str(CHANGED).unwrap();
        value["runbook_url"] = json!("https://runbooks.example/healthlake");
        value["error_cause"]["request_id"] = json!("2f1c");
        let document: AlertDocumentV1 = serde_json::from_value(value).unwrap();
        assert_eq!(Alert::try_from(document).unwrap(), changed());
    }

    #[test]
    fn a_bad_field_is_named_without_quoting_its_value() {
        // Not an id either: `#` is outside the model's pattern.
        let secret = "Patient Jane Doe #4711";
        for (field, expected) in [
            (
                "schema",
                "field schema: expected healthlake-monitor/alert/v1",
            ),
            (
                "severity",
                "field severity: expected one of info, warning, critical",
            ),
            (
                "reason",
                "field reason: expected one of failure, recovery, unknown_status, error_cause, status, \
                 stuck, unstuck, reminder",
            ),
            (
                "change",
                "field change: expected one of appeared, changed, vanished, unchanged",
            ),
            ("account", "field account: expected 12 digits"),
            (
                "region",
                "field region: expected a region name such as us-east-1",
            ),
            (
                "datastore_id",
                "field datastore_id: expected 1 to 32 letters, numbers, spaces or _.:/=+-%@",
            ),
        ] {
            let mut value: Value = serde_json::from_str(CHANGED).unwrap();
            value[field] = json!(secret);
            let document: AlertDocumentV1 = serde_json::from_value(value).unwrap();
            let error = Alert::try_from(document).unwrap_err();
            assert_eq!(error.field, field);
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn the_schema_id_is_version_1() {
        assert_eq!(SCHEMA_V1, "healthlake-monitor/alert/v1");
        assert_eq!(AlertDocumentV1::from(&changed()).schema, SCHEMA_V1);
    }
}
