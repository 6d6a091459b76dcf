//! Contract of the HealthLake emulator, driven by the official aws-sdk-healthlake
//! and aws-sdk-sts clients and aws-config's AssumeRole provider: what a client
//! sends and what it reads back.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_healthlake::Client;
use aws_sdk_healthlake::config::retry::RetryConfig;
use aws_sdk_healthlake::config::timeout::TimeoutConfig;
use aws_sdk_healthlake::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_healthlake::types::{
    DatastoreFilter, DatastoreProperties, DatastoreStatus, ErrorCategory, FhirVersion, Tag,
};
use chrono::{DateTime, Utc};
use integration_tests::emulator::{
    ACCOUNT, AssumeRoleCalls, OUTCOME_TAG, SESSION_NAME, TRANSITION, role_arn,
};
use serde_json::{Value, json};

/// One emulator per test (its stores, faults, counts and clock are the
/// test's), with an SDK client per region and plain HTTP for the admin routes.
struct Emulator {
    emulator: integration_tests::emulator::Emulator,
    http: reqwest::Client,
}

impl Emulator {
    async fn start() -> Emulator {
        let emulator = integration_tests::emulator::Emulator::start()
            .await
            .expect("emulator starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client");
        Emulator { emulator, http }
    }

    fn url(&self) -> String {
        self.emulator.url()
    }

    /// Moves the clock past the transition delay: store `id` must then show
    /// `status`.
    async fn settle(&self, client: &Client, id: &str, status: &str) -> DatastoreProperties {
        self.emulator
            .settle(client, id, status)
            .await
            .expect("the store settles")
    }

    /// The client as the monitor builds it, with retries off so that every
    /// scripted error reaches the caller.
    fn client(&self, region: &str) -> Client {
        let config = aws_sdk_healthlake::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(self.url())
            .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .build();
        Client::from_conf(config)
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.emulator
            .admin(method, path, body)
            .await
            .expect("admin request")
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.admin(reqwest::Method::POST, path, Some(body)).await
    }

    async fn fault(&self, body: Value) {
        let (status, response) = self.post("faults", body).await;
        assert_eq!(status, 200, "{response}");
    }

    async fn force_status(&self, id: &str, body: Value) -> (u16, Value) {
        self.post(&format!("datastores/{id}/status"), body).await
    }

    async fn calls(&self) -> Value {
        self.admin(reqwest::Method::GET, "calls", None).await.1
    }

    /// A raw awsJson1_0 call, for what the SDK never sends: signed by the
    /// SDK's signer with `key` (access key, secret), or with the
    /// `Authorization` header given, or unsigned.
    async fn raw(
        &self,
        target: Option<&str>,
        auth: Auth<'_>,
        body: &str,
    ) -> (u16, Option<String>, Value) {
        let mut headers = vec![("content-type", "application/x-amz-json-1.0".to_owned())];
        if let Some(target) = target {
            headers.push(("x-amz-target", target.to_owned()));
        }
        let mut request = self.http.post(self.url()).body(body.to_owned());
        match auth {
            Auth::Signed(key, secret) => {
                for (name, value) in sign(&self.url(), &headers, body, key, secret) {
                    request = request.header(name, value);
                }
            }
            Auth::Header(authorization) => request = request.header("authorization", authorization),
            Auth::Unsigned => {}
        }
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.expect("raw request");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response.json().await.expect("raw response is JSON");
        (status, content_type, body)
    }
}

/// How a raw request is signed.
#[derive(Debug, Clone, Copy)]
enum Auth<'a> {
    Signed(&'a str, &'a str),
    Header(&'a str),
    Unsigned,
}

/// The static key the tests sign with.
const TESTING: Auth<'static> = Auth::Signed("testing", "testing");

/// The headers the SDK's SigV4 signer adds to a `POST /` to `url` for
/// HealthLake in us-east-1, signed now.
fn sign(
    url: &str,
    headers: &[(&str, String)],
    body: &str,
    key: &str,
    secret: &str,
) -> Vec<(String, String)> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity = Credentials::new(key, secret, None, None, "raw").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("healthlake")
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing parameters")
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.iter().map(|(name, value)| (*name, value.as_str())),
        SignableBody::Bytes(body.as_bytes()),
    )
    .expect("a signable request");
    let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
    instructions
        .headers()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build().expect("tag")
}

async fn create(client: &Client, name: &str, tags: &[Tag]) -> String {
    let output = client
        .create_fhir_datastore()
        .datastore_name(name)
        .datastore_type_version(FhirVersion::R4)
        .set_tags(Some(tags.to_vec()))
        .send()
        .await
        .expect("create data store");
    output.datastore_id().to_owned()
}

async fn describe_store(client: &Client, id: &str) -> DatastoreProperties {
    client
        .describe_fhir_datastore()
        .datastore_id(id)
        .send()
        .await
        .expect("describe data store")
        .datastore_properties
        .expect("DatastoreProperties")
}

async fn list_all(client: &Client, filter: Option<DatastoreFilter>) -> Vec<DatastoreProperties> {
    let output = client
        .list_fhir_datastores()
        .set_filter(filter)
        .send()
        .await
        .expect("list data stores");
    assert_eq!(
        output.next_token(),
        None,
        "one page holds every store of these tests"
    );
    output.datastore_properties_list().to_vec()
}

fn ids(stores: &[DatastoreProperties]) -> Vec<&str> {
    stores
        .iter()
        .map(DatastoreProperties::datastore_id)
        .collect()
}

#[tokio::test]
async fn a_data_store_goes_from_creating_to_active_then_deleting_to_deleted() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");

    let created = client
        .create_fhir_datastore()
        .datastore_name("patients")
        .datastore_type_version(FhirVersion::R4)
        .send()
        .await
        .expect("create");
    let id = created.datastore_id().to_owned();
    assert_eq!(id.len(), 32);
    assert!(
        id.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{id}"
    );
    let arn = format!("arn:aws:healthlake:us-east-1:{ACCOUNT}:datastore/fhir/{id}");
    let endpoint = format!("https://healthlake.us-east-1.amazonaws.com/datastore/{id}/r4/");
    assert_eq!(created.datastore_arn(), arn);
    assert_eq!(created.datastore_endpoint(), endpoint);
    assert_eq!(created.datastore_status(), &DatastoreStatus::Creating);

    let creating = describe_store(&client, &id).await;
    assert_eq!(creating.datastore_status(), &DatastoreStatus::Creating);
    assert_eq!(creating.datastore_name(), Some("patients"));
    assert_eq!(creating.datastore_arn(), arn);
    assert_eq!(creating.datastore_endpoint(), endpoint);
    assert_eq!(creating.datastore_type_version(), &FhirVersion::R4);
    assert!(creating.sse_configuration().is_some());
    assert!(creating.error_cause().is_none());
    let created_at = creating.created_at().expect("CreatedAt").secs();
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now - 60..=now + 1).contains(&created_at),
        "CreatedAt {created_at}, now {now}"
    );

    let active = emulator.settle(&client, &id, "ACTIVE").await;
    assert_eq!(active.created_at(), creating.created_at());

    let deleted = client
        .delete_fhir_datastore()
        .datastore_id(&id)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.datastore_id(), id);
    assert_eq!(deleted.datastore_arn(), arn);
    assert_eq!(deleted.datastore_endpoint(), endpoint);
    assert_eq!(deleted.datastore_status(), &DatastoreStatus::Deleting);
    assert_eq!(
        describe_store(&client, &id).await.datastore_status(),
        &DatastoreStatus::Deleting
    );

    emulator.settle(&client, &id, "DELETED").await;
    assert_eq!(ids(&list_all(&client, None).await), vec![id.as_str()]);
}

#[tokio::test]
async fn a_client_token_makes_a_retried_create_return_the_same_store() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let mut ids = Vec::new();
    for _ in 0..2 {
        let output = client
            .create_fhir_datastore()
            .datastore_type_version(FhirVersion::R4)
            .client_token("retry-1")
            .send()
            .await
            .expect("create");
        ids.push(output.datastore_id().to_owned());
    }
    assert_eq!(ids[0], ids[1]);
    assert_eq!(list_all(&client, None).await.len(), 1);
}

#[tokio::test]
async fn tags_are_added_listed_and_removed() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let id = create(&client, "tagged", &[tag("team", "data")]).await;
    let arn = describe_store(&client, &id)
        .await
        .datastore_arn()
        .to_owned();

    let listed = |tags: &[Tag]| {
        tags.iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect::<Vec<_>>()
    };
    let tags = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("list tags");
    assert_eq!(listed(tags.tags()), vec![("team".into(), "data".into())]);

    client
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag("env", "test"))
        .tags(tag("team", "platform"))
        .send()
        .await
        .expect("tag");
    let tags = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("list tags");
    assert_eq!(
        listed(tags.tags()),
        vec![
            ("team".into(), "platform".into()),
            ("env".into(), "test".into())
        ]
    );

    client
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .send()
        .await
        .expect("untag");
    let tags = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("list tags");
    assert_eq!(listed(tags.tags()), vec![("env".into(), "test".into())]);

    let unknown = format!(
        "arn:aws:healthlake:us-east-1:{ACCOUNT}:datastore/fhir/{}",
        "0".repeat(32)
    );
    let err = client
        .tag_resource()
        .resource_arn(&unknown)
        .tags(tag("a", "b"))
        .send()
        .await
        .expect_err("unknown ARN");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = client
        .untag_resource()
        .resource_arn(&unknown)
        .tag_keys("a")
        .send()
        .await
        .expect_err("unknown ARN");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = client
        .list_tags_for_resource()
        .resource_arn(&unknown)
        .send()
        .await
        .expect_err("unknown ARN");
    assert!(err.into_service_error().is_resource_not_found_exception());
}

#[tokio::test]
async fn pages_of_one_visit_every_store_once_in_creation_order() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(create(&client, &format!("store-{i}"), &[]).await);
    }

    let mut visited = Vec::new();
    let mut next_token = None;
    for _ in 0..=created.len() {
        let page = client
            .list_fhir_datastores()
            .max_results(1)
            .set_next_token(next_token.take())
            .send()
            .await
            .expect("list page");
        assert!(page.datastore_properties_list().len() <= 1);
        visited.extend(
            ids(page.datastore_properties_list())
                .into_iter()
                .map(str::to_owned),
        );
        match page.next_token() {
            Some(token) => next_token = Some(token.to_owned()),
            None => break,
        }
    }
    assert!(next_token.is_none(), "pagination did not end");
    let unique: HashSet<&String> = visited.iter().collect();
    assert_eq!(
        unique.len(),
        visited.len(),
        "a store appeared twice: {visited:?}"
    );
    assert_eq!(visited, created);

    let two = client
        .list_fhir_datastores()
        .max_results(2)
        .send()
        .await
        .expect("list");
    assert_eq!(
        ids(two.datastore_properties_list()),
        vec![created[0].as_str(), created[1].as_str()]
    );
    assert!(two.next_token().is_some());
}

