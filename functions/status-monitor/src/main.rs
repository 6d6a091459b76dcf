//! The status monitor Lambda: wiring only. Settings and SDK clients are built
//! once per cold start; `handler` runs each scheduled tick.

mod config;
mod handler;

use config::Config;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use shared::adapters::dynamodb::DynamoDbStore;
use shared::adapters::healthlake::HealthLakeReader;
use shared::adapters::sdk::{self, Timeouts};
use shared::adapters::sns::SnsPublisher;
use shared::domain::{AccountId, Region};
use shared::monitor::{Monitor, Settings};

pub struct App {
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
        HealthLakeReader::new(sdk::healthlake_clients(&aws, &config.regions)),
        DynamoDbStore::new(aws_sdk_dynamodb::Client::new(&aws), &config.table_name)
            .with_retention(config.vanished_retention),
        SnsPublisher::new(aws_sdk_sns::Client::new(&aws), &config.topic_arn),
        Settings {
            policy: config.policy,
            claim_ttl: config.claim_ttl,
            max_attempts: config.max_attempts,
            ..Settings::default()
        },
    );
    let app = App {
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
