//! The Slack notifier Lambda: wiring only. The webhook URL is read from
//! Secrets Manager once per cold start and checked against the allowed URL
//! prefixes; `handler` posts each SNS delivery.

mod handler;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use monitor_aws::{self as sdk, Timeouts};
use slack_notifier::config::Config;
use slack_notifier::secret;
use slack_notifier::webhook::SlackWebhook;

pub struct SlackNotifier {
    pub webhook: SlackWebhook,
}

// One thread: the work is waiting on AWS calls, and a function of 256 MB
// has a fraction of one vCPU; a thread per core would add memory, not speed.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    sdk::init_lambda_logging();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let aws = sdk::load(Timeouts::LAMBDA).await;
    let url = secret::fetch(
        &aws_sdk_secretsmanager::Client::new(&aws),
        &config.secret_arn,
        &config.allowed_urls,
    )
    .await
    .inspect_err(|e| tracing::error!(error = %e, "unusable webhook secret"))?;
    let webhook = SlackWebhook::new(url)
        .inspect_err(|e| tracing::error!(error = %e, "cannot build the HTTP client"))?;
    let app = SlackNotifier { webhook };
    let app = &app;
    // The event is read by the handler, so that one that is not from SNS fails
    // with an error naming what is wrong without quoting it.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        handler::handle(app, event)
    }))
    .await
}
