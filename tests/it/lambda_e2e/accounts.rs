//! Many accounts end to end: the `status-monitor` binary assumes a role in
//! each member account at the emulator's STS (the SDK's own AssumeRole
//! provider, pointed there by `AWS_ENDPOINT_URL_STS`) and lists each
//! account's data stores, which the emulator tells apart by the credentials
//! of each request. One account's role is denied.
//!
//! Fan-out: the scheduled tick hands the accounts to the queue, and two
//! worker processes handle the same batch at once.

use super::*;
use integration_tests::emulator::TRANSITION;

const A: &str = "111111111111";
const B: &str = "222222222222";
const C: &str = "333333333333";
const EXTERNAL_ID: &str = "healthlake-monitor-e2e";
const KMS: (&str, &str) = ("NON_RETRYABLE_ERROR", "KMS key not accessible");
const QUOTA: (&str, &str) = ("RETRYABLE_ERROR", "Internal capacity exceeded, retry later");

fn role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/HealthLakeMonitorReadOnly")
}

/// Creates store `name` in `account` and `region` (through the emulator's
/// admin route, so no role is assumed for it) and lets its creation end:
/// failed with `cause` (category, message), or active.
async fn store_in(
    emulator: &Emulator,
    account: &str,
    region: &str,
    name: &str,
    cause: Option<(&str, &str)>,
) -> anyhow::Result<String> {
    let outcome = cause.map(|(category, message)| format!("CREATE_FAILED:{category}:{message}"));
    let id = emulator
        .create_store_in(account, region, name, outcome.as_deref())
        .await?;
    emulator.advance(TRANSITION).await?;
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

    // B's role is denied from now on. Credentials already issued stay valid
    // until they expire, as in STS, and the warm function holds them: a new
    // execution environment is the one that meets the refusal.
    deny(&stack.emulator, B).await?;
    let failed_a = store_in(&stack.emulator, A, EAST, "a-failed", Some(KMS)).await?;
    let failed_c = store_in(&stack.emulator, C, WEST, "c-failed", Some(QUOTA)).await?;
    stack.functions.clear();
    spawn_with(&mut stack, &settings)?;

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

    // Each role was assumed once per execution environment: its credentials
    // cached across the second environment's two ticks and shared by the
    // account's two regions. The denied role was asked once per region and tick.
    for account in [A, C] {
        let calls = stack.emulator.assume_role_calls(&role(account)).await?;
        assert_eq!(calls.allowed, 2, "{account}: {calls:?}");
    }
    let denied = stack.emulator.assume_role_calls(&role(B)).await?;
    assert_eq!((denied.allowed, denied.denied), (1, 4), "{denied:?}");
    Ok(())
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
