//! The benchmark's scenario code at a tiny size: 3 stores in each of 2
//! regions (one created CREATE_FAILED), no latency, the debug
//! `status-monitor` binary on a recording Runtime API, and the boto3
//! baseline beside it. It asserts what the calls per tick are, not how long
//! anything takes: per region one list page and one Query page, no Describe,
//! on the first tick a write per store plus one per alert and a publish per
//! failed store, on a quiet tick nothing else.

use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::emulator::Emulator;
use integration_tests::perf::scenario::{self, HealthLake, Layout, Runs, Scenario, Stand};
use integration_tests::services::{python, workspace_binary};

fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(op, n)| ((*op).to_owned(), *n)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_tick_makes_the_fewest_calls_and_the_baseline_does_the_same_tick() {
    let emulator = Emulator::start().await.expect("emulator");
    let healthlake = HealthLake::new(&emulator.url()).expect("client");
    let layout = Layout::new(3, 2);
    assert_eq!((layout.stores(), layout.failed()), (6, 1));
    healthlake.seed(&layout).await.expect("stores created");
    let stand = Stand::start().await.expect("DynamoDB Local and moto");
    let runs = Runs {
        status_monitor: workspace_binary("status-monitor").expect("the debug binary"),
        python: Some(python().expect("the tools' Python")),
        repeat: 1,
        env: Vec::new(),
    };
    let scenario = Scenario {
        layout,
        latency: Duration::ZERO,
    };
    let result = scenario::run(&stand, &healthlake, &scenario, &runs)
        .await
        .expect("the scenario runs");

    let function = &result.function;
    let first = calls(&[
        ("ListFHIRDatastores", 2),
        ("Query", 2),
        ("PutItem", 7),
        ("Publish", 1),
    ]);
    let quiet = calls(&[("ListFHIRDatastores", 2), ("Query", 2)]);
    assert_eq!(function.first_tick.measured.calls, first);
    assert_eq!(function.first_tick.alerts_published, 1);
    for tick in function
        .quiet_ticks
        .iter()
        .chain(&function.fresh_quiet_ticks)
    {
        assert_eq!(tick.measured.calls, quiet);
        assert_eq!(tick.alerts_published, 0);
    }
    assert_eq!(
        (function.quiet_ticks.len(), function.fresh_quiet_ticks.len()),
        (1, 1)
    );
    assert_eq!(result.minimum.first_tick, first);
    assert_eq!(result.minimum.quiet_tick, quiet);
    assert!(result.off_minimum.is_empty(), "{:#?}", result.off_minimum);
    for tick in std::iter::once(&function.first_tick).chain(&function.quiet_ticks) {
        assert!(tick.problems.is_empty(), "{:#?}", tick.problems);
    }
    // The claim write of the failed store's record holds its alert.
    let capacity = &function.first_tick.measured.capacity;
    assert_eq!(capacity.strongly_consistent_queries, 2);
    assert!(capacity.write_units >= 7, "{capacity:?}");

    let baseline = result.baseline.as_ref().expect("the baseline ran");
    assert_eq!(
        baseline.first_tick.calls,
        calls(&[
            ("ListFHIRDatastores", 2),
            ("Query", 2),
            ("PutItem", 6),
            ("Publish", 1),
        ])
    );
    for tick in baseline
        .quiet_ticks
        .iter()
        .chain(&baseline.fresh_quiet_ticks)
    {
        assert_eq!(tick.calls, quiet);
    }
    assert_eq!(baseline.reported_calls(), baseline.first_process.calls);
}
