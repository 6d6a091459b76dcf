//! Speed, memory and call counts of a tick.
//!
//! `cargo bench -p integration-tests --bench tick` prints the figures that README.md
//! records. Times are medians over repeated runs on this machine; call and
//! write counts are exact.

use aws_sdk_healthlake::types::{FhirVersion, Tag};
use chrono::Utc;
use healthlake_emulator::{EmulatorConfig, RunningEmulator};
use monitor_core::domain::{
    AccountTarget, AlertPolicy, DatastoreStatus, ErrorCategory, ErrorCause, Record, Region,
    RoleArn, Scope, ScopeSnapshot, Transition, diff, observations_of,
};
use monitor_core::fixtures::{observation, scope};
use monitor_core::memory::{MemoryPublisher, MemoryStore};
use monitor_core::ports::{SnapshotStore, StoreError};
use monitor_core::tick::{Monitor, Tick, TickSettings};
use monitor_healthlake::{HealthLakeReader, RoleSettings};
use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn peak_rss_kib() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l[6..].trim().to_owned())
        })
        .unwrap_or_else(|| "n/a".into())
}

fn bench_diff() {
    for n in [1_000, 10_000] {
        let before = observations_of(
            (0..n).map(|i| observation(&format!("{i:x}"), DatastoreStatus::Active)),
        );
        let after = observations_of((0..n).map(|i| {
            let status = if i % 10 == 0 {
                DatastoreStatus::CreateFailed
            } else {
                DatastoreStatus::Active
            };
            observation(&format!("{i:x}"), status)
        }));
        let mut samples = Vec::new();
        let mut transitions = 0;
        for _ in 0..21 {
            let started = Instant::now();
            transitions = diff(&before, &after).len();
            samples.push(started.elapsed());
        }
        println!(
            "diff, {n} stores, {transitions} changed: median {:?}",
            median(samples)
        );
    }
}

fn bench_render() {
    let previous = observation("1", DatastoreStatus::Creating);
    let mut current = observation("1", DatastoreStatus::CreateFailed);
    current.error_cause = Some(ErrorCause {
        message: "Unable to access the customer managed KMS key".repeat(20),
        category: ErrorCategory::NonRetryable,
    });
    let t = Transition::Changed { previous, current };
    let decision = AlertPolicy::default().classify(&t).expect("alert");
    let alert = monitor_core::domain::Alert::new(&scope(), &t, decision, 2, Utc::now());
    let rounds = 10_000;
    let started = Instant::now();
    let mut bytes = 0;
    for _ in 0..rounds {
        bytes += monitor_sns::message(&alert).expect("message").len();
    }
    println!(
        "SNS message of one alert (all protocols): {:?} each, {} bytes",
        started.elapsed() / rounds,
        bytes / rounds as usize
    );
}

async fn calls(url: &str) -> serde_json::Value {
    reqwest::get(format!("{url}/_emulator/calls"))
        .await
        .expect("calls")
        .json()
        .await
        .expect("json")
}

