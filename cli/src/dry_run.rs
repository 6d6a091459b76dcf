//! `scan --dry-run`: the monitor's real tick over a snapshot that is read but
//! never written.
//!
//! [`ReadOnly`] reads each scope once from the real store and keeps the tick's
//! writes in memory, under the same version rule, so the tick goes through its
//! whole protocol (claim, publish, mark sent) and reports what it would have
//! done, while the table or file stays exactly as it was. Paired with a
//! publisher that only collects, nothing leaves the process.

use monitor_core::domain::{Record, Scope, ScopeSnapshot};
use monitor_core::ports::{SnapshotStore, StoreError};
use std::collections::BTreeMap;
use std::sync::Mutex;

pub struct ReadOnly<S> {
    inner: S,
    /// Each scope's snapshot as read, with this tick's writes applied.
    overlay: Mutex<BTreeMap<String, ScopeSnapshot>>,
}

impl<S: SnapshotStore> ReadOnly<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            overlay: Mutex::new(BTreeMap::new()),
        }
    }

    fn overlay(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ScopeSnapshot>> {
        self.overlay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn snapshot(&self, scope: &Scope) -> Result<ScopeSnapshot, StoreError> {
        if let Some(snapshot) = self.overlay().get(&scope.key()) {
            return Ok(snapshot.clone());
        }
        let snapshot = self.inner.load(scope).await?;
        Ok(self
            .overlay()
            .entry(scope.key())
            .or_insert(snapshot)
            .clone())
    }
}

impl<S: SnapshotStore> SnapshotStore for ReadOnly<S> {
    async fn load(&self, scope: &Scope) -> Result<ScopeSnapshot, StoreError> {
        self.snapshot(scope).await
    }

    async fn put(
        &self,
        scope: &Scope,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        self.snapshot(scope).await?;
        let mut overlay = self.overlay();
        let snapshot = overlay.entry(scope.key()).or_default();
        if snapshot.put_if_version(record, expected) {
            Ok(())
        } else {
            Err(StoreError::Conflict {
                scope: scope.clone(),
                id: record.observation.id.to_string(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monitor_core::domain::{DatastoreStatus, ErrorCategory, ErrorCause};
    use monitor_core::fixtures::{observation, scope};
    use monitor_core::memory::{MemoryPublisher, MemoryReader, MemoryStore};
    use monitor_core::tick::{Monitor, Tick, TickSettings};

    #[tokio::test]
    async fn a_dry_tick_runs_the_whole_protocol_and_writes_nothing() {
        let reader = MemoryReader::default();
        let mut failed = observation("b", DatastoreStatus::CreateFailed);
        failed.error_cause = Some(ErrorCause {
            message: "key disabled".into(),
            category: ErrorCategory::NonRetryable,
        });
        reader.set(
            &scope(),
            vec![observation("a", DatastoreStatus::Active), failed],
        );
        let real = MemoryStore::default();
        for owner in ["dry-1", "dry-2"] {
            let publisher = MemoryPublisher::default();
            let monitor = Monitor::new(
                &reader,
                ReadOnly::new(&real),
                &publisher,
                TickSettings::default(),
            );
            let tick = Tick {
                owner: owner.into(),
                now: chrono::Utc::now(),
            };
            let report = monitor.tick(&[scope()], &tick).await;
            assert!(report.problems().is_empty(), "{:?}", report.problems());
            // Claimed and marked sent in memory: no conflict with itself.
            assert_eq!(publisher.sent().len(), 1);
            let in_memory = monitor.store().load(&scope()).await.unwrap();
            assert_eq!(in_memory.records.len(), 2);
            assert!(in_memory.records.values().all(|r| r.pending.is_empty()));
            // ... and nothing reached the real store, so the next dry run sees it all again.
            assert_eq!(real.writes(), 0);
            assert!(real.snapshot(&scope()).records.is_empty());
        }
    }
}
