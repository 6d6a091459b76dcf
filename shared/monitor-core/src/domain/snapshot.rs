//! The snapshot: what the monitor remembers of each data store between scans,
//! and the alerts it still owes.

use super::alert::Alert;
use super::diff::Observations;
use super::ids::DatastoreId;
use super::observation::Observation;
use super::routing::Tags;

use super::status::DatastoreStatus;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// A tick's hold on a record's pending alerts while it publishes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub owner: String,
    pub at: DateTime<Utc>,
}

impl Claim {
    /// Whether another tick must still keep its hands off.
    pub(crate) fn is_live(&self, now: DateTime<Utc>, ttl: Duration) -> bool {
        now < self.at + ttl
    }
}

/// An alert owed to subscribers, with what its delivery has gone through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAlert {
    pub alert: Alert,
    /// Failed attempts to publish it so far.
    pub attempts: u32,
    /// The last failure, cut to [`MAX_REASON_CHARS`].
    pub last_error: Option<String>,
}

impl PendingAlert {
    pub fn new(alert: Alert) -> Self {
        Self {
            alert,
            attempts: 0,
            last_error: None,
        }
    }
}

/// An alert that will not be sent: refused for good, tried too often, or
/// dropped because its store owed too many. Kept with its reason so an operator
/// can read what was missed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndeliverableAlert {
    pub alert: Alert,
    pub reason: String,
    pub attempts: u32,
    pub at: DateTime<Utc>,
}

/// At most this many alerts are owed by one record; past it the oldest are set
/// aside. With ErrorCause messages of up to 4,096 characters (16 KiB of UTF-8)
/// an alert stores in under 20 KiB, so a full record stays well inside
/// DynamoDB's 400 KB item limit.
pub const MAX_PENDING: usize = 8;
/// Undeliverable alerts kept per record, newest last; older ones are only counted.
pub const MAX_UNDELIVERABLE: usize = 8;
/// Length of a stored failure reason.
pub const MAX_REASON_CHARS: usize = 500;

/// A reason as text is shown, cut to [`MAX_REASON_CHARS`].
pub fn bounded_reason(reason: &str) -> String {
    crate::text::cut(reason, MAX_REASON_CHARS)
}

/// A stored item or listed entry that could not be read. It is reported with
/// where it is and why, and left as it is: the rest of its scope is scanned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable {location}: {reason}")]
pub struct Unreadable {
    /// The data store id as stored or listed, when there is one.
    pub id: Option<String>,
    /// Where it is, such as `table T item pk="…" sk="…"`.
    pub location: String,
    pub reason: String,
}

/// One data store in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The last observation (for a vanished store, the last one before it vanished).
    pub observation: Observation,
    /// Bumped on every write; writes are conditional on it.
    pub version: u64,
    pub first_seen: DateTime<Utc>,
    pub last_changed: DateTime<Utc>,
    /// Set when the store stopped being listed.
    pub vanished_at: Option<DateTime<Utc>>,
    /// Alerts decided but not yet confirmed sent, oldest first; at most [`MAX_PENDING`].
    pub pending: Vec<PendingAlert>,
    /// Alerts set aside as undeliverable, newest last; at most [`MAX_UNDELIVERABLE`].
    pub undeliverable: Vec<UndeliverableAlert>,
    /// Every alert ever set aside for this store, including those no longer kept.
    pub undeliverable_total: u64,
    pub claim: Option<Claim>,
    /// The store's tags as last read, when a tag setting is in use: read
    /// when an alert is decided, and kept for when they cannot be read.
    pub tags: Option<Tags>,

    /// Since when the store has been in its status: see [`Record::status_since_of`].
    pub status_since: DateTime<Utc>,
    /// When this stay in the status was reported stuck; `None` until it is.
    pub stuck_warned_at: Option<DateTime<Utc>>,
    /// When this stay in a `*_FAILED` status was last reminded of.
    pub reminded_at: Option<DateTime<Utc>>,
}

impl Record {
    /// A record first written now, owing nothing.
    pub fn new(observation: Observation, version: u64, now: DateTime<Utc>) -> Self {
        Self {
            status_since: Self::status_since_of(&observation, now),
            observation,
            version,
            first_seen: now,
            last_changed: now,
            vanished_at: None,
            pending: Vec::new(),
            undeliverable: Vec::new(),
            undeliverable_total: 0,
            claim: None,
            tags: None,

            stuck_warned_at: None,
            reminded_at: None,
        }
    }

    /// Since when a store seen in `observation`'s status at `seen` has been in
    /// it: for CREATING, the creation time HealthLake gives (when earlier);
    /// for any other status, when the monitor saw it enter it, the only start
    /// there is.
    pub fn status_since_of(observation: &Observation, seen: DateTime<Utc>) -> DateTime<Utc> {
        match (&observation.status, observation.created_at) {
            (DatastoreStatus::Creating, Some(created)) => created.min(seen),
            _ => seen,
        }
    }

