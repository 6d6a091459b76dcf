//! Which transitions deserve an alert, and how loud.

use super::diff::Transition;
use super::snapshot::Record;
use super::status::DatastoreStatus;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeSet;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Self::Info, Self::Warning, Self::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a transition was selected for an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The store entered (or was first seen in) a status of the critical set,
    /// or its error cause changed while there.
    Failure,
    /// The store left a `*_FAILED` status, or vanished from one.
    Recovery,
    /// AWS reported a status this version of the monitor does not know.
    UnknownStatus,
    /// An error cause appeared on a store whose status is not a failure,
    /// such as a deletion in trouble.
    ErrorCause,
    /// The store entered a status of the informational set.
    Status,
    /// The store has been in CREATING, DELETING or UPDATING longer than its
    /// threshold ([`StuckAfter`]).
    Stuck,
    /// A store reported stuck left that status.
    Unstuck,
    /// The store is still in the `*_FAILED` status it entered a while ago.
    Reminder,
}

impl Reason {
    pub const ALL: [Reason; 8] = [
        Self::Failure,
        Self::Recovery,
        Self::UnknownStatus,
        Self::ErrorCause,
        Self::Status,
        Self::Stuck,
        Self::Unstuck,
        Self::Reminder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failure => "failure",
            Self::Recovery => "recovery",
            Self::UnknownStatus => "unknown_status",
            Self::ErrorCause => "error_cause",
            Self::Status => "status",
            Self::Stuck => "stuck",
            Self::Unstuck => "unstuck",
            Self::Reminder => "reminder",
        }
    }
}

/// The largest stuck threshold a setting takes, in minutes: a week.
pub const MAX_STUCK_MINUTES: i64 = 10_080;
/// The largest period between reminders a setting takes, in hours: thirty days.
pub const MAX_REMINDER_HOURS: i64 = 720;

/// The unit a period setting is given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Minutes,
    Hours,
}

impl TimeUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minutes => "minutes",
            Self::Hours => "hours",
        }
    }
}

/// A setting of the policy that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting}: {problem}")]
pub struct PolicyError {
    pub setting: String,
    pub problem: String,
}

/// How long a store may stay in each status that should pass by itself
/// before it is reported stuck; `None`: never reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StuckAfter {
    pub creating: Option<Duration>,
    pub deleting: Option<Duration>,
    pub updating: Option<Duration>,
}

impl StuckAfter {
    /// No store is ever reported stuck.
    pub const OFF: StuckAfter = StuckAfter {
        creating: None,
        deleting: None,
        updating: None,
    };
    /// The default of each threshold, in minutes. AWS publishes no duration
    /// for these operations; a creation is commonly reported to take 15 to 30
    /// minutes, so two hours is four times the longest of those, and the same
    /// bound is kept for deletions and updates, of which nothing is published.
    pub const DEFAULT_MINUTES: i64 = 120;

    /// The threshold of `status`, if it has one.
    pub fn of(&self, status: &DatastoreStatus) -> Option<Duration> {
        match status {
            DatastoreStatus::Creating => self.creating,
            DatastoreStatus::Deleting => self.deleting,
            DatastoreStatus::Updating => self.updating,
            _ => None,
        }
    }
}

impl Default for StuckAfter {
    fn default() -> Self {
        let default = Some(Duration::minutes(Self::DEFAULT_MINUTES));
        Self {
            creating: default,
            deleting: default,
            updating: default,
        }
    }
}

/// The alert policy. The default alerts on failures (critical), recoveries
/// (info), unknown statuses and stray error causes (warning), and stores
/// stuck in a transient status for two hours (warning, then info once they
/// move on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertPolicy {
    /// Entering one of these is critical.
    pub critical: BTreeSet<DatastoreStatus>,
    /// Entering one of these is informational (empty by default).
    pub info: BTreeSet<DatastoreStatus>,
    /// Leaving a `*_FAILED` status is informational.
    pub recovery: bool,
    /// A status the monitor does not know is a warning.
    pub unknown_status: bool,
    /// An error cause on a store that is not failed is a warning.
    pub error_cause: bool,
    /// A store longer than this in CREATING, DELETING or UPDATING is a warning,
    /// once per stay; leaving that status afterwards is informational.
    pub stuck: StuckAfter,
    /// A store left in a `*_FAILED` status is a warning again every this long
    /// (`None`, the default: never).
    pub failed_reminder: Option<Duration>,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        Self {
            critical: [DatastoreStatus::CreateFailed, DatastoreStatus::UpdateFailed].into(),
            info: BTreeSet::new(),
            recovery: true,
            unknown_status: true,
            error_cause: true,
            stuck: StuckAfter::default(),
            failed_reminder: None,
        }
    }
}

