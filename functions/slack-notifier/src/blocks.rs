//! The Slack message of an alert, in Block Kit: a header with the severity icon
//! and headline, the store's facts as section fields, the error cause, what to
//! do, and a context line identifying the alert. `text` is the fallback Slack
//! shows in notifications and to clients that cannot draw blocks.
//!
//! Slack refuses a message whose texts exceed its limits, so every text is cut
//! to its limit on a character boundary, never inside an escape.

use crate::text::{fit, plain};
use chrono::SecondsFormat;
use serde::Serialize;
use shared::render::{self, AlertDocument};

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
pub fn message(document: &AlertDocument) -> Message {
    let alert = &document.alert;
    let header = format!(
        "{} {}",
        render::severity_emoji(alert.severity),
        render::headline(alert)
    );
    let error = match &alert.error_cause {
        Some(cause) => labelled(
            &format!("Error: {}", cause.category),
            &cause.message,
            TEXT_MAX_CHARS,
        ),
        None => labelled("Error", "None reported.", TEXT_MAX_CHARS),
    };
    let store = format!(
        "{}\n{}",
        alert.datastore_name,
        code(alert.datastore_id.as_str())
    );
    let context = format!(
        "Alert {} · observed {} · healthlake-monitor",
        code(&alert.id),
        alert.observed_at.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let section = |text: Text| Block::Section {
        text: Some(text),
        fields: Vec::new(),
    };
    Message {
        text: fit(&document.subject, TEXT_MAX_CHARS, plain),
        blocks: vec![
            Block::Header {
                text: Text::PlainText {
                    text: fit(&header, HEADER_MAX_CHARS, plain),
                    emoji: true,
                },
            },
            Block::Section {
                text: None,
                fields: vec![
                    labelled("Data store", &store, FIELD_MAX_CHARS),
                    labelled("Account", &code(alert.account.as_str()), FIELD_MAX_CHARS),
                    labelled("Region", alert.region.as_str(), FIELD_MAX_CHARS),
                    labelled("Status", &render::status_change(alert), FIELD_MAX_CHARS),
                ],
            },
            section(error),
            section(labelled("What to do", &document.next_step, TEXT_MAX_CHARS)),
            Block::Context {
                elements: vec![Text::Mrkdwn {
                    text: fit(&context, TEXT_MAX_CHARS, escape_char),
                }],
            },
        ],
    }
}

/// `*label*` over `body` as mrkdwn, escaped and cut to `max` characters.
fn labelled(label: &str, body: &str, max: usize) -> Text {
    let label = format!("*{}*\n", escape(label));
    let room = max.saturating_sub(label.chars().count());
    Text::Mrkdwn {
        text: label + &fit(body, room, escape_char),
    }
}

/// Inline code, for identifiers a person copies.
fn code(text: &str) -> String {
    format!("`{text}`")
}

/// Slack's mrkdwn reserves `&`, `<` and `>`.
fn escape(text: &str) -> String {
    text.chars()
        .fold(String::with_capacity(text.len()), |mut out, c| {
            out.push_str(&escape_char(c));
            out
        })
}

fn escape_char(c: char) -> String {
    match c {
        '&' => "&amp;".to_owned(),
        '<' => "&lt;".to_owned(),
        '>' => "&gt;".to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::Value;
    use shared::domain::{
        AlertPolicy, Change, DatastoreStatus, ErrorCategory, ErrorCause, Observation, Scope,
        Transition,
    };

    const MESSAGE: &str = "The KMS key arn:aws:kms:us-east-1:123456789012:key/1234 is not accessible \
                           & grants <denied> for the HealthLake service principal.";

    fn observation(status: DatastoreStatus) -> Observation {
        let mut o = shared::fixtures::observation("0123456789abcdef0123456789abcdef", status);
        o.name = "patients-prod".into();
        o.endpoint = String::new();
        o
    }

    fn document(name: &str, cause: Option<ErrorCause>) -> AlertDocument {
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
        render::document(&shared::domain::Alert::new(
            &scope,
            &transition,
            decision,
            7,
            at,
        ))
    }

    fn failed(message: &str) -> AlertDocument {
        document(
            "patients-prod",
            Some(ErrorCause {
                message: message.to_owned(),
                category: ErrorCategory::NonRetryable,
            }),
        )
    }

    fn rendered(document: &AlertDocument) -> Value {
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
    fn an_escape_is_never_split() {
        assert_eq!(fit("a&b", 5, escape_char), "a…");
        assert_eq!(fit("a&bc", 7, escape_char), "a&amp;…");
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
        fn a_cut_text_is_a_prefix_of_the_escaped_text(text in "[<>&a-zé ]{0,80}", max in 1usize..60) {
            let full = escape(&text);
            let cut = fit(&text, max, escape_char);
            prop_assert!(cut.chars().count() <= max);
            let kept = cut.strip_suffix('…').unwrap_or(&cut);
            prop_assert!(full.starts_with(kept));
            // No escape is left half-written.
            prop_assert!(kept.rfind('&').is_none_or(|i| kept[i..].contains(';')));
        }
    }
}
