//! AWS resources the tests create on the local services, with unique names.

use anyhow::Context as _;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// A name no other test uses: `<prefix>-<8 hex>`.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Creates a table with the snapshot store's key schema (`pk` S, `sk` S).
pub async fn create_snapshot_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> anyhow::Result<()> {
    let attribute = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .send()
        .await
        .with_context(|| format!("creating table {name}"))?;
    Ok(())
}

/// Creates an SQS queue and subscribes it to `topic_arn` (no raw delivery: the
/// body is the SNS envelope), with an optional filter policy on attributes.
/// Returns the queue URL.
pub async fn subscribe_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    topic_arn: &str,
    filter_policy: Option<&str>,
) -> anyhow::Result<String> {
    let name = unique("alerts");
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .context("creating queue")?
        .queue_url()
        .context("queue url")?
        .to_owned();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .context("queue arn")?;
    let mut subscribe = sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(arn);
    if let Some(policy) = filter_policy {
        subscribe = subscribe.attributes("FilterPolicy", policy);
    }
    subscribe.send().await.context("subscribing queue")?;
    Ok(url)
}

/// Receives SNS envelopes from a queue until `expected` arrived or `wait`
/// passed, then deletes them. Each envelope is parsed JSON.
pub async fn receive_envelopes(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    expected: usize,
    wait: Duration,
) -> anyhow::Result<Vec<Value>> {
    let deadline = Instant::now() + wait;
    let mut envelopes = Vec::new();
    while envelopes.len() < expected && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await?;
        for message in out.messages() {
            envelopes.push(serde_json::from_str(
                message.body().context("message body")?,
            )?);
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await?;
            }
        }
    }
    Ok(envelopes)
}
