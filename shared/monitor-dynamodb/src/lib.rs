//! The snapshot in DynamoDB.
//!
//! Table layout (tools and tests rely on it):
//! - `pk` (S): `<account>#<region>`; `sk` (S): the data store id as HealthLake gives it (up to
//!   32 characters of any script, at most 128 bytes of UTF-8: well within a sort key's 1,024);
//! - `version` (N): bumped on every write, which is conditional on it;
//! - `status`, `name`, `arn`, `type_version`, `endpoint` (S), `created_at` (S, RFC 3339, optional);
//! - `error_message`, `error_category` (S, optional): the ErrorCause;
//! - `first_seen`, `last_changed` (S, RFC 3339); `vanished_at` (S, optional);
//! - `alert_state` (S): `none`, `pending` or `claimed`; `pending_alerts` (S, JSON list, optional):
//!   the alerts owed, each a [`StoredPendingAlert`] (the alert's fields with its failed
//!   `attempts` and `last_error`); `claim_owner`, `claim_at` (S, optional);
//! - `undeliverable_alerts` (S, JSON list, optional): alerts set aside, each a
//!   [`StoredUndeliverableAlert`] (`alert`, `reason`, `attempts`, `at`);
//!   `undeliverable_total` (N, optional): all ever set aside;
//! - `expires_at` (N, epoch seconds): the TTL, set only on vanished stores with no alert pending;
//! - `status_since` (S, RFC 3339): since when the store has been in its status (absent in items
//!   written before it was kept: then read as `last_changed`, or `created_at` for a store
//!   still CREATING); `stuck_warned_at` (S, optional): when this stay was reported stuck;
//!   `reminded_at` (S, optional): when this stay in a `*_FAILED` status was last reminded of.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};
use monitor_core::domain::{
    AccountId, Claim, DatastoreId, DatastoreStatus, ErrorCategory, ErrorCause, Observation,
    PendingAlert, Record, Region, Scope, ScopeSnapshot, UndeliverableAlert, Unreadable,
};
use monitor_core::field::FieldError;
use monitor_core::ports::{SnapshotStore, StoreError};
use monitor_core::stored::{StoredPendingAlert, StoredUndeliverableAlert, status_since_or};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use tracing::instrument;

pub type Item = HashMap<String, AttributeValue>;

pub struct DynamoDbStore {
    client: Client,
    table: String,
    retention: Duration,
}

