//! The `healthlake-monitor` command as a person runs it.

use healthlake_emulator::{EmulatorConfig, RunningEmulator};
use integration_tests::fixtures::{
    create_snapshot_table, create_topic, receive_envelopes, subscribe_queue, unique,
};
use integration_tests::services::{DynamoDbLocal, Moto, Profile, sdk_config, workspace_binary};
use std::process::Output;
use std::time::Duration;

/// Runs the command with only the given AWS settings: no profile, no instance metadata.
async fn run(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = tokio::process::Command::new(
        workspace_binary("healthlake-monitor", Profile::Debug).expect("the command is built"),
    );
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        command.env(k, v);
    }
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the command ends by itself")
        .expect("the command runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn credentials() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

async fn emulator() -> RunningEmulator {
    RunningEmulator::start(
        EmulatorConfig {
            transition_delay: Duration::from_millis(200),
            ..EmulatorConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap()
}

/// Creates a store through the emulator's own protocol and waits until it has settled.
async fn create_store(url: &str, name: &str, outcome: Option<&str>) -> String {
    let config = sdk_config(url, "us-east-1");
    let client = aws_sdk_healthlake::Client::new(&config);
    let mut request = client
        .create_fhir_datastore()
        .datastore_name(name)
        .datastore_type_version(aws_sdk_healthlake::types::FhirVersion::R4);
    if let Some(outcome) = outcome {
        request = request.tags(
            aws_sdk_healthlake::types::Tag::builder()
                .key("emulator:outcome")
                .value(outcome)
                .build()
                .unwrap(),
        );
    }
    let id = request.send().await.unwrap().datastore_id().to_owned();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = client
            .describe_fhir_datastore()
            .datastore_id(&id)
            .send()
            .await
            .unwrap();
        if status
            .datastore_properties()
            .unwrap()
            .datastore_status()
            .as_str()
            != "CREATING"
        {
            return id;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "store {name} never settled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const FAILURE: &str = "CREATE_FAILED:NON_RETRYABLE_ERROR:The KMS key is disabled";

#[tokio::test]
async fn the_demo_shows_one_failure_alert_and_ends_by_itself() {
    let out = run(&["demo", "--transition-delay-ms", "300"], &[]).await;
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        text(&out.stderr)
    );
    let critical: Vec<_> = stdout
        .lines()
        .filter(|l| l.starts_with("Subject: [CRITICAL]"))
        .collect();
    assert_eq!(
        critical,
        vec![
            "Subject: [CRITICAL] HealthLake data store claims-analytics is CREATE_FAILED in us-east-1"
        ]
    );
    assert!(
        stdout.contains("Category:    NON_RETRYABLE_ERROR"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Error:       Unable to access the customer managed KMS key"),
        "{stdout}"
    );
    assert!(
        stdout.contains("research-sandbox (") && stdout.contains("DELETING -> DELETED"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("Subject: [INFO] HealthLake data store claims-analytics left CREATE_FAILED")
    );
}

#[tokio::test]
async fn scan_prints_the_table_and_alerts_once_then_nothing() {
    let emulator = emulator().await;
    create_store(&emulator.url(), "patients", None).await;
    let failed = create_store(&emulator.url(), "claims", Some(FAILURE)).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let state_arg = state.to_str().unwrap();
    let mut env = credentials();
    env.push(("AWS_ENDPOINT_URL_HEALTHLAKE", emulator.url()));
    let args = [
        "scan",
        "--account",
        "123456789012",
        "--state-file",
        state_arg,
    ];

    let first = run(&args, &env).await;
    let stdout = text(&first.stdout);
    assert!(first.status.success(), "{stdout}\n{}", text(&first.stderr));
    assert!(
        stdout.contains("2 data store(s) in account 123456789012 region us-east-1"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("claims                   {failed} CREATE_FAILED  NON_RETRYABLE_ERROR: The KMS key is disabled")), "{stdout}");
    assert!(stdout.contains(
        "Subject: [CRITICAL] HealthLake data store claims is CREATE_FAILED in us-east-1"
    ));
    assert!(state.exists());

    let second = run(&args, &env).await;
    let stdout = text(&second.stdout);
    assert!(second.status.success());
    assert!(
        stdout.contains("no changes") && stdout.contains("Alerts sent: none"),
        "{stdout}"
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let json = run(&json_args, &env).await;
    let value: serde_json::Value =
        serde_json::from_slice(&json.stdout).expect("--json prints JSON");
    assert_eq!(
        value["scopes"][0]["datastores"].as_array().unwrap().len(),
        2
    );
    assert_eq!(value["problems"], serde_json::json!([]));
}

#[tokio::test]
async fn a_corrupt_state_file_is_reported_and_kept() {
    let emulator = emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, b"{ not json").unwrap();
    let mut env = credentials();
    env.push(("AWS_ENDPOINT_URL_HEALTHLAKE", emulator.url()));
    let out = run(
        &[
            "scan",
            "--account",
            "123456789012",
            "--state-file",
            state.to_str().unwrap(),
        ],
        &env,
    )
    .await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("corrupt snapshot") && stderr.contains(state.to_str().unwrap()),
        "{stderr}"
    );
    assert_eq!(std::fs::read(&state).unwrap(), b"{ not json");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_one_clear_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut env = credentials();
    env.push(("AWS_ENDPOINT_URL_HEALTHLAKE", format!("http://{closed}")));
    let out = run(
        &[
            "scan",
            "--account",
            "123456789012",
            "--state-file",
            dir.path().join("s.json").to_str().unwrap(),
        ],
        &env,
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("listing data stores in 123456789012/us-east-1 failed (Unreachable)")
            && stderr.contains("Unreachable"),
        "{stderr}"
    );
}

#[tokio::test]
async fn missing_credentials_are_one_clear_line() {
    let out = run(
        &["scan", "--region", "us-east-1", "--account", "123456789012"],
        &[],
    )
    .await;
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no AWS credentials"), "{stderr}");
}

#[tokio::test]
async fn bad_input_names_what_was_wrong() {
    let out = run(
        &["scan", "--region", "Mars-1", "--account", "123456789012"],
        &credentials(),
    )
    .await;
    assert!(
        text(&out.stderr).contains("invalid region \"Mars-1\""),
        "{}",
        text(&out.stderr)
    );
    let out = run(&["scan", "--account", "42"], &credentials()).await;
    assert!(
        text(&out.stderr).contains("invalid account id \"42\""),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &[
            "scan",
            "--critical-statuses",
            "CREATE_FAILD",
            "--account",
            "123456789012",
        ],
        &credentials(),
    )
    .await;
    assert!(
        text(&out.stderr).contains("unknown status \"CREATE_FAILD\""),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn scan_with_a_table_and_a_topic_uses_dynamodb_and_sns() {
    let (emulator, db, moto) = (
        emulator().await,
        DynamoDbLocal::start().await.unwrap(),
        Moto::start().await.unwrap(),
    );
    create_store(&emulator.url(), "claims", Some(FAILURE)).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config(&db.endpoint(), "us-east-1"));
    let table = unique("snapshot");
    create_snapshot_table(&dynamodb, &table).await.unwrap();
    let aws = sdk_config(&moto.endpoint(), "us-east-1");
    let (sns, sqs) = (
        aws_sdk_sns::Client::new(&aws),
        aws_sdk_sqs::Client::new(&aws),
    );
    let topic_arn = create_topic(&sns).await.unwrap();
    let queue = subscribe_queue(&sns, &sqs, &topic_arn, None).await.unwrap();

    let mut env = credentials();
    env.extend([
        ("AWS_ENDPOINT_URL_HEALTHLAKE", emulator.url()),
        ("AWS_ENDPOINT_URL_DYNAMODB", db.endpoint()),
        ("AWS_ENDPOINT_URL_SNS", moto.endpoint()),
    ]);
    let args = [
        "scan",
        "--account",
        "123456789012",
        "--table",
        &table,
        "--topic-arn",
        &topic_arn,
    ];
    for _ in 0..2 {
        let out = run(&args, &env).await;
        assert!(
            out.status.success(),
            "{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
    let envelopes = receive_envelopes(&sqs, &queue, 2, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(envelopes.len(), 1, "one alert over two scans");
    assert!(
        envelopes[0]["Subject"]
            .as_str()
            .unwrap()
            .contains("claims is CREATE_FAILED")
    );
    let items = dynamodb.scan().table_name(&table).send().await.unwrap();
    assert_eq!(items.count(), 1);
}
