//! One benchmark scenario: data stores spread over regions, a latency per
//! call, the status monitor run as Lambda runs it and the boto3 baseline run
//! beside it, on the same stand-ins through the same proxies.
//!
//! For the function, per scenario:
//! - a process is started and its cold path timed (spawn to its first
//!   request for an invocation); it then runs the first tick on an empty
//!   table (every store written, an alert for each failed store), and
//!   `repeat` quiet ticks;
//! - `repeat` fresh processes each run a quiet tick as their first
//!   invocation, each with its own cold path;
//! - every tick's calls are counted by operation: HealthLake's by the
//!   emulator, DynamoDB's and SNS's by the proxies, which also keep the
//!   requests to price them ([`capacity`](crate::perf::capacity));
//! - peak memory is the process's VmHWM read after its invocation.
//!
//! The baseline script does the same: one process for the first tick and
//! `repeat` quiet ticks, then `repeat` fresh processes of one quiet tick each.
//! It times its own ticks and counts its own calls; the proxies' and the
//! emulator's counts of its first process check that count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail, ensure};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt as _;
use serde::Serialize;
use serde_json::{Value, json};

use crate::fault_proxy::FaultProxy;
use crate::fixtures::{create_snapshot_table, create_topic, unique};
use crate::perf::capacity::{self, Capacity};
use crate::perf::process::{FunctionSpec, LambdaProcess, ScriptProcess};
use crate::services::{DynamoDbLocal, Moto, sdk_config, workspace_root};

/// The account of every store, of moto and of the function.
pub const ACCOUNT: &str = "123456789012";
/// The function's own region: its table and topic are there.
pub const HOME: &str = "us-east-1";
/// Regions in the order scenarios take them.
pub const REGIONS: [&str; 8] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "ap-southeast-2",
    "eu-central-1",
    "us-east-2",
    "ap-northeast-1",
    "eu-west-2",
];
/// Stores a ListFHIRDatastores page holds at most (the monitor asks for that many).
pub const LIST_PAGE: usize = 500;
/// The most a Query page returns.
pub const QUERY_PAGE_BYTES: u64 = 1024 * 1024;
/// One store in this many is created to fail (the first of each hundred).
pub const FAILED_EVERY: usize = 100;
/// The deployed function's settings that the benchmark keeps: its memory and
/// timeout, as `template.yaml` sets them (the cost model reads the template).
pub const MEMORY_MB: u32 = 256;
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Limits of waiting on a process, far above any figure measured.
const START_LIMIT: Duration = Duration::from_secs(30);
const TICK_LIMIT: Duration = Duration::from_secs(120);
const IDLE_LIMIT: Duration = Duration::from_secs(10);

const FAILURE_CAUSE: &str = "The AWS KMS key is not accessible: kms:CreateGrant was denied \
                             for the HealthLake service principal.";

/// Where the stores are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layout {
    pub regions: Vec<String>,
    pub stores_per_region: usize,
}

impl Layout {
    /// `stores_per_region` stores in each of the first `regions` of [`REGIONS`].
    pub fn new(stores_per_region: usize, regions: usize) -> Self {
        Self {
            regions: REGIONS[..regions.min(REGIONS.len())]
                .iter()
                .map(|r| (*r).to_owned())
                .collect(),
            stores_per_region,
        }
    }

    pub fn stores(&self) -> usize {
        self.stores_per_region * self.regions.len()
    }

    /// Stores created CREATE_FAILED: the first of every [`FAILED_EVERY`],
    /// counted over all regions.
    pub fn failed(&self) -> usize {
        self.stores().div_ceil(FAILED_EVERY)
    }

    /// `10 stores x 4 regions`
    pub fn label(&self) -> String {
        let regions = self.regions.len();
        format!(
            "{} stores x {regions} region{}",
            group(self.stores_per_region as u64),
            if regions == 1 { "" } else { "s" }
        )
    }
}

