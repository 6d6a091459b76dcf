//! The `slack-notifier` Lambda binary, served by the local Lambda Runtime API,
//! reading its webhook secret from moto's Secrets Manager and posting to a
//! local HTTP receiver that stands in for Slack.
//!
//! The binary is the debug build of the `slack-notifier` package, next to this
//! test binary: `cargo build --workspace` (or `-p slack-notifier`) makes it.
//! It reaches the shared Runtime API, with the function name reserved for the
//! test, through [`RuntimeProxy`], which gives each invocation a deadline as
//! Lambda does.
//!
//! Also here: `docs_are_current`, which renders the alert examples in `docs/`
//! from the code (`UPDATE_DOCS=1` rewrites them).

use std::collections::VecDeque;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{
    CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, RETRY_AFTER, TRANSFER_ENCODING,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::TimeZone;
use integration_tests::services::{
    Function, FunctionProcess, InvokeOutcome, LambdaRuntimeApi, Moto, sdk_config, workspace_binary,
    workspace_root,
};
use monitor_core::document::AlertDocumentV1;
use monitor_core::domain::{
    AccountId, Alert, AlertPolicy, DatastoreId, DatastoreStatus, ErrorCategory, ErrorCause,
    Observation, Region, Scope, Transition,
};
use monitor_core::render;
use serde_json::{Value, json};
use slack_notifier::blocks;
use slack_notifier::decode::ReceivedAlert;

/// The function name: a binary target of the workspace, so the Runtime API
/// emulator routes it.
const FUNCTION: &str = "slack-notifier";
const REGION: &str = "us-east-1";
const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:healthlake-monitor-alerts";

/// The secret part of the test webhook URL: it must appear in no output.
const TOKEN: &str = "hlm0test0webhook0token";

const KMS_MESSAGE: &str = "The AWS KMS key arn:aws:kms:us-east-1:123456789012:key/\
                           5c1f8e2a-93d4-4b7e-a0f6-2d8c9e1b7a34 is not accessible: kms:CreateGrant \
                           was denied for the HealthLake service principal.";

/// How long a function with an unusable secret may take to give up.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// The notifier's timeout in template.yaml.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(30);

/// The setting that lets the webhook URL point elsewhere than Slack.
const ALLOWED_PREFIXES: &str = "WEBHOOK_ALLOWED_URL_PREFIXES";

// --------------------------------------------------------------- the alert

/// A data store whose creation failed on a KMS key HealthLake cannot use.
fn kms_failure() -> Alert {
    failure(
        "patients-prod",
        DatastoreStatus::CreateFailed,
        ErrorCause {
            message: KMS_MESSAGE.into(),
            category: ErrorCategory::NonRetryable,
        },
    )
}

/// A data store named `name` that went from CREATING to `status` with `cause`.
fn failure(name: &str, status: DatastoreStatus, cause: ErrorCause) -> Alert {
    let id = "8f2c1e7a9b3d4c5e6f708192a3b4c5d6";
    let observation = |status| Observation {
        account: AccountId::parse("123456789012").expect("valid account"),
        region: Region::parse(REGION).expect("valid region"),
        id: DatastoreId::parse(id).expect("valid id"),
        arn: format!("arn:aws:healthlake:{REGION}:123456789012:datastore/fhir/{id}"),
        name: name.into(),
        status,
        created_at: Some(
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 26, 9, 12, 44)
                .single()
                .expect("valid time"),
        ),
        type_version: "R4".into(),
        endpoint: format!("https://healthlake.{REGION}.amazonaws.com/datastore/{id}/r4/"),
        error_cause: None,
    };
    let previous = observation(DatastoreStatus::Creating);
    let mut current = observation(status);
    current.error_cause = Some(cause);
    let scope = Scope::new(current.account.clone(), current.region.clone());
    let transition = Transition::Changed { previous, current };
    let decision = AlertPolicy::default()
        .classify(&transition)
        .expect("a failed creation alerts");
    let observed_at = chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
        .single()
        .expect("valid time");
    Alert::new(&scope, &transition, decision, 3, observed_at)
}

/// What SNS hands a Lambda subscriber for `alert`: the `lambda` key of the
/// message the status monitor publishes.
fn lambda_message(alert: &Alert) -> anyhow::Result<String> {
    let structured: Value = serde_json::from_str(&monitor_sns::message(alert)?)?;
    structured["lambda"]
        .as_str()
        .map(str::to_owned)
        .context("the published message has a lambda key")
}

/// An SNS event with one record, as Lambda receives it.
fn sns_event(message_id: &str, subject: &str, message: &str) -> Value {
    let topic = TOPIC;
    json!({
        "Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": format!("{topic}:2b0c6a52-7d54-4c3e-9f1e-8a1d2c3b4e5f"),
            "Sns": {
                "Type": "Notification",
                "MessageId": message_id,
                "TopicArn": topic,
                "Subject": subject,
                "Message": message,
                "Timestamp": "2026-11-26T09:30:01.250Z",
                "SignatureVersion": "1",
                "Signature": "c2lnbmF0dXJl",
                "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService.pem",
                "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                "MessageAttributes": {
                    "severity": {"Type": "String", "Value": "critical"},
                },
            },
        }],
    })
}

/// The SNS event of `alert` as the status monitor publishes it.
fn alert_event(message_id: &str, alert: &Alert) -> anyhow::Result<Value> {
    Ok(sns_event(
        message_id,
        &render::subject(alert),
        &lambda_message(alert)?,
    ))
}

