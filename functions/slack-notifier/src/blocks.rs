//! The Slack messages, in Block Kit. An alert: a header with the severity icon
//! and headline, the store's facts as section fields, the error cause, what to
//! do, and a context line identifying the alert. A CloudWatch alarm: a header
//! with the state's icon, the new state and the alarm's name, the state change
//! and the alarm's facts as fields, the reason, the description, a link to the
//! alarm in the console, and its ARN. `text` is the fallback Slack shows in
//! notifications and to clients that cannot draw blocks.
//!
//! Every text from data goes through [`text::fit`](monitor_core::text::fit):
//! its hidden characters shown as everywhere else, Slack's markup characters
//! escaped, and cut to Slack's limit on a character boundary, never inside an
//! escape (Slack refuses a message whose texts exceed its limits).

use crate::alarm::Alarm;
use crate::decode::ReceivedAlert;
use chrono::SecondsFormat;
use monitor_core::render;
use monitor_core::text::Part::{self, Data, Layout};
use monitor_core::text::fit;
use serde::Serialize;

/// A header block's `plain_text`.
pub const HEADER_MAX_CHARS: usize = 150;
/// A section's `text`, and a context element's.
pub const TEXT_MAX_CHARS: usize = 3000;
/// Each of a section's `fields`.
pub const FIELD_MAX_CHARS: usize = 2000;

/// An incoming-webhook message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// The fallback for notifications and for clients that cannot draw blocks.
    pub text: String,
    pub blocks: Vec<Block>,
}

/// The blocks this message uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Header {
        text: Text,
    },
    Section {
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<Text>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        fields: Vec<Text>,
    },
    Context {
        elements: Vec<Text>,
    },
}

/// A Block Kit text object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Text {
    PlainText { text: String, emoji: bool },
    Mrkdwn { text: String },
}

/// The webhook message for an alert document.
pub fn message(document: &ReceivedAlert) -> Message {
    let alert = &document.alert;
    let headline = render::headline(alert);
    let status = render::status_change(alert);
    let observed = alert.observed_at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let error = match &alert.error_cause {
        Some(cause) => mrkdwn(
            &[
                Layout("*Error: "),
                Data(cause.category.as_str()),
                Layout("*\n"),
                Data(&cause.message),
            ],
            TEXT_MAX_CHARS,
        ),
        None => mrkdwn(&[Layout("*Error*\nNone reported.")], TEXT_MAX_CHARS),
    };
    Message {
        text: fit(&[Data(&document.subject)], TEXT_MAX_CHARS),
        blocks: vec![
            header(&[
                Layout(render::severity_emoji(alert.severity)),
                Layout(" "),
                Data(&headline),
            ]),
            fields(vec![
                mrkdwn(
                    &[
                        Layout("*Data store*\n"),
                        Data(&alert.datastore_name),
                        Layout("\n`"),
                        Data(alert.datastore_id.as_str()),
                        Layout("`"),
                    ],
                    FIELD_MAX_CHARS,
                ),
                mrkdwn(
                    &[
                        Layout("*Account*\n`"),
                        Data(alert.account.as_str()),
                        Layout("`"),
                        Layout(if alert.account_name.is_some() {
                            " "
                        } else {
                            ""
                        }),
                        Data(alert.account_name.as_deref().unwrap_or_default()),
                    ],
                    FIELD_MAX_CHARS,
                ),
                mrkdwn(
                    &[Layout("*Region*\n"), Data(alert.region.as_str())],
                    FIELD_MAX_CHARS,
                ),
                mrkdwn(&[Layout("*Status*\n"), Data(&status)], FIELD_MAX_CHARS),
            ]),
            section(error),
            section(mrkdwn(
                &[Layout("*What to do*\n"), Data(&document.next_step)],
                TEXT_MAX_CHARS,
            )),
            context(&[
                Layout("Alert `"),
                Data(&alert.id),
                Layout("` · observed "),
                Data(&observed),
                Layout(" · healthlake-monitor"),
            ]),
        ],
    }
}

/// The Slack emoji code of an alarm state.
fn state_emoji(state: &str) -> &'static str {
    match state {
        "ALARM" => ":red_circle:",
        "OK" => ":large_green_circle:",
        "INSUFFICIENT_DATA" => ":white_circle:",
        _ => ":grey_question:",
    }
}