/// `1234567` as `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The HealthLake emulator, in this process or another, reached by its admin routes.
pub struct HealthLake {
    url: String,
    http: reqwest::Client,
}

impl HealthLake {
    pub fn new(url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder().no_proxy().build()?,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn admin(&self, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let url = format!("{}/_emulator/{path}", self.url);
        let request = match &body {
            Some(body) => self.http.post(&url).json(body),
            None => self.http.get(&url),
        };
        let response = request.send().await.with_context(|| url.clone())?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .with_context(|| format!("{url}: the answer is not JSON"))?;
        ensure!(status.is_success(), "{url}: HTTP {status}: {answer}");
        Ok(answer)
    }

    /// Creates the stores of `layout` through the admin route (no call
    /// counted), the failed ones with an ErrorCause, then moves the clock past
    /// every creation so that all have settled.
    pub async fn seed(&self, layout: &Layout) -> anyhow::Result<()> {
        let stores: Vec<(String, usize)> = layout
            .regions
            .iter()
            .flat_map(|region| (0..layout.stores_per_region).map(move |i| (region.clone(), i)))
            .collect();
        let created: Vec<anyhow::Result<Value>> =
            futures::stream::iter(stores.into_iter().enumerate())
                .map(|(n, (region, i))| {
                    let mut body = json!({
                        "Region": region,
                        "DatastoreName": format!("bench-{region}-{i:04}"),
                        "DatastoreTypeVersion": "R4",
                    });
                    if n % FAILED_EVERY == 0 {
                        body["Tags"] = json!([{
                            "Key": "emulator:outcome",
                            "Value": format!("CREATE_FAILED:NON_RETRYABLE_ERROR:{FAILURE_CAUSE}"),
                        }]);
                    }
                    self.admin("datastores", Some(body))
                })
                .buffer_unordered(16)
                .collect()
                .await;
        for result in created {
            result.context("creating a data store")?;
        }
        // Past any transition delay, the tests' hour included.
        self.admin("clock", Some(json!({ "AdvanceSeconds": 3601 })))
            .await?;
        Ok(())
    }

    /// The latency added to every HealthLake call.
    pub async fn set_latency(&self, latency: Duration) -> anyhow::Result<()> {
        self.admin(
            "faults",
            Some(json!({ "LatencyMs": latency.as_millis() as u64 })),
        )
        .await?;
        Ok(())
    }

    /// Calls answered so far, by operation.
    pub async fn calls(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        let report = self.admin("calls", None).await?;
        Ok(report
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(name, count)| count.as_u64().map(|n| (name.clone(), n)))
            .collect())
    }
}

/// DynamoDB Local and moto, each behind a latency proxy that counts calls,
/// with the alert topic.
pub struct Stand {
    dynamodb: FaultProxy,
    moto: FaultProxy,
    ddb: aws_sdk_dynamodb::Client,
    secrets: aws_sdk_secretsmanager::Client,
    topic_arn: String,
}

/// What the calls of one window cost and how they were made.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Measured {
    /// By operation, HealthLake's, DynamoDB's and SNS's together.
    pub calls: BTreeMap<String, u64>,
    pub capacity: Capacity,
    /// The most requests in flight at once, by service behind a proxy.
    pub peak_in_flight: BTreeMap<String, usize>,
}

struct Window {
    healthlake: BTreeMap<String, u64>,
}

impl Stand {
    /// Starts (or joins) DynamoDB Local and moto and puts a proxy in front of each.
    pub async fn start() -> anyhow::Result<Self> {
        let (dynamodb, moto) = tokio::try_join!(DynamoDbLocal::shared(), Moto::shared())?;
        // No fault is ever drawn: the hold is never used.
        let hold = Duration::from_secs(60);
        let dynamodb_proxy = FaultProxy::start(&dynamodb.endpoint(), 0, hold).await?;
        let moto_proxy = FaultProxy::start(&moto.endpoint(), 0, hold).await?;
        dynamodb_proxy.record_exchanges(true);
        moto_proxy.record_exchanges(true);
        let moto_config = sdk_config(&moto.endpoint(), HOME);
        let topic_arn = create_topic(&aws_sdk_sns::Client::new(&moto_config)).await?;
        Ok(Self {
            dynamodb: dynamodb_proxy,
            moto: moto_proxy,
            ddb: aws_sdk_dynamodb::Client::new(&sdk_config(&dynamodb.endpoint(), HOME)),
            secrets: aws_sdk_secretsmanager::Client::new(&moto_config),
            topic_arn,
        })
    }

