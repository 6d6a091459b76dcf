//! Hostile inputs through the paths that read them: snapshot items, SNS
//! messages and events the Slack notifier receives, and data stores whose
//! names, statuses and error causes are as odd as AWS allows. Each is either
//! handled or refused with an error that names what was wrong, never a panic,
//! and no error quotes the input (it may hold anything).

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use integration_tests::services::sdk_config;
use monitor_core::document::SCHEMA_V1;
use monitor_core::domain::{DatastoreId, DatastoreStatus, ErrorCategory, ErrorCause, Observation};
use monitor_core::fixtures::{observation, scope};
use monitor_core::memory::{MemoryPublisher, MemoryReader, MemoryStore};
use monitor_core::ports::StoreError;
use monitor_core::render;
use monitor_core::tick::{Monitor, Tick, TickSettings};
use monitor_dynamodb::{DynamoDbStore, Item};
use serde_json::{Value, json};
use slack_notifier::decode::{self, Notification};

/// A marker placed in hostile inputs: an error that repeats it quotes its input.
const MARKER: &str = "Z9-QUOTED-INPUT";

fn item(pairs: &[(&str, AttributeValue)]) -> Item {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: &str) -> AttributeValue {
    AttributeValue::N(v.to_owned())
}

/// A well-formed item, as the store writes it.
fn good_item() -> Item {
    item(&[
        ("pk", s(&scope().key())),
        (
            "sk",
            s(observation("1", DatastoreStatus::Active).id.as_str()),
        ),
        ("version", n("3")),
        ("status", s("ACTIVE")),
        ("name", s("patients")),
        (
            "arn",
            s("arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/1"),
        ),
        ("type_version", s("R4")),
        (
            "endpoint",
            s("https://healthlake.us-east-1.amazonaws.com/datastore/1/r4/"),
        ),
        ("first_seen", s("2026-11-26T09:00:00Z")),
        ("last_changed", s("2026-11-26T09:05:00Z")),
        ("alert_state", s("none")),
    ])
}

/// Items a person, another tool or another version could leave under a
/// scope's key, each with a word its report must contain.
fn hostile_items() -> Vec<(&'static str, Item, &'static str)> {
    let with = |changes: &[(&str, Option<AttributeValue>)]| {
        let mut i = good_item();
        for (k, v) in changes {
            match v {
                Some(v) => i.insert((*k).to_owned(), v.clone()),
                None => i.remove(*k),
            };
        }
        i
    };
    let marker = format!("[{MARKER}");
    vec![
        (
            "version as text",
            with(&[("version", Some(s("three")))]),
            "version",
        ),
        (
            "negative version",
            with(&[("version", Some(n("-1")))]),
            "version",
        ),
        (
            "huge version",
            with(&[("version", Some(n("1e400")))]),
            "version",
        ),
        ("no status", with(&[("status", None)]), "status"),
        ("name as a number", with(&[("name", Some(n("7")))]), "name"),
        (
            "time not RFC 3339",
            with(&[("first_seen", Some(s(&marker)))]),
            "first_seen",
        ),
        (
            "half an ErrorCause",
            with(&[("error_message", Some(s("x")))]),
            "error_category",
        ),
        (
            "truncated pending alerts",
            with(&[("pending_alerts", Some(s(&format!("[{{\"id\": \"{MARKER}"))))]),
            "pending_alerts",
        ),
        (
            "pending alerts of the wrong type",
            with(&[("pending_alerts", Some(s("{\"id\": 5}")))]),
            "pending_alerts",
        ),
        (
            "pending alerts of a newer format",
            with(&[(
                "pending_alerts",
                Some(s(&format!("[{{\"format\": 2, \"id\": \"{MARKER}\"}}]"))),
            )]),
            "format 2",
        ),
        (
            "undeliverable alerts not a list",
            with(&[("undeliverable_alerts", Some(s("42")))]),
            "undeliverable_alerts",
        ),
        (
            "claim without its time",
            with(&[("claim_owner", Some(s("r-1")))]),
            "claim",
        ),
        (
            "id of the wrong shape",
            with(&[("sk", Some(s("a#b/c")))]),
            "data store id",
        ),
        (
            "another scope's key",
            with(&[("pk", Some(s("210987654321#eu-west-2")))]),
            "pk",
        ),
        (
            "only a key",
            item(&[("pk", s(&scope().key())), ("sk", s("1"))]),
            "version",
        ),
        (
            "key of the wrong type",
            with(&[("sk", Some(AttributeValue::Bool(true)))]),
            "sk",
        ),
    ]
}