#[tokio::test]
async fn a_test_may_choose_any_store_id_the_model_allows() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let chosen = ["store one", "é:ü/2=+%@", "data_store.v1", "データストア٣"];
    for id in chosen {
        let created = emulator
            .emulator
            .create_store_with_id("us-east-1", id, "chosen", None)
            .await
            .expect("a chosen id");
        assert_eq!(created, id);
    }
    let issued = create(&client, "issued", &[]).await;
    assert_eq!(issued.len(), 32, "{issued}");
    assert!(issued.chars().all(|c| c.is_ascii_hexdigit()), "{issued}");

    // Listed, a page at a time (the page token carries the id), as created.
    let mut visited = Vec::new();
    let mut next_token = None;
    loop {
        let page = client
            .list_fhir_datastores()
            .max_results(1)
            .set_next_token(next_token.take())
            .send()
            .await
            .expect("list page");
        for store in page.datastore_properties_list() {
            assert_eq!(
                store.datastore_arn(),
                format!(
                    "arn:aws:healthlake:us-east-1:{ACCOUNT}:datastore/fhir/{}",
                    store.datastore_id()
                )
            );
            visited.push(store.datastore_id().to_owned());
        }
        match page.next_token() {
            Some(token) => next_token = Some(token.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = chosen.iter().map(|id| id.to_string()).collect();
    expected.push(issued);
    visited.sort();
    expected.sort();
    assert_eq!(visited, expected);

    let (status, answer) = emulator
        .emulator
        .admin(
            reqwest::Method::POST,
            "datastores/%C3%A9:%C3%BC%2F2=+%25@/status",
            Some(json!({"DatastoreStatus": "UPDATE_FAILED"})),
        )
        .await
        .expect("admin request");
    assert_eq!(status, 200, "{answer}");
    let forced = emulator
        .emulator
        .force_status("store one", "CREATE_FAILED", None)
        .await
        .expect("a status forced on an id with a space");
    assert_eq!(forced["DatastoreProperties"]["DatastoreId"], "store one");
    let shown = describe_store(&client, "é:ü/2=+%@").await;
    assert_eq!(shown.datastore_status().as_str(), "UPDATE_FAILED");

    for (id, refusal) in [
        ("store one", "ConflictException"),
        ("", "ValidationException"),
        ("a#b", "ValidationException"),
        ("line\nbreak", "ValidationException"),
        ("ж".repeat(33).as_str(), "ValidationException"),
    ] {
        let (status, answer) = emulator
            .post(
                "datastores",
                json!({"Region": "us-east-2", "DatastoreId": id, "DatastoreTypeVersion": "R4"}),
            )
            .await;
        assert_eq!(
            (status, answer["__type"].as_str()),
            (400, Some(refusal)),
            "{id:?}: {answer}"
        );
    }
    assert_eq!(list_all(&emulator.client("us-east-2"), None).await.len(), 0);
}

#[tokio::test]
async fn list_filters_on_name_status_and_creation_time() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    // Each store settles before the next is created: the clock moves by the
    // transition delay in between, so creation times differ by that much.
    let first = create(&client, "first", &[]).await;
    let first_at = *emulator
        .settle(&client, &first, "ACTIVE")
        .await
        .created_at()
        .expect("CreatedAt");
    let failed = create(
        &client,
        "second",
        &[tag(
            OUTCOME_TAG,
            "CREATE_FAILED:NON_RETRYABLE_ERROR:no capacity",
        )],
    )
    .await;
    let failed_at = *emulator
        .settle(&client, &failed, "CREATE_FAILED")
        .await
        .created_at()
        .expect("CreatedAt");
    let third = create(&client, "third", &[]).await;
    emulator.settle(&client, &third, "ACTIVE").await;

    let by_name = DatastoreFilter::builder().datastore_name("second").build();
    assert_eq!(
        ids(&list_all(&client, Some(by_name)).await),
        vec![failed.as_str()]
    );
    let no_name = DatastoreFilter::builder().datastore_name("fourth").build();
    assert!(list_all(&client, Some(no_name)).await.is_empty());

    let active = DatastoreFilter::builder()
        .datastore_status(DatastoreStatus::Active)
        .build();
    assert_eq!(
        ids(&list_all(&client, Some(active)).await),
        vec![first.as_str(), third.as_str()]
    );
    let create_failed = DatastoreFilter::builder()
        .datastore_status(DatastoreStatus::CreateFailed)
        .build();
    assert_eq!(
        ids(&list_all(&client, Some(create_failed)).await),
        vec![failed.as_str()]
    );

    let after = DatastoreFilter::builder().created_after(failed_at).build();
    assert_eq!(
        ids(&list_all(&client, Some(after)).await),
        vec![third.as_str()]
    );
    let before = DatastoreFilter::builder().created_before(failed_at).build();
    assert_eq!(
        ids(&list_all(&client, Some(before)).await),
        vec![first.as_str()]
    );
    let between = DatastoreFilter::builder()
        .created_after(first_at)
        .created_before(failed_at)
        .build();
    assert!(list_all(&client, Some(between)).await.is_empty());
    let active_after_first = DatastoreFilter::builder()
        .created_after(first_at)
        .datastore_status(DatastoreStatus::Active)
        .build();
    assert_eq!(
        ids(&list_all(&client, Some(active_after_first)).await),
        vec![third.as_str()]
    );
}

#[tokio::test]
async fn client_errors_are_parsed_as_the_modelled_sdk_errors() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");

    for max_results in [0, 501] {
        let err = client
            .list_fhir_datastores()
            .max_results(max_results)
            .send()
            .await
            .expect_err("MaxResults out of range");
        let err = err.into_service_error();
        assert!(err.is_validation_exception(), "{err:?}");
        assert!(
            err.meta()
                .message()
                .unwrap_or_default()
                .contains("maxResults"),
            "{err:?}"
        );
    }
    let err = client
        .list_fhir_datastores()
        .next_token("not-a-token")
        .send()
        .await
        .expect_err("bad NextToken");
    assert!(err.into_service_error().is_validation_exception());
    let err = client
        .list_fhir_datastores()
        .filter(
            DatastoreFilter::builder()
                .datastore_status(DatastoreStatus::from("ARCHIVED"))
                .build(),
        )
        .send()
        .await
        .expect_err("unknown status in a filter");
    assert!(err.into_service_error().is_validation_exception());
    let err = client
        .create_fhir_datastore()
        .datastore_name("no-version")
        .send()
        .await
        .expect_err("no DatastoreTypeVersion");
    let err = err.into_service_error();
    assert!(err.is_validation_exception(), "{err:?}");
    assert!(
        err.meta()
            .message()
            .unwrap_or_default()
            .contains("datastoreTypeVersion")
    );

    let unknown = "0".repeat(32);
    let err = client
        .describe_fhir_datastore()
        .datastore_id(&unknown)
        .send()
        .await
        .expect_err("unknown id");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = client
        .delete_fhir_datastore()
        .datastore_id(&unknown)
        .send()
        .await
        .expect_err("unknown id");
    assert!(err.into_service_error().is_resource_not_found_exception());

    let id = create(&client, "young", &[]).await;
    let err = client
        .delete_fhir_datastore()
        .datastore_id(&id)
        .send()
        .await
        .expect_err("deleting a CREATING store");
    assert!(err.into_service_error().is_conflict_exception());
    emulator.settle(&client, &id, "ACTIVE").await;
    client
        .delete_fhir_datastore()
        .datastore_id(&id)
        .send()
        .await
        .expect("delete");
    let err = client
        .delete_fhir_datastore()
        .datastore_id(&id)
        .send()
        .await
        .expect_err("deleting a DELETING store");
    assert!(err.into_service_error().is_conflict_exception());
}

#[tokio::test]
async fn scripted_faults_are_parsed_as_the_modelled_sdk_errors() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");

    emulator
        .fault(
            json!({"Operation": "ListFHIRDatastores", "Error": "ThrottlingException", "Count": 2}),
        )
        .await;
    for _ in 0..2 {
        let err = client
            .list_fhir_datastores()
            .send()
            .await
            .expect_err("throttled");
        let err = err.into_service_error();
        assert!(err.is_throttling_exception(), "{err:?}");
        assert_eq!(err.meta().message(), Some("Rate exceeded"));
    }
    client
        .list_fhir_datastores()
        .send()
        .await
        .expect("the third call passes");

    emulator
        .fault(json!({"Operation": "DescribeFHIRDatastore", "Error": "InternalServerException", "Message": "disk on fire"}))
        .await;
    let err = client
        .describe_fhir_datastore()
        .datastore_id("0".repeat(32))
        .send()
        .await
        .expect_err("internal error");
    let err = err.into_service_error();
    assert!(err.is_internal_server_exception(), "{err:?}");
    assert_eq!(err.meta().message(), Some("disk on fire"));

    emulator
        .fault(json!({"Operation": "CreateFHIRDatastore", "Error": "AccessDeniedException"}))
        .await;
    let err = client
        .create_fhir_datastore()
        .datastore_type_version(FhirVersion::R4)
        .send()
        .await
        .expect_err("access denied");
    assert!(err.into_service_error().is_access_denied_exception());
    assert!(
        list_all(&client, None).await.is_empty(),
        "a failed create creates nothing"
    );

    emulator
        .fault(json!({"Operation": "DeleteFHIRDatastore", "Error": "AccessDeniedException"}))
        .await;
    let err = client
        .delete_fhir_datastore()
        .datastore_id("0".repeat(32))
        .send()
        .await
        .expect_err("access denied");
    assert!(err.into_service_error().is_access_denied_exception());

    let (status, body) = emulator
        .post(
            "faults",
            json!({"Operation": "ListFHIRDatastores", "Error": "Throttled"}),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("ThrottlingException"),
        "{body}"
    );
}

#[tokio::test]
async fn requests_outside_the_protocol_get_aws_errors() {
    let emulator = Emulator::start().await;
    let list = Some("HealthLake.ListFHIRDatastores");

    let (status, content_type, body) = emulator.raw(list, TESTING, "{}").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type.as_deref(), Some("application/x-amz-json-1.0"));
    assert_eq!(body, json!({"DatastorePropertiesList": []}));

    let (status, _, body) = emulator.raw(list, Auth::Unsigned, "{}").await;
    assert_eq!(status, 403);
    assert_eq!(
        body["__type"], "MissingAuthenticationTokenException",
        "{body}"
    );
    assert_eq!(body["message"], "Missing Authentication Token");
    let (status, _, body) = emulator
        .raw(Some("HealthLake.StartFHIRImportJob"), Auth::Unsigned, "{}")
        .await;
    assert_eq!(
        (status, &body["__type"]),
        (403, &json!("MissingAuthenticationTokenException")),
        "authenticated before the operation is looked up: {body}"
    );

    let (status, _, body) = emulator
        .raw(
            list,
            Auth::Header(
                "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/healthlake/aws4_request",
            ),
            "{}",
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "IncompleteSignatureException", "{body}");
    let (status, _, body) = emulator
        .raw(
            list,
            Auth::Header(
                "AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/healthlake/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=0123abcd",
            ),
            "{}",
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["__type"], "IncompleteSignatureException",
        "a signature without the date it names: {body}"
    );
    let (status, _, body) = emulator
        .raw(list, Auth::Signed("testing", "not-the-secret"), "{}")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "InvalidSignatureException", "{body}");

    let (status, _, body) = emulator
        .raw(Some("HealthLake.StartFHIRImportJob"), TESTING, "{}")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "UnknownOperationException", "{body}");

    let (status, _, body) = emulator.raw(list, TESTING, "{\"MaxResults\": ").await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "SerializationException", "{body}");

    let (status, _, body) = emulator
        .raw(Some("HealthLake.DescribeFHIRDatastore"), TESTING, "{}")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "ValidationException", "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("datastoreId"),
        "{body}"
    );

    emulator
        .fault(json!({"Operation": "ListFHIRDatastores", "Error": "InternalServerException"}))
        .await;
    let (status, _, body) = emulator.raw(list, TESTING, "{}").await;
    assert_eq!(status, 500);
    assert_eq!(body["__type"], "InternalServerException", "{body}");
}

#[tokio::test]
async fn the_outcome_tag_makes_a_creation_fail_with_its_error_cause() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let id = create(
        &client,
        "doomed",
        &[tag(
            OUTCOME_TAG,
            "CREATE_FAILED:NON_RETRYABLE_ERROR:KMS key arn:aws:kms:x is disabled",
        )],
    )
    .await;
    assert_eq!(
        describe_store(&client, &id).await.datastore_status(),
        &DatastoreStatus::Creating
    );

    let failed = emulator.settle(&client, &id, "CREATE_FAILED").await;
    let cause = failed.error_cause().expect("ErrorCause");
    assert_eq!(
        cause.error_message(),
        Some("KMS key arn:aws:kms:x is disabled")
    );
    assert_eq!(
        cause.error_category(),
        Some(&ErrorCategory::NonRetryableError)
    );

    let listed = list_all(&client, None).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].datastore_status(), &DatastoreStatus::CreateFailed);
    assert_eq!(listed[0].error_cause(), Some(cause));

    let retryable = create(
        &client,
        "flaky",
        &[tag(OUTCOME_TAG, "CREATE_FAILED:RETRYABLE_ERROR:try again")],
    )
    .await;
    let failed = emulator.settle(&client, &retryable, "CREATE_FAILED").await;
    assert_eq!(
        failed
            .error_cause()
            .and_then(|cause| cause.error_category()),
        Some(&ErrorCategory::RetryableError)
    );

    for malformed in [
        "CREATE_FAILED",
        "CREATE_FAILED:SOMETIMES:x",
        "ACTIVE:RETRYABLE_ERROR:x",
    ] {
        let err = client
            .create_fhir_datastore()
            .datastore_type_version(FhirVersion::R4)
            .tags(tag(OUTCOME_TAG, malformed))
            .send()
            .await
            .expect_err("malformed outcome tag");
        let err = err.into_service_error();
        assert!(err.is_validation_exception(), "{err:?}");
        assert!(
            err.meta()
                .message()
                .unwrap_or_default()
                .contains(OUTCOME_TAG),
            "{err:?}"
        );
    }
    assert_eq!(list_all(&client, None).await.len(), 2);
}

