//! Speed, memory and call counts of a tick.
//!
//! `cargo bench -p integration-tests --bench tick` prints the figures that README.md
//! records. Times are medians over repeated runs on this machine; call and
//! write counts are exact.

use aws_sdk_healthlake::types::{FhirVersion, Tag};
use chrono::Utc;
use healthlake_emulator::{EmulatorConfig, RunningEmulator};
use monitor_core::domain::{
    AlertPolicy, DatastoreStatus, ErrorCategory, ErrorCause, Transition, diff, observations_of,
};
use monitor_core::fixtures::{observation, scope};
use monitor_core::memory::{MemoryPublisher, MemoryStore};
use monitor_core::tick::{Monitor, Tick, TickSettings};
use monitor_healthlake::HealthLakeReader;
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

async fn bench_tick(stores: usize) {
    let emulator = RunningEmulator::start(
        EmulatorConfig {
            transition_delay: Duration::from_millis(1),
            ..EmulatorConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .expect("emulator");
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
    let before = calls(&emulator.url()).await["ListFHIRDatastores"]
        .as_u64()
        .unwrap_or(0);

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
    let lists = calls(&emulator.url()).await["ListFHIRDatastores"]
        .as_u64()
        .unwrap_or(0)
        - before;

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

#[tokio::main]
async fn main() {
    bench_diff();
    bench_render();
    for stores in [100, 1_000] {
        bench_tick(stores).await;
    }
    println!("peak resident memory of this process: {}", peak_rss_kib());
}
