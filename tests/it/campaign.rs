//! The randomized fault campaign (see `integration_tests::campaign`) on fixed
//! seeds, and the fault proxy it puts in front of DynamoDB and SNS.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use integration_tests::campaign::{self, Config};
use integration_tests::fault_proxy::{FaultKind, FaultProxy, Rates};
use integration_tests::fixtures::unique;
use integration_tests::services::{Moto, sdk_config};
use std::time::Duration;

/// Seeds every `cargo test` runs, with the ticks each needs: the CI seed, then
/// each seed a longer campaign found breaking an invariant (add it here with
/// the ticks it took, so that it stays a regular test).
const SEEDS: &[(u64, u64)] = &[(20_261_126, 120)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_campaign_keeps_every_alert() {
    for &(seed, ticks) in SEEDS {
        let config = Config {
            seed,
            ticks,
            phases: None,
        };
        let report = campaign::run(&config).await.expect("the campaign runs");
        println!("{report}");
        assert!(report.passed(), "{report}");
        let summary = &report.summary;
        assert!(summary.ticks >= ticks);
        assert!(
            summary.alerts.expected > 0
                && summary.alerts.delivered + summary.alerts.undeliverable
                    == summary.alerts.expected,
            "{report}"
        );
    }
}

/// SNS (awsQuery, XML) and DynamoDB (awsJson) clients through the proxy to
/// moto, one attempt each, with a short attempt timeout.
fn clients(endpoint: &str) -> (aws_sdk_sns::Client, aws_sdk_dynamodb::Client) {
    let config = sdk_config(endpoint, "us-east-1")
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(300))
                .build(),
        )
        .build();
    (
        aws_sdk_sns::Client::new(&config),
        aws_sdk_dynamodb::Client::new(&config),
    )
}

/// Which of `names` are topics in moto, which other tests share.
async fn existing(sns: &aws_sdk_sns::Client, names: &[&str]) -> Vec<String> {
    let mut arns = Vec::new();
    let mut next = None;
    loop {
        let page = sns
            .list_topics()
            .set_next_token(next.take())
            .send()
            .await
            .unwrap();
        arns.extend(
            page.topics()
                .iter()
                .filter_map(|t| t.topic_arn().map(str::to_owned)),
        );
        match page.next_token() {
            Some(token) => next = Some(token.to_owned()),
            None => break,
        }
    }
    names
        .iter()
        .filter(|name| arns.iter().any(|arn| arn.ends_with(&format!(":{name}"))))
        .map(|name| (*name).to_owned())
        .collect()
}

fn only(kind: FaultKind) -> Rates {
    Rates([(kind, 1.0)].into_iter().collect())
}

#[tokio::test]
async fn the_fault_proxy_answers_as_the_service_would_and_counts_what_it_injected() {
    use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
    let moto = Moto::shared().await.unwrap();
    let name = |what: &str| unique(&format!("proxy-{what}"));
    let (throttled, internal, hung, reset, lost, forwarded) = (
        name("throttled"),
        name("internal"),
        name("hung"),
        name("reset"),
        name("lost"),
        name("forwarded"),
    );
    let proxy = FaultProxy::start(&moto.endpoint(), 1, Duration::from_millis(600))
        .await
        .unwrap();
    let (sns, dynamodb) = clients(&proxy.endpoint());
    let direct = aws_sdk_sns::Client::new(&sdk_config(&moto.endpoint(), "us-east-1"));

    proxy.set_rates(only(FaultKind::Throttle));
    let err = sns
        .create_topic()
        .name(&throttled)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("Throttled"), "{err:?}");
    let err = dynamodb.list_tables().send().await.unwrap_err();
    assert_eq!(err.code(), Some("ThrottlingException"), "{err:?}");

    proxy.set_rates(only(FaultKind::CapacityExceeded));
    let err = dynamodb.list_tables().send().await.unwrap_err();
    assert_eq!(err.code(), Some("ProvisionedThroughputExceededException"));

    proxy.set_rates(only(FaultKind::InternalError));
    let err = sns.create_topic().name(&internal).send().await.unwrap_err();
    assert_eq!(err.code(), Some("InternalError"), "{err:?}");
    let err = dynamodb.list_tables().send().await.unwrap_err();
    assert_eq!(err.code(), Some("InternalServerError"), "{err:?}");

    proxy.set_rates(only(FaultKind::Timeout));
    let err = sns.create_topic().name(&hung).send().await.unwrap_err();
    assert!(
        matches!(err, aws_sdk_sns::error::SdkError::TimeoutError(_)),
        "{err:?}"
    );

    proxy.set_rates(only(FaultKind::Reset));
    let err = sns.create_topic().name(&reset).send().await.unwrap_err();
    assert!(err.code().is_none(), "a reset has no error code: {err:?}");
    assert!(proxy.wait_idle(Duration::from_secs(5)).await);
    let all = [
        throttled.as_str(),
        internal.as_str(),
        hung.as_str(),
        reset.as_str(),
        lost.as_str(),
        forwarded.as_str(),
    ];
    assert_eq!(
        existing(&direct, &all).await,
        Vec::<String>::new(),
        "no faulted request reached the service"
    );

    proxy.set_rates(only(FaultKind::LostResponse));
    sns.create_topic().name(&lost).send().await.unwrap_err();
    assert_eq!(
        existing(&direct, &all).await,
        vec![lost.clone()],
        "a lost answer's request was served"
    );
    let lost_bodies = proxy.take_lost_responses();
    assert_eq!(lost_bodies.len(), 1);
    assert!(String::from_utf8_lossy(&lost_bodies[0]).contains(&format!("Name={lost}")));

    proxy.set_rates(Rates::none());
    sns.create_topic().name(&forwarded).send().await.unwrap();
    assert_eq!(
        existing(&direct, &all).await,
        vec![lost.clone(), forwarded.clone()]
    );

    let injected = proxy.injected();
    assert_eq!(injected[&FaultKind::Throttle], 2);
    assert_eq!(injected[&FaultKind::CapacityExceeded], 1);
    assert_eq!(injected[&FaultKind::InternalError], 2);
    assert_eq!(injected[&FaultKind::Timeout], 1);
    assert_eq!(injected[&FaultKind::Reset], 1);
    assert_eq!(injected[&FaultKind::LostResponse], 1);
    assert_eq!(proxy.forwarded(), 1);
}
