//! A Lambda Runtime API on loopback that records when things happen: the
//! first `GET /2018-06-01/runtime/invocation/next` of its process, and for
//! each invocation when it was handed out and when its answer (`response` or
//! `error`) arrived.
//!
//! One recorder serves one function process, as a Lambda execution
//! environment serves one. Each invocation is given the headers a function
//! built on `lambda_runtime` reads: `Lambda-Runtime-Aws-Request-Id`,
//! `Lambda-Runtime-Deadline-Ms` (now plus the function's timeout, in Unix
//! milliseconds), `Lambda-Runtime-Invoked-Function-Arn` and
//! `Lambda-Runtime-Trace-Id`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, anyhow};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

const PREFIX: &str = "/2018-06-01/runtime";

/// What a function answered to one invocation, and when.
#[derive(Debug, Clone)]
pub struct Answer {
    /// When the invocation was handed to the function (its `next` answered).
    pub handed_out: Instant,
    /// When the function's `response` or `error` arrived.
    pub answered: Instant,
    pub outcome: Outcome,
}

impl Answer {
    /// From the invocation handed out to its answer received: what Lambda
    /// bills as the invocation's duration.
    pub fn duration(&self) -> Duration {
        self.answered.saturating_duration_since(self.handed_out)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The response payload.
    Response(Value),
    /// The error document the function posted (`errorType`, `errorMessage`).
    Error(Value),
}

impl Outcome {
    /// The response payload, or an error quoting the function's error.
    pub fn into_response(self) -> anyhow::Result<Value> {
        match self {
            Self::Response(payload) => Ok(payload),
            Self::Error(error) => Err(anyhow!("the function answered an error: {error}")),
        }
    }
}

struct Queued {
    payload: Bytes,
    answer: oneshot::Sender<Answer>,
}

struct State {
    function_arn: String,
    timeout: Duration,
    first_next: watch::Sender<Option<Instant>>,
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Queued>>,
    /// Handed out and not answered yet, by request id.
    pending: Mutex<HashMap<String, (Instant, oneshot::Sender<Answer>)>>,
    init_error: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running recorder; it stops serving when dropped.
pub struct RuntimeRecorder {
    addr: SocketAddr,
    state: Arc<State>,
    queue: mpsc::UnboundedSender<Queued>,
    task: JoinHandle<()>,
}

impl RuntimeRecorder {
    /// Serves on a free loopback port, for a function whose ARN is
    /// `function_arn` and whose timeout is `timeout`.
    pub async fn start(function_arn: &str, timeout: Duration) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the Runtime API recorder to 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let (queue, receiver) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            function_arn: function_arn.to_owned(),
            timeout,
            first_next: watch::Sender::new(None),
            queue: tokio::sync::Mutex::new(receiver),
            pending: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        let task = tokio::spawn(serve(listener, state.clone()));
        Ok(Self {
            addr,
            state,
            queue,
            task,
        })
    }

    /// The `AWS_LAMBDA_RUNTIME_API` value, `127.0.0.1:PORT`, as Lambda gives it.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// Waits for the process's first request for an invocation; when it came.
    pub async fn first_next(&self) -> anyhow::Result<Instant> {
        let mut seen = self.state.first_next.subscribe();
        let at = seen
            .wait_for(Option::is_some)
            .await
            .map_err(|_| anyhow!("the Runtime API recorder has stopped"))?;
        (*at).context("the first request for an invocation has no time")
    }

    /// What the function posted to `/runtime/init/error`, if it did.
    pub fn init_error(&self) -> Option<String> {
        lock(&self.state.init_error).clone()
    }

    /// Hands `payload` to the function at its next request and waits for its
    /// answer.
    pub async fn invoke(&self, payload: &Value) -> anyhow::Result<Answer> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send(Queued {
                payload: Bytes::from(serde_json::to_vec(payload)?),
                answer,
            })
            .map_err(|_| anyhow!("the Runtime API recorder has stopped"))?;
        answered
            .await
            .map_err(|_| anyhow!("the invocation was dropped without an answer"))
    }
}

impl Drop for RuntimeRecorder {
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
                eprintln!("Runtime API recorder: accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let state = state.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, request).await) }
            });
            // A function process that exits closes its connection mid-wait.
            let _closed = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

fn answer(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn accepted() -> Response<Full<Bytes>> {
    answer(StatusCode::ACCEPTED, serde_json::json!({ "status": "OK" }))
}

fn refused(status: StatusCode, message: String) -> Response<Full<Bytes>> {
    answer(
        status,
        serde_json::json!({ "errorType": "InvalidRequest", "errorMessage": message }),
    )
}

async fn handle(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let arrived = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let Some(route) = path.strip_prefix(PREFIX) else {
        return refused(StatusCode::NOT_FOUND, format!("no route {path}"));
    };
    if method == Method::GET && route == "/invocation/next" {
        state.first_next.send_if_modified(|first| {
            let unset = first.is_none();
            if unset {
                *first = Some(arrived);
            }
            unset
        });
        return next(state).await;
    }
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => return refused(StatusCode::BAD_REQUEST, format!("unreadable body: {err}")),
    };
    if method == Method::POST && route == "/init/error" {
        *lock(&state.init_error) = Some(String::from_utf8_lossy(&body).into_owned());
        return accepted();
    }
    let posted = route
        .strip_prefix("/invocation/")
        .and_then(|rest| rest.rsplit_once('/'));
    match (method, posted) {
        (Method::POST, Some((id, kind @ ("response" | "error")))) => {
            let Some((handed_out, waiter)) = lock(&state.pending).remove(id) else {
                return refused(
                    StatusCode::BAD_REQUEST,
                    format!("no invocation {id} is waiting for an answer"),
                );
            };
            let document = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
            };
            let outcome = if kind == "response" {
                Outcome::Response(document)
            } else {
                Outcome::Error(document)
            };
            // The caller may have given up; the answer then goes nowhere.
            let _gone = waiter.send(Answer {
                handed_out,
                answered: arrived,
                outcome,
            });
            accepted()
        }
        (method, _) => refused(StatusCode::NOT_FOUND, format!("no route {method} {path}")),
    }
}

/// Waits for an invocation and hands it out.
async fn next(state: &State) -> Response<Full<Bytes>> {
    let Some(queued) = state.queue.lock().await.recv().await else {
        return refused(StatusCode::GONE, "the recorder has stopped".into());
    };
    let id = uuid::Uuid::new_v4().to_string();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let deadline = (now + state.timeout).as_millis().to_string();
    let trace = format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        now.as_secs(),
        &uuid::Uuid::new_v4().simple().to_string()[..24],
        &uuid::Uuid::new_v4().simple().to_string()[..16]
    );
    let mut response = Response::new(Full::new(queued.payload));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in [
        ("lambda-runtime-aws-request-id", id.as_str()),
        ("lambda-runtime-deadline-ms", deadline.as_str()),
        (
            "lambda-runtime-invoked-function-arn",
            state.function_arn.as_str(),
        ),
        ("lambda-runtime-trace-id", trace.as_str()),
    ] {
        match HeaderValue::from_str(value) {
            Ok(value) => {
                headers.insert(name, value);
            }
            Err(err) => {
                return refused(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("header {name}: {err}"),
                );
            }
        }
    }
    lock(&state.pending).insert(id, (Instant::now(), queued.answer));
    response
}
