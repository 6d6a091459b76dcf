//! The Slack incoming-webhook URL, read from Secrets Manager.
//!
//! The URL is the credential: anyone holding it can post to the channel. It is
//! kept in [`WebhookUrl`], which never prints it, and no error here quotes it or
//! any part of the secret but the URL's scheme and host.
//!
//! It must also start with one of the [`AllowedUrls`] (Slack's webhook host by
//! default), so that a secret changed to point elsewhere does not send the
//! alerts there.

use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_smithy_types::error::display::DisplayErrorContext;
use std::fmt;
use tracing::instrument;
use url::Url;

use crate::config::ALLOWED_URL_PREFIXES_VARIABLE;

/// The JSON key holding the URL when the secret is a JSON object.
const JSON_KEY: &str = "webhook_url";

/// A webhook URL: https, or http to a loopback host (a local receiver).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    /// Reads a secret string: the URL itself, or JSON `{"webhook_url": "<URL>"}`.
    fn parse(secret: &str) -> Result<Self, SecretProblem> {
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
        if secure_or_local(&url) {
            Ok(Self(url))
        } else {
            Err(SecretProblem::NotHttps)
        }
    }

    /// The URL, for the HTTP client only.
    pub(crate) fn url(&self) -> &Url {
        &self.0
    }

    /// `scheme://host[:port]`: all of the URL an error may show.
    fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }
}

/// Whether an http(s) URL is one this function may post to: https, or http to
/// a loopback host (a local receiver).
fn secure_or_local(url: &Url) -> bool {
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost"));
    match url.scheme() {
        "https" => url.host_str().is_some_and(|h| !h.is_empty()),
        "http" => loopback,
        _ => false,
    }
}

/// The URL prefixes a webhook URL may start with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedUrls(Vec<String>);

/// Where Slack's incoming webhooks are.
const SLACK_WEBHOOKS: &str = "https://hooks.slack.com/";

impl Default for AllowedUrls {
    fn default() -> Self {
        Self(vec![SLACK_WEBHOOKS.to_owned()])
    }
}

impl AllowedUrls {
    /// Reads a comma-separated list of prefixes, each an https URL (or http for
    /// localhost and 127.0.0.1) ending in `/`, so that a prefix names a whole
    /// host: `https://hooks.slack.com/` does not allow
    /// `https://hooks.slack.com.example.com/`. A list with no prefix is the
    /// default. A bad prefix is named by its position, not quoted: it may be a
    /// webhook URL set here by mistake.
    pub(crate) fn parse(list: &str) -> Result<Self, String> {
        let mut prefixes = Vec::new();
        for (i, entry) in list.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let url = Url::parse(entry).ok().filter(|url| {
                secure_or_local(url)
                    && entry.ends_with('/')
                    && url.username().is_empty()
                    && url.password().is_none()
                    && url.query().is_none()
                    && url.fragment().is_none()
            });
            match url {
                Some(url) => prefixes.push(url.to_string()),
                None => {
                    return Err(format!(
                        "entry {} is not a URL prefix such as {SLACK_WEBHOOKS} (https, or http for \
                         localhost and 127.0.0.1, ending in /)",
                        i + 1
                    ));
                }
            }
        }
        Ok(if prefixes.is_empty() {
            Self::default()
        } else {
            Self(prefixes)
        })
    }

    /// Whether `url` starts with one of the prefixes. Both are compared in
    /// the URL's normal form (lower-case host, no default port).
    fn allow(&self, url: &WebhookUrl) -> Result<(), SecretProblem> {
        if self
            .0
            .iter()
            .any(|prefix| url.url().as_str().starts_with(prefix))
        {
            return Ok(());
        }
        Err(SecretProblem::NotAllowed {
            origin: url.origin(),
            allowed: self.to_string(),
        })
    }
}