#[test]
fn every_hostile_snapshot_item_is_refused_by_name_and_a_good_one_read() {
    let client = aws_sdk_dynamodb::Client::new(&sdk_config("http://127.0.0.1:9", "us-east-1"));
    let store = DynamoDbStore::new(client, "snapshot");
    let record = store
        .decode_item(&scope(), &good_item())
        .expect("a good item reads");
    assert_eq!(record.version, 3);
    for (case, item, names) in hostile_items() {
        match store.decode_item(&scope(), &item) {
            Ok(r) => panic!("{case}: read as {r:?}"),
            Err(StoreError::Corrupt { location, reason }) => {
                assert!(location.contains("table snapshot"), "{case}: {location}");
                assert!(
                    reason.contains(names),
                    "{case}: {reason:?} should name {names}"
                );
                assert!(
                    !reason.contains(MARKER),
                    "{case}: {reason:?} quotes the item"
                );
            }
            Err(other) => panic!("{case}: {other}"),
        }
    }
}

/// Messages the notifier can receive from its topics, with what must come of
/// each: `Ok` kind, or the error's wording.
#[test]
fn every_hostile_sns_message_is_handled_or_refused_without_quoting_it() {
    let document = |changes: Value| {
        let mut d = json!({
            "schema": SCHEMA_V1,
            "subject": "s", "next_step": "n", "id": "a#b#c#1",
            "severity": "critical", "reason": "failure", "change": "appeared",
            "account": "123456789012", "region": "us-east-1",
            "datastore_id": "0000000000000000000000000000000a",
            "datastore_name": MARKER, "datastore_arn": "arn", "previous_status": null,
            "status": "CREATE_FAILED", "error_cause": null,
            "observed_at": "2026-11-26T09:30:00Z",
        });
        for (k, v) in changes.as_object().unwrap() {
            d[k] = v.clone();
        }
        d.to_string()
    };
    let long = MARKER.repeat(2_000);
    let cases: Vec<(&str, String, Result<&str, &str>)> = vec![
        ("an alert document", document(json!({})), Ok("alert")),
        ("a 4,096-character message", document(json!({"error_cause": {"message": "é".repeat(4096), "category": "NON_RETRYABLE_ERROR"}})), Ok("alert")),
        ("an unknown status and category", document(json!({"status": "ON_FIRE", "error_cause": {"message": "", "category": "MAYBE"}})), Ok("alert")),
        ("truncated", document(json!({}))[..60].to_owned(), Ok("foreign")),
        ("a number where text goes", document(json!({"datastore_name": 5})), Err("alert document")),
        ("a null where text goes", document(json!({"id": null})), Err("alert document")),
        ("an invalid account", document(json!({"account": MARKER})), Err("alert document")),
        ("another version", document(json!({"schema": "healthlake-monitor/alert/v9"})), Err("v9")),
        ("an alarm", json!({"AlarmName": MARKER, "NewStateValue": "ALARM", "OldStateValue": "OK", "NewStateReason": long, "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:x"}).to_string(), Ok("alarm")),
        ("an alarm with a wrong-typed state", json!({"AlarmName": MARKER, "NewStateValue": 3}).to_string(), Err("alarm")),
        ("plain text", format!("hello {MARKER}"), Ok("foreign")),
        ("a JSON array", "[1, 2]".to_owned(), Ok("foreign")),
        ("empty", String::new(), Ok("foreign")),
        ("control characters", format!("{{\"x\": \"\u{1b}[2J{MARKER}\"}}"), Ok("foreign")),
    ];
    for (case, message, expected) in cases {
        let result = decode::decode("m-1", &message);
        match (&result, expected) {
            (Ok(Notification::Alert(_)), Ok("alert"))
            | (Ok(Notification::Alarm(_)), Ok("alarm"))
            | (Ok(Notification::Foreign(_)), Ok("foreign")) => {}
            (Err(e), Err(names)) => {
                let text = e.to_string();
                assert!(text.contains("SNS message m-1"), "{case}: {text}");
                assert!(text.contains(names), "{case}: {text} should name {names}");
                assert!(!text.contains(MARKER), "{case}: {text} quotes the message");
            }
            _ => panic!("{case}: expected {expected:?}, got {result:?}"),
        }
    }
}

