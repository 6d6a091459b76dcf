//! One tick of the monitor: list, diff, record, alert.
//!
//! Delivery protocol (see "Delivery guarantees" in the README): a record's
//! alerts are first written as pending under a claim (a conditional write on
//! the record's version, so only one tick wins), then published, then the
//! record is written again without them. A claim carries its owner and time;
//! once it is older than the claim TTL, a later tick takes the alerts over.

use crate::domain::{
    Alert, AlertPolicy, Claim, Observation, Record, Scope, Transition, diff, view_of,
};
use crate::ports::{
    AlertPublisher, DatastoreReader, PublishError, ReadError, SnapshotStore, StoreError,
};
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use std::time::Instant;
use tracing::{info, instrument, warn};

#[derive(Debug, Clone)]
pub struct Settings {
    pub policy: AlertPolicy,
    /// How long a claim protects pending alerts from other ticks. Must exceed the
    /// longest time a tick can spend publishing (the function timeout).
    pub claim_ttl: Duration,
    /// Records processed at once within a scope.
    pub concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            policy: AlertPolicy::default(),
            claim_ttl: Duration::minutes(2),
            concurrency: 8,
        }
    }
}

/// Who runs this tick and when.
#[derive(Debug, Clone)]
pub struct Tick {
    /// Unique per tick, such as the Lambda request id.
    pub owner: String,
    pub now: DateTime<Utc>,
}

/// Why a scope could not be scanned at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("reading the snapshot of {scope} failed: {source}")]
    Store { scope: Scope, source: StoreError },
}

/// What one scope's scan saw and did.
#[derive(Debug, Clone, Default)]
pub struct ScopeReport {
    /// The current listing, by name then id.
    pub observations: Vec<Observation>,
    pub transitions: Vec<Transition>,
    pub published: Vec<Alert>,
    /// Alerts that could not be sent; they stay pending for the next tick.
    pub failed: Vec<(Alert, PublishError)>,
    /// Writes that failed for a reason other than losing a race.
    pub store_errors: Vec<StoreError>,
    /// Records left to another tick that held or won them.
    pub left_to_others: usize,
}

#[derive(Debug)]
pub struct TickReport {
    pub scopes: Vec<(Scope, Result<ScopeReport, ScanError>)>,
    pub duration: std::time::Duration,
}

impl TickReport {
    /// One line per thing that went wrong: scopes not scanned, alerts not sent,
    /// records not written.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (scope, result) in &self.scopes {
            match result {
                Err(e) => problems.push(e.to_string()),
                Ok(report) => {
                    problems.extend(report.failed.iter().map(|(_, e)| format!("{scope}: {e}")));
                    problems.extend(report.store_errors.iter().map(|e| format!("{scope}: {e}")));
                }
            }
        }
        problems
    }

    pub fn reports(&self) -> impl Iterator<Item = (&Scope, &ScopeReport)> {
        self.scopes
            .iter()
            .filter_map(|(s, r)| r.as_ref().ok().map(|r| (s, r)))
    }
}

pub struct Monitor<R, S, P> {
    reader: R,
    store: S,
    publisher: P,
    settings: Settings,
}

#[expect(
    clippy::large_enum_variant,
    reason = "one short-lived value per record"
)]
enum Outcome {
    Unchanged,
    Written {
        published: Vec<Alert>,
        failed: Option<(Alert, PublishError)>,
        store_error: Option<StoreError>,
    },
    LeftToOthers,
    StoreError(StoreError),
}

