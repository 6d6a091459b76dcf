//! One SNS delivery: each record's alert document, posted to Slack.

use crate::App;
use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use slack_notifier::{NotifyError, blocks, decode};
use tracing::info;

/// Posts every record of the event, one after the other; the first failure
/// fails the invocation (SNS delivers one record per invocation). The runtime
/// logs the returned error, which names the message and the alert only.
pub async fn handle(app: &App, event: LambdaEvent<SnsEvent>) -> Result<Value, NotifyError> {
    let mut posted = Vec::new();
    for record in &event.payload.records {
        let message_id = record.sns.message_id.as_str();
        let document = decode::decode(message_id, &record.sns.message)?;
        let alert_id = document.alert.id.as_str();
        app.webhook
            .post(&blocks::message(&document))
            .await
            .map_err(|source| NotifyError::NotPosted {
                alert_id: alert_id.to_owned(),
                message_id: message_id.to_owned(),
                source,
            })?;
        info!(message_id, alert_id, "posted to Slack");
        posted.push(alert_id.to_owned());
    }
    Ok(json!({ "posted": posted }))
}
