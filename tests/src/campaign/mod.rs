//! A randomized fault campaign against the real monitor.
//!
//! From a seed, the campaign runs phases. Each phase:
//! 1. changes the data stores on the HealthLake emulator (creations, failures
//!    with long, Unicode and control-character ErrorCauses, recoveries,
//!    updates, deletions in trouble, unknown statuses, deletions) in several
//!    regions, and asks the [model](model::Model) which alerts the change owes;
//! 2. runs a few faulty ticks of [`monitor_core::tick::Monitor`] with the SDK
//!    adapters: HealthLake throttles, fails, answers a load balancer's HTML
//!    503, resets connections and hangs (the emulator's faults),
//!    DynamoDB and SNS answer errors, throttles, timeouts, resets and lost
//!    answers ([`FaultProxy`] in front of DynamoDB Local and moto), two ticks
//!    sometimes overlap, and a tick is sometimes killed between claim and
//!    publish or between publish and mark-sent;
//! 3. stops the faults and runs fault-free ticks, the simulated clock past the
//!    claim TTL each time, until the snapshot (read from DynamoDB Local directly)
//!    matches the listing and owes nothing, or gives up;
//! 4. checks what an SQS subscriber of the topic received (read from moto
//!    directly) against the model: every expected alert delivered or set aside
//!    with a reason, none unexpected, a repeat only with the same alert id and
//!    only where a crash or failure between publish and mark-sent was injected.
//!
//! The seed fixes the plan (changes, fault rates, kills, overlaps, the clock);
//! which request a proxy fault hits also depends on the order in which
//! concurrent requests arrive, so a seed replays the same plan, not always the
//! same interleaving.

pub mod model;
pub mod rng;
pub mod ticks;
pub mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use chrono::{DateTime, Utc};
use healthlake_emulator::{EmulatorConfig, RunningEmulator};
use monitor_core::document::AlertDocumentV1;
use monitor_core::domain::{AccountId, Alert, Observation, Region, Scope};
use monitor_core::ports::SnapshotStore;
use monitor_core::tick::{Tick, TickSettings};
use monitor_dynamodb::DynamoDbStore;
use serde_json::Value;

use crate::fault_proxy::{FaultKind, FaultProxy, Rates};
use crate::fixtures::{create_snapshot_table, create_topic, subscribe_queue, unique};
use crate::services::{DynamoDbLocal, Moto, sdk_config};
use model::{Model, Tally};
use rng::Rng;
use ticks::{Clients, Kill, TickOutcome};
use world::{ChangeKind, HealthLakeFaults, World};

/// The monitor's SDK timeouts in the campaign: short, so that a hung call
/// costs little; the proxy and the emulator hang longer than an attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(600);
const OPERATION_TIMEOUT: Duration = Duration::from_millis(2500);
/// How long a hung request is held: past [`ATTEMPT_TIMEOUT`].
const HANG: Duration = Duration::from_millis(900);
/// The monitor's claim TTL, as deployed.
const CLAIM_TTL: chrono::Duration = chrono::Duration::seconds(120);
/// Faulty ticks per phase.
const FAULTY_TICKS: (u64, u64) = (2, 6);
/// Fault-free ticks a phase may take to converge before that is a violation.
const SETTLE_TICKS: u64 = 12;
const ACCOUNT: &str = "123456789012";
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    /// Ticks to run at least; the phase under way when they are reached ends.
    pub ticks: u64,
    /// At most this many phases.
    pub phases: Option<u64>,
}

/// What a campaign did and found.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub seed: u64,
    pub ticks: u64,
    pub phases: u64,
    pub changes: BTreeMap<ChangeKind, u64>,
    pub healthlake_faults: HealthLakeFaults,
    pub dynamodb_faults: BTreeMap<FaultKind, u64>,
    pub dynamodb_forwarded: usize,
    pub sns_faults: BTreeMap<FaultKind, u64>,
    pub sns_forwarded: usize,
    pub kills_before_publish: u64,
    pub kills_after_publish: u64,
    pub overlapping_pairs: u64,
    /// Ticks whose report named a problem (a scope not scanned, an alert not
    /// sent, a record not written).
    pub ticks_with_problems: u64,
    /// Alerts for which a repeat was allowed (crash or failure between publish
    /// and mark-sent).
    pub repeats_allowed: u64,
    pub alerts: Tally,
    pub elapsed: Duration,
}

