//! One tick of the monitor: list, diff, record, alert.
//!
//! Delivery protocol (see "Delivery guarantees" in the README): a record's
//! alerts are first written as pending under a claim (a conditional write on
//! the record's version, so only one tick wins), then published, then the
//! record is written again without the alerts that went out or were set aside.
//! A claim carries its owner and the time it was written; once it is older than
//! the claim TTL, a later tick takes the alerts over.
//!
//! An alert that cannot be sent never holds up the others: a retryable failure
//! leaves it pending for the next tick, and after a permanent refusal or
//! [`TickSettings::max_attempts`] failures it is set aside as undeliverable, kept in
//! its record with the reason.

use crate::domain::{
    AccountId, Alert, AlertPolicy, Claim, DatastoreId, Observation, Reason, Record, Routing, Scope,
    ScopeSnapshot, Severity, Tags, Transition, Unreadable, diff, observations_of,
};
use crate::ports::{
    AlertPublisher, DatastoreDescriber, DatastoreReader, PublishError, PublishErrorKind, ReadError,
    ReadErrorKind, SnapshotStore, StoreError,
};
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use std::time::Instant;
use tracing::{info, instrument, warn};

#[derive(Debug, Clone)]
pub struct TickSettings {
    pub policy: AlertPolicy,
    /// How long a claim protects pending alerts from other ticks. Must exceed the
    /// longest time a tick can spend publishing (the function timeout).
    pub claim_ttl: Duration,
    /// Records written (and their alerts published) at once, over every
    /// scope of a tick together: the bound on a tick's DynamoDB writes and
    /// SNS publishes in flight, whatever the number of scopes.
    pub concurrency: usize,
    /// Scopes, (account, region) pairs, scanned at once.
    pub scan_concurrency: usize,
    /// Failed attempts after which an alert is set aside as undeliverable.
    pub max_attempts: u32,
    /// Which stores and transitions are alerted, and the tags alerts carry.
    pub routing: Routing,
}

impl TickSettings {
    /// The default of [`TickSettings::max_attempts`]: four hours of ticks every five minutes.
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 48;
    /// The default of [`TickSettings::concurrency`]: at 25 ms a call, a
    /// first tick records 1,000 new stores of one scope in about 0.4 s.
    pub const DEFAULT_CONCURRENCY: usize = 64;
    /// The default of [`TickSettings::scan_concurrency`].
    pub const DEFAULT_SCAN_CONCURRENCY: usize = 16;
}

impl Default for TickSettings {
    fn default() -> Self {
        Self {
            policy: AlertPolicy::default(),
            claim_ttl: Duration::minutes(2),
            concurrency: Self::DEFAULT_CONCURRENCY,
            scan_concurrency: Self::DEFAULT_SCAN_CONCURRENCY,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            routing: Routing::default(),
        }
    }
}

/// Who runs this tick and when.
#[derive(Debug, Clone)]
pub struct Tick {
    /// Unique per tick, such as the Lambda request id.
    pub owner: String,
    /// When the tick started; observations are stamped with it.
    pub now: DateTime<Utc>,
}

/// The tick's clock: its start, plus the time elapsed since, so that a claim
/// carries the time it was written even on a simulated clock.
#[derive(Debug, Clone)]
struct Clock<'a> {
    tick: &'a Tick,
    started: Instant,
}

impl Clock<'_> {
    fn now(&self) -> DateTime<Utc> {
        self.tick.now + Duration::from_std(self.started.elapsed()).unwrap_or(Duration::zero())
    }
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
    /// Alerts that could not be sent this time; they stay pending for the next tick.
    pub failed: Vec<(Alert, PublishError)>,
    /// Alerts set aside as undeliverable this tick, with the reason.
    pub undeliverable: Vec<(Alert, String)>,
    /// Listed entries that could not be read; their records are left as they are.
    pub unreadable_listing: Vec<Unreadable>,
    /// Snapshot items that could not be read; reported, never overwritten.
    pub unreadable_snapshot: Vec<Unreadable>,
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
    /// One line per thing that went wrong: scopes not scanned, alerts not sent
    /// or set aside, items not read, records not written.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        // An account whose role could not be assumed is one problem, not one per region.
        for (account, regions, error) in self.accounts_not_assumed() {
            problems.push(format!(
                "account {account}: {}; none of its {} region(s) ({}) was scanned, and their \
                 snapshots are left as they are",
                error.message,
                regions.len(),
                regions.join(", ")
            ));
        }
        for (scope, result) in &self.scopes {
            match result {
                Err(ScanError::Read(e)) if e.kind == ReadErrorKind::RoleNotAssumed => {}
                Err(e) => problems.push(e.to_string()),
                Ok(report) => {
                    problems.extend(
                        report
                            .failed
                            .iter()
                            .map(|(_, e)| format!("{scope}: {e}; it stays pending")),
                    );
                    problems.extend(report.undeliverable.iter().map(|(a, reason)| {
                        format!(
                            "{scope}: alert {} set aside as undeliverable: {reason}",
                            a.id
                        )
                    }));
                    problems.extend(
                        report
                            .unreadable_listing
                            .iter()
                            .chain(&report.unreadable_snapshot)
                            .map(|u| format!("{scope}: {u}")),
                    );
                    problems.extend(report.store_errors.iter().map(|e| format!("{scope}: {e}")));
                }
            }
        }
        problems
    }

    /// The accounts whose role could not be assumed, each with the regions
    /// left unscanned and the first error met.
    pub fn accounts_not_assumed(&self) -> Vec<(&AccountId, Vec<&str>, &ReadError)> {
        let mut accounts: Vec<(&AccountId, Vec<&str>, &ReadError)> = Vec::new();
        for (scope, result) in &self.scopes {
            if let Err(ScanError::Read(e)) = result
                && e.kind == ReadErrorKind::RoleNotAssumed
            {
                match accounts.iter_mut().find(|(a, _, _)| *a == &scope.account) {
                    Some((_, regions, _)) => regions.push(scope.region.as_str()),
                    None => accounts.push((&scope.account, vec![scope.region.as_str()], e)),
                }
            }
        }
        accounts
    }

    /// The accounts of which at least one scope was scanned.
    pub fn accounts_scanned(&self) -> usize {
        let mut accounts: Vec<&AccountId> = self
            .scopes
            .iter()
            .filter(|(_, r)| r.is_ok())
            .map(|(s, _)| &s.account)
            .collect();
        accounts.sort();
        accounts.dedup();
        accounts.len()
    }

    pub fn reports(&self) -> impl Iterator<Item = (&Scope, &ScopeReport)> {
        self.scopes
            .iter()
            .filter_map(|(s, r)| r.as_ref().ok().map(|r| (s, r)))
    }

    /// Whether every scope of the tick was listed and its snapshot read.
    pub(crate) fn all_scanned(&self) -> bool {
        self.scopes.iter().all(|(_, r)| r.is_ok())
    }
}

pub struct Monitor<R, S, P> {
    reader: R,
    store: S,
    publisher: P,
    settings: TickSettings,
    /// [`TickSettings::concurrency`] permits, shared by every scope.
    writes: tokio::sync::Semaphore,
}

/// One record's work in a tick.
enum Work<'a> {
    /// The store changed: record the transition (and its alert, if any).
    Transition {
        old: Option<&'a Record>,
        transition: &'a Transition,
    },
    /// Nothing changed, but the record still owes alerts from earlier ticks,
    /// or its store has been in its status long enough to owe a warning or
    /// a reminder (judged only when `listed`: the store is in this tick's listing).
    Owed { record: &'a Record, listed: bool },
}

#[derive(Default)]
struct Outcome {
    published: Vec<Alert>,
    failed: Vec<(Alert, PublishError)>,
    undeliverable: Vec<(Alert, String)>,
    store_errors: Vec<StoreError>,
    left_to_others: usize,
}

