//! What a scan sees of one data store.

use super::ids::{AccountId, DatastoreId, Region};
use super::status::{DatastoreStatus, ErrorCause};
use chrono::{DateTime, Utc};

/// One data store as seen by one scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub account: AccountId,
    pub region: Region,
    pub id: DatastoreId,
    pub arn: String,
    pub name: String,
    pub status: DatastoreStatus,
    pub created_at: Option<DateTime<Utc>>,
    pub type_version: String,
    pub endpoint: String,
    pub error_cause: Option<ErrorCause>,
}

impl Observation {
    /// Whether two observations of the same store differ in what the monitor tracks:
    /// the status, or the error cause (which AWS also sets on failed deletions).
    pub fn differs_from(&self, other: &Observation) -> bool {
        self.status != other.status || self.error_cause != other.error_cause
    }
}