impl<R: DatastoreReader, S: SnapshotStore, P: AlertPublisher> Monitor<R, S, P> {
    pub fn new(reader: R, store: S, publisher: P, settings: Settings) -> Self {
        Self {
            reader,
            store,
            publisher,
            settings,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    /// Scans every scope concurrently. A scope that fails does not stop the others.
    pub async fn tick(&self, scopes: &[Scope], tick: &Tick) -> TickReport {
        let started = Instant::now();
        let results = futures::future::join_all(scopes.iter().map(|s| self.scan(s, tick))).await;
        TickReport {
            scopes: scopes.iter().cloned().zip(results).collect(),
            duration: started.elapsed(),
        }
    }

    #[instrument(skip_all, fields(scope = %scope, owner = %tick.owner))]
    pub async fn scan(&self, scope: &Scope, tick: &Tick) -> Result<ScopeReport, ScanError> {
        let current = self.reader.list(scope).await?;
        let snapshot = self
            .store
            .load(scope)
            .await
            .map_err(|source| ScanError::Store {
                scope: scope.clone(),
                source,
            })?;
        let transitions = diff(&snapshot.view(), &view_of(current.iter().cloned()));

        let mut work: Vec<(Option<&Record>, Option<&Transition>)> = transitions
            .iter()
            .map(|t| (snapshot.records.get(t.id()), Some(t)))
            .collect();
        // Alerts owed from earlier ticks on stores that did not change since.
        work.extend(
            snapshot
                .records
                .values()
                .filter(|r| {
                    !r.pending.is_empty()
                        && !transitions.iter().any(|t| t.id() == &r.observation.id)
                })
                .map(|r| (Some(r), None)),
        );

        let outcomes: Vec<Outcome> = futures::stream::iter(work)
            .map(|(record, transition)| self.process(scope, record, transition, tick))
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;

        let mut report = ScopeReport {
            observations: current,
            transitions,
            ..ScopeReport::default()
        };
        report
            .observations
            .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        for outcome in outcomes {
            match outcome {
                Outcome::Unchanged => {}
                Outcome::LeftToOthers => report.left_to_others += 1,
                Outcome::StoreError(e) => report.store_errors.push(e),
                Outcome::Written {
                    published,
                    failed,
                    store_error,
                } => {
                    report.published.extend(published);
                    report.failed.extend(failed);
                    report.store_errors.extend(store_error);
                }
            }
        }
        report.published.sort_by(|a, b| a.id.cmp(&b.id));
        info!(
            datastores = report.observations.len(),
            transitions = report.transitions.len(),
            published = report.published.len(),
            failed = report.failed.len(),
            "scope scanned"
        );
        Ok(report)
    }

    /// Records a transition (if any) and delivers the record's pending alerts.
    async fn process(
        &self,
        scope: &Scope,
        old: Option<&Record>,
        transition: Option<&Transition>,
        tick: &Tick,
    ) -> Outcome {
        if let Some(claim) = old.and_then(|r| r.claim.as_ref())
            && claim.owner != tick.owner
        {
            if claim.is_live(tick.now, self.settings.claim_ttl) {
                // Another tick is publishing this record's alerts right now.
                return Outcome::LeftToOthers;
            }
            warn!(datastore = %old.map(|r| r.observation.id.as_str()).unwrap_or_default(), stale_owner = %claim.owner,
                  "taking over alerts of an expired claim");
        }

        let version = old.map_or(1, |r| r.version + 1);
        let mut record = match (old, transition) {
            (_, Some(t)) => {
                let mut pending = old.map(|r| r.pending.clone()).unwrap_or_default();
                if let Some(decision) = self.settings.policy.classify(t) {
                    pending.push(Alert::new(scope, t, decision, version, tick.now));
                }
                Record {
                    observation: t.latest().clone(),
                    version,
                    first_seen: old.map_or(tick.now, |r| r.first_seen),
                    last_changed: tick.now,
                    vanished_at: t.current().is_none().then_some(tick.now),
                    pending,
                    claim: None,
                }
            }
            (Some(r), None) => Record {
                version,
                ..r.clone()
            },
            (None, None) => return Outcome::Unchanged,
        };
        if !record.pending.is_empty() {
            record.claim = Some(Claim {
                owner: tick.owner.clone(),
                at: tick.now,
            });
        }
        match self.store.put(scope, &record, old.map(|r| r.version)).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => return Outcome::LeftToOthers,
            Err(e) => return Outcome::StoreError(e),
        }
        if record.pending.is_empty() {
            return Outcome::Written {
                published: Vec::new(),
                failed: None,
                store_error: None,
            };
        }

        let (published, failed) = self.deliver(&record.pending).await;
        let claimed_version = record.version;
        record.pending.drain(..published.len());
        record.claim = None;
        record.version += 1;
        let store_error = match self.store.put(scope, &record, Some(claimed_version)).await {
            Ok(()) => None,
            Err(e) => {
                // The alerts went out but are still marked pending: a later tick
                // may send them again once the claim expires.
                warn!(datastore = %record.observation.id, error = %e, "alerts sent but not marked sent");
                Some(e)
            }
        };
        Outcome::Written {
            published,
            failed,
            store_error,
        }
    }

    /// Publishes alerts in order, stopping at the first failure so that they
    /// reach subscribers in the order they happened.
    async fn deliver(&self, pending: &[Alert]) -> (Vec<Alert>, Option<(Alert, PublishError)>) {
        let mut published = Vec::new();
        for alert in pending {
            match self.publisher.publish(alert).await {
                Ok(()) => published.push(alert.clone()),
                Err(e) => {
                    warn!(alert_id = %alert.id, error = %e.message, "alert not sent; it stays pending");
                    return (published, Some((alert.clone(), e)));
                }
            }
        }
        (published, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemoryPublisher, MemoryReader, MemoryStore};
    use crate::domain::testing::observation;
    use crate::domain::{DatastoreStatus, ErrorCategory, ErrorCause, Reason, Severity};
    use DatastoreStatus::*;

    struct Fixture {
        reader: MemoryReader,
        store: MemoryStore,
        publisher: MemoryPublisher,
        scope: Scope,
    }

    impl Fixture {
        fn new() -> Self {
            let o = observation("a", Active);
            Self {
                reader: MemoryReader::default(),
                store: MemoryStore::default(),
                publisher: MemoryPublisher::default(),
                scope: Scope::new(o.account, o.region),
            }
        }

        fn monitor(&self) -> Monitor<&MemoryReader, &MemoryStore, &MemoryPublisher> {
            Monitor::new(
                &self.reader,
                &self.store,
                &self.publisher,
                Settings::default(),
            )
        }

        fn list(&self, stores: &[(&str, DatastoreStatus)]) {
            let observations = stores
                .iter()
                .map(|(id, s)| observation(id, s.clone()))
                .collect();
            self.reader.set(&self.scope, observations);
        }

        async fn tick_at(&self, owner: &str, minutes: i64) -> ScopeReport {
            let tick = Tick {
                owner: owner.into(),
                now: DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes),
            };
            let mut report = self
                .monitor()
                .tick(std::slice::from_ref(&self.scope), &tick)
                .await;
            report.scopes.remove(0).1.expect("scan succeeds")
        }
    }

    fn failed(id: &str) -> Observation {
        let mut o = observation(id, CreateFailed);
        o.error_cause = Some(ErrorCause {
            message: "Customer managed key is not accessible".into(),
            category: ErrorCategory::NonRetryable,
        });
        o
    }

    #[tokio::test]
    async fn first_run_alerts_on_an_existing_failure_only() {
        let f = Fixture::new();
        f.reader
            .set(&f.scope, vec![observation("a", Active), failed("b")]);
        let report = f.tick_at("t1", 0).await;
        assert_eq!(report.transitions.len(), 2);
        assert_eq!(report.published.len(), 1);
        let alert = &f.publisher.sent()[0];
        assert_eq!(
            (alert.severity, alert.reason),
            (Severity::Critical, Reason::Failure)
        );
        assert_eq!(
            alert.error_cause.as_ref().unwrap().category,
            ErrorCategory::NonRetryable
        );
        assert_eq!(alert.previous_status, None);
        let record = &f.store.snapshot(&f.scope).records[&failed("b").id];
        assert_eq!(record.alert_state(), "none");
    }

    #[tokio::test]
    async fn a_quiet_tick_sends_and_writes_nothing() {
        let f = Fixture::new();
        f.reader
            .set(&f.scope, vec![observation("a", Active), failed("b")]);
        f.tick_at("t1", 0).await;
        let writes = f.store.writes();
        let report = f.tick_at("t2", 5).await;
        assert!(report.transitions.is_empty());
        assert!(report.published.is_empty());
        assert_eq!(f.store.writes(), writes);
        assert_eq!(f.publisher.sent().len(), 1);
    }

    #[tokio::test]
    async fn each_transition_alerts_once_in_order() {
        let f = Fixture::new();
        f.list(&[("a", Creating)]);
        f.tick_at("t1", 0).await;
        f.reader.set(&f.scope, vec![failed("a")]);
        f.tick_at("t2", 5).await;
        f.tick_at("t3", 10).await;
        f.list(&[]);
        f.tick_at("t4", 15).await;
        let sent: Vec<_> = f
            .publisher
            .sent()
            .iter()
            .map(|a| (a.severity, a.change))
            .collect();
        use crate::domain::Change;
        assert_eq!(
            sent,
            vec![
                (Severity::Critical, Change::Changed),
                (Severity::Info, Change::Vanished)
            ]
        );
        let record = &f.store.snapshot(&f.scope).records[&failed("a").id];
        assert!(record.vanished_at.is_some());
        assert_eq!(record.observation.status, CreateFailed);
    }

    #[tokio::test]
    async fn a_failed_publish_stays_pending_and_goes_out_next_tick() {
        let f = Fixture::new();
        f.reader.set(&f.scope, vec![failed("a"), failed("b")]);
        f.publisher.set_failing(Some("topic does not exist"));
        let report = f.tick_at("t1", 0).await;
        assert_eq!(report.failed.len(), 2);
        assert!(f.publisher.sent().is_empty());
        let snapshot = f.store.snapshot(&f.scope);
        assert!(
            snapshot
                .records
                .values()
                .all(|r| r.alert_state() == "pending")
        );

        f.publisher.set_failing(None);
        let report = f.tick_at("t2", 5).await;
        assert!(report.transitions.is_empty());
        assert_eq!(report.published.len(), 2);
        let report = f.tick_at("t3", 10).await;
        assert!(report.published.is_empty());
        assert_eq!(f.publisher.sent().len(), 2);
    }

    #[tokio::test]
    async fn a_live_claim_is_left_alone_and_an_expired_one_is_taken_over() {
        let f = Fixture::new();
        f.reader.set(&f.scope, vec![failed("a")]);
        // A tick that claimed the alert and crashed before publishing.
        let mut record = Record {
            observation: failed("a"),
            version: 1,
            first_seen: DateTime::<Utc>::UNIX_EPOCH,
            last_changed: DateTime::<Utc>::UNIX_EPOCH,
            vanished_at: None,
            pending: vec![],
            claim: Some(Claim {
                owner: "crashed".into(),
                at: DateTime::<Utc>::UNIX_EPOCH,
            }),
        };
        let t = Transition::Appeared {
            current: failed("a"),
        };
        let decision = AlertPolicy::default().classify(&t).unwrap();
        record.pending.push(Alert::new(
            &f.scope,
            &t,
            decision,
            1,
            DateTime::<Utc>::UNIX_EPOCH,
        ));
        f.store.put(&f.scope, &record, None).await.unwrap();

        let report = f.tick_at("t2", 1).await;
        assert_eq!(report.left_to_others, 1);
        assert!(f.publisher.sent().is_empty());

        let report = f.tick_at("t3", 3).await;
        assert_eq!(report.published.len(), 1);
        assert_eq!(f.publisher.sent()[0].id, record.pending[0].id);
    }

    /// Fails the write that marks alerts sent, as a crash between publish and
    /// mark-sent would leave things.
    struct LosesMarkSent<'a>(&'a MemoryStore);

