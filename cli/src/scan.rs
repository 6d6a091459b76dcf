//! `healthlake-monitor scan`: one tick against AWS or any endpoint the standard
//! configuration points at.

use crate::dry_run::ReadOnly;
use crate::file_store::FileSnapshotStore;
use crate::output::{self, Alerts, complain};
use crate::stdout::{Format, NOT_PRINTED, Stdout};
use anyhow::{Context, anyhow};
use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use monitor_aws::{self as sdk, Timeouts};
use monitor_core::domain::{
    AccountId, AccountSelection, AlertPolicy, MAX_REMINDER_HOURS, MAX_STUCK_MINUTES, RawRouting,
    RawSelection, Region, Routing, RoutingNames, Scope, SelectionNames, StuckAfter, TimeUnit,
};
use monitor_core::memory::MemoryPublisher;
use monitor_core::ports::{AlertPublisher, DatastoreReader, SnapshotStore};
use monitor_core::tick::{Monitor, Tick, TickReport, TickSettings};
use monitor_dynamodb::DynamoDbStore;
use monitor_healthlake::{HealthLakeReader, RoleSettings};
use monitor_sns::SnsPublisher;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Region to scan; repeat for several. Default: the configured region.
    #[arg(long = "region", value_name = "REGION")]
    regions: Vec<String>,
    /// The account of the credentials in use. Default: asked of STS.
    #[arg(long, value_name = "ID")]
    account: Option<String>,
    /// Also scan the account of this role, assumed with the credentials in
    /// use; repeat for several. Without it (or --organization-role), only the
    /// account of the credentials in use is scanned.
    #[arg(long = "role-arn", value_name = "ARN")]
    role_arns: Vec<String>,
    /// Scan every active account of the organization (AWS Organizations
    /// ListAccounts, from its management or a delegated administrator
    /// account), assuming the role of this name in each.
    #[arg(long, value_name = "NAME", conflicts_with = "role_arns")]
    organization_role: Option<String>,
    /// Only these accounts; repeat for several.
    #[arg(long = "include-account", value_name = "ID")]
    include_accounts: Vec<String>,
    /// Never these accounts; repeat for several.
    #[arg(long = "exclude-account", value_name = "ID")]
    exclude_accounts: Vec<String>,
    /// Only the accounts in this organizational unit (and the units below
    /// it); repeat for several. Needs --organization-role.
    #[arg(long = "include-ou", value_name = "OU")]
    include_ous: Vec<String>,
    /// Never the accounts in this organizational unit (or below it).
    #[arg(long = "exclude-ou", value_name = "OU")]
    exclude_ous: Vec<String>,
    /// The external id the member roles require on AssumeRole.
    #[arg(long, value_name = "ID")]
    external_id: Option<String>,
    /// Alert only data stores whose name matches (`*` for any run of
    /// characters); repeat for several. Others are recorded, not alerted.
    #[arg(long = "include-datastore", value_name = "PATTERN")]
    include_datastores: Vec<String>,
    /// Never alert data stores whose name matches; repeat for several.
    #[arg(long = "exclude-datastore", value_name = "PATTERN")]
    exclude_datastores: Vec<String>,
    /// Alert only data stores with this tag (`key=value`, `key=*` for any
    /// value); repeat for several.
    #[arg(long = "include-tag", value_name = "KEY=VALUE")]
    include_tags: Vec<String>,
    /// Never alert data stores with this tag; repeat for several.
    #[arg(long = "exclude-tag", value_name = "KEY=VALUE")]
    exclude_tags: Vec<String>,
    /// Never alert this transition (`FROM->TO`: a status, `*`, `NEW` as FROM,
    /// `GONE` as TO); repeat for several.
    #[arg(long = "ignore-transition", value_name = "FROM->TO")]
    ignore_transitions: Vec<String>,
    /// Copy this tag into each alert (document `tags`, attribute
    /// `tag.<key>`); repeat for up to four.
    #[arg(long = "alert-tag-key", value_name = "KEY")]
    alert_tag_keys: Vec<String>,
    /// (account, region) pairs scanned at once.
    #[arg(long, value_name = "N", default_value_t = TickSettings::DEFAULT_SCAN_CONCURRENCY as u64,
          value_parser = clap::value_parser!(u64).range(1..=1000))]
    concurrency: u64,
    /// Data stores written (and their alerts published) at once, over every pair together.
    #[arg(long, value_name = "N", default_value_t = TickSettings::DEFAULT_CONCURRENCY as u64,
          value_parser = clap::value_parser!(u64).range(1..=256))]
    write_concurrency: u64,
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
    /// Minutes a data store may stay CREATING (from its CreatedAt) before it is
    /// reported stuck, once per stay; 0: never.
    #[arg(long, value_name = "MINUTES", default_value = "120")]
    stuck_creating_minutes: String,
    /// Minutes a data store may stay DELETING (from the scan that first saw it
    /// so) before it is reported stuck; 0: never.
    #[arg(long, value_name = "MINUTES", default_value = "120")]
    stuck_deleting_minutes: String,
    /// Minutes a data store may stay UPDATING (from the scan that first saw it
    /// so) before it is reported stuck; 0: never.
    #[arg(long, value_name = "MINUTES", default_value = "120")]
    stuck_updating_minutes: String,
    /// Hours between reminders of a data store left in a *_FAILED status; 0: none.
    #[arg(long, value_name = "HOURS", default_value = "0")]
    failed_reminder_hours: String,
    /// Show the transitions and the alerts that would be sent (pending ones
    /// included) without writing the snapshot or sending anything.
    #[arg(long)]
    dry_run: bool,
    /// Deadline of the whole scan, waiting for another scan's lock included.
    #[arg(long, value_name = "SECONDS", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    timeout: u64,
}

