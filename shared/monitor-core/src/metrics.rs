//! CloudWatch Embedded Metric Format records of a tick.
//!
//! Each record is one JSON line on stdout; CloudWatch Logs turns it into
//! metrics. Per the EMF specification every dimension and metric named under
//! `_aws.CloudWatchMetrics` is also a top-level member, with at most 100
//! metrics per record and 30 dimensions per set.

use crate::tick::{ScopeReport, TickReport};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

pub const DEFAULT_NAMESPACE: &str = "HealthLakeMonitor";

/// Builds the records of one tick: one per (region, status) pair for the
/// `Datastores` gauge, and one with the tick's totals.
///
/// `FailedDatastores` is a figure about the whole fleet, so it is written only
/// when every scope was scanned: a region that could not be listed must not
/// read as a region whose failures cleared (the alarm on it would flap to OK).
pub fn emf_records(report: &TickReport, namespace: &str, timestamp_ms: i64) -> Vec<Value> {
    let mut by_status: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut failed_stores = 0u64;
    let mut count = Counts::default();
    for (scope, result) in &report.scopes {
        match result {
            Ok(r) => {
                for o in &r.observations {
                    *by_status
                        .entry((scope.region.to_string(), o.status.to_string()))
                        .or_default() += 1;
                    failed_stores += u64::from(o.status.is_failed());
                }
                count.transitions += r.transitions.len();
                count.published += r.published.len();
                count.failed += r.failed.len();
                count.undeliverable += r.undeliverable.len();
                count.corrupt += r.unreadable_snapshot.len();
                count.scan_errors += r.store_errors.len() + r.unreadable_listing.len();
            }
            // Counted once per account in AccountsNotScanned, with its own alarm.
            Err(crate::tick::ScanError::Read(e))
                if e.kind == crate::ports::ReadErrorKind::RoleNotAssumed => {}
            Err(_) => count.scan_errors += 1,
        }
    }

    let mut records: Vec<Value> = by_status
        .into_iter()
        .map(|((region, status), count)| {
            record(
                namespace,
                timestamp_ms,
                &[("Region", region.as_str()), ("Status", status.as_str())],
                &[("Datastores", "Count", count as f64)],
            )
        })
        .collect();
    let mut totals = vec![("Scans", "Count", 1.0)];
    if report.all_scanned() {
        totals.push(("FailedDatastores", "Count", failed_stores as f64));
    }
    totals.extend([
        ("Transitions", "Count", count.transitions as f64),
        ("AlertsPublished", "Count", count.published as f64),
        ("AlertsFailed", "Count", count.failed as f64),
        ("AlertsUndeliverable", "Count", count.undeliverable as f64),
        ("CorruptSnapshotItems", "Count", count.corrupt as f64),
        ("ScanErrors", "Count", count.scan_errors as f64),
        ("AccountsScanned", "Count", report.accounts_scanned() as f64),
        (
            "AccountsNotScanned",
            "Count",
            report.accounts_not_assumed().len() as f64,
        ),
        (
            "ScanDuration",
            "Milliseconds",
            report.duration.as_secs_f64() * 1000.0,
        ),
    ]);
    records.push(record(namespace, timestamp_ms, &[], &totals));
    records
}

/// What the fast path did with one event.
#[derive(Debug, Clone, Copy)]
pub enum EventHandling<'a> {
    /// Its store was described and run through the record and publish steps.
    Observed(&'a ScopeReport),
    /// Its store could not be described or its snapshot read: the next scan
    /// will see what the event announced.
    NotObserved,
    /// Malformed, of a kind the monitor does not handle, or of an account or
    /// region it does not monitor: logged by its id, never retried.
    Rejected,
}

