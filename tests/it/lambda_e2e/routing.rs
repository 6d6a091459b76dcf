//! Routing end to end: the `status-monitor` binary reads the tags of the
//! stores it alerts on (ListTagsForResource at the emulator, once per alert),
//! leaves out the excluded ones, and copies the chosen tag into the alert's
//! document and message attributes, so that a team's subscription with an
//! SNS filter policy on its own tag value receives its alerts only.

use super::*;
use aws_sdk_healthlake::types::{FhirVersion, Tag};
use integration_tests::emulator::{OUTCOME_TAG, TRANSITION};
use integration_tests::fixtures::{receive_envelopes, subscribe_queue};

/// Creates a store whose creation fails, with `tags`.
async fn failing_store(stack: &Stack, name: &str, tags: &[(&str, &str)]) -> anyhow::Result<String> {
    let mut all: Vec<Tag> = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
        .collect::<Result<_, _>>()?;
    all.push(
        Tag::builder()
            .key(OUTCOME_TAG)
            .value("CREATE_FAILED:NON_RETRYABLE_ERROR:KMS key not accessible")
            .build()?,
    );
    let answer = stack
        .emulator
        .client(EAST)
        .create_fhir_datastore()
        .datastore_name(name)
        .datastore_type_version(FhirVersion::R4)
        .set_tags(Some(all))
        .send()
        .await?;
    Ok(answer.datastore_id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_teams_filter_policy_on_its_tag_gets_its_alerts_and_excluded_stores_stay_quiet()
-> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let payments = failing_store(&stack, "claims", &[("team", "payments")]).await?;
    let imaging = failing_store(&stack, "scans", &[("team", "imaging")]).await?;
    let sandbox = failing_store(
        &stack,
        "claims-sandbox",
        &[("team", "payments"), ("environment", "sandbox")],
    )
    .await?;
    let payments_queue = subscribe_queue(
        &stack.sns,
        &stack.sqs,
        &stack.topic_arn(),
        Some(r#"{"tag.team": ["payments"]}"#),
    )
    .await?;
    stack.emulator.advance(TRANSITION).await?;
    stack.spawn(&[
        ("ALERT_TAG_KEYS", "team"),
        ("EXCLUDE_TAGS", "environment=sandbox"),
        ("EXCLUDE_DATASTORES", "*-scratch"),
    ])?;

    stack.tick().await?;
    let delivered = stack.expect_alerts(2).await?;
    let by_store: BTreeMap<String, &Delivered> = delivered
        .iter()
        .map(|d| {
            (
                d.document["datastore_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                d,
            )
        })
        .collect();
    for (id, team) in [(&payments, "payments"), (&imaging, "imaging")] {
        let alert = by_store
            .get(id.as_str())
            .with_context(|| format!("no alert for {id}: {delivered:?}"))?;
        assert_eq!(
            alert.document["tags"],
            json!({ "team": team }),
            "{}",
            alert.message
        );
        assert_eq!(
            alert.attributes.get("tag.team").map(String::as_str),
            Some(team)
        );
    }
    assert!(
        !by_store.contains_key(sandbox.as_str()),
        "the sandbox store is excluded"
    );

    // The payments team's queue receives its own alert only.
    let team_only =
        receive_envelopes(&stack.sqs, &payments_queue, 2, Duration::from_secs(2)).await?;
    assert_eq!(team_only.len(), 1, "{team_only:?}");
    let document: Value = serde_json::from_str(team_only[0]["Message"].as_str().unwrap_or("{}"))?;
    assert_eq!(document["datastore_id"], payments.as_str());

    // Three alerts were decided (the sandbox one then left out): three tag reads.
    let calls = stack.admin_get("calls").await;
    assert_eq!(calls["ListTagsForResource"], 3, "{calls}");
    // The excluded store is recorded, with its tags kept.
    let items = stack.items().await?;
    let recorded = items
        .iter()
        .find(|i| text(i, "sk") == Some(sandbox.as_str()))
        .context("the sandbox store's record")?;
    assert_eq!(text(recorded, "status"), Some("CREATE_FAILED"));
    let tags: Value = serde_json::from_str(text(recorded, "tags").context("tags kept")?)?;
    assert_eq!(tags["environment"], "sandbox");

    // A quiet tick reads no tags and sends nothing.
    stack.tick().await?;
    stack.expect_alerts(0).await?;
    let calls = stack.admin_get("calls").await;
    assert_eq!(calls["ListTagsForResource"], 3, "{calls}");
    Ok(())
}
