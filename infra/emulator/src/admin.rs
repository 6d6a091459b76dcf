//! `/_emulator/...`: unsigned JSON routes that script the emulator from tests.
//!
//! Stores are addressed by id, unique across accounts and regions; routes
//! that create or show something per account take an optional `Account`
//! (the default account when absent).
//!
//! - `POST /_emulator/datastores` `{"Account": "...", "Region": "us-east-1",
//!   <CreateFHIRDatastore members>}` creates a store in that account and
//!   region as the API would, without credentials or a call counted. An
//!   optional `"DatastoreId"` chooses its id (1 to 32 characters of the
//!   model's `[\p{L}\p{Z}\p{N}_.:/=+\-%@]*`, unique across accounts and
//!   regions, or the request is refused); otherwise it gets 32 hex characters,
//!   as HealthLake gives. It is not held to CreateFHIRDatastore's quota of
//!   stores (`EmulatorConfig::max_datastores`), though its stores count
//!   toward it. An optional `"CreatedAt"` (epoch seconds, as the API shows
//!   it; not after the emulator's now, and not with a `ClientToken`) sets the
//!   creation time the store reports and is filtered on, such as hours ago:
//!   its status still counts from the moment of this request, so the store is
//!   CREATING until the transition delay has passed on the emulator's clock,
//!   a creation that has been running since `CreatedAt`.
//! - `POST /_emulator/datastores/{id}/status` forces a status (and error cause)
//!   on a store of any account and region; it then stays until the store is
//!   deleted.
//! - `POST /_emulator/faults` queues a fault for the next calls of a
//!   HealthLake operation (in one region and/or account, or all), and/or sets
//!   a latency added to every HealthLake and STS call (`{"LatencyMs": N}`);
//!   `GET` shows what is pending. A fault names its `Operation`, how it fails
//!   (exactly one of the three below), and optionally `Count` (calls that
//!   fail, 1 by default), `After` (matching calls that pass first, whatever
//!   answers them: `"After": 4` fails the fifth), `Region` and `Account`:
//!   - `{"Operation": "ListFHIRDatastores", "Error": "ThrottlingException",
//!     "Message": "..."}` answers an error in the AWS JSON shape. Only an
//!     error the operation can answer is queued: one its `errors` list in
//!     the service model names, or one AWS answers for any operation
//!     (ThrottlingException, AccessDeniedException, ExpiredTokenException,
//!     UnrecognizedClientException, InvalidSignatureException,
//!     IncompleteSignatureException, MissingAuthenticationTokenException).
//!     Any other is refused with a 400 naming the operation and the errors
//!     it can answer. An ExpiredTokenException so queued is credentials
//!     expiring mid-run, whatever credentials the call was signed with.
//!   - `{"Operation": ..., "Http": {"Status": 503, "Body": "aws"}}` answers
//!     an HTTP error from in front of the service: `Status` 500, 502, 503
//!     (the default) or 504; `Body` `aws` (the default:
//!     `{"__type": "ServiceUnavailableException", "message": "Service
//!     Unavailable"}`, or `Message`) or `html` (a `text/html` error page, as
//!     a proxy or load balancer gives).
//!   - `{"Operation": ..., "Connection": "reset"}` closes the connection
//!     without a byte of response; `"truncate"` sends the status and headers
//!     with a `Content-Length` of 4096, then the first bytes of a body, and
//!     closes the connection.
//!
//!   Faults apply to HealthLake operations, not to STS actions. A call meets
//!   a fault only once authenticated and its account not suspended.
//! - `GET /_emulator/calls` counts calls per operation (STS actions included),
//!   and the same per region (`ByRegion`) and per account (`ByAccount`).
//! - `POST /_emulator/roles` `{"RoleArn": "...", "Deny": false, "ExternalId":
//!   "...", "MaxSessionDuration": 3600}` replaces the rule of a role for STS
//!   AssumeRole: denied, or allowed only with that external id, for sessions
//!   up to that long (absent members take the defaults: allowed, no external
//!   id, an hour). `GET` lists every role with a rule or an AssumeRole
//!   call, with how many were allowed and denied.
//! - `POST /_emulator/accounts` `{"Account": "...", "Suspended": true}`
//!   suspends an account: AssumeRole into it is AccessDenied, and calls with
//!   its credentials are AccessDeniedException. `GET` lists the accounts the
//!   emulator knows, their stores per region and whether they are suspended.
//! - `POST /_emulator/clock` `{"AdvanceSeconds": N}` moves the emulator's
//!   [clock](crate::clock) N seconds forward, and `GET` shows it: `{"Now":
//!   "<RFC 3339>", "OffsetSeconds": <ahead of the wall clock>}`. Every status
//!   and creation time is read from that clock, so a store created, deleted or
//!   failing settles once the clock has moved past the transition delay,
//!   without waiting for it. Credentials expire in wall time, as clients
//!   read it, not in the emulator's time.
//! - `POST /_emulator/credentials/expire` `{"AccessKeyId": "ASIA..."}` or
//!   `{"RoleArn": "..."}` makes credentials its STS issued (that key, or every
//!   key issued for that role) expire now, as they would at their Expiration:
//!   calls signed with them are `ExpiredTokenException` (STS: `ExpiredToken`).
//!   Answers `{"Expired": [<access key ids>]}`; none is ResourceNotFound.
//! - `POST /_emulator/events` `{"Url": "http://..."}` posts the EventBridge
//!   events HealthLake would emit there from now on (`{"Url": null}` stops);
//!   `GET /_emulator/events` shows `{"Url", "Events": [{"Event", "PostedAt",
//!   "AnsweredAt", "Status", "Error"}]}`. See [`crate::events`].
//! - `POST /_emulator/reset` forgets stores, client tokens, faults, latency,
//!   counts, role rules, suspensions, issued credentials and posted events
//!   (not the events URL), and sets the clock back to wall time.
//! - `GET /_emulator/health` answers once the emulator serves.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{SecondsFormat, TimeDelta};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::control::{self, ConnectionFault, Fault, FaultKind, HTTP_STATUSES, HttpBody};
use crate::iam::{AccountId, Issued, MAX_SESSION_SECONDS, Role, RoleArn, RoleRule};
use crate::model::{DatastoreStatus, ErrorCause, NewDatastore, StatusNow};
use crate::protocol::{ApiError, ErrorCode, Operation, parse_body};
use crate::registry::Scope;
use crate::state::{Emulator, Inner};
use crate::sts::{EXTERNAL_ID_CHARS, is_external_id};
use crate::wire::{CreateFhirDatastoreRequest, DatastoreProperties};

