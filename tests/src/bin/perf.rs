//! `perf`: the benchmark of the release functions as whole processes on the
//! local stand-ins, beside a boto3 script doing the same tick, with a cost
//! model. `bash infra/scripts/bench.sh` builds the release binaries and runs
//! it; see `integration_tests::perf` for what is measured and how.
//!
//! Scenarios: 10 stores x 4 regions and 1,000 stores x 1 region, each with no
//! latency and with 25 ms on every HealthLake, DynamoDB and SNS call
//! (`--layout` and `--latency-ms` choose others). It prints the report as
//! text and writes it as JSON.
//!
//! Exit codes: 0 the report was written (it says whether every tick made the
//! fewest calls); 1 a tick was off its minimum or reported a problem; 2 the
//! benchmark could not run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use integration_tests::perf::cost::Deployment;
use integration_tests::perf::process::EmulatorProcess;
use integration_tests::perf::report::{self, Machine, Report};
use integration_tests::perf::scenario::{self, HealthLake, Layout, Runs, Scenario, Stand};
use integration_tests::services::{python, workspace_root};

#[derive(Debug, Parser)]
#[command(about = "Benchmark of the healthlake-monitor functions against a boto3 baseline")]
struct Args {
    /// The status monitor's release binary.
    #[arg(long)]
    status_monitor: PathBuf,
    /// The Slack notifier's release binary; its cold path is skipped without it.
    #[arg(long)]
    slack_notifier: Option<PathBuf>,
    /// The HealthLake emulator's release binary.
    #[arg(long)]
    emulator: PathBuf,
    /// Binary and package sizes (JSON, as infra/scripts/bench.sh writes them).
    #[arg(long)]
    sizes: Option<PathBuf>,
    /// Where to write the JSON report.
    #[arg(long)]
    out: PathBuf,
    /// Quiet ticks after the first tick, and fresh processes, per scenario.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Runs no boto3 baseline.
    #[arg(long)]
    no_baseline: bool,
    /// A layout of stores, STORESxREGIONS (repeat for more); by default
    /// 10x4 and 1000x1.
    #[arg(long = "layout", value_name = "STORESxREGIONS", value_parser = parse_layout)]
    layouts: Vec<Layout>,
    /// A latency added to every call, in ms (repeat for more); by default 0 and 25.
    #[arg(long = "latency-ms", value_name = "MS")]
    latencies_ms: Vec<u64>,
    /// A setting added to the status monitor's environment (KEY=VALUE; repeat for more).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_setting)]
    env: Vec<(String, String)>,
    /// The command to print as the one that produced the report.
    #[arg(long, default_value = "bash infra/scripts/bench.sh")]
    command: String,
}

fn parse_setting(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {value:?}")),
    }
}

fn parse_layout(value: &str) -> Result<Layout, String> {
    let (stores, regions) = value
        .split_once('x')
        .ok_or_else(|| format!("expected STORESxREGIONS, got {value:?}"))?;
    let number = |text: &str| {
        text.trim()
            .parse::<usize>()
            .map_err(|e| format!("{value:?}: {e}"))
    };
    let (stores, regions) = (number(stores)?, number(regions)?);
    if !(1..=scenario::REGIONS.len()).contains(&regions) {
        return Err(format!(
            "{value:?}: from 1 to {} regions",
            scenario::REGIONS.len()
        ));
    }
    Ok(Layout::new(stores, regions))
}

impl Args {
    fn layouts(&self) -> Vec<Layout> {
        if self.layouts.is_empty() {
            vec![Layout::new(10, 4), Layout::new(1_000, 1)]
        } else {
            self.layouts.clone()
        }
    }

    fn latencies(&self) -> Vec<Duration> {
        if self.latencies_ms.is_empty() {
            vec![Duration::ZERO, Duration::from_millis(25)]
        } else {
            self.latencies_ms
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect()
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<Report> {
    let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let machine = Machine::read();
    let sizes = match &args.sizes {
        Some(path) => Some(
            serde_json::from_slice(
                &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("{} is not JSON", path.display()))?,
        ),
        None => None,
    };
    let template = workspace_root().join("template.yaml");
    let deployment = Deployment::from_template(
        &std::fs::read_to_string(&template)
            .with_context(|| format!("reading {}", template.display()))?,
    )?;
    let runs = Runs {
        status_monitor: args.status_monitor.clone(),
        python: if args.no_baseline {
            None
        } else {
            Some(python()?)
        },
        repeat: args.repeat,
        env: args.env.clone(),
    };
    let stand = Stand::start().await?;
    eprintln!("warming DynamoDB Local and moto up");
    stand.warm_up().await?;
    let mut results = Vec::new();
    for layout in args.layouts() {
        // A fresh emulator per layout: each scans exactly its stores. They
        // settle once its clock moves past them; the quota lets 1,000 in.
        let emulator = EmulatorProcess::start(
            &args.emulator,
            &[
                "--transition-delay-ms",
                "1000",
                "--max-datastores",
                "100000",
            ],
        )
        .await?;
        let healthlake = HealthLake::new(emulator.url())?;
        healthlake.seed(&layout).await?;
        for latency in args.latencies() {
            let scenario = Scenario {
                layout: layout.clone(),
                latency,
            };
            eprintln!("running {}", scenario.name());
            results.push(
                scenario::run(&stand, &healthlake, &scenario, &runs)
                    .await
                    .with_context(|| scenario.name())?,
            );
        }
    }
    let mut notifier = Vec::new();
    if let Some(bootstrap) = &args.slack_notifier {
        for latency in args.latencies() {
            eprintln!("running slack-notifier, {} ms a call", latency.as_millis());
            notifier.push(scenario::run_notifier(&stand, bootstrap, latency, args.repeat).await?);
        }
    }
    Ok(Report {
        command: args.command.clone(),
        started,
        machine,
        sizes,
        cost: report::cost_model(deployment, &results),
        scenarios: results,
        notifier,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let report = match run(&args).await {
        Ok(report) => report,
        Err(err) => {
            eprintln!("the benchmark could not run: {err:#}");
            return ExitCode::from(2);
        }
    };
    print!("{}", report::render(&report));
    let written = serde_json::to_vec_pretty(&report)
        .map_err(anyhow::Error::from)
        .and_then(|json| {
            if let Some(dir) = args.out.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&args.out, json).map_err(anyhow::Error::from)
        });
    match written {
        Ok(()) => println!("\nreport written to {}", args.out.display()),
        Err(err) => {
            eprintln!("writing {}: {err:#}", args.out.display());
            return ExitCode::from(2);
        }
    }
    let clean = report.scenarios.iter().all(|s| {
        s.off_minimum.is_empty()
            && std::iter::once(&s.function.first_tick)
                .chain(&s.function.quiet_ticks)
                .chain(&s.function.fresh_quiet_ticks)
                .all(|t| t.problems.is_empty())
    });
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
