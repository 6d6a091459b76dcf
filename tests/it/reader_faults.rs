//! The monitor's reader (`monitor_healthlake::HealthLakeReader`, with the
//! SDK's standard retries as the Lambda loads them) against the failures
//! production meets and the service cannot script: HTTP 5xx answers with
//! AWS's body or a proxy's HTML page, connections reset or cut short, and
//! credentials expiring mid-run. What the SDK retries, and what the monitor
//! reports once a failure outlasts the retries.

use integration_tests::emulator::{ACCOUNT, Emulator};
use monitor_core::domain::{AccountId, Region, Scope};
use monitor_core::ports::{DatastoreReader as _, Listing, ReadError, ReadErrorKind};
use monitor_healthlake::HealthLakeReader;
use serde_json::{Value, json};

const REGION: &str = "us-east-1";
/// The attempts of the SDK's standard retry mode: the first and two retries.
const ATTEMPTS: u64 = 3;

/// An emulator with one store in [`REGION`], and the reader the monitor
/// builds from a configuration loaded as the Lambda loads its own.
async fn setup() -> (Emulator, HealthLakeReader, Scope) {
    let emulator = Emulator::start().await.expect("emulator starts");
    emulator
        .create_store(REGION, "patients", None)
        .await
        .expect("a store");
    let scope = Scope::new(
        AccountId::parse(ACCOUNT).expect("account"),
        Region::parse(REGION).expect("region"),
    );
    let base = emulator.base_config(REGION).await;
    let reader = HealthLakeReader::new(monitor_healthlake::clients_per_region(
        &base,
        std::slice::from_ref(&scope.region),
    ));
    (emulator, reader, scope)
}

async fn queue(emulator: &Emulator, fault: Value) {
    emulator
        .admin_post("faults", fault)
        .await
        .expect("the fault is queued");
}

/// ListFHIRDatastores calls the emulator has counted.
async fn list_calls(emulator: &Emulator) -> u64 {
    let calls = emulator.admin_get("calls").await.expect("calls");
    calls["ListFHIRDatastores"].as_u64().expect("a count")
}

async fn list(reader: &HealthLakeReader, scope: &Scope) -> Result<Listing, ReadError> {
    reader.list(scope).await
}

/// The failures the SDK's standard retry takes for transient.
fn transient_faults() -> Vec<Value> {
    vec![
        json!({"Http": {"Status": 503, "Body": "aws"}}),
        json!({"Http": {"Status": 500, "Body": "html"}}),
        json!({"Http": {"Status": 502, "Body": "html"}}),
        json!({"Http": {"Status": 504, "Body": "aws"}}),
        json!({"Connection": "reset"}),
        json!({"Connection": "truncate"}),
    ]
}

fn with(fault: &Value, members: Value) -> Value {
    let mut fault = fault.clone();
    fault["Operation"] = json!("ListFHIRDatastores");
    for (key, value) in members.as_object().into_iter().flatten() {
        fault[key] = value.clone();
    }
    fault
}

#[tokio::test]
async fn one_5xx_reset_or_cut_short_answer_is_retried_by_the_sdk_and_the_scan_succeeds() {
    let (emulator, reader, scope) = setup().await;
    for fault in transient_faults() {
        let before = list_calls(&emulator).await;
        queue(&emulator, with(&fault, json!({"Count": 1}))).await;
        let listing = list(&reader, &scope)
            .await
            .unwrap_or_else(|err| panic!("{fault}: {err}"));
        assert_eq!(listing.observations.len(), 1, "{fault}");
        assert_eq!(
            list_calls(&emulator).await - before,
            2,
            "{fault}: the failed attempt and its retry"
        );
    }
}

/// Fails the listing past the SDK's retries with `fault`: the reader's error
/// after [`ATTEMPTS`] calls, which must be one line naming the region.
async fn outlasting(fault: &Value) -> ReadError {
    let (emulator, reader, scope) = setup().await;
    queue(&emulator, with(fault, json!({"Count": 10}))).await;
    let err = list(&reader, &scope)
        .await
        .expect_err("the fault outlasts the retries");
    assert_eq!(list_calls(&emulator).await, ATTEMPTS, "{fault}: {err}");
    let line = err.to_string();
    assert!(!line.contains('\n'), "{fault}: one line: {line}");
    assert!(line.contains(REGION), "{fault}: {line}");
    err
}

#[tokio::test]
async fn a_service_unavailable_past_the_retries_is_reported_with_its_code() {
    let err = outlasting(&json!({"Http": {"Status": 503, "Body": "aws"}})).await;
    assert_eq!(err.kind, ReadErrorKind::Other, "{err}");
    assert_eq!(
        err.message,
        "ServiceUnavailableException: Service Unavailable"
    );
}

#[tokio::test]
async fn an_html_page_past_the_retries_is_an_invalid_response_that_never_quotes_the_page() {
    for status in [502, 503] {
        let err = outlasting(&json!({"Http": {"Status": status, "Body": "html"}})).await;
        assert_eq!(err.kind, ReadErrorKind::InvalidResponse, "{err}");
        assert_eq!(
            err.message,
            format!("HealthLake answered HTTP {status} with a text/html body, not an AWS error")
        );
    }
}

#[tokio::test]
async fn a_connection_reset_past_the_retries_is_unreachable() {
    let err = outlasting(&json!({"Connection": "reset"})).await;
    assert_eq!(err.kind, ReadErrorKind::Unreachable, "{err}");
    assert!(err.message.contains("connection"), "{err}");
}

#[tokio::test]
async fn a_response_cut_short_past_the_retries_is_an_invalid_response() {
    let err = outlasting(&json!({"Connection": "truncate"})).await;
    assert_eq!(err.kind, ReadErrorKind::InvalidResponse, "{err}");
    assert!(!err.message.contains("DatastorePropertiesList"), "{err}");
}

#[tokio::test]
async fn credentials_expiring_mid_run_are_expired_credentials_and_not_retried() {
    let (emulator, reader, scope) = setup().await;
    queue(
        &emulator,
        json!({"Operation": "ListFHIRDatastores", "Error": "ExpiredTokenException", "After": 2}),
    )
    .await;
    for _ in 0..2 {
        list(&reader, &scope)
            .await
            .expect("the calls before the expiry pass");
    }
    let err = list(&reader, &scope)
        .await
        .expect_err("the third call meets the expiry");
    assert_eq!(err.kind, ReadErrorKind::ExpiredCredentials, "{err}");
    assert_eq!(
        err.message,
        "ExpiredTokenException: The security token included in the request is expired"
    );
    assert_eq!(
        list_calls(&emulator).await,
        3,
        "the SDK does not retry an expired token"
    );
    assert_eq!(
        list(&reader, &scope)
            .await
            .expect("then passes")
            .observations
            .len(),
        1
    );
}

#[tokio::test]
async fn an_error_the_operation_cannot_answer_is_refused_by_the_admin_route() {
    let emulator = Emulator::start().await.expect("emulator starts");
    let (status, body) = emulator
        .admin(
            reqwest::Method::POST,
            "faults",
            Some(json!({"Operation": "ListFHIRDatastores", "Error": "ConflictException"})),
        )
        .await
        .expect("admin request");
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("ListFHIRDatastores cannot answer ConflictException")
            && message.contains("ThrottlingException")
            && message.contains("ExpiredTokenException"),
        "{body}"
    );
    let pending = emulator.admin_get("faults").await.expect("faults");
    assert_eq!(pending["Faults"], json!([]), "nothing queued: {pending}");
}
