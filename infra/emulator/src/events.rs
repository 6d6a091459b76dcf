//! The EventBridge events HealthLake would put on the default bus, posted to
//! a URL a test gives (`POST /_emulator/events`), such as a Lambda function's
//! Invoke URL on a local Runtime API: the stand-in of an EventBridge rule
//! that targets the function.
//!
//! While a URL is set, every change of a store's status that HealthLake
//! announces becomes one event, in the order the emulator sees them: source
//! `aws.healthlake`, detail-types "Data Store Creating", "Data Store Creation
//! Failed", "Data Store Active", "Data Store Deleting" and "Data Store
//! Deleted" (HealthLake documents none for UPDATING or UPDATE_FAILED, so none
//! is posted, nor for a store settling back to ACTIVE after an update), with
//! the detail HealthLake gives (`datastoreId`,
//! `datastoreName`, `datastoreTypeVersion`, `datastoreEndpoint`: no status, no
//! ErrorCause) and the store's ARN in `resources`. Statuses are read after
//! every request (API or admin), so no status a request made is missed, and
//! every [`POLL`], so a status reached by the passing of wall time is posted
//! too. Stores' statuses when the URL is set
//! are taken as announced: only what changes afterwards is posted.
//!
//! Events are posted one at a time, each as an HTTP/1.1 `POST` of the
//! event's JSON (`http://` URLs only: loopback test servers), and kept with
//! the status their POST was answered with, or the error, in
//! `GET /_emulator/events`.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::model::{Datastore, DatastoreStatus};
use crate::protocol::ApiError;
use crate::state::{Emulator, Inner};

/// How often statuses are read for changes while a URL is set.
pub const POLL: Duration = Duration::from_millis(50);
/// The longest a POST may take (a Lambda invocation answers when the
/// function returns).
const POST_TIMEOUT: Duration = Duration::from_secs(120);

/// The events' target and what was posted.
#[derive(Debug, Default)]
pub struct Events {
    url: Option<url::Url>,
    /// Store id to the status last seen (ids are unique across accounts).
    seen: HashMap<String, String>,
    posted: Vec<Posted>,
    /// The first entry of `posted` not handed to the poster yet.
    next: usize,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Posted {
    /// The event as posted.
    pub event: Value,
    /// When it was handed to the URL (wall time).
    pub posted_at: Option<DateTime<Utc>>,
    /// When the URL's answer, or the error, came (wall time): for a Lambda
    /// function's Invoke URL, once the function has returned.
    pub answered_at: Option<DateTime<Utc>>,
    /// The HTTP status the URL answered.
    pub status: Option<u16>,
    /// Why it could not be posted.
    pub error: Option<String>,
}

impl Events {
    /// Forgets the posted events and the statuses seen; keeps the URL.
    pub fn clear(&mut self) {
        self.seen.clear();
        self.posted.clear();
        self.next = 0;
    }
}

fn detail_type(status: &DatastoreStatus) -> Option<&'static str> {
    match status.as_str() {
        "CREATING" => Some("Data Store Creating"),
        "CREATE_FAILED" => Some("Data Store Creation Failed"),
        "ACTIVE" => Some("Data Store Active"),
        "DELETING" => Some("Data Store Deleting"),
        "DELETED" => Some("Data Store Deleted"),
        _ => None,
    }
}

/// Records the events due since the last look, to be posted. Called after
/// every request (API or admin), so that no status a request made is missed,
/// and every [`POLL`] for those reached by the passing of time.
pub fn detect(inner: &mut Inner) {
    if inner.events.url.is_none() {
        return;
    }
    let now = inner.clock.now();
    let mut due = Vec::new();
    for (account, region, store, status_now) in inner.registry.all(now) {
        let status = status_now.status.as_str().to_owned();
        let Some(previous) = inner.events.seen.insert(store.id.clone(), status.clone()) else {
            // First seen while posting: a store just created.
            if let Some(event) = event(account, region, store, &status_now.status, now) {
                due.push(event);
            }
            continue;
        };
        // HealthLake documents no event of an update, nor of its end: a
        // store that settles back to ACTIVE after an update is not announced.
        if previous == status
            || (UPDATE_STATUSES.contains(&previous.as_str()) && status == "ACTIVE")
        {
            continue;
        }
        if let Some(event) = event(account, region, store, &status_now.status, now) {
            due.push(event);
        }
    }
    inner
        .events
        .posted
        .extend(due.into_iter().map(|event| Posted {
            event,
            posted_at: None,
            answered_at: None,
            status: None,
            error: None,
        }));
}

const UPDATE_STATUSES: [&str; 2] = ["UPDATING", "UPDATE_FAILED"];

