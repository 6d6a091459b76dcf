//! The scheduled invocation: one tick over every account and region, or, with
//! fan-out, the accounts handed to workers; a worker's batch from the queue;
//! and HealthLake's data store events (see [`events`]).

use crate::{StatusMonitor, events, fanout};
use lambda_runtime::{Error, LambdaEvent};
use monitor_core::domain::{AccountId, AccountTarget, Region, Scope};
use monitor_core::metrics::emf_records;
use monitor_core::tick::{Tick, TickReport};
use serde_json::Value;
use tracing::{error, info};

/// Handles an EventBridge Scheduler or rule event, or an SQS event of the
/// fan-out queue. A scheduled payload only triggers the tick; its source and
/// id are logged to tie the tick to its schedule.
///
/// The invocation fails only when the tick could not run at all (the account
/// cannot be told, the organization's accounts cannot be listed, the settings
/// cannot hold, a batch cannot be handed to the workers). An account whose
/// role cannot be assumed is one of the tick's problems, not a failure. A tick that ran with partial
/// problems (a region not listed, an alert not sent or set aside, an item not
/// read) succeeds: its problems are logged and counted in the metrics, which
/// the alarms watch. A failed invocation is not retried (the function's
/// asynchronous invocation allows no retry; the schedule's retry policy covers
/// only Scheduler failing to invoke it): it goes to the dead-letter queue, and
/// the next tick scans afresh. So the queue means "a tick never ran or was cut
/// off".
pub async fn handle(app: &StatusMonitor, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    let remaining = context
        .deadline()
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    check_claim_ttl(app.claim_ttl, remaining)?;
    if fanout::is_queue_event(&payload) {
        return Ok(fanout::work(app, &payload, &context.request_id).await);
    }
    match events::route(&payload) {
        events::Route::Datastore(event) => {
            let own = own_account(app, &context.invoked_function_arn)?;
            return Ok(events::handle(app, event, &own, &context.request_id).await);
        }
        events::Route::Rejected { id, reason } => return Ok(events::reject(app, &id, &reason)),
        events::Route::Tick => {}
    }
    let source = payload
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let event_id = payload.get("id").and_then(Value::as_str).unwrap_or("none");
    info!(source, event_id, request_id = %context.request_id, "tick");
    let own = own_account(app, &context.invoked_function_arn)?;
    // Without the accounts the tick cannot run: the invocation fails, and its
    // error and dead-letter alarms report it.
    let targets = monitor_organizations::targets(&app.accounts, &own, app.organizations.as_ref())
        .await
        .inspect_err(|e| error!(error = %e, "accounts not listed"))?;
    if let Some((fanout, sqs)) = &app.fanout {
        return fanout::send(fanout, sqs, &targets, &app.regions).await;
    }
    let report = scan(app, &targets, &app.regions, context.request_id.clone()).await;
    let summary: Vec<Value> = report
        .scopes
        .iter()
        .map(|(scope, result)| match result {
            Ok(r) => serde_json::json!({
                "scope": scope.key(),
                "scanned": true,
                "datastores": r.observations.len(),
                "transitions": r.transitions.len(),
                "alerts_published": r.published.len(),
                "alerts_failed": r.failed.len(),
                "alerts_undeliverable": r.undeliverable.len(),
            }),
            Err(_) => serde_json::json!({ "scope": scope.key(), "scanned": false }),
        })
        .collect();
    Ok(serde_json::json!({
        "accounts": targets.len(),
        "scopes": summary,
        "problems": report.problems(),
    }))
}

/// One tick over `targets` in `regions`: the accounts are reached (their
/// clients kept from earlier ticks), every (account, region) scanned, the
/// metrics written and the problems logged.
pub async fn scan(
    app: &StatusMonitor,
    targets: &[AccountTarget],
    regions: &[Region],
    owner: String,
) -> TickReport {
    app.monitor.reader().reach(targets).await;
    let scopes: Vec<Scope> = targets
        .iter()
        .flat_map(|t| Scope::per_region(&t.account, regions))
        .collect();
    let tick = Tick {
        owner,
        now: chrono::Utc::now(),
    };
    let report = app.monitor.tick(&scopes, &tick).await;
    for record in emf_records(&report, &app.metrics_namespace, tick.now.timestamp_millis()) {
        println!("{record}");
    }
    for problem in report.problems() {
        error!(problem = %problem, "tick problem");
    }
    report
}

/// A claim must outlive any tick that could still be publishing under it, so
/// the claim TTL must exceed the time an invocation may run.
fn check_claim_ttl(
    claim_ttl: chrono::Duration,
    invocation_time: std::time::Duration,
) -> Result<(), Error> {
    let ttl = claim_ttl.to_std().unwrap_or_default();
    if ttl <= invocation_time {
        return Err(format!(
            "setting CLAIM_TTL_SECONDS: {} s is not longer than the function's timeout ({} s left \
             at the start of this invocation); raise it, or two ticks could both publish an alert",
            ttl.as_secs(),
            invocation_time.as_secs()
        )
        .into());
    }
    Ok(())
}

/// The account of the function, from its ARN (`arn:aws:lambda:<region>:<account>:function:<name>`).
/// The monitor's own account: the `ACCOUNT_ID` setting, or the function's.
fn own_account(app: &StatusMonitor, function_arn: &str) -> Result<AccountId, Error> {
    match &app.account {
        Some(account) => Ok(account.clone()),
        None => account_of(function_arn),
    }
}

fn account_of(function_arn: &str) -> Result<AccountId, Error> {
    let account = function_arn.split(':').nth(4).unwrap_or_default();
    AccountId::parse(account)
        .map_err(|e| format!("cannot tell the account from the function ARN: {e}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_ttl_within_the_function_timeout_is_refused() {
        let minute = std::time::Duration::from_secs(60);
        assert!(check_claim_ttl(chrono::Duration::seconds(120), minute).is_ok());
        let err = check_claim_ttl(chrono::Duration::seconds(30), minute)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("setting CLAIM_TTL_SECONDS"), "{err}");
        assert!(check_claim_ttl(chrono::Duration::seconds(60), minute).is_err());
    }

    #[test]
    fn reads_the_account_from_the_function_arn() {
        let account =
            account_of("arn:aws:lambda:us-east-1:123456789012:function:status-monitor").unwrap();
        assert_eq!(account.as_str(), "123456789012");
        assert!(account_of("not-an-arn").is_err());
    }
}