/// The names of the account settings, as the command takes them.
const FLAGS: SelectionNames = SelectionNames {
    roles: "--role-arn",
    organization_role: "--organization-role",
    include_accounts: "--include-account",
    exclude_accounts: "--exclude-account",
    include_ous: "--include-ou",
    exclude_ous: "--exclude-ou",
    external_id: "--external-id",
};

enum Store {
    File(FileSnapshotStore),
    DynamoDb(DynamoDbStore),
}

impl SnapshotStore for Store {
    async fn load(
        &self,
        scope: &Scope,
    ) -> Result<monitor_core::domain::ScopeSnapshot, monitor_core::ports::StoreError> {
        match self {
            Self::File(s) => s.load(scope).await,
            Self::DynamoDb(s) => s.load(scope).await,
        }
    }
    async fn put(
        &self,
        scope: &Scope,
        record: &monitor_core::domain::Record,
        expected: Option<u64>,
    ) -> Result<(), monitor_core::ports::StoreError> {
        match self {
            Self::File(s) => s.put(scope, record, expected).await,
            Self::DynamoDb(s) => s.put(scope, record, expected).await,
        }
    }
}

/// Where alerts go: standard output (no topic), SNS, or nowhere (a dry run
/// collects them to show what would be sent).
enum Publisher<'a> {
    Print(&'a Stdout),
    Sns(SnsPublisher),
    Collect(MemoryPublisher),
}