impl fmt::Display for AllowedUrls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" or "))
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
    #[error(
        "the webhook URL on {origin} is not allowed: it must start with {allowed} \
         (setting {ALLOWED_URL_PREFIXES_VARIABLE})"
    )]
    NotAllowed { origin: String, allowed: String },
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

/// Reads the webhook URL held by the secret `arn` and checks that `allowed`
/// lets the function post there.
#[instrument(skip(client, allowed))]
pub async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    allowed: &AllowedUrls,
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
    WebhookUrl::parse(secret)
        .and_then(|url| allowed.allow(&url).map(|()| url))
        .map_err(|problem| SecretError::Invalid {
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
    fn only_urls_under_an_allowed_prefix_are_accepted() {
        let slack = AllowedUrls::default();
        assert!(slack.allow(&WebhookUrl::parse(URL).unwrap()).is_ok());
        assert!(
            slack
                .allow(&WebhookUrl::parse("HTTPS://Hooks.Slack.com:443/services/T0/B0/x").unwrap())
                .is_ok()
        );
        for (elsewhere, origin) in [
            (
                "https://hooks.slack.com.example.com/services/T0/B0/x",
                "https://hooks.slack.com.example.com",
            ),
            (
                "https://hooks.slack.com:8443/services/T0/B0/x",
                "https://hooks.slack.com:8443",
            ),
            (
                "https://hooks.slack.com@example.com/services/T0/B0/x",
                "https://example.com",
            ),
            (
                "https://example.com/hooks.slack.com/services/T0/B0/x",
                "https://example.com",
            ),
            (
                "http://127.0.0.1:8080/services/T0/B0/x",
                "http://127.0.0.1:8080",
            ),
        ] {
            let problem = slack
                .allow(&WebhookUrl::parse(elsewhere).unwrap())
                .unwrap_err();
            assert_eq!(
                problem.to_string(),
                format!(
                    "the webhook URL on {origin} is not allowed: it must start with \
                     https://hooks.slack.com/ (setting WEBHOOK_ALLOWED_URL_PREFIXES)"
                )
            );
            assert!(!problem.to_string().contains("/x"), "{problem}");
        }
    }

    #[test]
    fn the_setting_lists_prefixes_that_name_a_whole_host() {
        let allowed =
            AllowedUrls::parse(" https://hooks.slack.com/services/T0/ ,http://127.0.0.1:8080/,")
                .unwrap();
        assert_eq!(
            allowed.to_string(),
            "https://hooks.slack.com/services/T0/ or http://127.0.0.1:8080/"
        );
        for ok in [
            "https://hooks.slack.com/services/T0/B0/x",
            "http://127.0.0.1:8080/hook",
        ] {
            assert!(
                allowed.allow(&WebhookUrl::parse(ok).unwrap()).is_ok(),
                "{ok}"
            );
        }
        for refused in [
            "https://hooks.slack.com/services/T1/B0/x",
            "http://127.0.0.1:8081/hook",
        ] {
            assert!(
                allowed.allow(&WebhookUrl::parse(refused).unwrap()).is_err(),
                "{refused}"
            );
        }
        assert_eq!(AllowedUrls::parse(" , ").unwrap(), AllowedUrls::default());
        for (bad, entry) in [
            ("hooks.slack.com/", 1),
            ("https://hooks.slack.com", 1),
            ("https://hooks.slack.com/,http://hooks.example.com/", 2),
            ("ftp://hooks.slack.com/", 1),
            ("https://user@hooks.slack.com/", 1),
            ("https://hooks.slack.com/?x=1/", 1),
            ("https://hooks.slack.com/services/T0/B0/secret0token", 1),
        ] {
            let problem = AllowedUrls::parse(bad).unwrap_err();
            assert_eq!(
                problem,
                format!(
                    "entry {entry} is not a URL prefix such as https://hooks.slack.com/ (https, \
                     or http for localhost and 127.0.0.1, ending in /)"
                ),
                "{bad}"
            );
        }
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