#[tokio::test]
async fn a_forced_status_unknown_to_the_sdk_reaches_the_client_unchanged_and_stays() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-2");
    let id = create(&client, "archive-me", &[]).await;

    let (status, body) = emulator
        .force_status(
            &id,
            json!({"DatastoreStatus": "ARCHIVED", "ErrorCause": {"ErrorMessage": "moved to glacier", "ErrorCategory": "NON_RETRYABLE_ERROR"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Region"], "us-east-2");
    assert_eq!(body["DatastoreProperties"]["DatastoreStatus"], "ARCHIVED");

    let archived = describe_store(&client, &id).await;
    assert_eq!(
        archived.datastore_status(),
        &DatastoreStatus::from("ARCHIVED")
    );
    assert_eq!(archived.datastore_status().as_str(), "ARCHIVED");
    assert_eq!(
        archived
            .error_cause()
            .and_then(|cause| cause.error_message()),
        Some("moved to glacier")
    );
    let listed = list_all(&client, None).await;
    assert_eq!(listed[0].datastore_status().as_str(), "ARCHIVED");

    // Once the clock has passed the transition delay, a store created now is
    // ACTIVE, and so would the forced store be, were it not forced.
    let witness = create(&client, "witness", &[]).await;
    emulator.settle(&client, &witness, "ACTIVE").await;
    assert_eq!(
        describe_store(&client, &id)
            .await
            .datastore_status()
            .as_str(),
        "ARCHIVED"
    );
    let err = client
        .delete_fhir_datastore()
        .datastore_id(&id)
        .send()
        .await
        .expect_err("an ARCHIVED store is not ACTIVE");
    assert!(err.into_service_error().is_conflict_exception());

    let (status, _) = emulator
        .force_status(
            &id,
            json!({"DatastoreStatus": "UPDATING", "ErrorCause": null}),
        )
        .await;
    assert_eq!(status, 200);
    let updating = describe_store(&client, &id).await;
    assert_eq!(updating.datastore_status(), &DatastoreStatus::Updating);
    assert!(updating.error_cause().is_none());

    let (status, _) = emulator
        .force_status(&id, json!({"DatastoreStatus": "ACTIVE"}))
        .await;
    assert_eq!(status, 200);
    let deleting = client
        .delete_fhir_datastore()
        .datastore_id(&id)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleting.datastore_status(), &DatastoreStatus::Deleting);
    emulator.settle(&client, &id, "DELETED").await;

    let (status, body) = emulator
        .force_status(&"f".repeat(32), json!({"DatastoreStatus": "ACTIVE"}))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = emulator
        .force_status(&id, json!({"Status": "ACTIVE"}))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn regions_are_isolated_from_each_other() {
    let emulator = Emulator::start().await;
    let east_1 = emulator.client("us-east-1");
    let east_2 = emulator.client("us-east-2");

    let one = create(&east_1, "one", &[]).await;
    assert!(list_all(&east_2, None).await.is_empty());
    let err = east_2
        .describe_fhir_datastore()
        .datastore_id(&one)
        .send()
        .await
        .expect_err("a store of another region");
    assert!(err.into_service_error().is_resource_not_found_exception());

    let two = create(&east_2, "two", &[]).await;
    assert_eq!(ids(&list_all(&east_1, None).await), vec![one.as_str()]);
    assert_eq!(ids(&list_all(&east_2, None).await), vec![two.as_str()]);
    let two_arn = describe_store(&east_2, &two)
        .await
        .datastore_arn()
        .to_owned();
    assert!(
        two_arn.starts_with("arn:aws:healthlake:us-east-2:"),
        "{two_arn}"
    );
    let err = east_1
        .list_tags_for_resource()
        .resource_arn(&two_arn)
        .send()
        .await
        .expect_err("an ARN of another region");
    assert!(err.into_service_error().is_resource_not_found_exception());

    emulator
        .fault(json!({"Operation": "ListFHIRDatastores", "Error": "ThrottlingException", "Count": 5, "Region": "us-east-2"}))
        .await;
    assert_eq!(list_all(&east_1, None).await.len(), 1);
    let err = east_2
        .list_fhir_datastores()
        .send()
        .await
        .expect_err("throttled region");
    assert!(err.into_service_error().is_throttling_exception());
    assert_eq!(list_all(&east_1, None).await.len(), 1);
}

#[tokio::test]
async fn calls_are_counted_per_operation_and_region_until_reset() {
    let emulator = Emulator::start().await;
    let east_1 = emulator.client("us-east-1");
    let west_2 = emulator.client("us-west-2");
    let id = create(&east_1, "counted", &[]).await;
    describe_store(&east_1, &id).await;
    list_all(&east_1, None).await;
    list_all(&west_2, None).await;
    emulator
        .fault(json!({"Operation": "ListFHIRDatastores", "Error": "ThrottlingException"}))
        .await;
    west_2
        .list_fhir_datastores()
        .send()
        .await
        .expect_err("throttled");

    let calls = emulator.calls().await;
    assert_eq!(calls["CreateFHIRDatastore"], 1, "{calls}");
    assert_eq!(calls["DescribeFHIRDatastore"], 1, "{calls}");
    assert_eq!(calls["ListFHIRDatastores"], 3, "{calls}");
    assert_eq!(calls["DeleteFHIRDatastore"], 0, "{calls}");
    assert_eq!(
        calls["ByRegion"]["us-east-1"]["ListFHIRDatastores"], 1,
        "{calls}"
    );
    assert_eq!(
        calls["ByRegion"]["us-west-2"]["ListFHIRDatastores"], 2,
        "{calls}"
    );
    assert_eq!(
        calls["ByRegion"]["us-west-2"]["CreateFHIRDatastore"], 0,
        "{calls}"
    );

    emulator
        .fault(
            json!({"Operation": "ListFHIRDatastores", "Error": "ThrottlingException", "Count": 3}),
        )
        .await;
    let (status, _) = emulator.post("reset", json!({})).await;
    assert_eq!(status, 200);
    let calls = emulator.calls().await;
    assert_eq!(calls["ListFHIRDatastores"], 0, "{calls}");
    assert_eq!(calls["ByRegion"], json!({}));
    assert!(
        list_all(&east_1, None).await.is_empty(),
        "reset forgets the stores and the faults"
    );
}

#[tokio::test]
async fn added_latency_applies_to_every_call_until_removed() {
    let emulator = Emulator::start().await;
    let config = emulator
        .client("us-east-1")
        .config()
        .to_builder()
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(1))
                .build(),
        )
        .build();
    let impatient = Client::from_conf(config);
    impatient
        .list_fhir_datastores()
        .send()
        .await
        .expect("no latency yet");

    emulator.fault(json!({"LatencyMs": 10_000})).await;
    let err = impatient
        .list_fhir_datastores()
        .send()
        .await
        .expect_err("slower than the client's timeout");
    assert!(
        matches!(err, aws_sdk_healthlake::error::SdkError::TimeoutError(_)),
        "{err:?}"
    );

    let (status, body) = emulator.post("faults", json!({"LatencyMs": 0})).await;
    assert_eq!(status, 200);
    assert_eq!(body["LatencyMs"], 0);
    impatient
        .list_fhir_datastores()
        .send()
        .await
        .expect("latency removed");
}

fn clock_now(answer: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(answer["Now"].as_str().expect("Now"))
        .expect("Now is RFC 3339")
        .with_timezone(&Utc)
}

/// Whether `at` is `ahead` past the wall clock, give or take a few seconds.
fn is_ahead(at: DateTime<Utc>, ahead: chrono::TimeDelta) -> bool {
    let off = at - Utc::now() - ahead;
    off.num_seconds().abs() <= 5
}

#[tokio::test]
async fn the_clock_moves_forward_on_request_and_stores_settle_when_it_passes_their_delay() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let delay = chrono::TimeDelta::from_std(TRANSITION).expect("a delay chrono holds");
    let get = |path: &'static str| emulator.admin(reqwest::Method::GET, path, None);

    let (status, clock) = get("clock").await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(clock["OffsetSeconds"], 0, "{clock}");
    assert!(
        is_ahead(clock_now(&clock), chrono::TimeDelta::zero()),
        "{clock}"
    );

    let id = create(&client, "patients", &[]).await;
    let created_at = describe_store(&client, &id).await.created_at().copied();
    let short = TRANSITION.as_secs() - 1;
    let (status, clock) = emulator
        .post("clock", json!({"AdvanceSeconds": short}))
        .await;
    assert_eq!(status, 200, "{clock}");
    assert_eq!(clock["OffsetSeconds"], short, "{clock}");
    assert!(
        is_ahead(clock_now(&clock), delay - chrono::TimeDelta::seconds(1)),
        "{clock}"
    );
    assert_eq!(
        describe_store(&client, &id).await.datastore_status(),
        &DatastoreStatus::Creating,
        "a second short of the delay"
    );

    let (_, clock) = emulator.post("clock", json!({"AdvanceSeconds": 1})).await;
    assert_eq!(clock["OffsetSeconds"], TRANSITION.as_secs(), "{clock}");
    let active = describe_store(&client, &id).await;
    assert_eq!(active.datastore_status(), &DatastoreStatus::Active);
    assert_eq!(
        active.created_at().copied(),
        created_at,
        "moving the clock changes no creation time"
    );
    let (_, shown) = get("clock").await;
    assert_eq!(shown["OffsetSeconds"], TRANSITION.as_secs(), "{shown}");
    let (_, health) = get("health").await;
    let time = DateTime::from_timestamp(health["Time"].as_i64().expect("Time"), 0).expect("a time");
    assert!(is_ahead(time, delay), "{health}");

    // A store created now is created at the emulator's time.
    let later = create(&client, "later", &[]).await;
    let later_at = describe_store(&client, &later)
        .await
        .created_at()
        .copied()
        .expect("CreatedAt");
    let later_at = DateTime::from_timestamp(later_at.secs(), 0).expect("a time");
    assert!(is_ahead(later_at, delay), "CreatedAt {later_at}");
    let recent = DatastoreFilter::builder()
        .created_after(aws_sdk_healthlake::primitives::DateTime::from_secs(
            (Utc::now() + delay / 2).timestamp(),
        ))
        .build();
    assert_eq!(
        ids(&list_all(&client, Some(recent)).await),
        vec![later.as_str()]
    );

    for refused in [
        json!({"AdvanceSeconds": -1}),
        json!({"AdvanceSeconds": 1.5}),
        json!({"AdvanceSeconds": "60"}),
        json!({"Seconds": 60}),
        json!({"AdvanceSeconds": 200 * 365 * 24 * 3600_u64}),
    ] {
        let (status, body) = emulator.post("clock", refused.clone()).await;
        assert_eq!(status, 400, "{refused}: {body}");
        assert_eq!(body["__type"], "ValidationException", "{refused}: {body}");
    }
    let (_, unchanged) = get("clock").await;
    assert_eq!(
        unchanged["OffsetSeconds"],
        TRANSITION.as_secs(),
        "{unchanged}"
    );

    let (status, _) = emulator.post("reset", json!({})).await;
    assert_eq!(status, 200);
    let (_, reset) = get("clock").await;
    assert_eq!(
        reset["OffsetSeconds"], 0,
        "reset sets the clock back: {reset}"
    );
    assert!(
        is_ahead(clock_now(&reset), chrono::TimeDelta::zero()),
        "{reset}"
    );
}

const OTHER: &str = "210987654321";
const THIRD: &str = "333333333333";

/// The code of an STS error the SDK has no type for (AccessDenied,
/// ValidationError), and its message.
fn sts_error<E>(err: aws_sdk_sts::error::SdkError<E>) -> (String, String)
where
    E: aws_sdk_sts::error::ProvideErrorMetadata,
{
    use aws_sdk_sts::error::ProvideErrorMetadata as _;
    let code = err.code().map(str::to_owned);
    let message = err.message().unwrap_or_default().to_owned();
    (
        code.unwrap_or_else(|| format!("not a service error: {message}")),
        message,
    )
}

#[tokio::test]
async fn sts_answers_assume_role_and_get_caller_identity_to_the_sdk() {
    let emulator = Emulator::start().await;
    let base = emulator.emulator.base_config("us-east-1").await;
    let sts = aws_sdk_sts::Client::new(&base);

    let me = sts.get_caller_identity().send().await.expect("caller");
    assert_eq!(me.account(), Some(ACCOUNT));
    assert_eq!(
        me.arn(),
        Some(format!("arn:aws:iam::{ACCOUNT}:user/emulator").as_str())
    );
    assert!(me.user_id().is_some_and(|id| id.starts_with("AIDA")));

    let role = role_arn(OTHER, "HealthLakeMonitor");
    let assumed = sts
        .assume_role()
        .role_arn(&role)
        .role_session_name(SESSION_NAME)
        .external_id("unused-by-this-role")
        .send()
        .await
        .expect("assume role");
    let credentials = assumed.credentials().expect("Credentials");
    assert!(
        credentials.access_key_id().starts_with("ASIA"),
        "{credentials:?}"
    );
    assert_eq!(credentials.secret_access_key().len(), 40);
    assert!(!credentials.session_token().is_empty());
    let expiration = DateTime::from_timestamp(credentials.expiration().secs(), 0).expect("a time");
    assert!(
        is_ahead(expiration, chrono::TimeDelta::hours(1)),
        "Expiration {expiration} is an hour of wall time away"
    );
    let user = assumed.assumed_role_user().expect("AssumedRoleUser");
    assert_eq!(
        user.arn(),
        format!("arn:aws:sts::{OTHER}:assumed-role/HealthLakeMonitor/{SESSION_NAME}")
    );
    assert!(user.assumed_role_id().starts_with("AROA"));
    assert!(
        user.assumed_role_id()
            .ends_with(&format!(":{SESSION_NAME}"))
    );

    let as_role = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&base)
            .credentials_provider(Credentials::new(
                credentials.access_key_id(),
                credentials.secret_access_key(),
                Some(credentials.session_token().to_owned()),
                None,
                "assumed",
            ))
            .build(),
    );
    let them = as_role.get_caller_identity().send().await.expect("caller");
    assert_eq!(them.account(), Some(OTHER));
    assert_eq!(them.arn(), Some(user.arn()));
    assert_eq!(them.user_id(), Some(user.assumed_role_id()));

    let half_day = sts
        .assume_role()
        .role_arn(&role)
        .role_session_name(SESSION_NAME)
        .duration_seconds(43_200)
        .send()
        .await
        .expect_err("longer than the role's MaxSessionDuration");
    let (code, message) = sts_error(half_day);
    assert_eq!(code, "ValidationError");
    assert!(message.contains("MaxSessionDuration"), "{message}");
    let chained = as_role
        .assume_role()
        .role_arn(role_arn(THIRD, "Reader"))
        .role_session_name(SESSION_NAME)
        .duration_seconds(7200)
        .send()
        .await
        .expect_err("role chaining lasts at most an hour");
    assert!(sts_error(chained).1.contains("role chaining"));

    for (arn, session, problem) in [
        (role.as_str(), "a", "roleSessionName"),
        (role.as_str(), "with space", "regular expression"),
        (
            "arn:aws:iam::210987654321:user/HealthLakeMonitor",
            SESSION_NAME,
            "Request ARN is invalid",
        ),
    ] {
        let err = sts
            .assume_role()
            .role_arn(arn)
            .role_session_name(session)
            .send()
            .await
            .expect_err("invalid parameters");
        let (code, message) = sts_error(err);
        assert_eq!(code, "ValidationError", "{message}");
        assert!(message.contains(problem), "{message}");
    }

    let calls = emulator.calls().await;
    assert_eq!(calls["GetCallerIdentity"], 2, "{calls}");
    assert_eq!(calls["AssumeRole"], 6, "{calls}");
    assert_eq!(calls["ByAccount"][ACCOUNT]["AssumeRole"], 5, "{calls}");
    assert_eq!(calls["ByAccount"][OTHER]["GetCallerIdentity"], 1, "{calls}");
    assert_eq!(calls["ByAccount"][OTHER]["AssumeRole"], 1, "{calls}");
    assert_eq!(
        emulator
            .emulator
            .assume_role_calls(&role)
            .await
            .expect("role calls"),
        AssumeRoleCalls {
            allowed: 1,
            denied: 0
        },
        "refused parameters count neither way"
    );
}

