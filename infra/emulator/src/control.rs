//! What tests script from outside: injected faults, added latency, and the
//! count of calls per operation, region and account.
//!
//! An injected error is one the operation can answer: an error its entry in
//! the service model lists ([`modelled_errors`]), or one AWS answers for any
//! operation of any service ([`ANY_OPERATION`]). Failures from outside the
//! service (an HTTP error from a proxy or load balancer, a connection reset,
//! a response cut short) are faults of their own kinds.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::protocol::{ApiError, CONTENT_TYPE, ErrorCode, Operation};
use crate::sts::Action;

/// The errors AWS answers for any operation of any service (its "Common
/// Errors"): the authentication failures, the common throttle, and
/// AccessDenied of IAM's authorization, which precedes the operation.
pub const ANY_OPERATION: [ErrorCode; 7] = [
    ErrorCode::Throttling,
    ErrorCode::AccessDenied,
    ErrorCode::UnrecognizedClient,
    ErrorCode::InvalidSignature,
    ErrorCode::IncompleteSignature,
    ErrorCode::MissingAuthenticationToken,
    ErrorCode::ExpiredToken,
];

/// The errors the service model (`healthlake/2017-07-01`) lists for
/// `operation`.
pub fn modelled_errors(operation: Operation) -> &'static [ErrorCode] {
    use ErrorCode::{
        AccessDenied, Conflict, InternalServer, ResourceNotFound, Throttling, Validation,
    };
    match operation {
        Operation::CreateFhirDatastore => &[Throttling, AccessDenied, Validation, InternalServer],
        Operation::DescribeFhirDatastore => {
            &[Throttling, ResourceNotFound, Validation, InternalServer]
        }
        Operation::ListFhirDatastores => &[Throttling, Validation, InternalServer],
        Operation::DeleteFhirDatastore | Operation::UpdateFhirDatastore => &[
            Throttling,
            AccessDenied,
            ResourceNotFound,
            Conflict,
            Validation,
            InternalServer,
        ],
        Operation::TagResource | Operation::UntagResource | Operation::ListTagsForResource => {
            &[ResourceNotFound, Validation]
        }
    }
}

/// The errors a fault may inject on `operation`: the modelled ones and
/// [`ANY_OPERATION`], in the order of [`ErrorCode::ALL`].
pub fn injectable_errors(operation: Operation) -> Vec<ErrorCode> {
    ErrorCode::ALL
        .into_iter()
        .filter(|code| modelled_errors(operation).contains(code) || ANY_OPERATION.contains(code))
        .collect()
}

/// The statuses an HTTP fault may answer: what a load balancer or proxy in
/// front of a service gives when it fails.
pub const HTTP_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// The body of an HTTP fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpBody {
    /// `{"__type": "ServiceUnavailableException", "message": ...}`, as AWS
    /// answers when the service is unavailable.
    Aws,
    /// An HTML error page (`text/html`), as a proxy or load balancer gives.
    Html,
}

impl HttpBody {
    pub const ALL: [HttpBody; 2] = [HttpBody::Aws, HttpBody::Html];

    pub fn name(self) -> &'static str {
        match self {
            HttpBody::Aws => "aws",
            HttpBody::Html => "html",
        }
    }

    pub fn from_name(name: &str) -> Option<HttpBody> {
        HttpBody::ALL.into_iter().find(|body| body.name() == name)
    }
}

/// How a connection fault ends the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionFault {
    /// The connection is closed before any byte of a response.
    Reset,
    /// The status and headers, with a `Content-Length`, then fewer bytes of
    /// the body, and the connection is closed.
    Truncate,
}

impl ConnectionFault {
    pub const ALL: [ConnectionFault; 2] = [ConnectionFault::Reset, ConnectionFault::Truncate];

    pub fn name(self) -> &'static str {
        match self {
            ConnectionFault::Reset => "reset",
            ConnectionFault::Truncate => "truncate",
        }
    }

    pub fn from_name(name: &str) -> Option<ConnectionFault> {
        ConnectionFault::ALL
            .into_iter()
            .find(|fault| fault.name() == name)
    }
}

/// What a fault makes of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// An error of the service, in the AWS JSON shape.
    Error(ErrorCode),
    /// An HTTP error from in front of the service.
    Http { status: StatusCode, body: HttpBody },
    /// The connection ends without a whole response.
    Connection(ConnectionFault),
}