pub fn routes() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/datastores", post(create_store))
        .route("/datastores/{id}/status", post(force_status))
        .route("/roles", post(set_role).get(show_roles))
        .route("/accounts", post(set_account).get(show_accounts))
        .route("/faults", post(add_faults).get(show_faults))
        .route("/calls", get(calls))
        .route("/clock", post(advance_clock).get(show_clock))
        .route("/credentials/expire", post(expire_credentials))
        .route("/reset", post(reset))
        .route(
            "/events",
            post(crate::events::set_target).get(crate::events::show),
        )
        .route("/health", get(health))
}

fn ok<T: Serialize>(body: T) -> Response {
    Json(body).into_response()
}

/// Admin errors have the shape of API errors, with 404 for an unknown store;
/// an admin body that cannot be read is a ValidationException (the
/// SerializationException of the protocol is the service's answer, and these
/// routes are not the service).
pub(crate) fn refuse(err: ApiError) -> Response {
    let status = match err.code() {
        ErrorCode::ResourceNotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    let code = match err.code() {
        ErrorCode::Serialization => ErrorCode::Validation,
        code => code,
    };
    let body = serde_json::json!({ "__type": code.as_str(), "message": err.message() });
    (status, Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ForceStatusRequest {
    datastore_status: String,
    /// Absent or null clears the cause.
    error_cause: Option<ErrorCause>,
}

/// A store with where it lives: the answer to creating or forcing one.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct StoreResponse<'a> {
    account: &'a str,
    region: &'a str,
    datastore_properties: DatastoreProperties,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateStoreRequest {
    account: Option<String>,
    region: String,
    datastore_id: Option<String>,
    created_at: Option<f64>,
    #[serde(flatten)]
    store: CreateFhirDatastoreRequest,
}

fn parse_account(account: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(account).map_err(|err| ApiError::validation(format!("Account: {err}")))
}

/// The account named, or the default one.
fn account_or_default(state: &Inner, account: Option<&str>) -> Result<String, ApiError> {
    match account {
        Some(account) => parse_account(account).map(|id| id.as_str().to_owned()),
        None => Ok(state.iam.default_account().to_owned()),
    }
}

async fn create_store(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    let request: CreateStoreRequest = match parse_body(&body) {
        Ok(request) => request,
        Err(err) => return refuse(err),
    };
    if !crate::auth::is_region_name(&request.region) {
        return refuse(ApiError::validation(format!(
            "Region {:?} is not a region name",
            request.region
        )));
    }
    let chosen = request
        .datastore_id
        .map(crate::model::datastore_id)
        .transpose();
    let new = match chosen
        .and_then(|id| NewDatastore::try_from(request.store).map(|new| NewDatastore { id, ..new }))
    {
        Ok(new) => new,
        Err(err) => return refuse(err),
    };
    let mut state = emulator.lock();
    let account = match account_or_default(&state, request.account.as_deref()) {
        Ok(account) => account,
        Err(err) => return refuse(err),
    };
    let now = state.clock.now();
    let created_at = match request
        .created_at
        .map(|seconds| created_at(seconds, now, new.client_token.is_some()))
        .transpose()
    {
        Ok(created_at) => created_at,
        Err(err) => return refuse(err),
    };
    let at = Scope {
        account: &account,
        region: &request.region,
    };
    let id = match state.registry.create(at, new, now) {
        Ok((store, _)) => store.id.clone(),
        Err(err) => return refuse(err),
    };
    if let Some(created_at) = created_at
        && let Some(found) = state.registry.find_anywhere_mut(&id)
    {
        found.store.created_at = created_at;
    }
    let (store, status_now) = match state.registry.get(at, &id, now) {
        Ok(created) => created,
        Err(err) => return refuse(err),
    };
    tracing::info!(
        region = at.region,
        account = at.account,
        datastore_id = store.id,
        "data store created through the admin route"
    );
    ok(StoreResponse {
        account: at.account,
        region: at.region,
        datastore_properties: store.properties(status_now),
    })
}

/// The `CreatedAt` of an admin creation: whole milliseconds, as a store
/// created through the API has, no later than `now`.
fn created_at(
    seconds: f64,
    now: chrono::DateTime<chrono::Utc>,
    client_token: bool,
) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    if client_token {
        return Err(ApiError::validation(
            "CreatedAt cannot be combined with ClientToken: a repeated request would change the creation time of the store it names",
        ));
    }
    let millis = seconds * 1000.0;
    let at = (millis.is_finite() && millis.abs() < 1e15)
        .then(|| chrono::DateTime::from_timestamp_millis(millis.round() as i64))
        .flatten()
        .ok_or_else(|| {
            ApiError::validation(format!(
                "CreatedAt {seconds} is not a time in epoch seconds"
            ))
        })?;
    if at > now {
        return Err(ApiError::validation(format!(
            "CreatedAt {} is after the emulator's now {}",
            at.to_rfc3339_opts(SecondsFormat::Millis, true),
            now.to_rfc3339_opts(SecondsFormat::Millis, true)
        )));
    }
    Ok(at)
}

async fn force_status(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let request: ForceStatusRequest = match parse_body(&body) {
        Ok(request) => request,
        Err(err) => return refuse(err),
    };
    if request.datastore_status.is_empty() {
        return refuse(ApiError::validation("DatastoreStatus must not be empty"));
    }
    let status_now = StatusNow {
        status: DatastoreStatus::from_wire(request.datastore_status),
        error_cause: request.error_cause,
    };
    let mut state = emulator.lock();
    let Some(found) = state.registry.find_anywhere_mut(&id) else {
        return refuse(ApiError::not_found(format!(
            "Datastore {id} does not exist in any account or region"
        )));
    };
    tracing::info!(
        region = found.region,
        account = found.account,
        datastore_id = id,
        status = status_now.status.as_str(),
        "status forced"
    );
    found.store.lifecycle.force(status_now.clone());
    ok(StoreResponse {
        account: found.account,
        region: found.region,
        datastore_properties: found.store.properties(status_now),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct FaultRequest {
    operation: Option<String>,
    /// An error code the operation can answer.
    error: Option<String>,
    /// An HTTP error from in front of the service.
    http: Option<HttpFaultRequest>,
    /// `reset` or `truncate`.
    connection: Option<String>,
    /// How many calls fail; 1 when absent.
    count: Option<u32>,
    /// How many matching calls pass before the first that fails; 0 when absent.
    after: Option<u32>,
    /// Only calls signed for this region fail; every region when absent.
    region: Option<String>,
    /// Only calls with credentials of this account fail; every account when absent.
    account: Option<String>,
    message: Option<String>,
    latency_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct HttpFaultRequest {
    /// 500, 502, 503 or 504; 503 when absent.
    status: Option<u16>,
    /// `aws` or `html`; `aws` when absent.
    body: Option<String>,
}

/// `a, b or c`
fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.into_iter().collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

impl FaultRequest {
    fn fault(&self) -> Result<Option<Fault>, ApiError> {
        let kinds = [
            self.error.is_some(),
            self.http.is_some(),
            self.connection.is_some(),
        ]
        .into_iter()
        .filter(|given| *given)
        .count();
        let Some(operation) = &self.operation else {
            if kinds > 0
                || self.count.is_some()
                || self.after.is_some()
                || self.region.is_some()
                || self.account.is_some()
                || self.message.is_some()
            {
                return Err(ApiError::validation(
                    "A fault needs an Operation, and Error, Http or Connection; \
                     Count, After, Region, Account and Message belong to a fault",
                ));
            }
            return Ok(None);
        };
        if kinds != 1 {
            return Err(ApiError::validation(
                "A fault needs an Operation and exactly one of Error, Http and Connection",
            ));
        }
        let operation = Operation::from_name(operation).ok_or_else(|| {
            ApiError::validation(format!(
                "Unknown Operation {operation:?}; one of {}",
                one_of(Operation::ALL.iter().map(|op| op.name()))
            ))
        })?;
        let kind = if let Some(error) = &self.error {
            FaultKind::Error(error_of(operation, error)?)
        } else if let Some(http) = &self.http {
            http.kind()?
        } else {
            let name = self.connection.as_deref().unwrap_or_default();
            FaultKind::Connection(ConnectionFault::from_name(name).ok_or_else(|| {
                ApiError::validation(format!(
                    "Unknown Connection {name:?}; one of {}",
                    one_of(ConnectionFault::ALL.iter().map(|fault| fault.name()))
                ))
            })?)
        };
        let carries_message = matches!(
            kind,
            FaultKind::Error(_)
                | FaultKind::Http {
                    body: HttpBody::Aws,
                    ..
                }
        );
        if self.message.is_some() && !carries_message {
            return Err(ApiError::validation(
                "Message is the message of an Error or of an Http fault's aws body; \
                 an HTML page or a cut connection has none",
            ));
        }
        let remaining = self.count.unwrap_or(1);
        if remaining == 0 {
            return Err(ApiError::validation("Count must be at least 1"));
        }
        let account = self.account.as_deref().map(parse_account).transpose()?;
        Ok(Some(Fault {
            operation,
            kind,
            remaining,
            after: self.after.unwrap_or(0),
            region: self.region.clone(),
            account: account.map(|id| id.as_str().to_owned()),
            message: self.message.clone(),
        }))
    }
}

/// The error `name` if `operation` can answer it: listed for it in the
/// service model, or answered by AWS for any operation.
fn error_of(operation: Operation, name: &str) -> Result<ErrorCode, ApiError> {
    let allowed = control::injectable_errors(operation);
    let allowed_names = || one_of(allowed.iter().map(|code| code.as_str()));
    match ErrorCode::from_name(name) {
        Some(code) if allowed.contains(&code) => Ok(code),
        Some(_) => Err(ApiError::validation(format!(
            "{} cannot answer {name}: its errors in the service model, and those AWS answers \
             for any operation, are {}",
            operation.name(),
            allowed_names()
        ))),
        None => Err(ApiError::validation(format!(
            "Unknown Error {name:?}; {} answers {}",
            operation.name(),
            allowed_names()
        ))),
    }
}

impl HttpFaultRequest {
    fn kind(&self) -> Result<FaultKind, ApiError> {
        let code = self.status.unwrap_or(503);
        let status = HTTP_STATUSES
            .contains(&code)
            .then(|| StatusCode::from_u16(code).ok())
            .flatten()
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "Http Status {code} is not one of {}",
                    HTTP_STATUSES.map(|code| code.to_string()).join(", ")
                ))
            })?;
        let name = self.body.as_deref().unwrap_or(HttpBody::Aws.name());
        let body = HttpBody::from_name(name).ok_or_else(|| {
            ApiError::validation(format!(
                "Unknown Http Body {name:?}; one of {}",
                one_of(HttpBody::ALL.iter().map(|body| body.name()))
            ))
        })?;
        Ok(FaultKind::Http { status, body })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct HttpView {
    status: u16,
    body: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct FaultView<'a> {
    operation: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    http: Option<HttpView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    connection: Option<&'static str>,
    remaining: u32,
    #[serde(skip_serializing_if = "is_zero")]
    after: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl<'a> From<&'a Fault> for FaultView<'a> {
    fn from(fault: &'a Fault) -> FaultView<'a> {
        let (error, http, connection) = match fault.kind {
            FaultKind::Error(code) => (Some(code.as_str()), None, None),
            FaultKind::Http { status, body } => (
                None,
                Some(HttpView {
                    status: status.as_u16(),
                    body: body.name(),
                }),
                None,
            ),
            FaultKind::Connection(cut) => (None, None, Some(cut.name())),
        };
        FaultView {
            operation: fault.operation.name(),
            error,
            http,
            connection,
            remaining: fault.remaining,
            after: fault.after,
            region: fault.region.as_deref(),
            account: fault.account.as_deref(),
            message: fault.message.as_deref(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct FaultsResponse<'a> {
    faults: Vec<FaultView<'a>>,
    latency_ms: u128,
}

fn faults_response(state: &Inner) -> Response {
    let faults = state.faults.pending().iter().map(FaultView::from).collect();
    ok(FaultsResponse {
        faults,
        latency_ms: state.latency.as_millis(),
    })
}

async fn add_faults(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    let request: FaultRequest = match parse_body(&body) {
        Ok(request) => request,
        Err(err) => return refuse(err),
    };
    let fault = match request.fault() {
        Ok(fault) => fault,
        Err(err) => return refuse(err),
    };
    if fault.is_none() && request.latency_ms.is_none() {
        return refuse(ApiError::validation(
            "Give a fault (Operation with Error, Http or Connection), or LatencyMs, or both",
        ));
    }
    let mut state = emulator.lock();
    if let Some(fault) = fault {
        tracing::info!(
            operation = fault.operation.name(),
            kind = ?fault.kind,
            count = fault.remaining,
            after = fault.after,
            "fault queued"
        );
        state.faults.add(fault);
    }
    if let Some(latency_ms) = request.latency_ms {
        state.latency = Duration::from_millis(latency_ms);
    }
    faults_response(&state)
}

async fn show_faults(State(emulator): State<Arc<Emulator>>) -> Response {
    faults_response(&emulator.lock())
}

async fn calls(State(emulator): State<Arc<Emulator>>) -> Response {
    ok(emulator.lock().calls.report())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RoleRuleRequest {
    role_arn: String,
    #[serde(default)]
    deny: bool,
    external_id: Option<String>,
    /// Seconds; IAM's default of an hour when absent.
    max_session_duration: Option<u32>,
}

impl RoleRuleRequest {
    fn rule(self) -> Result<(RoleArn, RoleRule), ApiError> {
        let arn = RoleArn::parse(&self.role_arn).map_err(ApiError::validation)?;
        if let Some(id) = &self.external_id
            && (!EXTERNAL_ID_CHARS.contains(&id.chars().count()) || !is_external_id(id))
        {
            return Err(ApiError::validation(format!(
                "ExternalId must be {} to {} characters of [\\w+=,.@:/-], not {id:?}",
                EXTERNAL_ID_CHARS.start(),
                EXTERNAL_ID_CHARS.end()
            )));
        }
        let max_session_seconds = self
            .max_session_duration
            .unwrap_or(RoleRule::default().max_session_seconds);
        if !MAX_SESSION_SECONDS.contains(&max_session_seconds) {
            return Err(ApiError::validation(format!(
                "MaxSessionDuration must be between {} and {} seconds",
                MAX_SESSION_SECONDS.start(),
                MAX_SESSION_SECONDS.end()
            )));
        }
        let rule = RoleRule {
            deny: self.deny,
            external_id: self.external_id,
            max_session_seconds,
        };
        Ok((arn, rule))
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct RoleView<'a> {
    role_arn: &'a str,
    account: &'a str,
    deny: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
    max_session_duration: u32,
    /// AssumeRole calls that got credentials.
    assume_role_allowed: u64,
    /// AssumeRole calls answered AccessDenied.
    assume_role_denied: u64,
}

impl<'a> From<&'a Role> for RoleView<'a> {
    fn from(role: &'a Role) -> RoleView<'a> {
        RoleView {
            role_arn: role.arn.as_str(),
            account: role.arn.account().as_str(),
            deny: role.rule.deny,
            external_id: role.rule.external_id.as_deref(),
            max_session_duration: role.rule.max_session_seconds,
            assume_role_allowed: role.allowed,
            assume_role_denied: role.denied,
        }
    }
}

async fn set_role(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    let rule = parse_body::<RoleRuleRequest>(&body).and_then(RoleRuleRequest::rule);
    let (arn, rule) = match rule {
        Ok(rule) => rule,
        Err(err) => return refuse(err),
    };
    let mut state = emulator.lock();
    let role = state.iam.set_rule(arn, rule);
    tracing::info!(
        role_arn = role.arn.as_str(),
        deny = role.rule.deny,
        external_id = role.rule.external_id.is_some(),
        "role rule set"
    );
    ok(RoleView::from(role))
}

async fn show_roles(State(emulator): State<Arc<Emulator>>) -> Response {
    let state = emulator.lock();
    let roles: Vec<RoleView<'_>> = state.iam.roles().map(RoleView::from).collect();
    ok(serde_json::json!({ "Roles": roles }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AccountRequest {
    account: String,
    suspended: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct AccountView<'a> {
    account: &'a str,
    suspended: bool,
    /// How many stores it holds per region, deleted ones included.
    datastores: BTreeMap<&'a str, usize>,
}

/// Stores per account, then per region.
type StoreCounts<'a> = BTreeMap<&'a str, BTreeMap<&'a str, usize>>;

fn account_view<'a>(
    state: &'a Inner,
    counts: &StoreCounts<'a>,
    account: &'a str,
) -> AccountView<'a> {
    AccountView {
        account,
        suspended: state.iam.is_suspended(account),
        datastores: counts.get(account).cloned().unwrap_or_default(),
    }
}

async fn set_account(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    let request: AccountRequest = match parse_body(&body) {
        Ok(request) => request,
        Err(err) => return refuse(err),
    };
    let account = match parse_account(&request.account) {
        Ok(account) => account,
        Err(err) => return refuse(err),
    };
    let mut state = emulator.lock();
    state.iam.suspend(&account, request.suspended);
    tracing::info!(
        account = account.as_str(),
        suspended = request.suspended,
        "account suspension set"
    );
    ok(account_view(
        &state,
        &state.registry.counts(),
        account.as_str(),
    ))
}

async fn show_accounts(State(emulator): State<Arc<Emulator>>) -> Response {
    let state = emulator.lock();
    let counts = state.registry.counts();
    let known: BTreeSet<&str> = state
        .iam
        .known_accounts()
        .into_iter()
        .chain(counts.keys().copied())
        .collect();
    let accounts: Vec<AccountView<'_>> = known
        .into_iter()
        .map(|account| account_view(&state, &counts, account))
        .collect();
    ok(serde_json::json!({
        "DefaultAccount": state.iam.default_account(),
        "Accounts": accounts,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ExpireRequest {
    access_key_id: Option<String>,
    role_arn: Option<String>,
}

impl ExpireRequest {
    fn issued(self) -> Result<Issued, ApiError> {
        match (self.access_key_id, self.role_arn) {
            (Some(key), None) => Ok(Issued::Key(key)),
            (None, Some(arn)) => RoleArn::parse(&arn)
                .map(Issued::Role)
                .map_err(|err| ApiError::validation(format!("RoleArn: {err}"))),
            _ => Err(ApiError::validation("name either AccessKeyId or RoleArn")),
        }
    }
}

async fn expire_credentials(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    let issued = match parse_body::<ExpireRequest>(&body).and_then(ExpireRequest::issued) {
        Ok(issued) => issued,
        Err(err) => return refuse(err),
    };
    // Expiry is read on the wall clock, as clients read Expiration.
    let expired = emulator.lock().iam.expire(&issued, chrono::Utc::now());
    if expired.is_empty() {
        return refuse(ApiError::not_found(format!(
            "no credentials were issued for {issued:?}"
        )));
    }
    tracing::info!(count = expired.len(), "credentials expired");
    ok(serde_json::json!({ "Expired": expired }))
}

async fn reset(State(emulator): State<Arc<Emulator>>) -> Response {
    emulator.lock().reset();
    tracing::info!("emulator reset");
    ok(serde_json::json!({}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct AdvanceRequest {
    advance_seconds: u64,
}

impl AdvanceRequest {
    fn by(&self) -> TimeDelta {
        // More than i64::MAX milliseconds is past the clock's limit anyway.
        i64::try_from(self.advance_seconds)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .unwrap_or(TimeDelta::MAX)
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ClockResponse {
    now: String,
    offset_seconds: i64,
}

fn clock_response(clock: &Clock) -> Response {
    ok(ClockResponse {
        now: clock.now().to_rfc3339_opts(SecondsFormat::Millis, true),
        offset_seconds: clock.offset().num_seconds(),
    })
}

async fn advance_clock(State(emulator): State<Arc<Emulator>>, body: Bytes) -> Response {
    let request: AdvanceRequest = match parse_body(&body) {
        Ok(request) => request,
        Err(err) => return refuse(err),
    };
    let mut state = emulator.lock();
    if let Err(err) = state.clock.advance(request.by()) {
        return refuse(ApiError::validation(format!(
            "AdvanceSeconds {}: {err}",
            request.advance_seconds
        )));
    }
    tracing::info!(
        advance_seconds = request.advance_seconds,
        offset_seconds = state.clock.offset().num_seconds(),
        "clock advanced"
    );
    clock_response(&state.clock)
}

async fn show_clock(State(emulator): State<Arc<Emulator>>) -> Response {
    clock_response(&emulator.lock().clock)
}

async fn health(State(emulator): State<Arc<Emulator>>) -> Response {
    let now = emulator.lock().clock.now();
    ok(serde_json::json!({ "Status": "ok", "Time": now.timestamp() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(json: &str) -> FaultRequest {
        parse_body(json.as_bytes()).unwrap()
    }

    #[test]
    fn fault_requests_name_an_operation_and_an_error() {
        let fault = request(r#"{"Operation": "ListFHIRDatastores", "Error": "ThrottlingException", "Count": 3, "Region": "us-east-2"}"#)
            .fault()
            .unwrap()
            .unwrap();
        assert_eq!(fault.operation, Operation::ListFhirDatastores);
        assert_eq!(fault.kind, FaultKind::Error(ErrorCode::Throttling));
        assert_eq!(fault.remaining, 3);
        assert_eq!(fault.region.as_deref(), Some("us-east-2"));

        let one = request(r#"{"Operation": "TagResource", "Error": "ResourceNotFoundException"}"#)
            .fault()
            .unwrap()
            .unwrap();
        assert_eq!(one.remaining, 1);
        assert_eq!(request(r#"{"LatencyMs": 5}"#).fault(), Ok(None));
    }

    #[test]
    fn malformed_fault_requests_are_refused() {
        for json in [
            r#"{"Operation": "ListFHIRDatastores"}"#,
            r#"{"Error": "ThrottlingException"}"#,
            r#"{"Operation": "ListDatastores", "Error": "ThrottlingException"}"#,
            r#"{"Operation": "ListFHIRDatastores", "Error": "Throttled"}"#,
            r#"{"Operation": "ListFHIRDatastores", "Error": "ThrottlingException", "Count": 0}"#,
            r#"{"Count": 2}"#,
        ] {
            assert!(request(json).fault().is_err(), "{json}");
        }
        assert!(parse_body::<FaultRequest>(br#"{"operation": "x"}"#).is_err());
    }

    #[test]
    fn an_error_the_operation_cannot_answer_is_refused_naming_what_it_can() {
        let err = request(r#"{"Operation": "ListFHIRDatastores", "Error": "ConflictException"}"#)
            .fault()
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Validation);
        assert_eq!(
            err.message(),
            "ListFHIRDatastores cannot answer ConflictException: its errors in the service \
             model, and those AWS answers for any operation, are ValidationException, \
             ThrottlingException, InternalServerException, AccessDeniedException, \
             MissingAuthenticationTokenException, UnrecognizedClientException, \
             InvalidSignatureException, IncompleteSignatureException or ExpiredTokenException"
        );
        for json in [
            r#"{"Operation": "TagResource", "Error": "InternalServerException"}"#,
            r#"{"Operation": "CreateFHIRDatastore", "Error": "ResourceNotFoundException"}"#,
            r#"{"Operation": "DescribeFHIRDatastore", "Error": "UnknownOperationException"}"#,
            r#"{"Operation": "ListFHIRDatastores", "Error": "SerializationException"}"#,
        ] {
            let err = request(json).fault().unwrap_err();
            assert!(err.message().contains("cannot answer"), "{json}: {err}");
        }
        for (operation, error) in [
            ("ListTagsForResource", "ExpiredTokenException"),
            ("TagResource", "ThrottlingException"),
            ("DeleteFHIRDatastore", "ConflictException"),
            ("DescribeFHIRDatastore", "AccessDeniedException"),
        ] {
            let json = format!(r#"{{"Operation": "{operation}", "Error": "{error}"}}"#);
            assert!(request(&json).fault().is_ok(), "{json}");
        }
    }

    #[test]
    fn http_and_connection_faults_have_their_own_members() {
        let fault = |json: &str| request(json).fault().unwrap().unwrap();
        assert_eq!(
            fault(r#"{"Operation": "ListFHIRDatastores", "Http": {}}"#).kind,
            FaultKind::Http {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body: HttpBody::Aws
            }
        );
        let html = fault(
            r#"{"Operation": "ListFHIRDatastores", "Http": {"Status": 504, "Body": "html"}, "Count": 4}"#,
        );
        assert_eq!(
            html.kind,
            FaultKind::Http {
                status: StatusCode::GATEWAY_TIMEOUT,
                body: HttpBody::Html
            }
        );
        assert_eq!(html.remaining, 4);
        assert_eq!(
            fault(r#"{"Operation": "TagResource", "Connection": "reset"}"#).kind,
            FaultKind::Connection(ConnectionFault::Reset)
        );
        let cut =
            fault(r#"{"Operation": "ListFHIRDatastores", "Connection": "truncate", "After": 2}"#);
        assert_eq!(cut.kind, FaultKind::Connection(ConnectionFault::Truncate));
        assert_eq!(cut.after, 2);
        for json in [
            r#"{"Operation": "ListFHIRDatastores", "Http": {"Status": 404}}"#,
            r#"{"Operation": "ListFHIRDatastores", "Http": {"Body": "xml"}}"#,
            r#"{"Operation": "ListFHIRDatastores", "Http": {"Body": "html"}, "Message": "down"}"#,
            r#"{"Operation": "ListFHIRDatastores", "Connection": "close"}"#,
            r#"{"Operation": "ListFHIRDatastores", "Connection": "reset", "Message": "x"}"#,
            r#"{"Operation": "ListFHIRDatastores", "Connection": "reset", "Error": "ThrottlingException"}"#,
            r#"{"Operation": "ListFHIRDatastores", "Http": {}, "Connection": "reset"}"#,
            r#"{"Connection": "reset"}"#,
            r#"{"After": 1}"#,
        ] {
            assert!(request(json).fault().is_err(), "{json}");
        }
        assert!(
            parse_body::<FaultRequest>(
                br#"{"Operation": "ListFHIRDatastores", "Http": {"Code": 503}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn faults_may_name_an_account_of_twelve_digits() {
        let fault = request(r#"{"Operation": "ListFHIRDatastores", "Error": "ThrottlingException", "Account": "210987654321"}"#)
            .fault()
            .unwrap()
            .unwrap();
        assert_eq!(fault.account.as_deref(), Some("210987654321"));
        for json in [
            r#"{"Operation": "ListFHIRDatastores", "Error": "ThrottlingException", "Account": "2109"}"#,
            r#"{"Account": "210987654321"}"#,
        ] {
            assert!(request(json).fault().is_err(), "{json}");
        }
    }

    #[test]
    fn expiry_requests_name_a_key_or_a_role() {
        let issued = |json: &str| parse_body::<ExpireRequest>(json.as_bytes())?.issued();
        assert_eq!(
            issued(r#"{"AccessKeyId": "ASIAKEY"}"#),
            Ok(Issued::Key("ASIAKEY".into()))
        );
        assert!(matches!(
            issued(r#"{"RoleArn": "arn:aws:iam::210987654321:role/Reader"}"#),
            Ok(Issued::Role(_))
        ));
        for bad in [
            "{}",
            r#"{"AccessKeyId": "A", "RoleArn": "arn:aws:iam::210987654321:role/Reader"}"#,
            r#"{"RoleArn": "Reader"}"#,
            r#"{"Key": "A"}"#,
        ] {
            assert!(issued(bad).is_err(), "{bad}");
        }
    }

    fn rule(json: &str) -> Result<(RoleArn, RoleRule), ApiError> {
        parse_body::<RoleRuleRequest>(json.as_bytes()).and_then(RoleRuleRequest::rule)
    }

    #[test]
    fn role_rules_name_a_role_and_default_to_allowing_it() {
        let (arn, plain) = rule(r#"{"RoleArn": "arn:aws:iam::210987654321:role/Reader"}"#).unwrap();
        assert_eq!(arn.account().as_str(), "210987654321");
        assert_eq!(plain, RoleRule::default());
        let (_, strict) = rule(
            r#"{"RoleArn": "arn:aws:iam::210987654321:role/Reader", "Deny": true, "ExternalId": "tenant-7", "MaxSessionDuration": 43200}"#,
        )
        .unwrap();
        assert_eq!(
            strict,
            RoleRule {
                deny: true,
                external_id: Some("tenant-7".into()),
                max_session_seconds: 43_200,
            }
        );
        for json in [
            r#"{}"#,
            r#"{"RoleArn": "arn:aws:iam::210987654321:user/Reader"}"#,
            r#"{"RoleArn": "arn:aws:iam::210987654321:role/Reader", "ExternalId": "x"}"#,
            r#"{"RoleArn": "arn:aws:iam::210987654321:role/Reader", "ExternalId": "with space"}"#,
            r#"{"RoleArn": "arn:aws:iam::210987654321:role/Reader", "MaxSessionDuration": 900}"#,
            r#"{"RoleArn": "arn:aws:iam::210987654321:role/Reader", "Deny": "yes"}"#,
            r#"{"RoleArn": "arn:aws:iam::210987654321:role/Reader", "Allow": true}"#,
        ] {
            assert!(
                matches!(
                    rule(json).err().map(|err| err.code()),
                    Some(ErrorCode::Validation | ErrorCode::Serialization)
                ),
                "{json}"
            );
        }
    }

    #[test]
    fn clock_requests_name_a_whole_non_negative_number_of_seconds() {
        let request: AdvanceRequest = parse_body(br#"{"AdvanceSeconds": 3600}"#).unwrap();
        assert_eq!(request.by(), TimeDelta::hours(1));
        let huge: AdvanceRequest =
            parse_body(br#"{"AdvanceSeconds": 18446744073709551615}"#).unwrap();
        assert_eq!(huge.by(), TimeDelta::MAX);
        for json in [
            r#"{"AdvanceSeconds": -1}"#,
            r#"{"AdvanceSeconds": 1.5}"#,
            r#"{"AdvanceSeconds": "60"}"#,
            r#"{"Advance": 60}"#,
            r#"{}"#,
        ] {
            assert!(
                parse_body::<AdvanceRequest>(json.as_bytes()).is_err(),
                "{json}"
            );
        }
    }
}
