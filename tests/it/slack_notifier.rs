//! The `slack-notifier` Lambda binary, served by the local Lambda Runtime API,
//! reading its webhook secret from moto's Secrets Manager and posting to a
//! local HTTP receiver that stands in for Slack.
//!
//! The binary is the debug build of the `slack-notifier` package, next to this
//! test binary: `cargo build -p slack-notifier` (infra/scripts/test.sh runs it).
//!
//! Also here: `docs_are_current`, which renders the alert examples in `docs/`
//! from the code (`UPDATE_DOCS=1` rewrites them).

use std::collections::VecDeque;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::TimeZone;
use integration_tests::services::{
    FunctionProcess, InvokeOutcome, LambdaRuntimeApi, Moto, Profile, sdk_config, workspace_binary,
    workspace_root,
};
use serde_json::{Value, json};
use shared::domain::{
    AccountId, Alert, AlertPolicy, DatastoreId, DatastoreStatus, ErrorCategory, ErrorCause,
    Observation, Region, Scope, Transition,
};
use shared::render;
use slack_notifier::blocks;

/// The function name: a binary target of the workspace, so the Runtime API
/// emulator routes it.
const FUNCTION: &str = "slack-notifier";
const REGION: &str = "us-east-1";

/// The secret part of the test webhook URL: it must appear in no output.
const TOKEN: &str = "hlm0test0webhook0token";

const KMS_MESSAGE: &str = "The AWS KMS key arn:aws:kms:us-east-1:123456789012:key/\
                           5c1f8e2a-93d4-4b7e-a0f6-2d8c9e1b7a34 is not accessible: kms:CreateGrant \
                           was denied for the HealthLake service principal.";

/// How long a function with an unusable secret may take to give up.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

// --------------------------------------------------------------- the alert