    /// Warms DynamoDB Local and moto up, through the proxies, before anything
    /// is measured: a fresh DynamoDB Local answers its first few hundred
    /// requests several times slower than later ones (its JVM compiles them),
    /// and moto loads a service's code on its first request. Writes, queries
    /// and publishes of the sizes a tick makes; nothing of it is counted.
    pub async fn warm_up(&self) -> anyhow::Result<()> {
        const ITEMS: usize = 500;
        let ddb = aws_sdk_dynamodb::Client::new(&sdk_config(&self.dynamodb.endpoint(), HOME));
        let sns = aws_sdk_sns::Client::new(&sdk_config(&self.moto.endpoint(), HOME));
        let table = self.new_table().await?;
        let value = "w".repeat(500);
        let puts: Vec<anyhow::Result<()>> = futures::stream::iter(0..ITEMS)
            .map(|i| {
                let (ddb, table, value) = (&ddb, &table, &value);
                async move {
                    ddb.put_item()
                        .table_name(table)
                        .item("pk", AttributeValue::S("warm-up".into()))
                        .item("sk", AttributeValue::S(format!("{i:04}")))
                        .item("value", AttributeValue::S(value.clone()))
                        .condition_expression("attribute_not_exists(pk)")
                        .send()
                        .await?;
                    Ok(())
                }
            })
            .buffer_unordered(8)
            .collect()
            .await;
        for put in puts {
            put.context("warming DynamoDB Local up")?;
        }
        for _ in 0..10 {
            let mut pages = ddb
                .query()
                .table_name(&table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S("warm-up".into()))
                .consistent_read(true)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                page.context("warming DynamoDB Local up")?;
            }
        }
        for _ in 0..10 {
            sns.publish()
                .topic_arn(&self.topic_arn)
                .subject("warm-up")
                .message(&value)
                .send()
                .await
                .context("warming moto up")?;
        }
        Ok(())
    }

    /// The latency added to every DynamoDB and moto call.
    pub fn set_latency(&self, latency: Duration) {
        self.dynamodb.set_latency(latency);
        self.moto.set_latency(latency);
    }

    pub fn topic_arn(&self) -> &str {
        &self.topic_arn
    }

    /// A new, empty snapshot table; its name.
    pub async fn new_table(&self) -> anyhow::Result<String> {
        let table = unique("bench-snapshot");
        create_snapshot_table(&self.ddb, &table).await?;
        Ok(table)
    }

    /// `AWS_ENDPOINT_URL_*` and credentials of a client of this stand, and
    /// of `healthlake` if given.
    pub fn endpoints(&self, healthlake: Option<&HealthLake>) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = healthlake
            .map(|h| ("AWS_ENDPOINT_URL_HEALTHLAKE".to_owned(), h.url().to_owned()))
            .into_iter()
            .collect();
        env.extend([
            ("AWS_ENDPOINT_URL_DYNAMODB".into(), self.dynamodb.endpoint()),
            ("AWS_ENDPOINT_URL_SNS".into(), self.moto.endpoint()),
            (
                "AWS_ENDPOINT_URL_SECRETS_MANAGER".into(),
                self.moto.endpoint(),
            ),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]);
        env
    }

    async fn begin(&self, healthlake: Option<&HealthLake>) -> anyhow::Result<Window> {
        for proxy in [&self.dynamodb, &self.moto] {
            ensure!(
                proxy.wait_idle(IDLE_LIMIT).await,
                "a proxy still handles requests"
            );
            proxy.reset_counts();
            proxy.take_exchanges();
        }
        Ok(Window {
            healthlake: match healthlake {
                Some(h) => h.calls().await?,
                None => BTreeMap::new(),
            },
        })
    }

    async fn end(
        &self,
        healthlake: Option<&HealthLake>,
        window: Window,
    ) -> anyhow::Result<Measured> {
        for proxy in [&self.dynamodb, &self.moto] {
            ensure!(
                proxy.wait_idle(IDLE_LIMIT).await,
                "a proxy still handles requests"
            );
        }
        let mut calls = BTreeMap::new();
        let after = match healthlake {
            Some(h) => h.calls().await?,
            None => BTreeMap::new(),
        };
        for (operation, after) in after {
            let before = window.healthlake.get(&operation).copied().unwrap_or(0);
            if after > before {
                calls.insert(operation, after - before);
            }
        }
        for proxy in [&self.dynamodb, &self.moto] {
            for (operation, n) in proxy.calls() {
                *calls.entry(operation).or_default() += n;
            }
        }
        let mut exchanges = self.dynamodb.take_exchanges();
        exchanges.extend(self.moto.take_exchanges());
        Ok(Measured {
            calls,
            capacity: capacity::measure(&exchanges),
            peak_in_flight: [
                ("DynamoDB".to_owned(), self.dynamodb.peak_in_flight()),
                ("SNS".to_owned(), self.moto.peak_in_flight()),
            ]
            .into(),
        })
    }
}

