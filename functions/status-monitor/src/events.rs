//! The fast path: HealthLake's EventBridge events.
//!
//! HealthLake puts an event on the default bus of the store's account and
//! region when a data store is creating, active, failed to create, deleting or
//! deleted (source `aws.healthlake`). The detail names the store but carries
//! neither its status nor its ErrorCause, so the store is described, and the
//! result goes through the same record, claim and publish steps as a scan:
//! the alert goes out within seconds, and the next scan finds nothing new.
//!
//! The scheduled scan stays the source of truth. An event never removes a
//! store from the snapshot; an event that is lost, rejected or cannot be
//! handled is caught by the next scan. So an event is never retried: an
//! invocation for an event always succeeds, and what went wrong is logged by
//! the event's id (never its payload) and counted in the metrics.

use crate::StatusMonitor;
use monitor_core::domain::{AccountId, DatastoreId, Region, Scope};
use monitor_core::metrics::{EventHandling, emf_event_record};
use monitor_core::tick::Tick;
use serde_json::{Value, json};
use tracing::{error, info, warn};

/// The source of HealthLake's events.
pub const SOURCE: &str = "aws.healthlake";

/// The detail-types HealthLake documents for data stores (none exists for
/// updates: an update failure is found by the scan).
pub const DETAIL_TYPES: [&str; 5] = [
    "Data Store Creating",
    "Data Store Creation Failed",
    "Data Store Active",
    "Data Store Deleting",
    "Data Store Deleted",
];

/// The longest event id or detail-type repeated in a log line or an answer.
const MAX_SHOWN_CHARS: usize = 128;

/// One data store event, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatastoreEvent {
    pub id: String,
    pub detail_type: String,
    pub scope: Scope,
    pub datastore: DatastoreId,
}

/// What an invocation's payload is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A HealthLake data store event.
    Datastore(DatastoreEvent),
    /// A HealthLake event that cannot be handled: the reason names the field.
    Rejected { id: String, reason: String },
    /// Anything else (a schedule, a manual invocation): a tick.
    Tick,
}

/// Tells a HealthLake event from a tick's trigger, and reads it.
pub fn route(payload: &Value) -> Route {
    if payload.get("source").and_then(Value::as_str) != Some(SOURCE) {
        return Route::Tick;
    }
    let id = shown(payload.get("id").and_then(Value::as_str).unwrap_or("none"));
    match read(payload, &id) {
        Ok(event) => Route::Datastore(event),
        Err(reason) => Route::Rejected { id, reason },
    }
}

fn read(payload: &Value, id: &str) -> Result<DatastoreEvent, String> {
    let text = |field: &str| {
        payload
            .get(field)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{field} is missing or not a string"))
    };
    let detail_type = text("detail-type")?;
    if !DETAIL_TYPES.contains(&detail_type) {
        return Err(format!(
            "detail-type {:?} is not a data store event this monitor handles",
            shown(detail_type)
        ));
    }
    let account = AccountId::parse(text("account")?).map_err(|e| format!("account: {e}"))?;
    let region = Region::parse(text("region")?).map_err(|e| format!("region: {e}"))?;
    let datastore = payload
        .get("detail")
        .and_then(|d| d.get("datastoreId"))
        .and_then(Value::as_str)
        .ok_or("detail.datastoreId is missing or not a string")?;
    let datastore =
        DatastoreId::parse(datastore).map_err(|e| format!("detail.datastoreId: {e}"))?;
    Ok(DatastoreEvent {
        id: id.to_owned(),
        detail_type: detail_type.to_owned(),
        scope: Scope::new(account, region),
        datastore,
    })
}

fn shown(text: &str) -> String {
    text.chars().take(MAX_SHOWN_CHARS).collect()
}

/// Logs and counts an event that cannot be handled; the answer says why.
pub fn reject(app: &StatusMonitor, id: &str, reason: &str) -> Value {
    warn!(event_id = id, reason, "event rejected");
    emit(app, EventHandling::Rejected);
    json!({ "event": { "id": id, "rejected": reason } })
}

