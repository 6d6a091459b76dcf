//! How an alert reads: an SNS subject, a plain-text email body, and an AWS
//! Chatbot custom notification. The JSON document for machines is
//! [`crate::document`].

use crate::domain::{Alert, Change, DatastoreStatus, ErrorCategory, Reason, Severity};
use crate::text::{self, chat, visible};
use serde_json::{Value, json};

/// SNS requires a subject of fewer than 100 characters with no line breaks or
/// control characters.
const MAX_SUBJECT_CHARS: usize = 99;

/// The status the store left, as a person reads it.
pub(crate) fn previous_status_label(alert: &Alert) -> &str {
    alert
        .previous_status
        .as_ref()
        .map_or("first seen", DatastoreStatus::as_str)
}

/// The status the store is in now, as a person reads it.
pub(crate) fn status_label(alert: &Alert) -> &str {
    match (&alert.status, alert.change) {
        (Some(s), _) => s.as_str(),
        (None, Change::Vanished) => "no longer listed",
        (None, _) => "unknown",
    }
}

/// `CREATING → CREATE_FAILED`, `first seen → CREATE_FAILED`, `DELETED → no longer listed`.
pub fn status_change(alert: &Alert) -> String {
    format!("{} → {}", previous_status_label(alert), status_label(alert))
}

/// The Slack emoji code of a severity, shared by the Chatbot and webhook messages.
pub fn severity_emoji(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => ":red_circle:",
        Severity::Warning => ":warning:",
        Severity::Info => ":information_source:",
    }
}

