//! What the command prints: a table of data stores, transitions, and alerts
//! exactly as a person receives them by email.

use shared::domain::{Alert, Observation, Scope, Transition};
use shared::monitor::{ScopeReport, TickReport};
use shared::render;

pub fn email(alert: &Alert) -> String {
    let rule = "-".repeat(72);
    format!(
        "{rule}\nSubject: {}\n\n{}{rule}\n",
        render::subject(alert),
        render::text_body(alert)
    )
}

fn cell(text: &str, width: usize) -> String {
    let mut s: String = text.chars().take(width).collect();
    let pad = width.saturating_sub(s.chars().count());
    s.extend(std::iter::repeat_n(' ', pad));
    s
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
    match t {
        Transition::Appeared { current } => {
            format!("  + {} ({}) appeared as {}", o.name, o.id, current.status)
        }
        Transition::Changed { previous, current } => {
            let mut line = format!(
                "  ~ {} ({}) {} -> {}",
                o.name, o.id, previous.status, current.status
            );
            if previous.error_cause != current.error_cause
                && let Some(c) = &current.error_cause
            {
                line.push_str(&format!(" [{}]", c.category));
            }
            line
        }
        Transition::Vanished { previous } => {
            format!(
                "  - {} ({}) no longer listed (last {})",
                o.name, o.id, previous.status
            )
        }
    }
}

/// The human summary of one scope: its table, its transitions, and the alerts
/// sent, as their email reads.
pub fn scope_summary(scope: &Scope, report: &ScopeReport) -> String {
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
    match report.published.len() {
        0 => out.push_str("Alerts sent: none\n"),
        n => {
            out.push_str(&format!("Alerts sent: {n}\n"));
            for alert in &report.published {
                out.push_str(&email(alert));
            }
        }
    }
    for (alert, e) in &report.failed {
        out.push_str(&format!(
            "Alert NOT sent, kept for the next scan: {} ({})\n",
            render::subject(alert),
            e.message
        ));
    }
    out
}

/// The machine-readable form of a tick, for `--json`.
pub fn json(report: &TickReport) -> serde_json::Value {
    let scopes: Vec<_> = report
        .scopes
        .iter()
        .map(|(scope, result)| match result {
            Ok(r) => serde_json::json!({
                "account": scope.account,
                "region": scope.region,
                "datastores": r.observations,
                "transitions": r.transitions.iter().map(|t| serde_json::json!({
                    "datastore_id": t.id(),
                    "previous": t.previous().map(|o| o.status.as_str()),
                    "current": t.current().map(|o| o.status.as_str()),
                })).collect::<Vec<_>>(),
                "alerts": r.published.iter().map(render::document).collect::<Vec<_>>(),
                "failed_alerts": r.failed.iter().map(|(a, e)| serde_json::json!({
                    "alert": render::document(a), "error": e.message,
                })).collect::<Vec<_>>(),
            }),
            Err(e) => serde_json::json!({
                "account": scope.account,
                "region": scope.region,
                "error": e.to_string(),
            }),
        })
        .collect();
    serde_json::json!({ "scopes": scopes, "problems": report.problems() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_padded_and_cut_on_characters() {
        assert_eq!(cell("ab", 4), "ab  ");
        assert_eq!(cell("éééééé", 3), "ééé");
    }
}