#[tokio::test]
async fn assumed_role_credentials_see_only_the_stores_of_their_account() {
    let emulator = Emulator::start().await;
    let role = role_arn(OTHER, "HealthLakeMonitor");
    let other = emulator
        .emulator
        .assumed_client("us-east-1", &role, Some("tenant-42"))
        .await;
    let third = emulator
        .emulator
        .assumed_client("us-east-1", &role_arn(THIRD, "HealthLakeMonitor"), None)
        .await;
    let default = emulator.client("us-east-1");

    let id = create(&other, "theirs", &[]).await;
    let arn = describe_store(&other, &id).await.datastore_arn().to_owned();
    assert_eq!(
        arn,
        format!("arn:aws:healthlake:us-east-1:{OTHER}:datastore/fhir/{id}")
    );
    assert_eq!(ids(&list_all(&other, None).await), vec![id.as_str()]);
    assert!(list_all(&third, None).await.is_empty());
    assert!(list_all(&default, None).await.is_empty());
    let err = default
        .describe_fhir_datastore()
        .datastore_id(&id)
        .send()
        .await
        .expect_err("a store of another account");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = third
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect_err("an ARN of another account");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let other_west = emulator
        .emulator
        .assumed_client("us-west-2", &role, None)
        .await;
    assert!(
        list_all(&other_west, None).await.is_empty(),
        "each region of an account has its own stores"
    );

    // The admin route puts a store in any account, and the status of any
    // store can be forced by id.
    let seeded = emulator
        .emulator
        .create_store_in(THIRD, "us-east-1", "seeded", None)
        .await
        .expect("admin create");
    assert_eq!(ids(&list_all(&third, None).await), vec![seeded.as_str()]);
    assert_eq!(ids(&list_all(&other, None).await), vec![id.as_str()]);
    let (status, forced) = emulator
        .force_status(&seeded, json!({"DatastoreStatus": "ACTIVE"}))
        .await;
    assert_eq!(status, 200, "{forced}");
    assert_eq!(forced["Account"], THIRD, "{forced}");
    assert_eq!(forced["Region"], "us-east-1", "{forced}");
    let settled = emulator.settle(&other, &id, "ACTIVE").await;
    assert_eq!(settled.datastore_id(), id);

    // The credentials of each client were assumed once and cached by its
    // identity cache, however many calls it made.
    assert_eq!(
        emulator
            .emulator
            .assume_role_calls(&role)
            .await
            .expect("role calls"),
        AssumeRoleCalls {
            allowed: 2,
            denied: 0
        },
        "one AssumeRole per client (us-east-1 and us-west-2)"
    );
    let calls = emulator.calls().await;
    assert_eq!(
        calls["ByAccount"][OTHER]["ListFHIRDatastores"], 3,
        "{calls}"
    );
    assert_eq!(
        calls["ByAccount"][OTHER]["CreateFHIRDatastore"], 1,
        "{calls}"
    );
    assert_eq!(
        calls["ByAccount"][THIRD]["ListFHIRDatastores"], 2,
        "{calls}"
    );
    assert_eq!(calls["ByAccount"][ACCOUNT]["AssumeRole"], 3, "{calls}");
    assert_eq!(
        calls["ByAccount"][ACCOUNT]["ListFHIRDatastores"], 1,
        "{calls}"
    );
    assert_eq!(
        calls["ByRegion"]["us-west-2"]["ListFHIRDatastores"], 1,
        "{calls}"
    );

    let accounts = emulator
        .emulator
        .admin_get("accounts")
        .await
        .expect("accounts");
    assert_eq!(accounts["DefaultAccount"], ACCOUNT, "{accounts}");
    let listed: Vec<&Value> = accounts["Accounts"]
        .as_array()
        .expect("Accounts")
        .iter()
        .collect();
    assert_eq!(listed.len(), 3, "{accounts}");
    assert_eq!(listed[1]["Account"], OTHER, "{accounts}");
    assert_eq!(
        listed[1]["Datastores"],
        json!({"us-east-1": 1}),
        "{accounts}"
    );
    assert_eq!(listed[1]["Suspended"], false, "{accounts}");

    // A suspended account can no longer be assumed into, nor called.
    emulator
        .emulator
        .suspend_account(OTHER)
        .await
        .expect("suspend");
    let err = other
        .list_fhir_datastores()
        .send()
        .await
        .expect_err("a suspended account");
    assert_eq!(
        aws_sdk_healthlake::error::ProvideErrorMetadata::code(&err),
        Some("AccessDeniedException"),
        "ListFHIRDatastores has no modelled AccessDeniedException: {err:?}"
    );
    let sts = aws_sdk_sts::Client::new(&emulator.emulator.base_config("us-east-1").await);
    let err = sts
        .assume_role()
        .role_arn(&role)
        .role_session_name(SESSION_NAME)
        .send()
        .await
        .expect_err("a suspended account");
    assert_eq!(sts_error(err).0, "AccessDenied");
}

#[tokio::test]
async fn a_denied_role_fails_the_call_with_a_credentials_error() {
    let emulator = Emulator::start().await;
    let role = role_arn(OTHER, "HealthLakeMonitor");
    emulator.emulator.deny_role(&role).await.expect("deny");
    let denied = emulator
        .emulator
        .assumed_client("us-east-1", &role, None)
        .await;

    let err = denied
        .list_fhir_datastores()
        .send()
        .await
        .expect_err("no credentials");
    println!("denied AssumeRole, as the HealthLake call sees it: {err:?}");
    println!(
        "  displayed: {}",
        aws_smithy_types::error::display::DisplayErrorContext(&err)
    );
    let aws_sdk_healthlake::error::SdkError::DispatchFailure(failure) = &err else {
        panic!("a denied AssumeRole is a dispatch failure of the call: {err:?}");
    };
    assert!(failure.is_other(), "{failure:?}");
    assert!(
        !failure.is_io() && !failure.is_timeout() && !failure.is_user(),
        "{failure:?}"
    );
    let connector = failure.as_connector_error().expect("a connector error");
    let mut chain = Vec::new();
    let mut credentials_error = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(connector);
    while let Some(error) = source {
        chain.push(format!("{error}"));
        credentials_error = credentials_error
            .or(error.downcast_ref::<aws_credential_types::provider::error::CredentialsError>());
        source = error.source();
    }
    println!("  source chain from the connector error: {chain:#?}");
    let credentials_error =
        credentials_error.unwrap_or_else(|| panic!("a CredentialsError in the chain: {chain:#?}"));
    assert!(
        matches!(
            credentials_error,
            aws_credential_types::provider::error::CredentialsError::ProviderError(_)
        ),
        "{credentials_error:?}"
    );
    assert!(
        chain
            .iter()
            .any(|message| message.contains("is not authorized to perform: sts:AssumeRole")),
        "the STS message is in the chain: {chain:#?}"
    );

    let calls = emulator
        .emulator
        .assume_role_calls(&role)
        .await
        .expect("role calls");
    assert_eq!(
        calls,
        AssumeRoleCalls {
            allowed: 0,
            denied: 1
        },
        "neither the STS client nor the HealthLake client retries a denial"
    );
    // The identity cache keeps no failure: every call asks STS again.
    denied
        .list_fhir_datastores()
        .send()
        .await
        .expect_err("still denied");
    let calls = emulator
        .emulator
        .assume_role_calls(&role)
        .await
        .expect("role calls");
    assert_eq!(calls.denied, 2, "{calls:?}");
    let api_calls = emulator.calls().await;
    assert_eq!(
        api_calls["ListFHIRDatastores"], 0,
        "the call never left the client: {api_calls}"
    );

    let sts = aws_sdk_sts::Client::new(&emulator.emulator.base_config("us-east-1").await);
    let err = sts
        .assume_role()
        .role_arn(&role)
        .role_session_name(SESSION_NAME)
        .send()
        .await
        .expect_err("denied");
    let (code, message) = sts_error(err);
    assert_eq!(code, "AccessDenied");
    assert_eq!(
        message,
        format!(
            "User: arn:aws:iam::{ACCOUNT}:user/emulator is not authorized to perform: sts:AssumeRole on resource: {role}"
        )
    );
}

#[tokio::test]
async fn a_role_that_asks_for_an_external_id_denies_any_other() {
    let emulator = Emulator::start().await;
    let role = role_arn(OTHER, "HealthLakeMonitor");
    emulator
        .emulator
        .require_external_id(&role, "tenant-42")
        .await
        .expect("rule");

    for wrong in [None, Some("tenant-41")] {
        let client = emulator
            .emulator
            .assumed_client("us-east-1", &role, wrong)
            .await;
        let err = client
            .list_fhir_datastores()
            .send()
            .await
            .expect_err("wrong external id");
        assert!(
            matches!(err, aws_sdk_healthlake::error::SdkError::DispatchFailure(_)),
            "{err:?}"
        );
    }
    let sts = aws_sdk_sts::Client::new(&emulator.emulator.base_config("us-east-1").await);
    let err = sts
        .assume_role()
        .role_arn(&role)
        .role_session_name(SESSION_NAME)
        .external_id("tenant-41")
        .send()
        .await
        .expect_err("wrong external id");
    assert_eq!(sts_error(err).0, "AccessDenied");

    let right = emulator
        .emulator
        .assumed_client("us-east-1", &role, Some("tenant-42"))
        .await;
    assert!(list_all(&right, None).await.is_empty());
    let calls = emulator
        .emulator
        .assume_role_calls(&role)
        .await
        .expect("role calls");
    assert_eq!(
        calls,
        AssumeRoleCalls {
            allowed: 1,
            denied: 3
        }
    );

    let (_, roles) = emulator.admin(reqwest::Method::GET, "roles", None).await;
    let shown = &roles["Roles"][0];
    assert_eq!(shown["RoleArn"], role, "{roles}");
    assert_eq!(shown["Account"], OTHER, "{roles}");
    assert_eq!(shown["ExternalId"], "tenant-42", "{roles}");
    assert_eq!(shown["Deny"], false, "{roles}");
    assert_eq!(shown["MaxSessionDuration"], 3600, "{roles}");

    // A reset forgets the rule, the counts and the credentials issued: the
    // client's cached key is now one the emulator never issued, refused as
    // AWS refuses an unknown key.
    let (status, _) = emulator.post("reset", json!({})).await;
    assert_eq!(status, 200);
    let (_, roles) = emulator.admin(reqwest::Method::GET, "roles", None).await;
    assert_eq!(roles, json!({"Roles": []}));
    let (code, _) = list_error(&right).await;
    assert_eq!(code, "UnrecognizedClientException");
}

#[tokio::test]
async fn sts_calls_pay_the_added_latency_and_are_counted() {
    let emulator = Emulator::start().await;
    let base = emulator.emulator.base_config("us-east-1").await;
    let impatient = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&base)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(1))
                    .build(),
            )
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    emulator.fault(json!({"LatencyMs": 10_000})).await;
    let err = impatient
        .get_caller_identity()
        .send()
        .await
        .expect_err("slower than the client's timeout");
    assert!(
        matches!(err, aws_sdk_sts::error::SdkError::TimeoutError(_)),
        "{err:?}"
    );
    emulator.fault(json!({"LatencyMs": 0})).await;
    impatient
        .get_caller_identity()
        .send()
        .await
        .expect("latency removed");
}