/// After `after` calls of `operation` (in `region` and `account`, or in any),
/// the next `remaining` ones fail as `kind` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub operation: Operation,
    pub kind: FaultKind,
    pub remaining: u32,
    /// Calls it lets pass, whatever they are answered, before its first.
    pub after: u32,
    pub region: Option<String>,
    pub account: Option<String>,
    /// The message of an error, or of an HTTP fault's AWS body.
    pub message: Option<String>,
}

/// What one call meets of a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Injected {
    Error(ApiError),
    Http {
        status: StatusCode,
        body: HttpBody,
        message: Option<String>,
    },
    Connection(ConnectionFault),
}

/// The message of a ServiceUnavailableException that names none.
const UNAVAILABLE: &str = "Service Unavailable";
/// A response body cut short: the start of a listing.
const CUT_SHORT: &[u8] = br#"{"DatastorePropertiesList": [{"DatastoreId": "#;
/// The length a cut-short response announces.
const ANNOUNCED: usize = 4096;

impl IntoResponse for Injected {
    fn into_response(self) -> Response {
        match self {
            Injected::Error(err) => err.into_response(),
            Injected::Http {
                status,
                body: HttpBody::Aws,
                message,
            } => {
                let body = serde_json::json!({
                    "__type": "ServiceUnavailableException",
                    "message": message.as_deref().unwrap_or(UNAVAILABLE),
                });
                (
                    status,
                    [(header::CONTENT_TYPE, CONTENT_TYPE)],
                    body.to_string(),
                )
                    .into_response()
            }
            Injected::Http {
                status,
                body: HttpBody::Html,
                ..
            } => (
                status,
                [(header::CONTENT_TYPE, "text/html")],
                html_page(status),
            )
                .into_response(),
            Injected::Connection(fault) => cut_off(fault),
        }
    }
}

/// The error page of a load balancer, as nginx and ELB write it.
fn html_page(status: StatusCode) -> String {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n\
         <center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
}

/// A response whose body fails: before its first byte (the server then
/// closes the connection without writing anything), or after a part of it
/// (the server writes the head and that part, then closes). The body yields
/// once between the part and the failure, so the part is written out first.
fn cut_off(fault: ConnectionFault) -> Response {
    let part: &'static [u8] = match fault {
        ConnectionFault::Reset => b"",
        ConnectionFault::Truncate => CUT_SHORT,
    };
    let cut = || std::io::Error::other("fault: the connection is cut");
    let stream = futures::stream::unfold(0u8, move |step| async move {
        match step {
            0 if part.is_empty() => Some((Err(cut()), 2)),
            0 => Some((Ok(Bytes::from_static(part)), 1)),
            1 => {
                tokio::task::yield_now().await;
                Some((Err(cut()), 2))
            }
            _ => None,
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(CONTENT_TYPE),
    );
    headers.insert(header::CONTENT_LENGTH, header::HeaderValue::from(ANNOUNCED));
    response
}

#[derive(Debug, Clone, Default)]
pub struct Faults(Vec<Fault>);

impl Faults {
    pub fn add(&mut self, fault: Fault) {
        if fault.remaining > 0 {
            self.0.push(fault);
        }
    }

    /// Consumes one failure of the first fault that applies to this call;
    /// faults that apply but still let calls pass count it.
    pub fn take(&mut self, operation: Operation, region: &str, account: &str) -> Option<Injected> {
        let applies = |fault: &Fault| {
            fault.operation == operation
                && fault.region.as_deref().is_none_or(|only| only == region)
                && fault.account.as_deref().is_none_or(|only| only == account)
        };
        let hit = self
            .0
            .iter()
            .position(|fault| applies(fault) && fault.after == 0);
        for fault in self.0.iter_mut().filter(|fault| applies(fault)) {
            fault.after = fault.after.saturating_sub(1);
        }
        let index = hit?;
        let fault = &mut self.0[index];
        let injected = match fault.kind {
            FaultKind::Error(code) => Injected::Error(ApiError::new(
                code,
                fault
                    .message
                    .clone()
                    .unwrap_or_else(|| code.default_message().to_owned()),
            )),
            FaultKind::Http { status, body } => Injected::Http {
                status,
                body,
                message: fault.message.clone(),
            },
            FaultKind::Connection(cut) => Injected::Connection(cut),
        };
        fault.remaining -= 1;
        if fault.remaining == 0 {
            self.0.remove(index);
        }
        Some(injected)
    }

    pub fn pending(&self) -> &[Fault] {
        &self.0
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// What `/_emulator/calls` counts: HealthLake operations and STS actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Call {
    HealthLake(Operation),
    Sts(Action),
}

impl Call {
    fn all() -> impl Iterator<Item = Call> {
        Operation::ALL
            .into_iter()
            .map(Call::HealthLake)
            .chain(Action::ALL.into_iter().map(Call::Sts))
    }

    pub fn name(self) -> &'static str {
        match self {
            Call::HealthLake(operation) => operation.name(),
            Call::Sts(action) => action.name(),
        }
    }
}

/// Calls per operation: every operation is listed, those not called with 0.
pub type Counts = BTreeMap<&'static str, u64>;

/// The body of `GET /_emulator/calls`: operation names at the top level, and
/// the same per region under `ByRegion` and per account under `ByAccount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallReport {
    #[serde(flatten)]
    pub total: Counts,
    #[serde(rename = "ByRegion")]
    pub by_region: BTreeMap<String, Counts>,
    #[serde(rename = "ByAccount")]
    pub by_account: BTreeMap<String, Counts>,
}