/// The outcome: the summary, and the violations of the phase that broke an
/// invariant (the campaign stops there).
#[derive(Debug)]
pub struct Report {
    pub summary: Summary,
    pub failed_phase: Option<u64>,
    pub violations: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary)?;
        if let Some(phase) = self.failed_phase {
            writeln!(
                f,
                "FAILED: seed {} broke {} invariant(s) in phase {phase}; rerun with \
                 `cargo run -p integration-tests --bin fault-campaign -- --seed {} --phases {phase}`",
                self.summary.seed,
                self.violations.len(),
                self.summary.seed
            )?;
            for violation in &self.violations {
                writeln!(f, "  - {violation}")?;
            }
        }
        Ok(())
    }
}

fn counts<K: fmt::Display>(counts: &BTreeMap<K, u64>) -> String {
    if counts.values().all(|&n| n == 0) {
        return "none".to_owned();
    }
    counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Created => "created",
            Self::CreatedFailing => "created failing",
            Self::Failed => "failed",
            Self::CauseChanged => "cause changed",
            Self::Recovered => "recovered",
            Self::Updating => "updating",
            Self::DeletionInTrouble => "deletion in trouble",
            Self::UnknownStatus => "unknown status",
            Self::Deleted => "deleted",
        };
        f.write_str(name)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self;
        writeln!(
            f,
            "fault campaign: seed {}, {} ticks in {} phases, {:.1} s",
            s.seed,
            s.ticks,
            s.phases,
            s.elapsed.as_secs_f64()
        )?;
        writeln!(f, "  data store changes: {}", counts(&s.changes))?;
        writeln!(
            f,
            "  HealthLake faults: {}; slow ticks {}",
            counts(&s.healthlake_faults.errors),
            s.healthlake_faults.slow_ticks
        )?;
        writeln!(
            f,
            "  DynamoDB faults: {} ({} requests forwarded)",
            counts(&s.dynamodb_faults),
            s.dynamodb_forwarded
        )?;
        writeln!(
            f,
            "  SNS faults: {} ({} requests forwarded)",
            counts(&s.sns_faults),
            s.sns_forwarded
        )?;
        writeln!(
            f,
            "  ticks killed: {} between claim and publish, {} between publish and mark-sent; \
             overlapping pairs {}; ticks reporting problems {}",
            s.kills_before_publish,
            s.kills_after_publish,
            s.overlapping_pairs,
            s.ticks_with_problems
        )?;
        let a = &s.alerts;
        writeln!(
            f,
            "  alerts: expected {}, delivered {}, duplicated {} (repeat allowed for {}), \
             lost {}, undeliverable {}; messages received {}",
            a.expected,
            a.delivered,
            a.duplicated,
            s.repeats_allowed,
            a.lost,
            a.undeliverable,
            a.messages
        )
    }
}

/// The monitor's SDK configuration in the campaign: the deployed retry mode
/// (standard, 3 attempts) with short back-offs, and short timeouts.
fn monitor_config(endpoint: &str) -> SdkConfig {
    sdk_config(endpoint, "us-east-1")
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(OPERATION_TIMEOUT)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(100)),
        )
        .build()
}

/// Fault rates for one phase: an intensity from none to most requests, split
/// over the kinds by weight.
fn rates(rng: &mut Rng, weights: &[(FaultKind, f64)]) -> Rates {
    let intensity = *rng.pick(&[0.0, 0.05, 0.15, 0.3, 0.5, 0.8]);
    let total: f64 = weights.iter().map(|(_, w)| w).sum();
    Rates(
        weights
            .iter()
            .map(|(kind, w)| (*kind, intensity * w / total))
            .collect(),
    )
}

const DYNAMODB_FAULTS: [(FaultKind, f64); 6] = [
    (FaultKind::Throttle, 3.0),
    (FaultKind::CapacityExceeded, 2.0),
    (FaultKind::InternalError, 2.0),
    (FaultKind::Timeout, 1.0),
    (FaultKind::Reset, 2.0),
    (FaultKind::LostResponse, 2.0),
];

/// Faults a publisher retries, and now and then a refusal of the alert itself
/// (which sets it aside as undeliverable).
const SNS_FAULTS: [(FaultKind, f64); 6] = [
    (FaultKind::Refuse, 0.3),
    (FaultKind::Throttle, 3.0),
    (FaultKind::InternalError, 2.0),
    (FaultKind::Timeout, 1.0),
    (FaultKind::Reset, 2.0),
    (FaultKind::LostResponse, 2.0),
];

/// Whether and where to kill a tick. A phase's first tick publishes most of its
/// alerts, so it is killed more often.
fn kill_plan(rng: &mut Rng, first: bool) -> Option<Kill> {
    let each = if first { 20 } else { 10 };
    match rng.range(0, 99) {
        n if n < each => Some(Kill::BeforePublish(rng.range(0, 2) as usize)),
        n if n < 2 * each => Some(Kill::AfterPublish(rng.range(0, 2) as usize)),
        _ => None,
    }
}

