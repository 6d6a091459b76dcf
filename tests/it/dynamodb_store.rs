//! The DynamoDB snapshot store against DynamoDB Local.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, TimeZone, Utc};
use integration_tests::fixtures::{create_snapshot_table, unique};
use integration_tests::services::{DynamoDbLocal, sdk_config};
use monitor_core::domain::{
    Alert, AlertPolicy, Claim, DatastoreId, DatastoreStatus, ErrorCategory, ErrorCause,
    Observation, Record, Region, Scope, Transition,
};
use monitor_core::fixtures::{observation, scope};
use monitor_core::memory::{MemoryPublisher, MemoryReader};
use monitor_core::ports::{SnapshotStore, StoreError};
use monitor_core::tick::{Monitor, Tick, TickSettings};
use monitor_dynamodb::DynamoDbStore;

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap() + Duration::minutes(minute)
}

fn record(observation: Observation, version: u64) -> Record {
    Record {
        last_changed: at(1),
        ..Record::new(observation, version, at(0))
    }
}

/// A table of its own on the shared DynamoDB Local.
struct Table {
    client: aws_sdk_dynamodb::Client,
    name: String,
}

impl Table {
    async fn new() -> Table {
        let db = DynamoDbLocal::shared().await.unwrap();
        let client = aws_sdk_dynamodb::Client::new(&sdk_config(&db.endpoint(), "us-east-1"));
        let name = unique("snapshot");
        create_snapshot_table(&client, &name).await.unwrap();
        Table { client, name }
    }

    fn store(&self) -> DynamoDbStore {
        DynamoDbStore::new(self.client.clone(), &self.name)
    }

    async fn item(&self, id: &DatastoreId) -> std::collections::HashMap<String, AttributeValue> {
        self.client
            .get_item()
            .table_name(&self.name)
            .key("pk", AttributeValue::S(scope().key()))
            .key("sk", AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("item exists")
    }
}

#[tokio::test]
async fn records_round_trip_with_error_cause_pending_alerts_and_claim() {
    let table = Table::new().await;
    let store = table.store();
    let mut failed = observation("1", DatastoreStatus::CreateFailed);
    failed.error_cause = Some(ErrorCause {
        message: "KMS key is disabled: kms:Decrypt denied".into(),
        category: ErrorCategory::NonRetryable,
    });
    let t = Transition::Appeared {
        current: failed.clone(),
    };
    let decision = AlertPolicy::default().classify(&t).unwrap();
    let mut r = record(failed, 1);
    r.owe(Alert::new(&scope(), &t, decision, 1, at(1)), at(1));
    r.claim = Some(Claim {
        owner: "request-1".into(),
        at: at(1),
    });
    store.put(&scope(), &r, None).await.unwrap();
    let active = record(observation("2", DatastoreStatus::Active), 4);
    store.put(&scope(), &active, None).await.unwrap();

    let loaded = store.load(&scope()).await.unwrap();
    assert_eq!(loaded.records.len(), 2);
    assert_eq!(loaded.records[&r.observation.id], r);
    assert_eq!(loaded.records[&active.observation.id], active);

    let item = table.item(&r.observation.id).await;
    assert_eq!(
        item["pk"],
        AttributeValue::S("123456789012#us-east-1".into())
    );
    assert_eq!(item["status"], AttributeValue::S("CREATE_FAILED".into()));
    assert_eq!(
        item["error_category"],
        AttributeValue::S("NON_RETRYABLE_ERROR".into())
    );
    assert_eq!(item["alert_state"], AttributeValue::S("claimed".into()));
    assert!(
        !item.contains_key("expires_at"),
        "only vanished stores expire"
    );

    let other = Scope::new(scope().account, Region::parse("eu-west-2").unwrap());
    assert!(store.load(&other).await.unwrap().records.is_empty());
}

#[tokio::test]
async fn writes_are_conditional_on_the_version() {
    let table = Table::new().await;
    let store = table.store();
    let r = record(observation("1", DatastoreStatus::Active), 1);
    store.put(&scope(), &r, None).await.unwrap();
    let again = store.put(&scope(), &r, None).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict { .. }), "{again}");
    let next = Record {
        version: 2,
        ..r.clone()
    };
    let stale = store.put(&scope(), &next, Some(7)).await.unwrap_err();
    assert!(matches!(stale, StoreError::Conflict { .. }), "{stale}");
    store.put(&scope(), &next, Some(1)).await.unwrap();
    assert_eq!(
        store.load(&scope()).await.unwrap().records[&r.observation.id].version,
        2
    );
}

