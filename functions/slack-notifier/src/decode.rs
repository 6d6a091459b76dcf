//! Reads an SNS message as the versioned alert document the status monitor
//! publishes for Lambda subscribers.
//!
//! A message that is not one is reported by its SNS MessageId. The report never
//! quotes the message: serde's own wording can repeat a value from it, so only
//! its position, and the name of a missing field, are kept.

use serde_json::error::Category;
use shared::render::{AlertDocument, DOCUMENT_SCHEMA};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SNS message {message_id} is not a {DOCUMENT_SCHEMA} alert document: {problem}")]
pub struct DecodeError {
    pub message_id: String,
    pub problem: String,
}

pub fn decode(message_id: &str, message: &str) -> Result<AlertDocument, DecodeError> {
    let failed = |problem: String| DecodeError {
        message_id: message_id.to_owned(),
        problem,
    };
    // The schema is checked first, so that another version is named as such
    // rather than as whichever field it changed.
    let value: serde_json::Value =
        serde_json::from_str(message).map_err(|e| failed(describe(&e)))?;
    match value.get("schema").and_then(serde_json::Value::as_str) {
        Some(DOCUMENT_SCHEMA) => {}
        Some(other) if other.starts_with("healthlake-monitor/") && other.len() <= 64 => {
            return Err(failed(format!("its schema is {other}")));
        }
        Some(_) => return Err(failed("its schema is another one".into())),
        None if value.is_object() => return Err(failed("it has no schema".into())),
        None => return Err(failed("it is not a JSON object".into())),
    }
    serde_json::from_str(message).map_err(|e| failed(describe(&e)))
}

fn describe(error: &serde_json::Error) -> String {
    let at = format!("line {} column {}", error.line(), error.column());
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => format!("it is not JSON ({at})"),
        Category::Data => {
            let text = error.to_string();
            match text.strip_prefix("missing field `") {
                Some(rest) => {
                    let field = rest.split('`').next().unwrap_or_default();
                    format!("it has no field {field}")
                }
                None => format!("a field has the wrong type or value ({at})"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document() -> serde_json::Value {
        json!({
            "schema": DOCUMENT_SCHEMA,
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
        let doc = decode("m-1", &document().to_string()).unwrap();
        assert_eq!(doc.alert.datastore_name, "patients");
        assert_eq!(
            doc.alert.error_cause.unwrap().message,
            "KMS key not accessible"
        );
    }

    #[test]
    fn names_the_message_and_the_problem_without_quoting_it() {
        let secret_value = "patient-jane-doe";
        let mut wrong_type = document();
        wrong_type["severity"] = json!(secret_value);
        let mut missing = document();
        missing.as_object_mut().unwrap().remove("datastore_id");
        let mut other_version = document();
        other_version["schema"] = json!("healthlake-monitor/alert/v2");
        let cases = [
            (
                format!("Datastore {secret_value} failed"),
                "it is not JSON (line 1 column 1)",
            ),
            (json!([secret_value]).to_string(), "it is not a JSON object"),
            (
                json!({"default": secret_value}).to_string(),
                "it has no schema",
            ),
            (
                json!({"schema": secret_value}).to_string(),
                "its schema is another one",
            ),
            (
                other_version.to_string(),
                "its schema is healthlake-monitor/alert/v2",
            ),
            (missing.to_string(), "it has no field datastore_id"),
            (
                wrong_type.to_string(),
                "a field has the wrong type or value",
            ),
        ];
        for (message, problem) in cases {
            let error = decode("2f1c-message-id", &message).unwrap_err();
            let text = error.to_string();
            assert!(
                text.starts_with(&format!(
                    "SNS message 2f1c-message-id is not a {DOCUMENT_SCHEMA} alert document: {problem}"
                )),
                "{text}"
            );
            assert!(!text.contains(secret_value), "{text}");
        }
    }
}