/// The local services and clients of one campaign: DynamoDB Local and moto
/// shared with the other tests of the binary (the campaign has its own table,
/// topic and queue there, and its own fault proxies in front of them), and an
/// emulator of its own, whose faults, latency and stores are the campaign's.
struct Harness {
    // Held so that the emulator serves until the campaign ends.
    _emulator: RunningEmulator,
    dynamodb_proxy: FaultProxy,
    sns_proxy: FaultProxy,
    clients: Clients,
    /// The snapshot as the campaign reads it: straight from DynamoDB Local.
    store: DynamoDbStore,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    world: World,
}

impl Harness {
    async fn start(rng: &mut Rng) -> anyhow::Result<Self> {
        let (dynamodb, moto) = tokio::try_join!(DynamoDbLocal::shared(), Moto::shared())?;
        let emulator = RunningEmulator::start(
            EmulatorConfig {
                // Statuses change only when the campaign changes them.
                transition_delay: Duration::ZERO,
                // The campaign's world is not held to HealthLake's quota.
                max_datastores: usize::MAX,
                ..EmulatorConfig::default()
            },
            "127.0.0.1:0".parse()?,
        )
        .await
        .context("starting the HealthLake emulator")?;
        let dynamodb_proxy = FaultProxy::start(&dynamodb.endpoint(), rng.next_u64(), HANG).await?;
        let sns_proxy = FaultProxy::start(&moto.endpoint(), rng.next_u64(), HANG).await?;

        let direct_dynamodb =
            aws_sdk_dynamodb::Client::new(&sdk_config(&dynamodb.endpoint(), "us-east-1"));
        let table = unique("campaign");
        create_snapshot_table(&direct_dynamodb, &table).await?;
        let moto_config = sdk_config(&moto.endpoint(), "us-east-1");
        let (sns, sqs) = (
            aws_sdk_sns::Client::new(&moto_config),
            aws_sdk_sqs::Client::new(&moto_config),
        );
        let topic_arn = create_topic(&sns).await?;
        let queue_url = subscribe_queue(&sns, &sqs, &topic_arn, None).await?;

        let account = AccountId::parse(ACCOUNT)?;
        let regions = REGIONS
            .iter()
            .map(|r| Region::parse(*r))
            .collect::<Result<Vec<_>, _>>()?;
        let scopes: Vec<Scope> = regions
            .iter()
            .map(|r| Scope::new(account.clone(), r.clone()))
            .collect();
        let world = World::new(
            &emulator.url(),
            monitor_healthlake::clients_per_region(
                &sdk_config(&emulator.url(), "us-east-1"),
                &regions,
            ),
            scopes.clone(),
        )?;
        let clients = Clients {
            healthlake: monitor_healthlake::clients_per_region(
                &monitor_config(&emulator.url()),
                &regions,
            ),
            dynamodb: aws_sdk_dynamodb::Client::new(&monitor_config(&dynamodb_proxy.endpoint())),
            table: table.clone(),
            sns: aws_sdk_sns::Client::new(&monitor_config(&sns_proxy.endpoint())),
            topic_arn,
            settings: TickSettings {
                claim_ttl: CLAIM_TTL,
                ..TickSettings::default()
            },
            scopes,
        };
        Ok(Self {
            _emulator: emulator,
            dynamodb_proxy,
            sns_proxy,
            clients,
            store: DynamoDbStore::new(direct_dynamodb, table),
            sqs,
            queue_url,
            world,
        })
    }

    async fn wait_idle(&self) -> anyhow::Result<()> {
        for proxy in [&self.dynamodb_proxy, &self.sns_proxy] {
            anyhow::ensure!(
                proxy.wait_idle(OPERATION_TIMEOUT * 4).await,
                "a request through the fault proxy did not finish"
            );
        }
        Ok(())
    }

    /// Every alert the snapshot keeps as undeliverable, with its reason.
    async fn set_aside(&self) -> anyhow::Result<Vec<(Alert, String)>> {
        let mut set_aside = Vec::new();
        for scope in self.world.listings().keys() {
            let snapshot = self.store.load(scope).await?;
            for record in snapshot.records.values() {
                set_aside.extend(
                    record
                        .undeliverable
                        .iter()
                        .map(|u| (u.alert.clone(), u.reason.clone())),
                );
            }
        }
        Ok(set_aside)
    }

