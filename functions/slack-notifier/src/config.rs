//! The function's settings, read once at cold start.

use crate::secret::AllowedUrls;

/// The variable naming the secret that holds the webhook URL.
const SECRET_ARN_VARIABLE: &str = "SLACK_WEBHOOK_SECRET_ARN";

/// The variable listing the URL prefixes the webhook URL may start with
/// (comma-separated; not a secret). Unset: Slack's webhooks only.
pub(crate) const ALLOWED_URL_PREFIXES_VARIABLE: &str = "WEBHOOK_ALLOWED_URL_PREFIXES";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {name}: {problem}")]
pub struct NotifierConfigError {
    pub name: &'static str,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The Secrets Manager secret holding the Slack incoming-webhook URL.
    pub secret_arn: String,
    /// Where the webhook URL may point.
    pub allowed_urls: AllowedUrls,
}

impl Config {
    pub fn from_env() -> Result<Self, NotifierConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so that tests need not touch the
    /// process environment.
    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, NotifierConfigError> {
        let name = SECRET_ARN_VARIABLE;
        let secret_arn = lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or(NotifierConfigError {
                name,
                problem: "is required".into(),
            })?;
        let parts: Vec<&str> = secret_arn.splitn(7, ':').collect();
        if parts.len() != 7
            || parts[0] != "arn"
            || parts[2] != "secretsmanager"
            || parts[5] != "secret"
            || parts[6].is_empty()
        {
            // The value is not quoted: a webhook URL set here by mistake must not be logged.
            return Err(NotifierConfigError {
                name,
                problem: "is not a Secrets Manager secret ARN \
                          (arn:<partition>:secretsmanager:<region>:<account>:secret:<name>)"
                    .into(),
            });
        }
        let allowed_urls = match lookup(ALLOWED_URL_PREFIXES_VARIABLE) {
            Some(list) => AllowedUrls::parse(&list).map_err(|problem| NotifierConfigError {
                name: ALLOWED_URL_PREFIXES_VARIABLE,
                problem,
            })?,
            None => AllowedUrls::default(),
        };
        Ok(Self {
            secret_arn,
            allowed_urls,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-webhook-AbCdEf";

    fn config(value: Option<&str>) -> Result<Config, NotifierConfigError> {
        Config::from_lookup(|name| match name {
            SECRET_ARN_VARIABLE => value.map(str::to_owned),
            ALLOWED_URL_PREFIXES_VARIABLE => None,
            other => panic!("reads {other}"),
        })
    }

    fn allowing(prefixes: &str) -> Result<Config, NotifierConfigError> {
        Config::from_lookup(|name| match name {
            SECRET_ARN_VARIABLE => Some(ARN.to_owned()),
            ALLOWED_URL_PREFIXES_VARIABLE => Some(prefixes.to_owned()),
            other => panic!("reads {other}"),
        })
    }

    #[test]
    fn reads_the_secret_arn() {
        assert_eq!(config(Some(ARN)).unwrap().secret_arn, ARN);
        assert_eq!(config(Some(&format!(" {ARN}\n"))).unwrap().secret_arn, ARN);
    }

    #[test]
    fn slack_is_the_only_webhook_host_unless_the_setting_says_otherwise() {
        assert_eq!(
            config(Some(ARN)).unwrap().allowed_urls,
            AllowedUrls::default()
        );
        assert_eq!(allowing("").unwrap().allowed_urls, AllowedUrls::default());
        assert_eq!(
            allowing("http://127.0.0.1:9000/")
                .unwrap()
                .allowed_urls
                .to_string(),
            "http://127.0.0.1:9000/"
        );
        assert_eq!(
            allowing("https://hooks.slack.com/services/T0/B0/secret0token")
                .unwrap_err()
                .to_string(),
            "setting WEBHOOK_ALLOWED_URL_PREFIXES: entry 1 is not a URL prefix such as \
             https://hooks.slack.com/ (https, or http for localhost and 127.0.0.1, ending in /)"
        );
    }

    #[test]
    fn a_missing_or_bad_arn_is_named() {
        for (value, expected) in [
            (None, "setting SLACK_WEBHOOK_SECRET_ARN: is required"),
            (Some("  "), "setting SLACK_WEBHOOK_SECRET_ARN: is required"),
            (
                Some("slack-webhook"),
                "setting SLACK_WEBHOOK_SECRET_ARN: is not a Secrets Manager secret ARN",
            ),
            (
                Some("arn:aws:sns:us-east-1:123456789012:alerts"),
                "setting SLACK_WEBHOOK_SECRET_ARN: is not a Secrets Manager secret ARN",
            ),
            (
                Some("https://hooks.slack.com/services/T000/B000/XXXX"),
                "setting SLACK_WEBHOOK_SECRET_ARN: is not a Secrets Manager secret ARN",
            ),
        ] {
            let error = config(value).unwrap_err().to_string();
            assert!(error.starts_with(expected), "{error:?}");
            assert!(!error.contains("hooks.slack.com"), "{error:?}");
        }
    }
}
