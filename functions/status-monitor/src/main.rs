//! The status monitor Lambda: wiring only. Tick settings and SDK clients are built
//! once per cold start; `handler` runs each scheduled tick, and `fanout` the
//! batches a tick hands to workers through SQS.

mod config;
mod events;
mod fanout;
mod handler;

use config::{Config, FanOut};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use monitor_aws::{self as sdk, Timeouts};
use monitor_core::domain::{AccountId, AccountSelection, Region};
use monitor_core::tick::{Monitor, TickSettings};
use monitor_dynamodb::DynamoDbStore;
use monitor_healthlake::{HealthLakeReader, RoleSettings};
use monitor_sns::SnsPublisher;
use serde_json::Value;

pub struct StatusMonitor {
    pub monitor: Monitor<HealthLakeReader, DynamoDbStore, SnsPublisher>,
    pub regions: Vec<Region>,
    pub metrics_namespace: String,
    pub claim_ttl: chrono::Duration,
    /// The `ACCOUNT_ID` setting; without it, each invocation's function ARN names the account.
    pub account: Option<AccountId>,
    pub accounts: AccountSelection,
    /// Set when the accounts are discovered through AWS Organizations.
    pub organizations: Option<aws_sdk_organizations::Client>,
    /// Set when the scheduled tick fans out to workers.
    pub fanout: Option<(FanOut, aws_sdk_sqs::Client)>,
}

// One thread: the work is waiting on AWS calls, and a function of 256 MB
// has a fraction of one vCPU; a thread per core would add memory, not speed.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sdk::init_lambda_logging();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let aws = sdk::load(Timeouts::LAMBDA).await;
    let reader = HealthLakeReader::accounts(
        aws.clone(),
        RoleSettings {
            external_id: config.accounts.external_id.clone(),
            ..RoleSettings::default()
        },
    );
    let monitor = Monitor::new(
        reader,
        DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name)
            .with_retention(config.vanished_retention),
        SnsPublisher::new(aws_sdk_sns::Client::new(&aws), &config.topic_arn),
        TickSettings {
            policy: config.policy,
            claim_ttl: config.claim_ttl,
            max_attempts: config.max_attempts,
            scan_concurrency: config.scan_concurrency,
            concurrency: config.write_concurrency,
            routing: config.routing,
        },
    );
    let organizations = config
        .accounts
        .organization_role
        .is_some()
        .then(|| aws_sdk_organizations::Client::new(&aws));
    let fanout = config
        .fanout
        .map(|fanout| (fanout, aws_sdk_sqs::Client::new(&aws)));
    let app = StatusMonitor {
        monitor,
        regions: config.regions,
        metrics_namespace: config.metrics_namespace,
        claim_ttl: config.claim_ttl,
        account: config.account,
        accounts: config.accounts,
        organizations,
        fanout,
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        handler::handle(app, event)
    }))
    .await
}
