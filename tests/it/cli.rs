//! The `healthlake-monitor` command as a person runs it.

use integration_tests::emulator::{Emulator, TRANSITION};
use integration_tests::fixtures::{
    create_snapshot_table, create_topic, receive_envelopes, subscribe_queue, unique,
};
use integration_tests::services::{DynamoDbLocal, Moto, sdk_config, workspace_binary};
use std::process::Output;
use std::time::Duration;

/// Runs the command with only the given AWS settings: no profile, no instance metadata.
async fn run(args: &[&str], env: &[(&str, String)]) -> Output {
    tokio::time::timeout(Duration::from_secs(120), command(args, env).output())
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

/// Creates a store in us-east-1 and lets its creation finish: a store with an
/// `outcome` (always [`FAILURE`] here) ends CREATE_FAILED, the others ACTIVE.
async fn create_store(emulator: &Emulator, name: &str, outcome: Option<&str>) -> String {
    let id = emulator
        .create_store("us-east-1", name, outcome)
        .await
        .unwrap();
    let settled = if outcome.is_some() {
        "CREATE_FAILED"
    } else {
        "ACTIVE"
    };
    emulator
        .settle(&emulator.client("us-east-1"), &id, settled)
        .await
        .unwrap();
    id
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
    let emulator = Emulator::start().await.unwrap();
    create_store(&emulator, "patients", None).await;
    let failed = create_store(&emulator, "claims", Some(FAILURE)).await;
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
    let emulator = Emulator::start().await.unwrap();
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
        Emulator::start().await.unwrap(),
        DynamoDbLocal::shared().await.unwrap(),
        Moto::shared().await.unwrap(),
    );
    create_store(&emulator, "claims", Some(FAILURE)).await;
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

/// The command with only the given AWS settings: no profile, no instance metadata.
fn command(args: &[&str], env: &[(&str, String)]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(
        workspace_binary("healthlake-monitor").expect("the command is built"),
    );
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    command
}

/// Runs the command with its standard output closed before it writes anything,
/// as `scan | head -0` or a consumer that went away would leave it.
async fn run_with_stdout_closed(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut child = command(args, env).spawn().expect("the command runs");
    drop(child.stdout.take());
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the command ends by itself")
        .expect("the command runs")
}

/// Every item of a table, in key order, as DynamoDB returns them.
async fn items(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    let mut items = dynamodb
        .scan()
        .table_name(table)
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items()
        .to_vec();
    items.sort_by_key(|item| format!("{:?}{:?}", item.get("pk"), item.get("sk")));
    items
}

/// The email subject of the critical alert for a store that failed in us-east-1.
fn failed_subject(name: &str) -> String {
    format!("Subject: [CRITICAL] HealthLake data store {name} is CREATE_FAILED in us-east-1")
}

/// The names of the files in a folder, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_table_without_a_topic_is_refused_and_nothing_is_written() {
    let (emulator, db) = (
        Emulator::start().await.unwrap(),
        DynamoDbLocal::shared().await.unwrap(),
    );
    create_store(&emulator, "claims", Some(FAILURE)).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config(&db.endpoint(), "us-east-1"));
    let table = unique("snapshot");
    create_snapshot_table(&dynamodb, &table).await.unwrap();
    let mut env = credentials();
    env.extend([
        ("AWS_ENDPOINT_URL_HEALTHLAKE", emulator.url()),
        ("AWS_ENDPOINT_URL_DYNAMODB", db.endpoint()),
    ]);

    let out = run(
        &["scan", "--account", "123456789012", "--table", &table],
        &env,
    )
    .await;
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stderr}\n{}",
        text(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--topic-arn") && stderr.contains("--dry-run"),
        "the refusal names what to use instead: {stderr}"
    );
    assert!(!text(&out.stdout).contains("Subject:"), "no alert printed");
    assert!(items(&dynamodb, &table).await.is_empty(), "nothing written");
}

