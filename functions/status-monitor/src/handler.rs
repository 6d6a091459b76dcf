//! The scheduled invocation: one tick over every configured region.

use crate::App;
use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::domain::{AccountId, Scope};
use shared::metrics::emf_records;
use shared::monitor::Tick;
use tracing::{error, info};

/// Handles an EventBridge Scheduler or rule event. The payload only triggers
/// the tick; its source and id are logged to tie the tick to its schedule.
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let (payload, context) = event.into_parts();
    let source = payload
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    let event_id = payload.get("id").and_then(Value::as_str).unwrap_or("none");
    info!(source, event_id, request_id = %context.request_id, "tick");
    let account = match &app.account {
        Some(account) => account.clone(),
        None => account_of(&context.invoked_function_arn)?,
    };
    let scopes: Vec<Scope> = app
        .regions
        .iter()
        .map(|r| Scope::new(account.clone(), r.clone()))
        .collect();
    let tick = Tick {
        owner: context.request_id.clone(),
        now: chrono::Utc::now(),
    };
    let report = app.monitor.tick(&scopes, &tick).await;
    for record in emf_records(&report, &app.metrics_namespace, tick.now.timestamp_millis()) {
        println!("{record}");
    }
    let problems = report.problems();
    for problem in &problems {
        error!(problem = %problem, "tick problem");
    }
    if !problems.is_empty() {
        // Failing the invocation makes the schedule's retry policy and the
        // alarms see it; pending alerts are retried by the next tick anyway.
        return Err(problems.join("; ").into());
    }
    let summary: Vec<Value> = report
        .reports()
        .map(|(scope, r)| {
            serde_json::json!({
                "scope": scope.key(),
                "datastores": r.observations.len(),
                "transitions": r.transitions.len(),
                "alerts_published": r.published.len(),
            })
        })
        .collect();
    Ok(serde_json::json!({ "scopes": summary }))
}

/// The account of the function, from its ARN (`arn:aws:lambda:<region>:<account>:function:<name>`).
fn account_of(function_arn: &str) -> Result<AccountId, Error> {
    let account = function_arn.split(':').nth(4).unwrap_or_default();
    AccountId::parse(account)
        .map_err(|e| format!("cannot tell the account from the function ARN: {e}").into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_account_from_the_function_arn() {
        let account =
            account_of("arn:aws:lambda:us-east-1:123456789012:function:status-monitor").unwrap();
        assert_eq!(account.as_str(), "123456789012");
        assert!(account_of("not-an-arn").is_err());
    }
}
