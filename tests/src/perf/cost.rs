//! A monthly cost model built from the benchmark's measured figures: Lambda
//! (arm64, the template's memory, each invocation billed by the
//! millisecond), DynamoDB on-demand request units, SNS publishes, SQS
//! requests of the fan-out, and the CloudWatch Logs and custom metrics the
//! function's output makes.
//!
//! A month is 730 hours. Free tiers are left out.

use anyhow::Context as _;
use serde::Serialize;

/// When the prices below were read.
pub const PRICES_READ: &str = "2026-11-27";
// Prices in US East (N. Virginia), in US dollars, as AWS's pricing pages give
// them on that date:
// https://aws.amazon.com/lambda/pricing/ (Arm, first tier of duration),
// https://aws.amazon.com/dynamodb/pricing/on-demand/ (Standard table class),
// https://aws.amazon.com/sns/pricing/ (standard topics, per 64 KB chunk),
// https://aws.amazon.com/sqs/pricing/ (standard queues, per 64 KB chunk),
// https://aws.amazon.com/cloudwatch/pricing/ (Standard log ingestion, metrics).
/// Lambda, Arm: per GB-second of duration.
pub const LAMBDA_ARM_GB_SECOND: f64 = 0.000_013_333_4;
/// Lambda: per request.
pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
/// DynamoDB on-demand: per read request unit.
pub const DYNAMODB_READ_UNIT: f64 = 0.125 / 1e6;
/// DynamoDB on-demand: per write request unit.
pub const DYNAMODB_WRITE_UNIT: f64 = 0.625 / 1e6;
/// SNS: per publish request (64 KB chunk).
pub const SNS_PUBLISH: f64 = 0.50 / 1e6;
/// SQS standard: per request (64 KB chunk).
pub const SQS_REQUEST: f64 = 0.40 / 1e6;
/// CloudWatch Logs, Standard class: per GB ingested.
pub const LOGS_INGESTED_GB: f64 = 0.50;
/// CloudWatch: per custom metric series and month (first 10,000).
pub const METRIC_MONTH: f64 = 0.30;
pub const HOURS_PER_MONTH: f64 = 730.0;
/// Accounts an Organizations ListAccounts page holds at most.
pub const LIST_ACCOUNTS_PAGE: u64 = 20;
/// Messages an SQS SendMessageBatch takes at most.
pub const SQS_BATCH: u64 = 10;
/// Receives a month of the idle pollers of an SQS event source mapping: five
/// pollers (Lambda's starting number) long-polling 20 s each. An estimate.
pub const IDLE_POLLS_PER_MONTH: f64 = 5.0 * 3.0 * 60.0 * HOURS_PER_MONTH;

/// What the template deploys, as the cost model needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    pub memory_mb: u64,
    /// `FanOutBatchAccounts`' default.
    pub fanout_batch_accounts: u64,
    /// `ScanConcurrency`'s default.
    pub scan_concurrency: u64,
}

impl Deployment {
    /// Reads `template.yaml`: the functions' MemorySize (the status monitor's
    /// own, else the Globals'), the defaults of FanOutBatchAccounts and
    /// ScanConcurrency.
    pub fn from_template(text: &str) -> anyhow::Result<Self> {
        let yaml: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).context("template.yaml is not YAML")?;
        let number = |value: &serde_yaml_ng::Value, what: &str| {
            value
                .as_u64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                .with_context(|| format!("template.yaml: {what} is not a number"))
        };
        let own = &yaml["Resources"]["StatusMonitorFunction"]["Properties"]["MemorySize"];
        let memory = if own.is_null() {
            &yaml["Globals"]["Function"]["MemorySize"]
        } else {
            own
        };
        Ok(Self {
            memory_mb: number(memory, "MemorySize")?,
            fanout_batch_accounts: number(
                &yaml["Parameters"]["FanOutBatchAccounts"]["Default"],
                "FanOutBatchAccounts' Default",
            )?,
            scan_concurrency: number(
                &yaml["Parameters"]["ScanConcurrency"]["Default"],
                "ScanConcurrency's Default",
            )?,
        })
    }

    fn gb(&self) -> f64 {
        self.memory_mb as f64 / 1024.0
    }
}

