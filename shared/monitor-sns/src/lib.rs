//! Publishes alerts to an SNS topic, one message per alert, with a body per
//! protocol (`MessageStructure=json`):
//! - `default`, `https`: the AWS Chatbot custom notification (Slack, Teams);
//! - `email`: the plain text a person reads;
//! - `sqs`, `lambda`: the versioned JSON document.
//!
//! Message attributes carry severity, status, error category, region and
//! account for subscription filter policies.

use aws_sdk_sns::Client;
use aws_sdk_sns::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::operation::publish::PublishError as SdkPublishError;
use aws_sdk_sns::types::MessageAttributeValue;
use monitor_core::document::AlertDocumentV1;
use monitor_core::domain::Alert;
use monitor_core::domain::routing::TAG_ATTRIBUTE_PREFIX;
use monitor_core::ports::{AlertPublisher, PublishError, PublishErrorKind};
use monitor_core::render;
use std::borrow::Cow;
use tracing::instrument;

pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

/// The `MessageStructure=json` message of an alert.
pub fn message(alert: &Alert) -> Result<String, serde_json::Error> {
    let chatbot = serde_json::to_string(&render::chatbot(alert))?;
    let document = serde_json::to_string(&AlertDocumentV1::from(alert))?;
    serde_json::to_string(&serde_json::json!({
        "default": chatbot,
        "https": chatbot,
        "email": render::text_body(alert),
        "sqs": document,
        "lambda": document,
    }))
}

/// The message attributes of an alert, for subscription filter policies. A
/// missing or blank value is written as `NONE`, since SNS refuses a String
/// attribute without a value (a status or category AWS sent empty would
/// otherwise make the alert undeliverable).
///
/// Each tag the alert carries (`ALERT_TAG_KEYS`) is one more attribute,
/// `tag.<key>`, so a subscription can filter on a team's own tag value.
pub fn attributes(alert: &Alert) -> Vec<(Cow<'static, str>, String)> {
    let value = |v: Option<&str>| match v.map(str::trim) {
        Some(v) if !v.is_empty() => v.to_owned(),
        _ => "NONE".to_owned(),
    };
    let mut attributes: Vec<(Cow<'static, str>, String)> = vec![
        ("severity".into(), value(Some(alert.severity.as_str()))),
        (
            "status".into(),
            value(alert.status.as_ref().map(|s| s.as_str())),
        ),
        (
            "error_category".into(),
            value(alert.error_cause.as_ref().map(|c| c.category.as_str())),
        ),
        ("region".into(), value(Some(alert.region.as_str()))),
        ("account".into(), value(Some(alert.account.as_str()))),
    ];
    if let Some(name) = &alert.account_name {
        attributes.push(("account_name".into(), value(Some(name))));
    }
    for (key, tag_value) in &alert.tags {
        attributes.push((
            format!("{TAG_ATTRIBUTE_PREFIX}{key}").into(),
            value(Some(tag_value)),
        ));
    }
    attributes
}

/// Whether a failed Publish can succeed when tried again. Only a refusal of
/// this alert's own content is permanent; a missing topic, a denied or
/// disabled key, throttling and transport failures are conditions an operator
/// or time fixes, and the alert waits for them.
fn kind_of(error: &SdkError<SdkPublishError>) -> PublishErrorKind {
    match error {
        SdkError::ServiceError(e) => {
            let e = e.err();
            let about_the_topic = e.message().is_some_and(|m| m.contains("TopicArn"));
            match e.code() {
                Some("InvalidParameter" | "InvalidParameterValue" | "ValidationError")
                    if !about_the_topic =>
                {
                    PublishErrorKind::Permanent
                }
                _ => PublishErrorKind::Retryable,
            }
        }
        _ => PublishErrorKind::Retryable,
    }
}

