//! In-memory adapters, for domain tests and anything that needs no AWS.

use crate::domain::{Alert, DatastoreId, Observation, Record, Scope, ScopeSnapshot, Tags};
use crate::ports::{
    AlertPublisher, DatastoreDescriber, DatastoreReader, Listing, PublishError, PublishErrorKind,
    ReadError, SnapshotStore, StoreError,
};
use std::collections::HashMap;
use std::sync::Mutex;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic in another test thread must not hide this one's result.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Serves whatever listing was last set for a scope; a scope can be made to fail.
#[derive(Default)]
pub struct MemoryReader {
    listings: Mutex<HashMap<Scope, Result<Listing, ReadError>>>,
    /// Store ARN to tags; an ARN not here has none.
    tags: Mutex<HashMap<String, Tags>>,
    tag_reads: Mutex<usize>,
}

impl MemoryReader {
    pub fn set(&self, scope: &Scope, observations: Vec<Observation>) {
        lock(&self.listings).insert(scope.clone(), Ok(observations.into()));
    }

    /// Serves a listing with entries that could not be read.
    pub fn set_listing(&self, scope: &Scope, listing: Listing) {
        lock(&self.listings).insert(scope.clone(), Ok(listing));
    }

    pub fn fail(&self, error: ReadError) {
        lock(&self.listings).insert(error.scope.clone(), Err(error));
    }

    pub fn set_tags(&self, arn: &str, tags: Tags) {
        lock(&self.tags).insert(arn.to_owned(), tags);
    }

    /// Tag reads so far.
    pub fn tag_reads(&self) -> usize {
        *lock(&self.tag_reads)
    }
}

impl DatastoreReader for MemoryReader {
    async fn list(&self, scope: &Scope) -> Result<Listing, ReadError> {
        lock(&self.listings)
            .get(scope)
            .cloned()
            .unwrap_or_else(|| Ok(Listing::default()))
    }

    /// The tags set for `arn`; the scope's error if its listing fails.
    async fn tags(&self, scope: &Scope, arn: &str) -> Result<Tags, ReadError> {
        *lock(&self.tag_reads) += 1;
        if let Some(Err(e)) = lock(&self.listings).get(scope) {
            return Err(e.clone());
        }
        Ok(lock(&self.tags).get(arn).cloned().unwrap_or_default())
    }
}

impl DatastoreDescriber for MemoryReader {
    /// The store as the scope's listing shows it; the scope's error if it fails.
    async fn describe(
        &self,
        scope: &Scope,
        id: &DatastoreId,
    ) -> Result<Option<Observation>, ReadError> {
        let listing = self.list(scope).await?;
        Ok(listing.observations.into_iter().find(|o| &o.id == id))
    }
}

#[derive(Default)]
pub struct MemoryStore {
    scopes: Mutex<HashMap<Scope, ScopeSnapshot>>,
    writes: Mutex<usize>,
}

impl MemoryStore {
    /// Successful writes so far.
    pub fn writes(&self) -> usize {
        *lock(&self.writes)
    }

    pub fn snapshot(&self, scope: &Scope) -> ScopeSnapshot {
        lock(&self.scopes).get(scope).cloned().unwrap_or_default()
    }

    /// Adds an item that reads as unreadable, as a foreign or hand-edited item would.
    pub fn add_unreadable(&self, scope: &Scope, item: crate::domain::Unreadable) {
        lock(&self.scopes)
            .entry(scope.clone())
            .or_default()
            .unreadable
            .push(item);
    }
}

impl SnapshotStore for MemoryStore {
    async fn load(&self, scope: &Scope) -> Result<ScopeSnapshot, StoreError> {
        Ok(self.snapshot(scope))
    }

    async fn put(
        &self,
        scope: &Scope,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut scopes = lock(&self.scopes);
        let snapshot = scopes.entry(scope.clone()).or_default();
        if snapshot.is_unreadable(&record.observation.id)
            || !snapshot.put_if_version(record, expected)
        {
            return Err(StoreError::Conflict {
                scope: scope.clone(),
                id: record.observation.id.to_string(),
            });
        }
        *lock(&self.writes) += 1;
        Ok(())
    }
}

/// Keeps what it was asked to publish; can be switched to fail.
#[derive(Default)]
pub struct MemoryPublisher {
    sent: Mutex<Vec<Alert>>,
    failing: Mutex<Option<(PublishErrorKind, String)>>,
}

impl MemoryPublisher {
    pub fn sent(&self) -> Vec<Alert> {
        lock(&self.sent).clone()
    }

    /// Every publish fails (retryably) with `message` until set back to `None`.
    pub fn set_failing(&self, message: Option<&str>) {
        *lock(&self.failing) = message.map(|m| (PublishErrorKind::Retryable, m.to_owned()));
    }

    /// Every publish is refused for good with `message`.
    pub fn set_refusing(&self, message: &str) {
        *lock(&self.failing) = Some((PublishErrorKind::Permanent, message.to_owned()));
    }
}

impl AlertPublisher for MemoryPublisher {
    async fn publish(&self, alert: &Alert) -> Result<(), PublishError> {
        if let Some((kind, message)) = lock(&self.failing).clone() {
            return Err(PublishError {
                alert_id: alert.id.clone(),
                kind,
                message,
            });
        }
        lock(&self.sent).push(alert.clone());
        Ok(())
    }
}

impl<T: DatastoreReader> DatastoreReader for &T {
    async fn list(&self, scope: &Scope) -> Result<Listing, ReadError> {
        (**self).list(scope).await
    }

    async fn tags(&self, scope: &Scope, arn: &str) -> Result<Tags, ReadError> {
        (**self).tags(scope, arn).await
    }
}

impl<T: DatastoreDescriber> DatastoreDescriber for &T {
    async fn describe(
        &self,
        scope: &Scope,
        id: &DatastoreId,
    ) -> Result<Option<Observation>, ReadError> {
        (**self).describe(scope, id).await
    }
}

impl<T: SnapshotStore> SnapshotStore for &T {
    async fn load(&self, scope: &Scope) -> Result<ScopeSnapshot, StoreError> {
        (**self).load(scope).await
    }
    async fn put(
        &self,
        scope: &Scope,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        (**self).put(scope, record, expected).await
    }
}

impl<T: AlertPublisher> AlertPublisher for &T {
    async fn publish(&self, alert: &Alert) -> Result<(), PublishError> {
        (**self).publish(alert).await
    }
}