#[tokio::test]
async fn vanished_stores_expire_once_nothing_is_owed() {
    let table = Table::new().await;
    let store = table.store().with_retention(Duration::days(7));
    let mut gone = record(observation("1", DatastoreStatus::Deleted), 1);
    gone.vanished_at = Some(at(10));
    store.put(&scope(), &gone, None).await.unwrap();
    let item = table.item(&gone.observation.id).await;
    assert_eq!(
        item["expires_at"],
        AttributeValue::N((at(10) + Duration::days(7)).timestamp().to_string())
    );

    let failed = observation("2", DatastoreStatus::CreateFailed);
    let t = Transition::Vanished {
        previous: failed.clone(),
    };
    let decision = AlertPolicy::default().classify(&t).unwrap();
    let mut owed = record(failed, 1);
    owed.vanished_at = Some(at(10));
    owed.owe(Alert::new(&scope(), &t, decision, 1, at(10)), at(10));
    store.put(&scope(), &owed, None).await.unwrap();
    assert!(
        !table
            .item(&owed.observation.id)
            .await
            .contains_key("expires_at")
    );
}

#[tokio::test]
async fn a_corrupt_item_is_reported_left_as_it_is_and_the_rest_of_its_region_scanned() {
    let table = Table::new().await;
    let store = table.store();
    let good = record(observation("1", DatastoreStatus::Active), 1);
    store.put(&scope(), &good, None).await.unwrap();
    let bad_id = observation("2", DatastoreStatus::Active).id;
    let put_raw = |sk: &str, version: AttributeValue| {
        table
            .client
            .put_item()
            .table_name(&table.name)
            .item("pk", AttributeValue::S(scope().key()))
            .item("sk", AttributeValue::S(sk.to_owned()))
            .item("version", version)
            .send()
    };
    // A hand-edited item, and a foreign one whose key is no data store id.
    put_raw(bad_id.as_str(), AttributeValue::S("three".into()))
        .await
        .unwrap();
    put_raw("notes: ops/runbook", AttributeValue::N("1".into()))
        .await
        .unwrap();
    let before = table.item(&bad_id).await;

    let loaded = store.load(&scope()).await.unwrap();
    assert_eq!(loaded.records.len(), 1);
    let reports: Vec<String> = loaded.unreadable.iter().map(ToString::to_string).collect();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(
        reports.iter().any(|r| r.contains(&table.name)
            && r.contains(bad_id.as_str())
            && r.contains("version")),
        "{reports:?}"
    );
    assert!(
        reports.iter().any(|r| r.contains("notes: ops/runbook")),
        "{reports:?}"
    );

    // A tick over that region still alerts on the other stores, reports the
    // bad items, and never writes over them.
    let reader = MemoryReader::default();
    reader.set(
        &scope(),
        vec![
            observation("2", DatastoreStatus::CreateFailed),
            observation("3", DatastoreStatus::CreateFailed),
        ],
    );
    let publisher = MemoryPublisher::default();
    let monitor = Monitor::new(&reader, &store, &publisher, TickSettings::default());
    let tick = Tick {
        owner: "t".into(),
        now: at(20),
    };
    let report = monitor.tick(&[scope()], &tick).await;
    let sent: Vec<_> = publisher
        .sent()
        .iter()
        .map(|a| a.datastore_id.clone())
        .collect();
    assert_eq!(sent, vec![observation("3", DatastoreStatus::Active).id]);
    let problems = report.problems();
    assert!(
        problems
            .iter()
            .any(|p| p.contains(bad_id.as_str()) && p.contains(&table.name)),
        "{problems:?}"
    );
    assert_eq!(table.item(&bad_id).await, before);
}

#[tokio::test]
async fn a_record_owing_all_it_can_fits_in_a_dynamodb_item() {
    let table = Table::new().await;
    let store = table.store();
    // The largest an ErrorCause can be: 4,096 characters of 4-byte UTF-8.
    let mut failed = observation("1", DatastoreStatus::CreateFailed);
    failed.name = "🩺".repeat(256);
    failed.error_cause = Some(ErrorCause {
        message: "🩺".repeat(4096),
        category: ErrorCategory::NonRetryable,
    });
    let t = Transition::Appeared {
        current: failed.clone(),
    };
    let decision = AlertPolicy::default().classify(&t).unwrap();
    let mut r = record(failed, 1);
    for n in
        0..(monitor_core::domain::MAX_PENDING + monitor_core::domain::MAX_UNDELIVERABLE + 5) as u64
    {
        r.owe(Alert::new(&scope(), &t, decision, n, at(1)), at(1));
    }
    for p in &mut r.pending {
        p.attempts = 7;
        p.last_error = Some(monitor_core::domain::snapshot::bounded_reason(
            &"🩺".repeat(10_000),
        ));
    }
    assert_eq!(r.pending.len(), monitor_core::domain::MAX_PENDING);
    assert_eq!(
        r.undeliverable.len(),
        monitor_core::domain::MAX_UNDELIVERABLE
    );
    store.put(&scope(), &r, None).await.unwrap();
    let loaded = store.load(&scope()).await.unwrap();
    assert_eq!(loaded.records[&r.observation.id], r);
}

