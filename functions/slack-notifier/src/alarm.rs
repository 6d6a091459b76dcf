//! A CloudWatch alarm's notification: the JSON CloudWatch publishes as the SNS
//! Message when an alarm whose action is a topic changes state.
//!
//! Only the alarm's name and new state are required; everything else is read
//! when present (CloudWatch sends `AlarmDescription` as null when there is none,
//! older notifications have no `AlarmArn`, and composite and metric-math alarms
//! have no single metric in their `Trigger`).

use chrono::{DateTime, SecondsFormat};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alarm {
    pub alarm_name: String,
    /// `ALARM`, `OK` or `INSUFFICIENT_DATA`.
    pub new_state_value: String,
    #[serde(default)]
    pub old_state_value: Option<String>,
    #[serde(default)]
    pub new_state_reason: Option<String>,
    #[serde(default)]
    pub alarm_description: Option<String>,
    #[serde(rename = "AWSAccountId", default)]
    pub account_id: Option<String>,
    /// The region's long name, such as "US East (N. Virginia)".
    #[serde(default)]
    pub region: Option<String>,
    /// `2026-11-26T09:35:12.345+0000`.
    #[serde(default)]
    pub state_change_time: Option<String>,
    /// `arn:aws:cloudwatch:<region code>:<account>:alarm:<name>`.
    #[serde(default)]
    pub alarm_arn: Option<String>,
    #[serde(default)]
    pub trigger: Option<Trigger>,
}

/// The metric of a single-metric alarm.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Trigger {
    #[serde(default)]
    pub metric_name: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
}

impl Alarm {
    /// The alarm's page in the CloudWatch console, for an alarm of the `aws`
    /// partition whose ARN names its region.
    pub(crate) fn console_url(&self) -> Option<String> {
        let arn = self.alarm_arn.as_deref()?;
        let parts: Vec<&str> = arn.splitn(7, ':').collect();
        let [arn, partition, service, region, _account, kind, _name] = parts[..] else {
            return None;
        };
        let region_code = !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if arn != "arn" || partition != "aws" || service != "cloudwatch" || kind != "alarm" {
            return None;
        }
        region_code.then(|| {
            format!(
                "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}\
                 #alarmsV2:alarm/{}",
                percent_encode(&self.alarm_name)
            )
        })
    }

    /// When the state changed, as `2026-11-26T09:35:12Z`; the text as sent when
    /// it is not a time CloudWatch writes.
    pub(crate) fn changed_at(&self) -> Option<String> {
        let sent = self.state_change_time.as_deref()?;
        Some(
            DateTime::parse_from_str(sent, "%Y-%m-%dT%H:%M:%S%.f%z")
                .map(|t| t.to_utc().to_rfc3339_opts(SecondsFormat::Secs, true))
                .unwrap_or_else(|_| sent.to_owned()),
        )
    }
}

/// Every byte but RFC 3986's unreserved characters as `%XX`.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn alarm(value: serde_json::Value) -> Alarm {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn reads_what_cloudwatch_sends() {
        // The example notification of the AWS Lambda events library, with the
        // null description CloudWatch sends for an alarm without one.
        let a = alarm(json!({
            "AlarmName": "EXAMPLE",
            "AlarmDescription": null,
            "AWSAccountId": "123456789012",
            "NewStateValue": "ALARM",
            "NewStateReason": "Threshold Crossed: 1 out of the last 1 datapoints [1234.0 (06/03/15 17:43:27)] was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).",
            "StateChangeTime": "2015-06-03T17:43:27.123+0000",
            "Region": "US East (N. Virginia)",
            "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:EXAMPLE",
            "OldStateValue": "INSUFFICIENT_DATA",
            "Trigger": {
                "MetricName": "NetworkOut", "Namespace": "AWS/EC2", "StatisticType": "Statistic",
                "Statistic": "AVERAGE", "Unit": "Bytes",
                "Dimensions": [{"value": "TestInstance", "name": "InstanceId"}],
                "Period": 60, "EvaluationPeriods": 1,
                "ComparisonOperator": "GreaterThanThreshold", "Threshold": 0.0,
                "TreatMissingData": "- TreatMissingData: missing",
                "EvaluateLowSampleCountPercentile": ""
            }
        }));
        assert_eq!(a.alarm_name, "EXAMPLE");
        assert_eq!(a.alarm_description, None);
        assert_eq!(a.old_state_value.as_deref(), Some("INSUFFICIENT_DATA"));
        assert_eq!(a.changed_at().as_deref(), Some("2015-06-03T17:43:27Z"));
        assert_eq!(
            a.trigger.as_ref().unwrap().metric_name.as_deref(),
            Some("NetworkOut")
        );
        assert_eq!(
            a.console_url().as_deref(),
            Some(
                "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1\
                 #alarmsV2:alarm/EXAMPLE"
            )
        );
    }

    #[test]
    fn only_the_name_and_new_state_are_required() {
        let a = alarm(json!({"AlarmName": "x", "NewStateValue": "OK"}));
        assert_eq!(a.console_url(), None);
        assert_eq!(a.changed_at(), None);
        assert!(serde_json::from_value::<Alarm>(json!({"AlarmName": "x"})).is_err());
    }

    #[test]
    fn a_time_in_another_form_is_shown_as_sent() {
        let a =
            alarm(json!({"AlarmName": "x", "NewStateValue": "OK", "StateChangeTime": "yesterday"}));
        assert_eq!(a.changed_at().as_deref(), Some("yesterday"));
    }

    #[test]
    fn the_link_encodes_the_name_and_needs_a_region_code() {
        let with_arn = |name: &str, arn: &str| {
            alarm(json!({"AlarmName": name, "NewStateValue": "OK", "AlarmArn": arn})).console_url()
        };
        assert_eq!(
            with_arn(
                "errors / prod #1 <é>",
                "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:errors / prod #1 <é>"
            )
            .as_deref(),
            Some(
                "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1\
                 #alarmsV2:alarm/errors%20%2F%20prod%20%231%20%3C%C3%A9%3E"
            )
        );
        for arn in [
            "arn:aws:cloudwatch:US East:123456789012:alarm:x",
            "arn:aws:cloudwatch::123456789012:alarm:x",
            "arn:aws:cloudwatch:evil.example/x?:123456789012:alarm:x",
            "arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:x",
            "arn:aws:sns:us-east-1:123456789012:alarm:x",
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm",
            "not an arn",
        ] {
            assert_eq!(with_arn("x", arn), None, "{arn}");
        }
    }

    proptest! {
        #[test]
        fn an_encoded_name_holds_only_unreserved_characters_and_escapes(name in "\\PC{0,60}") {
            let encoded = percent_encode(&name);
            prop_assert!(encoded.chars().all(|c| c.is_ascii_alphanumeric() || "-_.~%".contains(c)));
        }
    }
}