/// A CloudWatch alarm's SNS message, as CloudWatch publishes it to a topic
/// (the Message of the SNS record: AWS documents and sends these fields).
fn alarm_notification(
    name: &str,
    old: &str,
    new: &str,
    reason: &str,
    description: Option<&str>,
) -> String {
    json!({
        "AlarmName": name,
        "AlarmDescription": description,
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2026-11-20T08:00:00.000+0000",
        "NewStateValue": new,
        "NewStateReason": reason,
        "StateChangeTime": "2026-11-26T09:35:12.345+0000",
        "Region": "US East (N. Virginia)",
        "AlarmArn": format!("arn:aws:cloudwatch:{REGION}:123456789012:alarm:{name}"),
        "OldStateValue": old,
        "OKActions": [TOPIC],
        "AlarmActions": [TOPIC],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "FailedDatastores",
            "Namespace": "HealthLakeMonitor",
            "StatisticType": "Statistic",
            "Statistic": "MAXIMUM",
            "Unit": null,
            "Dimensions": [],
            "Period": 300,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": 1.0,
            "TreatMissingData": "notBreaching",
            "EvaluateLowSampleCountPercentile": "",
        },
    })
    .to_string()
}

const ALARM_NAME: &str = "healthlake-monitor-datastore-failed";
const ALARM_REASON: &str = "Threshold Crossed: 1 out of the last 1 datapoints [1.0 (26/11/26 09:30:00)] \
                            was greater than or equal to the threshold (1.0) (minimum 1 datapoint \
                            for OK -> ALARM transition).";
const ALARM_DESCRIPTION: &str =
    "A HealthLake data store is in CREATE_FAILED or UPDATE_FAILED: read its critical alert.";

/// The SNS event of the failed-store alarm going from OK to ALARM.
fn alarm_event(message_id: &str) -> Value {
    sns_event(
        message_id,
        &format!("ALARM: \"{ALARM_NAME}\" in US East (N. Virginia)"),
        &alarm_notification(
            ALARM_NAME,
            "OK",
            "ALARM",
            ALARM_REASON,
            Some(ALARM_DESCRIPTION),
        ),
    )
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

// --------------------------------------------------------------- Lambda's deadline

/// The Runtime API header with the time an invocation must end by.
const DEADLINE: &str = "lambda-runtime-deadline-ms";

/// Stands between a function and cargo-lambda's Runtime API, and gives each
/// invocation the deadline Lambda gives a function with `timeout`: the time it
/// was handed out plus `timeout`, in Unix milliseconds. cargo-lambda 1.9 sends
/// `600000` there (its invoke timeout, a time in 1970). Everything else passes
/// through unchanged. Stopped on drop.
struct RuntimeProxy {
    endpoint: String,
    server: tokio::task::JoinHandle<()>,
}

struct ProxyState {
    upstream: String,
    timeout: Duration,
    http: reqwest::Client,
}

impl RuntimeProxy {
    async fn start(api: &LambdaRuntimeApi, timeout: Duration) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(ProxyState {
            upstream: api.endpoint(),
            timeout,
            // No timeout: `invocation/next` waits for the next invocation.
            http: reqwest::Client::builder().build()?,
        });
        let app = Router::new().fallback(relay).with_state(state);
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("Runtime API proxy stopped: {err}");
            }
        });
        Ok(Self { endpoint, server })
    }

    /// The `AWS_LAMBDA_RUNTIME_API` value for a function serving `name`.
    fn runtime_api(&self, name: &str) -> String {
        format!("{}/.rt/{name}", self.endpoint)
    }
}

impl Drop for RuntimeProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn relay(
    State(state): State<Arc<ProxyState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match forward(&state, method, &uri, &headers, body).await {
        Ok(response) => response,
        Err(err) => (
            StatusCode::BAD_GATEWAY,
            format!("Runtime API proxy: {err:#}"),
        )
            .into_response(),
    }
}

async fn forward(
    state: &ProxyState,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> anyhow::Result<Response> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = state
        .http
        .request(method, format!("{}{path}", state.upstream))
        .body(body);
    for (name, value) in headers {
        if ![HOST, CONTENT_LENGTH, CONNECTION, TRANSFER_ENCODING].contains(name) {
            request = request.header(name, value);
        }
    }
    let answer = request.send().await?;
    let status = answer.status();
    let mut out = HeaderMap::new();
    for (name, value) in answer.headers() {
        if ![CONTENT_LENGTH, CONNECTION, TRANSFER_ENCODING].contains(name) {
            out.append(name.clone(), value.clone());
        }
    }
    if out.contains_key(DEADLINE) {
        let deadline = SystemTime::now().duration_since(UNIX_EPOCH)? + state.timeout;
        out.insert(
            DEADLINE,
            HeaderValue::from_str(&deadline.as_millis().to_string())?,
        );
    }
    Ok((status, out, answer.bytes().await?).into_response())
}

// --------------------------------------------------------------- Slack stand-in

/// How the receiver answers a post.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Ok,
    RateLimited { retry_after: u32 },
    ServerError,
}

#[derive(Debug, Clone)]
struct Received {
    content_type: Option<String>,
    body: Value,
}

#[derive(Default)]
struct ReceiverState {
    /// Answers for the next posts, in order; 200 when none is left.
    script: Mutex<VecDeque<Answer>>,
    received: Mutex<Vec<Received>>,
}

