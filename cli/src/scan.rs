//! `healthlake-monitor scan`: one tick against AWS or any endpoint the standard
//! configuration points at.

use crate::output;
use anyhow::{Context, anyhow};
use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use shared::adapters::dynamodb::DynamoDbStore;
use shared::adapters::file::FileSnapshotStore;
use shared::adapters::healthlake::HealthLakeReader;
use shared::adapters::memory::MemoryPublisher;
use shared::adapters::sdk::{self, Timeouts};
use shared::adapters::sns::SnsPublisher;
use shared::domain::{AccountId, AlertPolicy, Region, Scope};
use shared::monitor::{Monitor, Settings, Tick, TickReport};
use shared::ports::{AlertPublisher, SnapshotStore};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Region to scan; repeat for several. Default: the configured region.
    #[arg(long = "region", value_name = "REGION")]
    regions: Vec<String>,
    /// Account the data stores belong to. Default: asked of STS.
    #[arg(long, value_name = "ID")]
    account: Option<String>,
    /// Local snapshot file. Default: healthlake-monitor/snapshot.json in the user's state directory.
    #[arg(long, value_name = "PATH", conflicts_with = "table")]
    state_file: Option<PathBuf>,
    /// Keep the snapshot in this DynamoDB table instead of a local file.
    #[arg(long, value_name = "NAME")]
    table: Option<String>,
    /// Publish alerts to this SNS topic instead of printing them.
    #[arg(long, value_name = "ARN")]
    topic_arn: Option<String>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Critical statuses, comma-separated.
    #[arg(
        long,
        value_name = "LIST",
        default_value = "CREATE_FAILED,UPDATE_FAILED"
    )]
    critical_statuses: String,
}

enum Store {
    File(FileSnapshotStore),
    DynamoDb(DynamoDbStore),
}

impl SnapshotStore for Store {
    async fn load(
        &self,
        scope: &Scope,
    ) -> Result<shared::domain::Snapshot, shared::ports::StoreError> {
        match self {
            Self::File(s) => s.load(scope).await,
            Self::DynamoDb(s) => s.load(scope).await,
        }
    }
    async fn put(
        &self,
        scope: &Scope,
        record: &shared::domain::Record,
        expected: Option<u64>,
    ) -> Result<(), shared::ports::StoreError> {
        match self {
            Self::File(s) => s.put(scope, record, expected).await,
            Self::DynamoDb(s) => s.put(scope, record, expected).await,
        }
    }
}

/// Without a topic, alerts are delivered by printing them with the report.
enum Publisher {
    Print(MemoryPublisher),
    Sns(SnsPublisher),
}

impl AlertPublisher for Publisher {
    async fn publish(
        &self,
        alert: &shared::domain::Alert,
    ) -> Result<(), shared::ports::PublishError> {
        match self {
            Self::Print(p) => p.publish(alert).await,
            Self::Sns(p) => p.publish(alert).await,
        }
    }
}

fn default_state_file() -> anyhow::Result<PathBuf> {
    let base = dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .ok_or_else(|| anyhow!("no state directory on this system: pass --state-file"))?;
    Ok(base.join("healthlake-monitor").join("snapshot.json"))
}

async fn check_credentials(config: &SdkConfig) -> anyhow::Result<()> {
    let provider = config
        .credentials_provider()
        .ok_or_else(|| anyhow!("no AWS credentials configured"))?;
    tokio::time::timeout(
        Timeouts::INTERACTIVE.operation,
        provider.provide_credentials(),
    )
    .await
    .map_err(|_| anyhow!("no AWS credentials found in time: set AWS_PROFILE or AWS_ACCESS_KEY_ID"))?
    .map_err(|e| anyhow!("no AWS credentials found ({e}): set AWS_PROFILE or AWS_ACCESS_KEY_ID"))?;
    Ok(())
}

async fn resolve_account(config: &SdkConfig, given: Option<String>) -> anyhow::Result<AccountId> {
    if let Some(id) = given {
        return Ok(AccountId::parse(id)?);
    }
    let identity = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "cannot ask STS for the account ({}): pass --account",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        })?;
    let account = identity
        .account()
        .context("STS returned no account: pass --account")?;
    Ok(AccountId::parse(account)?)
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy = AlertPolicy {
        critical: AlertPolicy::parse_statuses("--critical-statuses", &args.critical_statuses)?,
        ..AlertPolicy::default()
    };
    let config = sdk::load(Timeouts::INTERACTIVE).await;
    let regions: Vec<Region> = if args.regions.is_empty() {
        let region = config
            .region()
            .ok_or_else(|| anyhow!("no region configured: pass --region or set AWS_REGION"))?;
        vec![Region::parse(region.as_ref())?]
    } else {
        args.regions
            .iter()
            .map(Region::parse)
            .collect::<Result<_, _>>()?
    };
    check_credentials(&config).await?;
    let account = resolve_account(&config, args.account).await?;
    let scopes: Vec<Scope> = regions
        .iter()
        .map(|r| Scope::new(account.clone(), r.clone()))
        .collect();

    let reader = HealthLakeReader::new(sdk::healthlake_clients(&config, &regions));
    let store = match &args.table {
        Some(table) => Store::DynamoDb(DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(&config),
            table.clone(),
        )),
        None => Store::File(FileSnapshotStore::new(match args.state_file {
            Some(path) => path,
            None => default_state_file()?,
        })),
    };
    let publisher = match &args.topic_arn {
        Some(arn) => Publisher::Sns(SnsPublisher::new(
            aws_sdk_sns::Client::new(&config),
            arn.clone(),
        )),
        None => Publisher::Print(MemoryPublisher::default()),
    };
    let monitor = Monitor::new(
        reader,
        store,
        publisher,
        Settings {
            policy,
            ..Settings::default()
        },
    );
    let tick = Tick {
        owner: format!(
            "cli-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        ),
        now: chrono::Utc::now(),
    };
    let report = monitor.tick(&scopes, &tick).await;
    print_report(&report, args.json)?;
    let problems = report.problems();
    if problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        eprintln!("healthlake-monitor: {problem}");
    }
    Ok(ExitCode::FAILURE)
}

fn print_report(report: &TickReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&output::json(report))?);
    } else {
        for (scope, r) in report.reports() {
            print!("{}", output::scope_summary(scope, r));
        }
    }
    Ok(())
}