/// The measured figures the model scales.
#[derive(Debug, Clone, Serialize)]
pub struct Inputs {
    /// The scenario the per-scope figures come from.
    pub source: String,
    pub latency_ms: u64,
    /// Scopes of that scenario (one per region).
    pub scopes: u64,
    /// Median quiet tick in a warm process, the whole tick.
    pub warm_tick_ms: f64,
    /// Median cold path plus quiet tick of a fresh process.
    pub cold_tick_ms: f64,
    /// Read request units of a quiet tick, per scope.
    pub read_units_per_scope: f64,
    /// Output bytes of a quiet tick: per invocation, and per scope on top.
    pub log_bytes_per_invocation: f64,
    pub log_bytes_per_scope: f64,
    /// Metric series with a Region dimension, per region; and the others.
    pub region_series_per_region: f64,
    pub other_series: f64,
    /// Write request units per PutItem and publish chunks per alert, from a first tick.
    pub write_units_per_write: f64,
    pub chunks_per_alert: f64,
}

/// One line of an estimate: what, how much of it, and its monthly cost.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub item: String,
    pub quantity: String,
    pub usd: f64,
}

/// A monthly estimate for one deployment size and schedule.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub title: String,
    /// Lines common to every invocation's warmth.
    pub lines: Vec<Line>,
    /// Lambda duration if every invocation runs in a warm environment, and if
    /// every one is a cold start (init billed).
    pub duration_warm: Line,
    pub duration_cold: Line,
    pub notes: Vec<String>,
}

impl Estimate {
    fn fixed(&self) -> f64 {
        self.lines.iter().map(|l| l.usd).sum()
    }

    pub fn total_warm(&self) -> f64 {
        self.fixed() + self.duration_warm.usd
    }

    pub fn total_cold(&self) -> f64 {
        self.fixed() + self.duration_cold.usd
    }
}

/// What every estimate leaves out of the logs.
const LOGS_NOTE: &str = "Logs: the function's own output as measured (its JSON log lines and \
                         EMF records); Lambda's platform lines (START, END, REPORT) come on top.";

/// The whole model.
#[derive(Debug, Clone, Serialize)]
pub struct CostModel {
    pub deployment: Deployment,
    pub inputs: Inputs,
    pub estimates: Vec<Estimate>,
    /// What one transition and one alert add.
    pub per_change: Vec<Line>,
}

fn ticks_per_month(minutes: u64) -> f64 {
    HOURS_PER_MONTH * 60.0 / minutes as f64
}

/// Lambda duration of `invocations` of `ms` each (billed rounded up to 1 ms).
fn duration_line(what: &str, deployment: &Deployment, invocations: f64, ms: f64) -> Line {
    let billed = ms.ceil();
    Line {
        item: format!("Lambda duration, {what}"),
        quantity: format!(
            "{} invocations x {billed} ms x {} MB",
            count(invocations),
            deployment.memory_mb
        ),
        usd: invocations * billed / 1000.0 * deployment.gb() * LAMBDA_ARM_GB_SECOND,
    }
}

fn count(n: f64) -> String {
    crate::perf::scenario::group(n.round() as u64)
}

