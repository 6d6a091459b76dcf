//! The alert document against its published JSON Schema,
//! `docs/alert-document.v1.schema.json`, as a subscriber would check it: with
//! Python's `jsonschema` from the tool venv (`.tools/venv`, installed by
//! infra/scripts/setup-tools.sh).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail, ensure};
use chrono::{TimeZone, Utc};
use integration_tests::services::workspace_root;
use monitor_core::document::AlertDocumentV1;
use monitor_core::domain::{
    Alert, Change, DatastoreStatus, ErrorCategory, ErrorCause, Reason, Record, Severity, Transition,
};
use monitor_core::fixtures::{observation, scope};
use serde_json::{Value, json};

/// Reads `{"schema": ..., "documents": [[name, document], ...]}` on stdin and
/// writes each document's validation errors, by name.
const VALIDATE: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

request = json.load(sys.stdin)
schema = request["schema"]
if validator_for(schema) is not Draft202012Validator:
    sys.exit("the schema does not declare draft 2020-12")
Draft202012Validator.check_schema(schema)
validator = Draft202012Validator(schema)
json.dump({name: sorted(e.message for e in validator.iter_errors(document))
           for name, document in request["documents"]}, sys.stdout)
"#;

fn schema() -> anyhow::Result<Value> {
    let path = workspace_root().join("docs/alert-document.v1.schema.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_json::from_str(&text)?)
}

/// The validation errors of each document, by name.
fn validate(documents: &[(String, Value)]) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let python = workspace_root().join(".tools/venv/bin/python");
    ensure!(
        python.exists(),
        "{} does not exist: run infra/scripts/setup-tools.sh",
        python.display()
    );
    let mut child = Command::new(&python)
        .args(["-c", VALIDATE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", python.display()))?;
    let request = json!({ "schema": schema()?, "documents": documents });
    child
        .stdin
        .take()
        .context("python's stdin")?
        .write_all(request.to_string().as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "the validator failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let errors: BTreeMap<String, Vec<String>> = serde_json::from_slice(&out.stdout)?;
    ensure!(
        errors.len() == documents.len(),
        "{} results for {} documents (names must differ)",
        errors.len(),
        documents.len()
    );
    Ok(errors)
}

fn invalid(errors: BTreeMap<String, Vec<String>>) -> BTreeMap<String, Vec<String>> {
    errors.into_iter().filter(|(_, e)| !e.is_empty()).collect()
}

/// A transition of each kind, with and without an error cause, with known and
/// unknown statuses, and with names and messages as odd as AWS allows.
fn transitions() -> Vec<Transition> {
    let with_cause = |status, message: &str, category| {
        let mut o = observation("8f2c1e7a9b3d4c5e6f708192a3b4c5d6", status);
        o.error_cause = Some(ErrorCause {
            message: message.into(),
            category,
        });
        o
    };
    let odd = {
        let mut o = with_cause(
            DatastoreStatus::parse("ON_FIRE"),
            &"🩺<!channel>\u{1b}[2J\r\n".repeat(400),
            ErrorCategory::parse("MAYBE_RETRYABLE"),
        );
        o.name = "\u{202e}<https://x.example|click> & co\0".repeat(10);
        o
    };
    vec![
        Transition::Appeared {
            current: observation("1", DatastoreStatus::Active),
        },
        Transition::Appeared {
            current: odd.clone(),
        },
        Transition::Changed {
            previous: observation(
                "8f2c1e7a9b3d4c5e6f708192a3b4c5d6",
                DatastoreStatus::Creating,
            ),
            current: with_cause(
                DatastoreStatus::CreateFailed,
                "The AWS KMS key is not accessible",
                ErrorCategory::NonRetryable,
            ),
        },
        Transition::Changed {
            previous: observation("8f2c1e7a9b3d4c5e6f708192a3b4c5d6", DatastoreStatus::Active),
            current: odd.clone(),
        },
        Transition::Vanished {
            previous: with_cause(
                DatastoreStatus::CreateFailed,
                "Internal error",
                ErrorCategory::Retryable,
            ),
        },
        Transition::Vanished {
            previous: observation("2", DatastoreStatus::Deleted),
        },
    ]
}

#[test]
fn every_document_the_code_writes_is_valid() -> anyhow::Result<()> {
    let at = Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0).unwrap();
    let mut documents = Vec::new();
    let mut combinations = BTreeSet::new();
    for (t, transition) in transitions().iter().enumerate() {
        for severity in Severity::ALL {
            for reason in Reason::ALL {
                let mut alert = Alert::new(&scope(), transition, (severity, reason), 3, at);
                // The account's name is written when the organization gives one.
                if t % 2 == 0 {
                    alert.account_name = Some("payments-prod".into());
                }
                combinations.insert((severity.as_str(), reason.as_str(), alert.change.as_str()));
                let name = format!("{t}/{severity}/{}", reason.as_str());
                documents.push((name, serde_json::to_value(AlertDocumentV1::from(&alert))?));
            }
        }
    }
    // A store that stayed in its status: stuck, or failed a while ago.
    for (t, status) in [DatastoreStatus::Creating, DatastoreStatus::CreateFailed]
        .into_iter()
        .enumerate()
    {
        let mut record = Record::new(observation("3", status), 4, at);
        record.status_since = at - chrono::Duration::hours(5);
        for severity in Severity::ALL {
            for reason in Reason::ALL {
                let alert = Alert::lingering(&scope(), &record, (severity, reason), 5, at);
                combinations.insert((severity.as_str(), reason.as_str(), alert.change.as_str()));
                let name = format!("lingering {t}/{severity}/{}", reason.as_str());
                documents.push((name, serde_json::to_value(AlertDocumentV1::from(&alert))?));
            }
        }
    }
    assert_eq!(
        combinations.len(),
        Severity::ALL.len() * Reason::ALL.len() * Change::ALL.len(),
        "every severity, reason and change"
    );
    let invalid = invalid(validate(&documents)?);
    assert!(invalid.is_empty(), "{invalid:#?}");
    Ok(())
}

#[test]
fn the_frozen_documents_are_valid() -> anyhow::Result<()> {
    let docs = workspace_root().join("docs");
    let mut files = vec![docs.join("alert-document.json")];
    for entry in std::fs::read_dir(docs.join("examples"))? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("alert-document-v1-") && name.ends_with(".json") {
            files.push(path);
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    let documents = files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path)?;
            Ok((path.display().to_string(), serde_json::from_str(&text)?))
        })
        .collect::<anyhow::Result<Vec<(String, Value)>>>()?;
    let invalid = invalid(validate(&documents)?);
    assert!(invalid.is_empty(), "{invalid:#?}");
    Ok(())
}