/// The record a transition leaves: the new observation, a bumped version, and
/// the alert the policy selects added to what it owes. When the transition
/// selects none, a store that had been reported stuck and left that status
/// owes an info that it moved on, and one that has been too long in its
/// status owes its warning or reminder. One alert at most per version, as an
/// alert's id is its record's version. Pure: no I/O.
fn evolve(
    settings: &TickSettings,
    scope: &Scope,
    old: Option<&Record>,
    transition: &Transition,
    tags: Option<Tags>,
    now: DateTime<Utc>,
) -> Record {
    let version = old.map_or(1, |r| r.version + 1);
    let mut record = match old {
        Some(r) => Record {
            observation: transition.latest().clone(),
            version,
            last_changed: now,
            claim: None,
            ..r.clone()
        },
        None => Record::new(transition.latest().clone(), version, now),
    };
    record.vanished_at = transition.current().is_none().then_some(now);
    if tags.is_some() {
        record.tags = tags;
    }
    // A store seen again after it vanished starts over, as one never seen.
    let live_before = old.filter(|r| r.vanished_at.is_none());
    let left_status = live_before.is_some_and(|r| {
        transition
            .current()
            .is_none_or(|c| c.status != r.observation.status)
    });
    if live_before.is_none() || left_status {
        record.enter_status(now);
    }
    let was_stuck = live_before
        .filter(|_| left_status)
        .and_then(|r| r.stuck_warned_at.map(|_| r.status_since));
    let routing = &settings.routing;
    let admitted = routing.admits(&record.observation.name, record.tags.as_ref());
    if let Some(decision) = settings.policy.classify(transition) {
        if admitted && !routing.ignores(transition) {
            let mut alert = Alert::new(scope, transition, decision, version, now);
            alert.tags = routing.chosen(record.tags.as_ref());
            record.owe(alert, now);
        }
    } else if let Some(since) = was_stuck {
        if admitted {
            let mut alert = Alert::new(
                scope,
                transition,
                (Severity::Info, Reason::Unstuck),
                version,
                now,
            );
            alert.since = Some(since);
            alert.tags = routing.chosen(record.tags.as_ref());
            record.owe(alert, now);
        }
    } else {
        nudge(settings, scope, &mut record, now);
    }
    record
}

/// Adds to what `record` owes the warning or reminder its time in its status
/// calls for at `now`, and notes it in the record, so that the write that
/// claims the alert is also the one that says it was decided: of two ticks
/// that both find it due, only the one whose write lands sends it.
///
/// A store the routing leaves out is noted the same way, without an alert;
/// its tags are those last read (none are read for a warning or reminder).
fn nudge(settings: &TickSettings, scope: &Scope, record: &mut Record, now: DateTime<Utc>) {
    let Some(decision) = settings.policy.lingering(record, now) else {
        return;
    };
    match decision.1 {
        Reason::Reminder => record.reminded_at = Some(now),
        _ => record.stuck_warned_at = Some(now),
    }
    let routing = &settings.routing;
    if !routing.admits(&record.observation.name, record.tags.as_ref()) {
        return;
    }
    let mut alert = Alert::lingering(scope, record, decision, record.version, now);
    alert.tags = routing.chosen(record.tags.as_ref());
    record.owe(alert, now);
}

impl<R: DatastoreReader, S: SnapshotStore, P: AlertPublisher> Monitor<R, S, P> {
    pub fn new(reader: R, store: S, publisher: P, settings: TickSettings) -> Self {
        Self {
            writes: tokio::sync::Semaphore::new(settings.concurrency.max(1)),
            reader,
            store,
            publisher,
            settings,
        }
    }

    pub fn reader(&self) -> &R {
        &self.reader
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn publisher(&self) -> &P {
        &self.publisher
    }

    /// Scans the scopes, [`TickSettings::scan_concurrency`] at a time; a scope
    /// named twice is scanned once. A scope that fails does not stop the others.
    pub async fn tick(&self, scopes: &[Scope], tick: &Tick) -> TickReport {
        let started = Instant::now();
        let unique = Scope::distinct(scopes.iter().cloned());
        let clock = Clock { tick, started };
        let results: Vec<_> = futures::stream::iter(unique.iter().map(|s| self.scan(s, &clock)))
            .buffered(self.settings.scan_concurrency.max(1))
            .collect()
            .await;
        TickReport {
            scopes: unique.into_iter().zip(results).collect(),
            duration: started.elapsed(),
        }
    }

    /// The fast path: one data store an event named, described and run
    /// through the same record, claim and publish steps as a scan, so its
    /// alert goes out now and the next scan finds nothing new. Only that
    /// store's record is touched; a store the service does not know is left
    /// to the scan (an event never removes a store from the snapshot).
    #[instrument(skip_all, fields(scope = %scope, datastore = %id, owner = %tick.owner))]
    pub async fn observe(
        &self,
        scope: &Scope,
        id: &DatastoreId,
        tick: &Tick,
        account_name: Option<&str>,
    ) -> Result<ScopeReport, ScanError>
    where
        R: DatastoreDescriber,
    {
        let clock = Clock {
            tick,
            started: Instant::now(),
        };
        let described = self.reader.describe(scope, id).await?;
        let snapshot = self
            .store
            .load(scope)
            .await
            .map_err(|source| ScanError::Store {
                scope: scope.clone(),
                source,
            })?;
        let mut report = ScopeReport {
            observations: described.iter().cloned().collect(),
            unreadable_snapshot: snapshot
                .unreadable
                .iter()
                .filter(|u| u.id.as_deref() == Some(id.as_str()))
                .cloned()
                .collect(),
            ..ScopeReport::default()
        };
        let Some(current) = described else {
            return Ok(report);
        };
        if snapshot.is_unreadable(id) {
            return Ok(report);
        }
        let previous = snapshot
            .view()
            .into_iter()
            .filter(|(known, _)| known == id)
            .collect();
        let transitions = diff(&previous, &observations_of([current]));
        self.record_and_deliver(
            scope,
            &snapshot,
            transitions,
            |r| &r.observation.id == id,
            |listed| listed == id,
            &clock,
            account_name,
            &mut report,
        )
        .await;
        info!(
            transitions = report.transitions.len(),
            published = report.published.len(),
            failed = report.failed.len(),
            "event's data store observed"
        );
        Ok(report)
    }

    #[instrument(skip_all, fields(scope = %scope, owner = %clock.tick.owner))]
    async fn scan(&self, scope: &Scope, clock: &Clock<'_>) -> Result<ScopeReport, ScanError> {
        let listing = self.reader.list(scope).await?;
        let snapshot = self
            .store
            .load(scope)
            .await
            .map_err(|source| ScanError::Store {
                scope: scope.clone(),
                source,
            })?;
        // A store whose snapshot item cannot be read is left out, so that its
        // item is never overwritten; a listed entry that cannot be read keeps
        // its record as it is, rather than reading as a store that vanished.
        let listed_unreadable = |id: &str| {
            listing
                .unreadable
                .iter()
                .any(|u| u.id.as_deref() == Some(id))
        };
        let previous = snapshot
            .view()
            .into_iter()
            .filter(|(id, _)| !listed_unreadable(id.as_str()))
            .collect();
        let current = observations_of(
            listing
                .observations
                .iter()
                .filter(|o| !snapshot.is_unreadable(&o.id))
                .cloned(),
        );
        let transitions = diff(&previous, &current);
        let mut report = ScopeReport {
            observations: listing.observations,
            unreadable_listing: listing.unreadable,
            unreadable_snapshot: snapshot.unreadable.clone(),
            ..ScopeReport::default()
        };
        report
            .observations
            .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        self.record_and_deliver(
            scope,
            &snapshot,
            transitions,
            |_| true,
            |id| current.contains_key(id),
            clock,
            listing.account_name.as_deref(),
            &mut report,
        )
        .await;
        info!(
            datastores = report.observations.len(),
            transitions = report.transitions.len(),
            published = report.published.len(),
            failed = report.failed.len(),
            undeliverable = report.undeliverable.len(),
            unreadable = report.unreadable_listing.len() + report.unreadable_snapshot.len(),
            "scope scanned"
        );
        Ok(report)
    }

    /// Records `transitions` and delivers the pending alerts of their records
    /// and of every other record `owed` selects, into `report`.
    #[allow(clippy::too_many_arguments)]
    async fn record_and_deliver(
        &self,
        scope: &Scope,
        snapshot: &ScopeSnapshot,
        transitions: Vec<Transition>,
        owed: impl Fn(&Record) -> bool,
        listed: impl Fn(&DatastoreId) -> bool,
        clock: &Clock<'_>,
        account_name: Option<&str>,
        report: &mut ScopeReport,
    ) {
        let mut work: Vec<Work<'_>> = transitions
            .iter()
            .map(|transition| Work::Transition {
                old: snapshot.records.get(transition.id()),
                transition,
            })
            .collect();
        let now = clock.tick.now;
        let policy = &self.settings.policy;
        work.extend(
            snapshot
                .records
                .values()
                .filter(|r| owed(r) && !transitions.iter().any(|t| t.id() == &r.observation.id))
                .map(|record| Work::Owed {
                    record,
                    listed: listed(&record.observation.id),
                })
                .filter(|w| match w {
                    Work::Owed { record, listed } => {
                        !record.pending.is_empty()
                            || (*listed && policy.lingering(record, now).is_some())
                    }
                    Work::Transition { .. } => true,
                }),
        );

        let outcomes: Vec<Outcome> = futures::stream::iter(work)
            .map(|w| async {
                // The semaphore is never closed.
                let _permit = self.writes.acquire().await.ok();
                self.process(scope, w, clock, account_name).await
            })
            .buffer_unordered(self.settings.concurrency.max(1))
            .collect()
            .await;
        for outcome in outcomes {
            report.published.extend(outcome.published);
            report.failed.extend(outcome.failed);
            report.undeliverable.extend(outcome.undeliverable);
            report.store_errors.extend(outcome.store_errors);
            report.left_to_others += outcome.left_to_others;
        }
        report.published.sort_by(|a, b| a.id.cmp(&b.id));
        report.transitions = transitions;
    }

    /// The tags of a transition's store, read only when a tag setting is in
    /// use and the transition would be alerted (one call per alert, none on a
    /// quiet tick); `None` when not read or not readable (the record keeps
    /// the tags last read).
    async fn tags_for(&self, scope: &Scope, transition: &Transition) -> Option<Tags> {
        let current = transition.current()?;
        if !self.settings.routing.needs_tags()
            || self.settings.policy.classify(transition).is_none()
            || self.settings.routing.ignores(transition)
        {
            return None;
        }
        match self.reader.tags(scope, &current.arn).await {
            Ok(tags) => Some(tags),
            Err(e) => {
                warn!(datastore = %current.id, error = %e.message, "tags not read; the alert goes out with the tags last read, if any");
                None
            }
        }
    }

    /// Records a transition (if any) and delivers the record's pending alerts.
    async fn process(
        &self,
        scope: &Scope,
        work: Work<'_>,
        clock: &Clock<'_>,
        account_name: Option<&str>,
    ) -> Outcome {
        let old = match &work {
            Work::Transition { old, .. } => *old,
            Work::Owed { record, .. } => Some(*record),
        };
        if let Some(claim) = old.and_then(|r| r.claim.as_ref())
            && claim.owner != clock.tick.owner
        {
            if claim.is_live(clock.now(), self.settings.claim_ttl) {
                // Another tick is publishing this record's alerts right now.
                return Outcome {
                    left_to_others: 1,
                    ..Outcome::default()
                };
            }
            warn!(datastore = %old.map(|r| r.observation.id.as_str()).unwrap_or_default(), stale_owner = %claim.owner,
                  "taking over alerts of an expired claim");
        }

        let mut record = match work {
            Work::Transition { old, transition } => evolve(
                &self.settings,
                scope,
                old,
                transition,
                self.tags_for(scope, transition).await,
                clock.tick.now,
            ),
            Work::Owed { record: r, listed } => {
                let mut record = Record {
                    version: r.version + 1,
                    ..r.clone()
                };
                if listed {
                    nudge(&self.settings, scope, &mut record, clock.tick.now);
                }
                record
            }
        };
        if !record.pending.is_empty() {
            record.claim = Some(Claim {
                owner: clock.tick.owner.clone(),
                at: clock.now(),
            });
        }
        match self.store.put(scope, &record, old.map(|r| r.version)).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                return Outcome {
                    left_to_others: 1,
                    ..Outcome::default()
                };
            }
            Err(e) => {
                return Outcome {
                    store_errors: vec![e],
                    ..Outcome::default()
                };
            }
        }
        if record.pending.is_empty() {
            return Outcome::default();
        }

