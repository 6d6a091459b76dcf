//! Ticks of the real monitor, some of them killed: the publisher and the store
//! are wrapped so that, at a chosen point, the tick stops as a
//! Lambda cut off mid-invocation would be, and so that what was started before
//! the cut is known.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;

use futures::FutureExt as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use monitor_core::domain::{Alert, DatastoreId, Record, Region, Scope, ScopeSnapshot};
use monitor_core::ports::{AlertPublisher, PublishError, SnapshotStore, StoreError};
use monitor_core::tick::{Monitor, Tick, TickSettings};
use monitor_dynamodb::DynamoDbStore;
use monitor_healthlake::HealthLakeReader;
use monitor_sns::SnsPublisher;
use tokio::sync::Notify;

/// Where a tick is killed: at its n-th publish (counting from 0), before the
/// alert goes out (claimed, not published) or after (published, not marked sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    BeforePublish(usize),
    AfterPublish(usize),
}

/// What one tick did that the checks need.
#[derive(Debug, Default)]
pub struct TickLog {
    /// Alerts whose publish began, in order.
    pub started: Vec<Alert>,
    /// Data stores whose record write failed in this tick.
    pub failed_puts: BTreeSet<DatastoreId>,
}

#[derive(Debug)]
pub struct TickOutcome {
    pub killed: Option<Kill>,
    /// Lines of the tick report's problems (none when killed).
    pub problems: Vec<String>,
    /// Alert ids that may legitimately reach subscribers again: those whose
    /// publish began in a killed tick, or whose record could not be marked sent.
    pub repeat_allowed: BTreeSet<String>,
    /// The tick panicked: the message.
    pub panic: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Watched {
    inner: DynamoDbStore,
    log: Arc<Mutex<TickLog>>,
}

impl SnapshotStore for Watched {
    async fn load(&self, scope: &Scope) -> Result<ScopeSnapshot, StoreError> {
        self.inner.load(scope).await
    }

    async fn put(
        &self,
        scope: &Scope,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let result = self.inner.put(scope, record, expected).await;
        if result.is_err() {
            lock(&self.log)
                .failed_puts
                .insert(record.observation.id.clone());
        }
        result
    }
}

struct Killable {
    inner: SnsPublisher,
    kill: Option<Kill>,
    calls: AtomicUsize,
    killed: Arc<Notify>,
    log: Arc<Mutex<TickLog>>,
}

impl Killable {
    /// Signals the kill and never completes: the tick is dropped meanwhile.
    async fn die(&self) {
        self.killed.notify_one();
        std::future::pending::<()>().await;
    }
}

impl AlertPublisher for Killable {
    async fn publish(&self, alert: &Alert) -> Result<(), PublishError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.kill == Some(Kill::BeforePublish(n)) {
            self.die().await;
        }
        lock(&self.log).started.push(alert.clone());
        let result = self.inner.publish(alert).await;
        if result.is_ok() && self.kill == Some(Kill::AfterPublish(n)) {
            self.die().await;
        }
        result
    }
}

/// The monitor's clients, from which each tick builds its monitor the way the
/// status-monitor Lambda does.
#[derive(Clone)]
pub struct Clients {
    pub healthlake: BTreeMap<Region, aws_sdk_healthlake::Client>,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: String,
    pub sns: aws_sdk_sns::Client,
    pub topic_arn: String,
    pub settings: TickSettings,
    pub scopes: Vec<Scope>,
}

impl Clients {
    /// Runs one tick, killing it at `kill` if the tick gets there.
    pub(crate) async fn tick(&self, tick: Tick, kill: Option<Kill>) -> TickOutcome {
        let log = Arc::new(Mutex::new(TickLog::default()));
        let killed = Arc::new(Notify::new());
        let monitor = Monitor::new(
            HealthLakeReader::new(self.healthlake.clone()),
            Watched {
                inner: DynamoDbStore::new(self.dynamodb.clone(), &self.table),
                log: log.clone(),
            },
            Killable {
                inner: SnsPublisher::new(self.sns.clone(), &self.topic_arn),
                kill,
                calls: AtomicUsize::new(0),
                killed: killed.clone(),
                log: log.clone(),
            },
            self.settings.clone(),
        );
        // Run in place rather than spawned (the tick's future is not provably
        // Send): dropping it at the kill cancels it as an abort would.
        let run = AssertUnwindSafe(monitor.tick(&self.scopes, &tick)).catch_unwind();
        let (was_killed, problems, panic) = tokio::select! {
            finished = run => match finished {
                Ok(report) => (false, report.problems(), None),
                Err(payload) => (false, Vec::new(), Some(panic_message(payload.as_ref()))),
            },
            () = killed.notified() => (true, Vec::new(), None),
        };
        let log = lock(&log);
        let repeat_allowed = log
            .started
            .iter()
            .filter(|a| was_killed || log.failed_puts.contains(&a.datastore_id))
            .map(|a| a.id.clone())
            .collect();
        TickOutcome {
            killed: kill.filter(|_| was_killed),
            problems,
            repeat_allowed,
            panic,
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".to_owned())
}