    impl SnapshotStore for LosesMarkSent<'_> {
        async fn load(&self, scope: &Scope) -> Result<crate::domain::Snapshot, StoreError> {
            self.0.load(scope).await
        }
        async fn put(
            &self,
            scope: &Scope,
            record: &Record,
            expected: Option<u64>,
        ) -> Result<(), StoreError> {
            if record.claim.is_none() && expected.is_some() {
                return Err(StoreError::Unavailable("connection reset".into()));
            }
            self.0.put(scope, record, expected).await
        }
    }

    #[tokio::test]
    async fn a_lost_mark_sent_repeats_the_alert_with_the_same_id_once_the_claim_expires() {
        let f = Fixture::new();
        f.reader.set(&f.scope, vec![failed("a")]);
        let lossy = Monitor::new(
            &f.reader,
            LosesMarkSent(&f.store),
            &f.publisher,
            Settings::default(),
        );
        let tick = Tick {
            owner: "t1".into(),
            now: DateTime::<Utc>::UNIX_EPOCH,
        };
        let report = lossy.tick(std::slice::from_ref(&f.scope), &tick).await;
        let problems = report.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("connection reset"));
        assert_eq!(f.publisher.sent().len(), 1);

        // Within the claim's lifetime nobody sends it again ...
        assert!(f.tick_at("t2", 1).await.published.is_empty());
        // ... after it, the alert goes out once more, under the same id.
        let report = f.tick_at("t3", 3).await;
        assert_eq!(report.published.len(), 1);
        let sent = f.publisher.sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].id, sent[1].id);
        assert!(f.tick_at("t4", 10).await.published.is_empty());
    }

    #[tokio::test]
    async fn overlapping_ticks_publish_once() {
        let f = Fixture::new();
        f.list(&[("a", Creating)]);
        f.tick_at("t1", 0).await;
        f.reader.set(&f.scope, vec![failed("a")]);
        let (a, b) = tokio::join!(f.tick_at("t2", 5), f.tick_at("t3", 5));
        assert_eq!(a.published.len() + b.published.len(), 1);
        assert_eq!(f.publisher.sent().len(), 1);
    }

    #[tokio::test]
    async fn a_failing_scope_does_not_stop_the_others() {
        let f = Fixture::new();
        let west = Scope::new(
            f.scope.account.clone(),
            crate::domain::Region::parse("us-west-2").unwrap(),
        );
        f.reader.set(&f.scope, vec![failed("a")]);
        f.reader.fail(ReadError {
            scope: west.clone(),
            kind: crate::ports::ReadErrorKind::Throttled,
            message: "Rate exceeded".into(),
        });
        let tick = Tick {
            owner: "t".into(),
            now: Utc::now(),
        };
        let report = f.monitor().tick(&[west, f.scope.clone()], &tick).await;
        assert_eq!(f.publisher.sent().len(), 1);
        let problems = report.problems();
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("us-west-2") && problems[0].contains("Rate exceeded"),
            "{problems:?}"
        );
    }
}