#[tokio::test]
async fn faults_may_target_one_account() {
    let emulator = Emulator::start().await;
    let assumed = emulator
        .emulator
        .assumed_config("us-east-1", &role_arn(OTHER, "HealthLakeMonitor"), None)
        .await;
    let other = Client::from_conf(
        aws_sdk_healthlake::config::Builder::from(&assumed)
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let default = emulator.client("us-east-1");
    emulator
        .fault(json!({"Operation": "ListFHIRDatastores", "Error": "ThrottlingException", "Account": OTHER}))
        .await;
    assert!(list_all(&default, None).await.is_empty());
    let err = other
        .list_fhir_datastores()
        .send()
        .await
        .expect_err("throttled account");
    assert!(err.into_service_error().is_throttling_exception());
    assert!(list_all(&other, None).await.is_empty());
}

/// What the monitor's reader makes of a listing refused with `client`.
async fn read_error(client: &Client) -> monitor_core::ports::ReadError {
    use monitor_core::domain::{AccountId, Region as ScopeRegion, Scope};
    use monitor_core::ports::DatastoreReader as _;
    let scope = Scope::new(
        AccountId::parse(ACCOUNT).expect("account"),
        ScopeRegion::parse("us-east-1").expect("region"),
    );
    monitor_healthlake::HealthLakeReader::new([(scope.region.clone(), client.clone())].into())
        .list(&scope)
        .await
        .expect_err("the listing is refused")
}

/// A client of the emulator with static credentials and no retries.
fn client_with(emulator: &Emulator, key: &str, secret: &str) -> Client {
    Client::from_conf(
        aws_sdk_healthlake::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(emulator.url())
            .credentials_provider(Credentials::new(key, secret, None, None, "test"))
            .retry_config(RetryConfig::disabled())
            .build(),
    )
}

/// The `__type` and message the SDK read from a refused listing.
async fn list_error(client: &Client) -> (String, String) {
    use aws_sdk_healthlake::error::ProvideErrorMetadata as _;
    let err = client
        .list_fhir_datastores()
        .send()
        .await
        .expect_err("refused");
    (
        err.code().unwrap_or("not a service error").to_owned(),
        err.message().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn signatures_are_verified_and_each_failure_has_its_aws_code_and_read_error_kind() {
    use monitor_core::ports::ReadErrorKind;
    let emulator = Emulator::start().await;

    let signed = client_with(&emulator, "testing", "testing");
    signed
        .list_fhir_datastores()
        .send()
        .await
        .expect("a correctly signed request passes");

    let wrong_secret = client_with(&emulator, "testing", "not-the-secret");
    assert_eq!(
        list_error(&wrong_secret).await,
        (
            "InvalidSignatureException".to_owned(),
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details."
                .to_owned()
        )
    );
    let err = read_error(&wrong_secret).await;
    assert_eq!(err.kind, ReadErrorKind::InvalidCredentials);
    assert!(
        err.to_string().contains("InvalidSignatureException"),
        "{err}"
    );

    let unknown = client_with(&emulator, "AKIDUNKNOWN", "testing");
    assert_eq!(
        list_error(&unknown).await,
        (
            "UnrecognizedClientException".to_owned(),
            "The security token included in the request is invalid.".to_owned()
        )
    );
    let err = read_error(&unknown).await;
    assert_eq!(err.kind, ReadErrorKind::InvalidCredentials);
    assert!(
        err.to_string().contains("UnrecognizedClientException"),
        "{err}"
    );

    let (status, _, body) = emulator
        .raw(Some("HealthLake.ListFHIRDatastores"), Auth::Unsigned, "{}")
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["__type"], "MissingAuthenticationTokenException",
        "{body}"
    );

    // Credentials from the AssumeRole provider, as the monitor's for another
    // account; the SDK caches them until shortly before their Expiration, an
    // hour away, so an early expiry reaches the call.
    let role = role_arn(OTHER, "HealthLakeMonitor");
    let config = emulator
        .emulator
        .assumed_config("us-east-1", &role, None)
        .await;
    let assumed = Client::from_conf(
        aws_sdk_healthlake::config::Builder::from(&config)
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    assumed
        .list_fhir_datastores()
        .send()
        .await
        .expect("the assumed role's signed request, token included, passes");
    let (status, expired) = emulator
        .post("credentials/expire", json!({ "RoleArn": role }))
        .await;
    assert_eq!(status, 200, "{expired}");
    assert_eq!(
        expired["Expired"].as_array().map(Vec::len),
        Some(1),
        "{expired}"
    );
    assert_eq!(
        list_error(&assumed).await,
        (
            "ExpiredTokenException".to_owned(),
            "The security token included in the request is expired".to_owned()
        )
    );
    let err = read_error(&assumed).await;
    assert_eq!(err.kind, ReadErrorKind::ExpiredCredentials);
    assert!(err.to_string().contains("ExpiredCredentials"), "{err}");
    assert!(err.to_string().contains("ExpiredTokenException"), "{err}");

    let (status, body) = emulator
        .post(
            "credentials/expire",
            json!({ "AccessKeyId": "ASIANOTISSUED" }),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn sts_refuses_expired_and_unknown_keys_with_its_own_codes() {
    let emulator = Emulator::start().await;
    let base = emulator.emulator.base_config("us-east-1").await;
    let assumed = aws_sdk_sts::Client::new(&base)
        .assume_role()
        .role_arn(role_arn(OTHER, "Reader"))
        .role_session_name(SESSION_NAME)
        .send()
        .await
        .expect("assume role");
    let credentials = assumed.credentials().expect("Credentials");
    let sts_as = |key: &str, secret: &str, token: Option<String>| {
        aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&base)
                .credentials_provider(Credentials::new(key, secret, token, None, "test"))
                .retry_config(RetryConfig::disabled())
                .build(),
        )
    };
    let as_role = sts_as(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        Some(credentials.session_token().to_owned()),
    );
    as_role.get_caller_identity().send().await.expect("valid");
    let without_token = sts_as(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        None,
    );
    let err = without_token
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(sts_error(err).0, "InvalidClientTokenId");

    let (status, body) = emulator
        .post(
            "credentials/expire",
            json!({ "AccessKeyId": credentials.access_key_id() }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let err = as_role.get_caller_identity().send().await.unwrap_err();
    assert_eq!(
        sts_error(err),
        (
            "ExpiredToken".to_owned(),
            "The security token included in the request is expired".to_owned()
        )
    );
    let err = sts_as("testing", "wrong", None)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(sts_error(err).0, "SignatureDoesNotMatch");
}

/// The `__type` and message of a refused call.
fn refusal<T, E>(result: Result<T, aws_sdk_healthlake::error::SdkError<E>>) -> (String, String)
where
    T: std::fmt::Debug,
    E: aws_sdk_healthlake::error::ProvideErrorMetadata + std::fmt::Debug,
{
    use aws_sdk_healthlake::error::ProvideErrorMetadata as _;
    let err = result.expect_err("the call is refused");
    (
        err.code().unwrap_or("not a service error").to_owned(),
        err.message().unwrap_or_default().to_owned(),
    )
}

/// Asserts a ValidationException whose message names `member` and `needle`.
fn assert_invalid(refused: (String, String), member: &str, needle: &str) {
    let (code, message) = &refused;
    assert_eq!(code, "ValidationException", "{refused:?}");
    assert!(
        message.contains(&format!("at '{member}' failed to satisfy constraint"))
            && message.contains(needle),
        "{member} / {needle:?} not in {message}"
    );
}

/// A store created and settled ACTIVE: its id and ARN.
async fn active_store(emulator: &Emulator, client: &Client, name: &str) -> (String, String) {
    let id = create(client, name, &[]).await;
    let store = emulator.settle(client, &id, "ACTIVE").await;
    (id, store.datastore_arn().to_owned())
}

#[tokio::test]
async fn an_update_is_updating_until_the_clock_passes_the_delay_then_active_with_its_changes() {
    use aws_sdk_healthlake::types::{AnalyticsConfiguration, AnalyticsStatus};
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let (id, _) = active_store(&emulator, &client, "before").await;

    let output = client
        .update_fhir_datastore()
        .datastore_id(&id)
        .datastore_name("after")
        .analytics_configuration(
            AnalyticsConfiguration::builder()
                .status(AnalyticsStatus::Enabling)
                .build(),
        )
        .send()
        .await
        .expect("update");
    let answered = output.datastore_properties().expect("DatastoreProperties");
    assert_eq!(answered.datastore_id(), id);
    assert_eq!(answered.datastore_status(), &DatastoreStatus::Updating);
    assert_eq!(answered.datastore_name(), Some("after"));
    let shown = describe_store(&client, &id).await;
    assert_eq!(shown.datastore_status(), &DatastoreStatus::Updating);
    assert_eq!(
        list_all(&client, None).await[0].datastore_status(),
        &DatastoreStatus::Updating
    );

    let (code, message) = refusal(
        client
            .update_fhir_datastore()
            .datastore_id(&id)
            .datastore_name("again")
            .send()
            .await,
    );
    assert_eq!(code, "ConflictException", "{message}");
    assert!(message.contains("UPDATING"), "{message}");
    let (code, _) = refusal(
        client
            .delete_fhir_datastore()
            .datastore_id(&id)
            .send()
            .await,
    );
    assert_eq!(code, "ConflictException");

    let settled = emulator.settle(&client, &id, "ACTIVE").await;
    assert_eq!(settled.datastore_name(), Some("after"));
    assert_eq!(
        settled.analytics_configuration().and_then(|a| a.status()),
        Some(&AnalyticsStatus::Enabling)
    );
    assert!(settled.error_cause().is_none());
    let by_name = list_all(
        &client,
        Some(DatastoreFilter::builder().datastore_name("after").build()),
    )
    .await;
    assert_eq!(ids(&by_name), vec![id.as_str()]);
    assert_eq!(by_name[0].datastore_status(), &DatastoreStatus::Active);
}

#[tokio::test]
async fn the_outcome_tag_read_at_update_time_makes_the_update_fail_with_its_error_cause() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let (id, arn) = active_store(&emulator, &client, "reindexed").await;
    const MESSAGE: &str = "The data store could not be reindexed: kms:Decrypt was denied";

    client
        .tag_resource()
        .resource_arn(&arn)
        .tags(tag(
            OUTCOME_TAG,
            &format!("UPDATE_FAILED:NON_RETRYABLE_ERROR:{MESSAGE}"),
        ))
        .send()
        .await
        .expect("tag an ACTIVE store");
    assert_eq!(
        describe_store(&client, &id).await.datastore_status(),
        &DatastoreStatus::Active,
        "tagging alone changes nothing"
    );
    let output = client
        .update_fhir_datastore()
        .datastore_id(&id)
        .datastore_name("reindexed-v2")
        .send()
        .await
        .expect("update");
    assert_eq!(
        output.datastore_properties().map(|p| p.datastore_status()),
        Some(&DatastoreStatus::Updating)
    );

    let failed = emulator.settle(&client, &id, "UPDATE_FAILED").await;
    let cause = failed.error_cause().expect("ErrorCause");
    assert_eq!(cause.error_message(), Some(MESSAGE));
    assert_eq!(
        cause.error_category(),
        Some(&ErrorCategory::NonRetryableError)
    );
    let listed = list_all(&client, None).await;
    assert_eq!(listed[0].datastore_status(), &DatastoreStatus::UpdateFailed);
    assert_eq!(listed[0].error_cause(), Some(cause));

    // Without the tag, the update is retried and succeeds.
    client
        .untag_resource()
        .resource_arn(&arn)
        .tag_keys(OUTCOME_TAG)
        .send()
        .await
        .expect("untag");
    client
        .update_fhir_datastore()
        .datastore_id(&id)
        .send()
        .await
        .expect("an UPDATE_FAILED store can be updated again");
    let recovered = emulator.settle(&client, &id, "ACTIVE").await;
    assert!(recovered.error_cause().is_none());

    // A malformed outcome is refused when it is tagged.
    let (code, message) = refusal(
        client
            .tag_resource()
            .resource_arn(&arn)
            .tags(tag(OUTCOME_TAG, "UPDATE_FAILED:SOMETIMES:x"))
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert!(message.contains(OUTCOME_TAG), "{message}");
}

#[tokio::test]
async fn only_active_or_update_failed_stores_can_be_updated() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let update = |id: &str| client.update_fhir_datastore().datastore_id(id).send();

    let creating = create(&client, "creating", &[]).await;
    let (code, message) = refusal(update(&creating).await);
    assert_eq!(code, "ConflictException");
    assert!(message.contains("CREATING"), "{message}");

    let doomed = create(
        &client,
        "doomed",
        &[tag(OUTCOME_TAG, "CREATE_FAILED:NON_RETRYABLE_ERROR:no key")],
    )
    .await;
    emulator.settle(&client, &doomed, "CREATE_FAILED").await;
    let (code, message) = refusal(update(&doomed).await);
    assert_eq!(code, "ConflictException");
    assert!(message.contains("CREATE_FAILED"), "{message}");

    client
        .delete_fhir_datastore()
        .datastore_id(&creating)
        .send()
        .await
        .expect("delete an ACTIVE store");
    assert_eq!(refusal(update(&creating).await).0, "ConflictException");
    emulator.settle(&client, &creating, "DELETED").await;
    assert_eq!(refusal(update(&creating).await).0, "ConflictException");

    assert_eq!(
        refusal(update(&"0".repeat(32)).await).0,
        "ResourceNotFoundException"
    );
    assert_invalid(refusal(update("a#b").await), "datastoreId", "pattern");
    let (status, _, body) = emulator
        .raw(Some("HealthLake.UpdateFHIRDatastore"), TESTING, "{}")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "ValidationException");
    assert_eq!(
        body["message"],
        "1 validation error detected: Value null at 'datastoreId' failed to satisfy constraint: Member must not be null"
    );
}

#[tokio::test]
async fn ids_names_and_arns_of_a_shape_the_model_refuses_are_validation_errors() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    assert_invalid(
        refusal(
            client
                .describe_fhir_datastore()
                .datastore_id("a#b")
                .send()
                .await,
        ),
        "datastoreId",
        r"satisfy regular expression pattern: ([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)",
    );
    assert_invalid(
        refusal(
            client
                .delete_fhir_datastore()
                .datastore_id("x".repeat(33))
                .send()
                .await,
        ),
        "datastoreId",
        "Member must have length less than or equal to 32",
    );
    let (code, message) = refusal(
        client
            .create_fhir_datastore()
            .datastore_type_version(FhirVersion::R4)
            .datastore_name("claims (2024)")
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert_eq!(
        message,
        r"1 validation error detected: Value 'claims (2024)' at 'datastoreName' failed to satisfy constraint: Member must satisfy regular expression pattern: ([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)"
    );
    for arn in [
        format!("arn:aws:healthlake:us-east-1:{ACCOUNT}:datastore/fhir/short"),
        format!("arn:aws:s3:::bucket/{}", "0".repeat(32)),
        format!(
            "arn:aws:healthlake:us-east-1:12345:datastore/fhir/{}",
            "0".repeat(32)
        ),
    ] {
        assert_invalid(
            refusal(
                client
                    .list_tags_for_resource()
                    .resource_arn(&arn)
                    .send()
                    .await,
            ),
            "resourceARN",
            "pattern",
        );
    }
    assert_eq!(list_all(&client, None).await.len(), 0);
}

#[tokio::test]
async fn client_tokens_follow_the_model_pattern() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    assert_invalid(
        refusal(
            client
                .create_fhir_datastore()
                .datastore_type_version(FhirVersion::R4)
                .client_token("retry_1")
                .send()
                .await,
        ),
        "clientToken",
        "[a-zA-Z0-9-]+",
    );
    client
        .create_fhir_datastore()
        .datastore_type_version(FhirVersion::R4)
        .client_token("retry-1")
        .send()
        .await
        .expect("a token of letters, digits and dashes");
}

#[tokio::test]
async fn nested_enums_are_checked_member_by_member() {
    use aws_sdk_healthlake::types::{
        AnalyticsConfiguration, AnalyticsStatus, AuthorizationStrategy, BackupConfiguration,
        BackupStatus, BackupType, CmkType, IdentityProviderConfiguration, KmsEncryptionConfig,
        NlpConfiguration, NlpStatus, PreloadDataConfig, PreloadDataType, SseConfiguration,
    };
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let create = || {
        client
            .create_fhir_datastore()
            .datastore_type_version(FhirVersion::R4)
    };
    assert_invalid(
        refusal(
            create()
                .sse_configuration(
                    SseConfiguration::builder()
                        .kms_encryption_config(
                            KmsEncryptionConfig::builder()
                                .cmk_type(CmkType::from("MY_KEY"))
                                .build()
                                .expect("config"),
                        )
                        .build(),
                )
                .send()
                .await,
        ),
        "sseConfiguration.kmsEncryptionConfig.cmkType",
        "[CUSTOMER_MANAGED_KMS_KEY, AWS_OWNED_KMS_KEY]",
    );
    assert_invalid(
        refusal(
            create()
                .preload_data_config(
                    PreloadDataConfig::builder()
                        .preload_data_type(PreloadDataType::from("MIMIC"))
                        .build()
                        .expect("config"),
                )
                .send()
                .await,
        ),
        "preloadDataConfig.preloadDataType",
        "[SYNTHEA]",
    );
    assert_invalid(
        refusal(
            create()
                .identity_provider_configuration(
                    IdentityProviderConfiguration::builder()
                        .authorization_strategy(AuthorizationStrategy::from("OAUTH"))
                        .build()
                        .expect("config"),
                )
                .send()
                .await,
        ),
        "identityProviderConfiguration.authorizationStrategy",
        "[SMART_ON_FHIR_V1, SMART_ON_FHIR, AWS_AUTH]",
    );
    assert_invalid(
        refusal(
            create()
                .analytics_configuration(
                    AnalyticsConfiguration::builder()
                        .status(AnalyticsStatus::from("ON"))
                        .build(),
                )
                .send()
                .await,
        ),
        "analyticsConfiguration.status",
        "PAUSED",
    );
    assert_invalid(
        refusal(
            create()
                .nlp_configuration(
                    NlpConfiguration::builder()
                        .status(NlpStatus::from("ON"))
                        .build(),
                )
                .send()
                .await,
        ),
        "nlpConfiguration.status",
        "[ENABLED, ENABLING, DISABLED, DISABLING]",
    );
    assert_invalid(
        refusal(
            create()
                .backup_configuration(
                    BackupConfiguration::builder()
                        .status(BackupStatus::from("ON"))
                        .build(),
                )
                .send()
                .await,
        ),
        "backupConfiguration.status",
        "[ENABLED, DISABLED]",
    );
    let (id, _) = active_store(&emulator, &client, "kept").await;
    assert_invalid(
        refusal(
            client
                .update_fhir_datastore()
                .datastore_id(&id)
                .backup_configuration(
                    BackupConfiguration::builder()
                        .backup_type(BackupType::from("SNAPSHOT"))
                        .build(),
                )
                .send()
                .await,
        ),
        "backupConfiguration.backupType",
        "[CONTINUOUS]",
    );
    assert_eq!(list_all(&client, None).await.len(), 1);
    assert_eq!(
        describe_store(&client, &id).await.datastore_status(),
        &DatastoreStatus::Active,
        "a refused update changes nothing"
    );
}

#[tokio::test]
async fn key_ids_lambda_arns_and_retention_are_held_to_their_lengths_and_ranges() {
    use aws_sdk_healthlake::types::{
        AuthorizationStrategy, BackupConfiguration, CmkType, IdentityProviderConfiguration,
        KmsEncryptionConfig, SseConfiguration,
    };
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let with_key = |key: String| {
        client
            .create_fhir_datastore()
            .datastore_type_version(FhirVersion::R4)
            .sse_configuration(
                SseConfiguration::builder()
                    .kms_encryption_config(
                        KmsEncryptionConfig::builder()
                            .cmk_type(CmkType::CmCmk)
                            .kms_key_id(key)
                            .build()
                            .expect("config"),
                    )
                    .build(),
            )
            .send()
    };
    assert_invalid(
        refusal(with_key("k".repeat(401)).await),
        "sseConfiguration.kmsEncryptionConfig.kmsKeyId",
        "Member must have length less than or equal to 400",
    );
    assert_invalid(
        refusal(with_key("key/not a key".into()).await),
        "sseConfiguration.kmsEncryptionConfig.kmsKeyId",
        "pattern",
    );
    with_key(format!(
        "arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    ))
    .await
    .expect("a key ARN");

    let (id, _) = active_store(&emulator, &client, "smart").await;
    let with_lambda = |arn: &str| {
        client
            .update_fhir_datastore()
            .datastore_id(&id)
            .identity_provider_configuration(
                IdentityProviderConfiguration::builder()
                    .authorization_strategy(AuthorizationStrategy::SmartOnFhir)
                    .idp_lambda_arn(arn)
                    .build()
                    .expect("config"),
            )
            .send()
    };
    assert_invalid(
        refusal(with_lambda("arn:aws:lambda:us-east-1:1:function:f").await),
        "identityProviderConfiguration.idpLambdaArn",
        "Member must have length greater than or equal to 49",
    );
    assert_invalid(
        refusal(
            with_lambda(&format!(
                "arn:aws:lambda:us-east-1:{ACCOUNT}:layer:token-decoder-function"
            ))
            .await,
        ),
        "identityProviderConfiguration.idpLambdaArn",
        "pattern",
    );
    for days in [0, 31] {
        assert_invalid(
            refusal(
                client
                    .update_fhir_datastore()
                    .datastore_id(&id)
                    .backup_configuration(
                        BackupConfiguration::builder()
                            .retention_period_in_days(days)
                            .build(),
                    )
                    .send()
                    .await,
            ),
            "backupConfiguration.retentionPeriodInDays",
            &format!("Value '{days}'"),
        );
    }
    let updated = with_lambda(&format!(
        "arn:aws:lambda:us-east-1:{ACCOUNT}:function:token-decoder:$LATEST"
    ))
    .await
    .expect("a function ARN");
    assert_eq!(
        updated
            .datastore_properties()
            .and_then(|p| p.identity_provider_configuration())
            .map(|c| c.authorization_strategy()),
        Some(&AuthorizationStrategy::SmartOnFhir)
    );
}

#[tokio::test]
async fn tags_follow_the_model_and_a_store_holds_up_to_two_hundred() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let many = |count: usize| {
        (0..count)
            .map(|i| tag(&format!("key-{i}"), "v"))
            .collect::<Vec<_>>()
    };
    let id = create(&client, "many", &many(200)).await;
    let arn = describe_store(&client, &id)
        .await
        .datastore_arn()
        .to_owned();
    let tags = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("list tags");
    assert_eq!(tags.tags().len(), 200);

    let (code, message) = refusal(
        client
            .create_fhir_datastore()
            .datastore_type_version(FhirVersion::R4)
            .set_tags(Some(many(201)))
            .send()
            .await,
    );
    assert_eq!(code, "ValidationException");
    assert!(
        message.contains("at 'tags' failed to satisfy constraint: Member must have length less than or equal to 200"),
        "{message}"
    );

    let tag_one = |key: &str, value: &str| {
        client
            .tag_resource()
            .resource_arn(&arn)
            .tags(tag(key, value))
            .send()
    };
    assert_invalid(
        refusal(tag_one("team#1", "x").await),
        "tags.1.member.key",
        "pattern",
    );
    assert_invalid(
        refusal(tag_one(&"k".repeat(129), "x").await),
        "tags.1.member.key",
        "less than or equal to 128",
    );
    assert_invalid(
        refusal(tag_one("team", "a,b").await),
        "tags.1.member.value",
        "pattern",
    );
    assert_invalid(
        refusal(tag_one("AWS:cloudformation:stack-name", "x").await),
        "tags.1.member.key",
        "aws:",
    );
    let (code, message) = refusal(tag_one("one-too-many", "x").await);
    assert_eq!(code, "ValidationException", "{message}");
    assert!(message.contains("200"), "{message}");
    tag_one("key-0", "replaced")
        .await
        .expect("replacing a tag adds none");

    let untag = |keys: Vec<String>| {
        client
            .untag_resource()
            .resource_arn(&arn)
            .set_tag_keys(Some(keys))
            .send()
    };
    assert_invalid(
        refusal(untag(vec!["key-1".into(), "bad#key".into()]).await),
        "tagKeys.2.member",
        "pattern",
    );
    assert_invalid(
        refusal(untag((0..201).map(|i| format!("key-{i}")).collect()).await),
        "tagKeys",
        "less than or equal to 200",
    );
    assert_invalid(
        refusal(untag(vec!["aws:x".into()]).await),
        "tagKeys.1.member",
        "aws:",
    );
    let tags = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect("list tags");
    assert_eq!(tags.tags().len(), 200, "refused calls change nothing");
}

#[tokio::test]
async fn required_members_the_sdk_always_sends_are_named_when_missing() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let (_, arn) = active_store(&emulator, &client, "raw").await;
    for (target, body, expected) in [
        (
            "CreateFHIRDatastore",
            json!({"DatastoreTypeVersion": "R4", "SseConfiguration": {}}),
            "Value null at 'sseConfiguration.kmsEncryptionConfig' failed to satisfy constraint: Member must not be null",
        ),
        (
            "CreateFHIRDatastore",
            json!({"DatastoreTypeVersion": "R4", "PreloadDataConfig": {}}),
            "Value null at 'preloadDataConfig.preloadDataType'",
        ),
        (
            "TagResource",
            json!({"ResourceARN": arn, "Tags": [{"Key": "team"}]}),
            "Value null at 'tags.1.member.value'",
        ),
        (
            "TagResource",
            json!({"ResourceARN": arn}),
            "Value null at 'tags'",
        ),
        (
            "UntagResource",
            json!({"ResourceARN": arn}),
            "Value null at 'tagKeys'",
        ),
    ] {
        let (status, _, answer) = emulator
            .raw(
                Some(&format!("HealthLake.{target}")),
                TESTING,
                &body.to_string(),
            )
            .await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["__type"], "ValidationException", "{answer}");
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{expected:?} not in {message}");
    }
}

#[tokio::test]
async fn a_backup_configuration_is_kept_and_shown_as_backup_status_info() {
    use aws_sdk_healthlake::types::{BackupConfiguration, BackupStatus, BackupType};
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let id = client
        .create_fhir_datastore()
        .datastore_type_version(FhirVersion::R4)
        .backup_configuration(
            BackupConfiguration::builder()
                .status(BackupStatus::Enabled)
                .backup_type(BackupType::Continuous)
                .retention_period_in_days(7)
                .backup_tags_enabled(true)
                .build(),
        )
        .send()
        .await
        .expect("create with backups")
        .datastore_id()
        .to_owned();
    let store = emulator.settle(&client, &id, "ACTIVE").await;
    let info = store.backup_status_info().expect("BackupStatusInfo");
    let configuration = info.configuration().expect("Configuration");
    assert_eq!(configuration.status(), Some(&BackupStatus::Enabled));
    assert_eq!(configuration.backup_type(), Some(&BackupType::Continuous));
    assert_eq!(configuration.retention_period_in_days(), Some(7));
    assert!(configuration.backup_tags_enabled());
    assert_eq!(info.backup_enabled_at(), store.created_at());

    client
        .update_fhir_datastore()
        .datastore_id(&id)
        .backup_configuration(
            BackupConfiguration::builder()
                .status(BackupStatus::Disabled)
                .build(),
        )
        .send()
        .await
        .expect("turn backups off");
    let listed = list_all(&client, None).await;
    let info = listed[0].backup_status_info().expect("BackupStatusInfo");
    assert_eq!(
        info.configuration().and_then(|c| c.status()),
        Some(&BackupStatus::Disabled)
    );
    assert_eq!(info.backup_enabled_at(), None);
    assert!(
        describe_store(&client, &create(&client, "plain", &[]).await)
            .await
            .backup_status_info()
            .is_none(),
        "a store created without one shows none"
    );
}

/// A loopback HTTP receiver that answers every request 200 and keeps the
/// JSON bodies, in order: the stand-in of an EventBridge rule's target.
async fn event_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("address"));
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = received.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0u8; 8192];
            loop {
                let n = socket.read(&mut buffer).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        if let Ok(event) = serde_json::from_str(&body[..length]) {
                            kept.lock().expect("events").push(event);
                        }
                        break;
                    }
                }
            }
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                .await;
        }
    });
    (url, received)
}

