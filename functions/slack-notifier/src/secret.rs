//! The Slack incoming-webhook URL, read from Secrets Manager.
//!
//! The URL is the credential: anyone holding it can post to the channel. It is
//! kept in [`WebhookUrl`], which never prints it, and no error here quotes it or
//! any part of the secret.

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_smithy_types::error::display::DisplayErrorContext;
use std::fmt;
use tracing::instrument;
use url::Url;

/// The JSON key holding the URL when the secret is a JSON object.
pub const JSON_KEY: &str = "webhook_url";

/// A webhook URL: https, or http to a loopback host (a local receiver).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    /// Reads a secret string: the URL itself, or JSON `{"webhook_url": "<URL>"}`.
    pub fn parse(secret: &str) -> Result<Self, SecretProblem> {
        let secret = secret.trim();
        if secret.is_empty() {
            return Err(SecretProblem::Empty);
        }
        let url = if secret.starts_with('{') {
            let value: serde_json::Value =
                serde_json::from_str(secret).map_err(|_| SecretProblem::NotJson)?;
            value
                .get(JSON_KEY)
                .and_then(serde_json::Value::as_str)
                .map(str::trim)
                .ok_or(SecretProblem::NoUrlInJson)?
                .to_owned()
        } else {
            secret.to_owned()
        };
        let url = Url::parse(&url).map_err(SecretProblem::NotUrl)?;
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost"));
        match url.scheme() {
            "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(Self(url)),
            "http" if loopback => Ok(Self(url)),
            _ => Err(SecretProblem::NotHttps),
        }
    }

    /// The URL, for the HTTP client only.
    pub(crate) fn url(&self) -> &Url {
        &self.0
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What is wrong with a secret's value; never quotes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretProblem {
    #[error("the secret string is empty")]
    Empty,
    #[error("the secret string starts with '{{' but is not valid JSON")]
    NotJson,
    #[error("the secret's JSON has no string \"{JSON_KEY}\"")]
    NoUrlInJson,
    #[error("the webhook URL is not a valid URL ({0})")]
    NotUrl(url::ParseError),
    #[error("the webhook URL must be https (http is accepted only for localhost and 127.0.0.1)")]
    NotHttps,
}

/// A webhook secret that cannot be used, naming the secret by its ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("secret {arn}: cannot be read: {reason}")]
    Unreadable { arn: String, reason: String },
    #[error("secret {arn}: has no SecretString (a binary secret is not supported)")]
    NotAString { arn: String },
    #[error("secret {arn}: {problem}")]
    Invalid { arn: String, problem: SecretProblem },
}

/// Reads and checks the webhook URL held by the secret `arn`.
#[instrument(skip(client))]
pub async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<WebhookUrl, SecretError> {
    let output = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| SecretError::Unreadable {
            arn: arn.to_owned(),
            // AWS's answer (AccessDeniedException, ResourceNotFoundException,
            // a KMS refusal) says what to fix; anything else gets the full chain.
            reason: match e.as_service_error() {
                Some(refusal) => format!(
                    "{}: {}",
                    refusal.code().unwrap_or("unnamed error"),
                    refusal.message().unwrap_or("no message")
                ),
                None => DisplayErrorContext(&e).to_string(),
            },
        })?;
    let secret = output
        .secret_string()
        .ok_or_else(|| SecretError::NotAString {
            arn: arn.to_owned(),
        })?;
    WebhookUrl::parse(secret).map_err(|problem| SecretError::Invalid {
        arn: arn.to_owned(),
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX";

    #[test]
    fn reads_a_bare_url_or_json() {
        for secret in [
            URL.to_owned(),
            format!("  {URL}\n"),
            format!(r#"{{"webhook_url": "{URL}"}}"#),
            format!(r##"{{"webhook_url": " {URL} ", "channel": "#alerts"}}"##),
        ] {
            let url = WebhookUrl::parse(&secret).unwrap();
            assert_eq!(url.url().as_str(), URL, "{secret}");
        }
    }

    #[test]
    fn accepts_http_only_for_a_loopback_receiver() {
        for local in ["http://127.0.0.1:8080/hook", "http://localhost/hook"] {
            assert!(WebhookUrl::parse(local).is_ok(), "{local}");
        }
        for remote in [
            "http://hooks.slack.com/services/T000/B000/XXXX",
            "http://127.0.0.2/hook",
            "ftp://hooks.slack.com/x",
        ] {
            assert_eq!(
                WebhookUrl::parse(remote),
                Err(SecretProblem::NotHttps),
                "{remote}"
            );
        }
    }

    #[test]
    fn each_bad_secret_is_named_without_quoting_it() {
        let cases = [
            ("", SecretProblem::Empty),
            ("  ", SecretProblem::Empty),
            (
                "{\"webhook_url\": \"https://x.example/T0",
                SecretProblem::NotJson,
            ),
            (
                "{\"url\": \"https://hooks.slack.com/services/T000\"}",
                SecretProblem::NoUrlInJson,
            ),
            ("{\"webhook_url\": 42}", SecretProblem::NoUrlInJson),
            (
                "hooks.slack.com/services/T000/B000/XXXX",
                SecretProblem::NotUrl(url::ParseError::RelativeUrlWithoutBase),
            ),
        ];
        for (secret, expected) in cases {
            let problem = WebhookUrl::parse(secret).unwrap_err();
            assert_eq!(problem, expected, "{secret:?}");
            let text = problem.to_string();
            assert!(
                !text.contains("hooks.slack.com") && !text.contains("x.example"),
                "{text}"
            );
        }
    }

    #[test]
    fn the_url_never_prints() {
        let url = WebhookUrl::parse(URL).unwrap();
        assert_eq!(format!("{url}"), "[redacted]");
        assert_eq!(format!("{url:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&url)), "Some([redacted])");
    }

    #[test]
    fn an_invalid_secret_is_named_by_its_arn() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-AbCdEf";
        let error = SecretError::Invalid {
            arn: arn.to_owned(),
            problem: SecretProblem::NotHttps,
        };
        assert_eq!(
            error.to_string(),
            format!(
                "secret {arn}: the webhook URL must be https (http is accepted only for \
                 localhost and 127.0.0.1)"
            )
        );
    }
}
