//! What the command prints: a table of data stores, transitions, and alerts
//! exactly as a person receives them by email.
//!
//! Names, statuses and error messages come from AWS (or from whoever created the
//! data store) and reach a terminal: control characters, terminal escape
//! sequences and bidirectional overrides in them are printed as visible escapes
//! (`\u{1b}`, see [`monitor_core::text`]), never passed through. JSON output is
//! escaped by serde.

use monitor_core::document::AlertDocumentV1;
use monitor_core::domain::{Alert, Observation, Scope, Transition};
use monitor_core::render;
use monitor_core::text::{cut, visible};
use monitor_core::tick::{ScopeReport, TickReport};

/// One line on stderr. When stderr itself cannot be written there is nowhere
/// left to report to, and the exit code still tells.
pub fn complain(line: &str) {
    use std::io::Write;
    let line = format!("healthlake-monitor: {}\n", visible(line));
    if std::io::stderr().write_all(line.as_bytes()).is_err() {
        // Nothing else can be done: the exit code carries the failure.
    }
}

/// The alert as its email reads, between two rules.
pub fn email(alert: &Alert) -> String {
    let rule = "-".repeat(72);
    format!(
        "{rule}\nSubject: {}\n\n{}{rule}\n",
        render::subject(alert),
        render::text_body(alert)
    )
}

/// `text` made visible, cut to `width` characters and padded.
fn cell(text: &str, width: usize) -> String {
    let mut cell = cut(text, width);
    let used = cell.chars().count();
    cell.extend(std::iter::repeat_n(' ', width - used));
    cell
}

/// A fixed-width table of the stores of one scope.
pub fn table(scope: &Scope, observations: &[Observation]) -> String {
    let mut lines = vec![format!(
        "{} data store(s) in account {} region {}",
        observations.len(),
        scope.account,
        scope.region
    )];
    if observations.is_empty() {
        return lines.join("\n") + "\n";
    }
    lines.push(format!(
        "  {} {} {} {}",
        cell("NAME", 24),
        cell("ID", 32),
        cell("STATUS", 14),
        "ERROR"
    ));
    for o in observations {
        let error = o
            .error_cause
            .as_ref()
            .map(|c| format!("{}: {}", c.category, c.message))
            .unwrap_or_default();
        lines.push(
            format!(
                "  {} {} {} {}",
                cell(&o.name, 24),
                cell(o.id.as_str(), 32),
                cell(o.status.as_str(), 14),
                cell(&error, 60)
            )
            .trim_end()
            .to_owned(),
        );
    }
    lines.join("\n") + "\n"
}

pub fn transition_line(t: &Transition) -> String {
    let o = t.latest();
    let (name, id) = (visible(&o.name), visible(o.id.as_str()));
    match t {
        Transition::Appeared { current } => {
            format!(
                "  + {name} ({id}) appeared as {}",
                visible(current.status.as_str())
            )
        }
        Transition::Changed { previous, current } => {
            let mut line = format!(
                "  ~ {name} ({id}) {} -> {}",
                visible(previous.status.as_str()),
                visible(current.status.as_str())
            );
            if previous.error_cause != current.error_cause
                && let Some(c) = &current.error_cause
            {
                line.push_str(&format!(" [{}]", visible(c.category.as_str())));
            }
            line
        }
        Transition::Vanished { previous } => {
            format!(
                "  - {name} ({id}) no longer listed (last {})",
                visible(previous.status.as_str())
            )
        }
    }
}

/// How the alerts of a scan appear in its summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alerts {
    /// Printed in full here (the demo, whose alerts live only in memory).
    InFull,
    /// Already printed, one by one as they were delivered: listed by subject.
    AlreadyPrinted,
    /// A dry run: printed in full as what would be sent.
    WouldSend,
}

/// The human summary of one scope: its table, its transitions, and the alerts.
pub fn scope_summary(scope: &Scope, report: &ScopeReport, alerts: Alerts) -> String {
    let mut out = table(scope, &report.observations);
    if report.transitions.is_empty() {
        out.push_str("  no changes\n");
    } else {
        out.push_str("Transitions:\n");
        let mut transitions: Vec<_> = report.transitions.iter().collect();
        transitions.sort_by(|a, b| (&a.latest().name, a.id()).cmp(&(&b.latest().name, b.id())));
        for t in transitions {
            out.push_str(&transition_line(t));
            out.push('\n');
        }
    }
    match (report.published.len(), alerts) {
        (0, Alerts::WouldSend) => out.push_str("Dry run: no alert would be sent\n"),
        (0, _) => out.push_str("Alerts sent: none\n"),
        (n, Alerts::WouldSend) => {
            out.push_str(&format!(
                "Dry run: {n} alert(s) would be sent (nothing was sent or written):\n"
            ));
            for alert in &report.published {
                out.push_str(&email(alert));
            }
        }
        (n, Alerts::InFull) => {
            out.push_str(&format!("Alerts sent: {n}\n"));
            for alert in &report.published {
                out.push_str(&email(alert));
            }
        }
        (n, Alerts::AlreadyPrinted) => {
            out.push_str(&format!("Alerts sent: {n} (printed above)\n"));
            for alert in &report.published {
                out.push_str(&format!("  {}\n", render::subject(alert)));
            }
        }
    }
    for (alert, e) in &report.failed {
        out.push_str(&format!(
            "Alert NOT sent, kept for the next scan: {} ({})\n",
            render::subject(alert),
            visible(&e.message)
        ));
    }
    if report.left_to_others > 0 {
        out.push_str(&format!(
            "{} data store(s) left to another scan that holds their alerts\n",
            report.left_to_others
        ));
    }
    out
}

