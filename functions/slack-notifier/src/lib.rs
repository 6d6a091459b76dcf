//! The Slack notifier: reads what SNS delivers from the alert topic (and the
//! monitor's health topic) and posts it to a Slack incoming webhook as a Block
//! Kit message: the alert documents the status monitor publishes, and the
//! CloudWatch alarms' notifications. Anything else is skipped.

pub mod alarm;
pub mod blocks;
pub mod config;
pub mod decode;
pub mod secret;
pub mod webhook;

use lambda_runtime::Diagnostic;
use std::time::SystemTime;
use tokio::time::Instant;

/// Why an SNS delivery was not posted to Slack. Returned from the handler, it
/// fails the invocation, so Lambda retries the event (SNS invokes the function
/// asynchronously) and then sends it to the dead-letter queue.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    NotAnSnsEvent(#[from] decode::EventError),
    #[error(transparent)]
    Unreadable(#[from] decode::DecodeError),
    /// `what` is `alert <alert id>` or `alarm <alarm name>`.
    #[error("{what} (SNS message {message_id}) was not posted: {source}")]
    NotPosted {
        what: String,
        message_id: String,
        source: webhook::PostError,
    },
}

impl NotifyError {
    /// The `errorType` Lambda reports.
    fn error_type(&self) -> &'static str {
        match self {
            Self::NotAnSnsEvent(_) => "NotAnSnsEvent",
            Self::Unreadable(_) => "UnreadableMessage",
            Self::NotPosted { source, .. } => match source {
                webhook::PostError::Refused(_) => "SlackRefused",
                webhook::PostError::Unreachable(_) => "SlackUnreachable",
                _ if source.is_rate_limit() => "SlackRateLimited",
                _ => "SlackRefused",
            },
        }
    }
}

impl From<NotifyError> for Diagnostic {
    fn from(error: NotifyError) -> Self {
        Diagnostic {
            error_type: error.error_type().to_owned(),
            error_message: error.to_string(),
        }
    }
}

/// The invocation's deadline (from its context, in wall-clock time) on the
/// monotonic clock; `now` if it has passed (a Runtime API emulator may send a
/// duration there: each post then still gets its shortest time).
pub fn deadline(context: &lambda_runtime::Context) -> Instant {
    let left = context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    Instant::now() + left
}