/// How long a stay in a status has lasted, as a person reads it: `45 min`,
/// `3 h 20 min`, `2 d 4 h`.
pub fn duration(length: chrono::Duration) -> String {
    let minutes = length.num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours, minutes) {
        (0, 0, m) => format!("{m} min"),
        (0, h, 0) => format!("{h} h"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, 0, _) => format!("{d} d"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

/// How long the stay an alert tells of has lasted when it was observed.
pub fn stay(alert: &Alert) -> Option<String> {
    alert.since.map(|since| duration(alert.observed_at - since))
}

/// A short headline: what happened to which store, where.
pub fn headline(alert: &Alert) -> String {
    let status = status_label(alert);
    let previous = previous_status_label(alert);
    let name = &alert.datastore_name;
    let region = &alert.region;
    match alert.reason {
        Reason::Failure => format!("HealthLake data store {name} is {status} in {region}"),
        Reason::Recovery => {
            format!("HealthLake data store {name} left {previous}: now {status} in {region}")
        }
        Reason::UnknownStatus => {
            format!("HealthLake data store {name} has unknown status {status} in {region}")
        }
        Reason::ErrorCause => {
            format!("HealthLake data store {name} reports an error while {status} in {region}")
        }
        Reason::Status => format!("HealthLake data store {name} is {status} in {region}"),
        Reason::Stuck => match stay(alert) {
            Some(stay) => {
                format!("HealthLake data store {name} stuck in {status} for {stay} in {region}")
            }
            None => format!("HealthLake data store {name} stuck in {status} in {region}"),
        },
        Reason::Unstuck => match stay(alert) {
            Some(stay) => format!(
                "HealthLake data store {name} left {previous} after {stay}: now {status} in {region}"
            ),
            None => {
                format!("HealthLake data store {name} left {previous}: now {status} in {region}")
            }
        },
        Reason::Reminder => match stay(alert) {
            Some(stay) => {
                format!("HealthLake data store {name} still {status} after {stay} in {region}")
            }
            None => format!("HealthLake data store {name} still {status} in {region}"),
        },
    }
}

/// The SNS subject: severity and headline on one line, its runs of spaces
/// read as one, its hidden characters shown, cut to the SNS limit.
pub fn subject(alert: &Alert) -> String {
    let raw = format!(
        "[{}] {}",
        alert.severity.as_str().to_uppercase(),
        headline(alert)
    );
    let words: Vec<&str> = raw
        .split(|c: char| c.is_whitespace() && !text::is_hidden(c))
        .filter(|word| !word.is_empty())
        .collect();
    text::cut(&words.join(" "), MAX_SUBJECT_CHARS)
}

/// A data store id as one word of a shell command a person may paste: an
/// id the model allows may hold spaces and letters beyond ASCII, so any id
/// with more than ASCII letters, digits and `_.:/=+%@-` is put in single
/// quotes, which it cannot contain itself. A hidden character is shown as
/// [`visible`] shows it, like everywhere else.
fn shell_word(id: &str) -> String {
    let shown = visible(id);
    if shown
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.:/=+%@-".contains(c))
    {
        shown
    } else {
        format!("'{shown}'")
    }
}

/// One line on what to do, for the alert's reason and error category.
pub(crate) fn next_step(alert: &Alert) -> String {
    let id = shell_word(alert.datastore_id.as_str());
    let region = &alert.region;
    let describe =
        format!("aws healthlake describe-fhir-datastore --datastore-id {id} --region {region}");
    let failure = matches!(
        alert.reason,
        Reason::Failure | Reason::ErrorCause | Reason::Reminder
    );
    let step = match (
        failure,
        alert.reason,
        alert.error_cause.as_ref().map(|c| &c.category),
    ) {
        (true, _, Some(ErrorCategory::NonRetryable)) => format!(
            "Retrying will not help: fix what the error message names (for example a KMS key or IAM permission), \
             then delete this data store and create a new one. Details: {describe}"
        ),
        (true, _, Some(ErrorCategory::Retryable)) => format!(
            "The failure may be temporary: delete this data store and create it again; if it fails again, \
             open an AWS Support case with the data store ID. Details: {describe}"
        ),
        (true, _, _) => {
            format!(
                "Read the error details and the HealthLake documentation before acting: {describe}"
            )
        }
        (_, Reason::Recovery, _) => {
            "No action needed: the data store is no longer in a failed status.".to_owned()
        }
        (_, Reason::UnknownStatus, _) => format!(
            "AWS reported a status this monitor does not know: check the HealthLake documentation and \
             update healthlake-monitor. Details: {describe}"
        ),
        (_, Reason::Stuck, _) => format!(
            "HealthLake usually finishes this well within that time: check the data store's details and \
             the AWS Health Dashboard; if it does not move on, open an AWS Support case with the data \
             store ID. Details: {describe}"
        ),
        (_, Reason::Unstuck, _) => {
            "No action needed: the data store is no longer stuck.".to_owned()
        }
        (_, _, _) => "For information: no action needed.".to_owned(),
    };
    match (alert.reason, stay(alert)) {
        (Reason::Reminder, Some(stay)) => format!("Failed for {stay} and not fixed yet. {step}"),
        _ => step,
    }
}

/// The plain text a person reads in an email.
/// The account, and its name in parentheses when it has one, shown through `show`.
fn account_label(alert: &Alert, show: impl Fn(&str) -> String) -> String {
    match &alert.account_name {
        Some(name) => format!("{} ({})", alert.account, show(name)),
        None => alert.account.to_string(),
    }
}

pub fn text_body(alert: &Alert) -> String {
    let mut lines = vec![
        format!(
            "{}: {}",
            alert.severity.as_str().to_uppercase(),
            visible(&headline(alert))
        ),
        String::new(),
        format!("Data store:  {}", visible(&alert.datastore_name)),
        format!("ID:          {}", visible(alert.datastore_id.as_str())),
        format!("ARN:         {}", visible(&alert.datastore_arn)),
        format!("Account:     {}", account_label(alert, visible)),
        format!("Region:      {}", alert.region),
        format!("Status:      {}", visible(&status_change(alert))),
    ];
    match &alert.error_cause {
        Some(cause) => {
            lines.push(format!("Category:    {}", visible(cause.category.as_str())));
            lines.push(format!("Error:       {}", visible(&cause.message)));
        }
        None => lines.push("Error:       none reported".to_owned()),
    }
    if let (Some(since), Some(stay)) = (alert.since, stay(alert)) {
        lines.push(format!(
            "In status:   {stay}, since {}",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    lines.push(format!(
        "Observed at: {}",
        alert
            .observed_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ));
    lines.push(String::new());
    lines.push(format!("What to do: {}", next_step(alert)));
    lines.push(String::new());
    lines.push(format!("Alert id: {}", visible(&alert.id)));
    lines.push("Sent by healthlake-monitor.".to_owned());
    lines.join("\n") + "\n"
}

/// An AWS Chatbot custom notification, which Slack and Teams channels wired
/// through Chatbot render as is.
pub fn chatbot(alert: &Alert) -> Value {
    let (previous, status) = (previous_status_label(alert), status_label(alert));
    let mut description = format!(
        "*{}* (`{}`) in account {} region {}: {}",
        chat(&alert.datastore_name),
        chat(alert.datastore_id.as_str()),
        account_label(alert, chat),
        alert.region,
        chat(&status_change(alert))
    );
    if let Some(stay) = stay(alert) {
        description.push_str(&format!("\n*In status*: {stay}"));
    }
    if let Some(cause) = &alert.error_cause {
        description.push_str(&format!(
            "\n*{}*: {}",
            chat(cause.category.as_str()),
            chat(&cause.message)
        ));
    }
    let mut keywords = vec![
        alert.severity.as_str().to_owned(),
        status.to_owned(),
        alert.region.to_string(),
    ];
    if let Some(cause) = &alert.error_cause {
        keywords.push(cause.category.to_string());
    }
    json!({
        "version": "1.0",
        "source": "custom",
        "id": alert.id,
        "content": {
            "textType": "client-markdown",
            "title": format!("{} {}", severity_emoji(alert.severity), chat(&headline(alert))),
            "description": description,
            "nextSteps": [chat(&next_step(alert))],
            "keywords": keywords,
        },
        "metadata": {
            "threadId": alert.datastore_arn,
            "summary": chat(&subject(alert)),
            "eventType": format!("healthlake-monitor.{}", alert.reason.as_str()),
            "relatedResources": [alert.datastore_arn],
            "additionalContext": {
                "severity": alert.severity.as_str(),
                "account": alert.account.as_str(),
                "region": alert.region.as_str(),
                "datastoreId": alert.datastore_id.as_str(),
                "previousStatus": previous,
                "status": status,
                "errorCategory": alert.error_cause.as_ref().map(|c| c.category.to_string()),
                "observedAt": alert.observed_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::observation;
    use crate::domain::{AlertPolicy, ErrorCause, Scope, Severity, Transition};
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn failed_alert(name: &str, message: &str) -> Alert {
        let previous = observation("a", DatastoreStatus::Creating);
        let mut current = observation("a", DatastoreStatus::CreateFailed);
        current.name = name.to_owned();
        current.error_cause = Some(ErrorCause {
            message: message.to_owned(),
            category: ErrorCategory::NonRetryable,
        });
        let scope = Scope::new(current.account.clone(), current.region.clone());
        let t = Transition::Changed { previous, current };
        let decision = AlertPolicy::default().classify(&t).expect("alerting");
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
            .single()
            .expect("valid time");
        Alert::new(&scope, &t, decision, 7, at)
    }

    const MESSAGE: &str = "The AWS KMS key arn:aws:kms:us-east-1:123456789012:key/1234 is not accessible: \
                           kms:CreateGrant was denied for the HealthLake service principal.";

    #[test]
    fn the_email_names_everything_a_person_needs() {
        let alert = failed_alert("patients-prod", MESSAGE);
        let body = text_body(&alert);
        for needle in [
            "CRITICAL: HealthLake data store patients-prod is CREATE_FAILED in us-east-1",
            "ID:          0000000000000000000000000000000a",
            "ARN:         arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/0000000000000000000000000000000a",
            "Account:     123456789012",
            "Status:      CREATING → CREATE_FAILED",
            "Category:    NON_RETRYABLE_ERROR",
            MESSAGE,
            "Observed at: 2026-11-26T09:30:00Z",
            "What to do: Retrying will not help",
            "Alert id: 123456789012#us-east-1#0000000000000000000000000000000a#7",
        ] {
            assert!(body.contains(needle), "missing {needle:?} in\n{body}");
        }
    }

    #[test]
    fn an_id_of_any_shape_is_shown_as_it_is_and_quoted_in_the_command() {
        let with_id = |id: &str| {
            let mut alert = failed_alert("patients-prod", MESSAGE);
            alert.datastore_id = crate::domain::DatastoreId::parse(id).unwrap();
            alert.id = format!("123456789012#us-east-1#{id}#7");
            text_body(&alert)
        };
        let body = with_id("store one");
        for needle in [
            "ID:          store one\n",
            "--datastore-id 'store one' --region us-east-1",
            "Alert id: 123456789012#us-east-1#store one#7\n",
        ] {
            assert!(body.contains(needle), "missing {needle:?} in\n{body}");
        }
        let body = with_id("é:ü/2=+%@");
        assert!(body.contains("ID:          é:ü/2=+%@\n"), "{body}");
        assert!(body.contains("--datastore-id 'é:ü/2=+%@' "), "{body}");
        let body = with_id("data_store.v1");
        assert!(body.contains("--datastore-id data_store.v1 "), "{body}");
        // A line separator is a separator to the model, and hidden here.
        let body = with_id("a\u{2028}b");
        assert!(body.contains("ID:          a\\u{2028}b\n"), "{body}");
        assert!(body.contains("--datastore-id 'a\\u{2028}b' "), "{body}");
        assert!(
            body.contains("Alert id: 123456789012#us-east-1#a\\u{2028}b#7\n"),
            "{body}"
        );
    }

    #[test]
    fn the_subject_fits_sns() {
        let alert = failed_alert("patients-prod", MESSAGE);
        assert_eq!(
            subject(&alert),
            "[CRITICAL] HealthLake data store patients-prod is CREATE_FAILED in us-east-1"
        );
    }

    #[test]
    fn the_subject_shows_a_name_as_the_email_does() {
        let alert = failed_alert("evil\u{1b}[2J\r\n  name\u{202e}", "m");
        assert_eq!(
            subject(&alert),
            "[CRITICAL] HealthLake data store evil\\u{1b}[2J\\u{d}\\u{a} name\\u{202e} is CREATE_FAILED in us-east-1"
        );
        assert!(
            text_body(&alert).contains("Data store:  evil\\u{1b}[2J\\u{d}\\u{a}  name\\u{202e}\n")
        );
        let long = failed_alert(&"\u{1b}".repeat(30), "m");
        assert_eq!(
            subject(&long),
            format!("[CRITICAL] HealthLake data store {}…", "\\u{1b}".repeat(10))
        );
    }

    proptest! {
        #[test]
        fn any_name_gives_a_valid_subject(name in "(\\PC|[\\x00-\\x1f\\u{85}\\u{2028}\\u{202e} a-zé🩺]){0,150}") {
            let s = subject(&failed_alert(&name, "m"));
            prop_assert!(s.chars().count() <= MAX_SUBJECT_CHARS);
            prop_assert!(!s.chars().any(text::is_hidden), "{s:?}");
            prop_assert!(!s.contains("  "), "{s:?}");
            prop_assert!(s.starts_with("[CRITICAL] HealthLake data store "));
        }
    }

    #[test]
    fn the_chatbot_message_has_the_required_fields() {
        let alert = failed_alert("patients-prod", MESSAGE);
        let msg = chatbot(&alert);
        assert_eq!(msg["version"], "1.0");
        assert_eq!(msg["source"], "custom");
        assert_eq!(msg["metadata"]["threadId"], alert.datastore_arn);
        assert!(
            msg["content"]["description"]
                .as_str()
                .unwrap()
                .contains(MESSAGE)
        );
        assert!(
            msg["content"]["description"]
                .as_str()
                .unwrap()
                .contains("NON_RETRYABLE_ERROR")
        );
        assert_eq!(
            msg["metadata"]["additionalContext"]["errorCategory"],
            "NON_RETRYABLE_ERROR"
        );
        assert_eq!(alert.severity, Severity::Critical);
    }

    const HOSTILE: &str =
        "evil\u{1b}[2J\r\nWhat to do: nothing <!channel> <https://x.example|click> \u{202e}txt";

    #[test]
    fn names_and_messages_cannot_forge_lines_or_drive_a_terminal() {
        let alert = failed_alert(HOSTILE, HOSTILE);
        let body = text_body(&alert);
        assert!(!body.contains('\u{1b}') && !body.contains('\r') && !body.contains('\u{202e}'));
        assert!(
            !body.lines().any(|l| l.starts_with("What to do: nothing")),
            "{body}"
        );
        assert!(
            body.contains("evil\\u{1b}[2J\\u{d}\\u{a}What to do: nothing"),
            "{body}"
        );
        assert_eq!(
            body.lines()
                .filter(|l| l.starts_with("What to do:"))
                .count(),
            1
        );
    }

    #[test]
    fn chat_messages_cannot_mention_everyone_or_hide_links() {
        let msg = chatbot(&failed_alert(HOSTILE, HOSTILE));
        let text = serde_json::to_string(&msg).unwrap();
        for forbidden in ["<!channel>", "<https://", "\\u001b", "\\r\\n"] {
            assert!(!text.contains(forbidden), "{forbidden} in {text}");
        }
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
    }

    #[test]
    fn a_vanished_store_reads_as_no_longer_listed() {
        let previous = observation("a", DatastoreStatus::CreateFailed);
        let scope = Scope::new(previous.account.clone(), previous.region.clone());
        let t = Transition::Vanished { previous };
        let decision = AlertPolicy::default().classify(&t).unwrap();
        let alert = Alert::new(&scope, &t, decision, 3, chrono::Utc::now());
        assert!(text_body(&alert).contains("Status:      CREATE_FAILED → no longer listed"));
        assert!(
            subject(&alert).starts_with("[INFO] HealthLake data store patients left CREATE_FAILED")
        );
    }
}
