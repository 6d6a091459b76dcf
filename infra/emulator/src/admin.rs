//! `/_emulator/...`: unsigned JSON routes that script the emulator from tests.
//!
//! - `POST /_emulator/datastores/{id}/status` forces a status (and error cause)
//!   on a store of any region; it then stays until the store is deleted.
//! - `POST /_emulator/faults` queues errors for the next calls of an operation,
//!   and/or sets a latency added to every call; `GET` shows what is pending.
//! - `GET /_emulator/calls` counts calls per operation and per region.
//! - `POST /_emulator/clock` `{"AdvanceSeconds": N}` moves the emulator's
//!   [clock](crate::clock) N seconds forward, and `GET` shows it: `{"Now":
//!   "<RFC 3339>", "OffsetSeconds": <ahead of the wall clock>}`. Every status
//!   and creation time is read from that clock, so a store created, deleted or
//!   failing settles once the clock has moved past the transition delay,
//!   without waiting for it.
//! - `POST /_emulator/reset` forgets stores, faults, latency and counts, and
//!   sets the clock back to wall time.
//! - `GET /_emulator/health` answers once the emulator serves.

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
use crate::control::Fault;
use crate::model::{DatastoreStatus, ErrorCause, StatusNow};
use crate::protocol::{ApiError, ErrorCode, Operation, parse_body};
use crate::state::{Emulator, Inner};
use crate::wire::DatastoreProperties;

pub fn routes() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/datastores/{id}/status", post(force_status))
        .route("/faults", post(add_faults).get(show_faults))
        .route("/calls", get(calls))
        .route("/clock", post(advance_clock).get(show_clock))
        .route("/reset", post(reset))
        .route("/health", get(health))
}

fn ok<T: Serialize>(body: T) -> Response {
    Json(body).into_response()
}

/// Admin errors have the shape of API errors, with 404 for an unknown store.
fn refuse(err: ApiError) -> Response {
    let status = match err.code() {
        ErrorCode::ResourceNotFound => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = serde_json::json!({ "__type": err.code().as_str(), "message": err.message() });
    (status, Json(body)).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct ForceStatusRequest {
    datastore_status: String,
    /// Absent or null clears the cause.
    error_cause: Option<ErrorCause>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ForceStatusResponse<'a> {
    region: &'a str,
    datastore_properties: DatastoreProperties,
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
    let Some((region, store)) = state.registry.find_anywhere_mut(&id) else {
        return refuse(ApiError::not_found(format!(
            "Datastore {id} does not exist in any region"
        )));
    };
    tracing::info!(
        region,
        datastore_id = id,
        status = status_now.status.as_str(),
        "status forced"
    );
    store.lifecycle.force(status_now.clone());
    ok(ForceStatusResponse {
        region,
        datastore_properties: store.properties(status_now),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct FaultRequest {
    operation: Option<String>,
    error: Option<String>,
    /// How many calls fail; 1 when absent.
    count: Option<u32>,
    /// Only calls signed for this region fail; every region when absent.
    region: Option<String>,
    message: Option<String>,
    latency_ms: Option<u64>,
}

impl FaultRequest {
    fn fault(&self) -> Result<Option<Fault>, ApiError> {
        let (operation, error) = match (&self.operation, &self.error) {
            (None, None) => {
                if self.count.is_some() || self.region.is_some() || self.message.is_some() {
                    return Err(ApiError::validation(
                        "Count, Region and Message need Operation and Error",
                    ));
                }
                return Ok(None);
            }
            (Some(operation), Some(error)) => (operation, error),
            _ => {
                return Err(ApiError::validation(
                    "A fault needs both Operation and Error",
                ));
            }
        };
        let operation = Operation::from_name(operation).ok_or_else(|| {
            let known: Vec<_> = Operation::ALL.iter().map(|op| op.name()).collect();
            ApiError::validation(format!(
                "Unknown Operation {operation:?}; one of {}",
                known.join(", ")
            ))
        })?;
        let error = ErrorCode::from_name(error).ok_or_else(|| {
            let known: Vec<_> = ErrorCode::ALL.iter().map(|code| code.as_str()).collect();
            ApiError::validation(format!(
                "Unknown Error {error:?}; one of {}",
                known.join(", ")
            ))
        })?;
        let remaining = self.count.unwrap_or(1);
        if remaining == 0 {
            return Err(ApiError::validation("Count must be at least 1"));
        }
        Ok(Some(Fault {
            operation,
            error,
            remaining,
            region: self.region.clone(),
            message: self.message.clone(),
        }))
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct FaultView<'a> {
    operation: &'static str,
    error: &'static str,
    remaining: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct FaultsResponse<'a> {
    faults: Vec<FaultView<'a>>,
    latency_ms: u128,
}

fn faults_response(state: &Inner) -> Response {
    let faults = state
        .faults
        .pending()
        .iter()
        .map(|fault| FaultView {
            operation: fault.operation.name(),
            error: fault.error.as_str(),
            remaining: fault.remaining,
            region: fault.region.as_deref(),
            message: fault.message.as_deref(),
        })
        .collect();
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
            "Give Operation and Error, or LatencyMs, or both",
        ));
    }
    let mut state = emulator.lock();
    if let Some(fault) = fault {
        tracing::info!(
            operation = fault.operation.name(),
            error = fault.error.as_str(),
            count = fault.remaining,
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
        assert_eq!(fault.error, ErrorCode::Throttling);
        assert_eq!(fault.remaining, 3);
        assert_eq!(fault.region.as_deref(), Some("us-east-2"));

        let one = request(r#"{"Operation": "TagResource", "Error": "InternalServerException"}"#)
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
