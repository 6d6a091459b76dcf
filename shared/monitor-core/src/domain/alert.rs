//! An alert: one selected transition, with everything a reader needs.

use super::diff::Transition;
use super::ids::{AccountId, DatastoreId, Region, Scope};
use super::policy::{Reason, Severity};
use super::routing::Tags;

use super::snapshot::Record;
use super::status::{DatastoreStatus, ErrorCause};
use chrono::{DateTime, Utc};

/// What kind of change an alert reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Appeared,
    Changed,
    Vanished,
    /// Nothing changed, but the store has been in its status too long.
    Unchanged,
}

impl Change {
    pub const ALL: [Change; 4] = [
        Self::Appeared,
        Self::Changed,
        Self::Vanished,
        Self::Unchanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appeared => "appeared",
            Self::Changed => "changed",
            Self::Vanished => "vanished",
            Self::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Stable for a transition: `<account>#<region>#<datastore id>#<record version>`,
    /// so a consumer can drop a repeat.
    pub id: String,
    pub severity: Severity,
    pub reason: Reason,
    pub change: Change,
    pub account: AccountId,
    /// The account's name in its organization, when the organization gives
    /// one. Set as the alert is sent, so it is the account's current name.
    pub account_name: Option<String>,
    pub region: Region,
    pub datastore_id: DatastoreId,
    pub datastore_name: String,
    pub datastore_arn: String,
    pub previous_status: Option<DatastoreStatus>,
    /// `None` when the store vanished from the listing.
    pub status: Option<DatastoreStatus>,
    pub error_cause: Option<ErrorCause>,
    pub observed_at: DateTime<Utc>,
    /// The store's tags of the keys chosen to travel with alerts
    /// (`ALERT_TAG_KEYS`), as read when the alert was decided.
    pub tags: Tags,

    /// For a stuck store or a reminder: since when the store has been in
    /// `status`; for a store that is no longer stuck: since when it had been
    /// in `previous_status`. `None` for other alerts.
    pub since: Option<DateTime<Utc>>,
}

impl Alert {
    pub fn new(
        scope: &Scope,
        transition: &Transition,
        (severity, reason): (Severity, Reason),
        version: u64,
        observed_at: DateTime<Utc>,
    ) -> Self {
        let latest = transition.latest();
        let change = match transition {
            Transition::Appeared { .. } => Change::Appeared,
            Transition::Changed { .. } => Change::Changed,
            Transition::Vanished { .. } => Change::Vanished,
        };
        Self {
            id: format!("{}#{}#{}", scope.key(), latest.id, version),
            severity,
            reason,
            change,
            account: scope.account.clone(),
            account_name: None,
            region: scope.region.clone(),
            datastore_id: latest.id.clone(),
            datastore_name: latest.name.clone(),
            datastore_arn: latest.arn.clone(),
            previous_status: transition.previous().map(|p| p.status.clone()),
            status: transition.current().map(|c| c.status.clone()),
            // The cause of the current state; for a vanished store, the last one known.
            error_cause: latest.error_cause.clone(),
            observed_at,
            tags: Tags::new(),

            since: None,
        }
    }

    /// An alert about a store that stayed in its status, as `record` holds it.
    pub fn lingering(
        scope: &Scope,
        record: &Record,
        (severity, reason): (Severity, Reason),
        version: u64,
        observed_at: DateTime<Utc>,
    ) -> Self {
        let current = &record.observation;
        Self {
            id: format!("{}#{}#{}", scope.key(), current.id, version),
            severity,
            reason,
            change: Change::Unchanged,
            account: scope.account.clone(),
            account_name: None,
            region: scope.region.clone(),
            datastore_id: current.id.clone(),
            datastore_name: current.name.clone(),
            datastore_arn: current.arn.clone(),
            previous_status: Some(current.status.clone()),
            status: Some(current.status.clone()),
            error_cause: current.error_cause.clone(),
            observed_at,
            since: Some(record.status_since),
            tags: Tags::new(),
        }
    }
}
