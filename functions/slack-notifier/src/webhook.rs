//! Posts messages to a Slack incoming webhook.
//!
//! Only a 2xx answer is a success. Anything else, a rate limit (429) and a
//! server error included, is an error for the caller to return, so that Lambda
//! retries the event and then hands it to the dead-letter queue. No error names
//! the URL: `reqwest` puts it in its errors, so it is removed from them.

use crate::secret::WebhookUrl;
use crate::text::{fit, plain};
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde::Serialize;
use std::time::Duration;
use tracing::instrument;

/// Bounds one post, so that a hung endpoint fails the invocation well within
/// the function's timeout.
pub const TIMEOUT: Duration = Duration::from_secs(10);
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How much of an error answer's body an error repeats (Slack answers a
/// short code such as `invalid_payload` or `channel_is_archived`).
const BODY_MAX_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    #[error("Slack answered {status}{}", status_detail(.retry_after.as_deref(), .body))]
    Status {
        status: StatusCode,
        retry_after: Option<String>,
        body: String,
    },
    #[error("Slack could not be reached: {0}")]
    Unreachable(String),
}

pub struct SlackWebhook {
    http: reqwest::Client,
    url: WebhookUrl,
}

impl SlackWebhook {
    pub fn new(url: WebhookUrl) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // Slack does not redirect webhook posts; following one would send
            // the alert somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { http, url })
    }

    /// Posts one message.
    #[instrument(skip_all)]
    pub async fn post(&self, message: &impl Serialize) -> Result<(), PostError> {
        let response = self
            .http
            .post(self.url.url().clone())
            .json(message)
            .send()
            .await
            .map_err(|e| PostError::Unreachable(chain(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
        let body = match response.text().await {
            Ok(body) => first_line(&body),
            Err(e) => format!("(the answer's body cannot be read: {})", chain(e)),
        };
        Err(PostError::Status {
            status,
            retry_after,
            body,
        })
    }
}

fn status_detail(retry_after: Option<&str>, body: &str) -> String {
    let mut detail = String::new();
    if let Some(retry_after) = retry_after {
        detail.push_str(&format!(" (Retry-After: {retry_after})"));
    }
    if !body.is_empty() {
        detail.push_str(&format!(": {body}"));
    }
    detail
}

/// A reqwest error and its causes, without the URL.
fn chain(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The first line of a body, printable and short.
fn first_line(body: &str) -> String {
    let line = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let clean: String = line
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    fit(&clean, BODY_MAX_CHARS, plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_names_the_status_and_retry_after() {
        let error = PostError::Status {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some("30".into()),
            body: "rate_limited".into(),
        };
        assert_eq!(
            error.to_string(),
            "Slack answered 429 Too Many Requests (Retry-After: 30): rate_limited"
        );
        let error = PostError::Status {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            retry_after: None,
            body: String::new(),
        };
        assert_eq!(
            error.to_string(),
            "Slack answered 500 Internal Server Error"
        );
    }

    #[test]
    fn an_error_body_is_cut_to_one_short_line() {
        assert_eq!(first_line("\n invalid_payload \nmore"), "invalid_payload");
        assert_eq!(first_line("a\tb"), "a b");
        let long = first_line(&"x".repeat(1000));
        assert_eq!(long.chars().count(), BODY_MAX_CHARS);
    }
}
