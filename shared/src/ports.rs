//! The ports of the monitor: one small trait per capability.

use crate::domain::{Alert, Observation, Record, Scope, Snapshot};
use std::future::Future;

/// Why a scope could not be listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("listing data stores in {scope} failed ({kind:?}): {message}")]
pub struct ReadError {
    pub scope: Scope,
    pub kind: ReadErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadErrorKind {
    Throttled,
    AccessDenied,
    Unreachable,
    /// The service answered with something the monitor cannot use.
    InvalidResponse,
    Other,
}

/// Lists the data stores of a scope, following every page.
pub trait DatastoreReader: Send + Sync {
    fn list(
        &self,
        scope: &Scope,
    ) -> impl Future<Output = Result<Vec<Observation>, ReadError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The record's version was not the one expected: another tick wrote first.
    #[error("record {id} in {scope} was changed by another tick")]
    Conflict { scope: Scope, id: String },
    /// Stored data that cannot be read back. It is reported and left as it is.
    #[error("corrupt snapshot at {location}: {reason}")]
    Corrupt { location: String, reason: String },
    #[error("snapshot store unavailable: {0}")]
    Unavailable(String),
}

/// Keeps the snapshot. Writes are per record and conditional on its version,
/// which is what makes a claim on an alert exclusive.
pub trait SnapshotStore: Send + Sync {
    fn load(&self, scope: &Scope) -> impl Future<Output = Result<Snapshot, StoreError>> + Send;

    /// Writes `record` if the stored version is `expected` (`None`: no record yet).
    fn put(
        &self,
        scope: &Scope,
        record: &Record,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publishing alert {alert_id} failed: {message}")]
pub struct PublishError {
    pub alert_id: String,
    pub message: String,
}

/// Sends an alert to the people and systems that want it.
pub trait AlertPublisher: Send + Sync {
    fn publish(&self, alert: &Alert) -> impl Future<Output = Result<(), PublishError>> + Send;
}