/// The event HealthLake puts on the bus for a store reaching `status`, if any.
fn event(
    account: &str,
    region: &str,
    store: &Datastore,
    status: &DatastoreStatus,
    now: DateTime<Utc>,
) -> Option<Value> {
    let detail_type = detail_type(status)?;
    {
        Some(json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": detail_type,
            "source": "aws.healthlake",
            "account": account,
            "time": now.to_rfc3339_opts(SecondsFormat::Secs, true),
            "region": region,
            "resources": [store.arn],
            "detail": {
                "datastoreId": store.id,
                "datastoreName": store.name.clone().unwrap_or_default(),
                "datastoreTypeVersion": store.type_version,
                "datastoreEndpoint": store.endpoint,
            },
        }))
    }
}

/// Records the events a request caused, once it is answered.
pub async fn detect_after(
    State(emulator): State<Arc<Emulator>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    detect(&mut emulator.lock());
    response
}

/// Looks for changes and posts their events, one at a time, until the
/// emulator is dropped.
pub fn spawn_poster(emulator: Weak<Emulator>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(POLL).await;
            let Some(strong) = emulator.upgrade() else {
                return;
            };
            post_due(&strong).await;
        }
    });
}

/// Posts what is due now, in order.
pub async fn post_due(emulator: &Emulator) {
    let (url, due) = {
        let mut inner = emulator.lock();
        detect(&mut inner);
        let events = &mut inner.events;
        let due: Vec<(usize, Value)> = events.posted[events.next..]
            .iter()
            .enumerate()
            .map(|(offset, p)| (events.next + offset, p.event.clone()))
            .collect();
        events.next = events.posted.len();
        (events.url.clone(), due)
    };
    let Some(url) = url else { return };
    for (index, event) in due {
        let posted_at = Utc::now();
        let answer = post(&url, &event).await;
        let mut inner = emulator.lock();
        if let Some(entry) = inner.events.posted.get_mut(index) {
            entry.posted_at = Some(posted_at);
            entry.answered_at = Some(Utc::now());
            match answer {
                Ok(status) => entry.status = Some(status),
                Err(error) => entry.error = Some(error),
            }
        }
    }
}

/// A minimal HTTP/1.1 POST of `body` as JSON; the status it is answered with.
async fn post(url: &url::Url, body: &Value) -> Result<u16, String> {
    let host = url.host_str().ok_or("the URL names no host")?;
    let port = url.port_or_known_default().ok_or("the URL names no port")?;
    let mut path = url.path().to_owned();
    if let Some(query) = url.query() {
        path = format!("{path}?{query}");
    }
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .await
            .map_err(|e| format!("read: {e}"))?;
        let head = String::from_utf8_lossy(&answer[..answer.len().min(64)]).into_owned();
        head.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| format!("not an HTTP answer: {head:?}"))
    };
    tokio::time::timeout(POST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {POST_TIMEOUT:?}"))?
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct TargetRequest {
    /// `null` stops posting.
    url: Option<String>,
}

/// `POST /_emulator/events` `{"Url": "http://..."}`: posts events there from
/// now on; `{"Url": null}` stops.
pub async fn set_target(
    State(emulator): State<Arc<Emulator>>,
    Json(request): Json<TargetRequest>,
) -> Response {
    let url = match request.url.as_deref().map(url::Url::parse).transpose() {
        Ok(Some(url)) if url.scheme() != "http" => {
            return refuse(format!("Url must be http://, got {}://", url.scheme()));
        }
        Ok(url) => url,
        Err(e) => return refuse(format!("Url is not a URL: {e}")),
    };
    let mut inner = emulator.lock();
    let now = inner.clock.now();
    // What exists now counts as announced.
    let seen = inner
        .registry
        .all(now)
        .map(|(_, _, store, status_now)| (store.id.clone(), status_now.status.as_str().to_owned()))
        .collect();
    inner.events.seen = seen;
    inner.events.url = url;
    Json(shown(&inner)).into_response()
}

/// `GET /_emulator/events`: `{"Url": ..., "Events": [{"Event", "PostedAt",
/// "AnsweredAt", "Status", "Error"}]}`, oldest first.
pub async fn show(State(emulator): State<Arc<Emulator>>) -> Response {
    Json(shown(&emulator.lock())).into_response()
}

fn shown(inner: &Inner) -> Value {
    json!({
        "Url": inner.events.url.as_ref().map(url::Url::as_str),
        "Events": inner.events.posted,
    })
}

fn refuse(message: String) -> Response {
    crate::admin::refuse(ApiError::validation(message))
}
