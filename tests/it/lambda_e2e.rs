//! End to end: the `status-monitor` binary handles EventBridge scheduled
//! events through the local Lambda Runtime API, against DynamoDB Local, moto
//! (an SNS topic with an SQS queue subscribed) and the HealthLake emulator.
//! Each test asserts what a subscriber receives and what the snapshot table holds.
//!
//! The binary is the debug build that `cargo build --workspace` makes (the
//! release build that Lambda runs differs only in optimisation); it is refused
//! when older than its sources.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail, ensure};
use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::emulator::Emulator;
use integration_tests::fixtures::{create_queue, create_snapshot_table, subscribe, unique};
use integration_tests::services::{
    DynamoDbLocal, Function, FunctionProcess, InvokeOutcome, LambdaRuntimeApi, Moto, sdk_config,
    workspace_binary,
};
use monitor_core::document::{AlertDocumentV1, SCHEMA_V1};
use serde_json::{Value, json};
use tokio::time::Instant;

mod accounts;
mod events;
mod routing;

/// The binary target, which is also the function name the Runtime API routes.
const FUNCTION: &str = "status-monitor";
/// moto's account, used for the emulator's ARNs and the function's scope too.
const ACCOUNT: &str = "123456789012";
const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";
const SCOPE_EAST: &str = "123456789012#us-east-1";

/// Upper bound of draining the queue.
const POLL_DEADLINE: Duration = Duration::from_secs(30);
const KMS_MESSAGE: &str = "The AWS KMS key arn:aws:kms:us-east-1:123456789012:key/1234 is not \
                           accessible: kms:CreateGrant was denied for the HealthLake service principal.";

/// An EventBridge scheduled event (rule or Scheduler), as Lambda receives it.
fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": EAST,
        "resources": [format!("arn:aws:events:{EAST}:{ACCOUNT}:rule/healthlake-monitor-schedule")],
        "detail": {}
    })
}

type Item = HashMap<String, AttributeValue>;

/// A string attribute of an item.
fn text<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// One message as the SQS subscriber receives it: the SNS envelope, since the
/// subscription has no raw message delivery.
#[derive(Debug)]
struct Delivered {
    subject: String,
    /// `Message`: the body SNS chose for `sqs`, as sent.
    message: String,
    /// `Message` parsed: the versioned JSON document.
    document: Value,
    /// `MessageAttributes`: name to string value.
    attributes: BTreeMap<String, String>,
}

impl Delivered {
    fn parse(body: &str, topic_arn: &str) -> anyhow::Result<Self> {
        let envelope: Value =
            serde_json::from_str(body).with_context(|| format!("SQS body is not JSON: {body}"))?;
        ensure!(
            envelope["Type"] == "Notification" && envelope["TopicArn"] == topic_arn,
            "not a notification of {topic_arn}: {envelope}"
        );
        let field = |key: &str| {
            envelope[key]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("envelope without {key}: {envelope}"))
        };
        let message = field("Message")?;
        let document = serde_json::from_str(&message)
            .with_context(|| format!("the sqs message is not JSON: {message}"))?;
        let mut attributes = BTreeMap::new();
        for (name, value) in envelope["MessageAttributes"]
            .as_object()
            .ok_or_else(|| anyhow!("envelope without MessageAttributes: {envelope}"))?
        {
            ensure!(value["Type"] == "String", "attribute {name}: {value}");
            let value = value["Value"]
                .as_str()
                .ok_or_else(|| anyhow!("attribute {name} without a value: {value}"))?;
            attributes.insert(name.clone(), value.to_owned());
        }
        Ok(Self {
            subject: field("Subject")?,
            message,
            document,
            attributes,
        })
    }

    fn alert(&self) -> AlertDocumentV1 {
        serde_json::from_value(self.document.clone()).expect("the document decodes as an alert")
    }
}