impl AlertPolicy {
    /// Parses a whole number of `unit`s from 0 to `max` for the setting named
    /// `setting`; 0 turns what it governs off (`None`).
    pub fn parse_period(
        setting: &str,
        value: &str,
        unit: TimeUnit,
        max: i64,
    ) -> Result<Option<Duration>, PolicyError> {
        match value.trim().parse::<i64>() {
            Ok(0) => Ok(None),
            Ok(n) if (1..=max).contains(&n) => Ok(Some(match unit {
                TimeUnit::Minutes => Duration::minutes(n),
                TimeUnit::Hours => Duration::hours(n),
            })),
            _ => Err(PolicyError {
                setting: setting.to_owned(),
                problem: format!(
                    "expected a whole number of {} from 0 (off) to {max}, got {value:?}",
                    unit.as_str()
                ),
            }),
        }
    }

    /// The warning or reminder that `record`'s time in its status calls for
    /// at `now`, if any. Only a listed store is judged; one this stay has
    /// already been warned of, or reminded of less than the period ago, is not.
    pub fn lingering(&self, record: &Record, now: DateTime<Utc>) -> Option<(Severity, Reason)> {
        if record.vanished_at.is_some() {
            return None;
        }
        let status = &record.observation.status;
        let stayed = now - record.status_since;
        if let Some(limit) = self.stuck.of(status)
            && record.stuck_warned_at.is_none()
            && stayed >= limit
        {
            return Some((Severity::Warning, Reason::Stuck));
        }
        if let Some(every) = self.failed_reminder
            && status.is_failed()
            && now - record.reminded_at.unwrap_or(record.status_since) >= every
        {
            return Some((Severity::Warning, Reason::Reminder));
        }
        None
    }