/// The document of docs/alert-document.json with `changes` applied.
fn changed(changes: Value) -> Value {
    let mut document: Value =
        serde_json::from_str(include_str!("../../docs/alert-document.json")).expect("JSON");
    for (key, value) in changes.as_object().expect("an object") {
        document[key] = value.clone();
    }
    document
}

#[test]
fn the_schema_refuses_a_broken_document_and_accepts_what_a_v1_reader_must() -> anyhow::Result<()> {
    let mut missing_id = changed(json!({}));
    missing_id
        .as_object_mut()
        .context("an object")?
        .remove("datastore_id");
    let refused = [
        (
            "no datastore_id",
            missing_id,
            "'datastore_id' is a required property",
        ),
        (
            "a tag value that is not a string",
            changed(json!({"tags": {"team": 7}})),
            "7 is not of type 'string'",
        ),
        (
            "an unknown severity",
            changed(json!({"severity": "loud"})),
            "'loud' is not one of",
        ),
        (
            "a status that is a number",
            changed(json!({"status": 5})),
            "5 is not of type",
        ),
        (
            "a short account",
            changed(json!({"account": "12345"})),
            "does not match",
        ),
        (
            "another schema",
            changed(json!({"schema": "healthlake-monitor/alert/v2"})),
            "'healthlake-monitor/alert/v1' was expected",
        ),
        (
            "a cause without category",
            changed(json!({"error_cause": {"message": "m"}})),
            "is not valid under any of the given schemas",
        ),
        (
            "an id with #",
            changed(json!({"datastore_id": "store#1"})),
            "does not match",
        ),
        (
            "an id with a line break",
            changed(json!({"datastore_id": "store\n"})),
            "does not match",
        ),
        (
            "an id of 33 characters",
            changed(json!({"datastore_id": "ж".repeat(33)})),
            "is too long",
        ),
    ];
    let accepted = [
        (
            "an id with a space",
            changed(json!({"datastore_id": "store one"})),
        ),
        (
            "tags chosen to travel with the alert",
            changed(json!({"tags": {"team": "payments", "cost center": "42 / eu"}})),
        ),
        (
            "an id with non-ASCII letters and punctuation",
            changed(json!({"datastore_id": "é:ü/2=+%@"})),
        ),
        (
            "an id with _ and .",
            changed(json!({"datastore_id": "data_store.v1"})),
        ),
        (
            "an id of 32 non-ASCII letters",
            changed(json!({"datastore_id": "ж".repeat(32)})),
        ),
        (
            "an id of 32 letters beyond the Basic Multilingual Plane",
            changed(json!({"datastore_id": "𝒜".repeat(32)})),
        ),
        (
            "a field added later",
            changed(json!({"runbook_url": "https://runbooks.example/x"})),
        ),
        (
            "a status AWS added since",
            changed(json!({"status": "ON_FIRE", "previous_status": "ARCHIVED"})),
        ),
        (
            "a category AWS added since",
            changed(json!({"error_cause": {"message": "", "category": "MAYBE", "code": 7}})),
        ),
        (
            "no statuses and no cause",
            changed(json!({"status": null, "previous_status": null, "error_cause": null})),
        ),
    ];
    let documents: Vec<(String, Value)> = refused
        .iter()
        .map(|(name, d, _)| (name.to_string(), d.clone()))
        .chain(
            accepted
                .iter()
                .map(|(name, d)| (name.to_string(), d.clone())),
        )
        .collect();
    let errors = validate(&documents)?;
    for (name, _, expected) in &refused {
        let found = &errors[*name];
        assert!(
            found.iter().any(|e| e.contains(expected)),
            "{name}: expected an error with {expected:?}, got {found:?}"
        );
    }
    for (name, document) in &accepted {
        assert_eq!(errors[*name], Vec::<String>::new(), "{name}");
        // What the schema accepts, the notifier reads.
        let read = serde_json::from_value::<AlertDocumentV1>(document.clone())
            .map_err(anyhow::Error::from)
            .and_then(|d| Ok(Alert::try_from(d)?));
        assert!(read.is_ok(), "{name}: {read:?}");
    }
    Ok(())
}