/// 1 account in 1 region, scanned by the scheduled function itself.
fn one_scope(deployment: &Deployment, inputs: &Inputs, minutes: u64) -> Estimate {
    let ticks = ticks_per_month(minutes);
    let reads = ticks * inputs.read_units_per_scope;
    let log_gb = ticks * (inputs.log_bytes_per_invocation + inputs.log_bytes_per_scope) / 1e9;
    let series = inputs.region_series_per_region + inputs.other_series;
    Estimate {
        title: format!(
            "1 account x 1 region, every {minutes} minute{}",
            plural(minutes)
        ),
        lines: vec![
            Line {
                item: "Lambda requests".into(),
                quantity: format!("{} invocations", count(ticks)),
                usd: ticks * LAMBDA_REQUEST,
            },
            Line {
                item: "DynamoDB reads (Query, strongly consistent)".into(),
                quantity: format!("{} RRU", count(reads)),
                usd: reads * DYNAMODB_READ_UNIT,
            },
            Line {
                item: "CloudWatch Logs ingestion".into(),
                quantity: format!("{log_gb:.3} GB"),
                usd: log_gb * LOGS_INGESTED_GB,
            },
            Line {
                item: "CloudWatch custom metrics (EMF)".into(),
                quantity: format!("{series:.0} series"),
                usd: series * METRIC_MONTH,
            },
        ],
        duration_warm: duration_line("warm", deployment, ticks, inputs.warm_tick_ms),
        duration_cold: duration_line("every tick cold", deployment, ticks, inputs.cold_tick_ms),
        notes: vec![
            format!(
                "Duration: the measured quiet tick of {} (its {} regions are scanned at once, \
                 so one region takes about as long); reads and metric series per region of it. \
                 No writes or publishes while nothing changes.",
                inputs.source, inputs.scopes
            ),
            LOGS_NOTE.into(),
        ],
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `accounts` x `regions` with the fan-out: the scheduled tick lists the
/// accounts and queues them in batches; one worker invocation per batch.
fn fan_out(
    deployment: &Deployment,
    inputs: &Inputs,
    accounts: u64,
    regions: u64,
    minutes: u64,
) -> Estimate {
    let ticks = ticks_per_month(minutes);
    let latency = inputs.latency_ms as f64;
    let batches = accounts.div_ceil(deployment.fanout_batch_accounts);
    let scopes = accounts * regions;
    let scopes_per_batch = deployment.fanout_batch_accounts * regions;
    let rounds = scopes_per_batch.div_ceil(deployment.scan_concurrency);
    // The scheduled tick: ListAccounts pages, then SendMessageBatch calls,
    // one after the other, each one latency.
    let list_pages = accounts.div_ceil(LIST_ACCOUNTS_PAGE);
    let sends = batches.div_ceil(SQS_BATCH);
    let scheduler_ms = (list_pages + sends) as f64 * latency + inputs.warm_tick_ms;
    // A worker: its scopes, `ScanConcurrency` at a time, each round as long
    // as the measured tick, plus one round of AssumeRole (a call each).
    let worker_warm_ms = rounds as f64 * inputs.warm_tick_ms + latency;
    let worker_cold_ms = worker_warm_ms + (inputs.cold_tick_ms - inputs.warm_tick_ms).max(0.0);
    let invocations = ticks * (1 + batches) as f64;
    let reads = ticks * scopes as f64 * inputs.read_units_per_scope;
    let sqs_per_tick = (sends + 2 * batches) as f64;
    let sqs = ticks * sqs_per_tick + IDLE_POLLS_PER_MONTH;
    let log_gb = ticks
        * ((1 + batches) as f64 * inputs.log_bytes_per_invocation
            + scopes as f64 * inputs.log_bytes_per_scope)
        / 1e9;
    // Each worker writes the totals without dimensions: the same series.
    let series = inputs.region_series_per_region * regions as f64 + inputs.other_series;
    let warm_ms_total = scheduler_ms + batches as f64 * worker_warm_ms;
    let cold_ms_total = scheduler_ms + batches as f64 * worker_cold_ms;
    let gb_s = |ms: f64| ticks * ms / 1000.0 * deployment.gb();
    Estimate {
        title: format!(
            "{} accounts x {regions} regions with the fan-out, every {minutes} minute{}",
            group(accounts),
            plural(minutes)
        ),
        lines: vec![
            Line {
                item: "Lambda requests".into(),
                quantity: format!("{} invocations (1 + {batches} a tick)", count(invocations)),
                usd: invocations * LAMBDA_REQUEST,
            },
            Line {
                item: "DynamoDB reads (Query, strongly consistent)".into(),
                quantity: format!("{} RRU", count(reads)),
                usd: reads * DYNAMODB_READ_UNIT,
            },
            Line {
                item: "SQS requests".into(),
                quantity: format!(
                    "{} ({sends} SendMessageBatch, {batches} receives and {batches} deletes a \
                     tick, {} idle polls)",
                    count(sqs),
                    count(IDLE_POLLS_PER_MONTH)
                ),
                usd: sqs * SQS_REQUEST,
            },
            Line {
                item: "CloudWatch Logs ingestion".into(),
                quantity: format!("{log_gb:.1} GB"),
                usd: log_gb * LOGS_INGESTED_GB,
            },
            Line {
                item: "CloudWatch custom metrics (EMF)".into(),
                quantity: format!("{series:.0} series"),
                usd: series * METRIC_MONTH,
            },
        ],
        duration_warm: Line {
            item: "Lambda duration, warm".into(),
            quantity: format!(
                "a tick: {scheduler_ms:.0} ms + {batches} x {worker_warm_ms:.0} ms, {} GB-s a month",
                count(gb_s(warm_ms_total))
            ),
            usd: gb_s(warm_ms_total) * LAMBDA_ARM_GB_SECOND,
        },
        duration_cold: Line {
            item: "Lambda duration, every worker cold".into(),
            quantity: format!(
                "a tick: {scheduler_ms:.0} ms + {batches} x {worker_cold_ms:.0} ms, {} GB-s a month",
                count(gb_s(cold_ms_total))
            ),
            usd: gb_s(cold_ms_total) * LAMBDA_ARM_GB_SECOND,
        },
        notes: vec![
            format!(
                "Extrapolated from {} ({} ms a call): {} scopes; {batches} batches of {} \
                 accounts (FanOutBatchAccounts) x {regions} regions = {scopes_per_batch} \
                 scopes, scanned {} at a time (ScanConcurrency), so {rounds} rounds each as \
                 long as the measured quiet tick, plus one call's latency for AssumeRole.",
                inputs.source,
                inputs.latency_ms,
                group(scopes),
                deployment.fanout_batch_accounts,
                deployment.scan_concurrency
            ),
            format!(
                "The scheduled tick is modelled, not measured: {list_pages} ListAccounts pages \
                 and {sends} SendMessageBatch calls one after the other at {} ms each, plus a \
                 tick's own time. STS and Organizations calls cost nothing.",
                inputs.latency_ms
            ),
            "SQS idle polls: five pollers long-polling 20 s, an estimate of the event source \
             mapping's own receives."
                .into(),
            LOGS_NOTE.into(),
        ],
    }
}

fn group(n: u64) -> String {
    crate::perf::scenario::group(n)
}

/// The cost of one change, from the first tick's figures.
fn per_change(inputs: &Inputs) -> Vec<Line> {
    let write = inputs.write_units_per_write * DYNAMODB_WRITE_UNIT;
    vec![
        Line {
            item: "a transition (one write)".into(),
            quantity: format!("{:.2} WRU", inputs.write_units_per_write),
            usd: write,
        },
        Line {
            item: "an alert on top (a second write, a publish)".into(),
            quantity: format!(
                "{:.2} WRU, {:.0} publish request",
                inputs.write_units_per_write, inputs.chunks_per_alert
            ),
            usd: write + inputs.chunks_per_alert * SNS_PUBLISH,
        },
    ]
}

/// The estimates: 1 account x 1 region every minute and every 5 minutes, and
/// 1,000 accounts x 8 regions with the fan-out at both schedules.
pub fn model(deployment: Deployment, inputs: Inputs) -> CostModel {
    let estimates = vec![
        one_scope(&deployment, &inputs, 1),
        one_scope(&deployment, &inputs, 5),
        fan_out(&deployment, &inputs, 1_000, 8, 1),
        fan_out(&deployment, &inputs, 1_000, 8, 5),
    ];
    CostModel {
        per_change: per_change(&inputs),
        deployment,
        inputs,
        estimates,
    }
}

/// Splits metric series into those with a Region dimension, per region, and the others.
pub fn series_split<'a>(series: impl IntoIterator<Item = &'a String>, regions: u64) -> (f64, f64) {
    let (regional, other): (Vec<&String>, Vec<&String>) =
        series.into_iter().partition(|s| s.contains("Region="));
    (
        regional.len() as f64 / regions.max(1) as f64,
        other.len() as f64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            source: "10 stores x 4 regions, 25 ms a call".into(),
            latency_ms: 25,
            scopes: 4,
            warm_tick_ms: 60.2,
            cold_tick_ms: 100.0,
            read_units_per_scope: 2.0,
            log_bytes_per_invocation: 1_500.0,
            log_bytes_per_scope: 800.0,
            region_series_per_region: 2.0,
            other_series: 10.0,
            write_units_per_write: 1.0,
            chunks_per_alert: 1.0,
        }
    }

    fn deployment() -> Deployment {
        Deployment {
            memory_mb: 256,
            fanout_batch_accounts: 10,
            scan_concurrency: 16,
        }
    }

    #[test]
    fn one_scope_every_minute_bills_each_tick_to_the_millisecond() {
        let estimate = one_scope(&deployment(), &inputs(), 1);
        let ticks = 43_800.0;
        // 61 ms billed at a quarter GB.
        let expected = ticks * 0.061 * 0.25 * LAMBDA_ARM_GB_SECOND;
        assert!((estimate.duration_warm.usd - expected).abs() < 1e-9);
        let reads = &estimate.lines[1];
        assert!((reads.usd - ticks * 2.0 * DYNAMODB_READ_UNIT).abs() < 1e-12);
    }

    #[test]
    fn the_fan_out_scales_reads_with_the_scopes_and_invocations_with_the_batches() {
        let estimate = fan_out(&deployment(), &inputs(), 1_000, 8, 5);
        let ticks = 8_760.0;
        let requests = &estimate.lines[0];
        assert!((requests.usd - ticks * 101.0 * LAMBDA_REQUEST).abs() < 1e-9);
        let reads = &estimate.lines[1];
        assert!((reads.usd - ticks * 8_000.0 * 2.0 * DYNAMODB_READ_UNIT).abs() < 1e-9);
        assert!(estimate.total_cold() > estimate.total_warm());
    }

    #[test]
    fn the_template_gives_the_memory_batch_and_concurrency() {
        let text = "Parameters:\n  FanOutBatchAccounts:\n    Default: 10\n  ScanConcurrency:\n    \
                    Default: 16\nGlobals:\n  Function:\n    MemorySize: 256\nResources:\n  \
                    StatusMonitorFunction:\n    Properties:\n      Role: !GetAtt R.Arn\n";
        assert_eq!(Deployment::from_template(text).unwrap(), deployment());
    }
}
