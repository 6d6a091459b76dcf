//! An alert: one selected transition, with everything a reader needs.

use super::diff::Transition;
use super::ids::{AccountId, DatastoreId, Region, Scope};
use super::policy::{Reason, Severity};
use super::routing::Tags;
use super::status::{DatastoreStatus, ErrorCause};
use chrono::{DateTime, Utc};

/// What kind of change an alert reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Appeared,
    Changed,
    Vanished,
}

impl Change {
    pub const ALL: [Change; 3] = [Self::Appeared, Self::Changed, Self::Vanished];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appeared => "appeared",
            Self::Changed => "changed",
            Self::Vanished => "vanished",
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
        }
    }
}
