//! The Slack notifier: reads the alert documents the status monitor publishes
//! to its SNS topic and posts each to a Slack incoming webhook as a Block Kit
//! message.

pub mod blocks;
pub mod config;
pub mod decode;
pub mod secret;
pub mod text;
pub mod webhook;

use lambda_runtime::Diagnostic;

/// Why an SNS record was not delivered to Slack. Returned from the handler, it
/// fails the invocation, so Lambda retries the event and then sends it to the
/// dead-letter queue.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    NotAnAlert(#[from] decode::DecodeError),
    #[error("alert {alert_id} (SNS message {message_id}) was not posted: {source}")]
    NotPosted {
        alert_id: String,
        message_id: String,
        source: webhook::PostError,
    },
}

impl NotifyError {
    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::NotAnAlert(_) => "NotAnAlert",
            Self::NotPosted {
                source: webhook::PostError::Status { .. },
                ..
            } => "SlackRefused",
            Self::NotPosted { .. } => "SlackUnreachable",
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
