//! The status monitor Lambda: wiring only. Tick settings and SDK clients are built
//! once per cold start; `handler` runs each scheduled tick.

mod config;
mod handler;

use config::Config;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use monitor_aws::{self as sdk, Timeouts};
use monitor_core::domain::{AccountId, Region};
use monitor_core::tick::{Monitor, TickSettings};
use monitor_dynamodb::DynamoDbStore;
use monitor_healthlake::HealthLakeReader;
use monitor_sns::SnsPublisher;
use serde_json::Value;

pub struct StatusMonitor {
    pub monitor: Monitor<HealthLakeReader, DynamoDbStore, SnsPublisher>,
    pub regions: Vec<Region>,
    pub metrics_namespace: String,
    pub claim_ttl: chrono::Duration,
    /// The `ACCOUNT_ID` setting; without it, each invocation's function ARN names the account.
    pub account: Option<AccountId>,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let aws = sdk::load(Timeouts::LAMBDA).await;
    let monitor = Monitor::new(
        HealthLakeReader::new(monitor_healthlake::clients_per_region(
            &aws,
            &config.regions,
        )),
        DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name)
            .with_retention(config.vanished_retention),
        SnsPublisher::new(aws_sdk_sns::Client::new(&aws), &config.topic_arn),
        TickSettings {
            policy: config.policy,
            claim_ttl: config.claim_ttl,
            max_attempts: config.max_attempts,
            ..TickSettings::default()
        },
    );
    let app = StatusMonitor {
        monitor,
        regions: config.regions,
        metrics_namespace: config.metrics_namespace,
        claim_ttl: config.claim_ttl,
        account: config.account,
    };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        handler::handle(app, event)
    }))
    .await
}