impl DynamoDbStore {
    /// Vanished stores are kept this long (then DynamoDB's TTL removes them).
    pub const DEFAULT_RETENTION: Duration = Duration::days(30);

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retention: Self::DEFAULT_RETENTION,
        }
    }

    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    fn item_of(&self, scope: &Scope, r: &Record) -> Result<Item, StoreError> {
        let o = &r.observation;
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let n = |v: i64| AttributeValue::N(v.to_string());
        let mut item: Item = [
            ("pk", s(&scope.key())),
            ("sk", s(o.id.as_str())),
            ("version", AttributeValue::N(r.version.to_string())),
            ("status", s(o.status.as_str())),
            ("name", s(&o.name)),
            ("arn", s(&o.arn)),
            ("type_version", s(&o.type_version)),
            ("endpoint", s(&o.endpoint)),
            ("first_seen", s(&r.first_seen.to_rfc3339())),
            ("last_changed", s(&r.last_changed.to_rfc3339())),
            ("alert_state", s(r.alert_state())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let mut optional = |key: &str, value: Option<AttributeValue>| {
            if let Some(v) = value {
                item.insert(key.to_owned(), v);
            }
        };
        optional("created_at", o.created_at.map(|t| s(&t.to_rfc3339())));
        optional(
            "error_message",
            o.error_cause.as_ref().map(|c| s(&c.message)),
        );
        optional(
            "error_category",
            o.error_cause.as_ref().map(|c| s(c.category.as_str())),
        );
        optional("vanished_at", r.vanished_at.map(|t| s(&t.to_rfc3339())));
        optional("claim_owner", r.claim.as_ref().map(|c| s(&c.owner)));
        optional("claim_at", r.claim.as_ref().map(|c| s(&c.at.to_rfc3339())));
        optional("status_since", Some(s(&r.status_since.to_rfc3339())));
        optional(
            "stuck_warned_at",
            r.stuck_warned_at.map(|t| s(&t.to_rfc3339())),
        );
        optional("reminded_at", r.reminded_at.map(|t| s(&t.to_rfc3339())));
        if !r.pending.is_empty() {
            let json = json_list(r.pending.iter().map(StoredPendingAlert::from), "pending")?;
            optional("pending_alerts", Some(s(&json)));
        }
        if !r.undeliverable.is_empty() {
            let json = json_list(
                r.undeliverable.iter().map(StoredUndeliverableAlert::from),
                "undeliverable",
            )?;
            optional("undeliverable_alerts", Some(s(&json)));
        }
        if let Some(tags) = &r.tags {
            let json = serde_json::to_string(tags)
                .map_err(|e| StoreError::Unavailable(format!("cannot encode tags: {e}")))?;
            optional("tags", Some(s(&json)));
        }
        if r.undeliverable_total > 0 {
            optional(
                "undeliverable_total",
                Some(AttributeValue::N(r.undeliverable_total.to_string())),
            );
        }
        // An alert still owed keeps its record alive until it is sent.
        if let (Some(vanished), true) = (r.vanished_at, r.pending.is_empty()) {
            optional(
                "expires_at",
                Some(n((vanished + self.retention).timestamp())),
            );
        }
        Ok(item)
    }

    /// Where an item is, for a report: the table and the item's key.
    fn location(&self, item: &Item) -> String {
        format!(
            "table {} item pk={:?} sk={:?}",
            self.table,
            item.get("pk")
                .and_then(|v| v.as_s().ok())
                .map_or("?", String::as_str),
            item.get("sk")
                .and_then(|v| v.as_s().ok())
                .map_or("?", String::as_str),
        )
    }

    /// Reads one item of the table as a record; an item that is not one is
    /// `Corrupt`, with its key and what is wrong, never a panic.
    pub fn decode_item(&self, scope: &Scope, item: &Item) -> Result<Record, StoreError> {
        let location = self.location(item);
        let corrupt = |reason: String| StoreError::Corrupt {
            location: location.clone(),
            reason,
        };
        let opt_s = |key: &str| -> Result<Option<&str>, StoreError> {
            match item.get(key) {
                None => Ok(None),
                Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
                Some(_) => Err(corrupt(format!("attribute {key} is not a string"))),
            }
        };
        let req_s =
            |key: &str| opt_s(key)?.ok_or_else(|| corrupt(format!("attribute {key} is missing")));
        let time = |key: &str, v: &str| {
            DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| corrupt(format!("attribute {key} is not an RFC 3339 time: {e}")))
        };
        let opt_time = |key: &str| opt_s(key)?.map(|v| time(key, v)).transpose();
        let version = match item.get("version") {
            Some(AttributeValue::N(v)) => v
                .parse::<u64>()
                .map_err(|e| corrupt(format!("attribute version is not a count: {e}")))?,
            _ => {
                return Err(corrupt(
                    "attribute version is missing or not a number".into(),
                ));
            }
        };
        let error_cause = match (opt_s("error_message")?, opt_s("error_category")?) {
            (None, None) => None,
            (Some(message), Some(category)) => Some(ErrorCause {
                message: message.to_owned(),
                category: ErrorCategory::parse(category),
            }),
            _ => {
                return Err(corrupt(
                    "error_message and error_category must come together".into(),
                ));
            }
        };
        let pending = match opt_s("pending_alerts")? {
            None => Vec::new(),
            Some(json) => from_json_list::<StoredPendingAlert, PendingAlert>(json)
                .map_err(|e| corrupt(format!("attribute pending_alerts: {e}")))?,
        };
        let undeliverable = match opt_s("undeliverable_alerts")? {
            None => Vec::new(),
            Some(json) => from_json_list::<StoredUndeliverableAlert, UndeliverableAlert>(json)
                .map_err(|e| corrupt(format!("attribute undeliverable_alerts: {e}")))?,
        };
        let tags = match opt_s("tags")? {
            None => None,
            Some(json) => Some(
                serde_json::from_str::<std::collections::BTreeMap<String, String>>(json).map_err(
                    |e| {
                        corrupt(format!(
                            "attribute tags is not a JSON object of strings: {e}"
                        ))
                    },
                )?,
            ),
        };
        let undeliverable_total = match item.get("undeliverable_total") {
            None => 0,
            Some(AttributeValue::N(v)) => v.parse::<u64>().map_err(|e| {
                corrupt(format!("attribute undeliverable_total is not a count: {e}"))
            })?,
            Some(_) => {
                return Err(corrupt(
                    "attribute undeliverable_total is not a number".into(),
                ));
            }
        };
        let claim = match (opt_s("claim_owner")?, opt_time("claim_at")?) {
            (None, None) => None,
            (Some(owner), Some(at)) => Some(Claim {
                owner: owner.to_owned(),
                at,
            }),
            _ => {
                return Err(corrupt(
                    "claim_owner and claim_at must come together".into(),
                ));
            }
        };
        let pk = req_s("pk")?;
        if pk != scope.key() {
            return Err(corrupt(format!("pk {pk:?} is not the scope queried")));
        }
        let ids = |e: monitor_core::domain::IdError| corrupt(e.to_string());
        let observation = Observation {
            account: AccountId::parse(scope.account.as_str()).map_err(ids)?,
            region: Region::parse(scope.region.as_str()).map_err(ids)?,
            id: DatastoreId::parse(req_s("sk")?).map_err(ids)?,
            arn: req_s("arn")?.to_owned(),
            name: req_s("name")?.to_owned(),
            status: DatastoreStatus::parse(req_s("status")?),
            created_at: opt_time("created_at")?,
            type_version: req_s("type_version")?.to_owned(),
            endpoint: req_s("endpoint")?.to_owned(),
            error_cause,
        };
        let last_changed = time("last_changed", req_s("last_changed")?)?;
        Ok(Record {
            status_since: status_since_or(opt_time("status_since")?, &observation, last_changed),
            stuck_warned_at: opt_time("stuck_warned_at")?,
            reminded_at: opt_time("reminded_at")?,
            observation,
            version,
            first_seen: time("first_seen", req_s("first_seen")?)?,
            last_changed,
            vanished_at: opt_time("vanished_at")?,
            pending,
            undeliverable,
            undeliverable_total,
            claim,
            tags,
        })
    }
}