/// An HTTP server on 127.0.0.1 that records webhook posts and answers them as
/// scripted; stopped on drop.
struct SlackReceiver {
    url: String,
    state: Arc<ReceiverState>,
    server: tokio::task::JoinHandle<()>,
}

/// The receiver's path, like a Slack webhook's; it ends in [`TOKEN`].
const WEBHOOK_PATH: &str = "/services/T0HLM0TEST/B0HLM0TEST/hlm0test0webhook0token";

impl SlackReceiver {
    async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(ReceiverState::default());
        let app = Router::new()
            .route(WEBHOOK_PATH, post(receive))
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            if let Err(err) = axum::serve(listener, app).await {
                eprintln!("Slack receiver stopped: {err}");
            }
        });
        Ok(Self {
            url: format!("http://127.0.0.1:{port}{WEBHOOK_PATH}"),
            state,
            server,
        })
    }

    /// The setting value that allows this receiver's URL.
    fn allowed_prefix(&self) -> String {
        origin_prefix(&self.url)
    }

    fn answer_next(&self, answer: Answer) {
        self.state.script.lock().expect("script").push_back(answer);
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().expect("received").clone()
    }
}

impl Drop for SlackReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let content_type = headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    state
        .received
        .lock()
        .expect("received")
        .push(Received { content_type, body });
    let answer = state
        .script
        .lock()
        .expect("script")
        .pop_front()
        .unwrap_or(Answer::Ok);
    match answer {
        Answer::Ok => (StatusCode::OK, "ok").into_response(),
        Answer::RateLimited { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(RETRY_AFTER, retry_after.to_string())],
            "rate_limited",
        )
            .into_response(),
        Answer::ServerError => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal_error").into_response()
        }
    }
}

// --------------------------------------------------------------- the function

/// The shared Runtime API, with the function's name reserved for the caller.
async fn reserve() -> anyhow::Result<Function> {
    LambdaRuntimeApi::shared().await?.reserve(FUNCTION).await
}

async fn create_secret(moto: &Moto, value: &str) -> anyhow::Result<String> {
    let client = aws_sdk_secretsmanager::Client::new(&sdk_config(&moto.endpoint(), REGION));
    let created = client
        .create_secret()
        .name(unique("slack-webhook"))
        .secret_string(value)
        .send()
        .await?;
    created.arn.context("the created secret's ARN")
}

/// `http://host:port/` of a URL.
fn origin_prefix(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("an absolute URL");
    let host = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{host}/")
}

/// The function's environment: its secret, in moto, and the URL prefixes it
/// may post to. The SDK's variable for the Secrets Manager endpoint follows
/// its service id, "Secrets Manager".
fn environment(
    moto: &Moto,
    secret_arn: Option<&str>,
    allowed_prefixes: Option<&str>,
) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "AWS_ENDPOINT_URL_SECRETS_MANAGER".to_owned(),
            moto.endpoint(),
        ),
        ("AWS_ACCESS_KEY_ID".to_owned(), "testing".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "testing".to_owned()),
    ];
    if let Some(arn) = secret_arn {
        env.push(("SLACK_WEBHOOK_SECRET_ARN".to_owned(), arn.to_owned()));
    }
    if let Some(prefixes) = allowed_prefixes {
        env.push((ALLOWED_PREFIXES.to_owned(), prefixes.to_owned()));
    }
    env
}

/// A function process and the proxy that gives it Lambda's deadlines.
struct Notifier {
    process: FunctionProcess,
    _proxy: RuntimeProxy,
}

