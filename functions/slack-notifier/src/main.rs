//! The Slack notifier Lambda: wiring only. The webhook URL is read from
//! Secrets Manager once per cold start; `handler` posts each SNS delivery.

mod handler;

use aws_lambda_events::sns::SnsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::adapters::sdk::{self, Timeouts};
use slack_notifier::config::Config;
use slack_notifier::secret;
use slack_notifier::webhook::SlackWebhook;

pub struct App {
    pub webhook: SlackWebhook,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let aws = sdk::load(Timeouts::LAMBDA).await;
    let url = secret::fetch(
        &aws_sdk_secretsmanager::Client::new(&aws),
        &config.secret_arn,
    )
    .await
    .inspect_err(|e| tracing::error!(error = %e, "unusable webhook secret"))?;
    let webhook = SlackWebhook::new(url)
        .inspect_err(|e| tracing::error!(error = %e, "cannot build the HTTP client"))?;
    let app = App { webhook };
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SnsEvent>| {
        handler::handle(app, event)
    }))
    .await
}
