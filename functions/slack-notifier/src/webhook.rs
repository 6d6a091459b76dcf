//! Posts messages to a Slack incoming webhook.
//!
//! Only a 2xx answer is a success. Slack's rate limit (429) is waited out as
//! its `Retry-After` asks, a bounded number of times, as long as the wait and
//! another post fit in the invocation's remaining time; otherwise, and on any
//! other answer or a network error, the error is for the caller to return, so
//! that Lambda retries the event later and then hands it to the dead-letter
//! queue.
//! No error names the URL: `reqwest` puts it in its errors, so it is removed
//! from them.

use crate::secret::WebhookUrl;
use chrono::{DateTime, Utc};
use monitor_core::text::{cut, error_chain};
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde::Serialize;
use std::fmt;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, instrument};

/// Bounds one post, so that a hung endpoint fails the invocation well within
/// the function's timeout.
const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Posts of one message, the first included, while Slack answers 429.
const MAX_ATTEMPTS: u32 = 3;
/// The least time a post is given, and so the least that must be left after
/// a wait for another post to be worth it.
const MIN_ATTEMPT: Duration = Duration::from_secs(2);
/// Kept free before the deadline for the invocation to report its result.
const REPORT_MARGIN: Duration = Duration::from_secs(1);
/// The wait after a 429 without a usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How much of an error answer's body an error repeats (Slack answers a
/// short code such as `invalid_payload` or `channel_is_archived`).
const BODY_MAX_CHARS: usize = 200;

/// A non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: StatusCode,
    pub retry_after: Option<String>,
    pub body: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slack answered {}", self.status)?;
        if let Some(retry_after) = &self.retry_after {
            write!(f, " (Retry-After: {retry_after})")?;
        }
        if !self.body.is_empty() {
            write!(f, ": {}", self.body)?;
        }
        Ok(())
    }
}

impl Refused {
    /// How long Slack asks to wait: `Retry-After` in seconds or as an HTTP
    /// date, else [`DEFAULT_RETRY_AFTER`].
    fn wait(&self, now: DateTime<Utc>) -> Duration {
        let Some(value) = self.retry_after.as_deref().map(str::trim) else {
            return DEFAULT_RETRY_AFTER;
        };
        if let Ok(seconds) = value.parse::<u64>() {
            // Capped so that sums with it cannot overflow; a day is past
            // any invocation's deadline anyway.
            return Duration::from_secs(seconds.min(86_400));
        }
        match DateTime::parse_from_rfc2822(value) {
            Ok(at) => (at.to_utc() - now).to_std().unwrap_or(Duration::ZERO),
            Err(_) => DEFAULT_RETRY_AFTER,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    #[error("{0}")]
    Refused(Refused),
    #[error("{last}; gave up after {attempts} attempts")]
    StillRateLimited { last: Refused, attempts: u32 },
    #[error(
        "{last}; waiting {} would pass the invocation's deadline ({} left)",
        seconds(*.wait),
        seconds(*.left)
    )]
    NoTimeToWait {
        last: Refused,
        wait: Duration,
        left: Duration,
    },
    #[error("Slack could not be reached: {0}")]
    Unreachable(String),
}

impl PostError {
    /// Whether Slack's rate limit, rather than a refusal or the network,
    /// stopped the post.
    pub(crate) fn is_rate_limit(&self) -> bool {
        matches!(
            self,
            Self::StillRateLimited { .. } | Self::NoTimeToWait { .. }
        )
    }
}

/// `30 s`, `7.9 s`.
fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// What to do after a 429.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Next {
    Wait(Duration),
    Fail(PostError),
}

/// After the `attempt`th post was answered 429 (`refused`) with `left` of the
/// invocation's time.
fn after_rate_limit(refused: Refused, attempt: u32, left: Duration, now: DateTime<Utc>) -> Next {
    if attempt >= MAX_ATTEMPTS {
        return Next::Fail(PostError::StillRateLimited {
            last: refused,
            attempts: attempt,
        });
    }
    let wait = refused.wait(now);
    if wait + MIN_ATTEMPT + REPORT_MARGIN > left {
        return Next::Fail(PostError::NoTimeToWait {
            last: refused,
            wait,
            left,
        });
    }
    Next::Wait(wait)
}