impl Notifier {
    fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

/// A running function with `timeout`, whose secret holds `webhook_url`, allowed
/// to post there.
async fn start_function(
    function: &Function,
    moto: &Moto,
    webhook_url: &str,
    timeout: Duration,
) -> anyhow::Result<Notifier> {
    let secret = json!({ "webhook_url": webhook_url }).to_string();
    let arn = create_secret(moto, &secret).await?;
    let proxy = RuntimeProxy::start(function.api(), timeout).await?;
    let mut env = environment(moto, Some(&arn), Some(&origin_prefix(webhook_url)));
    env.push((
        "AWS_LAMBDA_RUNTIME_API".to_owned(),
        proxy.runtime_api(FUNCTION),
    ));
    let process = function.spawn(&workspace_binary(FUNCTION)?, &env)?;
    Ok(Notifier {
        process,
        _proxy: proxy,
    })
}

async fn wait_for_exit(function: &mut FunctionProcess) -> anyhow::Result<ExitStatus> {
    let deadline = tokio::time::Instant::now() + EXIT_TIMEOUT;
    loop {
        if let Some(status) = function.exit_status()? {
            return Ok(status);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "the function still runs after {EXIT_TIMEOUT:?}:\n{}",
                function.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts the function with `env`, waits for its cold start to fail, and
/// returns its output.
async fn failed_cold_start(
    function: &Function,
    env: &[(String, String)],
) -> anyhow::Result<String> {
    let mut process = function.spawn(&workspace_binary(FUNCTION)?, env)?;
    let status = wait_for_exit(&mut process).await?;
    let log = process.log_tail();
    assert!(!status.success(), "{status}: {log}");
    Ok(log)
}

fn function_error(outcome: InvokeOutcome) -> (String, String) {
    match outcome {
        InvokeOutcome::FunctionError {
            error_type,
            error_message,
        } => (error_type, error_message),
        InvokeOutcome::Success(payload) => panic!("expected a function error, got {payload}"),
    }
}

fn assert_no_secret(what: &str, text: &str) {
    assert!(
        !text.contains(TOKEN) && !text.contains(WEBHOOK_PATH),
        "{what} shows the webhook URL:\n{text}"
    );
}

/// Every text of a posted message that Slack draws: the fallback `text`, and
/// each block's text, fields and context elements, with its Block Kit limit.
fn drawn_texts(message: &Value) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    if let Some(text) = message["text"].as_str() {
        out.push((text.to_owned(), blocks::TEXT_MAX_CHARS));
    }
    for block in message["blocks"].as_array().into_iter().flatten() {
        let limit = match block["type"].as_str() {
            Some("header") => blocks::HEADER_MAX_CHARS,
            _ => blocks::TEXT_MAX_CHARS,
        };
        if let Some(text) = block["text"]["text"].as_str() {
            out.push((text.to_owned(), limit));
        }
        for field in block["fields"].as_array().into_iter().flatten() {
            out.push((
                field["text"].as_str().unwrap_or_default().to_owned(),
                blocks::FIELD_MAX_CHARS,
            ));
        }
        for element in block["elements"].as_array().into_iter().flatten() {
            out.push((
                element["text"].as_str().unwrap_or_default().to_owned(),
                blocks::TEXT_MAX_CHARS,
            ));
        }
    }
    out
}

/// The texts of a section whose mrkdwn starts with `*label*`.
fn section_text<'a>(message: &'a Value, label: &str) -> Option<&'a str> {
    message["blocks"]
        .as_array()?
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .find(|t| t.starts_with(&format!("*{label}*")))
}

// --------------------------------------------------------------- alerts

#[tokio::test]
async fn posts_the_alert_as_block_kit_and_fails_on_server_errors() -> anyhow::Result<()> {
    let (lambda, moto, slack) =
        tokio::try_join!(reserve(), Moto::shared(), SlackReceiver::start())?;
    let function = start_function(&lambda, moto, &slack.url, FUNCTION_TIMEOUT).await?;
    let alert = kms_failure();
    let subject = render::subject(&alert);
    let event = alert_event("5a1e0b2c-3d4f-5a6b-7c8d-9e0f1a2b3c4d", &alert)?;

    let response = lambda.invoke(&event).await?.into_success()?;
    assert_eq!(
        response,
        json!({
            "posted": [{"message_id": "5a1e0b2c-3d4f-5a6b-7c8d-9e0f1a2b3c4d", "alert_id": alert.id}],
            "skipped": [],
        })
    );
    let received = slack.received();
    assert_eq!(received.len(), 1, "one post per alert: {received:?}");
    assert_eq!(
        received[0].content_type.as_deref(),
        Some("application/json")
    );
    let posted = &received[0].body;
    assert_eq!(posted["text"], subject.as_str());
    let blocks = posted["blocks"].as_array().context("blocks")?;
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(
        blocks[0]["text"]["text"],
        ":red_circle: HealthLake data store patients-prod is CREATE_FAILED in us-east-1"
    );
    let fields: Vec<&str> = blocks[1]["fields"]
        .as_array()
        .context("fields")?
        .iter()
        .filter_map(|f| f["text"].as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "*Data store*\npatients-prod\n`8f2c1e7a9b3d4c5e6f708192a3b4c5d6`",
            "*Account*\n`123456789012`",
            "*Region*\nus-east-1",
            "*Status*\nCREATING → CREATE_FAILED",
        ]
    );
    assert_eq!(
        blocks[2]["text"]["text"],
        format!("*Error: NON_RETRYABLE_ERROR*\n{KMS_MESSAGE}")
    );
    assert!(
        blocks[3]["text"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("*What to do*\nRetrying will not help")),
        "{}",
        blocks[3]
    );
    assert_eq!(
        blocks[4]["elements"][0]["text"],
        format!(
            "Alert `{}` · observed 2026-11-26T09:30:00Z · healthlake-monitor",
            alert.id
        )
    );
    assert_eq!(
        posted,
        &serde_json::to_value(blocks::message(&ReceivedAlert::try_from(
            AlertDocumentV1::from(&alert)
        )?))?
    );

    // A server error fails the invocation, so Lambda retries it and then
    // hands it to the dead-letter queue.
    slack.answer_next(Answer::ServerError);
    let (error_type, message) = function_error(lambda.invoke(&event).await?);
    assert_eq!(error_type, "SlackRefused");
    assert_eq!(
        message,
        format!(
            "alert {} (SNS message 5a1e0b2c-3d4f-5a6b-7c8d-9e0f1a2b3c4d) was not posted: \
             Slack answered 500 Internal Server Error: internal_error",
            alert.id
        )
    );
    assert_eq!(
        slack.received().len(),
        2,
        "a server error is left to Lambda's retries"
    );

    // Logs carry identifiers only: no webhook URL, no alert text.
    let log = function.log_tail();
    assert!(log.contains(&alert.id), "{log}");
    assert_no_secret("the function log", &log);
    assert!(
        !log.contains("kms:CreateGrant"),
        "the log quotes the alert:\n{log}"
    );
    Ok(())
}

