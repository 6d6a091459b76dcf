//! A fault-injecting HTTP proxy on loopback, in front of DynamoDB Local or moto.
//!
//! Every request is, by probability (a seeded generator, see [`Rates`]):
//! - answered with a throttling error, a capacity error or an internal error in
//!   the service's own shape: JSON (`__type`, `message`) for awsJson services
//!   such as DynamoDB, the XML `ErrorResponse` for awsQuery services such as SNS,
//!   chosen by the request's `Content-Type`;
//! - held past the client's attempt timeout and never forwarded;
//! - answered by closing the connection, never forwarded;
//! - forwarded, and then its answer lost (the connection closed instead): the
//!   service did the work but the client cannot know. The bodies of these
//!   requests are kept ([`FaultProxy::lost_responses`]);
//! - or forwarded as it is.
//!
//! It counts what it injected, by kind.
//!
//! It can also stand for the network between a client and the service: a
//! latency added to every request before it is handled
//! ([`FaultProxy::set_latency`]), a count of requests per operation
//! ([`FaultProxy::calls`]; the `X-Amz-Target` of JSON services such as
//! DynamoDB, the `Action` of a form body for query services such as SNS), the
//! peak of requests in flight ([`FaultProxy::peak_in_flight`]), and, when
//! asked, the bodies of every forwarded request and its answer
//! ([`FaultProxy::record_exchanges`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::campaign::rng::Rng;

/// What the proxy can do to one request instead of forwarding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// 400 `ThrottlingException` (JSON); 429 `Throttled` (XML, as SNS answers).
    Throttle,
    /// 400 `ProvisionedThroughputExceededException` (JSON); the XML services
    /// have none, so they get [`FaultKind::Throttle`]'s answer.
    CapacityExceeded,
    /// 500 `InternalServerError` (JSON); 500 `InternalError` (XML).
    InternalError,
    /// Held past the client's attempt timeout, never forwarded.
    Timeout,
    /// The connection closed without an answer, never forwarded.
    Reset,
    /// Forwarded, then the connection closed instead of answering.
    LostResponse,
    /// 400 refusing the request itself: `ValidationException` (JSON);
    /// `InvalidParameter` (XML, as SNS refuses a message it will never take).
    Refuse,
}

impl FaultKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Throttle => "throttle",
            Self::CapacityExceeded => "capacity_exceeded",
            Self::InternalError => "internal_error",
            Self::Timeout => "timeout",
            Self::Reset => "reset",
            Self::LostResponse => "lost_response",
            Self::Refuse => "refuse",
        }
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The probability of each fault per request; what is left is forwarding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rates(pub BTreeMap<FaultKind, f64>);

impl Rates {
    /// No faults: every request is forwarded.
    pub fn none() -> Self {
        Self::default()
    }

    fn choose(&self, draw: f64) -> Option<FaultKind> {
        let mut cumulative = 0.0;
        for (kind, p) in &self.0 {
            cumulative += p;
            if draw < cumulative {
                return Some(*kind);
            }
        }
        None
    }
}

struct State {
    upstream: String,
    client: reqwest::Client,
    hold: Duration,
    rng: Mutex<Rng>,
    rates: Mutex<Rates>,
    injected: Mutex<BTreeMap<FaultKind, u64>>,
    forwarded: AtomicUsize,
    in_flight: AtomicUsize,
    lost_responses: Mutex<Vec<Bytes>>,
    latency: Mutex<Duration>,
    calls: Mutex<BTreeMap<String, u64>>,
    peak_in_flight: AtomicUsize,
    /// `Some` while exchanges are recorded.
    exchanges: Mutex<Option<Vec<Exchange>>>,
}