    /// Parses a comma-separated list of statuses for the setting named `setting`.
    /// Only statuses this version knows are accepted, so that a typo fails loudly
    /// instead of never matching.
    pub fn parse_statuses(
        setting: &str,
        list: &str,
    ) -> Result<BTreeSet<DatastoreStatus>, PolicyError> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let status = DatastoreStatus::parse(s);
                if status.is_known() {
                    Ok(status)
                } else {
                    let known: Vec<_> = DatastoreStatus::KNOWN.iter().map(|k| k.as_str()).collect();
                    Err(PolicyError {
                        setting: setting.to_owned(),
                        problem: format!(
                            "unknown status {s:?}; known statuses: {}",
                            known.join(", ")
                        ),
                    })
                }
            })
            .collect()
    }

    /// Parses an on/off setting: true/false, on/off, yes/no, 1/0.
    pub fn parse_switch(setting: &str, value: &str) -> Result<bool, PolicyError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "true" | "on" | "yes" | "1" => Ok(true),
            "false" | "off" | "no" | "0" => Ok(false),
            other => Err(PolicyError {
                setting: setting.to_owned(),
                problem: format!("expected true or false, got {other:?}"),
            }),
        }
    }

    /// The severity and reason of an alert for `transition`, or `None` when the
    /// transition is only recorded.
    pub fn classify(&self, transition: &Transition) -> Option<(Severity, Reason)> {
        let previous = transition.previous();
        let status_changed = previous.map(|p| &p.status) != transition.current().map(|c| &c.status);
        let cause_changed = previous.and_then(|p| p.error_cause.as_ref())
            != transition.current().and_then(|c| c.error_cause.as_ref());

        if let Some(current) = transition.current() {
            let new_cause = cause_changed && current.error_cause.is_some();
            if self.critical.contains(&current.status) && (status_changed || new_cause) {
                return Some((Severity::Critical, Reason::Failure));
            }
            if self.unknown_status && !current.status.is_known() && status_changed {
                return Some((Severity::Warning, Reason::UnknownStatus));
            }
            if self.error_cause && new_cause && !current.status.is_failed() {
                return Some((Severity::Warning, Reason::ErrorCause));
            }
        }
        let left_failure = previous.is_some_and(|p| p.status.is_failed())
            && transition.current().is_none_or(|c| !c.status.is_failed());
        if self.recovery && left_failure {
            return Some((Severity::Info, Reason::Recovery));
        }
        match transition.current() {
            Some(current) if status_changed && self.info.contains(&current.status) => {
                Some((Severity::Info, Reason::Status))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::observation;
    use crate::domain::{ErrorCategory, ErrorCause};
    use DatastoreStatus::*;

    fn changed(from: DatastoreStatus, to: DatastoreStatus) -> Transition {
        Transition::Changed {
            previous: observation("a", from),
            current: observation("a", to),
        }
    }

    fn cause() -> Option<ErrorCause> {
        Some(ErrorCause {
            message: "The KMS key is pending deletion".into(),
            category: ErrorCategory::NonRetryable,
        })
    }

    #[test]
    fn entering_a_failure_is_critical() {
        let policy = AlertPolicy::default();
        assert_eq!(
            policy.classify(&changed(Creating, CreateFailed)),
            Some((Severity::Critical, Reason::Failure))
        );
        assert_eq!(
            policy.classify(&changed(Updating, UpdateFailed)),
            Some((Severity::Critical, Reason::Failure))
        );
    }

    #[test]
    fn a_failed_store_seen_for_the_first_time_is_critical() {
        let t = Transition::Appeared {
            current: observation("a", CreateFailed),
        };
        assert_eq!(
            AlertPolicy::default().classify(&t),
            Some((Severity::Critical, Reason::Failure))
        );
    }

    #[test]
    fn leaving_a_failure_is_info() {
        let policy = AlertPolicy::default();
        assert_eq!(
            policy.classify(&changed(CreateFailed, Deleting)),
            Some((Severity::Info, Reason::Recovery))
        );
        let vanished = Transition::Vanished {
            previous: observation("a", CreateFailed),
        };
        assert_eq!(
            policy.classify(&vanished),
            Some((Severity::Info, Reason::Recovery))
        );
    }

    #[test]
    fn unknown_status_is_a_warning() {
        let t = changed(Active, DatastoreStatus::parse("ARCHIVED"));
        assert_eq!(
            AlertPolicy::default().classify(&t),
            Some((Severity::Warning, Reason::UnknownStatus))
        );
    }

    #[test]
    fn an_error_cause_on_a_deletion_is_a_warning() {
        let mut current = observation("a", Deleting);
        current.error_cause = cause();
        let t = Transition::Changed {
            previous: observation("a", Deleting),
            current,
        };
        assert_eq!(
            AlertPolicy::default().classify(&t),
            Some((Severity::Warning, Reason::ErrorCause))
        );
    }

    #[test]
    fn a_new_cause_on_a_failed_store_is_critical_again() {
        let mut previous = observation("a", CreateFailed);
        previous.error_cause = Some(ErrorCause {
            message: "first".into(),
            category: ErrorCategory::Retryable,
        });
        let mut current = observation("a", CreateFailed);
        current.error_cause = cause();
        let t = Transition::Changed { previous, current };
        assert_eq!(
            AlertPolicy::default().classify(&t),
            Some((Severity::Critical, Reason::Failure))
        );
    }

    #[test]
    fn ordinary_transitions_are_only_recorded() {
        let policy = AlertPolicy::default();
        assert_eq!(policy.classify(&changed(Creating, Active)), None);
        assert_eq!(policy.classify(&changed(Active, Deleting)), None);
        assert_eq!(
            policy.classify(&Transition::Appeared {
                current: observation("a", Active)
            }),
            None
        );
        assert_eq!(
            policy.classify(&Transition::Vanished {
                previous: observation("a", Deleted)
            }),
            None
        );
    }

    #[test]
    fn the_sets_are_configurable() {
        let policy = AlertPolicy {
            critical: AlertPolicy::parse_statuses("ALERT_CRITICAL_STATUSES", "CREATE_FAILED")
                .unwrap(),
            info: AlertPolicy::parse_statuses("ALERT_INFO_STATUSES", "ACTIVE, DELETED").unwrap(),
            recovery: false,
            unknown_status: false,
            error_cause: true,
            ..AlertPolicy::default()
        };
        assert_eq!(policy.classify(&changed(Updating, UpdateFailed)), None);
        assert_eq!(
            policy.classify(&changed(Creating, Active)),
            Some((Severity::Info, Reason::Status))
        );
        assert_eq!(
            policy.classify(&changed(CreateFailed, Deleted)),
            Some((Severity::Info, Reason::Status))
        );
        assert_eq!(policy.classify(&changed(CreateFailed, Deleting)), None);
        assert_eq!(
            policy.classify(&changed(Active, DatastoreStatus::parse("ARCHIVED"))),
            None
        );
    }

    #[test]
    fn a_typo_in_a_status_list_names_the_setting_and_the_value() {
        let err =
            AlertPolicy::parse_statuses("ALERT_CRITICAL_STATUSES", "CREATE_FAILD").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("ALERT_CRITICAL_STATUSES: unknown status \"CREATE_FAILD\"")
        );
        assert!(
            AlertPolicy::parse_switch("ALERT_ON_RECOVERY", "maybe")
                .unwrap_err()
                .to_string()
                .contains("maybe")
        );
    }

    #[test]
    fn a_period_setting_is_a_whole_number_and_zero_turns_it_off() {
        let minutes =
            |v| AlertPolicy::parse_period("STUCK_CREATING_MINUTES", v, TimeUnit::Minutes, 10_080);
        assert_eq!(minutes("90"), Ok(Some(chrono::Duration::minutes(90))));
        assert_eq!(minutes(" 0 "), Ok(None));
        for bad in ["-5", "1.5", "two hours", "10081", ""] {
            let err = minutes(bad).unwrap_err().to_string();
            assert!(
                err.starts_with(
                    "STUCK_CREATING_MINUTES: expected a whole number of minutes from 0 (off) to 10080"
                ) && err.contains(&format!("{bad:?}")),
                "{err}"
            );
        }
        assert_eq!(
            AlertPolicy::parse_period("FAILED_REMINDER_HOURS", "24", TimeUnit::Hours, 720),
            Ok(Some(chrono::Duration::hours(24)))
        );
    }

    #[test]
    fn the_default_warns_of_stores_stuck_two_hours_and_reminds_of_nothing() {
        let policy = AlertPolicy::default();
        for status in [Creating, Deleting, Updating] {
            assert_eq!(policy.stuck.of(&status), Some(chrono::Duration::hours(2)));
        }
        for status in [Active, Deleted, CreateFailed, UpdateFailed] {
            assert_eq!(policy.stuck.of(&status), None);
        }
        assert_eq!(policy.failed_reminder, None);
    }
}