#[tokio::test]
async fn a_dry_run_on_a_state_file_shows_what_would_be_sent_and_writes_nothing() {
    let emulator = Emulator::start().await.unwrap();
    create_store(&emulator, "patients", None).await;
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
    let mut dry = args.to_vec();
    dry.push("--dry-run");

    // On no state file at all, a dry run creates none.
    let out = run(&dry, &env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("+ patients ("),
        "{}",
        text(&out.stdout)
    );
    assert!(listing(dir.path()).is_empty(), "{:?}", listing(dir.path()));

    let first = run(&args, &env).await;
    assert!(first.status.success(), "{}", text(&first.stderr));
    create_store(&emulator, "claims", Some(FAILURE)).await;
    let before = std::fs::read(&state).unwrap();
    let files = listing(dir.path());

    for json in [false, true] {
        let mut dry = dry.clone();
        if json {
            dry.push("--json");
        }
        let out = run(&dry, &env).await;
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
        if json {
            let value: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("--json prints JSON");
            assert_eq!(value["dry_run"], true);
            assert_eq!(value["alerts"], serde_json::json!([]), "nothing sent");
            let would = value["scopes"][0]["would_send"].as_array().unwrap();
            assert_eq!(would.len(), 1, "{value}");
            assert_eq!(would[0]["datastore_name"], "claims", "{value}");
        } else {
            assert!(stdout.contains("+ claims ("), "{stdout}");
            assert!(stdout.contains("Dry run"), "{stdout}");
            assert!(stdout.contains(&failed_subject("claims")), "{stdout}");
        }
        assert_eq!(
            std::fs::read(&state).unwrap(),
            before,
            "state file unchanged"
        );
        assert_eq!(listing(dir.path()), files, "no file created");
    }

    // The dry run consumed nothing: the real scan sends the alert.
    let real = run(&args, &env).await;
    assert!(text(&real.stdout).contains(&failed_subject("claims")));
}

#[tokio::test]
async fn a_dry_run_on_a_table_shows_pending_and_new_alerts_and_changes_nothing() {
    let (emulator, db, moto) = (
        Emulator::start().await.unwrap(),
        DynamoDbLocal::shared().await.unwrap(),
        Moto::shared().await.unwrap(),
    );
    create_store(&emulator, "claims", Some(FAILURE)).await;
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
    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", "--account", "123456789012", "--table", &table];
        args.extend_from_slice(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };

    // A topic that does not exist leaves the alert of "claims" pending in the table.
    let missing = "arn:aws:sns:us-east-1:123456789012:does-not-exist";
    let out = run(
        &scan(&["--topic-arn", missing])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    create_store(&emulator, "billing", Some(FAILURE)).await;
    let before = items(&dynamodb, &table).await;
    assert_eq!(before.len(), 1);

    for extra in [
        &["--dry-run"][..],
        &["--dry-run", "--topic-arn", &topic_arn],
    ] {
        let args = scan(extra);
        let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>(), &env).await;
        let stdout = text(&out.stdout);
        assert!(
            out.status.success(),
            "{extra:?}\n{stdout}\n{}",
            text(&out.stderr)
        );
        assert!(stdout.contains("+ billing ("), "{stdout}");
        assert!(
            stdout.contains(&failed_subject("claims")),
            "pending: {stdout}"
        );
        assert!(stdout.contains(&failed_subject("billing")), "new: {stdout}");
        assert_eq!(
            items(&dynamodb, &table).await,
            before,
            "{extra:?}: table unchanged"
        );
    }
    let published = receive_envelopes(&sqs, &queue, 1, Duration::from_secs(3))
        .await
        .unwrap();
    assert!(
        published.is_empty(),
        "a dry run publishes nothing: {published:?}"
    );

    // Both alerts are still owed: the real scan publishes them.
    let args = scan(&["--topic-arn", &topic_arn]);
    let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>(), &env).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let published = receive_envelopes(&sqs, &queue, 2, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(published.len(), 2, "{published:?}");
}