    /// `Ok` when every scope's snapshot matches its listing and no record owes
    /// or holds an alert; otherwise what differs.
    async fn converged(&self) -> Result<(), String> {
        for (scope, observations) in self.world.listings() {
            let snapshot = self
                .store
                .load(scope)
                .await
                .map_err(|e| format!("the snapshot of {scope} cannot be read: {e}"))?;
            for o in observations {
                match snapshot.records.get(&o.id) {
                    None => return Err(format!("{scope}: {} is listed but not recorded", o.id)),
                    Some(r) if r.vanished_at.is_some() || r.observation.differs_from(o) => {
                        return Err(format!(
                            "{scope}: {} is recorded as {} ({}), listed as {} ({})",
                            o.id,
                            r.observation.status,
                            cause_summary(&r.observation),
                            o.status,
                            cause_summary(o),
                        ));
                    }
                    Some(_) => {}
                }
            }
            for (id, r) in &snapshot.records {
                if !r.pending.is_empty() || r.claim.is_some() {
                    return Err(format!(
                        "{scope}: {id} still owes {} alert(s), claim {:?}",
                        r.pending.len(),
                        r.claim.as_ref().map(|c| &c.owner)
                    ));
                }
                if r.vanished_at.is_none() && !observations.iter().any(|o| &o.id == id) {
                    return Err(format!("{scope}: {id} is recorded but not listed"));
                }
            }
        }
        Ok(())
    }

    /// Every alert the subscriber queue received since the last call.
    async fn received(&self, violations: &mut Vec<String>) -> anyhow::Result<Vec<Alert>> {
        let mut alerts = Vec::new();
        let mut empty = 0;
        while empty < 2 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .context("receiving from the subscriber queue")?;
            if out.messages().is_empty() {
                empty += 1;
                continue;
            }
            empty = 0;
            for message in out.messages() {
                match alert_of_envelope(message.body().unwrap_or_default()) {
                    Ok(alert) => alerts.push(alert),
                    Err(e) => violations.push(format!(
                        "a subscriber got a message that is not an alert document: {e}"
                    )),
                }
                if let Some(handle) = message.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await?;
                }
            }
        }
        Ok(alerts)
    }
}

fn cause_summary(o: &Observation) -> String {
    o.error_cause.as_ref().map_or("no cause".to_owned(), |c| {
        format!(
            "{} cause of {} chars",
            c.category.as_str(),
            c.message.chars().count()
        )
    })
}

/// The alert in an SQS subscriber's SNS envelope.
fn alert_of_envelope(body: &str) -> anyhow::Result<Alert> {
    let envelope: Value = serde_json::from_str(body).context("the envelope is not JSON")?;
    let message = envelope["Message"]
        .as_str()
        .context("the envelope has no Message")?;
    let document: AlertDocumentV1 =
        serde_json::from_str(message).context("the Message is not an alert document")?;
    Alert::try_from(document).context("the Message is not a valid alert document")
}

/// The id of the alert an SNS `Publish` request carried, if it is one.
fn published_alert_id(body: &[u8]) -> Option<String> {
    let message = url::form_urlencoded::parse(body)
        .find(|(key, _)| key == "Message")?
        .1;
    let structure: Value = serde_json::from_str(&message).ok()?;
    let document: AlertDocumentV1 = serde_json::from_str(structure["sqs"].as_str()?).ok()?;
    Some(document.id)
}

