//! `healthlake-monitor demo`: the monitor against an in-process HealthLake
//! emulator, with the snapshot in a temporary file and alerts on stdout.

use crate::file_store::FileSnapshotStore;
use crate::output;
use anyhow::Context;
use aws_sdk_healthlake::types::{FhirVersion, Tag};
use healthlake_emulator::outcome::OUTCOME_TAG;
use healthlake_emulator::{EmulatorConfig, RunningEmulator};
use monitor_aws::Timeouts;
use monitor_core::domain::{AccountId, DatastoreStatus, Region, Scope};
use monitor_core::memory::MemoryPublisher;
use monitor_core::tick::{Monitor, Tick, TickSettings};
use monitor_healthlake::HealthLakeReader;
use std::process::ExitCode;
use std::time::Duration;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
/// Tag values are limited to 256 characters, which bounds the scripted message.
const FAILURE: &str = "CREATE_FAILED:NON_RETRYABLE_ERROR:Unable to access the customer managed KMS key configured \
     for this data store. Check that the key is enabled and that its key policy allows HealthLake to use it \
     (kms:CreateGrant, kms:Decrypt).";

#[derive(clap::Args)]
pub struct Args {
    /// How long the emulator keeps a store in CREATING or DELETING.
    #[arg(long, value_name = "MS", default_value_t = 1500)]
    transition_delay_ms: u64,
}

fn client(url: &str) -> aws_sdk_healthlake::Client {
    let config = aws_sdk_healthlake::Config::builder()
        .behavior_version(aws_sdk_healthlake::config::BehaviorVersion::latest())
        .region(aws_sdk_healthlake::config::Region::new(REGION))
        .endpoint_url(url)
        .credentials_provider(aws_credential_types::Credentials::new(
            "AKIDDEMO",
            "demo-secret",
            None,
            None,
            "demo",
        ))
        .timeout_config(Timeouts::INTERACTIVE.config())
        .build();
    aws_sdk_healthlake::Client::from_conf(config)
}

async fn create(
    client: &aws_sdk_healthlake::Client,
    name: &str,
    outcome: Option<&str>,
) -> anyhow::Result<String> {
    let mut request = client
        .create_fhir_datastore()
        .datastore_name(name)
        .datastore_type_version(FhirVersion::R4);
    if let Some(outcome) = outcome {
        request = request.tags(Tag::builder().key(OUTCOME_TAG).value(outcome).build()?);
    }
    let created = request
        .send()
        .await
        .with_context(|| format!("creating {name}"))?;
    println!("  created {name} ({})", created.datastore_id());
    Ok(created.datastore_id().to_owned())
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let delay = Duration::from_millis(args.transition_delay_ms);
    let emulator = RunningEmulator::start(
        EmulatorConfig {
            account_id: ACCOUNT.into(),
            transition_delay: delay,
            ..EmulatorConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .context("starting the HealthLake emulator")?;
    let dir = tempfile::tempdir().context("creating a temporary folder for the snapshot")?;
    let snapshot = dir.path().join("snapshot.json");
    println!("healthlake-monitor demo");
    println!("  HealthLake emulator: {}", emulator.url());
    println!("  snapshot file:       {}", snapshot.display());
    println!("  alerts:              printed below as their email would read\n");

    let healthlake = client(&emulator.url());
    let region = Region::parse(REGION)?;
    let scope = Scope::new(AccountId::parse(ACCOUNT)?, region.clone());
    let monitor = Monitor::new(
        HealthLakeReader::new([(region, healthlake.clone())].into()),
        FileSnapshotStore::new(&snapshot),
        MemoryPublisher::default(),
        TickSettings::default(),
    );
    let mut tick_number = 0;
    let mut tick = async |note: &str| -> anyhow::Result<Vec<DatastoreStatus>> {
        tick_number += 1;
        println!("== tick {tick_number}: {note}");
        let tick = Tick {
            owner: format!("demo-{tick_number}"),
            now: chrono::Utc::now(),
        };
        let mut report = monitor.tick(std::slice::from_ref(&scope), &tick).await;
        let (_, result) = report.scopes.remove(0);
        let result = result?;
        println!(
            "{}",
            output::scope_summary(&scope, &result, output::Alerts::InFull)
        );
        if let Some((alert, e)) = result.failed.first() {
            anyhow::bail!("alert {} was not sent: {e}", alert.id);
        }
        Ok(result.observations.into_iter().map(|o| o.status).collect())
    };

    tick("nothing exists yet").await?;
    println!("Creating three data stores; the emulator will fail one of them.");
    let _patients = create(&healthlake, "patients-prod", None).await?;
    let claims = create(&healthlake, "claims-analytics", Some(FAILURE)).await?;
    let sandbox = create(&healthlake, "research-sandbox", None).await?;
    println!();
    tick("all three are being created").await?;

    let settled =
        |statuses: &[DatastoreStatus]| statuses.iter().all(|s| *s != DatastoreStatus::Creating);
    let mut statuses = wait_then(delay, &mut tick, "creation settled?").await?;
    while !settled(&statuses) {
        statuses = wait_then(delay / 2, &mut tick, "still creating").await?;
    }

    for (name, id) in [
        ("research-sandbox", &sandbox),
        ("claims-analytics (the failed one)", &claims),
    ] {
        println!("Deleting {name}.");
        healthlake
            .delete_fhir_datastore()
            .datastore_id(id)
            .send()
            .await
            .with_context(|| format!("deleting {name}"))?;
        println!();
        let mut statuses = tick("deletion requested").await?;
        while statuses.contains(&DatastoreStatus::Deleting) {
            statuses = wait_then(delay, &mut tick, "deletion settled?").await?;
        }
    }
    tick("nothing changed: nothing is sent twice").await?;

    emulator.shutdown().await;
    let sent = monitor.publisher().sent();
    println!(
        "Demo finished: {} alert(s) sent over {tick_number} ticks:",
        sent.len()
    );
    for alert in &sent {
        println!("  {}", monitor_core::render::subject(alert));
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_then<F>(
    delay: Duration,
    tick: &mut F,
    note: &str,
) -> anyhow::Result<Vec<DatastoreStatus>>
where
    F: AsyncFnMut(&str) -> anyhow::Result<Vec<DatastoreStatus>>,
{
    tokio::time::sleep(delay).await;
    tick(note).await
}