        let claimed_version = record.version;
        let mut outcome = self.deliver(&mut record, clock, account_name).await;
        record.claim = None;
        record.version += 1;
        if let Err(e) = self.store.put(scope, &record, Some(claimed_version)).await {
            // The alerts went out but are still marked pending: a later tick
            // may send them again once the claim expires.
            warn!(datastore = %record.observation.id, error = %e, "alerts sent but not marked sent");
            outcome.store_errors.push(e);
        }
        outcome
    }

    /// Publishes every pending alert of `record`, oldest first, and leaves in
    /// `record.pending` only those to try again. A failure never holds up the
    /// alerts after it.
    async fn deliver(
        &self,
        record: &mut Record,
        clock: &Clock<'_>,
        account_name: Option<&str>,
    ) -> Outcome {
        let mut outcome = Outcome::default();
        let mut retry = Vec::new();
        for mut pending in std::mem::take(&mut record.pending) {
            pending.alert.account_name = account_name.map(str::to_owned);
            let error = match self.publisher.publish(&pending.alert).await {
                Ok(()) => {
                    outcome.published.push(pending.alert);
                    continue;
                }
                Err(e) => e,
            };
            pending.attempts += 1;
            pending.last_error = Some(crate::domain::snapshot::bounded_reason(&error.message));
            let reason = match error.kind {
                PublishErrorKind::Permanent => Some(format!("refused: {}", error.message)),
                PublishErrorKind::Retryable if pending.attempts >= self.settings.max_attempts => {
                    Some(format!(
                        "gave up after {} attempts: {}",
                        pending.attempts, error.message
                    ))
                }
                PublishErrorKind::Retryable => None,
            };
            match reason {
                Some(reason) => {
                    warn!(alert_id = %pending.alert.id, attempts = pending.attempts, kind = error.kind.as_str(),
                          "alert set aside as undeliverable");
                    outcome
                        .undeliverable
                        .push((pending.alert.clone(), reason.clone()));
                    record.set_aside(pending, &reason, clock.now());
                }
                None => {
                    warn!(alert_id = %pending.alert.id, attempts = pending.attempts, error = %error.message,
                          "alert not sent; it stays pending");
                    outcome.failed.push((pending.alert.clone(), error));
                    retry.push(pending);
                }
            }
        }
        record.pending = retry;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::testing::observation;
    use crate::domain::{DatastoreStatus, ErrorCategory, ErrorCause, Reason, Severity};
    use crate::memory::{MemoryPublisher, MemoryReader, MemoryStore};
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
                TickSettings::default(),
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

    /// A store in `status` since the epoch, as HealthLake reports its creation.
    fn created_at_epoch(id: &str, status: DatastoreStatus) -> Observation {
        let mut o = observation(id, status);
        o.created_at = Some(DateTime::<Utc>::UNIX_EPOCH);
        o
    }

    /// One tick under `policy` at `minutes` past the epoch.
    async fn tick_with(
        f: &Fixture,
        policy: &AlertPolicy,
        owner: &str,
        minutes: i64,
    ) -> ScopeReport {
        let settings = TickSettings {
            policy: policy.clone(),
            ..TickSettings::default()
        };
        let monitor = Monitor::new(&f.reader, &f.store, &f.publisher, settings);
        let tick = Tick {
            owner: owner.into(),
            now: DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes),
        };
        let mut report = monitor.tick(std::slice::from_ref(&f.scope), &tick).await;
        report.scopes.remove(0).1.expect("scan succeeds")
    }

    fn sent(f: &Fixture) -> Vec<(Severity, Reason, crate::domain::Change)> {
        f.publisher
            .sent()
            .iter()
            .map(|a| (a.severity, a.reason, a.change))
            .collect()
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
        let mut record = Record::new(failed("a"), 1, DateTime::<Utc>::UNIX_EPOCH);
        record.claim = Some(Claim {
            owner: "crashed".into(),
            at: DateTime::<Utc>::UNIX_EPOCH,
        });
        let t = Transition::Appeared {
            current: failed("a"),
        };
        let decision = AlertPolicy::default().classify(&t).unwrap();
        record.owe(
            Alert::new(&f.scope, &t, decision, 1, DateTime::<Utc>::UNIX_EPOCH),
            DateTime::<Utc>::UNIX_EPOCH,
        );
        f.store.put(&f.scope, &record, None).await.unwrap();

        let report = f.tick_at("t2", 1).await;
        assert_eq!(report.left_to_others, 1);
        assert!(f.publisher.sent().is_empty());

        let report = f.tick_at("t3", 3).await;
        assert_eq!(report.published.len(), 1);
        assert_eq!(f.publisher.sent()[0].id, record.pending[0].alert.id);
    }

    /// Fails the write that marks alerts sent, as a crash between publish and
    /// mark-sent would leave things.
    struct LosesMarkSent<'a>(&'a MemoryStore);

    impl SnapshotStore for LosesMarkSent<'_> {
        async fn load(&self, scope: &Scope) -> Result<crate::domain::ScopeSnapshot, StoreError> {
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
            TickSettings::default(),
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

    /// A store whose loads wait for each other: two ticks both read the
    /// snapshot before either writes, so their claims really race.
    struct RacingStore<'a> {
        inner: &'a MemoryStore,
        loaded: tokio::sync::Barrier,
    }

    impl SnapshotStore for RacingStore<'_> {
        async fn load(&self, scope: &Scope) -> Result<crate::domain::ScopeSnapshot, StoreError> {
            let snapshot = self.inner.load(scope).await;
            self.loaded.wait().await;
            snapshot
        }
        async fn put(
            &self,
            scope: &Scope,
            record: &Record,
            expected: Option<u64>,
        ) -> Result<(), StoreError> {
            tokio::task::yield_now().await;
            self.inner.put(scope, record, expected).await
        }
    }

    #[tokio::test]
    async fn overlapping_ticks_publish_once() {
        let f = Fixture::new();
        f.list(&[("a", Creating)]);
        f.tick_at("t1", 0).await;
        f.reader.set(&f.scope, vec![failed("a")]);
        let racing = RacingStore {
            inner: &f.store,
            loaded: tokio::sync::Barrier::new(2),
        };
        let monitor = Monitor::new(&f.reader, &racing, &f.publisher, TickSettings::default());
        let tick = |owner: &str| Tick {
            owner: owner.into(),
            now: DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(5),
        };
        let (t2, t3) = (tick("t2"), tick("t3"));
        let scopes = std::slice::from_ref(&f.scope);
        let (a, b) = tokio::join!(monitor.tick(scopes, &t2), monitor.tick(scopes, &t3));
        let published = |r: &TickReport| r.reports().map(|(_, s)| s.published.len()).sum::<usize>();
        assert_eq!(published(&a) + published(&b), 1);
        assert_eq!(f.publisher.sent().len(), 1);
        let left = |r: &TickReport| r.reports().map(|(_, s)| s.left_to_others).sum::<usize>();
        assert_eq!(left(&a) + left(&b), 1, "the loser leaves the record alone");
    }

    #[tokio::test]
    async fn a_store_stuck_in_creating_is_warned_of_once_then_told_when_it_moves_on() {
        use crate::domain::Change;
        let f = Fixture::new();
        let policy = AlertPolicy::default();
        f.reader
            .set(&f.scope, vec![created_at_epoch("a", Creating)]);
        for minute in [0, 60, 115] {
            tick_with(&f, &policy, &format!("t{minute}"), minute).await;
        }
        assert!(f.publisher.sent().is_empty(), "not stuck before two hours");
        let writes = f.store.writes();
        tick_with(&f, &policy, "t125", 125).await;
        assert_eq!(
            sent(&f),
            vec![(Severity::Warning, Reason::Stuck, Change::Unchanged)]
        );
        let warning = f.publisher.sent()[0].clone();
        assert_eq!(warning.status, Some(Creating));
        assert_eq!(warning.since, Some(DateTime::<Utc>::UNIX_EPOCH));
        assert!(
            crate::render::subject(&warning).contains("stuck in CREATING for 2 h 5 min"),
            "{}",
            crate::render::subject(&warning)
        );
        assert!(f.store.writes() > writes);

        // Still creating: nothing more, and nothing written.
        for minute in [130, 300, 600] {
            tick_with(&f, &policy, &format!("t{minute}"), minute).await;
        }
        assert_eq!(f.publisher.sent().len(), 1);

        f.reader.set(&f.scope, vec![created_at_epoch("a", Active)]);
        tick_with(&f, &policy, "t605", 605).await;
        tick_with(&f, &policy, "t610", 610).await;
        assert_eq!(
            sent(&f),
            vec![
                (Severity::Warning, Reason::Stuck, Change::Unchanged),
                (Severity::Info, Reason::Unstuck, Change::Changed)
            ]
        );
        let moved_on = &f.publisher.sent()[1];
        assert_eq!(
            (moved_on.previous_status.clone(), moved_on.status.clone()),
            (Some(Creating), Some(Active))
        );
        assert!(
            crate::render::subject(moved_on).contains("left CREATING after 10 h 5 min: now ACTIVE"),
            "{}",
            crate::render::subject(moved_on)
        );
    }

    #[tokio::test]
    async fn creating_counts_from_healthlakes_creation_time_not_from_first_sight() {
        let f = Fixture::new();
        f.reader
            .set(&f.scope, vec![created_at_epoch("a", Creating)]);
        // First seen five hours after its creation began.
        let report = tick_with(&f, &AlertPolicy::default(), "t1", 300).await;
        assert_eq!(report.published.len(), 1);
        assert_eq!(report.published[0].reason, Reason::Stuck);
        assert!(
            tick_with(&f, &AlertPolicy::default(), "t2", 305)
                .await
                .published
                .is_empty()
        );
    }

    #[tokio::test]
    async fn deleting_and_updating_count_from_when_the_monitor_saw_them_start() {
        let f = Fixture::new();
        let policy = AlertPolicy::default();
        f.list(&[("d", Active), ("u", Active)]);
        tick_with(&f, &policy, "t0", 0).await;
        f.list(&[("d", Deleting), ("u", Updating)]);
        tick_with(&f, &policy, "t100", 100).await;
        assert!(
            tick_with(&f, &policy, "t215", 215)
                .await
                .published
                .is_empty()
        );
        let report = tick_with(&f, &policy, "t220", 220).await;
        let stuck: Vec<_> = report
            .published
            .iter()
            .map(|a| (a.reason, a.status.clone()))
            .collect();
        assert_eq!(
            stuck,
            vec![
                (Reason::Stuck, Some(Deleting)),
                (Reason::Stuck, Some(Updating))
            ]
        );
    }

    #[tokio::test]
    async fn a_new_stay_in_the_status_is_warned_of_again() {
        let f = Fixture::new();
        let policy = AlertPolicy::default();
        f.list(&[("a", Updating)]);
        tick_with(&f, &policy, "t0", 0).await;
        tick_with(&f, &policy, "t125", 125).await;
        f.list(&[("a", Active)]);
        tick_with(&f, &policy, "t130", 130).await;
        f.list(&[("a", Updating)]);
        tick_with(&f, &policy, "t135", 135).await;
        assert!(
            tick_with(&f, &policy, "t250", 250)
                .await
                .published
                .is_empty()
        );
        tick_with(&f, &policy, "t260", 260).await;
        let reasons: Vec<_> = sent(&f).into_iter().map(|(_, r, _)| r).collect();
        assert_eq!(reasons, vec![Reason::Stuck, Reason::Unstuck, Reason::Stuck]);
    }

    #[tokio::test]
    async fn a_stuck_store_that_fails_gets_the_failure_alert_only() {
        let f = Fixture::new();
        let policy = AlertPolicy::default();
        f.reader
            .set(&f.scope, vec![created_at_epoch("a", Creating)]);
        tick_with(&f, &policy, "t0", 0).await;
        tick_with(&f, &policy, "t125", 125).await;
        f.reader.set(&f.scope, vec![failed("a")]);
        tick_with(&f, &policy, "t130", 130).await;
        tick_with(&f, &policy, "t135", 135).await;
        let reasons: Vec<_> = sent(&f).into_iter().map(|(s, r, _)| (s, r)).collect();
        assert_eq!(
            reasons,
            vec![
                (Severity::Warning, Reason::Stuck),
                (Severity::Critical, Reason::Failure)
            ]
        );
    }

    #[tokio::test]
    async fn a_store_left_failed_is_reminded_every_period_with_how_long_it_has_failed() {
        let f = Fixture::new();
        let policy = AlertPolicy {
            failed_reminder: Some(Duration::hours(6)),
            ..AlertPolicy::default()
        };
        f.reader.set(&f.scope, vec![failed("a")]);
        for hour in 0..=13 {
            tick_with(&f, &policy, &format!("t{hour}"), hour * 60).await;
        }
        let reasons: Vec<_> = sent(&f).into_iter().map(|(s, r, _)| (s, r)).collect();
        assert_eq!(
            reasons,
            vec![
                (Severity::Critical, Reason::Failure),
                (Severity::Warning, Reason::Reminder),
                (Severity::Warning, Reason::Reminder)
            ]
        );
        let sent = f.publisher.sent();
        assert_eq!(
            (sent[1].observed_at, sent[2].observed_at),
            (
                DateTime::<Utc>::UNIX_EPOCH + Duration::hours(6),
                DateTime::<Utc>::UNIX_EPOCH + Duration::hours(12)
            )
        );
        assert_eq!(sent[2].since, Some(DateTime::<Utc>::UNIX_EPOCH));
        let subject = crate::render::subject(&sent[2]);
        assert!(
            subject.contains("still CREATE_FAILED after 12 h"),
            "{subject}"
        );
        let body = crate::render::text_body(&sent[2]);
        assert!(
            body.contains("Failed for 12 h and not fixed yet."),
            "{body}"
        );
        assert!(body.contains("Retrying will not help"), "{body}");

        // Deleted and gone: no more reminders.
        f.list(&[]);
        for hour in 14..=30 {
            tick_with(&f, &policy, &format!("t{hour}"), hour * 60).await;
        }
        assert_eq!(f.publisher.sent().len(), 4, "the recovery, then nothing");
    }

    #[tokio::test]
    async fn nothing_lingers_when_the_thresholds_and_reminders_are_off() {
        let f = Fixture::new();
        let policy = AlertPolicy {
            stuck: crate::domain::StuckAfter::OFF,
            failed_reminder: None,
            ..AlertPolicy::default()
        };
        f.reader
            .set(&f.scope, vec![created_at_epoch("c", Creating), failed("f")]);
        for hour in 0..48 {
            tick_with(&f, &policy, &format!("t{hour}"), hour * 60).await;
        }
        let reasons: Vec<_> = sent(&f).into_iter().map(|(_, r, _)| r).collect();
        assert_eq!(reasons, vec![Reason::Failure]);
        // The default has no reminders either.
        let f = Fixture::new();
        f.reader.set(&f.scope, vec![failed("f")]);
        for hour in 0..48 {
            tick_with(&f, &AlertPolicy::default(), &format!("t{hour}"), hour * 60).await;
        }
        assert_eq!(f.publisher.sent().len(), 1);
    }

    #[tokio::test]
    async fn a_stuck_warning_that_cannot_be_sent_stays_pending_and_goes_out_once() {
        let f = Fixture::new();
        let policy = AlertPolicy::default();
        f.reader
            .set(&f.scope, vec![created_at_epoch("a", Creating)]);
        tick_with(&f, &policy, "t0", 0).await;
        f.publisher.set_failing(Some("Throttled: Rate exceeded"));
        let report = tick_with(&f, &policy, "t125", 125).await;
        assert_eq!(report.failed.len(), 1);
        f.publisher.set_failing(None);
        tick_with(&f, &policy, "t130", 130).await;
        tick_with(&f, &policy, "t135", 135).await;
        let reasons: Vec<_> = sent(&f).into_iter().map(|(_, r, _)| r).collect();
        assert_eq!(reasons, vec![Reason::Stuck]);
    }

    #[tokio::test]
    async fn overlapping_ticks_warn_of_a_stuck_store_and_remind_once() {
        let f = Fixture::new();
        let policy = AlertPolicy {
            failed_reminder: Some(Duration::hours(1)),
            ..AlertPolicy::default()
        };
        f.reader
            .set(&f.scope, vec![created_at_epoch("c", Creating), failed("f")]);
        tick_with(&f, &policy, "t0", 0).await;
        assert_eq!(f.publisher.sent().len(), 1, "the failure");
        let racing = RacingStore {
            inner: &f.store,
            loaded: tokio::sync::Barrier::new(2),
        };
        let settings = TickSettings {
            policy,
            ..TickSettings::default()
        };
        let monitor = Monitor::new(&f.reader, &racing, &f.publisher, settings);
        let tick = |owner: &str| Tick {
            owner: owner.into(),
            now: DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(125),
        };
        let (t2, t3) = (tick("t2"), tick("t3"));
        let scopes = std::slice::from_ref(&f.scope);
        let (a, b) = tokio::join!(monitor.tick(scopes, &t2), monitor.tick(scopes, &t3));
        let mut reasons: Vec<_> = sent(&f).into_iter().map(|(_, r, _)| r.as_str()).collect();
        reasons.sort_unstable();
        assert_eq!(reasons, vec!["failure", "reminder", "stuck"], "{a:?} {b:?}");
    }

    /// Refuses the alerts whose transition left the store in `status`.
    struct Refuses(&'static str, MemoryPublisher);

    impl AlertPublisher for Refuses {
        async fn publish(&self, alert: &Alert) -> Result<(), PublishError> {
            if alert.status.as_ref().map(|s| s.as_str()) == Some(self.0) {
                return Err(PublishError::permanent(
                    alert.id.clone(),
                    "InvalidParameter: Message too long",
                ));
            }
            self.1.publish(alert).await
        }
    }

    #[tokio::test]
    async fn an_alert_sns_refuses_does_not_block_the_later_alerts_of_its_store() {
        let f = Fixture::new();
        let refusing = Refuses("CREATE_FAILED", MemoryPublisher::default());
        let monitor = Monitor::new(&f.reader, &f.store, &refusing, TickSettings::default());
        let at = |owner: &str, minutes| Tick {
            owner: owner.into(),
            now: DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes),
        };
        let scopes = std::slice::from_ref(&f.scope);
        f.reader.set(&f.scope, vec![failed("a")]);
        monitor.tick(scopes, &at("t1", 0)).await;
        // The store recovers and is deleted: both alerts must still reach people.
        f.list(&[("a", Deleting)]);
        monitor.tick(scopes, &at("t2", 5)).await;
        f.list(&[]);
        monitor.tick(scopes, &at("t3", 10)).await;
        monitor.tick(scopes, &at("t4", 15)).await;
        let sent: Vec<_> = refusing.1.sent().iter().map(|a| a.change).collect();
        use crate::domain::Change;
        assert_eq!(sent, vec![Change::Changed]);
        assert!(refusing.1.sent()[0].status == Some(Deleting));
        // The refused alert is kept, with its reason, and owed no more.
        let record = &f.store.snapshot(&f.scope).records[&failed("a").id];
        assert!(record.pending.is_empty());
        assert_eq!(record.undeliverable.len(), 1);
        assert_eq!(record.undeliverable[0].alert.status, Some(CreateFailed));
        assert!(
            record.undeliverable[0]
                .reason
                .contains("refused: InvalidParameter: Message too long"),
            "{:?}",
            record.undeliverable[0]
        );
    }

    #[tokio::test]
    async fn a_retryable_failure_is_tried_a_bounded_number_of_times_then_set_aside() {
        let f = Fixture::new();
        let monitor = Monitor::new(
            &f.reader,
            &f.store,
            &f.publisher,
            TickSettings {
                max_attempts: 3,
                ..TickSettings::default()
            },
        );
        let scopes = std::slice::from_ref(&f.scope);
        f.reader.set(&f.scope, vec![failed("a")]);
        f.publisher.set_failing(Some("Throttled: Rate exceeded"));
        let mut undeliverable = Vec::new();
        for minute in 0..5 {
            let tick = Tick {
                owner: format!("t{minute}"),
                now: DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minute * 5),
            };
            let mut report = monitor.tick(scopes, &tick).await;
            let scope = report.scopes.remove(0).1.unwrap();
            undeliverable.extend(scope.undeliverable);
        }
        assert_eq!(
            undeliverable.len(),
            1,
            "set aside once, on the third failure"
        );
        assert!(
            undeliverable[0]
                .1
                .starts_with("gave up after 3 attempts: Throttled")
        );
        let record = &f.store.snapshot(&f.scope).records[&failed("a").id];
        assert!(record.pending.is_empty() && record.claim.is_none());
        assert_eq!(record.undeliverable_total, 1);
        // A later transition of the same store still goes out.
        f.publisher.set_failing(None);
        f.list(&[("a", Deleting)]);
        assert_eq!(f.tick_at("t9", 60).await.published.len(), 1);
    }

    #[tokio::test]
    async fn a_store_owes_a_bounded_number_of_alerts_while_none_can_be_sent() {
        let f = Fixture::new();
        f.publisher
            .set_failing(Some("NotFound: Topic does not exist"));
        for n in 0..40 {
            // Failed and back, every tick: two alerts a tick.
            let status = if n % 2 == 0 {
                "CREATE_FAILED"
            } else {
                "ACTIVE"
            };
            let mut o = failed("a");
            o.status = DatastoreStatus::parse(status);
            f.reader.set(&f.scope, vec![o]);
            f.tick_at(&format!("t{n}"), n * 5).await;
        }
        let record = &f.store.snapshot(&f.scope).records[&failed("a").id];
        assert_eq!(record.pending.len(), crate::domain::MAX_PENDING);
        assert!(record.undeliverable.len() <= crate::domain::MAX_UNDELIVERABLE);
        assert_eq!(
            record.undeliverable_total + record.pending.len() as u64,
            40,
            "every alert is either owed or counted as set aside"
        );
        // The newest are the ones still owed.
        assert_eq!(
            record.pending.last().unwrap().alert.observed_at,
            record.last_changed
        );
    }

    #[tokio::test]
    async fn an_unreadable_snapshot_item_is_reported_left_alone_and_the_rest_scanned() {
        let f = Fixture::new();
        f.store.add_unreadable(
            &f.scope,
            Unreadable {
                id: Some(failed("a").id.to_string()),
                location: "table t item pk=\"x\" sk=\"a\"".into(),
                reason: "attribute version is missing or not a number".into(),
            },
        );
        f.reader.set(&f.scope, vec![failed("a"), failed("b")]);
        let report = f.tick_at("t1", 0).await;
        assert_eq!(report.published.len(), 1);
        assert_eq!(report.published[0].datastore_id, failed("b").id);
        assert_eq!(report.unreadable_snapshot.len(), 1);
        let snapshot = f.store.snapshot(&f.scope);
        assert!(
            !snapshot.records.contains_key(&failed("a").id),
            "never overwritten"
        );
    }

    #[tokio::test]
    async fn an_alert_is_sent_with_the_accounts_current_name() {
        let f = Fixture::new();
        let named = |name: &str, observations| crate::ports::Listing {
            observations,
            unreadable: vec![],
            account_name: Some(name.into()),
        };
        f.reader
            .set_listing(&f.scope, named("payments-prod", vec![failed("a")]));
        let report = f.tick_at("t1", 0).await;
        let published = &report.published;
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].account_name.as_deref(), Some("payments-prod"));
    }

    #[tokio::test]
    async fn an_unreadable_listing_entry_is_not_a_vanished_store() {
        let f = Fixture::new();
        f.reader.set(&f.scope, vec![failed("a")]);
        f.tick_at("t1", 0).await;
        f.reader.set_listing(
            &f.scope,
            crate::ports::Listing {
                observations: vec![],
                unreadable: vec![Unreadable {
                    id: Some(failed("a").id.to_string()),
                    location: "ListFHIRDatastores entry".into(),
                    reason: "bad".into(),
                }],
                account_name: None,
            },
        );
        let report = f.tick_at("t2", 5).await;
        assert!(report.transitions.is_empty(), "{:?}", report.transitions);
        assert_eq!(report.unreadable_listing.len(), 1);
        let record = &f.store.snapshot(&f.scope).records[&failed("a").id];
        assert!(record.vanished_at.is_none());
    }

    #[tokio::test]
    async fn a_scope_named_twice_is_scanned_once() {
        let f = Fixture::new();
        f.reader.set(&f.scope, vec![failed("a")]);
        let tick = Tick {
            owner: "t".into(),
            now: DateTime::<Utc>::UNIX_EPOCH,
        };
        let report = f
            .monitor()
            .tick(&[f.scope.clone(), f.scope.clone()], &tick)
            .await;
        assert_eq!(report.scopes.len(), 1);
        assert_eq!(f.publisher.sent().len(), 1);
    }

    /// A listing that takes its time, as a throttled region would.
    struct SlowReader<'a>(&'a MemoryReader, std::time::Duration);

    impl DatastoreReader for SlowReader<'_> {
        async fn list(&self, scope: &Scope) -> Result<crate::ports::Listing, ReadError> {
            tokio::time::sleep(self.1).await;
            self.0.list(scope).await
        }
    }

    impl DatastoreDescriber for SlowReader<'_> {
        async fn describe(
            &self,
            scope: &Scope,
            id: &DatastoreId,
        ) -> Result<Option<Observation>, ReadError> {
            tokio::time::sleep(self.1).await;
            self.0.describe(scope, id).await
        }
    }

    /// A snapshot store whose loads answer late, with what they read first.
    struct SlowLoads<'a>(&'a MemoryStore, std::time::Duration);

    impl SnapshotStore for SlowLoads<'_> {
        async fn load(&self, scope: &Scope) -> Result<crate::domain::ScopeSnapshot, StoreError> {
            let snapshot = self.0.load(scope).await;
            tokio::time::sleep(self.1).await;
            snapshot
        }
        async fn put(
            &self,
            scope: &Scope,
            record: &Record,
            expected: Option<u64>,
        ) -> Result<(), StoreError> {
            self.0.put(scope, record, expected).await
        }
    }

    /// Records each claim it sees being written.
    struct SeesClaims<'a>(&'a MemoryStore, std::sync::Mutex<Vec<Claim>>);

    impl SnapshotStore for SeesClaims<'_> {
        async fn load(&self, scope: &Scope) -> Result<crate::domain::ScopeSnapshot, StoreError> {
            self.0.load(scope).await
        }
        async fn put(
            &self,
            scope: &Scope,
            record: &Record,
            expected: Option<u64>,
        ) -> Result<(), StoreError> {
            if let Some(c) = &record.claim {
                self.1.lock().unwrap().push(c.clone());
            }
            self.0.put(scope, record, expected).await
        }
    }

    fn routed(
        f: &Fixture,
        raw: crate::domain::RawRouting,
    ) -> Monitor<&MemoryReader, &MemoryStore, &MemoryPublisher> {
        let routing = Routing::parse(raw, crate::domain::RoutingNames::ENVIRONMENT).unwrap();
        Monitor::new(
            &f.reader,
            &f.store,
            &f.publisher,
            TickSettings {
                routing,
                ..TickSettings::default()
            },
        )
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[tokio::test]
    async fn tags_are_read_once_per_alert_route_it_and_are_kept_in_the_record() {
        let f = Fixture::new();
        let (a, b, c) = (failed("a"), failed("b"), observation("c", Active));
        f.reader
            .set_tags(&a.arn, tags(&[("team", "payments"), ("owner", "ana")]));
        f.reader.set_tags(
            &b.arn,
            tags(&[("team", "imaging"), ("environment", "sandbox")]),
        );
        f.reader.set(&f.scope, vec![a.clone(), b.clone(), c]);
        let monitor = routed(
            &f,
            crate::domain::RawRouting {
                exclude_tags: vec!["environment=sandbox".into()],
                alert_tag_keys: vec!["team".into()],
                ..Default::default()
            },
        );
        let tick = |minutes| Tick {
            owner: format!("t{minutes}"),
            now: DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes),
        };
        let report = monitor.tick(std::slice::from_ref(&f.scope), &tick(0)).await;
        assert!(report.problems().is_empty(), "{:?}", report.problems());
        // Two alertable transitions (the active store alerts nothing): two reads.
        assert_eq!(f.reader.tag_reads(), 2);
        let sent = f.publisher.sent();
        assert_eq!(sent.len(), 1, "the sandbox store is recorded, not alerted");
        assert_eq!(sent[0].datastore_id, a.id);
        assert_eq!(sent[0].tags, tags(&[("team", "payments")]));
        let snapshot = f.store.snapshot(&f.scope);
        assert_eq!(snapshot.records.len(), 3);
        assert_eq!(
            snapshot.records[&b.id].tags,
            Some(tags(&[("team", "imaging"), ("environment", "sandbox")]))
        );
        // A quiet tick reads no tags.
        monitor.tick(std::slice::from_ref(&f.scope), &tick(5)).await;
        assert_eq!(f.reader.tag_reads(), 2);
    }

    #[tokio::test]
    async fn an_ignored_transition_is_recorded_and_unreadable_tags_never_silence_an_alert() {
        let f = Fixture::new();
        f.list(&[("a", Creating)]);
        let monitor = routed(
            &f,
            crate::domain::RawRouting {
                include_tags: vec!["team=payments".into()],
                ignore_transitions: vec!["CREATING->ACTIVE".into(), "NEW->CREATE_FAILED".into()],
                ..Default::default()
            },
        );
        let tick = |minutes| Tick {
            owner: format!("t{minutes}"),
            now: DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes),
        };
        monitor.tick(std::slice::from_ref(&f.scope), &tick(0)).await;
        // A new failed store: ignored, so its tags are not even read.
        f.reader
            .set(&f.scope, vec![observation("a", Creating), failed("b")]);
        monitor.tick(std::slice::from_ref(&f.scope), &tick(1)).await;
        assert!(f.publisher.sent().is_empty());
        assert_eq!(f.reader.tag_reads(), 0);
        assert_eq!(f.store.snapshot(&f.scope).records.len(), 2);
        // The tags of "a" cannot be read (its listing fails as the tags are
        // read): the failure is alerted anyway.
        let mut a = failed("a");
        a.name = "patients".into();
        f.reader.set(&f.scope, vec![a, failed("b")]);
        struct NoTags<'a>(&'a MemoryReader);
        impl DatastoreReader for NoTags<'_> {
            async fn list(&self, scope: &Scope) -> Result<crate::ports::Listing, ReadError> {
                self.0.list(scope).await
            }
        }
        let settings = monitor.settings.clone();
        let without_tags = Monitor::new(NoTags(&f.reader), &f.store, &f.publisher, settings);
        without_tags
            .tick(std::slice::from_ref(&f.scope), &tick(2))
            .await;
        assert_eq!(f.publisher.sent().len(), 1);
    }

    /// The id of the store `observation(text, ..)` makes.
    fn id(text: &str) -> DatastoreId {
        observation(text, Active).id
    }

    async fn observe_at(f: &Fixture, owner: &str, minutes: i64, store: &str) -> ScopeReport {
        let tick = Tick {
            owner: owner.into(),
            now: DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(minutes),
        };
        f.monitor()
            .observe(&f.scope, &id(store), &tick, Some("payments-prod"))
            .await
            .expect("the store is described")
    }

    #[tokio::test]
    async fn an_event_alerts_its_stores_failure_once_and_the_next_scan_sends_nothing() {
        let f = Fixture::new();
        f.list(&[("a", Active), ("b", Creating)]);
        f.tick_at("t1", 0).await;
        f.reader
            .set(&f.scope, vec![observation("a", Active), failed("b")]);

        let report = observe_at(&f, "event-1", 1, "b").await;
        assert_eq!(report.transitions.len(), 1);
        let sent = f.publisher.sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].datastore_id, id("b"));
        assert_eq!(
            (sent[0].severity, sent[0].reason),
            (Severity::Critical, Reason::Failure)
        );
        assert_eq!(sent[0].account_name.as_deref(), Some("payments-prod"));
        assert!(sent[0].error_cause.is_some());

        // The same event delivered again, and the scheduled scan after it.
        assert!(
            observe_at(&f, "event-1-again", 2, "b")
                .await
                .transitions
                .is_empty()
        );
        let scan = f.tick_at("t2", 5).await;
        assert!(scan.transitions.is_empty(), "{:?}", scan.transitions);
        assert_eq!(f.publisher.sent().len(), 1);
    }

    #[tokio::test]
    async fn an_event_touches_only_its_store_and_never_removes_one() {
        let f = Fixture::new();
        f.list(&[("a", Active), ("b", Active)]);
        f.tick_at("t1", 0).await;
        let before = f.store.snapshot(&f.scope);
        // The service no longer knows "a" (the event came late), and "b"
        // changed without an event of its own.
        f.list(&[("b", CreateFailed)]);
        let report = observe_at(&f, "event-1", 1, "a").await;
        assert!(report.observations.is_empty());
        assert!(report.transitions.is_empty());
        assert_eq!(f.store.snapshot(&f.scope).records, before.records);
        assert!(f.publisher.sent().is_empty());
        // The scan is the source of truth: it finds both.
        let scan = f.tick_at("t2", 5).await;
        assert_eq!(scan.transitions.len(), 2);
    }

    #[tokio::test]
    async fn an_event_and_a_scan_that_race_send_one_alert() {
        for delay_ms in [0, 5, 20] {
            let f = Fixture::new();
            f.list(&[("a", Creating)]);
            f.tick_at("t1", 0).await;
            f.reader.set(&f.scope, vec![failed("a")]);
            // The scan's listing and the event's describe take their time,
            // and each load of the snapshot returns what it read only after
            // 30 ms, so both sides hold the same version of the record before
            // either writes: only the conditional write keeps one of them out.
            let slow = SlowReader(&f.reader, std::time::Duration::from_millis(delay_ms));
            let store = SlowLoads(&f.store, std::time::Duration::from_millis(30));
            let monitor = Monitor::new(&slow, &store, &f.publisher, TickSettings::default());
            let at = DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(1);
            let scan_tick = Tick {
                owner: "scan".into(),
                now: at,
            };
            let event_tick = Tick {
                owner: "event".into(),
                now: at,
            };
            let store = id("a");
            let (scan, event) = tokio::join!(
                monitor.tick(std::slice::from_ref(&f.scope), &scan_tick),
                monitor.observe(&f.scope, &store, &event_tick, None),
            );
            event.expect("described");
            assert!(scan.problems().is_empty(), "{:?}", scan.problems());
            assert_eq!(f.publisher.sent().len(), 1, "delay {delay_ms} ms");
        }
    }

    #[tokio::test]
    async fn an_event_whose_store_cannot_be_described_is_an_error_and_changes_nothing() {
        let f = Fixture::new();
        f.list(&[("a", Active)]);
        f.tick_at("t1", 0).await;
        f.reader.fail(ReadError {
            scope: f.scope.clone(),
            kind: crate::ports::ReadErrorKind::Throttled,
            message: "Rate exceeded".into(),
        });
        let tick = Tick {
            owner: "event".into(),
            now: Utc::now(),
        };
        let err = f
            .monitor()
            .observe(&f.scope, &id("a"), &tick, None)
            .await
            .expect_err("throttled");
        assert!(err.to_string().contains("Rate exceeded"), "{err}");
        assert_eq!(f.store.writes(), 1);
    }

    #[tokio::test]
    async fn a_claim_carries_the_time_it_was_written_not_the_ticks_start() {
        let f = Fixture::new();
        f.reader.set(&f.scope, vec![failed("a")]);
        let slow = SlowReader(&f.reader, std::time::Duration::from_millis(300));
        let seen = SeesClaims(&f.store, Default::default());
        let start = DateTime::<Utc>::UNIX_EPOCH;
        let tick = Tick {
            owner: "t".into(),
            now: start,
        };
        Monitor::new(&slow, &seen, &f.publisher, TickSettings::default())
            .tick(std::slice::from_ref(&f.scope), &tick)
            .await;
        let claims = seen.1.lock().unwrap().clone();
        assert_eq!(claims.len(), 1);
        assert!(
            claims[0].at >= start + Duration::milliseconds(300),
            "the claim was written after a 300 ms listing: {claims:?}"
        );
    }

    /// A store whose writes take a while and that notes how many are in
    /// flight at once.
    #[derive(Default)]
    struct Gauged {
        inner: MemoryStore,
        in_flight: std::sync::atomic::AtomicUsize,
        peak: std::sync::atomic::AtomicUsize,
    }

    impl SnapshotStore for &Gauged {
        async fn load(&self, scope: &Scope) -> Result<crate::domain::ScopeSnapshot, StoreError> {
            self.inner.load(scope).await
        }
        async fn put(
            &self,
            scope: &Scope,
            record: &Record,
            expected: Option<u64>,
        ) -> Result<(), StoreError> {
            use std::sync::atomic::Ordering::SeqCst;
            let now = self.in_flight.fetch_add(1, SeqCst) + 1;
            self.peak.fetch_max(now, SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            self.in_flight.fetch_sub(1, SeqCst);
            self.inner.put(scope, record, expected).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn writes_in_flight_are_bounded_across_every_scope_of_a_tick() {
        let f = Fixture::new();
        let regions = ["us-east-1", "us-west-2", "eu-west-1"];
        let scopes: Vec<Scope> = regions
            .iter()
            .map(|r| {
                Scope::new(
                    f.scope.account.clone(),
                    crate::domain::Region::parse(*r).unwrap(),
                )
            })
            .collect();
        for scope in &scopes {
            let stores: Vec<Observation> = (0..100)
                .map(|i| {
                    let mut o = observation(&format!("{}-{i}", scope.region), Active);
                    o.region = scope.region.clone();
                    o
                })
                .collect();
            f.reader.set(scope, stores);
        }
        let store = Gauged::default();
        let monitor = Monitor::new(
            &f.reader,
            &store,
            &f.publisher,
            TickSettings {
                concurrency: 20,
                ..TickSettings::default()
            },
        );
        let tick = Tick {
            owner: "t".into(),
            now: Utc::now(),
        };
        let report = monitor.tick(&scopes, &tick).await;
        assert!(report.problems().is_empty(), "{:?}", report.problems());
        assert_eq!(store.inner.writes(), 300, "every new store is written once");
        // At most the bound in flight over the three scopes together, and
        // the bound reached: the writes do go out side by side.
        assert_eq!(store.peak.load(std::sync::atomic::Ordering::SeqCst), 20);
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

/// Invariants of a record's evolution: of [`evolve`] alone, then of the ticks
/// that write it.
#[cfg(test)]
mod properties {
    use super::*;
    use crate::domain::testing::{
        evolution_strategy, instant_strategy, observation_strategy, policy_strategy,
    };
    use crate::domain::{MAX_PENDING, MAX_UNDELIVERABLE, PendingAlert, ScopeSnapshot};
    use crate::fixtures;
    use crate::memory::{MemoryPublisher, MemoryReader, MemoryStore};
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// The id an alert about `transition` has when the record written with it has `version`.
    fn alert_id(transition: &Transition, version: u64) -> String {
        format!("{}#{}#{version}", fixtures::scope().key(), transition.id())
    }

    proptest! {
        #[test]
        fn a_record_stays_within_its_bounds_and_loses_no_alert(
            policy in policy_strategy(),
            (old, transition) in evolution_strategy(),
            now in instant_strategy(),
        ) {
            let settings = TickSettings { policy: policy.clone(), ..TickSettings::default() };
            let new = evolve(&settings, &fixtures::scope(), old.as_ref(), &transition, None, now);
            prop_assert!(new.pending.len() <= MAX_PENDING);
            prop_assert!(new.undeliverable.len() <= MAX_UNDELIVERABLE);
            let (owed, set_aside) = old
                .as_ref()
                .map_or((0, 0), |r| (r.pending.len() as u64, r.undeliverable_total));
            prop_assert!(new.undeliverable_total >= set_aside);
            // Every alert is still owed or counted as set aside.
            let selected = u64::from(policy.classify(&transition).is_some());
            prop_assert_eq!(
                new.pending.len() as u64 + new.undeliverable_total,
                owed + set_aside + selected
            );
        }

        #[test]
        fn a_record_is_written_with_the_next_version(
            policy in policy_strategy(),
            (old, transition) in evolution_strategy(),
            now in instant_strategy(),
        ) {
            let settings = TickSettings { policy: policy.clone(), ..TickSettings::default() };
            let new = evolve(&settings, &fixtures::scope(), old.as_ref(), &transition, None, now);
            prop_assert_eq!(new.version, old.as_ref().map_or(1, |r| r.version + 1));
        }

        #[test]
        fn a_selected_transition_is_owed_once_under_the_new_version(
            policy in policy_strategy(),
            (old, transition) in evolution_strategy(),
            now in instant_strategy(),
        ) {
            let settings = TickSettings { policy: policy.clone(), ..TickSettings::default() };
            let new = evolve(&settings, &fixtures::scope(), old.as_ref(), &transition, None, now);
            let id = alert_id(&transition, new.version);
            let carries_it = |p: &&PendingAlert| p.alert.id == id;
            match policy.classify(&transition) {
                Some((severity, reason)) => {
                    prop_assert_eq!(new.pending.iter().filter(carries_it).count(), 1);
                    let newest = new.pending.last().expect("owed");
                    prop_assert_eq!(&newest.alert.id, &id);
                    prop_assert_eq!((newest.alert.severity, newest.alert.reason), (severity, reason));
                    prop_assert_eq!(newest.alert.observed_at, now);
                    prop_assert_eq!((newest.attempts, &newest.last_error), (0, &None));
                }
                None => {
                    let before = old.as_ref().map(|r| r.pending.clone()).unwrap_or_default();
                    prop_assert_eq!(&new.pending, &before);
                }
            }
        }

        #[test]
        fn a_record_holds_the_latest_observation_and_a_vanished_store_its_last(
            policy in policy_strategy(),
            (old, transition) in evolution_strategy(),
            now in instant_strategy(),
        ) {
            let settings = TickSettings { policy: policy.clone(), ..TickSettings::default() };
            let new = evolve(&settings, &fixtures::scope(), old.as_ref(), &transition, None, now);
            match transition.current() {
                Some(current) => {
                    prop_assert_eq!(&new.observation, current);
                    prop_assert_eq!(new.vanished_at, None);
                }
                None => {
                    let old = old.as_ref().expect("only a recorded store vanishes");
                    prop_assert_eq!(&new.observation, &old.observation);
                    prop_assert_eq!(new.vanished_at, Some(now));
                }
            }
            prop_assert_eq!(new.first_seen, old.as_ref().map_or(now, |r| r.first_seen));
            prop_assert_eq!(new.last_changed, now);
            prop_assert_eq!(&new.claim, &None);
        }
    }

    /// Remembers every write it accepts, as (expected version, record).
    #[derive(Default)]
    struct Writes {
        inner: MemoryStore,
        log: Mutex<Vec<(Option<u64>, Record)>>,
    }

    impl Writes {
        fn take(&self) -> Vec<(Option<u64>, Record)> {
            std::mem::take(&mut *self.log.lock().unwrap())
        }
    }

    impl SnapshotStore for Writes {
        async fn load(&self, scope: &Scope) -> Result<crate::domain::ScopeSnapshot, StoreError> {
            self.inner.load(scope).await
        }
        async fn put(
            &self,
            scope: &Scope,
            record: &Record,
            expected: Option<u64>,
        ) -> Result<(), StoreError> {
            self.inner.put(scope, record, expected).await?;
            self.log.lock().unwrap().push((expected, record.clone()));
            Ok(())
        }
    }

    /// What publishing does during one tick.
    #[derive(Debug, Clone, Copy)]
    enum Delivery {
        Works,
        FailsForNow,
        IsRefused,
    }

    fn ticks() -> impl Strategy<Value = Vec<(Vec<Observation>, Delivery)>> {
        let delivery = prop_oneof![
            3 => Just(Delivery::Works),
            3 => Just(Delivery::FailsForNow),
            1 => Just(Delivery::IsRefused),
        ];
        proptest::collection::vec(
            (
                proptest::collection::vec(observation_strategy(3), 0..4),
                delivery,
            ),
            1..24,
        )
    }

    /// Every alert a tick reported, by id: published, failed or set aside.
    fn reported(report: &ScopeReport) -> Vec<&str> {
        report
            .published
            .iter()
            .chain(report.failed.iter().map(|(a, _)| a))
            .chain(report.undeliverable.iter().map(|(a, _)| a))
            .map(|a| a.id.as_str())
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn ticks_write_each_version_once_and_leave_quiet_stores_alone(
            policy in policy_strategy(),
            ticks in ticks(),
        ) {
            let scope = fixtures::scope();
            let (reader, store, publisher) =
                (MemoryReader::default(), Writes::default(), MemoryPublisher::default());
            let settings = TickSettings { policy: policy.clone(), max_attempts: 3, ..TickSettings::default() };
            let monitor = Monitor::new(&reader, &store, &publisher, settings);
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            for (n, (listing, delivery)) in ticks.into_iter().enumerate() {
                let before: ScopeSnapshot = store.inner.snapshot(&scope);
                reader.set(&scope, listing);
                match delivery {
                    Delivery::Works => publisher.set_failing(None),
                    Delivery::FailsForNow => publisher.set_failing(Some("Throttled")),
                    Delivery::IsRefused => publisher.set_refusing("InvalidParameter"),
                }
                let tick = Tick {
                    owner: format!("t{n}"),
                    now: DateTime::<Utc>::UNIX_EPOCH + Duration::minutes(5 * n as i64),
                };
                let mut report = runtime.block_on(monitor.tick(std::slice::from_ref(&scope), &tick));
                let report = report.scopes.remove(0).1.expect("scanned");
                let after = store.inner.snapshot(&scope);
                let writes = store.take();

                // Every write is of the version after the one it replaces.
                let mut written: BTreeMap<_, Vec<&Record>> = BTreeMap::new();
                for (expected, record) in &writes {
                    prop_assert_eq!(record.version, expected.map_or(1, |v| v + 1));
                    written.entry(record.observation.id.clone()).or_default().push(record);
                }
                for (id, record) in &after.records {
                    let writes = written.get(id).map_or(0, Vec::len) as u64;
                    let old = before.records.get(id);
                    // ... and the version moves by the writes, never otherwise.
                    prop_assert_eq!(record.version, old.map_or(0, |r| r.version) + writes);
                    prop_assert!(record.pending.len() <= MAX_PENDING);
                    prop_assert!(record.undeliverable.len() <= MAX_UNDELIVERABLE);
                    prop_assert!(record.undeliverable_total >= old.map_or(0, |r| r.undeliverable_total));
                    let changed = report.transitions.iter().any(|t| t.id() == id);
                    if !changed && old.is_some_and(|r| r.pending.is_empty()) {
                        // A store seen as it was, owing nothing: no write, no alert.
                        prop_assert_eq!(writes, 0, "{} was written", id);
                        prop_assert_eq!(record, old.unwrap());
                        let about_it = format!("#{id}#");
                        prop_assert!(!reported(&report).iter().any(|a| a.contains(&about_it)));
                    }
                }
                // Each selected transition is alerted once, under the version
                // of the write that recorded it.
                for transition in &report.transitions {
                    if policy.classify(transition).is_none() {
                        continue;
                    }
                    let first_write = written[transition.id()][0];
                    let id = alert_id(transition, first_write.version);
                    prop_assert_eq!(reported(&report).iter().filter(|a| **a == id).count(), 1);
                }
            }
        }
    }
}