/// Runs a campaign. `Err` means the campaign could not run (a service did not
/// start); broken invariants are in the report.
pub async fn run(config: &Config) -> anyhow::Result<Report> {
    let started = Instant::now();
    let mut rng = Rng::new(config.seed);
    let mut h = Harness::start(&mut rng.fork("harness")).await?;
    let mut summary = Summary {
        seed: config.seed,
        ..Summary::default()
    };
    let mut model = Model::new(h.clients.settings.policy.clone());
    // The clock starts at the real time: a claim stamped with either is comparable.
    let mut clock: DateTime<Utc> = Utc::now();
    let mut tick_number = 0u64;
    let mut next_tick = |clock: DateTime<Utc>| {
        tick_number += 1;
        Tick {
            owner: format!("campaign-{}-tick-{tick_number}", config.seed),
            now: clock,
        }
    };

    let mut failed_phase = None;
    let mut violations = Vec::new();
    while summary.ticks < config.ticks && config.phases.is_none_or(|p| summary.phases < p) {
        summary.phases += 1;
        let phase = summary.phases;
        let mut rng = rng.fork("phase");

        // 1. Change the world; the model says what that owes.
        let changes = rng.range(1, 4);
        h.world.change(&mut rng, changes).await?;
        h.world.list().await?;
        let expectation = model.advance(h.world.listings());

        // 2. Faulty ticks.
        h.dynamodb_proxy
            .set_rates(rates(&mut rng, &DYNAMODB_FAULTS));
        h.sns_proxy.set_rates(rates(&mut rng, &SNS_FAULTS));
        let mut repeat_allowed = BTreeSet::new();
        let mut outcomes: Vec<TickOutcome> = Vec::new();
        for n in 0..rng.range(FAULTY_TICKS.0, FAULTY_TICKS.1) {
            h.world.inject(&mut rng, HANG).await?;
            clock += chrono::Duration::seconds(rng.range(10, 90) as i64);
            let kill = kill_plan(&mut rng, n == 0);
            // The first tick of a phase meets its transitions: overlap it more often.
            if rng.chance(if n == 0 { 0.5 } else { 0.2 }) {
                let other_kill = kill_plan(&mut rng, n == 0);
                let later = clock + chrono::Duration::milliseconds(rng.range(0, 3000) as i64);
                let (first, second) = (next_tick(clock), next_tick(later));
                let (a, b) = tokio::join!(
                    h.clients.tick(first, kill),
                    h.clients.tick(second, other_kill)
                );
                outcomes.extend([a, b]);
                summary.overlapping_pairs += 1;
            } else {
                outcomes.push(h.clients.tick(next_tick(clock), kill).await);
            }
            h.world.end_slowness().await?;
        }

        // 3. Faults stop; fault-free ticks until the snapshot converges.
        h.dynamodb_proxy.set_rates(Rates::none());
        h.sns_proxy.set_rates(Rates::none());
        h.world.stop_faults().await?;
        h.wait_idle().await?;
        let mut settle = 0;
        loop {
            clock += CLAIM_TTL + chrono::Duration::seconds(30);
            outcomes.push(h.clients.tick(next_tick(clock), None).await);
            settle += 1;
            h.wait_idle().await?;
            match h.converged().await {
                Ok(()) => break,
                Err(difference) if settle >= SETTLE_TICKS => {
                    violations.push(format!(
                        "the snapshot did not converge after {settle} fault-free ticks: {difference}"
                    ));
                    break;
                }
                Err(_) => {}
            }
        }

        // 4. What was received, against what was owed.
        for outcome in &outcomes {
            summary.ticks += 1;
            if let Some(panic) = &outcome.panic {
                violations.push(format!("a tick panicked: {panic}"));
            }
            match outcome.killed {
                Some(Kill::BeforePublish(_)) => summary.kills_before_publish += 1,
                Some(Kill::AfterPublish(_)) => summary.kills_after_publish += 1,
                None => {}
            }
            if !outcome.problems.is_empty() {
                summary.ticks_with_problems += 1;
            }
            repeat_allowed.extend(outcome.repeat_allowed.iter().cloned());
        }
        repeat_allowed.extend(
            h.sns_proxy
                .take_lost_responses()
                .iter()
                .filter_map(|body| published_alert_id(body)),
        );
        h.dynamodb_proxy.take_lost_responses();
        let received = h.received(&mut violations).await?;
        let set_aside = h.set_aside().await?;
        let (tally, found) = model::check(&expectation, &received, &repeat_allowed, &set_aside);
        violations.extend(found);
        summary.alerts.add(&tally);
        summary.repeats_allowed += repeat_allowed.len() as u64;
        if !violations.is_empty() {
            failed_phase = Some(phase);
            break;
        }
    }

    summary.changes = h.world.changes.clone();
    summary.healthlake_faults = h.world.faults.clone();
    summary.dynamodb_faults = h.dynamodb_proxy.injected();
    summary.dynamodb_forwarded = h.dynamodb_proxy.forwarded();
    summary.sns_faults = h.sns_proxy.injected();
    summary.sns_forwarded = h.sns_proxy.forwarded();
    summary.elapsed = started.elapsed();
    Ok(Report {
        summary,
        failed_phase,
        violations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_alert_id_of_a_publish_request() {
        use monitor_core::domain::{DatastoreStatus, Reason, Severity, Transition};
        let current = monitor_core::fixtures::observation("a", DatastoreStatus::CreateFailed);
        let alert = Alert::new(
            &monitor_core::fixtures::scope(),
            &Transition::Appeared { current },
            (Severity::Critical, Reason::Failure),
            3,
            Utc::now(),
        );
        let message = monitor_sns::message(&alert).unwrap();
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "Publish")
            .append_pair("Message", &message)
            .finish();
        assert_eq!(published_alert_id(body.as_bytes()), Some(alert.id));
        assert_eq!(published_alert_id(b"Action=ListTopics"), None);
    }
}