/// A scenario: a layout of stores and a latency on every call.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub layout: Layout,
    pub latency: Duration,
}

impl Scenario {
    pub fn name(&self) -> String {
        format!(
            "{}, {} ms a call",
            self.layout.label(),
            self.latency.as_millis()
        )
    }
}

/// What to run in a scenario.
#[derive(Debug, Clone)]
pub struct Runs {
    /// The status monitor's binary.
    pub status_monitor: PathBuf,
    /// The Python with boto3; `None` runs no baseline.
    pub python: Option<PathBuf>,
    /// Quiet ticks in the first process, and fresh processes, each.
    pub repeat: usize,
    /// Settings added to the function's environment.
    pub env: Vec<(String, String)>,
}

/// One tick of the function.
#[derive(Debug, Clone, Serialize)]
pub struct TickFigures {
    /// From the invocation handed out to its answer received.
    pub duration_ms: f64,
    #[serde(flatten)]
    pub measured: Measured,
    /// Bytes the function wrote to its output during the tick.
    pub log_bytes: u64,
    /// CloudWatch metric series its EMF records name:
    /// `namespace/metric[dimension=value,...]`.
    pub metric_series: BTreeSet<String>,
    /// Alerts the tick reports published.
    pub alerts_published: u64,
    /// The tick's problems, as it reports them.
    pub problems: Vec<String>,
}

/// The function's figures in a scenario.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionFigures {
    /// One per process started.
    pub cold_path_ms: Vec<f64>,
    pub first_tick: TickFigures,
    /// Quiet ticks after the first tick, in its process.
    pub quiet_ticks: Vec<TickFigures>,
    /// Quiet ticks, each the first invocation of a fresh process.
    pub fresh_quiet_ticks: Vec<TickFigures>,
    /// VmHWM of the first tick's process after that tick.
    pub first_tick_peak_kib: u64,
    /// VmHWM of each fresh process after its quiet tick.
    pub quiet_peak_kib: Vec<u64>,
}

/// One tick of the baseline, as it reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ScriptTick {
    pub duration_ms: f64,
    pub calls: BTreeMap<String, u64>,
    pub changes: u64,
    pub published: u64,
    /// VmHWM after the tick.
    pub peak_kib: u64,
}

