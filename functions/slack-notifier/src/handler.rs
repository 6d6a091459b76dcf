//! One SNS delivery: each record's alert document or alarm, posted to Slack.

use crate::SlackNotifier;
use lambda_runtime::LambdaEvent;
use serde_json::{Value, json};
use slack_notifier::decode::{self, Notification};
use slack_notifier::{NotifyError, blocks, deadline};
use tracing::{info, warn};

/// Posts every record of the event, one after the other; the first failure
/// fails the invocation (SNS delivers one record per invocation). A message
/// that is neither an alert nor an alarm is skipped. Logs, and the error the
/// runtime logs, name the message, the topic, the alert or the alarm only.
pub async fn handle(app: &SlackNotifier, event: LambdaEvent<Value>) -> Result<Value, NotifyError> {
    let deadline = deadline(&event.context);
    let event = decode::sns_event(event.payload)?;
    let mut posted = Vec::new();
    let mut skipped = Vec::new();
    for record in &event.records {
        let message_id = record.sns.message_id.as_str();
        let topic_arn = record.sns.topic_arn.as_str();
        let (what, message, id) = match decode::decode(message_id, &record.sns.message)? {
            Notification::Alert(document) => {
                let id = document.alert.id.clone();
                (
                    format!("alert {id}"),
                    blocks::message(&document),
                    json!({ "message_id": message_id, "alert_id": id }),
                )
            }
            Notification::Alarm(alarm) => (
                format!("alarm {}", alarm.alarm_name.escape_debug()),
                blocks::alarm(&alarm),
                json!({ "message_id": message_id, "alarm_name": alarm.alarm_name }),
            ),
            Notification::Foreign(why) => {
                warn!(
                    message_id,
                    topic_arn, why, "skipped: not for the Slack notifier"
                );
                skipped.push(json!({ "message_id": message_id }));
                continue;
            }
        };
        app.webhook
            .post(&message, deadline)
            .await
            .map_err(|source| NotifyError::NotPosted {
                what: what.clone(),
                message_id: message_id.to_owned(),
                source,
            })?;
        info!(message_id, topic_arn, posted = what, "posted to Slack");
        posted.push(id);
    }
    Ok(json!({ "posted": posted, "skipped": skipped }))
}