impl AlertPublisher for Publisher<'_> {
    async fn publish(
        &self,
        alert: &monitor_core::domain::Alert,
    ) -> Result<(), monitor_core::ports::PublishError> {
        match self {
            Self::Print(p) => p.publish(alert).await,
            Self::Sns(p) => p.publish(alert).await,
            Self::Collect(p) => p.publish(alert).await,
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

/// Refused before anything runs: printing the table's pending alerts would
/// mark them sent in a table the Lambda shares, so the topic's subscribers
/// would never get them.
const TABLE_WITHOUT_TOPIC: &str = "--table without --topic-arn would print the table's pending alerts and mark them \
     sent, so the topic's subscribers would never get them: add --topic-arn ARN to publish them as the Lambda does, \
     or --dry-run to see what would be sent without changing anything";

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.table.is_some() && args.topic_arn.is_none() && !args.dry_run {
        anyhow::bail!(TABLE_WITHOUT_TOPIC);
    }
    let stdout = Stdout::new(if args.json {
        Format::Json
    } else {
        Format::Text
    });
    let waiting = Mutex::new(None::<PathBuf>);
    let (deadline, json, dry_run) = (args.timeout, args.json, args.dry_run);
    match tokio::time::timeout(Duration::from_secs(deadline), scan(args, &stdout, &waiting)).await {
        Ok(result) => result,
        Err(_) => {
            let waited_on = waiting
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            let line = match waited_on {
                Some(lock) => format!(
                    "the scan did not finish within its deadline of {deadline} s (--timeout): \
                     it was still waiting for the lock on {}, which another scan holds; nothing was changed",
                    lock.display()
                ),
                None => format!(
                    "the scan did not finish within its deadline of {deadline} s (--timeout); \
                     alerts not yet delivered stay pending for the next scan"
                ),
            };
            if json {
                // Ends the document, alerts streamed so far included.
                let summary = serde_json::json!({
                    "dry_run": dry_run, "scopes": [], "problems": [line],
                });
                if let Err(e) = stdout.finish_json(&summary) {
                    complain(&format!("cannot write to standard output: {e}"));
                }
            }
            complain(&line);
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn scan(
    args: Args,
    stdout: &Stdout,
    waiting: &Mutex<Option<PathBuf>>,
) -> anyhow::Result<ExitCode> {
    let minutes = |flag: &str, value: &str| {
        AlertPolicy::parse_period(flag, value, TimeUnit::Minutes, MAX_STUCK_MINUTES)
    };
    let policy = AlertPolicy {
        critical: AlertPolicy::parse_statuses("--critical-statuses", &args.critical_statuses)?,
        stuck: StuckAfter {
            creating: minutes("--stuck-creating-minutes", &args.stuck_creating_minutes)?,
            deleting: minutes("--stuck-deleting-minutes", &args.stuck_deleting_minutes)?,
            updating: minutes("--stuck-updating-minutes", &args.stuck_updating_minutes)?,
        },
        failed_reminder: AlertPolicy::parse_period(
            "--failed-reminder-hours",
            &args.failed_reminder_hours,
            TimeUnit::Hours,
            MAX_REMINDER_HOURS,
        )?,
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
    let selection = AccountSelection::parse(
        RawSelection {
            roles: args.role_arns,
            organization_role: args.organization_role,
            include_accounts: args.include_accounts,
            exclude_accounts: args.exclude_accounts,
            include_ous: args.include_ous,
            exclude_ous: args.exclude_ous,
            external_id: args.external_id,
        },
        FLAGS,
    )?;
    let routing = Routing::parse(
        RawRouting {
            include_datastores: args.include_datastores,
            exclude_datastores: args.exclude_datastores,
            include_tags: args.include_tags,
            exclude_tags: args.exclude_tags,
            ignore_transitions: args.ignore_transitions,
            alert_tag_keys: args.alert_tag_keys,
        },
        RoutingNames::FLAGS,
    )?;
    check_credentials(&config).await?;
    let account = resolve_account(&config, args.account).await?;
    let organizations = selection
        .organization_role
        .is_some()
        .then(|| aws_sdk_organizations::Client::new(&config));
    let targets =
        monitor_organizations::targets(&selection, &account, organizations.as_ref()).await?;
    let scopes: Vec<Scope> = targets
        .iter()
        .flat_map(|t| Scope::per_region(&t.account, &regions))
        .collect();

    let reader = HealthLakeReader::accounts(
        config.clone(),
        RoleSettings {
            external_id: selection.external_id.clone(),
            ..RoleSettings::default()
        },
    );
    reader.reach(&targets).await;
    let store = match &args.table {
        Some(table) => Store::DynamoDb(DynamoDbStore::new(
            aws_sdk_dynamodb::Client::new(&config),
            table.clone(),
        )),
        None => {
            let path = match args.state_file {
                Some(path) => path,
                None => default_state_file()?,
            };
            if args.dry_run {
                // Reads only: the snapshot is replaced by rename, so a read
                // never sees half a file, and a dry run takes no lock.
                Store::File(FileSnapshotStore::new(path))
            } else {
                let lock = FileSnapshotStore::new(&path).lock_path();
                *waiting
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(lock);
                let store = FileSnapshotStore::open_locked(path).await;
                waiting
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                match store {
                    Ok(store) => Store::File(store),
                    Err(e) => {
                        complain(&e.to_string());
                        return Ok(ExitCode::FAILURE);
                    }
                }
            }
        }
    };
    let publisher = match (&args.topic_arn, args.dry_run) {
        (_, true) => Publisher::Collect(MemoryPublisher::default()),
        (Some(arn), false) => Publisher::Sns(SnsPublisher::new(
            aws_sdk_sns::Client::new(&config),
            arn.clone(),
        )),
        (None, false) => Publisher::Print(stdout),
    };
    let claim_ttl = if matches!(&store, Store::File(s) if s.is_locked()) {
        // No other scan of this file runs while this one holds the lock: a
        // claim found in it was left by a scan that was stopped (killed, or
        // cut off by its deadline) between delivering and marking sent.
        // Its alerts are taken over at once rather than after a TTL.
        chrono::Duration::zero()
    } else {
        // Shared with other scans (a table the Lambda also uses, or a dry
        // run beside a real scan): a claim must outlive the longest scan
        // that can hold it.
        TickSettings::default()
            .claim_ttl
            .max(chrono::Duration::seconds(i64::try_from(args.timeout)?))
    };
    let settings = TickSettings {
        policy,
        claim_ttl,
        scan_concurrency: args.concurrency as usize,
        concurrency: args.write_concurrency as usize,
        routing,
        ..TickSettings::default()
    };
    let tick = Tick {
        owner: format!(
            "cli-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis()
        ),
        now: chrono::Utc::now(),
    };
    let report = if args.dry_run {
        run_tick(
            reader,
            ReadOnly::new(store),
            &publisher,
            settings,
            &scopes,
            &tick,
        )
        .await
    } else {
        run_tick(reader, store, &publisher, settings, &scopes, &tick).await
    };

    let alerts = match publisher {
        Publisher::Print(_) => Alerts::AlreadyPrinted,
        Publisher::Sns(_) => Alerts::InFull,
        Publisher::Collect(_) => Alerts::WouldSend,
    };
    let printed = if args.json {
        stdout.finish_json(&output::json(&report, args.dry_run))
    } else {
        let summary: String = report
            .reports()
            .map(|(scope, r)| output::scope_summary(scope, r, alerts))
            .collect();
        stdout.print(&summary)
    };

    // A stdout that stopped taking writes is one line, however many alerts it
    // kept pending; every other problem is a line of its own.
    let mut problems = report.problems();
    if let Some(reason) = stdout.broken().or(printed.err()) {
        let before = problems.len();
        problems.retain(|p| !p.contains(NOT_PRINTED));
        let line = match before - problems.len() {
            0 => format!("{NOT_PRINTED}: {reason}"),
            n => format!(
                "{NOT_PRINTED}: {reason}; {n} alert(s) not printed stay pending for the next scan"
            ),
        };
        problems.insert(0, line);
    }
    if problems.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        complain(problem);
    }
    Ok(ExitCode::FAILURE)
}

async fn run_tick<S: SnapshotStore, P: AlertPublisher>(
    reader: impl DatastoreReader,
    store: S,
    publisher: P,
    settings: TickSettings,
    scopes: &[Scope],
    tick: &Tick,
) -> TickReport {
    Monitor::new(reader, store, publisher, settings)
        .tick(scopes, tick)
        .await
}