fn attributes(pairs: [(&str, &str); 5]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Asserts the alert a subscriber gets for a store that entered CREATE_FAILED.
fn assert_failure_alert(
    delivered: &Delivered,
    id: &str,
    name: &str,
    region: &str,
    previous: Option<&str>,
    (message, category): (&str, &str),
) {
    let document = &delivered.document;
    assert_eq!(document["schema"], SCHEMA_V1, "{document:#}");
    assert_eq!(document["severity"], "critical", "{document:#}");
    assert_eq!(document["datastore_id"], id, "{document:#}");
    assert_eq!(document["datastore_name"], name, "{document:#}");
    assert_eq!(document["region"], region, "{document:#}");
    assert_eq!(document["account"], ACCOUNT, "{document:#}");
    assert_eq!(document["status"], "CREATE_FAILED", "{document:#}");
    assert_eq!(document["previous_status"], json!(previous), "{document:#}");
    assert_eq!(document["error_cause"]["message"], message, "{document:#}");
    assert_eq!(
        document["error_cause"]["category"], category,
        "{document:#}"
    );

    // SNS takes subjects under 100 characters.
    let subject = &delivered.subject;
    assert!(subject.chars().count() < 100, "{subject:?}");
    assert!(
        subject.starts_with("[CRITICAL]") && subject.contains(name),
        "{subject:?}"
    );
    assert_eq!(document["subject"], subject.as_str());

    assert_eq!(
        delivered.attributes,
        attributes([
            ("severity", "critical"),
            ("status", "CREATE_FAILED"),
            ("error_category", category),
            ("region", region),
            ("account", ACCOUNT),
        ])
    );
}

/// A test's own table, topic, queue and emulator on the shared services, the
/// function name reserved for it, and the processes serving that name.
struct Stack {
    /// The debug binary of the function.
    bootstrap: PathBuf,
    dynamodb: &'static DynamoDbLocal,
    moto: &'static Moto,
    emulator: Emulator,
    function: Function,
    http: reqwest::Client,
    ddb: aws_sdk_dynamodb::Client,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    table: String,
    topic_name: String,
    queue_url: String,
    queue_arn: String,
    functions: Vec<FunctionProcess>,
}

impl Stack {
    /// A stack whose alert topic, with the queue subscribed, exists.
    async fn start() -> anyhow::Result<Self> {
        let stack = Self::without_topic().await?;
        stack.create_topic().await?;
        Ok(stack)
    }

    /// A stack whose alert topic does not exist yet ([`Self::create_topic`]).
    async fn without_topic() -> anyhow::Result<Self> {
        let bootstrap = workspace_binary(FUNCTION)?;
        let (dynamodb, moto, api, emulator) = tokio::try_join!(
            DynamoDbLocal::shared(),
            Moto::shared(),
            LambdaRuntimeApi::shared(),
            Emulator::start()
        )?;
        let moto_config = sdk_config(&moto.endpoint(), EAST);
        let mut stack = Self {
            ddb: aws_sdk_dynamodb::Client::new(&sdk_config(&dynamodb.endpoint(), EAST)),
            sns: aws_sdk_sns::Client::new(&moto_config),
            sqs: aws_sdk_sqs::Client::new(&moto_config),
            http: reqwest::Client::builder().no_proxy().build()?,
            bootstrap,
            dynamodb,
            moto,
            emulator,
            function: api.reserve(FUNCTION).await?,
            table: unique("snapshot"),
            topic_name: unique("alerts"),
            queue_url: String::new(),
            queue_arn: String::new(),
            functions: Vec::new(),
        };
        stack.create_table().await?;
        stack.create_queue().await?;
        Ok(stack)
    }

    async fn create_table(&self) -> anyhow::Result<()> {
        create_snapshot_table(&self.ddb, &self.table).await
    }

    async fn create_queue(&mut self) -> anyhow::Result<()> {
        (self.queue_url, self.queue_arn) = create_queue(&self.sqs).await?;
        Ok(())
    }

    /// The ARN the topic has once created: known before it exists.
    fn topic_arn(&self) -> String {
        format!("arn:aws:sns:{EAST}:{ACCOUNT}:{}", self.topic_name)
    }

    /// Creates the topic and subscribes the queue (SNS envelope, no raw delivery).
    async fn create_topic(&self) -> anyhow::Result<()> {
        let arn = self
            .sns
            .create_topic()
            .name(&self.topic_name)
            .send()
            .await?
            .topic_arn
            .context("topic ARN")?;
        ensure!(arn == self.topic_arn(), "{arn} != {}", self.topic_arn());
        subscribe(&self.sns, &arn, &self.queue_arn, None).await
    }

    /// Starts one more process serving the function, with the settings of a
    /// deployment pointed at this stack; `settings` add to or replace them.
    fn spawn(&mut self, settings: &[(&str, &str)]) -> anyhow::Result<()> {
        let mut env: Vec<(String, String)> = [
            ("TABLE_NAME", self.table.clone()),
            ("TOPIC_ARN", self.topic_arn()),
            ("REGIONS", EAST.to_owned()),
            // cargo-lambda's Runtime API sends `function-arn` as the invoked
            // function ARN, which names no account.
            ("ACCOUNT_ID", ACCOUNT.to_owned()),
            ("AWS_ENDPOINT_URL_DYNAMODB", self.dynamodb.endpoint()),
            ("AWS_ENDPOINT_URL_SNS", self.moto.endpoint()),
            ("AWS_ENDPOINT_URL_HEALTHLAKE", self.emulator.url()),
            ("AWS_ACCESS_KEY_ID", "testing".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_owned()),
            ("AWS_REGION", EAST.to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let process = self.function.spawn(&self.bootstrap, &env)?;
        self.functions.push(process);
        Ok(())
    }

    /// Fails fast, with its log, if a function process has exited (for example
    /// on a bad setting), rather than letting an invocation wait for it.
    fn ensure_serving(&mut self) -> anyhow::Result<()> {
        ensure!(!self.functions.is_empty(), "no function process spawned");
        for function in &mut self.functions {
            if let Some(status) = function.exit_status()? {
                bail!(
                    "the function process exited ({status}):\n{}",
                    function.log_tail()
                );
            }
        }
        Ok(())
    }

    fn function_logs(&self) -> String {
        self.functions
            .iter()
            .map(FunctionProcess::log_tail)
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    async fn invoke(&mut self) -> anyhow::Result<InvokeOutcome> {
        self.ensure_serving()?;
        self.function.invoke(&scheduled_event()).await
    }

    /// One invocation that must succeed; its response.
    async fn tick(&mut self) -> anyhow::Result<Value> {
        let outcome = self.invoke().await?;
        outcome
            .into_success()
            .with_context(|| format!("function log:\n{}", self.function_logs()))
    }

    /// Two invocations at once (spawn two processes first).
    async fn tick_twice_at_once(&mut self) -> anyhow::Result<(Value, Value)> {
        self.ensure_serving()?;
        let (first, second) = (scheduled_event(), scheduled_event());
        let (a, b) = tokio::join!(self.function.invoke(&first), self.function.invoke(&second));
        let logs = || format!("function logs:\n{}", self.function_logs());
        Ok((
            a?.into_success().with_context(logs)?,
            b?.into_success().with_context(logs)?,
        ))
    }

    /// Receives and deletes everything in the queue. moto delivers to SQS
    /// subscribers within the Publish call, so whatever an invocation that has
    /// returned sent is there: no receive needs to wait.
    async fn drain(&self) -> anyhow::Result<Vec<Delivered>> {
        let deadline = Instant::now() + POLL_DEADLINE;
        let mut delivered = Vec::new();
        loop {
            let messages = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await?
                .messages
                .unwrap_or_default();
            if messages.is_empty() {
                return Ok(delivered);
            }
            for message in messages {
                let body = message.body.as_deref().context("message without a body")?;
                delivered.push(Delivered::parse(body, &self.topic_arn())?);
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .set_receipt_handle(message.receipt_handle)
                    .send()
                    .await?;
            }
            ensure!(
                Instant::now() < deadline,
                "the queue was still receiving after {POLL_DEADLINE:?}: {delivered:#?}"
            );
        }
    }

    /// Drains the queue and asserts how many alerts it held (a panic, so that
    /// the services' logs are printed).
    async fn expect_alerts(&self, count: usize) -> anyhow::Result<Vec<Delivered>> {
        let delivered = self.drain().await?;
        let subjects: Vec<&str> = delivered.iter().map(|d| d.subject.as_str()).collect();
        assert_eq!(delivered.len(), count, "alerts in the queue: {subjects:?}");
        Ok(delivered)
    }

    /// Every item of the table, by `pk` then `sk`.
    async fn items(&self) -> anyhow::Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .ddb
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        items.sort_by(|a, b| (text(a, "pk"), text(a, "sk")).cmp(&(text(b, "pk"), text(b, "sk"))));
        Ok(items)
    }

    /// What the topic was asked to publish, as moto keeps it (its
    /// `/moto-api/data.json`): per Publish call, the subject and the
    /// `MessageStructure=json` message with its body per protocol.
    async fn published(&self) -> anyhow::Result<Vec<(String, Value)>> {
        let data: Value = self
            .http
            .get(format!("{}/moto-api/data.json", self.moto.endpoint()))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let topic_arn = self.topic_arn();
        let topic = data["sns"]["Topic"]
            .as_array()
            .and_then(|topics| topics.iter().find(|t| t["arn"] == topic_arn.as_str()))
            .ok_or_else(|| anyhow!("moto holds no topic {topic_arn}"))?;
        // Each entry: [message id, message, subject, attributes, group id].
        topic["sent_notifications"]
            .as_array()
            .context("sent_notifications")?
            .iter()
            .map(|sent| {
                let message = sent[1].as_str().context("message")?;
                let subject = sent[2].as_str().context("subject")?;
                Ok((subject.to_owned(), serde_json::from_str(message)?))
            })
            .collect()
    }

    /// Creates a data store; `failure` (category, message) makes its creation fail.
    async fn create_store(
        &self,
        region: &str,
        name: &str,
        failure: Option<(&str, &str)>,
    ) -> anyhow::Result<String> {
        let outcome =
            failure.map(|(category, message)| format!("CREATE_FAILED:{category}:{message}"));
        self.emulator
            .create_store(region, name, outcome.as_deref())
            .await
    }

    /// Lets the creations under way finish: store `id` of `region` must then
    /// show `status`.
    async fn settle(&self, region: &str, id: &str, status: &str) -> anyhow::Result<()> {
        self.emulator
            .settle(&self.emulator.client(region), id, status)
            .await?;
        Ok(())
    }

    /// Forces a status (and error cause) on a store, as the service would set it.
    async fn force_status(&self, id: &str, status: &str, cause: Option<(&str, &str)>) {
        self.emulator
            .force_status(id, status, cause)
            .await
            .expect("forcing a status");
    }

    async fn admin_post(&self, path: &str, body: Value) -> Value {
        self.emulator
            .admin_post(path, body)
            .await
            .expect("emulator admin request")
    }

    async fn admin_get(&self, path: &str) -> Value {
        self.emulator
            .admin_get(path)
            .await
            .expect("emulator admin request")
    }
}

/// The `alerts_published` of each scope of a tick's response, by scope key.
fn published_per_scope(response: &Value) -> BTreeMap<String, u64> {
    response["scopes"]
        .as_array()
        .expect("scopes in the response")
        .iter()
        .map(|s| {
            (
                s["scope"].as_str().expect("scope key").to_owned(),
                s["alerts_published"].as_u64().expect("alerts_published"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_alerts_once_on_a_store_that_already_failed() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let active = stack.create_store(EAST, "patients-prod", None).await?;
    let other = stack.create_store(EAST, "claims-staging", None).await?;
    let failed = stack
        .create_store(
            EAST,
            "imaging-new",
            Some(("NON_RETRYABLE_ERROR", KMS_MESSAGE)),
        )
        .await?;
    // The clock moves for every store: the other two are ACTIVE by then.
    stack.settle(EAST, &failed, "CREATE_FAILED").await?;
    stack.spawn(&[])?;

    let response = stack.tick().await?;

    assert_eq!(response["scopes"][0]["datastores"], 3, "{response}");
    let delivered = stack.expect_alerts(1).await?;
    assert_failure_alert(
        &delivered[0],
        &failed,
        "imaging-new",
        EAST,
        None,
        (KMS_MESSAGE, "NON_RETRYABLE_ERROR"),
    );
    assert_eq!(delivered[0].alert().id, format!("{SCOPE_EAST}#{failed}#1"));

    let items = stack.items().await?;
    let keys: BTreeSet<(&str, &str)> = items
        .iter()
        .map(|i| (text(i, "pk").unwrap(), text(i, "sk").unwrap()))
        .collect();
    let expected: BTreeSet<(&str, &str)> = [&active, &other, &failed]
        .into_iter()
        .map(|id| (SCOPE_EAST, id.as_str()))
        .collect();
    assert_eq!(keys, expected, "one item per data store");
    assert_eq!(items.len(), 3);
    for item in &items {
        assert_eq!(text(item, "alert_state"), Some("none"), "{item:?}");
        assert!(!item.contains_key("pending_alerts"), "{item:?}");
        assert!(!item.contains_key("claim_owner"), "{item:?}");
        let id = text(item, "sk").unwrap();
        if id == failed {
            assert_eq!(text(item, "status"), Some("CREATE_FAILED"));
            assert_eq!(text(item, "error_message"), Some(KMS_MESSAGE));
            assert_eq!(text(item, "error_category"), Some("NON_RETRYABLE_ERROR"));
        } else {
            assert_eq!(text(item, "status"), Some("ACTIVE"), "{item:?}");
            assert!(!item.contains_key("error_message"), "{item:?}");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_fails_during_creation_alerts_every_protocol_with_its_cause()
-> anyhow::Result<()> {
    const MESSAGE: &str = "An internal error occurred while creating the data store. Try again.";
    const CATEGORY: &str = "RETRYABLE_ERROR";
    let mut stack = Stack::start().await?;
    let id = stack.create_store(EAST, "patients-new", None).await?;
    stack.spawn(&[])?;

    stack.tick().await?;
    stack.expect_alerts(0).await?;
    let items = stack.items().await?;
    assert_eq!(items.len(), 1);
    assert_eq!(text(&items[0], "status"), Some("CREATING"));

    stack
        .force_status(&id, "CREATE_FAILED", Some((CATEGORY, MESSAGE)))
        .await;
    stack.tick().await?;

    let delivered = stack.expect_alerts(1).await?;
    let delivered = &delivered[0];
    assert_failure_alert(
        delivered,
        &id,
        "patients-new",
        EAST,
        Some("CREATING"),
        (MESSAGE, CATEGORY),
    );

    // moto sends no email and posts to https endpoints only over TLS it trusts,
    // so the email and Chatbot bodies are read from its record of the Publish
    // call: SNS hands each protocol its own key of the JSON message.
    let published = stack.published().await?;
    assert_eq!(published.len(), 1, "one Publish call: {published:#?}");
    let (subject, bodies) = &published[0];
    assert_eq!(subject, &delivered.subject);
    assert_eq!(
        bodies["sqs"], delivered.message,
        "the queue got the sqs body"
    );

    let email = bodies["email"].as_str().expect("an email body");
    for needle in [
        "CRITICAL: HealthLake data store patients-new is CREATE_FAILED in us-east-1".to_owned(),
        format!("ID:          {id}"),
        "Status:      CREATING → CREATE_FAILED".to_owned(),
        format!("Category:    {CATEGORY}"),
        format!("Error:       {MESSAGE}"),
    ] {
        assert!(email.contains(&needle), "missing {needle:?} in\n{email}");
    }

    let chatbot: Value = serde_json::from_str(bodies["https"].as_str().expect("an https body"))?;
    assert_eq!(chatbot["version"], "1.0");
    assert_eq!(chatbot["source"], "custom");
    let description = chatbot["content"]["description"]
        .as_str()
        .unwrap_or_default();
    assert!(
        description.contains(MESSAGE) && description.contains(CATEGORY),
        "{chatbot:#}"
    );
    assert_eq!(
        chatbot["metadata"]["additionalContext"]["errorCategory"],
        CATEGORY
    );
    assert_eq!(
        bodies["default"], bodies["https"],
        "Chatbot is the default body"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_of_every_shape_the_model_allows_alert_once_each_intact() -> anyhow::Result<()> {
    // 32 characters, 56 bytes in UTF-8: letters of three scripts, Arabic-Indic
    // digits, a space and the punctuation the model allows.
    const LONG: &str = "Ωμέγα δεδομένων:東京都/٣٤٥_ü.v2=+%@";
    assert_eq!(LONG.chars().count(), 32);
    let ids = ["store one", "é:ü/2=+%@", "data_store.v1", LONG];
    let name = |id: &str| format!("store-{}", ids.iter().position(|i| *i == id).unwrap_or(99));
    let failure = format!("CREATE_FAILED:NON_RETRYABLE_ERROR:{KMS_MESSAGE}");
    let mut stack = Stack::start().await?;
    for id in ids {
        stack
            .emulator
            .create_store_with_id(EAST, id, &name(id), Some(&failure))
            .await?;
    }
    let healthy = stack.create_store(EAST, "patients-prod", None).await?;
    stack.settle(EAST, ids[0], "CREATE_FAILED").await?;
    stack.spawn(&[])?;

    let response = stack.tick().await?;

    assert_eq!(response["scopes"][0]["datastores"], 5, "{response}");
    let delivered = stack.expect_alerts(ids.len()).await?;
    let mut alerted = BTreeSet::new();
    for delivered in &delivered {
        let id = delivered.document["datastore_id"]
            .as_str()
            .context("a datastore_id")?
            .to_owned();
        assert_failure_alert(
            delivered,
            &id,
            &name(&id),
            EAST,
            None,
            (KMS_MESSAGE, "NON_RETRYABLE_ERROR"),
        );
        assert_eq!(delivered.alert().id, format!("{SCOPE_EAST}#{id}#1"));
        assert_eq!(
            delivered.document["datastore_arn"],
            format!("arn:aws:healthlake:{EAST}:{ACCOUNT}:datastore/fhir/{id}")
        );
        alerted.insert(id);
    }
    let expected: BTreeSet<String> = ids.iter().map(|id| id.to_string()).collect();
    assert_eq!(alerted, expected, "one alert per failed store");

    // The email shows the id as it is, and quotes it in the command to run.
    for (_, bodies) in stack.published().await? {
        let document: Value = serde_json::from_str(bodies["sqs"].as_str().unwrap_or_default())?;
        let id = document["datastore_id"].as_str().unwrap_or_default();
        let email = bodies["email"].as_str().expect("an email body");
        for needle in [
            format!("ID:          {id}\n"),
            format!("--datastore-id '{id}' --region us-east-1"),
            format!("Alert id: {SCOPE_EAST}#{id}#1\n"),
        ] {
            if id == "data_store.v1" && needle.starts_with("--") {
                continue;
            }
            assert!(email.contains(&needle), "missing {needle:?} in\n{email}");
        }
    }

    let items = stack.items().await?;
    let keys: BTreeSet<&str> = items
        .iter()
        .map(|item| text(item, "sk").unwrap_or_default())
        .collect();
    let mut expected: BTreeSet<&str> = ids.into_iter().collect();
    expected.insert(&healthy);
    assert_eq!(keys, expected, "one item per data store, keyed by its id");

    let response = stack.tick().await?;
    assert_eq!(response["scopes"][0]["transitions"], 0, "{response}");
    assert_eq!(response["scopes"][0]["datastores"], 5, "{response}");
    stack.expect_alerts(0).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_with_no_change_sends_and_writes_nothing() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    stack.create_store(EAST, "patients-prod", None).await?;
    let failed = stack
        .create_store(
            EAST,
            "imaging-new",
            Some(("NON_RETRYABLE_ERROR", KMS_MESSAGE)),
        )
        .await?;
    stack.settle(EAST, &failed, "CREATE_FAILED").await?;
    stack.spawn(&[])?;
    stack.tick().await?;
    stack.expect_alerts(1).await?;
    let before = stack.items().await?;

    let response = stack.tick().await?;

    assert_eq!(response["scopes"][0]["transitions"], 0, "{response}");
    stack.expect_alerts(0).await?;
    assert_eq!(
        stack.items().await?,
        before,
        "the table is unchanged, versions included"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_invocations_at_once_alert_once() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let failed = stack.create_store(EAST, "imaging-new", None).await?;
    stack
        .force_status(
            &failed,
            "CREATE_FAILED",
            Some(("NON_RETRYABLE_ERROR", KMS_MESSAGE)),
        )
        .await;
    let creating = stack.create_store(EAST, "patients-new", None).await?;
    stack.spawn(&[])?;
    stack.spawn(&[])?;

    // Both see the table empty: the first write of a record is conditional too.
    let (a, b) = stack.tick_twice_at_once().await?;
    let delivered = stack.expect_alerts(1).await?;
    assert_eq!(delivered[0].document["datastore_id"], failed.as_str());
    let total = |a: &Value, b: &Value| {
        published_per_scope(a)[SCOPE_EAST] + published_per_scope(b)[SCOPE_EAST]
    };
    assert_eq!(total(&a, &b), 1, "{a} {b}");

    // Both see the same transition of a known record.
    stack
        .force_status(
            &creating,
            "CREATE_FAILED",
            Some(("RETRYABLE_ERROR", "Try again.")),
        )
        .await;
    let (a, b) = stack.tick_twice_at_once().await?;
    let delivered = stack.expect_alerts(1).await?;
    assert_eq!(delivered[0].document["datastore_id"], creating.as_str());
    assert_eq!(delivered[0].document["previous_status"], "CREATING");
    assert_eq!(total(&a, &b), 1, "{a} {b}");

    let items = stack.items().await?;
    assert_eq!(items.len(), 2);
    assert!(
        items.iter().all(|i| text(i, "alert_state") == Some("none")
            && text(i, "status") == Some("CREATE_FAILED")),
        "{items:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_that_cannot_be_published_stays_pending_and_goes_out_once() -> anyhow::Result<()> {
    let mut stack = Stack::without_topic().await?;
    let failed = stack
        .create_store(
            EAST,
            "imaging-new",
            Some(("NON_RETRYABLE_ERROR", KMS_MESSAGE)),
        )
        .await?;
    stack.settle(EAST, &failed, "CREATE_FAILED").await?;
    stack.spawn(&[])?;
    let alert_id = format!("{SCOPE_EAST}#{failed}#1");

    // The tick ran: it succeeds (the schedule's dead-letter queue is for
    // ticks that never ran) and names the alert it could not send.
    let response = stack.tick().await?;
    let problems = response["problems"].to_string();
    assert!(
        problems.contains(&format!("publishing alert {alert_id} failed (retryable)"))
            && problems.contains("NotFound")
            && problems.contains("stays pending"),
        "{response}"
    );
    assert_eq!(response["scopes"][0]["alerts_failed"], 1, "{response}");
    let items = stack.items().await?;
    assert_eq!(items.len(), 1);
    assert_eq!(text(&items[0], "alert_state"), Some("pending"), "{items:?}");
    let pending: Value = serde_json::from_str(text(&items[0], "pending_alerts").unwrap())?;
    assert_eq!(pending[0]["id"], alert_id.as_str());

    stack.create_topic().await?;
    let response = stack.tick().await?;
    assert_eq!(published_per_scope(&response)[SCOPE_EAST], 1);
    let delivered = stack.expect_alerts(1).await?;
    assert_failure_alert(
        &delivered[0],
        &failed,
        "imaging-new",
        EAST,
        None,
        (KMS_MESSAGE, "NON_RETRYABLE_ERROR"),
    );
    assert_eq!(delivered[0].document["id"], alert_id.as_str());
    let items = stack.items().await?;
    assert_eq!(text(&items[0], "alert_state"), Some("none"), "{items:?}");
    assert!(!items[0].contains_key("pending_alerts"), "{items:?}");

    stack.tick().await?;
    stack.expect_alerts(0).await?;
    assert_eq!(stack.published().await?.len(), 1, "published exactly once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_event_however_malformed_runs_one_tick() -> anyhow::Result<()> {
    // The payload only triggers the tick: a malformed or foreign event is
    // logged by its id (when it has one) and scanned on, never retried. A
    // HealthLake event that cannot be read is rejected (see `events`).
    let mut stack = Stack::start().await?;
    let failed = stack
        .create_store(
            EAST,
            "imaging-new",
            Some(("NON_RETRYABLE_ERROR", KMS_MESSAGE)),
        )
        .await?;
    stack.settle(EAST, &failed, "CREATE_FAILED").await?;
    stack.spawn(&[])?;
    let events = [
        json!(null),
        json!("\u{1b}[2J not an event"),
        json!([1, 2, 3]),
        json!({"source": 42, "id": {"nested": true}, "detail-type": null}),
        json!({"source": "aws.events", "detail-type": "Data Store Creation Failed", "detail": "truncated"}),
    ];
    for (n, event) in events.iter().enumerate() {
        stack.ensure_serving()?;
        let response = stack
            .function
            .invoke(event)
            .await?
            .into_success()
            .with_context(|| format!("event {n}: {event}"))?;
        assert_eq!(
            response["scopes"][0]["scanned"], true,
            "event {n}: {response}"
        );
        assert_eq!(
            response["scopes"][0]["alerts_published"],
            u64::from(n == 0),
            "event {n}: {response}"
        );
    }
    stack.expect_alerts(1).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_one_page_of_stores_is_listed_and_recorded() -> anyhow::Result<()> {
    const STORES: usize = 503;
    let mut stack = Stack::start().await?;
    for n in 0..STORES - 1 {
        stack
            .create_store(EAST, &format!("store-{n:03}"), None)
            .await?;
    }
    let failed = stack
        .create_store(
            EAST,
            "imaging-new",
            Some(("NON_RETRYABLE_ERROR", KMS_MESSAGE)),
        )
        .await?;
    stack.settle(EAST, &failed, "CREATE_FAILED").await?;
    stack.spawn(&[])?;

    let response = stack.tick().await?;

    assert_eq!(response["scopes"][0]["datastores"], STORES, "{response}");
    let calls = stack.admin_get("calls").await;
    assert_eq!(
        calls["ListFHIRDatastores"], 2,
        "two pages of at most 500: {calls}"
    );
    let items = stack.items().await?;
    assert_eq!(items.len(), STORES);
    assert!(
        items
            .iter()
            .all(|i| text(i, "pk") == Some(SCOPE_EAST) && text(i, "alert_state") == Some("none"))
    );
    let delivered = stack.expect_alerts(1).await?;
    assert_eq!(delivered[0].document["datastore_id"], failed.as_str());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_region_is_reported_without_holding_back_the_other() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let east = stack
        .create_store(
            EAST,
            "imaging-east",
            Some(("NON_RETRYABLE_ERROR", KMS_MESSAGE)),
        )
        .await?;
    let west = stack
        .create_store(
            WEST,
            "imaging-west",
            Some(("RETRYABLE_ERROR", "Try again.")),
        )
        .await?;
    stack.settle(EAST, &east, "CREATE_FAILED").await?;
    stack.settle(WEST, &west, "CREATE_FAILED").await?;
    stack.spawn(&[("REGIONS", "us-east-1,us-west-2")])?;
    // One more throttle than the SDK's 3 attempts: the first tick's west listing
    // fails (the region is reported, east still alerts); the next tick's listing
    // absorbs the last throttle.
    stack
        .admin_post(
            "faults",
            json!({
                "Operation": "ListFHIRDatastores",
                "Error": "ThrottlingException",
                "Count": 4,
                "Region": WEST,
            }),
        )
        .await;

    let response = stack.tick().await?;
    let problems = response["problems"].to_string();
    assert!(
        problems.contains(&format!("{ACCOUNT}/{WEST}"))
            && problems.contains("ThrottlingException")
            && !problems.contains(EAST),
        "{response}"
    );
    let west_scope = format!("{ACCOUNT}#{WEST}");
    let scanned: BTreeMap<&str, bool> = response["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["scope"].as_str().unwrap(), s["scanned"] == true))
        .collect();
    assert_eq!(
        scanned,
        BTreeMap::from([(SCOPE_EAST, true), (west_scope.as_str(), false)])
    );
    let calls = stack.admin_get("calls").await;
    assert_eq!(calls["ByRegion"][WEST]["ListFHIRDatastores"], 3, "{calls}");
    let delivered = stack.expect_alerts(1).await?;
    assert_failure_alert(
        &delivered[0],
        &east,
        "imaging-east",
        EAST,
        None,
        (KMS_MESSAGE, "NON_RETRYABLE_ERROR"),
    );
    let items = stack.items().await?;
    assert_eq!(items.len(), 1, "nothing recorded for the throttled region");

    let response = stack.tick().await?;
    let faults = stack.admin_get("faults").await;
    assert_eq!(faults["Faults"], json!([]), "the fault is used up");
    assert_eq!(
        published_per_scope(&response),
        BTreeMap::from([(SCOPE_EAST.to_owned(), 0), (format!("{ACCOUNT}#{WEST}"), 1)])
    );
    let delivered = stack.expect_alerts(1).await?;
    assert_failure_alert(
        &delivered[0],
        &west,
        "imaging-west",
        WEST,
        None,
        ("Try again.", "RETRYABLE_ERROR"),
    );

    stack.tick().await?;
    stack.expect_alerts(0).await?;
    let items = stack.items().await?;
    assert_eq!(items.len(), 2);
    assert!(
        items.iter().all(|i| text(i, "alert_state") == Some("none")),
        "{items:#?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_that_fails_in_healthlake_alerts_once_with_its_cause() -> anyhow::Result<()> {
    const MESSAGE: &str = "The data store could not be updated: the customer managed KMS key \
                           is disabled. Enable the key and update the data store again.";
    const CATEGORY: &str = "NON_RETRYABLE_ERROR";
    let mut stack = Stack::start().await?;
    let id = stack.create_store(EAST, "patients-prod", None).await?;
    stack.settle(EAST, &id, "ACTIVE").await?;
    stack.spawn(&[])?;
    stack.tick().await?;
    stack.expect_alerts(0).await?;

    // As in production: the store is ACTIVE, then an update fails.
    let client = stack.emulator.client(EAST);
    let arn = client
        .describe_fhir_datastore()
        .datastore_id(&id)
        .send()
        .await?
        .datastore_properties
        .context("DatastoreProperties")?
        .datastore_arn;
    client
        .tag_resource()
        .resource_arn(arn)
        .tags(
            aws_sdk_healthlake::types::Tag::builder()
                .key(integration_tests::emulator::OUTCOME_TAG)
                .value(format!("UPDATE_FAILED:{CATEGORY}:{MESSAGE}"))
                .build()?,
        )
        .send()
        .await?;
    client
        .update_fhir_datastore()
        .datastore_id(&id)
        .datastore_name("patients-prod-v2")
        .send()
        .await?;

    // UPDATING is a status the monitor knows: recorded, nothing sent (an
    // unknown one would be a warning).
    stack.tick().await?;
    stack.expect_alerts(0).await?;
    let items = stack.items().await?;
    assert_eq!(items.len(), 1);
    assert_eq!(text(&items[0], "status"), Some("UPDATING"), "{items:?}");

    stack.settle(EAST, &id, "UPDATE_FAILED").await?;
    stack.tick().await?;
    let delivered = stack.expect_alerts(1).await?;
    let document = &delivered[0].document;
    assert_eq!(document["severity"], "critical", "{document:#}");
    assert_eq!(document["datastore_id"], id.as_str(), "{document:#}");
    assert_eq!(
        document["datastore_name"], "patients-prod-v2",
        "{document:#}"
    );
    assert_eq!(document["status"], "UPDATE_FAILED", "{document:#}");
    assert_eq!(document["previous_status"], "UPDATING", "{document:#}");
    assert_eq!(document["error_cause"]["message"], MESSAGE, "{document:#}");
    assert_eq!(
        document["error_cause"]["category"], CATEGORY,
        "{document:#}"
    );
    assert_eq!(
        delivered[0].attributes,
        attributes([
            ("severity", "critical"),
            ("status", "UPDATE_FAILED"),
            ("error_category", CATEGORY),
            ("region", EAST),
            ("account", ACCOUNT),
        ])
    );
    let items = stack.items().await?;
    assert_eq!(text(&items[0], "status"), Some("UPDATE_FAILED"));
    assert_eq!(text(&items[0], "error_message"), Some(MESSAGE));

    stack.tick().await?;
    stack.expect_alerts(0).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_store_deleted_past_its_retention_alerts_once_that_it_vanished()
-> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let kept = stack.create_store(EAST, "patients-prod", None).await?;
    let failed = stack
        .create_store(
            EAST,
            "imaging-new",
            Some(("NON_RETRYABLE_ERROR", KMS_MESSAGE)),
        )
        .await?;
    stack.settle(EAST, &failed, "CREATE_FAILED").await?;
    stack.spawn(&[])?;
    stack.tick().await?;
    stack.expect_alerts(1).await?;

    // Deleted, and gone from the listing once DELETED for longer than the
    // retention, before the monitor looks again: it last saw CREATE_FAILED.
    stack
        .emulator
        .client(EAST)
        .delete_fhir_datastore()
        .datastore_id(&failed)
        .send()
        .await?;
    let retention = healthlake_emulator::DEFAULT_DELETED_RETENTION;
    stack
        .emulator
        .advance(integration_tests::emulator::TRANSITION + retention)
        .await?;

    let response = stack.tick().await?;

    assert_eq!(response["scopes"][0]["datastores"], 1, "{response}");
    let delivered = stack.expect_alerts(1).await?;
    let document = &delivered[0].document;
    assert_eq!(document["severity"], "info", "{document:#}");
    assert_eq!(document["change"], "vanished", "{document:#}");
    assert_eq!(document["datastore_id"], failed.as_str(), "{document:#}");
    assert_eq!(document["previous_status"], "CREATE_FAILED", "{document:#}");
    assert_eq!(document["status"], Value::Null, "{document:#}");
    assert!(
        delivered[0].subject.contains("left CREATE_FAILED"),
        "{}",
        delivered[0].subject
    );
    let items = stack.items().await?;
    let vanished: Vec<(&str, bool)> = items
        .iter()
        .map(|i| {
            (
                text(i, "sk").unwrap_or_default(),
                i.contains_key("vanished_at"),
            )
        })
        .collect();
    assert_eq!(
        vanished.into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from([(kept.as_str(), false), (failed.as_str(), true)])
    );

    let response = stack.tick().await?;
    assert_eq!(response["scopes"][0]["transitions"], 0, "{response}");
    stack.expect_alerts(0).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_behind_a_failing_load_balancer_is_a_scan_problem_and_the_other_still_alerts()
-> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let east = stack
        .create_store(
            EAST,
            "imaging-east",
            Some(("NON_RETRYABLE_ERROR", KMS_MESSAGE)),
        )
        .await?;
    let west = stack
        .create_store(
            WEST,
            "imaging-west",
            Some(("RETRYABLE_ERROR", "Try again.")),
        )
        .await?;
    stack.settle(EAST, &east, "CREATE_FAILED").await?;
    stack.settle(WEST, &west, "CREATE_FAILED").await?;
    stack.spawn(&[("REGIONS", "us-east-1,us-west-2")])?;
    // West's listing answers a load balancer's HTML 503 past the SDK's 3
    // attempts on the first tick, and once more on the second, which its
    // retry absorbs.
    stack
        .admin_post(
            "faults",
            json!({
                "Operation": "ListFHIRDatastores",
                "Http": {"Status": 503, "Body": "html"},
                "Count": 4,
                "Region": WEST,
            }),
        )
        .await;

    let response = stack.tick().await?;
    let problems = response["problems"].to_string();
    assert!(
        problems.contains(&format!("{ACCOUNT}/{WEST}"))
            && problems.contains("InvalidResponse")
            && problems.contains("HTTP 503 with a text/html body")
            && !problems.contains("<html")
            && !problems.contains(EAST),
        "{response}"
    );
    let calls = stack.admin_get("calls").await;
    assert_eq!(calls["ByRegion"][WEST]["ListFHIRDatastores"], 3, "{calls}");
    let delivered = stack.expect_alerts(1).await?;
    assert_failure_alert(
        &delivered[0],
        &east,
        "imaging-east",
        EAST,
        None,
        (KMS_MESSAGE, "NON_RETRYABLE_ERROR"),
    );
    assert_eq!(stack.items().await?.len(), 1, "nothing recorded for west");

    let response = stack.tick().await?;
    assert_eq!(
        published_per_scope(&response),
        BTreeMap::from([(SCOPE_EAST.to_owned(), 0), (format!("{ACCOUNT}#{WEST}"), 1)])
    );
    let delivered = stack.expect_alerts(1).await?;
    assert_failure_alert(
        &delivered[0],
        &west,
        "imaging-west",
        WEST,
        None,
        ("Try again.", "RETRYABLE_ERROR"),
    );
    let items = stack.items().await?;
    assert_eq!(items.len(), 2, "both stores recorded, none lost");
    assert!(
        items.iter().all(|i| text(i, "alert_state") == Some("none")),
        "{items:#?}"
    );
    Ok(())
}

/// A time as the snapshot table and the alert document write it.
fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339()
}

/// A time attribute of an item.
fn time_of(item: &Item, key: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    text(item, key)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Creates a data store through the admin route, its creation begun `ago`
/// (HealthLake's CreatedAt) though its status counts from now: CREATING
/// until the emulator's clock passes the transition delay.
async fn create_store_created_ago(
    stack: &Stack,
    name: &str,
    ago: chrono::Duration,
    outcome: Option<&str>,
) -> anyhow::Result<(String, chrono::DateTime<chrono::Utc>)> {
    let created_at = stack.emulator.now().await? - ago;
    let tags: Vec<Value> = outcome
        .map(|v| json!({"Key": integration_tests::emulator::OUTCOME_TAG, "Value": v}))
        .into_iter()
        .collect();
    let answer = stack
        .admin_post(
            "datastores",
            json!({
                "Region": EAST,
                "DatastoreName": name,
                "DatastoreTypeVersion": "R4",
                "Tags": tags,
                "CreatedAt": created_at.timestamp_millis() as f64 / 1000.0,
            }),
        )
        .await;
    let id = answer["DatastoreProperties"]["DatastoreId"]
        .as_str()
        .with_context(|| format!("no DatastoreId: {answer}"))?
        .to_owned();
    ensure!(
        answer["DatastoreProperties"]["DatastoreStatus"] == "CREATING",
        "{answer}"
    );
    let millis = chrono::DateTime::from_timestamp_millis(created_at.timestamp_millis())
        .context("a creation time")?;
    Ok((id, millis))
}

/// Rewrites the item of store `id` as the test fixture of a stay that began
/// earlier: sets the time attributes `set` and removes `remove`, as an item
/// written that long ago (or before the attributes existed) would be.
async fn age_item(
    stack: &Stack,
    id: &str,
    set: &[(&str, chrono::DateTime<chrono::Utc>)],
    remove: &[&str],
) -> anyhow::Result<()> {
    let mut expression = Vec::new();
    let mut request = stack
        .ddb
        .update_item()
        .table_name(&stack.table)
        .key("pk", AttributeValue::S(SCOPE_EAST.to_owned()))
        .key("sk", AttributeValue::S(id.to_owned()))
        .condition_expression("attribute_exists(pk)");
    for (n, (name, at)) in set.iter().enumerate() {
        expression.push(format!("#s{n} = :s{n}"));
        request = request
            .expression_attribute_names(format!("#s{n}"), *name)
            .expression_attribute_values(format!(":s{n}"), AttributeValue::S(rfc3339(*at)));
    }
    let mut update = format!("SET {}", expression.join(", "));
    if !remove.is_empty() {
        let names: Vec<String> = (0..remove.len()).map(|n| format!("#r{n}")).collect();
        for (n, name) in remove.iter().enumerate() {
            request = request.expression_attribute_names(format!("#r{n}"), *name);
        }
        update.push_str(&format!(" REMOVE {}", names.join(", ")));
    }
    request.update_expression(update).send().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_stuck_in_creating_is_warned_of_once_then_told_when_it_moves_on()
-> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let three_hours = chrono::Duration::hours(3);
    let (slow, created_at) =
        create_store_created_ago(&stack, "imaging-slow", three_hours, None).await?;
    let (doomed, _) = create_store_created_ago(
        &stack,
        "claims-slow",
        three_hours,
        Some(&format!("CREATE_FAILED:NON_RETRYABLE_ERROR:{KMS_MESSAGE}")),
    )
    .await?;
    let quick = stack.create_store(EAST, "patients-new", None).await?;
    stack.spawn(&[])?;

    // Both slow creations have run for three hours, past the default two.
    stack.tick().await?;
    let mut delivered = stack.expect_alerts(2).await?;
    delivered.sort_by_key(|d| d.document["datastore_name"].to_string());
    let warning = &delivered[1];
    assert_eq!(warning.document["datastore_id"], slow.as_str());
    let document = warning.alert();
    assert_eq!(
        (
            document.severity.as_str(),
            document.reason.as_str(),
            document.change.as_str()
        ),
        ("warning", "stuck", "unchanged")
    );
    assert_eq!(document.status.as_deref(), Some("CREATING"));
    assert_eq!(document.previous_status.as_deref(), Some("CREATING"));
    // CreatedAt travels as epoch seconds in a double: equal to the millisecond.
    let millis = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp_millis());
    assert_eq!(millis(document.since), millis(Some(created_at)));
    assert!(
        warning
            .subject
            .starts_with("[WARNING] HealthLake data store imaging-slow stuck in CREATING for 3 h"),
        "{}",
        warning.subject
    );
    assert_eq!(warning.attributes["severity"], "warning");
    assert_eq!(delivered[0].document["reason"], "stuck");
    assert_eq!(delivered[0].document["datastore_id"], doomed.as_str());
    let items = stack.items().await?;
    let item = |id: &str| items.iter().find(|i| text(i, "sk") == Some(id)).cloned();
    let slow_item = item(&slow).context("the slow store's item")?;
    assert_eq!(
        millis(time_of(&slow_item, "status_since")),
        millis(Some(created_at))
    );
    assert!(slow_item.contains_key("stuck_warned_at"), "{slow_item:?}");
    assert!(
        !item(&quick)
            .context("the quick store's item")?
            .contains_key("stuck_warned_at")
    );

    // Still creating: nothing more, and nothing written.
    let before = stack.items().await?;
    stack.tick().await?;
    stack.expect_alerts(0).await?;
    assert_eq!(stack.items().await?, before);

    // Both move on: one to ACTIVE (an info that it is no longer stuck), one
    // to CREATE_FAILED (the critical failure, not an info besides).
    stack.settle(EAST, &slow, "ACTIVE").await?;
    stack.tick().await?;
    let mut delivered = stack.expect_alerts(2).await?;
    delivered.sort_by_key(|d| d.document["datastore_name"].to_string());
    let failure = &delivered[0];
    assert_eq!(
        (
            failure.document["datastore_id"].as_str(),
            failure.document["severity"].as_str(),
            failure.document["reason"].as_str()
        ),
        (Some(doomed.as_str()), Some("critical"), Some("failure"))
    );
    let moved_on = delivered[1].alert();
    assert_eq!(
        (
            moved_on.datastore_id.as_str(),
            moved_on.severity.as_str(),
            moved_on.reason.as_str(),
            moved_on.change.as_str()
        ),
        (slow.as_str(), "info", "unstuck", "changed")
    );
    assert_eq!(
        (
            moved_on.previous_status.as_deref(),
            moved_on.status.as_deref()
        ),
        (Some("CREATING"), Some("ACTIVE"))
    );
    assert_eq!(millis(moved_on.since), millis(Some(created_at)));
    assert!(
        delivered[1].subject.contains("left CREATING after 3 h"),
        "{}",
        delivered[1].subject
    );

    stack.tick().await?;
    stack.expect_alerts(0).await?;
    assert_eq!(
        stack.published().await?.len(),
        4,
        "published exactly once each"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_left_failed_is_reminded_every_period_saying_for_how_long() -> anyhow::Result<()> {
    let mut stack = Stack::start().await?;
    let failed = stack
        .create_store(
            EAST,
            "imaging-new",
            Some(("NON_RETRYABLE_ERROR", KMS_MESSAGE)),
        )
        .await?;
    stack.settle(EAST, &failed, "CREATE_FAILED").await?;
    stack.spawn(&[("FAILED_REMINDER_HOURS", "6")])?;
    stack.tick().await?;
    let delivered = stack.expect_alerts(1).await?;
    assert_eq!(delivered[0].document["reason"], "failure");
    stack.tick().await?;
    stack.expect_alerts(0).await?;

    // The fixture of a store failed six and a half hours ago, its item written
    // before the monitor kept since when a store is in its status.
    let now = chrono::Utc::now();
    let failed_at = now - chrono::Duration::minutes(6 * 60 + 30);
    age_item(
        &stack,
        &failed,
        &[("last_changed", failed_at)],
        &["status_since"],
    )
    .await?;
    stack.tick().await?;
    let delivered = stack.expect_alerts(1).await?;
    let reminder = delivered[0].alert();
    assert_eq!(
        (
            reminder.severity.as_str(),
            reminder.reason.as_str(),
            reminder.change.as_str(),
            reminder.status.as_deref()
        ),
        ("warning", "reminder", "unchanged", Some("CREATE_FAILED"))
    );
    assert_eq!(
        reminder.since.map(|t| t.timestamp()),
        Some(failed_at.timestamp())
    );
    assert!(
        delivered[0]
            .subject
            .contains("imaging-new still CREATE_FAILED after 6 h 30 min"),
        "{}",
        delivered[0].subject
    );
    assert!(
        reminder
            .next_step
            .starts_with("Failed for 6 h 30 min and not fixed yet. Retrying will not help"),
        "{}",
        reminder.next_step
    );
    assert_eq!(
        reminder.error_cause.as_ref().map(|c| c.message.as_str()),
        Some(KMS_MESSAGE)
    );
    let (_, published) = stack.published().await?.pop().context("a publish")?;
    let email = published["email"].as_str().context("an email body")?;
    assert!(email.contains("In status:   6 h 30 min, since "), "{email}");
    let items = stack.items().await?;
    assert!(time_of(&items[0], "reminded_at").is_some(), "{items:?}");
    assert_eq!(
        time_of(&items[0], "status_since").map(|t| t.timestamp()),
        Some(failed_at.timestamp())
    );

    // Reminded just now: nothing until the period has passed again.
    stack.tick().await?;
    stack.expect_alerts(0).await?;
    let failed_at = now - chrono::Duration::minutes(12 * 60 + 30);
    age_item(
        &stack,
        &failed,
        &[
            ("status_since", failed_at),
            ("reminded_at", now - chrono::Duration::hours(6)),
        ],
        &[],
    )
    .await?;
    stack.tick().await?;
    let delivered = stack.expect_alerts(1).await?;
    assert!(
        delivered[0]
            .subject
            .contains("still CREATE_FAILED after 12 h 30 min"),
        "{}",
        delivered[0].subject
    );
    stack.tick().await?;
    stack.expect_alerts(0).await?;
    assert_eq!(stack.published().await?.len(), 3);
    Ok(())
}