/// `pending_alerts` and `undeliverable_alerts` as the store wrote them before
/// stored values were numbered.
const PENDING_V1: &str =
    include_str!("../../shared/monitor-core/tests/fixtures/pending-alerts-v1.json");
const UNDELIVERABLE_V1: &str =
    include_str!("../../shared/monitor-core/tests/fixtures/undeliverable-alerts-v1.json");

#[tokio::test]
async fn alerts_stored_before_formats_were_numbered_read_and_a_newer_format_is_corrupt() {
    let table = Table::new().await;
    let store = table.store();
    let old = record(observation("1", DatastoreStatus::CreateFailed), 1);
    let new = record(observation("2", DatastoreStatus::CreateFailed), 1);
    let mut newer: Vec<serde_json::Value> = serde_json::from_str(PENDING_V1).unwrap();
    newer[1]["format"] = serde_json::json!(2);
    let newer = serde_json::Value::from(newer).to_string();
    for (r, pending) in [(&old, PENDING_V1), (&new, newer.as_str())] {
        store.put(&scope(), r, None).await.unwrap();
        table
            .client
            .update_item()
            .table_name(&table.name)
            .key("pk", AttributeValue::S(scope().key()))
            .key("sk", AttributeValue::S(r.observation.id.to_string()))
            .update_expression("SET pending_alerts = :p, undeliverable_alerts = :u")
            .expression_attribute_values(":p", AttributeValue::S(pending.into()))
            .expression_attribute_values(":u", AttributeValue::S(UNDELIVERABLE_V1.into()))
            .send()
            .await
            .unwrap();
    }
    let before = table.item(&new.observation.id).await;

    let loaded = store.load(&scope()).await.unwrap();
    let read = &loaded.records[&old.observation.id];
    assert_eq!(
        read.pending
            .iter()
            .map(|p| (p.alert.id.as_str(), p.attempts, p.last_error.is_some()))
            .collect::<Vec<_>>(),
        vec![
            (
                "123456789012#us-east-1#000000000000000000000000000000f3#7",
                0,
                false
            ),
            (
                "123456789012#us-east-1#000000000000000000000000000000a1#1",
                1,
                true
            ),
        ]
    );
    assert_eq!(read.undeliverable[0].alert.datastore_name, "claims-prod");

    assert!(!loaded.records.contains_key(&new.observation.id));
    let reports: Vec<String> = loaded.unreadable.iter().map(ToString::to_string).collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].contains(new.observation.id.as_str())
            && reports[0].contains("attribute pending_alerts: format 2 is newer"),
        "{reports:?}"
    );
    assert_eq!(
        table.item(&new.observation.id).await,
        before,
        "left as it is"
    );

    // What the store writes back is read by this version and carries its format.
    let mut next = read.clone();
    next.version = 2;
    store.put(&scope(), &next, Some(1)).await.unwrap();
    let item = table.item(&old.observation.id).await;
    let written: Vec<serde_json::Value> =
        serde_json::from_str(item["pending_alerts"].as_s().unwrap()).unwrap();
    assert!(written.iter().all(|p| p["format"] == 1), "{written:?}");
    assert_eq!(
        store.load(&scope()).await.unwrap().records[&old.observation.id],
        next
    );
}

/// The table's store, whose loads wait for each other: two ticks both read
/// the snapshot from DynamoDB Local before either writes, so their
/// conditional writes really race.
struct LoadTogether {
    inner: DynamoDbStore,
    loaded: tokio::sync::Barrier,
}