#[derive(Debug, Clone, Default)]
pub struct CallCounts {
    total: BTreeMap<Call, u64>,
    by_region: BTreeMap<String, BTreeMap<Call, u64>>,
    by_account: BTreeMap<String, BTreeMap<Call, u64>>,
}

impl CallCounts {
    /// Counts a call made in `(region, account)`; a call whose credential
    /// scope could not be read counts only in the total.
    pub fn record(&mut self, call: Call, region_and_account: Option<(&str, &str)>) {
        *self.total.entry(call).or_default() += 1;
        if let Some((region, account)) = region_and_account {
            for (key, counts) in [
                (region, &mut self.by_region),
                (account, &mut self.by_account),
            ] {
                *counts
                    .entry(key.to_owned())
                    .or_default()
                    .entry(call)
                    .or_default() += 1;
            }
        }
    }

    pub fn report(&self) -> CallReport {
        let each = |by: &BTreeMap<String, BTreeMap<Call, u64>>| {
            by.iter()
                .map(|(key, counts)| (key.clone(), named(counts)))
                .collect()
        };
        CallReport {
            total: named(&self.total),
            by_region: each(&self.by_region),
            by_account: each(&self.by_account),
        }
    }

    pub fn clear(&mut self) {
        self.total.clear();
        self.by_region.clear();
        self.by_account.clear();
    }
}