#[tokio::test]
async fn an_unreachable_webhook_fails_the_invocation_without_naming_the_url() -> anyhow::Result<()>
{
    let (lambda, moto) = tokio::try_join!(reserve(), Moto::shared())?;
    // A port nothing listens on any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{closed}{WEBHOOK_PATH}");
    let function = start_function(&lambda, moto, &url, FUNCTION_TIMEOUT).await?;
    let alert = kms_failure();
    let event = alert_event("6b2f1c3d-unreachable", &alert)?;

    let (error_type, message) = function_error(lambda.invoke(&event).await?);
    assert_eq!(error_type, "SlackUnreachable");
    assert!(
        message.starts_with(&format!(
            "alert {} (SNS message 6b2f1c3d-unreachable) was not posted: Slack could not be reached: ",
            alert.id
        )),
        "{message}"
    );
    assert_no_secret("the error", &message);
    assert_no_secret("the function log", &function.log_tail());
    Ok(())
}

// --------------------------------------------------------------- rate limits

#[tokio::test]
async fn a_rate_limit_is_waited_out_within_the_invocation() -> anyhow::Result<()> {
    let (lambda, moto, slack) =
        tokio::try_join!(reserve(), Moto::shared(), SlackReceiver::start())?;
    let _function = start_function(&lambda, moto, &slack.url, FUNCTION_TIMEOUT).await?;
    let alert = kms_failure();
    let event = alert_event("7c3d2e1f-burst", &alert)?;

    slack.answer_next(Answer::RateLimited { retry_after: 1 });
    let response = lambda.invoke(&event).await?.into_success()?;
    assert_eq!(response["posted"][0]["alert_id"], alert.id.as_str());
    let received = slack.received();
    assert_eq!(
        received.len(),
        2,
        "the refused post, then the same message again: {received:?}"
    );
    assert_eq!(received[0].body, received[1].body);

    // A Slack that keeps refusing gets a bounded number of attempts, then
    // the invocation fails, and Lambda retries the event (SNS invokes it asynchronously).
    for _ in 0..3 {
        slack.answer_next(Answer::RateLimited { retry_after: 1 });
    }
    let (error_type, message) = function_error(lambda.invoke(&event).await?);
    assert_eq!(error_type, "SlackRateLimited");
    assert_eq!(
        message,
        format!(
            "alert {} (SNS message 7c3d2e1f-burst) was not posted: Slack answered 429 Too Many \
             Requests (Retry-After: 1): rate_limited; gave up after 3 attempts",
            alert.id
        )
    );
    assert_eq!(slack.received().len(), 2 + 3);
    Ok(())
}

#[tokio::test]
async fn a_rate_limit_longer_than_the_time_left_fails_the_invocation_at_once() -> anyhow::Result<()>
{
    let (lambda, moto, slack) =
        tokio::try_join!(reserve(), Moto::shared(), SlackReceiver::start())?;
    let _function = start_function(&lambda, moto, &slack.url, Duration::from_secs(8)).await?;
    let alert = kms_failure();
    let event = alert_event("8d4e3f2a-slow-down", &alert)?;

    slack.answer_next(Answer::RateLimited { retry_after: 30 });
    let (error_type, message) = function_error(lambda.invoke(&event).await?);
    assert_eq!(error_type, "SlackRateLimited");
    let expected = format!(
        "alert {} (SNS message 8d4e3f2a-slow-down) was not posted: Slack answered 429 Too Many \
         Requests (Retry-After: 30): rate_limited; waiting 30 s would pass the invocation's \
         deadline (",
        alert.id
    );
    assert!(message.starts_with(&expected), "{message}");
    assert!(message.ends_with(" s left)"), "{message}");
    assert_eq!(slack.received().len(), 1, "no second post");
    Ok(())
}

// --------------------------------------------------------------- alarms and foreign messages

#[tokio::test]
async fn a_cloudwatch_alarm_and_its_recovery_are_posted_as_block_kit() -> anyhow::Result<()> {
    let (lambda, moto, slack) =
        tokio::try_join!(reserve(), Moto::shared(), SlackReceiver::start())?;
    let _function = start_function(&lambda, moto, &slack.url, FUNCTION_TIMEOUT).await?;

    let response = lambda
        .invoke(&alarm_event("9e5f4a3b-alarm"))
        .await?
        .into_success()?;
    assert_eq!(
        response,
        json!({
            "posted": [{"message_id": "9e5f4a3b-alarm", "alarm_name": ALARM_NAME}],
            "skipped": [],
        })
    );
    let link = format!(
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1\
         #alarmsV2:alarm/{ALARM_NAME}"
    );
    let arn = format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{ALARM_NAME}");
    let received = slack.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(
        received[0].body,
        json!({
            "text": format!("ALARM: {ALARM_NAME} (OK → ALARM) in US East (N. Virginia)"),
            "blocks": [
                {
                    "type": "header",
                    "text": {
                        "type": "plain_text",
                        "text": format!(":red_circle: ALARM: {ALARM_NAME}"),
                        "emoji": true,
                    },
                },
                {
                    "type": "section",
                    "fields": [
                        {"type": "mrkdwn", "text": "*State*\nOK → ALARM"},
                        {"type": "mrkdwn", "text": "*Account*\n`123456789012`"},
                        {"type": "mrkdwn", "text": "*Region*\nUS East (N. Virginia)"},
                        {"type": "mrkdwn", "text": "*Changed at*\n2026-11-26T09:35:12Z"},
                        {"type": "mrkdwn", "text": "*Metric*\nFailedDatastores in HealthLakeMonitor"},
                    ],
                },
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": format!("*Reason*\n{}", ALARM_REASON.replace('>', "&gt;")),
                    },
                },
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": format!("*Description*\n{ALARM_DESCRIPTION}")},
                },
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": format!("<{link}|Open the alarm in the CloudWatch console>"),
                    },
                },
                {
                    "type": "context",
                    "elements": [
                        {"type": "mrkdwn", "text": format!("Alarm `{arn}` · healthlake-monitor")},
                    ],
                },
            ],
        })
    );

    // Back to OK, for an alarm whose name needs encoding in the link.
    let name = "HealthLake monitor / errors #1";
    let ok = sns_event(
        "0a6b5c4d-ok",
        &format!("OK: \"{name}\" in US East (N. Virginia)"),
        &alarm_notification(
            name,
            "ALARM",
            "OK",
            "Threshold Crossed: no datapoints were received for 1 period.",
            None,
        ),
    );
    lambda.invoke(&ok).await?.into_success()?;
    let received = slack.received();
    assert_eq!(received.len(), 2);
    let posted = &received[1].body;
    assert_eq!(
        posted["text"],
        format!("OK: {name} (ALARM → OK) in US East (N. Virginia)")
    );
    assert_eq!(
        posted["blocks"][0]["text"]["text"],
        format!(":large_green_circle: OK: {name}")
    );
    assert_eq!(
        posted["blocks"][1]["fields"][0]["text"],
        "*State*\nALARM → OK"
    );
    assert!(section_text(posted, "Description").is_none(), "{posted}");
    let encoded = "HealthLake%20monitor%20%2F%20errors%20%231";
    let link_text = posted["blocks"]
        .as_array()
        .context("blocks")?
        .iter()
        .filter_map(|b| b["text"]["text"].as_str())
        .find(|t| t.starts_with("<https://"))
        .context("a link to the alarm")?;
    assert_eq!(
        link_text,
        format!(
            "<https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1\
             #alarmsV2:alarm/{encoded}|Open the alarm in the CloudWatch console>"
        )
    );
    Ok(())
}

