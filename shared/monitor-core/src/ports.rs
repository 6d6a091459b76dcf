//! The ports of the monitor: one small trait per capability.

use crate::domain::{
    Alert, DatastoreId, Observation, Record, Scope, ScopeSnapshot, Tags, Unreadable,
};
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
    /// The service did not accept the credentials: an unknown access key, a
    /// wrong secret, a malformed or missing signature.
    InvalidCredentials,
    /// The credentials were accepted once and have expired (an assumed
    /// role's session past its Expiration, or revoked early): the next
    /// attempt, with credentials refreshed, may succeed.
    ExpiredCredentials,
    /// The account's role could not be assumed (denied, missing, the account
    /// suspended): nothing of that account could be read.
    RoleNotAssumed,
    Unreachable,
    /// The service answered with something the monitor cannot use.
    InvalidResponse,
    Other,
}

/// One scope's listing: the data stores read, and the entries that could not be
/// read (reported, and never taken for vanished stores).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub observations: Vec<Observation>,
    pub unreadable: Vec<Unreadable>,
    /// The account's name in its organization, when known; alerts carry it.
    pub account_name: Option<String>,
}

impl From<Vec<Observation>> for Listing {
    fn from(observations: Vec<Observation>) -> Self {
        Self {
            observations,
            unreadable: Vec::new(),
            account_name: None,
        }
    }
}

/// Lists the data stores of a scope, following every page.
pub trait DatastoreReader: Send + Sync {
    fn list(&self, scope: &Scope) -> impl Future<Output = Result<Listing, ReadError>> + Send;

    /// The tags of the store `arn` of `scope`, read only when a tag setting
    /// is in use. A reader that cannot read tags says so: the alert then goes
    /// out without tag routing, never not at all.
    fn tags(
        &self,
        scope: &Scope,
        arn: &str,
    ) -> impl Future<Output = Result<Tags, ReadError>> + Send {
        let _ = arn;
        let error = ReadError {
            scope: scope.clone(),
            kind: ReadErrorKind::Other,
            message: "this reader does not read tags".into(),
        };
        async move { Err(error) }
    }
}

/// Reads one data store, for an event that names it.
pub trait DatastoreDescriber: Send + Sync {
    /// The store as the service describes it now (with its ErrorCause), or
    /// `None` when the service does not know it in that scope.
    fn describe(
        &self,
        scope: &Scope,
        id: &DatastoreId,
    ) -> impl Future<Output = Result<Option<Observation>, ReadError>> + Send;
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
    fn load(&self, scope: &Scope)
    -> impl Future<Output = Result<ScopeSnapshot, StoreError>> + Send;

    /// Writes `record` if the stored version is `expected` (`None`: no record yet).
    fn put(
        &self,
        scope: &Scope,
        record: &Record,
        expected: Option<u64>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Whether trying the same alert again can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishErrorKind {
    /// Throttling, a timeout, a service error, or a topic or key that is
    /// missing or denied: the alert stays pending and is tried again.
    Retryable,
    /// The alert itself was refused (an invalid parameter, a message that
    /// cannot be encoded): it is set aside as undeliverable at once.
    Permanent,
}

impl PublishErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Retryable => "retryable",
            Self::Permanent => "permanent",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("publishing alert {alert_id} failed ({}): {message}", kind.as_str())]
pub struct PublishError {
    pub alert_id: String,
    pub kind: PublishErrorKind,
    pub message: String,
}

impl PublishError {
    pub fn retryable(alert_id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            alert_id: alert_id.into(),
            kind: PublishErrorKind::Retryable,
            message: message.into(),
        }
    }

    pub fn permanent(alert_id: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            alert_id: alert_id.into(),
            kind: PublishErrorKind::Permanent,
            message: message.into(),
        }
    }
}

/// Sends an alert to the people and systems that want it.
pub trait AlertPublisher: Send + Sync {
    fn publish(&self, alert: &Alert) -> impl Future<Output = Result<(), PublishError>> + Send;
}