#[test]
fn the_schema_lists_every_field_written_and_the_closed_sets_of_the_code() -> anyhow::Result<()> {
    let schema = schema()?;
    let strings = |pointer: &str| -> Vec<String> {
        schema
            .pointer(pointer)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        strings("/properties/severity/enum"),
        Severity::ALL.map(|s| s.as_str().to_owned())
    );
    assert_eq!(
        strings("/properties/reason/enum"),
        Reason::ALL.map(|r| r.as_str().to_owned())
    );
    assert_eq!(
        strings("/properties/change/enum"),
        Change::ALL.map(|c| c.as_str().to_owned())
    );
    let written: Value = serde_json::from_str(include_str!("../../docs/alert-document.json"))?;
    let mut written: Vec<String> = written
        .as_object()
        .context("an object")?
        .keys()
        .cloned()
        .collect();
    let mut required = strings("/required");
    let mut properties: Vec<String> = schema["properties"]
        .as_object()
        .context("properties")?
        .keys()
        .cloned()
        .collect();
    for list in [&mut required, &mut properties, &mut written] {
        list.sort();
    }
    assert_eq!(required, written);
    // Written only when known: the account's name in its organization, the
    // tags chosen to travel with alerts, and since when a store has been in
    // its status (stuck, unstuck, reminder).
    let optional = ["account_name", "tags", "since"];
    properties.retain(|p| !optional.contains(&p.as_str()));
    assert_eq!(properties, written);
    Ok(())
}