    /// Starts a new stay in the status of the observation held, seen at `now`.
    pub(crate) fn enter_status(&mut self, now: DateTime<Utc>) {
        self.status_since = Self::status_since_of(&self.observation, now);
        self.stuck_warned_at = None;
        self.reminded_at = None;
    }

    /// Owes `alert` too. Past [`MAX_PENDING`] the oldest owed alerts are set
    /// aside, so that a store that keeps changing while alerts cannot be sent
    /// never grows past what the store can hold.
    pub fn owe(&mut self, alert: Alert, now: DateTime<Utc>) {
        self.pending.push(PendingAlert::new(alert));
        let excess = self.pending.len().saturating_sub(MAX_PENDING);
        let dropped: Vec<PendingAlert> = self.pending.drain(..excess).collect();
        for p in dropped {
            let reason = format!(
                "dropped: {MAX_PENDING} newer alerts were owed for this data store{}",
                p.last_error
                    .as_deref()
                    .map(|e| format!(" (last error: {e})"))
                    .unwrap_or_default()
            );
            self.set_aside(p, &reason, now);
        }
    }

    /// Moves an owed alert to the undeliverable list, keeping the newest
    /// [`MAX_UNDELIVERABLE`].
    pub(crate) fn set_aside(&mut self, pending: PendingAlert, reason: &str, now: DateTime<Utc>) {
        self.undeliverable.push(UndeliverableAlert {
            alert: pending.alert,
            reason: bounded_reason(reason),
            attempts: pending.attempts,
            at: now,
        });
        self.undeliverable_total += 1;
        let excess = self.undeliverable.len().saturating_sub(MAX_UNDELIVERABLE);
        self.undeliverable.drain(..excess);
    }

    /// The alert state, as stored: `none`, `pending` or `claimed`.
    pub fn alert_state(&self) -> &'static str {
        match (&self.claim, self.pending.is_empty()) {
            (_, true) => "none",
            (None, false) => "pending",
            (Some(_), false) => "claimed",
        }
    }
}

/// Every record of one scope, keyed by data store id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSnapshot {
    pub records: BTreeMap<DatastoreId, Record>,
    /// Items under the scope's key that could not be read; never overwritten.
    pub unreadable: Vec<Unreadable>,
}

impl ScopeSnapshot {
    /// Stores `record` if the version held is `expected` (`None`: no record yet),
    /// the rule every snapshot store enforces. Returns whether it was stored.
    pub fn put_if_version(&mut self, record: &Record, expected: Option<u64>) -> bool {
        let id = &record.observation.id;
        if self.records.get(id).map(|r| r.version) != expected {
            return false;
        }
        self.records.insert(id.clone(), record.clone());
        true
    }

    /// Whether `id` names an item that could not be read.
    pub(crate) fn is_unreadable(&self, id: &DatastoreId) -> bool {
        self.unreadable
            .iter()
            .any(|u| u.id.as_deref() == Some(id.as_str()))
    }

    /// The live stores, as the diff compares them.
    pub(crate) fn view(&self) -> Observations {
        self.records
            .iter()
            .filter(|(_, r)| r.vanished_at.is_none())
            .map(|(id, r)| (id.clone(), r.observation.clone()))
            .collect::<BTreeMap<DatastoreId, Observation>>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::observation;
    use crate::domain::{AlertPolicy, DatastoreStatus, Scope, Transition};

    fn alert(n: u64) -> Alert {
        let current = observation("a", DatastoreStatus::CreateFailed);
        let scope = Scope::new(current.account.clone(), current.region.clone());
        let t = Transition::Appeared { current };
        let decision = AlertPolicy::default().classify(&t).unwrap();
        Alert::new(&scope, &t, decision, n, DateTime::<Utc>::UNIX_EPOCH)
    }

    #[test]
    fn a_record_owes_at_most_the_newest_alerts_and_counts_the_rest() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let mut r = Record::new(observation("a", DatastoreStatus::Active), 1, now);
        for n in 0..30 {
            r.owe(alert(n), now);
        }
        assert_eq!(r.pending.len(), MAX_PENDING);
        assert_eq!(r.pending[0].alert, alert(30 - MAX_PENDING as u64));
        assert_eq!(r.undeliverable.len(), MAX_UNDELIVERABLE);
        assert_eq!(r.undeliverable_total, 30 - MAX_PENDING as u64);
        assert!(r.undeliverable[0].reason.starts_with("dropped"));
    }

    #[test]
    fn reasons_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_REASON_CHARS + 10);
        let cut = bounded_reason(&long);
        assert_eq!(cut.chars().count(), MAX_REASON_CHARS);
        assert!(cut.ends_with("é…"));
        assert_eq!(bounded_reason("short"), "short");
    }
}
