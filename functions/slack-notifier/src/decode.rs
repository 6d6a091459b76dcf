//! Reads what SNS hands the function: the event, then each record's message,
//! which is one of
//! - the versioned alert document the status monitor publishes for Lambda
//!   subscribers,
//! - a CloudWatch alarm's notification (the alarms notify the same topics),
//! - anything else published to the topic, which is not for this function.
//!
//! A message that claims to be one of the first two and cannot be read is an
//! error, so that it ends in the dead-letter queue rather than being lost. No
//! error quotes the event or the message: serde's own wording can repeat a
//! value from it, so only its position, and the name of a missing field, are
//! kept.

use crate::alarm::Alarm;
use aws_lambda_events::sns::SnsEvent;
use monitor_core::document::{AlertDocumentV1, SCHEMA_V1};
use monitor_core::domain::Alert;
use monitor_core::field::FieldError;
use serde_json::error::Category;
use serde_json::{Map, Value};

/// What a record's message is.
#[derive(Debug, Clone, PartialEq)]
pub enum Notification {
    Alert(Box<ReceivedAlert>),
    Alarm(Box<Alarm>),
    /// Not for this function; says why.
    Foreign(&'static str),
}

/// An alert document as read: the alert, and the subject and next step its
/// sender wrote, which are shown as they were sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedAlert {
    pub alert: Alert,
    pub subject: String,
    pub next_step: String,
}

impl TryFrom<AlertDocumentV1> for ReceivedAlert {
    type Error = FieldError;

    fn try_from(document: AlertDocumentV1) -> Result<Self, FieldError> {
        let (subject, next_step) = (document.subject.clone(), document.next_step.clone());
        Ok(Self {
            alert: Alert::try_from(document)?,
            subject,
            next_step,
        })
    }
}

/// A record's message that claims to be an alert document or an alarm, and
/// cannot be read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SNS message {message_id} is not {what}: {problem}")]
pub struct DecodeError {
    pub message_id: String,
    pub what: &'static str,
    pub problem: String,
}

/// An event that is not an SNS event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event is not an SNS event: {problem}")]
pub struct EventError {
    pub problem: String,
}

const ALERT: &str = "a healthlake-monitor/alert/v1 alert document";
const ALARM: &str = "a readable CloudWatch alarm notification";

/// The prefix of this project's schema ids.
const OUR_SCHEMAS: &str = "healthlake-monitor/";

pub fn sns_event(event: Value) -> Result<SnsEvent, EventError> {
    serde_json::from_value(event).map_err(|e| EventError {
        problem: json_error_text(&e),
    })
}

pub fn decode(message_id: &str, message: &str) -> Result<Notification, DecodeError> {
    let failed = |what, problem: String| DecodeError {
        message_id: message_id.to_owned(),
        what,
        problem,
    };
    let Ok(value) = serde_json::from_str::<Value>(message) else {
        return Ok(Notification::Foreign("it is not JSON"));
    };
    let Some(object) = value.as_object() else {
        return Ok(Notification::Foreign("it is not a JSON object"));
    };
    // The schema is checked first, so that another version is named as such
    // rather than as whichever field it changed.
    match object.get("schema").and_then(Value::as_str) {
        Some(SCHEMA_V1) => {
            let document: AlertDocumentV1 =
                serde_json::from_str(message).map_err(|e| failed(ALERT, json_error_text(&e)))?;
            return ReceivedAlert::try_from(document)
                .map(|alert| Notification::Alert(Box::new(alert)))
                .map_err(|e| failed(ALERT, e.to_string()));
        }
        Some(other) if other.starts_with(OUR_SCHEMAS) => {
            let quotable = other.len() <= 64 && other.chars().all(|c| c.is_ascii_graphic());
            let problem = if quotable {
                format!("its schema is {other}")
            } else {
                "its schema is another healthlake-monitor one".to_owned()
            };
            return Err(failed(ALERT, problem));
        }
        _ => {}
    }
    if is_alarm(object) {
        return serde_json::from_str(message)
            .map(|alarm| Notification::Alarm(Box::new(alarm)))
            .map_err(|e| failed(ALARM, json_error_text(&e)));
    }
    Ok(Notification::Foreign(
        "it is neither a healthlake-monitor alert document nor a CloudWatch alarm notification",
    ))
}

/// CloudWatch names the alarm and its new state in every notification.
fn is_alarm(object: &Map<String, Value>) -> bool {
    object.contains_key("AlarmName") && object.contains_key("NewStateValue")
}