/// Waits until `count` events were received, or a minute passed.
async fn wait_for_events(received: &std::sync::Mutex<Vec<Value>>, count: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let events = received.lock().expect("events").clone();
        if events.len() >= count || tokio::time::Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn the_emulator_posts_the_events_healthlake_emits_and_none_for_updates() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let (before, _) = active_store(&emulator, &client, "before").await;
    let (url, received) = event_receiver().await;
    let (status, shown) = emulator.post("events", json!({ "Url": url })).await;
    assert_eq!((status, &shown["Url"]), (200, &json!(url)), "{shown}");

    // A store that existed before the URL was set is not announced; from now
    // on every documented change is, in order.
    let failing = create(
        &client,
        "failing",
        &[Tag::builder()
            .key("emulator:outcome")
            .value("CREATE_FAILED:NON_RETRYABLE_ERROR:KMS key is disabled")
            .build()
            .expect("tag")],
    )
    .await;
    let events = wait_for_events(&received, 1).await;
    emulator.settle(&client, &failing, "CREATE_FAILED").await;
    let events_after_failure = wait_for_events(&received, 2).await;
    client
        .update_fhir_datastore()
        .datastore_id(&before)
        .datastore_name("after")
        .send()
        .await
        .expect("update");
    emulator.settle(&client, &before, "ACTIVE").await;
    client
        .delete_fhir_datastore()
        .datastore_id(&failing)
        .send()
        .await
        .expect("delete");
    emulator.settle(&client, &failing, "DELETED").await;
    let all = wait_for_events(&received, 4).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events_after_failure.len(), 2);
    let seen: Vec<(&str, &str)> = all
        .iter()
        .map(|e| {
            (
                e["detail-type"].as_str().unwrap_or_default(),
                e["detail"]["datastoreId"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("Data Store Creating", failing.as_str()),
            ("Data Store Creation Failed", failing.as_str()),
            ("Data Store Deleting", failing.as_str()),
            ("Data Store Deleted", failing.as_str()),
        ],
        "{all:#?}"
    );
    let first = &all[1];
    assert_eq!(first["source"], "aws.healthlake");
    assert_eq!(first["account"], ACCOUNT);
    assert_eq!(first["region"], "us-east-1");
    assert_eq!(first["detail"]["datastoreName"], "failing");
    assert_eq!(first["detail"]["datastoreTypeVersion"], "R4");
    assert!(first["detail"].get("datastoreStatus").is_none(), "{first}");
    assert!(first["detail"].get("errorCause").is_none(), "{first}");
    assert!(
        first["resources"][0]
            .as_str()
            .is_some_and(|arn| arn.ends_with(&format!("datastore/fhir/{failing}"))),
        "{first}"
    );
    let (_, log) = emulator.admin(reqwest::Method::GET, "events", None).await;
    let posted = log["Events"].as_array().expect("Events");
    assert_eq!(posted.len(), 4, "{log}");
    assert!(posted.iter().all(|p| p["Status"] == 200), "{log}");
}

// Lifecycle and paging: retention of deleted stores, opaque page tokens,
// client tokens, tags of deleted stores and the quota of data stores.

impl Emulator {
    /// An emulator with `config` (see `integration_tests::emulator::Emulator::config`).
    async fn start_with(config: healthlake_emulator::EmulatorConfig) -> Emulator {
        let emulator = integration_tests::emulator::Emulator::start_with(config)
            .await
            .expect("emulator starts");
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("http client");
        Emulator { emulator, http }
    }

    /// Moves the emulator's clock `seconds` forward.
    async fn advance(&self, seconds: u64) {
        let (status, clock) = self
            .post("clock", json!({ "AdvanceSeconds": seconds }))
            .await;
        assert_eq!(status, 200, "{clock}");
    }
}

/// Seconds of emulator time left around a retention, expiry or lifetime, for
/// the wall time a test takes between its calls: a test asserts a minute
/// before and at the end, never a second before.
const MARGIN: u64 = 60;

/// The code and message of a service error of the SDK.
fn code_and_message<E>(err: aws_sdk_healthlake::error::SdkError<E>) -> (String, String)
where
    E: aws_sdk_healthlake::error::ProvideErrorMetadata + std::fmt::Debug,
{
    use aws_sdk_healthlake::error::ProvideErrorMetadata as _;
    let message = err.message().unwrap_or_default().to_owned();
    let code = err.code().map(str::to_owned);
    (
        code.unwrap_or_else(|| format!("not a service error: {err:?}")),
        message,
    )
}

/// A page of the listing: its ids and its NextToken.
async fn page(
    client: &Client,
    filter: Option<DatastoreFilter>,
    max_results: i32,
    token: Option<&str>,
) -> Result<(Vec<String>, Option<String>), (String, String)> {
    let output = client
        .list_fhir_datastores()
        .set_filter(filter)
        .max_results(max_results)
        .set_next_token(token.map(str::to_owned))
        .send()
        .await
        .map_err(code_and_message)?;
    Ok((
        ids(output.datastore_properties_list())
            .into_iter()
            .map(str::to_owned)
            .collect(),
        output.next_token().map(str::to_owned),
    ))
}

fn active_only() -> Option<DatastoreFilter> {
    Some(
        DatastoreFilter::builder()
            .datastore_status(DatastoreStatus::Active)
            .build(),
    )
}

#[tokio::test]
async fn a_deleted_store_is_gone_once_its_retention_has_passed() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let id = create(&client, "short-lived", &[]).await;
    let kept = create(&client, "kept", &[]).await;
    emulator.settle(&client, &id, "ACTIVE").await;
    client
        .delete_fhir_datastore()
        .datastore_id(&id)
        .send()
        .await
        .expect("delete");
    let deleted = emulator.settle(&client, &id, "DELETED").await;
    let arn = deleted.datastore_arn().to_owned();
    // The settle moved the clock a whole transition past the deletion.
    let retention = healthlake_emulator::DEFAULT_DELETED_RETENTION.as_secs();
    assert_eq!(retention, 7 * 24 * 3600, "the seven days AWS documents");

    // A margin for the wall time the test itself takes.
    emulator.advance(retention - MARGIN).await;
    assert_eq!(
        ids(&list_all(&client, None).await),
        vec![id.as_str(), kept.as_str()],
        "still listed a minute before the retention ends"
    );
    assert_eq!(
        describe_store(&client, &id).await.datastore_status(),
        &DatastoreStatus::Deleted
    );

    emulator.advance(MARGIN).await;
    assert_eq!(ids(&list_all(&client, None).await), vec![kept.as_str()]);
    let err = client
        .describe_fhir_datastore()
        .datastore_id(&id)
        .send()
        .await
        .expect_err("a store past its retention");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = client
        .delete_fhir_datastore()
        .datastore_id(&id)
        .send()
        .await
        .expect_err("a store past its retention");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect_err("a store past its retention");
    assert!(err.into_service_error().is_resource_not_found_exception());
    let (status, answer) = emulator.admin(reqwest::Method::GET, "accounts", None).await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer.to_string().contains("\"us-east-1\":1"),
        "only the kept store is counted: {answer}"
    );
}

