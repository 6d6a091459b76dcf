//! Many accounts end to end: the `status-monitor` binary assumes a role in
//! each member account at the emulator's STS (the SDK's own AssumeRole
//! provider, pointed there by `AWS_ENDPOINT_URL_STS`) and lists each
//! account's data stores, which the emulator tells apart by the credentials
//! of each request. One account's role is denied.
//!
//! Fan-out: the scheduled tick hands the accounts to the queue, and two
//! worker processes handle the same batch at once.

use super::*;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::Credentials;

const A: &str = "111111111111";
const B: &str = "222222222222";
const C: &str = "333333333333";
const EXTERNAL_ID: &str = "healthlake-monitor-e2e";
const KMS: (&str, &str) = ("NON_RETRYABLE_ERROR", "KMS key not accessible");
const QUOTA: (&str, &str) = ("RETRYABLE_ERROR", "Internal capacity exceeded, retry later");

fn role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/HealthLakeMonitorReadOnly")
}

/// A HealthLake client of `account` in `region`: its role assumed at the
/// emulator's STS, as the monitor does.
async fn client_of(emulator: &Emulator, account: &str, region: &str) -> aws_sdk_healthlake::Client {
    let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .endpoint_url(emulator.url())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    let provider = AssumeRoleProvider::builder(role(account))
        .configure(&base)
        .session_name("e2e-setup")
        .external_id(EXTERNAL_ID)
        .build()
        .await;
    let config = aws_sdk_healthlake::config::Builder::from(&base)
        .credentials_provider(provider)
        .build();
    aws_sdk_healthlake::Client::from_conf(config)
}

/// Creates store `name` in `account` and `region` and lets its creation end:
/// failed with `cause` (category, message), or active.
async fn store_in(
    emulator: &Emulator,
    account: &str,
    region: &str,
    name: &str,
    cause: Option<(&str, &str)>,
) -> anyhow::Result<String> {
    let client = client_of(emulator, account, region).await;
    let tags = cause
        .map(|(category, message)| {
            aws_sdk_healthlake::types::Tag::builder()
                .key(integration_tests::emulator::OUTCOME_TAG)
                .value(format!("CREATE_FAILED:{category}:{message}"))
                .build()
        })
        .transpose()?;
    let id = client
        .create_fhir_datastore()
        .datastore_name(name)
        .datastore_type_version(aws_sdk_healthlake::types::FhirVersion::R4)
        .set_tags(tags.map(|t| vec![t]))
        .send()
        .await
        .with_context(|| format!("creating {name} in {account}"))?
        .datastore_id()
        .to_owned();
    let status = if cause.is_some() {
        "CREATE_FAILED"
    } else {
        "ACTIVE"
    };
    emulator.settle(&client, &id, status).await?;
    Ok(id)
}

async fn deny(emulator: &Emulator, account: &str) -> anyhow::Result<()> {
    emulator.deny_role(&role(account)).await
}

/// The settings of a monitor of accounts A, B and C in both regions.
fn settings(stack: &Stack) -> Vec<(&'static str, String)> {
    vec![
        ("ACCOUNT_ROLE_ARNS", [A, B, C].map(role).join(",")),
        ("EXTERNAL_ID", EXTERNAL_ID.to_owned()),
        ("REGIONS", format!("{EAST},{WEST}")),
        ("AWS_ENDPOINT_URL_STS", stack.emulator.url()),
    ]
}