/// A list of stored values as the JSON text of one attribute.
fn json_list<S: Serialize>(
    stored: impl Iterator<Item = S>,
    what: &str,
) -> Result<String, StoreError> {
    serde_json::to_string(&stored.collect::<Vec<_>>())
        .map_err(|e| StoreError::Unavailable(format!("cannot encode {what} alerts: {e}")))
}

/// The domain values of an attribute written by [`json_list`]: why not, when
/// one does not read or convert.
fn from_json_list<S, T>(json: &str) -> Result<Vec<T>, String>
where
    S: DeserializeOwned,
    T: TryFrom<S, Error = FieldError>,
{
    let stored: Vec<S> = serde_json::from_str(json).map_err(|e| e.to_string())?;
    stored
        .into_iter()
        .map(|s| T::try_from(s).map_err(|e| e.to_string()))
        .collect()
}

fn unavailable<E>(error: &SdkError<E>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    StoreError::Unavailable(monitor_aws::error_text(error))
}

impl SnapshotStore for DynamoDbStore {
    #[instrument(skip(self), fields(table = %self.table, scope = %scope))]
    async fn load(&self, scope: &Scope) -> Result<ScopeSnapshot, StoreError> {
        let mut snapshot = ScopeSnapshot::default();
        let mut start: Option<Item> = None;
        let mut start_keys: Vec<Item> = Vec::new();
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(scope.key()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| unavailable(&e))?;
            for item in page.items() {
                // One unreadable item (hand-edited, foreign, from a newer
                // version) is reported and left alone; the scope is still scanned.
                match self.decode_item(scope, item) {
                    Ok(record) => {
                        snapshot
                            .records
                            .insert(record.observation.id.clone(), record);
                    }
                    Err(e) => snapshot.unreadable.push(Unreadable {
                        id: item.get("sk").and_then(|v| v.as_s().ok()).cloned(),
                        location: self.location(item),
                        reason: match e {
                            StoreError::Corrupt { reason, .. } => reason,
                            other => other.to_string(),
                        },
                    }),
                }
            }
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => {
                    if start_keys.contains(key) {
                        return Err(StoreError::Unavailable(format!(
                            "Query on table {} returned the same LastEvaluatedKey twice",
                            self.table
                        )));
                    }
                    start_keys.push(key.clone());
                    start = Some(key.clone());
                }
                _ => break,
            }
        }
        Ok(snapshot)
    }

    #[instrument(skip(self, record), fields(table = %self.table, scope = %scope, datastore = %record.observation.id, version = record.version))]
    async fn put(
        &self,
        scope: &Scope,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item_of(scope, record)?));
        let request = match expected {
            None => request.condition_expression("attribute_not_exists(pk)"),
            Some(v) => request
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", AttributeValue::N(v.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                Err(StoreError::Conflict {
                    scope: scope.clone(),
                    id: record.observation.id.to_string(),
                })
            }
            Err(e) => Err(unavailable(&e)),
        }
    }
}