#[tokio::test]
async fn overlapping_scans_on_one_state_file_print_each_alert_once() {
    const STORES: usize = 16;
    let emulator = Emulator::start().await.unwrap();
    let url = emulator.url();
    let names: Vec<String> = (0..STORES).map(|i| format!("failed-{i:02}")).collect();
    futures::future::try_join_all(
        names
            .iter()
            .map(|name| emulator.create_store("us-east-1", name, Some(FAILURE))),
    )
    .await
    .unwrap();
    emulator.advance(TRANSITION).await.unwrap();
    // Both scans wait as long for their listing, then write at the same time.
    emulator
        .admin_post("faults", serde_json::json!({"LatencyMs": 1500}))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut env = credentials();
    env.push(("AWS_ENDPOINT_URL_HEALTHLAKE", url.clone()));
    let args = [
        "scan",
        "--account",
        "123456789012",
        "--state-file",
        state.to_str().unwrap(),
    ];

    let (a, b) = tokio::join!(run(&args, &env), run(&args, &env));
    emulator
        .admin_post("faults", serde_json::json!({"LatencyMs": 0}))
        .await
        .unwrap();
    let third = run(&args, &env).await;
    let outputs = [&a, &b, &third];
    for name in &names {
        let subject = failed_subject(name);
        let printed: usize = outputs
            .iter()
            .map(|o| text(&o.stdout).lines().filter(|l| *l == subject).count())
            .sum();
        assert_eq!(printed, 1, "{name} printed {printed} times");
    }
    for out in outputs {
        assert!(
            out.status.success(),
            "{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

#[tokio::test]
async fn an_alert_not_written_to_stdout_stays_pending_and_the_next_scan_prints_it() {
    let emulator = Emulator::start().await.unwrap();
    create_store(&emulator, "claims", Some(FAILURE)).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut env = credentials();
    env.push(("AWS_ENDPOINT_URL_HEALTHLAKE", emulator.url()));
    let args = [
        "scan",
        "--account",
        "123456789012",
        "--state-file",
        state.to_str().unwrap(),
    ];

    let closed = run_with_stdout_closed(&args, &env).await;
    let stderr = text(&closed.stderr);
    assert_eq!(closed.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("standard output"), "{stderr}");

    let next = run(&args, &env).await;
    let stdout = text(&next.stdout);
    assert!(next.status.success(), "{stdout}\n{}", text(&next.stderr));
    assert!(stdout.contains(&failed_subject("claims")), "{stdout}");
    let after = run(&args, &env).await;
    assert!(text(&after.stdout).contains("Alerts sent: none"));
}

#[tokio::test]
async fn the_scan_ends_at_its_deadline_and_a_pending_alert_stays_pending() {
    let emulator = Emulator::start().await.unwrap();
    create_store(&emulator, "claims", Some(FAILURE)).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut env = credentials();
    env.push(("AWS_ENDPOINT_URL_HEALTHLAKE", emulator.url()));
    let args = [
        "scan",
        "--account",
        "123456789012",
        "--state-file",
        state.to_str().unwrap(),
    ];
    // The alert is owed: its scan could not print it.
    let closed = run_with_stdout_closed(&args, &env).await;
    assert_eq!(closed.status.code(), Some(1), "{}", text(&closed.stderr));
    let before = std::fs::read(&state).unwrap();

    emulator
        .admin_post("faults", serde_json::json!({"LatencyMs": 3000}))
        .await
        .unwrap();
    let mut slow = args.to_vec();
    slow.extend(["--timeout", "1"]);
    let out = run(&slow, &env).await;
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stderr}\n{}",
        text(&out.stdout)
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("deadline") && stderr.contains("1 s") && stderr.contains("--timeout"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        before,
        "nothing half-written"
    );

    emulator
        .admin_post("faults", serde_json::json!({"LatencyMs": 0}))
        .await
        .unwrap();
    let next = run(&args, &env).await;
    assert!(next.status.success(), "{}", text(&next.stderr));
    assert!(text(&next.stdout).contains(&failed_subject("claims")));

    let out = run(
        &["scan", "--timeout", "0", "--account", "123456789012"],
        &env,
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--timeout"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test]
async fn names_and_error_messages_are_printed_with_visible_escapes() {
    let emulator = Emulator::start().await.unwrap();
    // HealthLake's name pattern refuses control characters, so the store is
    // made through the emulator's admin route, which takes any name: what
    // the service lets through today it may not tomorrow, and the command
    // must show it safely either way.
    let name = "evil\u{1b}[2J\u{202e}name";
    let id = emulator
        .create_store_in("123456789012", "us-east-1", name, None)
        .await
        .unwrap();
    emulator.advance(TRANSITION).await.unwrap();
    emulator
        .force_status(
            &id,
            "CREATE_FAILED",
            Some((
                "NON_RETRYABLE_ERROR",
                "key gone\u{1b}]8;;http://x\u{7}\r\nSubject: [INFO] all fine\u{2066}",
            )),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut env = credentials();
    env.push(("AWS_ENDPOINT_URL_HEALTHLAKE", emulator.url()));
    let out = run(
        &[
            "scan",
            "--account",
            "123456789012",
            "--state-file",
            dir.path().join("state.json").to_str().unwrap(),
        ],
        &env,
    )
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let raw: Vec<char> = stdout
        .chars()
        .filter(|c| {
            (c.is_control() && *c != '\n') || matches!(c, '\u{200e}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    assert!(
        raw.is_empty(),
        "raw control or bidi characters {raw:?} in:\n{stdout}"
    );
    assert!(stdout.contains("evil\\u{1b}[2J\\u{202e}name"), "{stdout}");
    assert!(
        stdout.contains("key gone\\u{1b}]8;;http://x\\u{7}\\u{d}\\u{a}"),
        "{stdout}"
    );
    assert!(
        !stdout.lines().any(|l| l.starts_with("Subject: [INFO]")),
        "a message cannot forge a line: {stdout}"
    );
}

#[tokio::test]
async fn a_claim_left_by_a_stopped_scan_is_taken_over_by_the_next_one() {
    let emulator = Emulator::start().await.unwrap();
    create_store(&emulator, "claims", Some(FAILURE)).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut env = credentials();
    env.push(("AWS_ENDPOINT_URL_HEALTHLAKE", emulator.url()));
    let args = [
        "scan",
        "--account",
        "123456789012",
        "--state-file",
        state.to_str().unwrap(),
    ];
    let closed = run_with_stdout_closed(&args, &env).await;
    assert_eq!(closed.status.code(), Some(1), "{}", text(&closed.stderr));
    // As a scan killed between printing the alert and marking it sent leaves
    // the file: the alert pending under that scan's fresh claim.
    let mut contents: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let mut claimed = 0;
    for scope in contents["scopes"].as_object_mut().unwrap().values_mut() {
        for record in scope["records"].as_object_mut().unwrap().values_mut() {
            if !record["pending"].as_array().unwrap().is_empty() {
                record["claim"] = serde_json::json!({
                    "owner": "cli-killed",
                    "at": chrono::Utc::now().to_rfc3339(),
                });
                claimed += 1;
            }
        }
    }
    assert_eq!(claimed, 1, "{contents}");
    std::fs::write(&state, serde_json::to_vec_pretty(&contents).unwrap()).unwrap();

    let next = run(&args, &env).await;
    let stdout = text(&next.stdout);
    assert!(next.status.success(), "{stdout}\n{}", text(&next.stderr));
    assert!(stdout.contains(&failed_subject("claims")), "{stdout}");
}

#[tokio::test]
async fn scan_reads_each_role_arns_account_and_names_the_one_denied() {
    let emulator = Emulator::start().await.unwrap();
    let role = |account: &str| format!("arn:aws:iam::{account}:role/HealthLakeMonitorReadOnly");
    let failed = emulator
        .create_store_in("111111111111", "us-east-1", "claims", Some(FAILURE))
        .await
        .unwrap();
    emulator
        .create_store_in("222222222222", "us-east-1", "billing", None)
        .await
        .unwrap();
    emulator
        .create_store_in("333333333333", "us-east-1", "hidden", None)
        .await
        .unwrap();
    emulator.advance(TRANSITION).await.unwrap();
    emulator.deny_role(&role("333333333333")).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut env = credentials();
    env.push(("AWS_ENDPOINT_URL_HEALTHLAKE", emulator.url()));
    env.push(("AWS_ENDPOINT_URL_STS", emulator.url()));
    let (a, b, c) = (
        role("111111111111"),
        role("222222222222"),
        role("333333333333"),
    );
    let args = [
        "scan",
        "--account",
        "123456789012",
        "--state-file",
        state.to_str().unwrap(),
        "--role-arn",
        &a,
        "--role-arn",
        &b,
        "--role-arn",
        &c,
        "--external-id",
        "healthlake-monitor-cli",
    ];
    let out = run(&args, &env).await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "a denied account is a problem");
    assert!(
        stdout.contains("1 data store(s) in account 111111111111 region us-east-1")
            && stdout.contains("1 data store(s) in account 222222222222 region us-east-1"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("hidden") && !stdout.contains("123456789012 region"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("claims                   {failed} CREATE_FAILED")),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!(
            "account 333333333333: role {c} could not be assumed"
        )) && stderr.contains("AccessDenied"),
        "{stderr}"
    );

    let out = run(
        &[
            "scan",
            "--account",
            "123456789012",
            "--role-arn",
            "arn:aws:iam::1:role/x",
        ],
        &credentials(),
    )
    .await;
    assert!(
        text(&out.stderr).contains("--role-arn: invalid role ARN \"arn:aws:iam::1:role/x\""),
        "{}",
        text(&out.stderr)
    );
}
