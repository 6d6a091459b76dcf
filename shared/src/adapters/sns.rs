//! Publishes alerts to an SNS topic, one message per alert, with a body per
//! protocol (`MessageStructure=json`):
//! - `default`, `https`: the AWS Chatbot custom notification (Slack, Teams);
//! - `email`: the plain text a person reads;
//! - `sqs`, `lambda`: the versioned JSON document.
//!
//! Message attributes carry severity, status, error category, region and
//! account for subscription filter policies.

use crate::domain::Alert;
use crate::ports::{AlertPublisher, PublishError};
use crate::render;
use aws_sdk_sns::Client;
use aws_sdk_sns::types::MessageAttributeValue;
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
    let document = serde_json::to_string(&render::document(alert))?;
    serde_json::to_string(&serde_json::json!({
        "default": chatbot,
        "https": chatbot,
        "email": render::text_body(alert),
        "sqs": document,
        "lambda": document,
    }))
}

/// The message attributes of an alert, for subscription filter policies. A
/// missing value is written as `NONE`, since SNS refuses empty strings.
pub fn attributes(alert: &Alert) -> Vec<(&'static str, String)> {
    vec![
        ("severity", alert.severity.as_str().to_owned()),
        (
            "status",
            alert
                .status
                .as_ref()
                .map_or("NONE".to_owned(), |s| s.as_str().to_owned()),
        ),
        (
            "error_category",
            alert
                .error_cause
                .as_ref()
                .map_or("NONE".to_owned(), |c| c.category.as_str().to_owned()),
        ),
        ("region", alert.region.to_string()),
        ("account", alert.account.to_string()),
    ]
}

impl AlertPublisher for SnsPublisher {
    #[instrument(skip(self, alert), fields(alert_id = %alert.id, severity = %alert.severity))]
    async fn publish(&self, alert: &Alert) -> Result<(), PublishError> {
        let failed = |message: String| PublishError {
            alert_id: alert.id.clone(),
            message,
        };
        let body = message(alert).map_err(|e| failed(format!("cannot encode the message: {e}")))?;
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
                .map_err(|e| failed(format!("attribute {name}: {e}")))?;
            request = request.message_attributes(name, value);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failed(super::describe(&e)))
    }
}