#[tokio::test]
async fn a_foreign_message_is_skipped_naming_its_message_id() -> anyhow::Result<()> {
    let (lambda, moto, slack) =
        tokio::try_join!(reserve(), Moto::shared(), SlackReceiver::start())?;
    let function = start_function(&lambda, moto, &slack.url, FUNCTION_TIMEOUT).await?;
    let private = "patient-jane-doe";
    let cases = [
        // The Chatbot notification, which the topic sends to other protocols.
        (
            "0d9c8b7a-chatbot",
            render::chatbot(&kms_failure()).to_string(),
        ),
        // A test message published from the SNS console.
        (
            "1e0d9c8b-console",
            format!("Hello from the console, {private}"),
        ),
        // An event forwarded by an EventBridge rule.
        (
            "2f1e0d9c-eventbridge",
            json!({
                "version": "0",
                "source": "aws.healthlake",
                "detail-type": "Data Store Creation Failed",
                "detail": {"datastoreName": private},
            })
            .to_string(),
        ),
        ("3a2f1e0d-array", json!([private]).to_string()),
    ];
    for (message_id, message) in &cases {
        let event = sns_event(message_id, "Not an alert", message);
        let response = lambda.invoke(&event).await?.into_success()?;
        assert_eq!(
            response,
            json!({"posted": [], "skipped": [{"message_id": message_id}]}),
            "{message_id}"
        );
    }
    assert!(slack.received().is_empty(), "nothing is posted");
    let log = function.log_tail();
    for (message_id, _) in &cases {
        let line = log
            .lines()
            .find(|l| l.contains(message_id))
            .with_context(|| format!("no log line names {message_id}:\n{log}"))?;
        assert!(line.contains(TOPIC), "{line}");
    }
    assert!(
        !log.contains(private)
            && !log.contains("client-markdown")
            && !log.contains("kms:CreateGrant"),
        "the log quotes a message:\n{log}"
    );
    Ok(())
}

#[tokio::test]
async fn an_unreadable_alert_or_alarm_and_a_malformed_event_fail_naming_the_problem()
-> anyhow::Result<()> {
    let (lambda, moto, slack) =
        tokio::try_join!(reserve(), Moto::shared(), SlackReceiver::start())?;
    let function = start_function(&lambda, moto, &slack.url, FUNCTION_TIMEOUT).await?;
    let private = "patient-jane-doe";
    let mut document: Value = serde_json::from_str(&lambda_message(&kms_failure())?)?;
    document["schema"] = json!("healthlake-monitor/alert/v2");
    let mut missing: Value = serde_json::from_str(&lambda_message(&kms_failure())?)?;
    missing
        .as_object_mut()
        .context("a document")?
        .remove("datastore_id");
    missing["datastore_name"] = json!(private);
    let mut alarm: Value =
        serde_json::from_str(&alarm_notification(private, "OK", "ALARM", private, None))?;
    alarm["NewStateValue"] = json!(42);

    let cases = [
        (
            sns_event("4b3a2f1e-v2", "", &document.to_string()),
            "UnreadableMessage",
            "SNS message 4b3a2f1e-v2 is not a healthlake-monitor/alert/v1 alert document: its \
             schema is healthlake-monitor/alert/v2",
        ),
        (
            sns_event("5c4b3a2f-missing", "", &missing.to_string()),
            "UnreadableMessage",
            "SNS message 5c4b3a2f-missing is not a healthlake-monitor/alert/v1 alert document: it \
             has no field datastore_id",
        ),
        (
            sns_event("6d5c4b3a-alarm", "", &alarm.to_string()),
            "UnreadableMessage",
            "SNS message 6d5c4b3a-alarm is not a readable CloudWatch alarm notification: a field \
             has the wrong type or value",
        ),
        (
            json!({"hello": private}),
            "NotAnSnsEvent",
            "the event is not an SNS event: it has no field Records",
        ),
        (
            json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": private}}]}),
            "NotAnSnsEvent",
            "the event is not an SNS event: it has no field",
        ),
    ];
    for (event, expected_type, expected) in cases {
        let (error_type, message) = function_error(lambda.invoke(&event).await?);
        assert_eq!(error_type, expected_type, "{message}");
        assert!(message.starts_with(expected), "{message}");
        assert!(!message.contains(private), "{message}");
    }
    assert!(slack.received().is_empty(), "nothing is posted");
    assert!(
        !function.log_tail().contains(private),
        "{}",
        function.log_tail()
    );
    Ok(())
}

