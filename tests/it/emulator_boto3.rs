//! The emulator's contract with a second client that nobody here wrote:
//! `tests/contract/boto3_contract.py`, run with the tools' boto3 against an
//! emulator of this process. botocore parses every response against the
//! service model and reads errors its own way, so what the Rust SDK forgives
//! (see `emulator_contract`) boto3 catches, and the other way round.

use std::process::Command;

use integration_tests::emulator::{Emulator, TRANSITION};
use integration_tests::services::{python, workspace_root};

#[tokio::test(flavor = "multi_thread")]
async fn boto3_passes_the_same_contract() {
    let emulator = Emulator::start().await.expect("emulator starts");
    let script = workspace_root().join("tests/contract/boto3_contract.py");
    let source = std::fs::read_to_string(&script).expect("the boto3 contract is readable");
    let expected = source.matches("\n    def test_").count();
    assert!(
        expected >= 10,
        "{} holds {expected} tests",
        script.display()
    );

    let mut command = Command::new(python().expect("the tools' Python"));
    command
        .arg(&script)
        .arg("-v")
        .env("EMULATOR_URL", emulator.url())
        .env(
            "EMULATOR_TRANSITION_SECONDS",
            TRANSITION.as_secs().to_string(),
        );
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("the contract run ends")
        .expect("python starts");
    let report = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "boto3 contract failed:\n{report}");
    // unittest's summary: every test of the file ran, none was skipped.
    assert!(
        report.contains(&format!("Ran {expected} tests")) && report.trim_end().ends_with("OK"),
        "expected {expected} tests to run and pass:\n{report}"
    );
}
