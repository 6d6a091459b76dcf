//! The fast path end to end: the emulator posts the EventBridge events
//! HealthLake would emit to the function's Invoke URL on the local Runtime
//! API (standing in for the rule that targets it), and the `status-monitor`
//! binary describes the store an event names and alerts at once; the
//! scheduled scan after it sends nothing.

use super::*;
use integration_tests::emulator::TRANSITION;

/// Upper bound of waiting for the emulator to post an event and the function
/// to answer it.
const EVENT_DEADLINE: Duration = Duration::from_secs(60);

/// Points the emulator's events at the stack's function.
async fn route_events_to_the_function(stack: &Stack) -> anyhow::Result<()> {
    let shown = stack
        .admin_post("events", json!({ "Url": stack.function.invoke_url() }))
        .await;
    ensure!(shown["Url"] == stack.function.invoke_url(), "{shown}");
    Ok(())
}

/// Waits until an event of `detail_type` for store `id` was posted and
/// answered; that entry of `GET /_emulator/events`.
async fn answered_event(stack: &Stack, detail_type: &str, id: &str) -> anyhow::Result<Value> {
    let deadline = Instant::now() + EVENT_DEADLINE;
    loop {
        let shown = stack.admin_get("events").await;
        let entry = shown["Events"].as_array().and_then(|events| {
            events.iter().find(|e| {
                e["Event"]["detail-type"] == detail_type
                    && e["Event"]["detail"]["datastoreId"] == id
            })
        });
        if let Some(entry) = entry
            && (entry["Status"].is_u64() || entry["Error"].is_string())
        {
            ensure!(
                entry["Status"] == 200,
                "the event's invocation failed: {entry}"
            );
            return Ok(entry.clone());
        }
        ensure!(
            Instant::now() < deadline,
            "no answered {detail_type:?} event for {id} within {EVENT_DEADLINE:?}: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn millis_between(entry: &Value, from: &str, to: &str) -> anyhow::Result<i64> {
    let at = |key: &str| -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
        Ok(entry[key]
            .as_str()
            .with_context(|| format!("{key} in {entry}"))?
            .parse()?)
    };
    Ok((at(to)? - at(from)?).num_milliseconds())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_creation_failure_event_alerts_at_once_and_the_next_scan_repeats_nothing()
-> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let failing = stack
        .create_store(
            EAST,
            "imaging-new",
            Some(("NON_RETRYABLE_ERROR", KMS_MESSAGE)),
        )
        .await?;
    stack.spawn(&[])?;
    let first = stack.tick().await?;
    assert_eq!(first["scopes"][0]["alerts_published"], 0, "{first}");
    route_events_to_the_function(&stack).await?;

    // The creation fails as the clock passes the transition delay: the
    // emulator posts "Data Store Creation Failed", whose detail has neither
    // status nor ErrorCause, and the function describes the store.
    stack.emulator.advance(TRANSITION).await?;
    let entry = answered_event(&stack, "Data Store Creation Failed", &failing).await?;
    let delivered = stack.expect_alerts(1).await?;
    assert_failure_alert(
        &delivered[0],
        &failing,
        "imaging-new",
        EAST,
        Some("CREATING"),
        (KMS_MESSAGE, "NON_RETRYABLE_ERROR"),
    );
    let calls = stack.admin_get("calls").await;
    assert_eq!(calls["DescribeFHIRDatastore"], 1, "{calls}");
    eprintln!(
        "event-to-publish: the invocation for the event answered {} ms after the emulator posted it",
        millis_between(&entry, "PostedAt", "AnsweredAt")?
    );

    // The schedule's scan finds the transition already recorded.
    let scan = stack.tick().await?;
    assert_eq!(scan["scopes"][0]["transitions"], 0, "{scan}");
    assert_eq!(scan["scopes"][0]["alerts_published"], 0, "{scan}");
    stack.expect_alerts(0).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn events_of_other_regions_accounts_or_kinds_are_rejected_by_id_and_succeed()
-> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let failed = stack
        .create_store(
            EAST,
            "imaging-new",
            Some(("NON_RETRYABLE_ERROR", KMS_MESSAGE)),
        )
        .await?;
    stack.settle(EAST, &failed, "CREATE_FAILED").await?;
    let described_before = stack.admin_get("calls").await["DescribeFHIRDatastore"].clone();
    stack.spawn(&[])?;
    let event = |account: &str, region: &str, detail_type: &str, detail: Value| {
        json!({
            "version": "0",
            "id": format!("event-{region}-{account}"),
            "detail-type": detail_type,
            "source": "aws.healthlake",
            "account": account,
            "time": "2026-11-26T10:00:00Z",
            "region": region,
            "resources": [],
            "detail": detail,
        })
    };
    let named = json!({ "datastoreId": failed });
    let cases = [
        (
            event(ACCOUNT, WEST, "Data Store Creation Failed", named.clone()),
            "region us-west-2 is not monitored",
        ),
        (
            event(
                "999999999999",
                EAST,
                "Data Store Creation Failed",
                named.clone(),
            ),
            "account 999999999999 is not monitored",
        ),
        (
            event(ACCOUNT, EAST, "Data Store Updated", named.clone()),
            "detail-type \"Data Store Updated\"",
        ),
        (
            event(
                ACCOUNT,
                EAST,
                "Data Store Active",
                json!({ "datastoreId": 7 }),
            ),
            "detail.datastoreId is missing or not a string",
        ),
    ];
    for (payload, reason) in cases {
        stack.ensure_serving()?;
        let answer = stack
            .function
            .invoke(&payload)
            .await?
            .into_success()
            .with_context(|| format!("{payload}"))?;
        assert_eq!(answer["event"]["id"], payload["id"], "{answer}");
        let rejected = answer["event"]["rejected"].as_str().unwrap_or_default();
        assert!(
            rejected.contains(reason),
            "{rejected:?} should name {reason:?}"
        );
    }
    // None of them described a store, ran a scan or sent anything.
    let calls = stack.admin_get("calls").await;
    assert_eq!(calls["DescribeFHIRDatastore"], described_before, "{calls}");
    assert_eq!(calls["ListFHIRDatastores"], 0, "{calls}");
    stack.expect_alerts(0).await?;

    // An event for a store the service no longer knows changes nothing.
    let answer = stack
        .function
        .invoke(&event(
            ACCOUNT,
            EAST,
            "Data Store Deleted",
            json!({ "datastoreId": "0123456789abcdef0123456789abcdef" }),
        ))
        .await?
        .into_success()?;
    assert_eq!(answer["event"]["observed"], true, "{answer}");
    assert_eq!(answer["event"]["found"], false, "{answer}");
    assert!(stack.items().await?.is_empty());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_and_a_scan_at_once_send_one_alert() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    stack.spawn(&[])?;
    stack.spawn(&[])?;
    for round in 0..3 {
        let name = format!("imaging-{round}");
        let id = stack
            .create_store(
                EAST,
                &name,
                Some(("RETRYABLE_ERROR", "Internal capacity exceeded")),
            )
            .await?;
        stack.tick().await?;
        stack.emulator.advance(TRANSITION).await?;
        let event = json!({
            "version": "0",
            "id": format!("race-{round}"),
            "detail-type": "Data Store Creation Failed",
            "source": "aws.healthlake",
            "account": ACCOUNT,
            "time": "2026-11-26T10:00:00Z",
            "region": EAST,
            "resources": [],
            "detail": { "datastoreId": id, "datastoreName": name },
        });
        // Two processes serve the function: the event and a scheduled tick
        // are handled at the same time, on the same record.
        let scheduled = scheduled_event();
        let (by_event, by_scan) = tokio::join!(
            stack.function.invoke(&event),
            stack.function.invoke(&scheduled)
        );
        let by_event = by_event?.into_success()?;
        let by_scan = by_scan?.into_success()?;
        let sent = by_event["event"]["alerts_published"].as_u64().unwrap_or(0)
            + by_scan["scopes"][0]["alerts_published"]
                .as_u64()
                .unwrap_or(0);
        assert_eq!(sent, 1, "round {round}: {by_event} {by_scan}");
        stack.expect_alerts(1).await?;
    }
    Ok(())
}