/// Describes the event's store and records what it shows, if the event's
/// account and region are among those monitored.
pub async fn handle(
    app: &StatusMonitor,
    event: DatastoreEvent,
    own: &AccountId,
    request_id: &str,
) -> Value {
    let DatastoreEvent {
        id,
        scope,
        datastore,
        ..
    } = &event;
    if !app.regions.contains(&scope.region) {
        return reject(
            app,
            id,
            &format!("region {} is not monitored", scope.region),
        );
    }
    let targets = match monitor_organizations::targets(
        &app.accounts,
        own,
        app.organizations.as_ref(),
    )
    .await
    {
        Ok(targets) => targets,
        Err(e) => {
            error!(event_id = %id, error = %e, "accounts not listed; the next scan will see the store");
            emit(app, EventHandling::NotObserved);
            return json!({ "event": { "id": id, "observed": false } });
        }
    };
    let Some(target) = targets.iter().find(|t| t.account == scope.account) else {
        return reject(
            app,
            id,
            &format!("account {} is not monitored", scope.account),
        );
    };
    app.monitor
        .reader()
        .reach(std::slice::from_ref(target))
        .await;
    let tick = Tick {
        owner: request_id.to_owned(),
        now: chrono::Utc::now(),
    };
    info!(event_id = %id, detail_type = %event.detail_type, scope = %scope, datastore = %datastore, "event");
    match app
        .monitor
        .observe(scope, datastore, &tick, target.name.as_deref())
        .await
    {
        Ok(report) => {
            emit(app, EventHandling::Observed(&report));
            for (alert, e) in &report.failed {
                warn!(event_id = %id, alert_id = %alert.id, error = %e.message, "alert not sent; it stays pending");
            }
            for store_error in &report.store_errors {
                error!(event_id = %id, error = %store_error, "record not written");
            }
            json!({ "event": {
                "id": id,
                "observed": true,
                "scope": scope.key(),
                "datastore": datastore.as_str(),
                "found": !report.observations.is_empty(),
                "transitions": report.transitions.len(),
                "alerts_published": report.published.len(),
                "alerts_failed": report.failed.len(),
            }})
        }
        Err(e) => {
            error!(event_id = %id, error = %e, "store not observed; the next scan will see it");
            emit(app, EventHandling::NotObserved);
            json!({ "event": { "id": id, "observed": false } })
        }
    }
}

fn emit(app: &StatusMonitor, handling: EventHandling<'_>) {
    let now = chrono::Utc::now().timestamp_millis();
    println!(
        "{}",
        emf_event_record(&app.metrics_namespace, now, handling)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(detail_type: &str, detail: Value) -> Value {
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": detail_type,
            "source": "aws.healthlake",
            "account": "111122223333",
            "time": "2026-11-26T10:00:00Z",
            "region": "us-east-1",
            "resources": ["arn:aws:healthlake:us-east-1:111122223333:datastore/fhir/b6f3"],
            "detail": detail,
        })
    }

    #[test]
    fn a_creation_failure_event_names_its_store_and_scope() {
        let payload = event(
            "Data Store Creation Failed",
            json!({"datastoreId": "b6f3", "datastoreName": "patients", "datastoreTypeVersion": "R4"}),
        );
        let Route::Datastore(read) = route(&payload) else {
            panic!("{:?}", route(&payload));
        };
        assert_eq!(read.datastore.as_str(), "b6f3");
        assert_eq!(read.scope.key(), "111122223333#us-east-1");
        assert_eq!(read.id, "6a7e8feb-b491-4cf7-a9f1-bf3703467718");
    }

    #[test]
    fn schedules_and_manual_invocations_are_ticks() {
        for payload in [
            json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}),
            json!({}),
            json!("tick"),
            Value::Null,
        ] {
            assert_eq!(route(&payload), Route::Tick, "{payload}");
        }
    }

    #[test]
    fn a_healthlake_event_that_cannot_be_read_is_rejected_naming_the_field() {
        let cases = [
            (
                event("Data Store Exploded", json!({"datastoreId": "b6f3"})),
                "detail-type \"Data Store Exploded\"",
            ),
            (
                event("Data Store Active", json!({})),
                "detail.datastoreId is missing",
            ),
            (
                event("Data Store Active", json!({"datastoreId": 42})),
                "detail.datastoreId is missing",
            ),
            (
                event("Data Store Active", json!({"datastoreId": "a".repeat(33)})),
                "detail.datastoreId:",
            ),
            (
                {
                    let mut e = event("Data Store Active", json!({"datastoreId": "b6f3"}));
                    e["account"] = json!("12345");
                    e
                },
                "account:",
            ),
            (
                {
                    let mut e = event("Data Store Active", json!({"datastoreId": "b6f3"}));
                    e["region"] = json!(7);
                    e
                },
                "region is missing or not a string",
            ),
        ];
        for (payload, expected) in cases {
            match route(&payload) {
                Route::Rejected { id, reason } => {
                    assert_eq!(id, "6a7e8feb-b491-4cf7-a9f1-bf3703467718");
                    assert!(
                        reason.contains(expected),
                        "{reason:?} should contain {expected:?}"
                    );
                }
                other => panic!("{payload}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_long_event_id_is_cut_in_what_is_logged() {
        let mut payload = event("Data Store Exploded", json!({}));
        payload["id"] = json!("x".repeat(10_000));
        let Route::Rejected { id, .. } = route(&payload) else {
            panic!("rejected");
        };
        assert_eq!(id.chars().count(), MAX_SHOWN_CHARS);
    }
}
