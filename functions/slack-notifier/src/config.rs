//! The function's settings, read once at cold start.

/// The variable naming the secret that holds the webhook URL.
pub const SECRET_ARN_VARIABLE: &str = "SLACK_WEBHOOK_SECRET_ARN";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The Secrets Manager secret holding the Slack incoming-webhook URL.
    pub secret_arn: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so that tests need not touch the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let name = SECRET_ARN_VARIABLE;
        let secret_arn = lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or(ConfigError {
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
            return Err(ConfigError {
                name,
                problem: "is not a Secrets Manager secret ARN \
                          (arn:<partition>:secretsmanager:<region>:<account>:secret:<name>)"
                    .into(),
            });
        }
        Ok(Self { secret_arn })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(value: Option<&str>) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            assert_eq!(name, SECRET_ARN_VARIABLE);
            value.map(str::to_owned)
        })
    }

    #[test]
    fn reads_the_secret_arn() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-webhook-AbCdEf";
        assert_eq!(config(Some(arn)).unwrap().secret_arn, arn);
        assert_eq!(config(Some(&format!(" {arn}\n"))).unwrap().secret_arn, arn);
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
