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

/// Creates an SNS topic with a unique name; returns its ARN.
pub async fn create_topic(sns: &aws_sdk_sns::Client) -> anyhow::Result<String> {
    let topic = sns
        .create_topic()
        .name(unique("alerts"))
        .send()
        .await
        .context("creating topic")?;
    Ok(topic.topic_arn().context("topic arn")?.to_owned())
}

/// Creates an SQS queue; returns its URL and ARN.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client) -> anyhow::Result<(String, String)> {
    let url = sqs
        .create_queue()
        .queue_name(unique("alerts"))
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
    Ok((url, arn))
}

/// Subscribes the queue `queue_arn` to `topic_arn` (no raw delivery: the body
/// is the SNS envelope), with an optional filter policy on attributes.
pub async fn subscribe(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    queue_arn: &str,
    filter_policy: Option<&str>,
) -> anyhow::Result<()> {
    let mut subscribe = sns
        .subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn);
    if let Some(policy) = filter_policy {
        subscribe = subscribe.attributes("FilterPolicy", policy);
    }
    subscribe.send().await.context("subscribing queue")?;
    Ok(())
}

/// Creates a queue subscribed to `topic_arn`; returns the queue URL.
pub async fn subscribe_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    topic_arn: &str,
    filter_policy: Option<&str>,
) -> anyhow::Result<String> {
    let (url, arn) = create_queue(sqs).await?;
    subscribe(sns, topic_arn, &arn, filter_policy).await?;
    Ok(url)
}

/// Receives SNS envelopes from a queue until `expected` arrived, a receive
/// finds the queue empty, or `wait` passed, and deletes them. Each envelope is
/// parsed JSON. moto delivers to an SQS subscriber within the Publish call, so
/// whatever was published before this call is in the queue: an empty receive
/// means nothing more is coming.
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
            .wait_time_seconds(0)
            .send()
            .await?;
        if out.messages().is_empty() {
            break;
        }
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