#[tokio::test]
async fn page_tokens_are_opaque_and_bound_to_the_filter_and_page_size_of_their_listing() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let mut created = Vec::new();
    for i in 0..3 {
        created.push(create(&client, &format!("store-{i}"), &[]).await);
    }
    emulator.settle(&client, &created[0], "ACTIVE").await;

    let (first, token) = page(&client, None, 1, None).await.expect("first page");
    assert_eq!(first, vec![created[0].clone()]);
    let token = token.expect("a NextToken");
    let hex_of_id: String = created[0].bytes().map(|b| format!("{b:02x}")).collect();
    assert!(
        !token.contains(&created[0]) && !token.contains(&hex_of_id),
        "the token does not show the store it follows: {token}"
    );

    let (code, message) = page(&client, None, 2, Some(&token)).await.unwrap_err();
    assert_eq!(code, "ValidationException");
    assert!(message.contains("MaxResults"), "{message}");
    let (code, message) = page(&client, active_only(), 1, Some(&token))
        .await
        .unwrap_err();
    assert_eq!(code, "ValidationException");
    assert!(message.contains("Filter"), "{message}");

    // One character changed: refused, whichever it is.
    for at in [0, token.len() / 2, token.len() - 1] {
        let mut tampered = token.clone().into_bytes();
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ASCII");
        let (code, message) = page(&client, None, 1, Some(&tampered)).await.unwrap_err();
        assert_eq!(code, "ValidationException");
        assert!(message.contains("NextToken"), "{message}");
    }
    // The form of the emulator's earlier tokens: the hex of the sort key.
    let old: String = format!("0/{}", created[0])
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (code, _) = page(&client, None, 1, Some(&old)).await.unwrap_err();
    assert_eq!(code, "ValidationException");

    // A token of another emulator (another secret) is refused too.
    let other = Emulator::start().await;
    let other_client = other.client("us-east-1");
    let (code, message) = page(&other_client, None, 1, Some(&token))
        .await
        .unwrap_err();
    assert_eq!(code, "ValidationException", "{message}");

    // Between pages a store is created and the next one deleted: the
    // listing goes on after the last store it showed.
    let late = create(&client, "late", &[]).await;
    client
        .delete_fhir_datastore()
        .datastore_id(&created[1])
        .send()
        .await
        .expect("delete");
    let (second, token) = page(&client, None, 1, Some(&token)).await.expect("page 2");
    assert_eq!(second, vec![created[1].clone()], "DELETING is still listed");
    let (third, token) = page(&client, None, 1, token.as_deref())
        .await
        .expect("page 3");
    assert_eq!(third, vec![created[2].clone()]);
    let (fourth, token) = page(&client, None, 1, token.as_deref())
        .await
        .expect("page 4");
    assert_eq!((fourth, token), (vec![late], None));

    // Filtered listings page with tokens of their own filter.
    let (active, token) = page(&client, active_only(), 1, None).await.expect("active");
    assert_eq!(active, vec![created[0].clone()]);
    let (rest, end) = page(&client, active_only(), 1, token.as_deref())
        .await
        .expect("active, page 2");
    assert_eq!((rest, end), (vec![created[2].clone()], None));
}

#[tokio::test]
async fn a_page_token_expires_after_its_lifetime() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    for i in 0..3 {
        create(&client, &format!("store-{i}"), &[]).await;
    }
    let lifetime = healthlake_emulator::DEFAULT_PAGE_TOKEN_LIFETIME.as_secs();
    let (_, token) = page(&client, None, 1, None).await.expect("first page");
    let token = token.expect("a NextToken");
    emulator.advance(lifetime - MARGIN).await;
    let (_, next) = page(&client, None, 1, Some(&token))
        .await
        .expect("valid until its lifetime has passed");
    emulator.advance(MARGIN).await;
    let (code, message) = page(&client, None, 1, Some(&token)).await.unwrap_err();
    assert_eq!(code, "ValidationException");
    assert!(message.contains("expired"), "{message}");
    let next = next.expect("a third page");
    page(&client, None, 1, Some(&next))
        .await
        .expect("a token issued later expires later");
}

