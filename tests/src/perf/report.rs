//! The benchmark's report: the figures as JSON, and the same as text.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::perf::cost::{self, CostModel, Deployment, Inputs};
use crate::perf::scenario::{NotifierFigures, ScenarioResult, TickFigures, group};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The command that produced it.
    pub command: String,
    /// When it started (RFC 3339, UTC).
    pub started: String,
    pub machine: Machine,
    /// Binary and deploy package sizes, as `infra/scripts/bench.sh` measures them.
    pub sizes: Option<Value>,
    pub scenarios: Vec<ScenarioResult>,
    pub notifier: Vec<NotifierFigures>,
    pub cost: Option<CostModel>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub kernel: String,
    /// `/proc/loadavg` when the run started.
    pub load_average: String,
}

impl Machine {
    pub fn read() -> Self {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_owned())
                .unwrap_or_default()
        };
        Self {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            kernel: read("/proc/sys/kernel/osrelease"),
            load_average: read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// The median, or NaN of nothing.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

fn durations(ticks: &[TickFigures]) -> Vec<f64> {
    ticks.iter().map(|t| t.duration_ms).collect()
}

fn kib_to_mib(kib: f64) -> f64 {
    kib / 1024.0
}

/// The cost model's inputs: per-scope figures of the quiet ticks of the
/// scenario with the most regions and the highest latency, and the writes
/// and publishes of the first tick with the most stores at that latency.
/// Output bytes are split into a part per invocation and a part per scope
/// by the quiet ticks of two scenarios of that latency with different
/// numbers of regions; with one scenario, all of it is per scope.
pub fn cost_inputs(scenarios: &[ScenarioResult]) -> Option<Inputs> {
    let quiet = scenarios
        .iter()
        .max_by_key(|s| (s.latency_ms, s.layout.regions.len()))?;
    let first = scenarios
        .iter()
        .filter(|s| s.latency_ms == quiet.latency_ms)
        .max_by_key(|s| s.stores)?;
    let f = &quiet.function;
    let scopes = quiet.layout.regions.len() as u64;
    let quiet_ticks: Vec<&TickFigures> = f.quiet_ticks.iter().chain(&f.fresh_quiet_ticks).collect();
    let per_scope = |value: f64| value / scopes.max(1) as f64;
    let cold: Vec<f64> = f
        .cold_path_ms
        .iter()
        .skip(1)
        .zip(&f.fresh_quiet_ticks)
        .map(|(cold, tick)| cold + tick.duration_ms)
        .collect();
    let series: BTreeSet<String> = quiet_ticks
        .iter()
        .flat_map(|t| t.metric_series.iter().cloned())
        .collect();
    let (region_series_per_region, other_series) = cost::series_split(&series, scopes);
    let log_bytes = |s: &ScenarioResult| {
        median(
            &s.function
                .quiet_ticks
                .iter()
                .chain(&s.function.fresh_quiet_ticks)
                .map(|t| t.log_bytes as f64)
                .collect::<Vec<_>>(),
        )
    };
    let fewer_regions = scenarios.iter().find(|s| {
        s.latency_ms == quiet.latency_ms && s.layout.regions.len() < quiet.layout.regions.len()
    });
    let (log_bytes_per_invocation, log_bytes_per_scope) = match fewer_regions {
        Some(other) => {
            let slope = (log_bytes(quiet) - log_bytes(other))
                / (scopes as f64 - other.layout.regions.len() as f64);
            let slope = slope.max(0.0);
            ((log_bytes(quiet) - slope * scopes as f64).max(0.0), slope)
        }
        None => (0.0, per_scope(log_bytes(quiet))),
    };
    let first_tick = &first.function.first_tick;
    let writes = first_tick
        .measured
        .calls
        .get("PutItem")
        .copied()
        .unwrap_or(0);
    let publishes = first_tick
        .measured
        .calls
        .get("Publish")
        .copied()
        .unwrap_or(0);
    Some(Inputs {
        source: quiet.name.clone(),
        latency_ms: quiet.latency_ms,
        scopes,
        warm_tick_ms: median(&durations(&f.quiet_ticks)),
        cold_tick_ms: median(&cold),
        read_units_per_scope: per_scope(median(
            &quiet_ticks
                .iter()
                .map(|t| t.measured.capacity.read_units)
                .collect::<Vec<_>>(),
        )),
        log_bytes_per_invocation,
        log_bytes_per_scope,
        region_series_per_region,
        other_series,
        write_units_per_write: first_tick.measured.capacity.write_units as f64
            / writes.max(1) as f64,
        chunks_per_alert: first_tick.measured.capacity.publish_chunks as f64
            / publishes.max(1) as f64,
    })
}

/// The cost model of `scenarios` under `deployment`.
pub fn cost_model(deployment: Deployment, scenarios: &[ScenarioResult]) -> Option<CostModel> {
    cost_inputs(scenarios).map(|inputs| cost::model(deployment, inputs))
}

fn ms(value: f64) -> String {
    if value.is_nan() {
        "-".into()
    } else if value < 10.0 {
        format!("{value:.2}")
    } else if value < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

fn ratio(rust: f64, boto3: Option<f64>) -> String {
    match boto3 {
        Some(b) if b > 0.0 && rust.is_finite() => format!("{:.3}", rust / b),
        _ => "-".into(),
    }
}

fn spread(values: &[f64]) -> String {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    match (
        finite.iter().copied().reduce(f64::min),
        finite.iter().copied().reduce(f64::max),
    ) {
        (Some(lo), Some(hi)) if finite.len() > 1 => format!("{}-{}", ms(lo), ms(hi)),
        _ => String::new(),
    }
}

fn usd(value: f64) -> String {
    if value >= 100.0 {
        format!("${value:.0}")
    } else if value >= 1.0 {
        format!("${value:.2}")
    } else {
        format!("${value:.4}")
    }
}

/// The report as text.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "healthlake-monitor benchmark");
    let _ = writeln!(w, "command: {}", report.command);
    let _ = writeln!(
        w,
        "started {}; {} CPUs, Linux {}, load average at start {}",
        report.started, report.machine.cpus, report.machine.kernel, report.machine.load_average
    );
    let _ = writeln!(
        w,
        "Everything on loopback: DynamoDB Local and moto behind counting latency proxies, the \
         release HealthLake emulator, a recording Lambda Runtime API. Times in ms, memory in \
         MiB (VmHWM). Ratios are Rust / boto3."
    );
    if let Some(sizes) = &report.sizes {
        render_sizes(w, sizes);
    }
    for scenario in &report.scenarios {
        render_scenario(w, scenario);
    }
    if !report.notifier.is_empty() {
        let _ = writeln!(
            w,
            "\n== slack-notifier: cold path (secret read from moto) =="
        );
        for n in &report.notifier {
            let _ = writeln!(
                w,
                "{} ms a call: cold path {} ms (median of {}{}), peak {:.1} MiB, calls {}",
                n.latency_ms,
                ms(median(&n.cold_path_ms)),
                n.cold_path_ms.len(),
                with_spread(&n.cold_path_ms),
                kib_to_mib(median(
                    &n.peak_kib.iter().map(|&k| k as f64).collect::<Vec<_>>()
                )),
                calls_inline(&n.calls)
            );
        }
    }
    if let Some(model) = &report.cost {
        render_cost(w, model);
    }
    out
}

fn with_spread(values: &[f64]) -> String {
    let s = spread(values);
    if s.is_empty() { s } else { format!(", {s}") }
}

fn calls_inline(calls: &BTreeMap<String, u64>) -> String {
    calls
        .iter()
        .map(|(op, n)| format!("{op} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn render_sizes(w: &mut String, sizes: &Value) {
    let _ = writeln!(
        w,
        "\n== binaries and deploy packages (bytes; zipped: `bootstrap` alone, ZIP_DEFLATED, as \
         sam package zips) =="
    );
    for (label, key) in [("x86_64 release", "x86_64"), ("arm64, sam build", "arm64")] {
        match sizes[key].as_array() {
            Some(entries) if !entries.is_empty() => {
                for entry in entries {
                    let _ = writeln!(
                        w,
                        "{label:<18} {:<24} {:>12} binary {:>12} zipped  (built {})",
                        entry["name"].as_str().unwrap_or("?"),
                        group(entry["bytes"].as_u64().unwrap_or(0)),
                        group(entry["zipped"].as_u64().unwrap_or(0)),
                        entry["built"].as_str().unwrap_or("?")
                    );
                }
            }
            _ => {
                let why = sizes[format!("{key}_missing")]
                    .as_str()
                    .unwrap_or("not measured");
                let _ = writeln!(w, "{label:<18} {why}");
            }
        }
    }
}

fn render_scenario(w: &mut String, s: &ScenarioResult) {
    let f = &s.function;
    let b = s.baseline.as_ref();
    let _ = writeln!(
        w,
        "\n== {} ({} stores, {} created CREATE_FAILED; HealthLake, DynamoDB and SNS {} ms a call) ==",
        s.name,
        group(s.stores as u64),
        s.failed_stores,
        s.latency_ms
    );
    let _ = writeln!(
        w,
        "{:<52} {:>14} {:>14} {:>10}",
        "", "status-monitor", "boto3", "ratio"
    );
    let row = |w: &mut String, what: String, rust: &[f64], boto3: Option<Vec<f64>>| {
        let (r, b) = (median(rust), boto3.as_deref().map(median));
        let _ = writeln!(
            w,
            "{what:<52} {:>14} {:>14} {:>10}",
            ms(r),
            b.map_or_else(|| "-".into(), ms),
            ratio(r, b)
        );
    };
    row(
        w,
        format!("cold path, ms (median of {})", f.cold_path_ms.len()),
        &f.cold_path_ms,
        b.map(|b| b.cold_path_ms.clone()),
    );
    row(
        w,
        "first tick, ms".into(),
        &[f.first_tick.duration_ms],
        b.map(|b| vec![b.first_tick.duration_ms]),
    );
    row(
        w,
        format!(
            "quiet tick, same process, ms (median of {})",
            f.quiet_ticks.len()
        ),
        &durations(&f.quiet_ticks),
        b.map(|b| b.quiet_ticks.iter().map(|t| t.duration_ms).collect()),
    );
    row(
        w,
        format!(
            "quiet tick, fresh process, ms (median of {})",
            f.fresh_quiet_ticks.len()
        ),
        &durations(&f.fresh_quiet_ticks),
        b.map(|b| b.fresh_quiet_ticks.iter().map(|t| t.duration_ms).collect()),
    );
    row(
        w,
        "peak memory, first-tick process, MiB".into(),
        &[kib_to_mib(f.first_tick_peak_kib as f64)],
        b.map(|b| vec![kib_to_mib(b.first_tick.peak_kib as f64)]),
    );
    row(
        w,
        format!(
            "peak memory, quiet fresh process, MiB (median of {})",
            f.quiet_peak_kib.len()
        ),
        &f.quiet_peak_kib
            .iter()
            .map(|&k| kib_to_mib(k as f64))
            .collect::<Vec<_>>(),
        b.map(|b| {
            b.fresh_quiet_ticks
                .iter()
                .map(|t| kib_to_mib(t.peak_kib as f64))
                .collect()
        }),
    );
    let spreads = [
        ("cold path", spread(&f.cold_path_ms)),
        ("quiet, same process", spread(&durations(&f.quiet_ticks))),
        ("quiet, fresh", spread(&durations(&f.fresh_quiet_ticks))),
    ];
    let spreads: Vec<String> = spreads
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(what, s)| format!("{what} {s}"))
        .collect();
    if !spreads.is_empty() {
        let _ = writeln!(w, "status-monitor ranges: {}", spreads.join("; "));
    }

    // Calls: the first tick, and the first quiet tick of the first process.
    let quiet = f.quiet_ticks.first().or(f.fresh_quiet_ticks.first());
    let boto3_quiet = b.and_then(|b| b.quiet_ticks.first().or(b.fresh_quiet_ticks.first()));
    let operations: BTreeSet<&String> = f
        .first_tick
        .measured
        .calls
        .keys()
        .chain(s.minimum.first_tick.keys())
        .chain(quiet.into_iter().flat_map(|q| q.measured.calls.keys()))
        .chain(b.into_iter().flat_map(|b| b.first_tick.calls.keys()))
        .collect();
    let _ = writeln!(
        w,
        "{:<24} {:>26}   {:>26}",
        "calls per tick", "first tick", "quiet tick"
    );
    let _ = writeln!(
        w,
        "{:<24} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}",
        "operation", "rust", "minimum", "boto3", "rust", "minimum", "boto3"
    );
    let get = |map: Option<&BTreeMap<String, u64>>, op: &String| {
        map.map_or_else(
            || "-".to_owned(),
            |m| m.get(op).copied().unwrap_or(0).to_string(),
        )
    };
    for op in operations {
        let _ = writeln!(
            w,
            "{op:<24} {:>8} {:>8} {:>8}   {:>8} {:>8} {:>8}",
            get(Some(&f.first_tick.measured.calls), op),
            get(Some(&s.minimum.first_tick), op),
            get(b.map(|b| &b.first_tick.calls), op),
            get(quiet.map(|q| &q.measured.calls), op),
            get(Some(&s.minimum.quiet_tick), op),
            get(boto3_quiet.map(|t| &t.calls), op),
        );
    }
    if s.off_minimum.is_empty() {
        let _ = writeln!(w, "status-monitor calls: at the minimum in every tick");
    } else {
        for line in &s.off_minimum {
            let _ = writeln!(w, "OFF THE MINIMUM, {line}");
        }
    }
    if let Some(b) = b {
        let reported = b.reported_calls();
        if reported != b.first_process.calls {
            let _ = writeln!(
                w,
                "boto3 reported {} but the emulator and proxies counted {}",
                calls_inline(&reported),
                calls_inline(&b.first_process.calls)
            );
        }
        let _ = writeln!(
            w,
            "boto3 writes one item per change and has no claim, so its first tick writes {} \
             items where the monitor writes {} (a second write marks each alert sent)",
            b.first_tick.calls.get("PutItem").copied().unwrap_or(0),
            f.first_tick
                .measured
                .calls
                .get("PutItem")
                .copied()
                .unwrap_or(0)
        );
    }
    let first_cap = &f.first_tick.measured.capacity;
    let _ = writeln!(
        w,
        "DynamoDB, first tick: {} WRU for {} item bytes written, {} RRU; quiet tick: {} RRU ({} \
         strongly consistent Query pages); SNS: {} publish requests",
        first_cap.write_units,
        group(first_cap.item_bytes_written),
        first_cap.read_units,
        quiet.map_or(0.0, |q| q.measured.capacity.read_units),
        quiet.map_or(0, |q| q.measured.capacity.strongly_consistent_queries),
        first_cap.publish_chunks
    );
    let _ = writeln!(
        w,
        "peak requests in flight, first tick: {}",
        f.first_tick
            .measured
            .peak_in_flight
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        w,
        "status-monitor output: first tick {} bytes, quiet tick {} bytes, {} metric series",
        group(f.first_tick.log_bytes),
        group(quiet.map_or(0, |q| q.log_bytes)),
        quiet.map_or(0, |q| q.metric_series.len())
    );
    let problems: BTreeSet<&String> = std::iter::once(&f.first_tick)
        .chain(&f.quiet_ticks)
        .chain(&f.fresh_quiet_ticks)
        .flat_map(|t| &t.problems)
        .collect();
    for problem in problems {
        let _ = writeln!(w, "PROBLEM reported by the function: {problem}");
    }
    if f.first_tick.alerts_published != s.failed_stores as u64 {
        let _ = writeln!(
            w,
            "ALERTS: the first tick published {}, not one per failed store ({})",
            f.first_tick.alerts_published, s.failed_stores
        );
    }
}

fn render_cost(w: &mut String, model: &CostModel) {
    let i = &model.inputs;
    let _ = writeln!(
        w,
        "\n== cost model (US East prices of {}, a month of {} hours, arm64 at {} MB, no free tier) ==",
        cost::PRICES_READ,
        cost::HOURS_PER_MONTH,
        model.deployment.memory_mb
    );
    let _ = writeln!(
        w,
        "inputs, measured in \"{}\": quiet tick {} ms warm, {} ms cold (cold path + fresh \
         quiet tick); per region a tick: {:.2} RRU; output {:.0} bytes an invocation + {:.0} a \
         region; metric series {:.1} per region + {:.0}; {:.2} WRU per write, {:.0} publish \
         request per alert",
        i.source,
        ms(i.warm_tick_ms),
        ms(i.cold_tick_ms),
        i.read_units_per_scope,
        i.log_bytes_per_invocation,
        i.log_bytes_per_scope,
        i.region_series_per_region,
        i.other_series,
        i.write_units_per_write,
        i.chunks_per_alert
    );
    for estimate in &model.estimates {
        let _ = writeln!(w, "\n{}", estimate.title);
        for line in estimate
            .lines
            .iter()
            .chain([&estimate.duration_warm, &estimate.duration_cold])
        {
            let _ = writeln!(
                w,
                "  {:<46} {:>10}  {}",
                line.item,
                usd(line.usd),
                line.quantity
            );
        }
        let _ = writeln!(
            w,
            "  {:<46} {:>10}  (every invocation cold: {})",
            "total, warm",
            usd(estimate.total_warm()),
            usd(estimate.total_cold())
        );
        for note in &estimate.notes {
            let _ = writeln!(w, "  note: {note}");
        }
    }
    let _ = writeln!(w, "\neach change:");
    for line in &model.per_change {
        let _ = writeln!(
            w,
            "  {:<46} {:>10}  {}",
            line.item,
            format!("${:.7}", line.usd),
            line.quantity
        );
    }
}