impl SnapshotStore for LoadTogether {
    async fn load(&self, scope: &Scope) -> Result<monitor_core::domain::ScopeSnapshot, StoreError> {
        let snapshot = self.inner.load(scope).await;
        self.loaded.wait().await;
        snapshot
    }
    async fn put(
        &self,
        scope: &Scope,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        self.inner.put(scope, record, expected).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_ticks_warn_of_a_stuck_store_and_remind_of_a_failed_one_once() {
    let table = Table::new().await;
    let reader = MemoryReader::default();
    let mut slow = observation("1", DatastoreStatus::Creating);
    slow.created_at = Some(at(0));
    let failed = observation("2", DatastoreStatus::CreateFailed);
    reader.set(&scope(), vec![slow.clone(), failed.clone()]);
    let publisher = MemoryPublisher::default();
    let settings = TickSettings {
        policy: AlertPolicy {
            failed_reminder: Some(Duration::hours(6)),
            ..AlertPolicy::default()
        },
        ..TickSettings::default()
    };
    let tick = |owner: &str, minute: i64| Tick {
        owner: owner.into(),
        now: at(minute),
    };
    Monitor::new(&reader, table.store(), &publisher, settings.clone())
        .tick(&[scope()], &tick("t0", 0))
        .await;
    assert_eq!(publisher.sent().len(), 1, "the failure");

    // Six hours on, both are due: the creation is stuck, the failure is reminded of.
    let racing = LoadTogether {
        inner: table.store(),
        loaded: tokio::sync::Barrier::new(2),
    };
    let monitor = Monitor::new(&reader, &racing, &publisher, settings);
    let (a, b) = (tick("t1", 360), tick("t2", 360));
    let scopes = [scope()];
    let (first, second) = tokio::join!(monitor.tick(&scopes, &a), monitor.tick(&scopes, &b));
    let mut reasons: Vec<&str> = publisher.sent().iter().map(|a| a.reason.as_str()).collect();
    reasons.sort_unstable();
    assert_eq!(
        reasons,
        vec!["failure", "reminder", "stuck"],
        "{:?} {:?}",
        first.problems(),
        second.problems()
    );
    let left = |r: &monitor_core::tick::TickReport| {
        r.reports().map(|(_, s)| s.left_to_others).sum::<usize>()
    };
    assert_eq!(
        left(&first) + left(&second),
        2,
        "the loser leaves both records alone"
    );
    let slow_item = table.item(&slow.id).await;
    assert!(slow_item.contains_key("stuck_warned_at"), "{slow_item:?}");
    assert_eq!(slow_item["alert_state"], AttributeValue::S("none".into()));
    let failed_item = table.item(&failed.id).await;
    assert_eq!(
        failed_item["reminded_at"],
        AttributeValue::S(at(360).to_rfc3339())
    );
}

#[tokio::test]
async fn an_item_written_before_stays_were_kept_reads_as_in_its_status_since_its_last_change() {
    let table = Table::new().await;
    let store = table.store();
    let mut creating = observation("1", DatastoreStatus::Creating);
    creating.created_at = Some(at(-30));
    let failed = observation("2", DatastoreStatus::CreateFailed);
    for o in [&creating, &failed] {
        let mut r = record(o.clone(), 1);
        r.stuck_warned_at = Some(at(2));
        store.put(&scope(), &r, None).await.unwrap();
        table
            .client
            .update_item()
            .table_name(&table.name)
            .key("pk", AttributeValue::S(scope().key()))
            .key("sk", AttributeValue::S(o.id.to_string()))
            .update_expression("REMOVE status_since, stuck_warned_at, reminded_at")
            .send()
            .await
            .unwrap();
    }
    let loaded = store.load(&scope()).await.unwrap();
    assert!(loaded.unreadable.is_empty(), "{:?}", loaded.unreadable);
    let creating = &loaded.records[&creating.id];
    assert_eq!(creating.status_since, at(-30), "HealthLake's creation time");
    assert_eq!(creating.stuck_warned_at, None);
    let failed = &loaded.records[&failed.id];
    assert_eq!(failed.status_since, at(1), "its last change");
    assert_eq!(failed.reminded_at, None);

    // A time that does not parse is named, and the item left as it is.
    table
        .client
        .update_item()
        .table_name(&table.name)
        .key("pk", AttributeValue::S(scope().key()))
        .key("sk", AttributeValue::S(failed.observation.id.to_string()))
        .update_expression("SET reminded_at = :t")
        .expression_attribute_values(":t", AttributeValue::S("yesterday".into()))
        .send()
        .await
        .unwrap();
    let loaded = store.load(&scope()).await.unwrap();
    assert_eq!(loaded.unreadable.len(), 1);
    assert!(
        loaded.unreadable[0]
            .reason
            .starts_with("attribute reminded_at is not an RFC 3339 time"),
        "{:?}",
        loaded.unreadable
    );
}