#[test]
fn every_malformed_sns_event_is_an_error_naming_the_problem() {
    for (case, event) in [
        ("null", json!(null)),
        ("a string", json!(MARKER)),
        ("records not a list", json!({"Records": MARKER})),
        (
            "a message of the wrong type",
            json!({"Records": [{"Sns": {"Message": 5, "MessageId": MARKER}}]}),
        ),
    ] {
        let err = decode::sns_event(event).expect_err(case).to_string();
        assert!(
            err.starts_with("the event is not an SNS event"),
            "{case}: {err}"
        );
        assert!(!err.contains(MARKER), "{case}: {err} quotes the event");
    }
}

/// Data stores as odd as the API allows, through the monitor and the SNS message
/// of each alert: every alert is built, fits SNS, and has a valid subject and
/// non-empty attributes.
#[tokio::test]
async fn the_oddest_data_stores_alert_within_snss_limits() {
    let odd = |id: &str, name: String, status: &str, cause: Option<(String, &str)>| {
        let mut o: Observation = observation(id, DatastoreStatus::parse(status));
        o.name = name;
        o.error_cause = cause.map(|(message, category)| ErrorCause {
            message,
            category: ErrorCategory::parse(category),
        });
        o
    };
    let stores = vec![
        odd(
            "1",
            "🩺".repeat(256),
            "CREATE_FAILED",
            Some(("🩺".repeat(4096), "NON_RETRYABLE_ERROR")),
        ),
        odd("2", String::new(), "", Some((String::new(), ""))),
        odd(
            "3",
            "\u{1b}[31mred\u{7}\r\nSubject: forged".into(),
            "ON_FIRE",
            None,
        ),
        odd(
            "4",
            "<!channel> <https://x.example|click> & co".into(),
            "UPDATE_FAILED",
            Some(("\0\u{202e}txt".into(), "MAYBE_RETRYABLE")),
        ),
        odd(
            "5",
            " ".repeat(300),
            "CREATE_FAILED",
            Some((" \n ".into(), "RETRYABLE_ERROR")),
        ),
    ];
    // Ids as odd as the model allows: only spaces, a line separator (a
    // separator to the model, an invisible one to a reader), 32 letters of
    // 3 bytes each, and the punctuation it allows.
    let long = "ス".repeat(32);
    let odd_ids = [" ", "\u{2028}x\u{2029}", long.as_str(), "é:ü/2=+%@"];
    let stores: Vec<Observation> = stores
        .into_iter()
        .chain(odd_ids.iter().map(|id| {
            let mut o = odd("9", format!("odd id {id}"), "CREATE_FAILED", None);
            o.id = DatastoreId::parse(*id).expect("an id the model allows");
            o
        }))
        .collect();
    let reader = MemoryReader::default();
    reader.set(&scope(), stores.clone());
    let (store, publisher) = (MemoryStore::default(), MemoryPublisher::default());
    let monitor = Monitor::new(&reader, &store, &publisher, TickSettings::default());
    let tick = Tick {
        owner: "t".into(),
        now: DateTime::<Utc>::UNIX_EPOCH,
    };
    let report = monitor.tick(&[scope()], &tick).await;
    assert!(report.problems().is_empty(), "{:?}", report.problems());
    let sent = publisher.sent();
    assert_eq!(sent.len(), stores.len(), "each odd store alerts: {sent:#?}");
    for alert in &sent {
        let message = monitor_sns::message(alert).expect("every alert encodes");
        assert!(
            message.len() < 256 * 1024,
            "{}: {} bytes",
            alert.id,
            message.len()
        );
        let subject = render::subject(alert);
        assert!(
            !subject.is_empty() && subject.chars().count() < 100,
            "{subject:?}"
        );
        assert!(!subject.chars().any(char::is_control), "{subject:?}");
        for (name, value) in monitor_sns::attributes(alert) {
            assert!(
                !value.trim().is_empty(),
                "{}: attribute {name} is empty",
                alert.id
            );
        }
        let email = render::text_body(alert);
        assert!(
            !email
                .chars()
                .any(|c| (c.is_control() || c == '\u{2028}' || c == '\u{2029}') && c != '\n'),
            "{}: {email:?}",
            alert.id
        );
        assert!(
            !email.lines().any(|l| l.starts_with("Subject: forged")),
            "{email}"
        );
        let chat = serde_json::to_string(&render::chatbot(alert)).unwrap();
        assert!(!chat.contains("<!channel>"), "{chat}");
    }
}