impl AlertPublisher for SnsPublisher {
    #[instrument(skip(self, alert), fields(alert_id = %alert.id, severity = %alert.severity))]
    async fn publish(&self, alert: &Alert) -> Result<(), PublishError> {
        let refused = |message: String| PublishError::permanent(alert.id.clone(), message);
        let body =
            message(alert).map_err(|e| refused(format!("cannot encode the message: {e}")))?;
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(render::subject(alert))
            .message_structure("json")
            .message(body);
        for (name, value) in attributes(alert) {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| refused(format!("attribute {name}: {e}")))?;
            request = request.message_attributes(name, value);
        }
        request.send().await.map(|_| ()).map_err(|e| PublishError {
            alert_id: alert.id.clone(),
            kind: kind_of(&e),
            message: monitor_aws::error_text(&e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;
    use monitor_core::domain::{
        AlertPolicy, DatastoreStatus, ErrorCategory, ErrorCause, Scope, Transition,
    };
    use monitor_core::fixtures::observation;

    #[test]
    fn no_attribute_is_ever_empty() {
        let mut current = observation("a", DatastoreStatus::parse(""));
        current.error_cause = Some(ErrorCause {
            message: "m".into(),
            category: ErrorCategory::parse(" "),
        });
        let scope = Scope::new(current.account.clone(), current.region.clone());
        let t = Transition::Appeared { current };
        let decision = AlertPolicy::default()
            .classify(&t)
            .expect("unknown status alerts");
        let alert = Alert::new(&scope, &t, decision, 1, chrono::Utc::now());
        let attributes = attributes(&alert);
        assert_eq!(attributes.len(), 5);
        for (name, value) in attributes {
            assert!(!value.trim().is_empty(), "attribute {name} is empty");
        }
    }

    #[test]
    fn an_accounts_name_is_an_attribute_and_in_every_body() {
        let current = observation("a", DatastoreStatus::CreateFailed);
        let scope = Scope::new(current.account.clone(), current.region.clone());
        let t = Transition::Appeared { current };
        let decision = AlertPolicy::default().classify(&t).expect("an alert");
        let mut alert = Alert::new(&scope, &t, decision, 1, chrono::Utc::now());
        alert.account_name = Some("payments-prod".into());
        let attributes = attributes(&alert);
        assert_eq!(attributes.len(), 6);
        assert!(attributes.contains(&("account_name".into(), "payments-prod".into())));
        let message: serde_json::Value =
            serde_json::from_str(&message(&alert).expect("message")).unwrap();
        for protocol in ["default", "email", "https", "sqs"] {
            let body = message[protocol].as_str().unwrap();
            assert!(body.contains("payments-prod"), "{protocol}: {body}");
        }
    }

    #[test]
    fn each_tag_an_alert_carries_is_an_attribute_and_in_the_document() {
        let current = observation("a", DatastoreStatus::CreateFailed);
        let scope = Scope::new(current.account.clone(), current.region.clone());
        let t = Transition::Appeared { current };
        let decision = AlertPolicy::default().classify(&t).expect("an alert");
        let mut alert = Alert::new(&scope, &t, decision, 1, chrono::Utc::now());
        alert.tags = [("team", "payments"), ("environment", " ")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
        let attributes = attributes(&alert);
        assert_eq!(attributes.len(), 7);
        assert!(attributes.contains(&("tag.team".into(), "payments".into())));
        assert!(attributes.contains(&("tag.environment".into(), "NONE".into())));
        let message: serde_json::Value =
            serde_json::from_str(&message(&alert).expect("message")).unwrap();
        let document: serde_json::Value =
            serde_json::from_str(message["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(document["tags"]["team"], "payments", "{document}");
    }

    fn service_error(code: &str, message: &str) -> SdkError<SdkPublishError> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(
            SdkPublishError::generic(meta),
            Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn only_a_refusal_of_the_alert_itself_is_permanent() {
        use PublishErrorKind::*;
        for (code, message, kind) in [
            (
                "InvalidParameter",
                "Invalid parameter: Message too long",
                Permanent,
            ),
            (
                "InvalidParameterValue",
                "Invalid attribute value",
                Permanent,
            ),
            ("InvalidParameter", "Invalid parameter: TopicArn", Retryable),
            ("NotFound", "Topic does not exist", Retryable),
            ("AuthorizationError", "not authorized", Retryable),
            ("KMSDisabled", "key is disabled", Retryable),
            ("KMSAccessDenied", "denied", Retryable),
            ("Throttled", "Rate exceeded", Retryable),
            ("InternalError", "", Retryable),
        ] {
            assert_eq!(
                kind_of(&service_error(code, message)),
                kind,
                "{code}: {message}"
            );
        }
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
        assert_eq!(kind_of(&SdkError::timeout_error(io)), Retryable);
    }
}