/// A data store whose creation failed on a KMS key HealthLake cannot use.
fn kms_failure() -> Alert {
    let id = "8f2c1e7a9b3d4c5e6f708192a3b4c5d6";
    let observation = |status| Observation {
        account: AccountId::parse("123456789012").expect("valid account"),
        region: Region::parse(REGION).expect("valid region"),
        id: DatastoreId::parse(id).expect("valid id"),
        arn: format!("arn:aws:healthlake:{REGION}:123456789012:datastore/fhir/{id}"),
        name: "patients-prod".into(),
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
    let mut current = observation(DatastoreStatus::CreateFailed);
    current.error_cause = Some(ErrorCause {
        message: KMS_MESSAGE.into(),
        category: ErrorCategory::NonRetryable,
    });
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
    let structured: Value = serde_json::from_str(&shared::adapters::sns::message(alert)?)?;
    structured["lambda"]
        .as_str()
        .map(str::to_owned)
        .context("the published message has a lambda key")
}

/// An SNS event with one record, as Lambda receives it.
fn sns_event(message_id: &str, subject: &str, message: &str) -> Value {
    let topic = format!("arn:aws:sns:{REGION}:123456789012:healthlake-monitor-alerts");
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

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
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

/// The function's environment: its secret, in moto. The SDK's variable for
/// the Secrets Manager endpoint follows its service id, "Secrets Manager".
fn environment(moto: &Moto, secret_arn: Option<&str>) -> Vec<(String, String)> {
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
    env
}

/// A running function whose secret holds `webhook_url`.
async fn start_function(
    api: &LambdaRuntimeApi,
    moto: &Moto,
    webhook_url: &str,
) -> anyhow::Result<FunctionProcess> {
    let secret = json!({ "webhook_url": webhook_url }).to_string();
    let arn = create_secret(moto, &secret).await?;
    api.spawn_function(
        &workspace_binary(FUNCTION, Profile::Debug)?,
        FUNCTION,
        &environment(moto, Some(&arn)),
    )
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

// --------------------------------------------------------------- tests

#[tokio::test]
async fn posts_the_alert_as_block_kit_and_fails_on_rate_limits_and_server_errors()
-> anyhow::Result<()> {
    let (api, moto, slack) = tokio::try_join!(
        LambdaRuntimeApi::start(),
        Moto::start(),
        SlackReceiver::start()
    )?;
    let function = start_function(&api, &moto, &slack.url).await?;
    let alert = kms_failure();
    let subject = render::subject(&alert);
    let event = sns_event(
        "5a1e0b2c-3d4f-5a6b-7c8d-9e0f1a2b3c4d",
        &subject,
        &lambda_message(&alert)?,
    );

    let response = api.invoke(FUNCTION, &event).await?.into_success()?;
    assert_eq!(response, json!({ "posted": [alert.id] }));
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
        &serde_json::to_value(blocks::message(&render::document(&alert)))?
    );

    // Slack's rate limit and its server errors fail the invocation, so Lambda
    // retries it and then hands it to the dead-letter queue.
    slack.answer_next(Answer::RateLimited { retry_after: 30 });
    let (error_type, message) = function_error(api.invoke(FUNCTION, &event).await?);
    assert_eq!(error_type, "SlackRefused");
    assert_eq!(
        message,
        format!(
            "alert {} (SNS message 5a1e0b2c-3d4f-5a6b-7c8d-9e0f1a2b3c4d) was not posted: \
             Slack answered 429 Too Many Requests (Retry-After: 30): rate_limited",
            alert.id
        )
    );

    slack.answer_next(Answer::ServerError);
    let (error_type, message) = function_error(api.invoke(FUNCTION, &event).await?);
    assert_eq!(error_type, "SlackRefused");
    assert!(
        message.ends_with("Slack answered 500 Internal Server Error: internal_error"),
        "{message}"
    );
    assert_eq!(
        slack.received().len(),
        3,
        "the function does not retry by itself"
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
async fn a_message_that_is_not_an_alert_fails_naming_its_message_id() -> anyhow::Result<()> {
    let (api, moto, slack) = tokio::try_join!(
        LambdaRuntimeApi::start(),
        Moto::start(),
        SlackReceiver::start()
    )?;
    let function = start_function(&api, &moto, &slack.url).await?;
    // The Chatbot notification, which the topic sends to other protocols.
    let chatbot = render::chatbot(&kms_failure()).to_string();
    let event = sns_event("0d9c8b7a-not-an-alert", "Data store failed", &chatbot);

    let (error_type, message) = function_error(api.invoke(FUNCTION, &event).await?);
    assert_eq!(error_type, "NotAnAlert");
    assert_eq!(
        message,
        "SNS message 0d9c8b7a-not-an-alert is not a healthlake-monitor/alert/v1 alert document: \
         it has no schema"
    );
    assert!(slack.received().is_empty(), "nothing is posted");
    let log = function.log_tail();
    assert!(log.contains("0d9c8b7a-not-an-alert"), "{log}");
    assert!(
        !log.contains("client-markdown") && !log.contains("kms:CreateGrant"),
        "the log quotes the message:\n{log}"
    );
    Ok(())
}

#[tokio::test]
async fn an_unreachable_webhook_fails_the_invocation_without_naming_the_url() -> anyhow::Result<()>
{
    let (api, moto) = tokio::try_join!(LambdaRuntimeApi::start(), Moto::start())?;
    // A port nothing listens on any more.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{closed}{WEBHOOK_PATH}");
    let function = start_function(&api, &moto, &url).await?;
    let alert = kms_failure();
    let event = sns_event(
        "6b2f1c3d-unreachable",
        &render::subject(&alert),
        &lambda_message(&alert)?,
    );

    let (error_type, message) = function_error(api.invoke(FUNCTION, &event).await?);
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

#[tokio::test]
async fn an_unusable_secret_fails_the_cold_start_naming_it() -> anyhow::Result<()> {
    let (api, moto) = tokio::try_join!(LambdaRuntimeApi::start(), Moto::start())?;
    let bootstrap = workspace_binary(FUNCTION, Profile::Debug)?;
    let absent = format!(
        "arn:aws:secretsmanager:{REGION}:123456789012:secret:{}-AbCdEf",
        unique("absent")
    );
    let plain_http = create_secret(
        &moto,
        &format!("http://hooks.slack.com/services/T0HLM0TEST/B0HLM0TEST/{TOKEN}"),
    )
    .await?;
    let not_a_url = create_secret(&moto, &json!({ "url": TOKEN }).to_string()).await?;
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
        let mut function = api.spawn_function(&bootstrap, FUNCTION, &environment(&moto, arn))?;
        let status = wait_for_exit(&mut function).await?;
        let log = function.log_tail();
        assert!(!status.success(), "{status}: {log}");
        assert!(log.contains(&expected), "expected {expected:?} in:\n{log}");
        assert_no_secret("the cold start's output", &log);
        assert!(!log.contains("hooks.slack.com"), "{log}");
    }
    Ok(())
}

// --------------------------------------------------------------- docs

/// Pretty JSON in the order the type writes its fields.
fn pretty(value: &impl serde::Serialize) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)? + "\n")
}

/// The examples in `docs/` are what the code renders for [`kms_failure`].
/// `UPDATE_DOCS=1` rewrites them.
#[test]
fn docs_are_current() -> anyhow::Result<()> {
    let alert = kms_failure();
    let document = render::document(&alert);
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
            pretty(&blocks::message(&document))?,
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