/// The record of one event of the fast path: `Events` (always 1),
/// `EventsNotObserved`, `EventsRejected`, and the alert counts of its store.
/// It carries no `Scans` and no `FailedDatastores`: an event sees one store,
/// not the fleet, and the alarm that watches for ticks must not count it.
pub fn emf_event_record(namespace: &str, timestamp_ms: i64, handling: EventHandling<'_>) -> Value {
    let (transitions, published, failed, undeliverable) = match handling {
        EventHandling::Observed(r) => (
            r.transitions.len(),
            r.published.len(),
            r.failed.len(),
            r.undeliverable.len(),
        ),
        _ => (0, 0, 0, 0),
    };
    let flag = |yes: bool| if yes { 1.0 } else { 0.0 };
    record(
        namespace,
        timestamp_ms,
        &[],
        &[
            ("Events", "Count", 1.0),
            (
                "EventsNotObserved",
                "Count",
                flag(matches!(handling, EventHandling::NotObserved)),
            ),
            (
                "EventsRejected",
                "Count",
                flag(matches!(handling, EventHandling::Rejected)),
            ),
            ("Transitions", "Count", transitions as f64),
            ("AlertsPublished", "Count", published as f64),
            ("AlertsFailed", "Count", failed as f64),
            ("AlertsUndeliverable", "Count", undeliverable as f64),
        ],
    )
}

#[derive(Default)]
struct Counts {
    transitions: usize,
    published: usize,
    failed: usize,
    undeliverable: usize,
    corrupt: usize,
    scan_errors: usize,
}