/// How long a post may take with `left` of the invocation's time.
fn attempt_timeout(left: Duration) -> Duration {
    left.saturating_sub(REPORT_MARGIN)
        .clamp(MIN_ATTEMPT, TIMEOUT)
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

    /// Posts one message, by `deadline` (the invocation's, from its context).
    #[instrument(skip_all)]
    pub async fn post(&self, message: &impl Serialize, deadline: Instant) -> Result<(), PostError> {
        let mut attempt = 1;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let refused = match self.post_once(message, attempt_timeout(left)).await {
                Err(PostError::Refused(refused))
                    if refused.status == StatusCode::TOO_MANY_REQUESTS =>
                {
                    refused
                }
                other => return other,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            match after_rate_limit(refused, attempt, left, Utc::now()) {
                Next::Wait(wait) => {
                    info!(
                        attempt,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "Slack rate limit: waiting to post again"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Next::Fail(error) => return Err(error),
            }
        }
    }

    async fn post_once(
        &self,
        message: &impl Serialize,
        timeout: Duration,
    ) -> Result<(), PostError> {
        let response = self
            .http
            .post(self.url.url().clone())
            .timeout(timeout)
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
            .map(|v| first_line(&String::from_utf8_lossy(v.as_bytes())));
        let body = match response.text().await {
            Ok(body) => first_line(&body),
            Err(e) => format!("(the answer's body cannot be read: {})", chain(e)),
        };
        Err(PostError::Refused(Refused {
            status,
            retry_after,
            body,
        }))
    }
}

/// A reqwest error and its causes, without the URL.
fn chain(error: reqwest::Error) -> String {
    error_chain(&error.without_url())
}

/// The first line of a body, shown as data is and cut short.
fn first_line(body: &str) -> String {
    let line = body.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    cut(line.trim(), BODY_MAX_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rate_limited(retry_after: Option<&str>) -> Refused {
        Refused {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: retry_after.map(str::to_owned),
            body: "rate_limited".into(),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
            .single()
            .unwrap()
    }

    #[test]
    fn a_refusal_names_the_status_and_retry_after() {
        assert_eq!(
            PostError::Refused(rate_limited(Some("30"))).to_string(),
            "Slack answered 429 Too Many Requests (Retry-After: 30): rate_limited"
        );
        let error = PostError::Refused(Refused {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            retry_after: None,
            body: String::new(),
        });
        assert_eq!(
            error.to_string(),
            "Slack answered 500 Internal Server Error"
        );
    }

    #[test]
    fn retry_after_is_read_in_seconds_or_as_a_date() {
        let wait = |value| rate_limited(value).wait(now());
        assert_eq!(wait(Some("7")), Duration::from_secs(7));
        assert_eq!(wait(Some(" 0 ")), Duration::ZERO);
        assert_eq!(
            wait(Some("Thu, 26 Nov 2026 09:30:12 GMT")),
            Duration::from_secs(12)
        );
        assert_eq!(wait(Some("Thu, 26 Nov 2026 09:29:00 GMT")), Duration::ZERO);
        assert_eq!(wait(Some("soon")), DEFAULT_RETRY_AFTER);
        assert_eq!(wait(None), DEFAULT_RETRY_AFTER);
        assert_eq!(wait(Some("99999999999999999")), Duration::from_secs(86_400));
    }

    #[test]
    fn a_rate_limit_is_waited_out_only_while_time_is_left() {
        let left = Duration::from_secs(20);
        assert_eq!(
            after_rate_limit(rate_limited(Some("5")), 1, left, now()),
            Next::Wait(Duration::from_secs(5))
        );
        // The wait, a post and the report must fit.
        assert_eq!(
            after_rate_limit(rate_limited(Some("17")), 1, left, now()),
            Next::Wait(Duration::from_secs(17))
        );
        let Next::Fail(error) = after_rate_limit(rate_limited(Some("18")), 1, left, now()) else {
            panic!("waited past the deadline");
        };
        assert_eq!(
            error.to_string(),
            "Slack answered 429 Too Many Requests (Retry-After: 18): rate_limited; waiting 18 s \
             would pass the invocation's deadline (20 s left)"
        );
        assert!(error.is_rate_limit());
        let Next::Fail(error) = after_rate_limit(
            rate_limited(Some("30")),
            1,
            Duration::from_millis(7_960),
            now(),
        ) else {
            panic!("waited past the deadline");
        };
        assert!(error.to_string().ends_with("(8.0 s left)"), "{error}");
    }

    #[test]
    fn a_rate_limit_gets_a_bounded_number_of_attempts() {
        let left = Duration::from_secs(600);
        assert!(matches!(
            after_rate_limit(rate_limited(Some("1")), MAX_ATTEMPTS - 1, left, now()),
            Next::Wait(_)
        ));
        let Next::Fail(error) =
            after_rate_limit(rate_limited(Some("1")), MAX_ATTEMPTS, left, now())
        else {
            panic!("no bound on attempts");
        };
        assert_eq!(
            error.to_string(),
            format!(
                "Slack answered 429 Too Many Requests (Retry-After: 1): rate_limited; gave up \
                 after {MAX_ATTEMPTS} attempts"
            )
        );
    }

    #[test]
    fn a_post_never_outlives_the_invocation_by_much() {
        assert_eq!(attempt_timeout(Duration::from_secs(60)), TIMEOUT);
        assert_eq!(
            attempt_timeout(Duration::from_secs(6)),
            Duration::from_secs(5)
        );
        // A deadline already past still gets one short try: Lambda ends the
        // invocation at its deadline whatever the function does.
        assert_eq!(attempt_timeout(Duration::ZERO), MIN_ATTEMPT);
    }

    #[test]
    fn an_error_body_is_cut_to_one_short_line() {
        assert_eq!(first_line("\n invalid_payload \nmore"), "invalid_payload");
        assert_eq!(first_line("a\tb\u{1b}[2J"), "a\\u{9}b\\u{1b}[2J");
        let long = first_line(&"x".repeat(1000));
        assert_eq!(long.chars().count(), BODY_MAX_CHARS);
    }
}