/// The baseline's figures in a scenario.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineFigures {
    pub cold_path_ms: Vec<f64>,
    pub first_tick: ScriptTick,
    pub quiet_ticks: Vec<ScriptTick>,
    pub fresh_quiet_ticks: Vec<ScriptTick>,
    /// What the emulator and the proxies saw of its first process, all its
    /// ticks together.
    pub first_process: Measured,
}

impl BaselineFigures {
    /// The calls its first process reported, all ticks together.
    pub fn reported_calls(&self) -> BTreeMap<String, u64> {
        let mut total = BTreeMap::new();
        for tick in std::iter::once(&self.first_tick).chain(&self.quiet_ticks) {
            for (operation, n) in &tick.calls {
                *total.entry(operation.clone()).or_default() += n;
            }
        }
        total
    }
}

/// The fewest calls a tick can make, by operation.
#[derive(Debug, Clone, Serialize)]
pub struct Minimum {
    pub first_tick: BTreeMap<String, u64>,
    pub quiet_tick: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub layout: Layout,
    pub stores: usize,
    pub failed_stores: usize,
    pub latency_ms: u64,
    pub function: FunctionFigures,
    pub baseline: Option<BaselineFigures>,
    pub minimum: Minimum,
    /// Each operation whose count is not its minimum, in the first tick, the
    /// quiet ticks of the first process or a fresh process's quiet tick.
    pub off_minimum: Vec<String>,
}

/// The fewest calls of a tick over `layout`: per region, the list pages (one
/// per [`LIST_PAGE`] stores, at least one) and the Query pages of its
/// snapshot (one per [`QUERY_PAGE_BYTES`] of the items it returned, at
/// least one); no Describe; on the first tick a write per store and one more
/// per alert (the claim is the record's write, a second marks its alerts
/// sent) and a publish per alert; on a quiet tick nothing else.
pub fn minimum(layout: &Layout, queried: &Capacity, first: bool) -> BTreeMap<String, u64> {
    let lists = layout.stores_per_region.div_ceil(LIST_PAGE).max(1) * layout.regions.len();
    let queries: u64 = layout
        .regions
        .iter()
        .map(|region| {
            queried
                .queried
                .get(&format!("{ACCOUNT}#{region}"))
                .map_or(0, |q| q.item_bytes)
                .div_ceil(QUERY_PAGE_BYTES)
                .max(1)
        })
        .sum();
    let mut minimum: BTreeMap<String, u64> = [
        ("ListFHIRDatastores".to_owned(), lists as u64),
        ("Query".to_owned(), queries),
    ]
    .into();
    if first {
        let (stores, failed) = (layout.stores() as u64, layout.failed() as u64);
        minimum.insert("PutItem".into(), stores + failed);
        minimum.insert("Publish".into(), failed);
    }
    minimum
}

/// `what: Operation measured (minimum m)` for each operation off its minimum.
pub fn off_minimum(
    what: &str,
    measured: &BTreeMap<String, u64>,
    minimum: &BTreeMap<String, u64>,
) -> Vec<String> {
    let operations: BTreeSet<&String> = measured.keys().chain(minimum.keys()).collect();
    operations
        .into_iter()
        .filter_map(|operation| {
            let (m, min) = (
                measured.get(operation).copied().unwrap_or(0),
                minimum.get(operation).copied().unwrap_or(0),
            );
            (m != min).then(|| {
                let kind = if m > min { "excess" } else { "short" };
                format!("{what}: {operation} {m} (minimum {min}): {kind}")
            })
        })
        .collect()
}

/// An EventBridge scheduled event, as Lambda receives it.
pub fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": HOME,
        "resources": [format!("arn:aws:events:{HOME}:{ACCOUNT}:rule/healthlake-monitor-schedule")],
        "detail": {}
    })
}