fn record(
    namespace: &str,
    timestamp_ms: i64,
    dimensions: &[(&str, &str)],
    metrics: &[(&str, &str, f64)],
) -> Value {
    let names: Vec<&str> = dimensions.iter().map(|(k, _)| *k).collect();
    let mut root = Map::new();
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [names],
                "Metrics": metrics.iter().map(|(n, unit, _)| json!({"Name": n, "Unit": unit})).collect::<Vec<_>>(),
            }],
        }),
    );
    for (k, v) in dimensions {
        root.insert((*k).into(), json!(v));
    }
    for (name, _, value) in metrics {
        root.insert((*name).into(), json!(value));
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::observation;
    use crate::domain::{AccountId, DatastoreStatus, Region, Scope};
    use crate::tick::{ScopeReport, TickReport};

    #[test]
    fn an_events_record_counts_the_event_and_its_alerts_never_a_scan() {
        let o = observation("a", DatastoreStatus::CreateFailed);
        let report = ScopeReport {
            observations: vec![o],
            ..ScopeReport::default()
        };
        let observed = emf_event_record("NS", 1, EventHandling::Observed(&report));
        let rejected = emf_event_record("NS", 1, EventHandling::Rejected);
        let missed = emf_event_record("NS", 1, EventHandling::NotObserved);
        for record in [&observed, &rejected, &missed] {
            assert_valid_emf(record);
            assert_eq!(record["Events"], 1.0);
            assert!(record.get("Scans").is_none(), "{record}");
            assert!(record.get("FailedDatastores").is_none(), "{record}");
        }
        assert_eq!(
            (
                observed["EventsRejected"].as_f64(),
                observed["EventsNotObserved"].as_f64()
            ),
            (Some(0.0), Some(0.0))
        );
        assert_eq!(rejected["EventsRejected"], 1.0);
        assert_eq!(missed["EventsNotObserved"], 1.0);
    }

    /// Checks a record against the EMF specification's rules.
    fn assert_valid_emf(record: &Value) {
        let aws = &record["_aws"];
        assert!(
            aws["Timestamp"].is_i64(),
            "Timestamp must be epoch milliseconds"
        );
        let directives = aws["CloudWatchMetrics"]
            .as_array()
            .expect("CloudWatchMetrics array");
        for d in directives {
            assert!(
                d["Namespace"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty() && n.len() <= 256)
            );
            for set in d["Dimensions"].as_array().expect("Dimensions") {
                let set = set.as_array().expect("a dimension set");
                assert!(set.len() <= 30);
                for dim in set {
                    assert!(
                        record[dim.as_str().unwrap()].is_string(),
                        "dimension {dim} must be a top-level string"
                    );
                }
            }
            let metrics = d["Metrics"].as_array().expect("Metrics");
            assert!(metrics.len() <= 100);
            for m in metrics {
                let name = m["Name"].as_str().unwrap();
                assert!(
                    record[name].is_number(),
                    "metric {name} must be a top-level number"
                );
            }
        }
    }

    #[test]
    fn records_follow_the_specification_and_count_by_region_and_status() {
        let scope = |r: &str| {
            Scope::new(
                AccountId::parse("123456789012").unwrap(),
                Region::parse(r).unwrap(),
            )
        };
        let east = ScopeReport {
            observations: vec![
                observation("a", DatastoreStatus::Active),
                observation("b", DatastoreStatus::Active),
                observation("c", DatastoreStatus::CreateFailed),
            ],
            ..ScopeReport::default()
        };
        let report = TickReport {
            scopes: vec![
                (scope("us-east-1"), Ok(east)),
                (
                    scope("us-west-2"),
                    Err(crate::tick::ScanError::Read(crate::ports::ReadError {
                        scope: scope("us-west-2"),
                        kind: crate::ports::ReadErrorKind::Throttled,
                        message: "Rate exceeded".into(),
                    })),
                ),
            ],
            duration: std::time::Duration::from_millis(1500),
        };
        let records = emf_records(&report, DEFAULT_NAMESPACE, 1_700_000_000_000);
        records.iter().for_each(assert_valid_emf);
        assert_eq!(records.len(), 3);
        assert_eq!(records[0]["Status"], "ACTIVE");
        assert_eq!(records[0]["Datastores"], 2.0);
        assert_eq!(records[1]["Status"], "CREATE_FAILED");
        let totals = &records[2];
        assert_eq!(totals["ScanErrors"], 1.0);
        assert_eq!(totals["AlertsUndeliverable"], 0.0);
        assert_eq!(totals["ScanDuration"], 1500.0);
        // us-west-2 was not listed: no fleet-wide failed-store figure this tick.
        assert!(totals.get("FailedDatastores").is_none(), "{totals}");

        let all_scanned = TickReport {
            scopes: report.scopes.into_iter().take(1).collect(),
            duration: report.duration,
        };
        let records = emf_records(&all_scanned, DEFAULT_NAMESPACE, 1_700_000_000_000);
        let totals = records.last().unwrap();
        assert_valid_emf(totals);
        assert_eq!(totals["FailedDatastores"], 1.0);
        assert_eq!(totals["ScanErrors"], 0.0);
        assert_eq!(
            totals["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([[]])
        );
    }

    #[test]
    fn an_account_whose_role_is_refused_counts_once_and_not_as_scan_errors() {
        let scope =
            |a: &str, r: &str| Scope::new(AccountId::parse(a).unwrap(), Region::parse(r).unwrap());
        let refused = |s: Scope| {
            let error = crate::ports::ReadError {
                scope: s.clone(),
                kind: crate::ports::ReadErrorKind::RoleNotAssumed,
                message: "role arn:aws:iam::222222222222:role/r could not be assumed: AccessDenied"
                    .into(),
            };
            (s, Err(crate::tick::ScanError::Read(error)))
        };
        let report = TickReport {
            scopes: vec![
                (
                    scope("111111111111", "us-east-1"),
                    Ok(ScopeReport::default()),
                ),
                (
                    scope("111111111111", "eu-west-1"),
                    Ok(ScopeReport::default()),
                ),
                refused(scope("222222222222", "us-east-1")),
                refused(scope("222222222222", "eu-west-1")),
            ],
            duration: std::time::Duration::from_millis(10),
        };
        let totals = emf_records(&report, DEFAULT_NAMESPACE, 0).pop().unwrap();
        assert_valid_emf(&totals);
        assert_eq!(totals["AccountsScanned"], 1.0);
        assert_eq!(totals["AccountsNotScanned"], 1.0);
        assert_eq!(totals["ScanErrors"], 0.0);
        assert!(totals.get("FailedDatastores").is_none(), "{totals}");

        let problems = report.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("account 222222222222: role arn:aws:iam::222222222222:role/r")
                && problems[0].contains("2 region(s) (us-east-1, eu-west-1)")
                && problems[0].contains("left as they are"),
            "{}",
            problems[0]
        );
    }
}