/// The webhook message for a CloudWatch alarm's notification.
pub fn alarm(alarm: &Alarm) -> Message {
    let name = alarm.alarm_name.as_str();
    let new = alarm.new_state_value.as_str();
    let old = alarm.old_state_value.as_deref().filter(|s| !s.is_empty());
    let given = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());

    let mut text = vec![Data(new), Layout(": "), Data(name)];
    if let Some(old) = old {
        text.extend([
            Layout(" ("),
            Data(old),
            Layout(" → "),
            Data(new),
            Layout(")"),
        ]);
    }
    let region = given(&alarm.region);
    if let Some(region) = &region {
        text.extend([Layout(" in "), Data(region)]);
    }

    let mut state = vec![Layout("*State*\n")];
    if let Some(old) = old {
        state.extend([Data(old), Layout(" → ")]);
    }
    state.push(Data(new));
    let mut facts = vec![mrkdwn(&state, FIELD_MAX_CHARS)];
    if let Some(account) = given(&alarm.account_id) {
        facts.push(mrkdwn(
            &[Layout("*Account*\n`"), Data(&account), Layout("`")],
            FIELD_MAX_CHARS,
        ));
    }
    if let Some(region) = &region {
        facts.push(mrkdwn(
            &[Layout("*Region*\n"), Data(region)],
            FIELD_MAX_CHARS,
        ));
    }
    if let Some(at) = alarm.changed_at() {
        facts.push(mrkdwn(
            &[Layout("*Changed at*\n"), Data(&at)],
            FIELD_MAX_CHARS,
        ));
    }
    let trigger = alarm.trigger.as_ref();
    if let Some(metric) = trigger.and_then(|t| given(&t.metric_name)) {
        let mut parts = vec![Layout("*Metric*\n"), Data(&metric)];
        let namespace = trigger.and_then(|t| given(&t.namespace));
        if let Some(namespace) = &namespace {
            parts.extend([Layout(" in "), Data(namespace)]);
        }
        facts.push(mrkdwn(&parts, FIELD_MAX_CHARS));
    }

    let mut blocks = vec![
        header(&[
            Layout(state_emoji(new)),
            Layout(" "),
            Data(new),
            Layout(": "),
            Data(name),
        ]),
        fields(facts),
    ];
    if let Some(reason) = given(&alarm.new_state_reason) {
        blocks.push(section(mrkdwn(
            &[Layout("*Reason*\n"), Data(&reason)],
            TEXT_MAX_CHARS,
        )));
    }
    if let Some(description) = given(&alarm.alarm_description) {
        blocks.push(section(mrkdwn(
            &[Layout("*Description*\n"), Data(&description)],
            TEXT_MAX_CHARS,
        )));
    }
    if let Some(url) = alarm.console_url() {
        // The URL is built from a checked region code and a percent-encoded
        // name: it holds none of Slack's reserved characters.
        let link = format!("<{url}|Open the alarm in the CloudWatch console>");
        blocks.push(section(mrkdwn(&[Layout(&link)], TEXT_MAX_CHARS)));
    }
    let arn = given(&alarm.alarm_arn);
    blocks.push(match &arn {
        Some(arn) => context(&[
            Layout("Alarm `"),
            Data(arn),
            Layout("` · healthlake-monitor"),
        ]),
        None => context(&[Layout("CloudWatch alarm · healthlake-monitor")]),
    });
    Message {
        text: fit(&text, TEXT_MAX_CHARS),
        blocks,
    }
}