fn json_error_text(error: &serde_json::Error) -> String {
    // A value read from JSON text has a position; one converted from an
    // already parsed value has none (line 0).
    let at = match error.line() {
        0 => String::new(),
        line => format!(" (line {line} column {})", error.column()),
    };
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => format!("it is not JSON{at}"),
        Category::Data => {
            let text = error.to_string();
            match text.strip_prefix("missing field `") {
                Some(rest) => {
                    let field = rest.split('`').next().unwrap_or_default();
                    format!("it has no field {field}")
                }
                None => format!("a field has the wrong type or value{at}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document() -> Value {
        json!({
            "schema": SCHEMA_V1,
            "subject": "[CRITICAL] HealthLake data store patients is CREATE_FAILED in us-east-1",
            "next_step": "Retrying will not help.",
            "id": "123456789012#us-east-1#0123456789abcdef0123456789abcdef#7",
            "severity": "critical",
            "reason": "failure",
            "change": "changed",
            "account": "123456789012",
            "region": "us-east-1",
            "datastore_id": "0123456789abcdef0123456789abcdef",
            "datastore_name": "patients",
            "datastore_arn": "arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/0123456789abcdef0123456789abcdef",
            "previous_status": "CREATING",
            "status": "CREATE_FAILED",
            "error_cause": {"message": "KMS key not accessible", "category": "NON_RETRYABLE_ERROR"},
            "observed_at": "2026-11-26T09:30:00Z",
        })
    }

    #[test]
    fn reads_an_alert_document() {
        let Notification::Alert(doc) = decode("m-1", &document().to_string()).unwrap() else {
            panic!("not read as an alert");
        };
        assert_eq!(doc.alert.datastore_name, "patients");
        assert_eq!(
            doc.subject,
            "[CRITICAL] HealthLake data store patients is CREATE_FAILED in us-east-1"
        );
        assert_eq!(doc.next_step, "Retrying will not help.");
        assert_eq!(
            doc.alert.error_cause.unwrap().message,
            "KMS key not accessible"
        );
    }

    #[test]
    fn reads_an_alarm() {
        let message = json!({
            "AlarmName": "healthlake-monitor-datastore-failed",
            "NewStateValue": "ALARM",
            "OldStateValue": "OK",
        });
        let Notification::Alarm(alarm) = decode("m-2", &message.to_string()).unwrap() else {
            panic!("not read as an alarm");
        };
        assert_eq!(alarm.alarm_name, "healthlake-monitor-datastore-failed");
    }

    #[test]
    fn anything_else_is_foreign() {
        for message in [
            "Hello from the SNS console".to_owned(),
            json!(["patients"]).to_string(),
            json!({"default": "patients"}).to_string(),
            json!({"schema": "another/v1", "AlarmName": "x"}).to_string(),
            json!({"version": "1.0", "source": "custom", "content": {}}).to_string(),
        ] {
            assert!(
                matches!(decode("m-3", &message), Ok(Notification::Foreign(_))),
                "{message}"
            );
        }
    }

    #[test]
    fn names_the_message_and_the_problem_without_quoting_it() {
        let secret_value = "patient-jane-doe";
        let mut wrong_value = document();
        wrong_value["severity"] = json!(secret_value);
        let mut wrong_type = document();
        wrong_type["datastore_name"] = json!([secret_value]);
        let mut missing = document();
        missing.as_object_mut().unwrap().remove("datastore_id");
        let mut other_version = document();
        other_version["schema"] = json!("healthlake-monitor/alert/v2");
        let mut odd_version = document();
        odd_version["schema"] = json!(format!("healthlake-monitor/{secret_value}\u{1b}"));
        let alarm = json!({"AlarmName": secret_value, "NewStateValue": [secret_value]});
        let alarm_without_name = json!({"AlarmName": null, "NewStateValue": "OK"});
        let cases = [
            (
                other_version.to_string(),
                ALERT,
                "its schema is healthlake-monitor/alert/v2",
            ),
            (
                odd_version.to_string(),
                ALERT,
                "its schema is another healthlake-monitor one",
            ),
            (missing.to_string(), ALERT, "it has no field datastore_id"),
            (
                wrong_value.to_string(),
                ALERT,
                "field severity: expected one of info, warning, critical",
            ),
            (
                wrong_type.to_string(),
                ALERT,
                "a field has the wrong type or value (line 1 column",
            ),
            (
                alarm.to_string(),
                ALARM,
                "a field has the wrong type or value (line 1 column",
            ),
            (
                alarm_without_name.to_string(),
                ALARM,
                "a field has the wrong type or value",
            ),
        ];
        for (message, what, problem) in cases {
            let error = decode("2f1c-message-id", &message).unwrap_err();
            let text = error.to_string();
            assert!(
                text.starts_with(&format!(
                    "SNS message 2f1c-message-id is not {what}: {problem}"
                )),
                "{text}"
            );
            assert!(!text.contains(secret_value), "{text}");
        }
    }

    #[test]
    fn an_event_that_is_not_from_sns_is_named() {
        for (event, problem) in [
            (
                json!({"hello": "patient-jane-doe"}),
                "it has no field Records",
            ),
            (
                json!({"Records": "patient-jane-doe"}),
                "a field has the wrong type or value",
            ),
            (
                json!(["patient-jane-doe"]),
                "a field has the wrong type or value",
            ),
        ] {
            let error = sns_event(event).unwrap_err().to_string();
            assert_eq!(error, format!("the event is not an SNS event: {problem}"));
        }
    }
}
