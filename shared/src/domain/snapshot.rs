//! The snapshot: what the monitor remembers of each data store between scans,
//! and the alerts it still owes.

use super::alert::Alert;
use super::diff::View;
use super::ids::DatastoreId;
use super::observation::Observation;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A tick's hold on a record's pending alerts while it publishes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub owner: String,
    pub at: DateTime<Utc>,
}

impl Claim {
    /// Whether another tick must still keep its hands off.
    pub fn is_live(&self, now: DateTime<Utc>, ttl: Duration) -> bool {
        now < self.at + ttl
    }
}

/// One data store in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The last observation (for a vanished store, the last one before it vanished).
    pub observation: Observation,
    /// Bumped on every write; writes are conditional on it.
    pub version: u64,
    pub first_seen: DateTime<Utc>,
    pub last_changed: DateTime<Utc>,
    /// Set when the store stopped being listed.
    pub vanished_at: Option<DateTime<Utc>>,
    /// Alerts decided but not yet confirmed sent, oldest first.
    pub pending: Vec<Alert>,
    pub claim: Option<Claim>,
}

impl Record {
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub records: BTreeMap<DatastoreId, Record>,
}

impl Snapshot {
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

    /// The live stores, as the diff compares them.
    pub fn view(&self) -> View {
        self.records
            .iter()
            .filter(|(_, r)| r.vanished_at.is_none())
            .map(|(id, r)| (id.clone(), r.observation.clone()))
            .collect::<BTreeMap<DatastoreId, Observation>>()
    }
}