fn header(parts: &[Part<'_>]) -> Block {
    Block::Header {
        text: Text::PlainText {
            text: fit(parts, HEADER_MAX_CHARS),
            emoji: true,
        },
    }
}

fn fields(fields: Vec<Text>) -> Block {
    Block::Section { text: None, fields }
}

fn section(text: Text) -> Block {
    Block::Section {
        text: Some(text),
        fields: Vec::new(),
    }
}

fn context(parts: &[Part<'_>]) -> Block {
    Block::Context {
        elements: vec![mrkdwn(parts, TEXT_MAX_CHARS)],
    }
}

fn mrkdwn(parts: &[Part<'_>], max: usize) -> Text {
    Text::Mrkdwn {
        text: fit(parts, max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use monitor_core::document::AlertDocumentV1;
    use monitor_core::domain::{
        AlertPolicy, Change, DatastoreStatus, ErrorCategory, ErrorCause, Observation, Scope,
        Transition,
    };
    use proptest::prelude::*;
    use serde_json::Value;

    const MESSAGE: &str = "The KMS key arn:aws:kms:us-east-1:123456789012:key/1234 is not accessible \
                           & grants <denied> for the HealthLake service principal.";

    fn observation(status: DatastoreStatus) -> Observation {
        let mut o = monitor_core::fixtures::observation("0123456789abcdef0123456789abcdef", status);
        o.name = "patients-prod".into();
        o.endpoint = String::new();
        o
    }

    fn document(name: &str, cause: Option<ErrorCause>) -> ReceivedAlert {
        let previous = observation(DatastoreStatus::Creating);
        let mut current = observation(DatastoreStatus::CreateFailed);
        current.name = name.to_owned();
        current.error_cause = cause;
        let scope = Scope::new(current.account.clone(), current.region.clone());
        let transition = Transition::Changed { previous, current };
        let decision = AlertPolicy::default().classify(&transition).unwrap();
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
            .single()
            .unwrap();
        let alert = monitor_core::domain::Alert::new(&scope, &transition, decision, 7, at);
        ReceivedAlert::try_from(AlertDocumentV1::from(&alert)).unwrap()
    }

    fn failed(message: &str) -> ReceivedAlert {
        document(
            "patients-prod",
            Some(ErrorCause {
                message: message.to_owned(),
                category: ErrorCategory::NonRetryable,
            }),
        )
    }

    fn rendered(document: &ReceivedAlert) -> Value {
        serde_json::to_value(message(document)).unwrap()
    }

    fn texts(message: &Value) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        for block in message["blocks"].as_array().unwrap() {
            let limit = match block["type"].as_str().unwrap() {
                "header" => HEADER_MAX_CHARS,
                _ => TEXT_MAX_CHARS,
            };
            if let Some(text) = block["text"]["text"].as_str() {
                out.push((text.to_owned(), limit));
            }
            for field in block["fields"].as_array().into_iter().flatten() {
                out.push((field["text"].as_str().unwrap().to_owned(), FIELD_MAX_CHARS));
            }
            for element in block["elements"].as_array().into_iter().flatten() {
                out.push((element["text"].as_str().unwrap().to_owned(), TEXT_MAX_CHARS));
            }
        }
        out
    }

    #[test]
    fn a_failure_reads_in_blocks() {
        let message = rendered(&failed(MESSAGE));
        assert_eq!(
            message["text"],
            "[CRITICAL] HealthLake data store patients-prod is CREATE_FAILED in us-east-1"
        );
        let blocks = message["blocks"].as_array().unwrap();
        let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["header", "section", "section", "section", "context"]
        );
        assert_eq!(blocks[0]["text"]["type"], "plain_text");
        assert_eq!(
            blocks[0]["text"]["text"],
            ":red_circle: HealthLake data store patients-prod is CREATE_FAILED in us-east-1"
        );
        let fields: Vec<&str> = blocks[1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "*Data store*\npatients-prod\n`0123456789abcdef0123456789abcdef`",
                "*Account*\n`123456789012`",
                "*Region*\nus-east-1",
                "*Status*\nCREATING → CREATE_FAILED",
            ]
        );
        assert_eq!(
            blocks[2]["text"]["text"],
            "*Error: NON_RETRYABLE_ERROR*\nThe KMS key arn:aws:kms:us-east-1:123456789012:key/1234 \
             is not accessible &amp; grants &lt;denied&gt; for the HealthLake service principal."
        );
        let next = blocks[3]["text"]["text"].as_str().unwrap();
        assert!(
            next.starts_with("*What to do*\nRetrying will not help"),
            "{next}"
        );
        assert_eq!(
            blocks[4]["elements"][0]["text"],
            "Alert `123456789012#us-east-1#0123456789abcdef0123456789abcdef#7` · \
             observed 2026-11-26T09:30:00Z · healthlake-monitor"
        );
    }

    #[test]
    fn an_id_with_spaces_and_non_ascii_letters_is_shown_as_it_is() {
        for id in ["store one", "é:ü/2=+%@", "data_store.v1", "データストア ٣"] {
            let mut document = failed(MESSAGE);
            document.alert.datastore_id = monitor_core::domain::DatastoreId::parse(id).unwrap();
            document.alert.id = format!("123456789012#us-east-1#{id}#7");
            let message = rendered(&document);
            assert_eq!(
                message["blocks"][1]["fields"][0]["text"],
                format!("*Data store*\npatients-prod\n`{id}`")
            );
            assert_eq!(
                message["blocks"][4]["elements"][0]["text"],
                format!(
                    "Alert `123456789012#us-east-1#{id}#7` · observed 2026-11-26T09:30:00Z · healthlake-monitor"
                )
            );
        }
    }

    #[test]
    fn no_error_cause_says_so() {
        let message = rendered(&document("patients-prod", None));
        assert_eq!(
            message["blocks"][2]["text"]["text"],
            "*Error*\nNone reported."
        );
    }

    #[test]
    fn a_vanished_store_reads_as_no_longer_listed() {
        let mut document = failed(MESSAGE);
        document.alert.status = None;
        document.alert.change = Change::Vanished;
        assert_eq!(
            render::status_change(&document.alert),
            "CREATING → no longer listed"
        );
        document.alert.previous_status = None;
        document.alert.change = Change::Appeared;
        assert_eq!(
            render::status_change(&document.alert),
            "first seen → unknown"
        );
    }

    #[test]
    fn the_longest_error_message_is_cut_to_the_section_limit() {
        // HealthLake error messages run up to 4096 characters.
        let long = "é<".repeat(2048);
        let message = rendered(&failed(&long));
        let text = message["blocks"][2]["text"]["text"].as_str().unwrap();
        assert_eq!(text.chars().count(), TEXT_MAX_CHARS);
        assert!(text.ends_with("é&lt;…"), "an escape is never split");
    }

    #[test]
    fn hostile_data_is_escaped_everywhere_and_breaks_no_line() {
        let name = "<!channel> patients\u{1b}[31m & co <https://evil.example|click>";
        let mut document = failed("denied <!everyone>\r\n*Status*\nACTIVE \u{7}");
        document.alert.datastore_name = name.to_owned();
        document.alert.status = Some(DatastoreStatus::parse("ACTIVE<!here>"));
        document.subject = format!("[CRITICAL] HealthLake data store {name} is failed");
        let message = rendered(&document);
        assert_eq!(
            message["text"],
            "[CRITICAL] HealthLake data store &lt;!channel&gt; patients\\u{1b}[31m &amp; co \
             &lt;https://evil.example|click&gt; is failed"
        );
        assert_eq!(
            message["blocks"][1]["fields"][0]["text"],
            "*Data store*\n&lt;!channel&gt; patients\\u{1b}[31m &amp; co &lt;https://evil.example|click&gt;\n\
             `0123456789abcdef0123456789abcdef`"
        );
        assert_eq!(
            message["blocks"][1]["fields"][3]["text"],
            "*Status*\nCREATING → ACTIVE&lt;!here&gt;"
        );
        assert_eq!(
            message["blocks"][2]["text"]["text"],
            "*Error: NON_RETRYABLE_ERROR*\ndenied &lt;!everyone&gt;\\u{d}\\u{a}*Status*\\u{a}ACTIVE \\u{7}"
        );
        for (text, _) in texts(&message) {
            assert!(!text.contains('<') && !text.contains('>'), "{text}");
        }
    }

    fn alarm(value: Value) -> Alarm {
        serde_json::from_value(value).unwrap()
    }

    fn failed_store_alarm() -> Value {
        serde_json::json!({
            "AlarmName": "healthlake-monitor-datastore-failed",
            "AlarmDescription": "A HealthLake data store is failed.",
            "AWSAccountId": "123456789012",
            "NewStateValue": "ALARM",
            "NewStateReason": "Threshold Crossed: 1 datapoint [1.0] was >= the threshold (1.0).",
            "StateChangeTime": "2026-11-26T09:35:12.345+0000",
            "Region": "US East (N. Virginia)",
            "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:healthlake-monitor-datastore-failed",
            "OldStateValue": "OK",
            "Trigger": {"MetricName": "FailedDatastores", "Namespace": "HealthLakeMonitor"},
        })
    }

    #[test]
    fn an_alarm_reads_in_blocks() {
        let message = serde_json::to_value(super::alarm(&alarm(failed_store_alarm()))).unwrap();
        assert_eq!(
            message["text"],
            "ALARM: healthlake-monitor-datastore-failed (OK → ALARM) in US East (N. Virginia)"
        );
        let blocks = message["blocks"].as_array().unwrap();
        let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "header", "section", "section", "section", "section", "context"
            ]
        );
        assert_eq!(
            blocks[0]["text"]["text"],
            ":red_circle: ALARM: healthlake-monitor-datastore-failed"
        );
        let fields: Vec<&str> = blocks[1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            [
                "*State*\nOK → ALARM",
                "*Account*\n`123456789012`",
                "*Region*\nUS East (N. Virginia)",
                "*Changed at*\n2026-11-26T09:35:12Z",
                "*Metric*\nFailedDatastores in HealthLakeMonitor",
            ]
        );
        assert_eq!(
            blocks[2]["text"]["text"],
            "*Reason*\nThreshold Crossed: 1 datapoint [1.0] was &gt;= the threshold (1.0)."
        );
        assert_eq!(
            blocks[3]["text"]["text"],
            "*Description*\nA HealthLake data store is failed."
        );
        assert_eq!(
            blocks[4]["text"]["text"],
            "<https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1\
             #alarmsV2:alarm/healthlake-monitor-datastore-failed|Open the alarm in the CloudWatch console>"
        );
        assert_eq!(
            blocks[5]["elements"][0]["text"],
            "Alarm `arn:aws:cloudwatch:us-east-1:123456789012:alarm:healthlake-monitor-datastore-failed` \
             · healthlake-monitor"
        );
    }

    #[test]
    fn a_bare_alarm_shows_what_it_has() {
        let message = serde_json::to_value(super::alarm(&alarm(serde_json::json!({
            "AlarmName": "x",
            "NewStateValue": "INSUFFICIENT_DATA",
            "AlarmDescription": null,
            "NewStateReason": " ",
        }))))
        .unwrap();
        assert_eq!(message["text"], "INSUFFICIENT_DATA: x");
        assert_eq!(
            message["blocks"],
            serde_json::json!([
                {"type": "header", "text": {"type": "plain_text", "text": ":white_circle: INSUFFICIENT_DATA: x", "emoji": true}},
                {"type": "section", "fields": [{"type": "mrkdwn", "text": "*State*\nINSUFFICIENT_DATA"}]},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "CloudWatch alarm · healthlake-monitor"}]},
            ])
        );
    }

    proptest! {
        #[test]
        fn every_text_is_within_its_slack_limit(
            name in "\\PC{1,400}",
            cause in "[<>&a-zé🩺 ]{1,4096}",
        ) {
            let message = rendered(&document(
                &name,
                Some(ErrorCause { message: cause, category: ErrorCategory::Retryable }),
            ));
            for (text, limit) in texts(&message) {
                prop_assert!(text.chars().count() <= limit, "{} > {limit}", text.chars().count());
                prop_assert!(!text.is_empty());
            }
        }

        #[test]
        fn every_alarm_text_is_within_its_slack_limit_and_escaped(
            name in "\\PC{1,255}",
            state in "[A-Z_<>&]{1,40}",
            reason in "(\\PC|[\\x00-\\x1f<>&]){0,1500}",
            description in "[<>&a-zé🩺\\n ]{0,1024}",
        ) {
            let mut value = failed_store_alarm();
            value["AlarmName"] = name.into();
            value["NewStateValue"] = state.into();
            value["NewStateReason"] = reason.repeat(3).into();
            value["AlarmDescription"] = description.into();
            let message = serde_json::to_value(super::alarm(&alarm(value))).unwrap();
            prop_assert!(message["text"].as_str().unwrap().chars().count() <= TEXT_MAX_CHARS);
            for (text, limit) in texts(&message) {
                prop_assert!(text.chars().count() <= limit, "{} > {limit}", text.chars().count());
                prop_assert!(!text.chars().any(|c| c.is_control() && c != '\n'));
                let links = text.matches('<').count();
                prop_assert!(links == 0 || text.starts_with("<https://us-east-1.console.aws.amazon.com/"));
            }
        }
    }
}