/// A forwarded request and the service's answer, as they crossed the proxy.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// As [`FaultProxy::calls`] names it.
    pub operation: String,
    pub status: u16,
    pub request: Bytes,
    pub response: Bytes,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running proxy; it stops serving when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Serves on a free loopback port, forwarding to `upstream`
    /// (`http://127.0.0.1:PORT`). `hold` is how long a [`FaultKind::Timeout`]
    /// holds a request: longer than the client's attempt timeout. Starts with
    /// no faults.
    pub async fn start(upstream: &str, seed: u64, hold: Duration) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the fault proxy to 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .no_proxy()
                .build()
                .context("building the proxy's HTTP client")?,
            hold,
            rng: Mutex::new(Rng::new(seed)),
            rates: Mutex::new(Rates::none()),
            injected: Mutex::new(BTreeMap::new()),
            forwarded: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            lost_responses: Mutex::new(Vec::new()),
            latency: Mutex::new(Duration::ZERO),
            calls: Mutex::new(BTreeMap::new()),
            peak_in_flight: AtomicUsize::new(0),
            exchanges: Mutex::new(None),
        });
        let task = tokio::spawn(serve(listener, state.clone()));
        Ok(Self { addr, state, task })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_rates(&self, rates: Rates) {
        *lock(&self.state.rates) = rates;
    }

    /// Faults injected so far, by kind.
    pub fn injected(&self) -> BTreeMap<FaultKind, u64> {
        lock(&self.state.injected).clone()
    }

    /// Requests forwarded with their answer (lost responses not included).
    pub fn forwarded(&self) -> usize {
        self.state.forwarded.load(Ordering::SeqCst)
    }

    /// Requests being handled right now.
    pub(crate) fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until no request is being handled, at most `limit`.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.in_flight() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// The bodies of requests the service handled but whose answer was lost,
    /// taken (each is returned once).
    pub fn take_lost_responses(&self) -> Vec<Bytes> {
        std::mem::take(&mut *lock(&self.state.lost_responses))
    }

    /// Holds every request this long before handling it (zero at start).
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.state.latency) = latency;
    }

    /// Requests received since start or the last [`reset_counts`](Self::reset_counts),
    /// by operation: `PutItem` for `X-Amz-Target: DynamoDB_20120810.PutItem`,
    /// `Publish` for a form body with `Action=Publish`, `(unknown)` otherwise.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        lock(&self.state.calls).clone()
    }

    /// The most requests handled at once since start or the last
    /// [`reset_counts`](Self::reset_counts).
    pub fn peak_in_flight(&self) -> usize {
        self.state.peak_in_flight.load(Ordering::SeqCst)
    }

    /// Forgets the calls counted and the peak in flight.
    pub fn reset_counts(&self) {
        lock(&self.state.calls).clear();
        self.state.peak_in_flight.store(0, Ordering::SeqCst);
    }

    /// Starts (or stops, forgetting them) keeping every forwarded request and
    /// its answer.
    pub fn record_exchanges(&self, on: bool) {
        *lock(&self.state.exchanges) = on.then(Vec::new);
    }

    /// The exchanges kept since the last call, taken; recording goes on.
    pub fn take_exchanges(&self) -> Vec<Exchange> {
        lock(&self.state.exchanges)
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }
}

/// The operation a request calls: the part of `X-Amz-Target` after its last
/// dot, else the `Action` of a form body.
pub fn operation_of(headers: &hyper::HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    url::form_urlencoded::parse(body)
        .find(|(key, _)| key == "Action")
        .map_or_else(|| "(unknown)".to_owned(), |(_, value)| value.into_owned())
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    // Dropped with the task, which aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                eprintln!("fault proxy: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let state = state.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = state.clone();
                async move { handle(&state, request).await }
            });
            // A connection closed on purpose (reset, lost response) ends in an
            // error here; that is the fault, not a problem of the proxy.
            let _closed = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

/// Closes the connection without an answer: hyper drops a connection whose
/// service fails.
#[derive(Debug)]
struct CloseConnection;

impl fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection closed by the fault proxy")
    }
}

impl std::error::Error for CloseConnection {}

struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize, peak: &AtomicUsize) -> Self {
        let now = counter.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(
    state: &State,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let _in_flight = InFlight::enter(&state.in_flight, &state.peak_in_flight);
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|_| CloseConnection)?
        .to_bytes();
    let operation = operation_of(&parts.headers, &body);
    *lock(&state.calls).entry(operation.clone()).or_default() += 1;
    let latency = *lock(&state.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let fault = {
        let draw = lock(&state.rng).unit();
        lock(&state.rates).choose(draw)
    };
    if let Some(kind) = fault {
        *lock(&state.injected).entry(kind).or_default() += 1;
    }
    let json = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-amz-json"));
    match fault {
        Some(FaultKind::Throttle) => Ok(error_answer(json, ErrorAnswer::Throttle)),
        Some(FaultKind::CapacityExceeded) => Ok(error_answer(json, ErrorAnswer::Capacity)),
        Some(FaultKind::InternalError) => Ok(error_answer(json, ErrorAnswer::Internal)),
        Some(FaultKind::Refuse) => Ok(error_answer(json, ErrorAnswer::Refuse)),
        Some(FaultKind::Timeout) => {
            tokio::time::sleep(state.hold).await;
            Err(CloseConnection)
        }
        Some(FaultKind::Reset) => Err(CloseConnection),
        Some(FaultKind::LostResponse) => {
            forward(state, &parts, body.clone()).await?;
            lock(&state.lost_responses).push(body);
            Err(CloseConnection)
        }
        None => {
            let request = body.clone();
            let answer = forward(state, &parts, body).await?;
            state.forwarded.fetch_add(1, Ordering::SeqCst);
            if lock(&state.exchanges).is_some() {
                // A `Full` body is whole: collecting a copy of it never waits.
                let response = match answer.body().clone().collect().await {
                    Ok(collected) => collected.to_bytes(),
                    Err(never) => match never {},
                };
                if let Some(exchanges) = lock(&state.exchanges).as_mut() {
                    exchanges.push(Exchange {
                        operation,
                        status: answer.status().as_u16(),
                        request,
                        response,
                    });
                }
            }
            Ok(answer)
        }
    }
}

#[derive(Clone, Copy)]
enum ErrorAnswer {
    Throttle,
    Capacity,
    Internal,
    Refuse,
}

/// An error answer as the service itself would give it.
fn error_answer(json: bool, answer: ErrorAnswer) -> Response<Full<Bytes>> {
    let (status, content_type, body) = if json {
        let (status, kind, message) = match answer {
            ErrorAnswer::Throttle => (
                StatusCode::BAD_REQUEST,
                "com.amazon.coral.availability#ThrottlingException",
                "Rate of requests exceeds the allowed throughput.",
            ),
            ErrorAnswer::Capacity => (
                StatusCode::BAD_REQUEST,
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded. \
                 Consider increasing your provisioning level with the UpdateTable API.",
            ),
            ErrorAnswer::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "com.amazonaws.dynamodb.v20120810#InternalServerError",
                "Internal server error",
            ),
            ErrorAnswer::Refuse => (
                StatusCode::BAD_REQUEST,
                "com.amazon.coral.validate#ValidationException",
                "One or more parameter values were invalid",
            ),
        };
        let body = serde_json::json!({ "__type": kind, "message": message }).to_string();
        (status, "application/x-amz-json-1.0", body)
    } else {
        let (status, sender, code, message) = match answer {
            ErrorAnswer::Throttle | ErrorAnswer::Capacity => (
                StatusCode::TOO_MANY_REQUESTS,
                "Sender",
                "Throttled",
                "Rate exceeded",
            ),
            ErrorAnswer::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Receiver",
                "InternalError",
                "Internal failure",
            ),
            ErrorAnswer::Refuse => (
                StatusCode::BAD_REQUEST,
                "Sender",
                "InvalidParameter",
                "Invalid parameter: Message too long",
            ),
        };
        let body = format!(
            "<ErrorResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\"><Error>\
             <Type>{sender}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>{}</RequestId></ErrorResponse>",
            uuid::Uuid::new_v4()
        );
        (status, "text/xml", body)
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert("x-amzn-requestid", HeaderValue::from_static("fault-proxy"));
    response
}

/// Headers that belong to one connection, not to the request.
const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "content-length",
    "transfer-encoding",
    "keep-alive",
    "host",
];

async fn forward(
    state: &State,
    parts: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<Response<Full<Bytes>>, CloseConnection> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut upstream = state
        .client
        .request(parts.method.clone(), format!("{}{path}", state.upstream))
        .body(body);
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            upstream = upstream.header(name, value);
        }
    }
    let answer = upstream.send().await.map_err(|err| {
        eprintln!(
            "fault proxy: forwarding to {} failed: {err}",
            state.upstream
        );
        CloseConnection
    })?;
    let status = answer.status();
    let headers = answer.headers().clone();
    let bytes = answer.bytes().await.map_err(|_| CloseConnection)?;
    let mut response = Response::new(Full::new(bytes));
    *response.status_mut() = status;
    for (name, value) in &headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            response.headers_mut().append(name, value.clone());
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_split_the_unit_interval_in_order() {
        let rates = Rates(
            [(FaultKind::Throttle, 0.1), (FaultKind::Reset, 0.2)]
                .into_iter()
                .collect(),
        );
        assert_eq!(rates.choose(0.05), Some(FaultKind::Throttle));
        assert_eq!(rates.choose(0.25), Some(FaultKind::Reset));
        assert_eq!(rates.choose(0.35), None);
        assert_eq!(Rates::none().choose(0.0), None);
    }

    #[test]
    fn operations_are_named_by_their_target_or_their_form_action() {
        let mut headers = hyper::HeaderMap::new();
        assert_eq!(
            operation_of(&headers, b"Action=Publish&TopicArn=x"),
            "Publish"
        );
        assert_eq!(operation_of(&headers, b"{}"), "(unknown)");
        headers.insert(
            "x-amz-target",
            HeaderValue::from_static("DynamoDB_20120810.PutItem"),
        );
        assert_eq!(operation_of(&headers, b"{}"), "PutItem");
    }

    #[test]
    fn error_answers_have_the_services_shapes() {
        let json = error_answer(true, ErrorAnswer::Capacity);
        assert_eq!(json.status(), StatusCode::BAD_REQUEST);
        let xml = error_answer(false, ErrorAnswer::Throttle);
        assert_eq!(xml.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(xml.headers()[CONTENT_TYPE], "text/xml");
    }
}
