//! The SNS publisher against moto's SNS and SQS: what an SQS subscriber gets.

use chrono::Utc;
use integration_tests::fixtures::{create_topic, receive_envelopes, subscribe_queue};
use integration_tests::services::{Moto, sdk_config};
use monitor_core::document::AlertDocumentV1;
use monitor_core::domain::{
    Alert, AlertPolicy, DatastoreStatus, ErrorCategory, ErrorCause, Transition,
};
use monitor_core::fixtures::{observation, scope};
use monitor_core::ports::AlertPublisher;
use monitor_core::render;
use monitor_sns::SnsPublisher;
use serde_json::Value;
use std::time::Duration;

fn alert(n: u32, from: DatastoreStatus, to: DatastoreStatus, cause: Option<ErrorCause>) -> Alert {
    let mut current = observation(&n.to_string(), to);
    current.error_cause = cause;
    let t = Transition::Changed {
        previous: observation(&n.to_string(), from),
        current,
    };
    let decision = AlertPolicy::default().classify(&t).expect("an alert");
    Alert::new(&scope(), &t, decision, 2, Utc::now())
}

fn attribute<'a>(envelope: &'a Value, name: &str) -> &'a str {
    envelope["MessageAttributes"][name]["Value"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test]
async fn subscribers_get_the_document_subject_and_filterable_attributes() {
    let moto = Moto::shared().await.unwrap();
    let config = sdk_config(&moto.endpoint(), "us-east-1");
    let (sns, sqs) = (
        aws_sdk_sns::Client::new(&config),
        aws_sdk_sqs::Client::new(&config),
    );
    let topic_arn = &create_topic(&sns).await.unwrap();
    let everything = subscribe_queue(&sns, &sqs, topic_arn, None).await.unwrap();
    let critical_only =
        subscribe_queue(&sns, &sqs, topic_arn, Some(r#"{"severity": ["critical"]}"#))
            .await
            .unwrap();

    let message = "Unable to access the customer managed KMS key: kms:CreateGrant denied";
    let failure = alert(
        1,
        DatastoreStatus::Creating,
        DatastoreStatus::CreateFailed,
        Some(ErrorCause {
            message: message.into(),
            category: ErrorCategory::NonRetryable,
        }),
    );
    let recovery = alert(
        2,
        DatastoreStatus::CreateFailed,
        DatastoreStatus::Deleting,
        None,
    );
    let publisher = SnsPublisher::new(sns.clone(), topic_arn);
    publisher.publish(&failure).await.unwrap();
    publisher.publish(&recovery).await.unwrap();

    let all = receive_envelopes(&sqs, &everything, 2, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let envelope = all
        .iter()
        .find(|e| attribute(e, "severity") == "critical")
        .expect("the critical alert");
    let subject = envelope["Subject"].as_str().unwrap();
    assert_eq!(subject, render::subject(&failure));
    assert!(subject.chars().count() < 100);
    let document: AlertDocumentV1 =
        serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(document.schema, "healthlake-monitor/alert/v1");
    assert_eq!(document.subject, subject);
    let delivered = Alert::try_from(document).unwrap();
    assert_eq!(delivered, failure);
    assert_eq!(delivered.error_cause.unwrap().message, message);
    assert_eq!(attribute(envelope, "status"), "CREATE_FAILED");
    assert_eq!(attribute(envelope, "error_category"), "NON_RETRYABLE_ERROR");
    assert_eq!(attribute(envelope, "region"), "us-east-1");
    assert_eq!(attribute(envelope, "account"), "123456789012");

    let filtered = receive_envelopes(&sqs, &critical_only, 2, Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(
        filtered.len(),
        1,
        "the filter policy lets only the critical alert through"
    );
    assert_eq!(attribute(&filtered[0], "severity"), "critical");
}

#[tokio::test]
async fn a_missing_topic_is_an_error_naming_the_alert() {
    let moto = Moto::shared().await.unwrap();
    let sns = aws_sdk_sns::Client::new(&sdk_config(&moto.endpoint(), "us-east-1"));
    let publisher = SnsPublisher::new(sns, "arn:aws:sns:us-east-1:123456789012:does-not-exist");
    let failure = alert(
        1,
        DatastoreStatus::Creating,
        DatastoreStatus::CreateFailed,
        None,
    );
    let err = publisher.publish(&failure).await.unwrap_err();
    assert_eq!(err.alert_id, failure.id);
    assert!(err.message.contains("NotFound"), "{}", err.message);
}