/// The status monitor as the template deploys it, on `stand` and `healthlake`.
fn status_monitor(
    stand: &Stand,
    healthlake: &HealthLake,
    layout: &Layout,
    table: &str,
    runs: &Runs,
) -> FunctionSpec {
    let mut env = vec![
        ("TABLE_NAME".to_owned(), table.to_owned()),
        ("TOPIC_ARN".to_owned(), stand.topic_arn().to_owned()),
        ("REGIONS".to_owned(), layout.regions.join(",")),
        ("RUST_LOG".to_owned(), "info".to_owned()),
    ];
    env.extend(stand.endpoints(Some(healthlake)));
    env.extend(runs.env.iter().cloned());
    FunctionSpec {
        bootstrap: runs.status_monitor.clone(),
        name: "status-monitor".into(),
        region: HOME.into(),
        account: ACCOUNT.into(),
        memory_mb: MEMORY_MB,
        timeout: TIMEOUT,
        env,
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// One invocation of the scheduled tick, measured.
async fn tick(
    stand: &Stand,
    healthlake: &HealthLake,
    process: &mut LambdaProcess,
) -> anyhow::Result<TickFigures> {
    let window = stand.begin(Some(healthlake)).await?;
    let log_from = process.log_len();
    let answer = process.invoke(&scheduled_event(), TICK_LIMIT).await?;
    let measured = stand.end(Some(healthlake), window).await?;
    let duration = answer.duration();
    let payload = answer
        .outcome
        .into_response()
        .with_context(|| process.log_tail())?;
    let log = process.log_since(log_from);
    let scopes = payload["scopes"].as_array().cloned().unwrap_or_default();
    let mut problems: Vec<String> = payload["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
        .collect();
    problems.extend(
        scopes
            .iter()
            .filter(|s| s["scanned"] != true)
            .map(|s| format!("scope {} not scanned", s["scope"])),
    );
    Ok(TickFigures {
        duration_ms: millis(duration),
        measured,
        log_bytes: log.len() as u64,
        metric_series: metric_series(&log),
        alerts_published: scopes
            .iter()
            .filter_map(|s| s["alerts_published"].as_u64())
            .sum(),
        problems,
    })
}

/// The metric series the EMF records of `log` name.
pub fn metric_series(log: &str) -> BTreeSet<String> {
    let mut series = BTreeSet::new();
    for record in log
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
    {
        for directive in record["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let namespace = directive["Namespace"].as_str().unwrap_or_default();
            let sets: Vec<Vec<&str>> = directive["Dimensions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|set| {
                    set.as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect()
                })
                .collect();
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let name = metric["Name"].as_str().unwrap_or_default();
                for set in sets.iter().chain(sets.is_empty().then_some(&Vec::new())) {
                    let dimensions: Vec<String> = set
                        .iter()
                        .map(|d| format!("{d}={}", record[*d].as_str().unwrap_or_default()))
                        .collect();
                    series.insert(format!("{namespace}/{name}[{}]", dimensions.join(",")));
                }
            }
        }
    }
    series
}

/// The function's part of a scenario.
pub async fn run_function(
    stand: &Stand,
    healthlake: &HealthLake,
    layout: &Layout,
    runs: &Runs,
) -> anyhow::Result<FunctionFigures> {
    let table = stand.new_table().await?;
    let spec = status_monitor(stand, healthlake, layout, &table, runs);
    let mut cold_path_ms = Vec::new();

    let mut process = LambdaProcess::spawn(&spec).await?;
    cold_path_ms.push(millis(process.cold_path(START_LIMIT).await?));
    let first_tick = tick(stand, healthlake, &mut process).await?;
    let first_tick_peak_kib = process.peak_rss_kib()?;
    let mut quiet_ticks = Vec::new();
    for _ in 0..runs.repeat {
        quiet_ticks.push(tick(stand, healthlake, &mut process).await?);
    }
    drop(process);

    let mut fresh_quiet_ticks = Vec::new();
    let mut quiet_peak_kib = Vec::new();
    for _ in 0..runs.repeat {
        let mut process = LambdaProcess::spawn(&spec).await?;
        cold_path_ms.push(millis(process.cold_path(START_LIMIT).await?));
        fresh_quiet_ticks.push(tick(stand, healthlake, &mut process).await?);
        quiet_peak_kib.push(process.peak_rss_kib()?);
    }
    Ok(FunctionFigures {
        cold_path_ms,
        first_tick,
        quiet_ticks,
        fresh_quiet_ticks,
        first_tick_peak_kib,
        quiet_peak_kib,
    })
}

/// The baseline script's path in the repository.
pub fn baseline_script() -> PathBuf {
    workspace_root().join("tests/perf/boto3_tick.py")
}

/// One process of the baseline: its cold path and its `ticks` ticks.
async fn script_process(
    python: &std::path::Path,
    args: &[String],
    env: &[(String, String)],
    ticks: usize,
) -> anyhow::Result<(f64, Vec<ScriptTick>)> {
    let mut script = ScriptProcess::spawn(python, &baseline_script(), args, env)?;
    let (ready, at) = script.next_line(START_LIMIT).await?;
    ensure!(
        ready == "ready",
        "the script printed {ready:?} before `ready`"
    );
    let cold = millis(at.saturating_duration_since(script.spawned()));
    let mut out = Vec::with_capacity(ticks);
    for _ in 0..ticks {
        let (line, _) = script.next_line(TICK_LIMIT).await?;
        let tick: Value =
            serde_json::from_str(&line).with_context(|| format!("a tick line: {line}"))?;
        out.push(ScriptTick {
            duration_ms: tick["duration_ms"].as_f64().context("duration_ms")?,
            calls: serde_json::from_value(tick["calls"].clone()).context("calls")?,
            changes: tick["changes"].as_u64().unwrap_or(0),
            published: tick["published"].as_u64().unwrap_or(0),
            peak_kib: tick["vmhwm_kib"].as_u64().context("vmhwm_kib")?,
        });
    }
    script.finish(TICK_LIMIT).await?;
    Ok((cold, out))
}

/// The baseline's part of a scenario.
pub async fn run_baseline(
    stand: &Stand,
    healthlake: &HealthLake,
    layout: &Layout,
    python: &std::path::Path,
    repeat: usize,
) -> anyhow::Result<BaselineFigures> {
    let table = stand.new_table().await?;
    let args = |ticks: usize| {
        vec![
            "--table".to_owned(),
            table.clone(),
            "--topic-arn".to_owned(),
            stand.topic_arn().to_owned(),
            "--regions".to_owned(),
            layout.regions.join(","),
            "--account".to_owned(),
            ACCOUNT.to_owned(),
            ticks.to_string(),
        ]
    };
    let mut env = stand.endpoints(Some(healthlake));
    env.push(("AWS_DEFAULT_REGION".into(), HOME.into()));
    let window = stand.begin(Some(healthlake)).await?;
    let (cold, mut ticks) = script_process(python, &args(1 + repeat), &env, 1 + repeat).await?;
    let first_process = stand.end(Some(healthlake), window).await?;
    let mut cold_path_ms = vec![cold];
    let first_tick = ticks.remove(0);
    let mut fresh_quiet_ticks = Vec::new();
    for _ in 0..repeat {
        let (cold, mut ticks) = script_process(python, &args(1), &env, 1).await?;
        cold_path_ms.push(cold);
        fresh_quiet_ticks.append(&mut ticks);
    }
    Ok(BaselineFigures {
        cold_path_ms,
        first_tick,
        quiet_ticks: ticks,
        fresh_quiet_ticks,
        first_process,
    })
}

/// Runs `scenario` on stores already seeded ([`HealthLake::seed`]).
pub async fn run(
    stand: &Stand,
    healthlake: &HealthLake,
    scenario: &Scenario,
    runs: &Runs,
) -> anyhow::Result<ScenarioResult> {
    let layout = &scenario.layout;
    stand.set_latency(scenario.latency);
    healthlake.set_latency(scenario.latency).await?;
    let function = run_function(stand, healthlake, layout, runs).await?;
    let baseline = match &runs.python {
        Some(python) => Some(run_baseline(stand, healthlake, layout, python, runs.repeat).await?),
        None => None,
    };
    stand.set_latency(Duration::ZERO);
    healthlake.set_latency(Duration::ZERO).await?;

    let first_minimum = minimum(layout, &function.first_tick.measured.capacity, true);
    let quiet_capacity = function
        .quiet_ticks
        .first()
        .or(function.fresh_quiet_ticks.first())
        .map(|t| t.measured.capacity.clone())
        .unwrap_or_default();
    let quiet_minimum = minimum(layout, &quiet_capacity, false);
    let mut off = off_minimum(
        "first tick",
        &function.first_tick.measured.calls,
        &first_minimum,
    );
    for (what, ticks) in [
        ("quiet tick", &function.quiet_ticks),
        ("quiet tick of a fresh process", &function.fresh_quiet_ticks),
    ] {
        for tick in ticks {
            let quiet = minimum(layout, &tick.measured.capacity, false);
            for line in off_minimum(what, &tick.measured.calls, &quiet) {
                if !off.contains(&line) {
                    off.push(line);
                }
            }
        }
    }
    Ok(ScenarioResult {
        name: scenario.name(),
        layout: layout.clone(),
        stores: layout.stores(),
        failed_stores: layout.failed(),
        latency_ms: scenario.latency.as_millis() as u64,
        function,
        baseline,
        minimum: Minimum {
            first_tick: first_minimum,
            quiet_tick: quiet_minimum,
        },
        off_minimum: off,
    })
}

/// The Slack notifier's start, measured.
#[derive(Debug, Clone, Serialize)]
pub struct NotifierFigures {
    pub latency_ms: u64,
    /// One per process started.
    pub cold_path_ms: Vec<f64>,
    /// VmHWM of each process once it asked for an invocation.
    pub peak_kib: Vec<u64>,
    /// The calls of one start.
    pub calls: BTreeMap<String, u64>,
}

/// Starts the Slack notifier `repeat` times, its webhook secret in moto
/// behind the proxy with `latency`, and times each start to its first
/// request for an invocation (the secret read, its HTTP client built).
pub async fn run_notifier(
    stand: &Stand,
    bootstrap: &std::path::Path,
    latency: Duration,
    repeat: usize,
) -> anyhow::Result<NotifierFigures> {
    let secret = json!({ "webhook_url": "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX" });
    let arn = stand
        .secrets
        .create_secret()
        .name(unique("bench-slack-webhook"))
        .secret_string(secret.to_string())
        .send()
        .await
        .context("creating the webhook secret")?
        .arn
        .context("the secret's ARN")?;
    let mut env = vec![("SLACK_WEBHOOK_SECRET_ARN".to_owned(), arn)];
    env.extend(stand.endpoints(None));
    let spec = FunctionSpec {
        bootstrap: bootstrap.to_owned(),
        name: "slack-notifier".into(),
        region: HOME.into(),
        account: ACCOUNT.into(),
        memory_mb: MEMORY_MB,
        timeout: Duration::from_secs(30),
        env,
    };
    stand.set_latency(latency);
    let mut figures = NotifierFigures {
        latency_ms: latency.as_millis() as u64,
        cold_path_ms: Vec::new(),
        peak_kib: Vec::new(),
        calls: BTreeMap::new(),
    };
    for n in 0..repeat.max(1) {
        let window = stand.begin(None).await?;
        let mut process = LambdaProcess::spawn(&spec).await?;
        figures
            .cold_path_ms
            .push(millis(process.cold_path(START_LIMIT).await?));
        figures.peak_kib.push(process.peak_rss_kib()?);
        let measured = stand.end(None, window).await?;
        if n == 0 {
            figures.calls = measured.calls;
        }
    }
    stand.set_latency(Duration::ZERO);
    if figures.calls.get("GetSecretValue") != Some(&1) {
        bail!(
            "the notifier's start made {:?}, not one GetSecretValue",
            figures.calls
        );
    }
    Ok(figures)
}
