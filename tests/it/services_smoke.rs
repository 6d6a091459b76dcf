//! The test harness's own guarantees: how it drives the Lambda Runtime API and
//! shares it between tests. (DynamoDB Local and moto are exercised by the
//! adapter tests, not checked here for their own sake.)

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use integration_tests::services::{InvokeOutcome, LambdaRuntimeApi};
use serde_json::json;

/// A binary target of this workspace, so the Runtime API emulator accepts the name.
const ECHO: &str = "echo-lambda";

fn echo_bootstrap() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_echo-lambda"))
}

#[tokio::test]
async fn lambda_runtime_api_returns_the_response_and_the_function_error() -> anyhow::Result<()> {
    let function = LambdaRuntimeApi::shared().await?.reserve(ECHO).await?;
    let _process = function.spawn(echo_bootstrap(), &[])?;

    let event = json!({"datastoreId": "abc", "nested": {"n": 1}});
    let response = function.invoke(&event).await?.into_success()?;
    assert_eq!(response["echo"], event);

    let outcome = function
        .invoke(&json!({"fail": "snapshot table missing"}))
        .await?;
    match outcome {
        InvokeOutcome::FunctionError { error_message, .. } => {
            assert_eq!(error_message, "snapshot table missing");
        }
        other => panic!("expected a function error, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn lambda_runtime_api_serves_overlapping_invokes_from_two_processes() -> anyhow::Result<()> {
    let function = LambdaRuntimeApi::shared().await?.reserve(ECHO).await?;
    // One function process takes one invocation at a time; two serve two at once.
    let _first = function.spawn(echo_bootstrap(), &[])?;
    let _second = function.spawn(echo_bootstrap(), &[])?;

    let (event_a, event_b) = (
        json!({"call": "a", "sleep_ms": 2000}),
        json!({"call": "b", "sleep_ms": 2000}),
    );
    let (a, b) = tokio::join!(function.invoke(&event_a), function.invoke(&event_b));
    let (a, b) = (a?.into_success()?, b?.into_success()?);

    assert_eq!(a["echo"]["call"], "a");
    assert_eq!(b["echo"]["call"], "b");
    let pids: HashSet<_> = [a["pid"].clone(), b["pid"].clone()].into_iter().collect();
    assert_eq!(
        pids.len(),
        2,
        "each process served one of the overlapping calls: {a} {b}"
    );
    Ok(())
}

#[tokio::test]
async fn lambda_runtime_api_refuses_a_name_that_is_not_a_workspace_binary() -> anyhow::Result<()> {
    let api = LambdaRuntimeApi::shared().await?;
    let err = api
        .invoke("no-such-function", &json!({}))
        .await
        .expect_err("an unknown function name");
    assert!(format!("{err:#}").contains("Missing function"), "{err:#}");
    Ok(())
}

#[tokio::test]
async fn a_function_name_stays_reserved_until_its_holder_and_processes_are_gone()
-> anyhow::Result<()> {
    let api = LambdaRuntimeApi::shared().await?;
    let first = api.reserve(ECHO).await?;
    let process = first.spawn(echo_bootstrap(), &[])?;
    let brief = Duration::from_millis(300);

    assert!(
        tokio::time::timeout(brief, api.reserve(ECHO))
            .await
            .is_err(),
        "a second test got the name while the first held it"
    );
    drop(first);
    assert!(
        tokio::time::timeout(brief, api.reserve(ECHO))
            .await
            .is_err(),
        "a second test got the name while a process of the first still served it"
    );
    drop(process);
    // Another test of this binary may take the name first: wait for it.
    let second = tokio::time::timeout(Duration::from_secs(60), api.reserve(ECHO)).await??;
    let _process = second.spawn(echo_bootstrap(), &[])?;
    let event = json!({"call": "after the first test"});
    let response = second.invoke(&event).await?.into_success()?;
    assert_eq!(response["echo"], event);
    Ok(())
}

/// Each test runs on a runtime of its own, which is idle or gone while other
/// tests call the shared Runtime API: a call must not depend on a runtime
/// that an earlier call ran on.
#[test]
fn the_shared_runtime_api_serves_tests_on_different_runtimes() -> anyhow::Result<()> {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let (first, second) = (runtime()?, runtime()?);
    let function =
        first.block_on(async { LambdaRuntimeApi::shared().await?.reserve(ECHO).await })?;
    let _process = function.spawn(echo_bootstrap(), &[])?;
    for (runtime, call) in [(&first, "first"), (&second, "second")] {
        let event = json!({"call": call});
        let outcome = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), function.invoke(&event)).await
        });
        let response = outcome
            .map_err(|_| anyhow::anyhow!("{call}: no answer within 10 s"))??
            .into_success()?;
        assert_eq!(response["echo"], event, "{call}");
    }
    Ok(())
}