fn spawn_with(stack: &mut Stack, settings: &[(&'static str, String)]) -> anyhow::Result<()> {
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    stack.spawn(&settings)
}

/// The alert of each failure, by account: one per failure, of its account
/// and region, with its cause.
fn assert_one_alert_per_failure(
    delivered: &[Delivered],
    failures: &[(&str, &str, &str, (&str, &str))],
) {
    let mut seen: Vec<(String, String, String)> = delivered
        .iter()
        .map(|d| {
            let doc = &d.document;
            (
                doc["account"].as_str().unwrap_or_default().to_owned(),
                doc["region"].as_str().unwrap_or_default().to_owned(),
                doc["datastore_id"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let mut expected: Vec<(String, String, String)> = failures
        .iter()
        .map(|(account, region, id, _)| ((*account).into(), (*region).into(), (*id).into()))
        .collect();
    expected.sort();
    assert_eq!(
        seen, expected,
        "one alert per failure, of its account and region"
    );
    for (account, _, id, (category, message)) in failures {
        let d = delivered
            .iter()
            .find(|d| d.document["datastore_id"] == *id)
            .unwrap();
        assert_eq!(d.document["status"], "CREATE_FAILED");
        assert_eq!(d.document["error_cause"]["category"], *category);
        assert_eq!(d.document["error_cause"]["message"], *message);
        assert_eq!(
            d.attributes.get("account").map(String::as_str),
            Some(*account)
        );
    }
}

/// The snapshot of `account` in `region`: data store ids, and whether each
/// is marked vanished.
async fn snapshot_of(
    stack: &Stack,
    account: &str,
    region: &str,
) -> anyhow::Result<Vec<(String, bool)>> {
    let key = format!("{account}#{region}");
    Ok(stack
        .items()
        .await?
        .iter()
        .filter(|item| text(item, "pk") == Some(key.as_str()))
        .map(|item| {
            (
                text(item, "sk").unwrap_or_default().to_owned(),
                item.contains_key("vanished_at"),
            )
        })
        .collect())
}

#[tokio::test]
async fn three_accounts_two_regions_one_role_denied() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let emulator = &stack.emulator;
    let kept = store_in(emulator, B, EAST, "b-records", None).await?;
    let settings = settings(&stack);
    spawn_with(&mut stack, &settings)?;

    // Every account reached: B's store is recorded.
    let first = stack.tick().await?;
    assert_eq!(first["accounts"], 3, "{first:#}");
    assert_eq!(first["problems"], json!([]), "{first:#}");
    stack.drain().await?;
    assert_eq!(snapshot_of(&stack, B, EAST).await?.len(), 1);

    deny(&stack.emulator, B).await?;
    let failed_a = store_in(&stack.emulator, A, EAST, "a-failed", Some(KMS)).await?;
    let failed_c = store_in(&stack.emulator, C, WEST, "c-failed", Some(QUOTA)).await?;

    let second = stack.tick().await?;
    let problems: Vec<&str> = second["problems"]
        .as_array()
        .context("problems")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        problems.len(),
        1,
        "one problem, for the denied account: {problems:#?}"
    );
    let denied = format!("account {B}: role {} could not be assumed", role(B));
    assert!(problems[0].starts_with(&denied), "{}", problems[0]);
    assert!(problems[0].contains("AccessDenied"), "{}", problems[0]);
    assert!(
        problems[0].contains(&format!("2 region(s) ({EAST}, {WEST})")),
        "{}",
        problems[0]
    );
    let not_scanned: Vec<&str> = second["scopes"]
        .as_array()
        .context("scopes")?
        .iter()
        .filter(|s| s["scanned"] == false)
        .filter_map(|s| s["scope"].as_str())
        .collect();
    assert_eq!(
        not_scanned,
        [format!("{B}#{EAST}"), format!("{B}#{WEST}")],
        "{second:#}"
    );

    let delivered = stack.expect_alerts(2).await?;
    assert_one_alert_per_failure(
        &delivered,
        &[(A, EAST, &failed_a, KMS), (C, WEST, &failed_c, QUOTA)],
    );
    // The denied account's snapshot is left as it is: nothing vanished.
    assert_eq!(snapshot_of(&stack, B, EAST).await?, [(kept.clone(), false)]);

    // Exactly once: the next tick sends nothing more.
    let third = stack.tick().await?;
    assert_eq!(
        third["problems"].as_array().map(Vec::len),
        Some(1),
        "{third:#}"
    );
    stack.expect_alerts(0).await?;

    // Each role was assumed once, its credentials cached across the ticks
    // and shared by the account's two regions.
    let roles = stack.emulator.admin_get("roles").await?;
    for account in [A, C] {
        assert_eq!(
            assumed(&roles, &role(account)),
            Some(1),
            "{account}: {roles:#}"
        );
    }
    Ok(())
}

/// How many times a role was assumed, by `GET /_emulator/roles`.
fn assumed(roles: &Value, arn: &str) -> Option<u64> {
    roles["Roles"]
        .as_array()?
        .iter()
        .find(|r| r["RoleArn"] == arn)?["Allowed"]
        .as_u64()
}

#[tokio::test]
async fn fan_out_two_workers_on_the_same_batch_send_one_alert_per_failure() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    deny(&stack.emulator, B).await?;
    let failed_a = store_in(&stack.emulator, A, EAST, "a-failed", Some(KMS)).await?;
    let failed_c = store_in(&stack.emulator, C, WEST, "c-failed", Some(QUOTA)).await?;
    let (scan_queue, _) = create_queue(&stack.sqs).await?;

    // The scheduled tick hands the three accounts to the queue, two a message.
    let mut scheduler = settings(&stack);
    scheduler.extend([
        ("FANOUT_QUEUE_URL", scan_queue.clone()),
        ("FANOUT_BATCH_ACCOUNTS", "2".to_owned()),
        ("AWS_ENDPOINT_URL_SQS", stack.moto.endpoint()),
    ]);
    spawn_with(&mut stack, &scheduler)?;
    let handed = stack.tick().await?;
    assert_eq!(
        handed,
        json!({ "fanout": { "accounts": 3, "messages": 2 } })
    );
    stack.expect_alerts(0).await?;
    stack.functions.clear();

    let messages = stack
        .sqs
        .receive_message()
        .queue_url(&scan_queue)
        .max_number_of_messages(10)
        .send()
        .await?
        .messages
        .unwrap_or_default();
    assert_eq!(messages.len(), 2);
    let mut records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": {},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:scan",
                "awsRegion": EAST,
            })
        })
        .collect();
    records.push(json!({
        "messageId": "not-a-batch",
        "body": "{\"format\": 1, \"accounts\": [",
        "eventSource": "aws:sqs",
    }));
    let event = json!({ "Records": records });

    // Two workers, the same batch, at once.
    let worker = settings(&stack);
    spawn_with(&mut stack, &worker)?;
    spawn_with(&mut stack, &worker)?;
    stack.ensure_serving()?;
    let (first, second) =
        tokio::join!(stack.function.invoke(&event), stack.function.invoke(&event));
    let logs = stack.function_logs();
    for answer in [first?, second?] {
        let answer = answer.into_success().with_context(|| logs.clone())?;
        assert_eq!(
            answer,
            json!({ "batchItemFailures": [{ "itemIdentifier": "not-a-batch" }] }),
            "only the unreadable message is tried again; the denied account is a problem, not a retry"
        );
    }
    let delivered = stack.expect_alerts(2).await?;
    assert_one_alert_per_failure(
        &delivered,
        &[(A, EAST, &failed_a, KMS), (C, WEST, &failed_c, QUOTA)],
    );
    Ok(())
}