#[tokio::test]
async fn list_filters_are_validated_as_the_model_says() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let named = |name: &str| {
        Some(
            DatastoreFilter::builder()
                .datastore_name(name.to_owned())
                .build(),
        )
    };
    for name in ["a#b", "tab\there", &"n".repeat(257), ""] {
        let (code, message) = page(&client, named(name), 10, None).await.unwrap_err();
        assert_eq!(code, "ValidationException", "{name:?}: {message}");
        assert!(
            message.contains("filter.datastoreName"),
            "{name:?}: {message}"
        );
    }
    for name in ["store one", "é:ü/2=+%@", &"n".repeat(256)] {
        page(&client, named(name), 10, None)
            .await
            .unwrap_or_else(|err| panic!("{name:?}: {err:?}"));
    }
    let list = Some("HealthLake.ListFHIRDatastores");
    for (body, member) in [
        (
            r#"{"Filter": {"DatastoreStatus": "ARCHIVED"}}"#,
            "datastoreStatus",
        ),
        (r#"{"Filter": {"CreatedAfter": 1e300}}"#, "createdAfter"),
        (r#"{"Filter": {"CreatedBefore": -1e300}}"#, "createdBefore"),
        (r#"{"MaxResults": 0}"#, "maxResults"),
        (r#"{"NextToken": "é"}"#, "nextToken"),
    ] {
        let (status, _, answer) = emulator.raw(list, TESTING, body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["__type"], "ValidationException", "{body}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap_or_default()
                .contains(member),
            "{body}: {answer}"
        );
    }
}

#[tokio::test]
async fn a_client_token_reused_with_other_parameters_is_refused_until_it_expires() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let create_with = |name: &'static str| {
        client
            .create_fhir_datastore()
            .datastore_name(name)
            .datastore_type_version(FhirVersion::R4)
            .client_token("token-1")
            .send()
    };
    let first = create_with("patients").await.expect("create");
    let again = create_with("patients").await.expect("a retry");
    assert_eq!(again.datastore_id(), first.datastore_id());

    let (code, message) = code_and_message(create_with("claims").await.unwrap_err());
    assert_eq!(code, "ValidationException");
    assert!(
        message.contains("ClientToken") && message.contains("token-1"),
        "{message}"
    );
    let tagged = client
        .create_fhir_datastore()
        .datastore_name("patients")
        .datastore_type_version(FhirVersion::R4)
        .client_token("token-1")
        .tags(tag("team", "data"))
        .send()
        .await
        .expect_err("other tags are other parameters");
    assert!(tagged.into_service_error().is_validation_exception());
    assert_eq!(list_all(&client, None).await.len(), 1);

    // Once the token is forgotten, it creates a new store.
    let lifetime = healthlake_emulator::DEFAULT_CLIENT_TOKEN_LIFETIME.as_secs();
    emulator.advance(lifetime - MARGIN).await;
    let (code, _) = code_and_message(create_with("claims").await.unwrap_err());
    assert_eq!(
        code, "ValidationException",
        "remembered until its lifetime has passed"
    );
    emulator.advance(MARGIN).await;
    let later = create_with("claims").await.expect("a forgotten token");
    assert_ne!(later.datastore_id(), first.datastore_id());
    assert_eq!(list_all(&client, None).await.len(), 2);
}

#[tokio::test]
async fn tags_of_a_store_being_deleted_or_deleted_are_not_found() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let id = create(&client, "tagged", &[tag("team", "data")]).await;
    let arn = emulator
        .settle(&client, &id, "ACTIVE")
        .await
        .datastore_arn()
        .to_owned();
    client
        .delete_fhir_datastore()
        .datastore_id(&id)
        .send()
        .await
        .expect("delete");
    for status in ["DELETING", "DELETED"] {
        let err = client
            .tag_resource()
            .resource_arn(&arn)
            .tags(tag("env", "test"))
            .send()
            .await
            .expect_err("tagging a deleted store");
        let err = err.into_service_error();
        assert!(err.is_resource_not_found_exception(), "{status}: {err:?}");
        assert!(
            err.meta().message().unwrap_or_default().contains(status),
            "{status}: {err:?}"
        );
        let err = client
            .untag_resource()
            .resource_arn(&arn)
            .tag_keys("team")
            .send()
            .await
            .expect_err("untagging a deleted store");
        assert!(err.into_service_error().is_resource_not_found_exception());
        let err = client
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .expect_err("listing the tags of a deleted store");
        assert!(err.into_service_error().is_resource_not_found_exception());
        if status == "DELETING" {
            emulator.settle(&client, &id, "DELETED").await;
        }
    }
}

#[tokio::test]
async fn past_the_quota_a_create_is_refused_until_a_store_is_deleted() {
    let emulator = Emulator::start_with(integration_tests::emulator::Emulator::config()).await;
    let client = emulator.client("us-east-1");
    let quota = healthlake_emulator::DEFAULT_MAX_DATASTORES;
    assert_eq!(quota, 10, "HealthLake's documented default");
    let mut created = Vec::new();
    for i in 0..quota {
        created.push(create(&client, &format!("store-{i}"), &[]).await);
    }
    let over = || {
        client
            .create_fhir_datastore()
            .datastore_name("one-too-many")
            .datastore_type_version(FhirVersion::R4)
            .send()
    };
    let (code, message) = code_and_message(over().await.unwrap_err());
    assert_eq!(code, "ValidationException");
    assert!(
        message.contains("quota") && message.contains("10"),
        "{message}"
    );

    // Another region and another account have quotas of their own.
    create(&emulator.client("us-west-2"), "west", &[]).await;
    let other = emulator
        .emulator
        .assumed_client("us-east-1", &role_arn(OTHER, "Creator"), None)
        .await;
    create(&other, "other-account", &[]).await;
    // The admin route is not held to it.
    let (status, answer) = emulator
        .post(
            "datastores",
            json!({"Region": "us-east-1", "DatastoreTypeVersion": "R4"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");

    // A store being deleted still counts; once DELETED it does not.
    emulator.settle(&client, &created[0], "ACTIVE").await;
    client
        .delete_fhir_datastore()
        .datastore_id(&created[0])
        .send()
        .await
        .expect("delete");
    let (code, _) = code_and_message(over().await.unwrap_err());
    assert_eq!(code, "ValidationException", "DELETING still counts");
    emulator.settle(&client, &created[0], "DELETED").await;
    let (code, _) = code_and_message(over().await.unwrap_err());
    assert_eq!(code, "ValidationException", "the admin store counts");
    emulator.settle(&client, &created[1], "ACTIVE").await;
    for id in &created[1..3] {
        client
            .delete_fhir_datastore()
            .datastore_id(id)
            .send()
            .await
            .expect("delete");
    }
    emulator.settle(&client, &created[1], "DELETED").await;
    over()
        .await
        .expect("room for one once two more are DELETED");
}

#[tokio::test]
async fn malformed_json_and_members_of_the_wrong_type_are_serialization_exceptions() {
    let emulator = Emulator::start().await;
    let id = "0".repeat(32);
    for (target, body) in [
        ("HealthLake.ListFHIRDatastores", "{not json".to_owned()),
        ("HealthLake.ListFHIRDatastores", "[]".to_owned()),
        (
            "HealthLake.ListFHIRDatastores",
            r#"{"MaxResults": "ten"}"#.to_owned(),
        ),
        (
            "HealthLake.ListFHIRDatastores",
            r#"{"MaxResults": 1.5}"#.to_owned(),
        ),
        (
            "HealthLake.ListFHIRDatastores",
            r#"{"Filter": "ACTIVE"}"#.to_owned(),
        ),
        (
            "HealthLake.DescribeFHIRDatastore",
            r#"{"DatastoreId": 7}"#.to_owned(),
        ),
        (
            "HealthLake.CreateFHIRDatastore",
            r#"{"DatastoreTypeVersion": "R4", "Tags": {"Key": "a"}}"#.to_owned(),
        ),
        (
            "HealthLake.DeleteFHIRDatastore",
            format!(r#"{{"DatastoreId": ["{id}"]}}"#),
        ),
    ] {
        let (status, content_type, answer) = emulator.raw(Some(target), TESTING, &body).await;
        assert_eq!(
            (status, answer["__type"].as_str()),
            (400, Some("SerializationException")),
            "{target} {body}: {answer}"
        );
        assert_eq!(content_type.as_deref(), Some("application/x-amz-json-1.0"));
    }
    // Well-formed, with a required member missing: a validation error.
    let (status, _, answer) = emulator
        .raw(Some("HealthLake.DescribeFHIRDatastore"), TESTING, "{}")
        .await;
    assert_eq!(
        (status, answer["__type"].as_str()),
        (400, Some("ValidationException")),
        "{answer}"
    );
    let calls = emulator.calls().await;
    assert_eq!(calls["CreateFHIRDatastore"], 1, "{calls}");
    assert!(
        list_all(&emulator.client("us-east-1"), None)
            .await
            .is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn http_and_connection_faults_reach_the_sdk_as_production_failures() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let list = Some("HealthLake.ListFHIRDatastores");

    emulator
        .fault(json!({"Operation": "ListFHIRDatastores", "Http": {"Status": 503}}))
        .await;
    let (status, _, body) = emulator.raw(list, TESTING, "{}").await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({"__type": "ServiceUnavailableException", "message": "Service Unavailable"})
    );

    emulator
        .fault(json!({"Operation": "ListFHIRDatastores", "Http": {"Status": 502, "Body": "html"}}))
        .await;
    let err = client
        .list_fhir_datastores()
        .send()
        .await
        .expect_err("a gateway's error page");
    let raw = err.raw_response().expect("an HTTP answer");
    assert_eq!(raw.status().as_u16(), 502);
    assert_eq!(raw.headers().get("content-type"), Some("text/html"));
    assert_eq!(err.into_service_error().meta().code(), None);

    for cut in ["reset", "truncate"] {
        emulator
            .fault(json!({"Operation": "ListFHIRDatastores", "Connection": cut}))
            .await;
        let err = client
            .list_fhir_datastores()
            .send()
            .await
            .expect_err("the connection is cut");
        match cut {
            "reset" => assert!(
                matches!(err, aws_sdk_healthlake::error::SdkError::DispatchFailure(_)),
                "{err:?}"
            ),
            _ => assert!(
                matches!(err, aws_sdk_healthlake::error::SdkError::ResponseError(_)),
                "{err:?}"
            ),
        }
    }
    client
        .list_fhir_datastores()
        .send()
        .await
        .expect("the faults are used up");

    emulator
        .fault(json!({"Operation": "ListTagsForResource", "Error": "ExpiredTokenException", "After": 1}))
        .await;
    let arn = format!(
        "arn:aws:healthlake:us-east-1:{ACCOUNT}:datastore/fhir/{}",
        "0".repeat(32)
    );
    let first = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .expect_err("no such store");
    assert!(first.into_service_error().is_resource_not_found_exception());
    let (code, message) = {
        use aws_sdk_healthlake::error::ProvideErrorMetadata as _;
        let err = client
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .expect_err("expired");
        (
            err.code().map(str::to_owned),
            err.message().map(str::to_owned),
        )
    };
    assert_eq!(code.as_deref(), Some("ExpiredTokenException"));
    assert_eq!(
        message.as_deref(),
        Some("The security token included in the request is expired")
    );
}

#[tokio::test]
async fn an_admin_creation_can_date_its_store_hours_back_and_it_is_still_creating() {
    let emulator = Emulator::start().await;
    let client = emulator.client("us-east-1");
    let now = emulator.emulator.now().await.expect("the emulator's clock");
    let three_hours_ago = now - chrono::Duration::hours(3);
    let (status, answer) = emulator
        .post(
            "datastores",
            json!({
                "Region": "us-east-1",
                "DatastoreName": "slow",
                "DatastoreTypeVersion": "R4",
                "CreatedAt": three_hours_ago.timestamp_millis() as f64 / 1000.0,
            }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let id = answer["DatastoreProperties"]["DatastoreId"]
        .as_str()
        .expect("an id")
        .to_owned();
    let shown = describe_store(&client, &id).await;
    assert_eq!(shown.datastore_status().as_str(), "CREATING");
    let created_at = shown.created_at().expect("CreatedAt");
    // Epoch seconds in a double, as the API sends them: the millisecond is
    // read back to within one.
    let millis = created_at.to_millis().expect("CreatedAt in milliseconds");
    assert!(
        (millis - three_hours_ago.timestamp_millis()).abs() <= 1,
        "{created_at} for {three_hours_ago}"
    );
    // Its status counts from the request, its CreatedAt stays as given.
    let settled = emulator.settle(&client, &id, "ACTIVE").await;
    assert_eq!(
        settled.created_at().map(|t| t.secs()),
        Some(three_hours_ago.timestamp())
    );

    let now = emulator.emulator.now().await.expect("the emulator's clock");
    let later = (now + chrono::Duration::hours(1)).timestamp() as f64;
    for (body, problem) in [
        (json!({"CreatedAt": later}), "after the emulator's now"),
        (json!({"CreatedAt": "yesterday"}), "Invalid request body"),
        (
            json!({"CreatedAt": 1e300}),
            "is not a time in epoch seconds",
        ),
        (
            json!({"CreatedAt": 1_700_000_000.0, "ClientToken": "token-1"}),
            "CreatedAt cannot be combined with ClientToken",
        ),
    ] {
        let mut request = json!({"Region": "us-east-1", "DatastoreTypeVersion": "R4"});
        for (key, value) in body.as_object().into_iter().flatten() {
            request[key] = value.clone();
        }
        let (status, answer) = emulator.post("datastores", request).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["__type"], "ValidationException", "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains(problem)),
            "{body}: {answer}"
        );
    }
    assert_eq!(list_all(&client, None).await.len(), 1);
}