// --------------------------------------------------------------- escaping

/// Checks that every drawn text of `message` is within its limit, has no
/// control character but the layout's newlines, and has no Slack markup but
/// `allowed_links`: each `&` starts an escape and each `<` one of those links.
fn assert_escaped(message: &Value, allowed_links: &[&str]) {
    for (text, limit) in drawn_texts(message) {
        assert!(text.chars().count() <= limit, "longer than {limit}: {text}");
        assert!(
            !text.chars().any(|c| c.is_control() && c != '\n'),
            "a control character: {text:?}"
        );
        for (i, _) in text.match_indices('&') {
            let rest = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;"]
                    .iter()
                    .any(|e| rest.starts_with(e)),
                "a raw &: {text:?}"
            );
        }
        for (i, _) in text.match_indices('<') {
            let rest = &text[i..];
            assert!(
                allowed_links.iter().any(|l| rest.starts_with(l)),
                "markup from data: {text:?}"
            );
        }
        assert!(
            !text.contains('>') || !allowed_links.is_empty(),
            "a raw >: {text:?}"
        );
    }
}

#[tokio::test]
async fn hostile_names_and_messages_reach_slack_escaped() -> anyhow::Result<()> {
    let (lambda, moto, slack) =
        tokio::try_join!(reserve(), Moto::shared(), SlackReceiver::start())?;
    let _function = start_function(&lambda, moto, &slack.url, FUNCTION_TIMEOUT).await?;
    let name = "<!channel> patients\u{1b}[31m & co <https://evil.example|click>";
    let cause = ErrorCause {
        message: format!(
            "denied <!everyone>\u{7}\r\n*Status*\nACTIVE \u{1b}]8;;https://evil.example\u{7}link\u{1b}]8;;\u{7} {}",
            "<@U024BE7LH> ".repeat(400)
        ),
        category: ErrorCategory::parse("RETRY<!here>\u{0}"),
    };
    let alert = failure(
        name,
        DatastoreStatus::parse("ACTIVE<!here>\u{1b}[2J"),
        cause,
    );
    lambda
        .invoke(&alert_event("7e6d5c4b-hostile", &alert)?)
        .await?
        .into_success()?;

    let received = slack.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let alert_post = &received[0].body;
    assert_escaped(alert_post, &[]);
    // Visible, not dropped: what was sent is still there to read.
    let header = alert_post["blocks"][0]["text"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(
        header.contains(
            "&lt;!channel&gt; patients\\u{1b}[31m &amp; co &lt;https://evil.example|click&gt;"
        ),
        "{header}"
    );
    let error =
        section_text(alert_post, "Error: RETRY&lt;!here&gt;\\u{0}").context("the error section")?;
    assert_eq!(
        error.matches('\n').count(),
        1,
        "only the layout's line break: {error:?}"
    );
    assert!(
        error.starts_with(
            "*Error: RETRY&lt;!here&gt;\\u{0}*\ndenied &lt;!everyone&gt;\\u{7}\\u{d}\\u{a}*Status*\\u{a}ACTIVE \\u{1b}]8;;"
        ),
        "{error}"
    );

    let alarm_name = "<!channel> alarm\u{1b}[2J";
    let alarm = sns_event(
        "8f7e6d5c-hostile",
        "ALARM",
        &alarm_notification(
            alarm_name,
            "OK<!here>",
            "ALARM",
            "x <https://evil.example|click> \u{1b}[2J & y\nz",
            Some("<!subteam^S0123> \u{0}\u{7f}\u{9b}31m"),
        ),
    );
    lambda.invoke(&alarm).await?.into_success()?;

    let received = slack.received();
    assert_eq!(received.len(), 2, "{received:?}");
    let alarm_post = &received[1].body;
    assert_escaped(
        alarm_post,
        &[
            "<https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/",
        ],
    );
    let reason = section_text(alarm_post, "Reason").context("the reason section")?;
    assert_eq!(
        reason,
        "*Reason*\nx &lt;https://evil.example|click&gt; \\u{1b}[2J &amp; y\\u{a}z"
    );
    Ok(())
}

// --------------------------------------------------------------- cold start

#[tokio::test]
async fn an_unusable_secret_fails_the_cold_start_naming_it() -> anyhow::Result<()> {
    let (lambda, moto) = tokio::try_join!(reserve(), Moto::shared())?;
    let absent = format!(
        "arn:aws:secretsmanager:{REGION}:123456789012:secret:{}-AbCdEf",
        unique("absent")
    );
    let plain_http = create_secret(
        moto,
        &format!("http://hooks.slack.com/services/T0HLM0TEST/B0HLM0TEST/{TOKEN}"),
    )
    .await?;
    let not_a_url = create_secret(moto, &json!({ "url": TOKEN }).to_string()).await?;
    let cases = [
        (
            None,
            "setting SLACK_WEBHOOK_SECRET_ARN: is required".to_owned(),
        ),
        (
            Some(absent.as_str()),
            format!(
                "secret {absent}: cannot be read: ResourceNotFoundException: Secrets Manager \
                 can't find the specified secret."
            ),
        ),
        (
            Some(plain_http.as_str()),
            format!(
                "secret {plain_http}: the webhook URL must be https (http is accepted only for \
                 localhost and 127.0.0.1)"
            ),
        ),
        (
            Some(not_a_url.as_str()),
            format!("secret {not_a_url}: the secret's JSON has no string \"webhook_url\""),
        ),
    ];
    for (arn, expected) in cases {
        let log = failed_cold_start(&lambda, &environment(moto, arn, None)).await?;
        assert!(log.contains(&expected), "expected {expected:?} in:\n{log}");
        assert_no_secret("the cold start's output", &log);
        assert!(!log.contains("hooks.slack.com"), "{log}");
    }
    Ok(())
}

#[tokio::test]
async fn only_slack_webhook_urls_are_accepted_unless_a_setting_allows_others() -> anyhow::Result<()>
{
    let (lambda, moto, slack) =
        tokio::try_join!(reserve(), Moto::shared(), SlackReceiver::start())?;
    let elsewhere = create_secret(
        moto,
        &format!("https://hooks.example.com/services/T0HLM0TEST/B0HLM0TEST/{TOKEN}"),
    )
    .await?;
    let local = create_secret(moto, &json!({ "webhook_url": slack.url }).to_string()).await?;
    let origin = slack.allowed_prefix().trim_end_matches('/').to_owned();
    let refused = |arn: &str, origin: &str, allowed: &str| {
        format!(
            "secret {arn}: the webhook URL on {origin} is not allowed: it must start with \
             {allowed} (setting {ALLOWED_PREFIXES})"
        )
    };
    let cases = [
        (
            elsewhere.as_str(),
            None,
            refused(
                &elsewhere,
                "https://hooks.example.com",
                "https://hooks.slack.com/",
            ),
        ),
        (
            local.as_str(),
            None,
            refused(&local, &origin, "https://hooks.slack.com/"),
        ),
        (
            local.as_str(),
            Some("https://hooks.slack.com/, http://127.0.0.1:1/"),
            refused(
                &local,
                &origin,
                "https://hooks.slack.com/ or http://127.0.0.1:1/",
            ),
        ),
        (
            local.as_str(),
            Some("127.0.0.1"),
            format!(
                "setting {ALLOWED_PREFIXES}: entry 1 is not a URL prefix such as \
                 https://hooks.slack.com/ (https, or http for localhost and 127.0.0.1, ending in /)"
            ),
        ),
    ];
    for (arn, allowed, expected) in cases {
        let log = failed_cold_start(&lambda, &environment(moto, Some(arn), allowed)).await?;
        assert!(log.contains(&expected), "expected {expected:?} in:\n{log}");
        assert_no_secret("the cold start's output", &log);
    }
    assert!(slack.received().is_empty());
    Ok(())
}

// --------------------------------------------------------------- docs

/// Pretty JSON in the order the type writes its fields.
fn pretty(value: &impl serde::Serialize) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// The failed-store alarm of [`alarm_event`], as the notifier reads it.
fn failed_store_alarm() -> anyhow::Result<slack_notifier::alarm::Alarm> {
    let message = alarm_notification(
        ALARM_NAME,
        "OK",
        "ALARM",
        ALARM_REASON,
        Some(ALARM_DESCRIPTION),
    );
    match slack_notifier::decode::decode("docs", &message)? {
        slack_notifier::decode::Notification::Alarm(alarm) => Ok(*alarm),
        other => bail!("the alarm reads as {other:?}"),
    }
}

/// The examples in `docs/` are what the code renders for [`kms_failure`] and
/// the failed-store alarm.
/// `UPDATE_DOCS=1` rewrites them.
#[test]
fn docs_are_current() -> anyhow::Result<()> {
    let alert = kms_failure();
    let document = AlertDocumentV1::from(&alert);
    let received = ReceivedAlert::try_from(document.clone())?;
    let files = [
        (
            "alert-email.txt",
            format!(
                "Subject: {}\n\n{}",
                render::subject(&alert),
                render::text_body(&alert)
            ),
        ),
        ("alert-chatbot.json", pretty(&render::chatbot(&alert))?),
        (
            "alert-slack-blocks.json",
            pretty(&blocks::message(&received))?,
        ),
        (
            "alarm-slack-blocks.json",
            pretty(&blocks::alarm(&failed_store_alarm()?))?,
        ),
        ("alert-document.json", pretty(&document)?),
    ];
    let docs = workspace_root().join("docs");
    let update = std::env::var("UPDATE_DOCS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, rendered) in files {
        let path = docs.join(name);
        if update {
            std::fs::create_dir_all(&docs)?;
            std::fs::write(&path, &rendered)
                .with_context(|| format!("writing {}", path.display()))?;
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(rendered.as_str()) {
            stale.push(format!("docs/{name}"));
        }
    }
    assert!(
        stale.is_empty(),
        "{} differ from what the code renders; rewrite them with \
         UPDATE_DOCS=1 cargo test -p integration-tests --test it docs_are_current",
        stale.join(", ")
    );
    Ok(())
}