/// An in-process emulator on a loopback port whose stores settle at once,
/// with room for every store the benchmarks create in one region.
async fn start_emulator() -> RunningEmulator {
    RunningEmulator::start(
        EmulatorConfig {
            transition_delay: Duration::from_millis(1),
            max_datastores: usize::MAX,
            ..EmulatorConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .expect("emulator")
}

async fn bench_tick(stores: usize) {
    let emulator = start_emulator().await;
    let config = aws_sdk_healthlake::Config::builder()
        .behavior_version(aws_sdk_healthlake::config::BehaviorVersion::latest())
        .region(aws_sdk_healthlake::config::Region::new("us-east-1"))
        .endpoint_url(emulator.url())
        .credentials_provider(aws_credential_types::Credentials::new(
            "a", "b", None, None, "bench",
        ))
        .build();
    let client = aws_sdk_healthlake::Client::from_conf(config);
    for i in 0..stores {
        let mut request = client
            .create_fhir_datastore()
            .datastore_name(format!("store-{i}"))
            .datastore_type_version(FhirVersion::R4);
        if i % 100 == 0 {
            let tag = Tag::builder()
                .key("emulator:outcome")
                .value("CREATE_FAILED:RETRYABLE_ERROR:capacity")
                .build()
                .expect("tag");
            request = request.tags(tag);
        }
        request.send().await.expect("create");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = call_count(&emulator.url(), "ListFHIRDatastores").await;

    let store = MemoryStore::default();
    let publisher = MemoryPublisher::default();
    let monitor = Monitor::new(
        HealthLakeReader::new([(scope().region, client)].into()),
        &store,
        &publisher,
        TickSettings::default(),
    );
    let tick = |n: u32| Tick {
        owner: format!("bench-{n}"),
        now: Utc::now(),
    };
    let started = Instant::now();
    monitor.tick(&[scope()], &tick(0)).await;
    let first = started.elapsed();
    let first_writes = store.writes();
    let lists = call_count(&emulator.url(), "ListFHIRDatastores").await - before;

    let mut quiet = Vec::new();
    for n in 1..=5 {
        let started = Instant::now();
        monitor.tick(&[scope()], &tick(n)).await;
        quiet.push(started.elapsed());
    }
    println!(
        "tick over {stores} stores on the emulator: first {first:?} ({lists} ListFHIRDatastores calls, \
         {first_writes} writes, {} alerts); quiet tick median {:?} ({} writes)",
        publisher.sent().len(),
        median(quiet),
        store.writes() - first_writes
    );
    emulator.shutdown().await;
}

/// A snapshot store that answers after `delay`, as DynamoDB does over the network.
struct Delayed<S> {
    inner: S,
    delay: Duration,
}

impl<S: SnapshotStore> SnapshotStore for Delayed<S> {
    async fn load(&self, scope: &Scope) -> Result<ScopeSnapshot, StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.load(scope).await
    }

    async fn put(
        &self,
        scope: &Scope,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        tokio::time::sleep(self.delay).await;
        self.inner.put(scope, record, expected).await
    }
}

/// Calls the emulator answered, by operation.
async fn call_count(url: &str, operation: &str) -> u64 {
    calls(url).await[operation].as_u64().unwrap_or(0)
}

/// Many accounts: `accounts` x `regions` scopes, each account reached through
/// its role at the emulator's STS, every call (STS, HealthLake, snapshot)
/// answered after `latency`. Reports the first and a quiet tick's wall time,
/// calls per account and where one invocation stops being enough.
async fn bench_accounts(accounts: usize, regions: usize, latency: Duration, concurrency: usize) {
    let emulator = start_emulator().await;
    let url = emulator.url();
    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&url)
        .credentials_provider(aws_credential_types::Credentials::new(
            "a", "b", None, None, "bench",
        ))
        .http_client(monitor_aws::https_client())
        .load()
        .await;
    let all_regions = [
        "us-east-1",
        "us-east-2",
        "us-west-2",
        "eu-west-1",
        "eu-west-2",
        "eu-central-1",
        "ap-southeast-2",
        "ap-northeast-1",
    ];
    let regions: Vec<Region> = all_regions[..regions]
        .iter()
        .map(|r| Region::parse(*r).expect("region"))
        .collect();
    let targets: Vec<AccountTarget> = (0..accounts)
        .map(|i| {
            let arn = format!(
                "arn:aws:iam::{:012}:role/HealthLakeMonitorReadOnly",
                200_000_000_000u64 + i as u64
            );
            AccountTarget::role(RoleArn::parse(arn).expect("role"))
        })
        .collect();
    let reader = HealthLakeReader::accounts(base, RoleSettings::default());
    reader.reach(&targets).await;
    reqwest::Client::new()
        .post(format!("{url}/_emulator/faults"))
        .json(&serde_json::json!({ "LatencyMs": latency.as_millis() as u64 }))
        .send()
        .await
        .expect("latency")
        .error_for_status()
        .expect("latency set");
    let scopes: Vec<Scope> = targets
        .iter()
        .flat_map(|t| Scope::per_region(&t.account, &regions))
        .collect();
    let store = MemoryStore::default();
    let monitor = Monitor::new(
        reader,
        Delayed {
            inner: &store,
            delay: latency,
        },
        MemoryPublisher::default(),
        TickSettings {
            scan_concurrency: concurrency,
            ..TickSettings::default()
        },
    );
    let tick = |n: u32| Tick {
        owner: format!("bench-{n}"),
        now: Utc::now(),
    };
    let (lists, assumed) = (
        call_count(&url, "ListFHIRDatastores").await,
        call_count(&url, "AssumeRole").await,
    );
    let started = Instant::now();
    let first = monitor.tick(&scopes, &tick(0)).await;
    let first_time = started.elapsed();
    let first_lists = call_count(&url, "ListFHIRDatastores").await - lists;
    let first_assumed = call_count(&url, "AssumeRole").await - assumed;
    let started = Instant::now();
    let quiet = monitor.tick(&scopes, &tick(1)).await;
    let quiet_time = started.elapsed();
    let quiet_assumed = call_count(&url, "AssumeRole").await - assumed - first_assumed;
    let failed = first.scopes.iter().filter(|(_, r)| r.is_err()).count()
        + quiet.scopes.iter().filter(|(_, r)| r.is_err()).count();
    // Within a 60 s function timeout, leaving a quarter for the slowest calls,
    // at the pace of a first tick: every role is assumed again, all at once,
    // as the credentials of the first tick expire together an hour later.
    let fits = (accounts as f64 * 45.0 / first_time.as_secs_f64()) as u64;
    println!(
        "{accounts} accounts x {} regions, {latency:?} a call, {concurrency} scopes at once: \
         first tick {first_time:.2?} ({first_assumed} AssumeRole, {first_lists} ListFHIRDatastores, \
         {:.2} calls per account with the snapshot reads); quiet tick {quiet_time:.2?} \
         ({quiet_assumed} AssumeRole); {failed} scopes failed; about {fits} accounts fit in 45 s \
         of one invocation; peak resident memory so far {}",
        regions.len(),
        (first_assumed + first_lists + scopes.len() as u64) as f64 / accounts as f64,
        peak_rss_kib()
    );
    emulator.shutdown().await;
}

#[tokio::main]
async fn main() {
    // `HLM_BENCH=accounts` runs only the many-accounts simulation.
    if std::env::var("HLM_BENCH").as_deref() == Ok("accounts") {
        let accounts = std::env::var("HLM_BENCH_ACCOUNTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000);
        for concurrency in [16, 64, 256] {
            bench_accounts(accounts, 8, Duration::from_millis(25), concurrency).await;
        }
        return;
    }
    bench_diff();
    bench_render();
    for stores in [100, 1_000] {
        bench_tick(stores).await;
    }
    bench_accounts(1_000, 8, Duration::from_millis(25), 64).await;
    println!("peak resident memory of this process: {}", peak_rss_kib());
}