fn named(counts: &BTreeMap<Call, u64>) -> Counts {
    Call::all()
        .map(|call| (call.name(), counts.get(&call).copied().unwrap_or(0)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "123456789012";

    fn fault(remaining: u32, region: Option<&str>) -> Fault {
        Fault {
            operation: Operation::ListFhirDatastores,
            kind: FaultKind::Error(ErrorCode::Throttling),
            remaining,
            after: 0,
            region: region.map(Into::into),
            account: None,
            message: None,
        }
    }

    #[test]
    fn a_fault_fails_the_next_n_calls_of_its_operation() {
        let mut faults = Faults::default();
        faults.add(fault(2, None));
        assert_eq!(
            faults.take(Operation::DescribeFhirDatastore, "us-east-1", A),
            None
        );
        let err = faults
            .take(Operation::ListFhirDatastores, "us-east-1", A)
            .unwrap();
        assert_eq!(
            err,
            Injected::Error(ApiError::new(ErrorCode::Throttling, "Rate exceeded"))
        );
        assert!(
            faults
                .take(Operation::ListFhirDatastores, "eu-west-1", A)
                .is_some()
        );
        assert_eq!(
            faults.take(Operation::ListFhirDatastores, "us-east-1", A),
            None
        );
        assert!(faults.pending().is_empty());
    }

    #[test]
    fn a_regional_fault_spares_other_regions() {
        let mut faults = Faults::default();
        faults.add(Fault {
            message: Some("slow down".into()),
            ..fault(1, Some("us-east-2"))
        });
        assert_eq!(
            faults.take(Operation::ListFhirDatastores, "us-east-1", A),
            None
        );
        let err = faults
            .take(Operation::ListFhirDatastores, "us-east-2", A)
            .unwrap();
        assert_eq!(
            err,
            Injected::Error(ApiError::new(ErrorCode::Throttling, "slow down"))
        );
        assert_eq!(
            faults.take(Operation::ListFhirDatastores, "us-east-2", A),
            None
        );
    }

    #[test]
    fn a_fault_of_zero_calls_is_not_kept() {
        let mut faults = Faults::default();
        faults.add(fault(0, None));
        assert!(faults.pending().is_empty());
    }

    #[test]
    fn an_account_fault_spares_other_accounts() {
        let mut faults = Faults::default();
        faults.add(Fault {
            account: Some("210987654321".into()),
            ..fault(1, None)
        });
        assert_eq!(
            faults.take(Operation::ListFhirDatastores, "us-east-1", A),
            None
        );
        assert!(
            faults
                .take(Operation::ListFhirDatastores, "us-east-1", "210987654321")
                .is_some()
        );
        assert!(faults.pending().is_empty());
    }

    #[test]
    fn a_fault_after_n_calls_lets_them_pass_whatever_answers_them() {
        let mut faults = Faults::default();
        faults.add(Fault {
            kind: FaultKind::Error(ErrorCode::ExpiredToken),
            after: 2,
            ..fault(1, None)
        });
        faults.add(fault(1, None));
        // The throttle answers the first call, which the expiry counts.
        let first = faults.take(Operation::ListFhirDatastores, "us-east-1", A);
        assert!(
            matches!(&first, Some(Injected::Error(e)) if e.code() == ErrorCode::Throttling),
            "{first:?}"
        );
        assert_eq!(
            faults.take(Operation::DescribeFhirDatastore, "us-east-1", A),
            None,
            "another operation is not counted"
        );
        assert_eq!(
            faults.take(Operation::ListFhirDatastores, "us-east-1", A),
            None
        );
        let third = faults.take(Operation::ListFhirDatastores, "us-east-1", A);
        assert!(
            matches!(&third, Some(Injected::Error(e)) if e.code() == ErrorCode::ExpiredToken),
            "{third:?}"
        );
        assert!(faults.pending().is_empty());
    }

    /// Where botocore keeps the HealthLake model that the SDKs are generated
    /// from, in the repository's tool environment.
    fn service_model() -> serde_json::Value {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/lib");
        let found = std::fs::read_dir(&root).ok().and_then(|pythons| {
            pythons
                .filter_map(Result::ok)
                .map(|python| {
                    python
                        .path()
                        .join("site-packages/botocore/data/healthlake/2017-07-01/service-2.json.gz")
                })
                .find(|path| path.is_file())
        });
        let Some(path) = found else {
            panic!(
                "the HealthLake service model (botocore's healthlake/2017-07-01/service-2.json.gz) \
                 is not under {}: install the tool environment (.tools) first",
                root.display()
            );
        };
        let output = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&path)
            .output()
            .unwrap_or_else(|err| panic!("gzip -dc {}: {err}", path.display()));
        assert!(output.status.success(), "gzip -dc {}", path.display());
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()))
    }

    #[test]
    fn the_modelled_errors_of_each_operation_are_those_of_the_service_model() {
        let model = service_model();
        for operation in Operation::ALL {
            let errors = model["operations"][operation.name()]["errors"]
                .as_array()
                .unwrap_or_else(|| panic!("the model has no errors for {}", operation.name()));
            let mut listed: Vec<&str> = errors
                .iter()
                .map(|error| error["shape"].as_str().unwrap_or_default())
                .collect();
            let mut ours: Vec<&str> = modelled_errors(operation)
                .iter()
                .map(|code| code.as_str())
                .collect();
            listed.sort_unstable();
            ours.sort_unstable();
            assert_eq!(ours, listed, "{}", operation.name());
        }
    }

    #[test]
    fn an_operation_may_be_injected_its_own_errors_and_those_of_any_operation() {
        let list = injectable_errors(Operation::ListFhirDatastores);
        for code in [
            ErrorCode::Throttling,
            ErrorCode::InternalServer,
            ErrorCode::Validation,
            ErrorCode::AccessDenied,
            ErrorCode::ExpiredToken,
            ErrorCode::UnrecognizedClient,
        ] {
            assert!(list.contains(&code), "{code:?}");
        }
        for code in [
            ErrorCode::Conflict,
            ErrorCode::ResourceNotFound,
            ErrorCode::UnknownOperation,
            ErrorCode::Serialization,
        ] {
            assert!(!list.contains(&code), "{code:?}");
        }
        let tag = injectable_errors(Operation::TagResource);
        assert!(tag.contains(&ErrorCode::Throttling));
        assert!(!tag.contains(&ErrorCode::InternalServer));
        assert!(injectable_errors(Operation::DeleteFhirDatastore).contains(&ErrorCode::Conflict));
    }

    async fn body_of(response: Response) -> (StatusCode, Option<String>, String) {
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (
            status,
            content_type,
            String::from_utf8(bytes.to_vec()).unwrap(),
        )
    }

    #[tokio::test]
    async fn http_faults_answer_an_aws_body_or_an_html_page() {
        let (status, content_type, body) = body_of(
            Injected::Http {
                status: StatusCode::SERVICE_UNAVAILABLE,
                body: HttpBody::Aws,
                message: None,
            }
            .into_response(),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(content_type.as_deref(), Some(CONTENT_TYPE));
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"__type": "ServiceUnavailableException", "message": "Service Unavailable"})
        );

        let (status, content_type, body) = body_of(
            Injected::Http {
                status: StatusCode::BAD_GATEWAY,
                body: HttpBody::Html,
                message: None,
            }
            .into_response(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert_eq!(content_type.as_deref(), Some("text/html"));
        assert!(body.starts_with("<html>"), "{body}");
        assert!(body.contains("<h1>502 Bad Gateway</h1>"), "{body}");
    }

    /// What a client reads of a connection-faulted response, to the end of
    /// the connection.
    async fn read_raw(fault: ConnectionFault) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let app = axum::Router::new().route(
            "/",
            axum::routing::get(move || async move { Injected::Connection(fault) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
        socket
            .write_all(b"GET / HTTP/1.1\r\nHost: emulator\r\n\r\n")
            .await
            .unwrap();
        let mut read = Vec::new();
        // Ends when the server closes the connection (or resets it).
        let _ = socket.read_to_end(&mut read).await;
        server.abort();
        String::from_utf8_lossy(&read).into_owned()
    }

    #[tokio::test]
    async fn a_reset_closes_the_connection_without_a_byte() {
        assert_eq!(read_raw(ConnectionFault::Reset).await, "");
    }

    #[tokio::test]
    async fn a_truncated_response_announces_more_than_it_sends() {
        let read = read_raw(ConnectionFault::Truncate).await;
        let (head, body) = read.split_once("\r\n\r\n").expect("a head");
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        assert!(
            head.to_lowercase()
                .contains(&format!("content-length: {ANNOUNCED}")),
            "{head}"
        );
        assert_eq!(body.as_bytes(), CUT_SHORT);
    }

    #[test]
    fn calls_are_reported_per_operation_region_and_account() {
        const B: &str = "210987654321";
        let mut calls = CallCounts::default();
        let list = Call::HealthLake(Operation::ListFhirDatastores);
        calls.record(list, Some(("us-east-1", A)));
        calls.record(list, Some(("us-east-2", B)));
        calls.record(list, None);
        calls.record(
            Call::HealthLake(Operation::TagResource),
            Some(("us-east-1", A)),
        );
        calls.record(Call::Sts(Action::AssumeRole), Some(("us-east-1", A)));
        let report = serde_json::to_value(calls.report()).unwrap();
        assert_eq!(report["ListFHIRDatastores"], 3);
        assert_eq!(report["TagResource"], 1);
        assert_eq!(report["CreateFHIRDatastore"], 0);
        assert_eq!(report["AssumeRole"], 1);
        assert_eq!(report["GetCallerIdentity"], 0);
        assert_eq!(report["ByRegion"]["us-east-1"]["ListFHIRDatastores"], 1);
        assert_eq!(report["ByRegion"]["us-east-1"]["AssumeRole"], 1);
        assert_eq!(report["ByRegion"]["us-east-2"]["TagResource"], 0);
        assert_eq!(report["ByRegion"].as_object().unwrap().len(), 2);
        assert_eq!(report["ByAccount"][A]["ListFHIRDatastores"], 1);
        assert_eq!(report["ByAccount"][A]["TagResource"], 1);
        assert_eq!(report["ByAccount"][B]["ListFHIRDatastores"], 1);
        assert_eq!(report["ByAccount"][B]["AssumeRole"], 0);
        assert_eq!(report["ByAccount"].as_object().unwrap().len(), 2);
    }
}