/// A data store in the `--json` summary, with the field names that summary
/// has always had.
fn datastore_json(o: &Observation) -> serde_json::Value {
    serde_json::json!({
        "account": o.account.as_str(),
        "region": o.region.as_str(),
        "id": o.id.as_str(),
        "arn": o.arn,
        "name": o.name,
        "status": o.status.as_str(),
        "created_at": o.created_at,
        "type_version": o.type_version,
        "endpoint": o.endpoint,
        "error_cause": o.error_cause.as_ref().map(|c| serde_json::json!({
            "message": c.message,
            "category": c.category.as_str(),
        })),
    })
}

/// The machine-readable summary of a tick, for `--json`: everything but the
/// delivered alerts, which were streamed before it (see `scan`).
pub fn json(report: &TickReport, dry_run: bool) -> serde_json::Value {
    let scopes: Vec<_> = report
        .scopes
        .iter()
        .map(|(scope, result)| match result {
            Ok(r) => {
                let mut value = serde_json::json!({
                    "account": scope.account.as_str(),
                    "region": scope.region.as_str(),
                    "datastores": r.observations.iter().map(datastore_json).collect::<Vec<_>>(),
                    "transitions": r.transitions.iter().map(|t| serde_json::json!({
                        "datastore_id": t.id().as_str(),
                        "previous": t.previous().map(|o| o.status.as_str()),
                        "current": t.current().map(|o| o.status.as_str()),
                    })).collect::<Vec<_>>(),
                    "failed_alerts": r.failed.iter().map(|(a, e)| serde_json::json!({
                        "alert": AlertDocumentV1::from(a), "error": e.message,
                    })).collect::<Vec<_>>(),
                    "left_to_others": r.left_to_others,
                });
                if dry_run {
                    value["would_send"] = serde_json::json!(
                        r.published
                            .iter()
                            .map(AlertDocumentV1::from)
                            .collect::<Vec<_>>()
                    );
                } else {
                    value["sent_alert_ids"] =
                        serde_json::json!(r.published.iter().map(|a| &a.id).collect::<Vec<_>>());
                }
                value
            }
            Err(e) => serde_json::json!({
                "account": scope.account.as_str(),
                "region": scope.region.as_str(),
                "error": e.to_string(),
            }),
        })
        .collect();
    serde_json::json!({ "dry_run": dry_run, "scopes": scopes, "problems": report.problems() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_padded_and_cut_on_characters() {
        assert_eq!(cell("ab", 4), "ab  ");
        assert_eq!(cell("éééééé", 3), "éé…");
    }

    #[test]
    fn hidden_characters_are_escaped_and_escapes_are_never_cut() {
        assert_eq!(cell("a\u{1b}[2J\r\n", 22), "a\\u{1b}[2J\\u{d}\\u{a}  ");
        // `\u{1b}` is 6 characters: it is left out whole rather than cut.
        assert_eq!(cell("ab\u{1b}c", 6), "ab…   ");
        assert_eq!(cell("ab\u{1b}c", 9), "ab\\u{1b}c");
    }
    #[test]
    fn a_data_store_in_the_json_summary_keeps_its_field_names() {
        use chrono::TimeZone;
        use monitor_core::domain::{DatastoreStatus, ErrorCategory, ErrorCause};
        let mut o = monitor_core::fixtures::observation("7", DatastoreStatus::CreateFailed);
        o.created_at = chrono::Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).single();
        o.error_cause = Some(ErrorCause {
            message: "KMS key disabled".into(),
            category: ErrorCategory::NonRetryable,
        });
        assert_eq!(
            datastore_json(&o),
            serde_json::json!({
                "account": "123456789012",
                "region": "us-east-1",
                "id": "00000000000000000000000000000007",
                "arn": "arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/00000000000000000000000000000007",
                "name": "patients",
                "status": "CREATE_FAILED",
                "created_at": "2026-11-26T09:00:00Z",
                "type_version": "R4",
                "endpoint": "https://healthlake.us-east-1.amazonaws.com/datastore/x/r4/",
                "error_cause": {"message": "KMS key disabled", "category": "NON_RETRYABLE_ERROR"},
            })
        );
    }
}
