//! Past one invocation: the scheduled tick hands the accounts to workers in
//! batches on an SQS queue, and each worker (the same binary, invoked by the
//! queue's event source mapping) scans its batch with the same tick.
//!
//! Two workers given the same batch (a redelivery, a visibility timeout that
//! lapsed) are safe: every record write is conditional on its version and an
//! alert is published only under a claim, so each transition is alerted once.

use crate::StatusMonitor;
use crate::config::FanOut;
use crate::handler::scan;
use lambda_runtime::Error;
use monitor_core::domain::{Access, AccountId, AccountTarget, Region, RoleArn};
use monitor_core::ports::ReadErrorKind;
use monitor_core::tick::{ScanError, TickReport};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tracing::{error, info, warn};

/// The layout of a batch message; a worker refuses any other.
pub const BATCH_FORMAT: u32 = 1;

/// SQS takes at most ten messages per SendMessageBatch.
const SEND_BATCH: usize = 10;

/// One message: some accounts, and the regions to scan in each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchMessage {
    pub format: u32,
    pub accounts: Vec<BatchAccount>,
    pub regions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchAccount {
    pub account: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Absent: the account is read with the worker's own credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

impl BatchMessage {
    pub fn new(targets: &[AccountTarget], regions: &[Region]) -> Self {
        Self {
            format: BATCH_FORMAT,
            accounts: targets
                .iter()
                .map(|t| BatchAccount {
                    account: t.account.to_string(),
                    name: t.name.clone(),
                    role_arn: match &t.access {
                        Access::Own => None,
                        Access::Role(arn) => Some(arn.to_string()),
                    },
                })
                .collect(),
            regions: regions.iter().map(Region::to_string).collect(),
        }
    }

    /// The accounts and regions of a message body, or what is wrong with it
    /// (naming the field, never quoting the body).
    pub fn read(body: &str) -> Result<(Vec<AccountTarget>, Vec<Region>), String> {
        let message: BatchMessage = serde_json::from_str(body).map_err(|e| {
            format!(
                "not a batch message: {} at line {} column {}",
                classify(&e),
                e.line(),
                e.column()
            )
        })?;
        if message.format != BATCH_FORMAT {
            return Err(format!(
                "batch format {} is not the one this version reads ({BATCH_FORMAT})",
                message.format
            ));
        }
        if message.accounts.is_empty() || message.regions.is_empty() {
            return Err("a batch names no account or no region".into());
        }
        let regions = message
            .regions
            .into_iter()
            .map(|r| Region::parse(r).map_err(|e| format!("field regions: {}", e.expected)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut targets = Vec::with_capacity(message.accounts.len());
        for a in message.accounts {
            let account = AccountId::parse(a.account)
                .map_err(|e| format!("field accounts.account: {}", e.expected))?;
            let access = match a.role_arn {
                None => Access::Own,
                Some(arn) => {
                    let arn = RoleArn::parse(arn)
                        .map_err(|e| format!("field accounts.role_arn: {}", e.expected))?;
                    if arn.account() != &account {
                        return Err(format!(
                            "field accounts.role_arn: the role of account {account} is in account {}",
                            arn.account()
                        ));
                    }
                    Access::Role(arn)
                }
            };
            targets.push(AccountTarget {
                account,
                name: a.name,
                access,
            });
        }
        Ok((targets, regions))
    }
}

fn classify(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "malformed JSON",
        serde_json::error::Category::Data => "a field is missing, unknown or of the wrong type",
        serde_json::error::Category::Eof => "cut short",
    }
}

/// Whether `payload` is an SQS event, which only the fan-out queue sends.
pub fn is_queue_event(payload: &Value) -> bool {
    payload
        .get("Records")
        .and_then(Value::as_array)
        .and_then(|records| records.first())
        .and_then(|r| r.get("eventSource"))
        .and_then(Value::as_str)
        == Some("aws:sqs")
}

/// Sends the accounts in batches of `fanout.batch_accounts`, ten messages a
/// call. A message SQS did not take fails the invocation, so that its
/// alarms report it; the messages it did take are scanned.
pub async fn send(
    fanout: &FanOut,
    sqs: &aws_sdk_sqs::Client,
    targets: &[AccountTarget],
    regions: &[Region],
) -> Result<Value, Error> {
    let bodies: Vec<String> = targets
        .chunks(fanout.batch_accounts.max(1))
        .map(|chunk| serde_json::to_string(&BatchMessage::new(chunk, regions)))
        .collect::<Result<_, _>>()?;
    let mut refused = Vec::new();
    for (call, group) in bodies.chunks(SEND_BATCH).enumerate() {
        let entries = group
            .iter()
            .enumerate()
            .map(|(i, body)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(format!("batch-{}", call * SEND_BATCH + i))
                    .message_body(body)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        match sqs
            .send_message_batch()
            .queue_url(&fanout.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            Ok(out) => refused.extend(
                out.failed()
                    .iter()
                    .map(|f| format!("{} ({})", f.id(), f.code())),
            ),
            Err(e) => refused.push(format!(
                "{} message(s): {}",
                group.len(),
                monitor_aws::error_text(&e)
            )),
        }
    }
    info!(
        accounts = targets.len(),
        messages = bodies.len(),
        refused = refused.len(),
        "accounts handed to the workers"
    );
    if !refused.is_empty() {
        return Err(format!(
            "the fan-out queue did not take every batch, so some accounts are not scanned this \
             tick: {}",
            refused.join("; ")
        )
        .into());
    }
    Ok(json!({ "fanout": { "accounts": targets.len(), "messages": bodies.len() } }))
}

/// Scans each message's batch. A message that cannot be read, or whose scan
/// met a problem that a later try can clear (throttling, an endpoint not
/// reached, the snapshot table unavailable), is reported as a batch item
/// failure: SQS delivers it again, and after the queue's receive limit moves
/// it to the dead-letter queue, whose alarm reports it. An account whose role
/// is refused is not tried again: it is a problem of the tick, with its own
/// metric and alarm.
pub async fn work(app: &StatusMonitor, payload: &Value, request_id: &str) -> Value {
    let mut failures = Vec::new();
    let records = payload
        .get("Records")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for record in records {
        let Some(message_id) = record.get("messageId").and_then(Value::as_str) else {
            warn!("an SQS record without a messageId; it cannot be reported as failed");
            continue;
        };
        let body = record.get("body").and_then(Value::as_str).unwrap_or("");
        let (targets, regions) = match BatchMessage::read(body) {
            Ok(batch) => batch,
            Err(problem) => {
                error!(message_id, problem, "batch message refused");
                failures.push(message_id.to_owned());
                continue;
            }
        };
        info!(message_id, accounts = targets.len(), "batch");
        let report = scan(
            app,
            &targets,
            &regions,
            format!("{request_id}/{message_id}"),
        )
        .await;
        if worth_another_try(&report) {
            failures.push(message_id.to_owned());
        }
    }
    json!({
        "batchItemFailures": failures
            .into_iter()
            .map(|id| json!({ "itemIdentifier": id }))
            .collect::<Vec<_>>()
    })
}

/// Whether a scope of the batch was not scanned for a reason that may clear.
fn worth_another_try(report: &TickReport) -> bool {
    report.scopes.iter().any(|(_, result)| match result {
        Ok(_) => false,
        Err(ScanError::Read(e)) => !matches!(
            e.kind,
            ReadErrorKind::RoleNotAssumed
                | ReadErrorKind::AccessDenied
                | ReadErrorKind::InvalidCredentials
        ),
        Err(ScanError::Store { .. }) => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(arn: &str) -> AccountTarget {
        AccountTarget::role(RoleArn::parse(arn).unwrap())
    }

    #[test]
    fn a_batch_reads_back_as_the_accounts_and_regions_sent() {
        let mut named = role("arn:aws:iam::111111111111:role/HealthLakeMonitorReadOnly");
        named.name = Some("prod".into());
        let targets = vec![
            named,
            AccountTarget::own(AccountId::parse("123456789012").unwrap()),
        ];
        let regions = vec![
            Region::parse("us-east-1").unwrap(),
            Region::parse("eu-west-2").unwrap(),
        ];
        let body = serde_json::to_string(&BatchMessage::new(&targets, &regions)).unwrap();
        assert_eq!(BatchMessage::read(&body).unwrap(), (targets, regions));
    }

    #[test]
    fn a_bad_batch_is_refused_naming_the_field_without_quoting_it() {
        for (body, expected) in [
            ("", "not a batch message: cut short"),
            ("{\"format\": 1", "not a batch message: cut short"),
            ("[1, 2]", "not a batch message: a field is missing"),
            (
                r#"{"format": 2, "accounts": [], "regions": []}"#,
                "batch format 2 is not the one this version reads (1)",
            ),
            (
                r#"{"format": 1, "accounts": [], "regions": ["us-east-1"]}"#,
                "a batch names no account or no region",
            ),
            (
                r#"{"format": 1, "accounts": [{"account": "secret-42"}], "regions": ["us-east-1"]}"#,
                "field accounts.account: expected 12 digits",
            ),
            (
                r#"{"format": 1, "accounts": [{"account": "111111111111"}], "regions": ["Mars"]}"#,
                "field regions: expected a region name",
            ),
            (
                r#"{"format": 1, "accounts": [{"account": "111111111111", "role_arn": "arn:aws:iam::222222222222:role/r"}], "regions": ["us-east-1"]}"#,
                "field accounts.role_arn: the role of account 111111111111 is in account 222222222222",
            ),
        ] {
            let err = BatchMessage::read(body).unwrap_err();
            assert!(err.starts_with(expected), "{body}: {err}");
            assert!(!err.contains("secret-42") && !err.contains("Mars"), "{err}");
        }
    }

    #[test]
    fn only_an_sqs_event_is_a_queue_event() {
        assert!(is_queue_event(
            &json!({"Records": [{"eventSource": "aws:sqs", "messageId": "1"}]})
        ));
        assert!(!is_queue_event(
            &json!({"Records": [{"EventSource": "aws:sns"}]})
        ));
        assert!(!is_queue_event(
            &json!({"source": "aws.scheduler", "id": "1"})
        ));
        assert!(!is_queue_event(&json!({"Records": []})));
        assert!(!is_queue_event(&json!(null)));
    }
}
