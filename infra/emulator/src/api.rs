//! `POST /`: the HealthLake control-plane operations.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::auth;
use crate::listing::{Filter, PageRequest};
use crate::model::NewDatastore;
use crate::protocol::{self, ApiError, Operation, parse_body};
use crate::registry::Registry;
use crate::state::Emulator;
use crate::wire::{
    CreateFhirDatastoreRequest, DatastoreIdRequest, DatastoreSummary,
    DescribeFhirDatastoreResponse, Empty, ListFhirDatastoresRequest, ListFhirDatastoresResponse,
    ListTagsForResourceRequest, ListTagsForResourceResponse, TagResourceRequest,
    UntagResourceRequest,
};

const TARGET: &str = "x-amz-target";

pub async fn handle(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = emulator.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match dispatch(&emulator, &headers, &body) {
        Ok(response) => response,
        Err(err) => {
            tracing::debug!(
                code = err.code().as_str(),
                message = err.message(),
                "call refused"
            );
            err.into_response()
        }
    }
}

fn dispatch(emulator: &Emulator, headers: &HeaderMap, body: &[u8]) -> Result<Response, ApiError> {
    let operation = Operation::from_target(header_str(headers, TARGET))?;
    let scope = auth::credential_scope(header_str(headers, header::AUTHORIZATION.as_str()));

    let mut state = emulator.lock();
    let now = state.clock.now();
    state.calls.record(
        operation,
        scope.as_ref().ok().map(|scope| scope.region.as_str()),
    );
    let region = scope?.region;
    tracing::debug!(operation = operation.name(), region, "call");
    if let Some(err) = state.faults.take(operation, &region) {
        return Err(err);
    }

    let registry = &mut state.registry;
    let response = match operation {
        Operation::CreateFhirDatastore => {
            protocol::ok(&create(registry, &region, parse_body(body)?, now)?)
        }
        Operation::DescribeFhirDatastore => protocol::ok(&describe_datastore(
            registry,
            &region,
            parse_body(body)?,
            now,
        )?),
        Operation::ListFhirDatastores => {
            protocol::ok(&list(registry, &region, parse_body(body)?, now)?)
        }
        Operation::DeleteFhirDatastore => {
            protocol::ok(&delete(registry, &region, parse_body(body)?, now)?)
        }
        Operation::TagResource => protocol::ok(&tag(registry, &region, parse_body(body)?)?),
        Operation::UntagResource => protocol::ok(&untag(registry, &region, parse_body(body)?)?),
        Operation::ListTagsForResource => {
            protocol::ok(&list_tags(registry, &region, parse_body(body)?)?)
        }
    };
    Ok(response)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// A member the model marks required.
fn required<T>(value: Option<T>, member: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        ApiError::validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn create(
    registry: &mut Registry,
    region: &str,
    request: CreateFhirDatastoreRequest,
    now: DateTime<Utc>,
) -> Result<DatastoreSummary, ApiError> {
    let (store, status_now) = registry.create(region, NewDatastore::try_from(request)?, now);
    tracing::info!(region, datastore_id = store.id, "data store created");
    Ok(store.summary(&status_now))
}

fn describe_datastore(
    registry: &Registry,
    region: &str,
    request: DatastoreIdRequest,
    now: DateTime<Utc>,
) -> Result<DescribeFhirDatastoreResponse, ApiError> {
    let id = required(request.datastore_id, "datastoreId")?;
    let (store, status_now) = registry.get(region, &id, now)?;
    Ok(DescribeFhirDatastoreResponse {
        datastore_properties: store.properties(status_now),
    })
}

fn list(
    registry: &Registry,
    region: &str,
    request: ListFhirDatastoresRequest,
    now: DateTime<Utc>,
) -> Result<ListFhirDatastoresResponse, ApiError> {
    let filter = request
        .filter
        .map(Filter::try_from)
        .transpose()?
        .unwrap_or_default();
    let page = PageRequest::parse(request.max_results, request.next_token.as_deref())?;
    let page = registry.list(region, &filter, &page, now);
    Ok(ListFhirDatastoresResponse {
        datastore_properties_list: page
            .items
            .into_iter()
            .map(|(store, status_now)| store.properties(status_now))
            .collect(),
        next_token: page.next.map(|key| key.encode()),
    })
}

fn delete(
    registry: &mut Registry,
    region: &str,
    request: DatastoreIdRequest,
    now: DateTime<Utc>,
) -> Result<DatastoreSummary, ApiError> {
    let id = required(request.datastore_id, "datastoreId")?;
    let (store, status_now) = registry.delete(region, &id, now)?;
    tracing::info!(
        region,
        datastore_id = store.id,
        "data store deletion started"
    );
    Ok(store.summary(&status_now))
}

fn tag(
    registry: &mut Registry,
    region: &str,
    request: TagResourceRequest,
) -> Result<Empty, ApiError> {
    let arn = required(request.resource_arn, "resourceARN")?;
    let tags = required(request.tags, "tags")?;
    registry.by_arn_mut(region, &arn)?.tags.merge(tags)?;
    Ok(Empty {})
}

fn untag(
    registry: &mut Registry,
    region: &str,
    request: UntagResourceRequest,
) -> Result<Empty, ApiError> {
    let arn = required(request.resource_arn, "resourceARN")?;
    let keys = required(request.tag_keys, "tagKeys")?;
    registry.by_arn_mut(region, &arn)?.tags.remove(&keys);
    Ok(Empty {})
}

fn list_tags(
    registry: &Registry,
    region: &str,
    request: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse, ApiError> {
    let arn = required(request.resource_arn, "resourceARN")?;
    Ok(ListTagsForResourceResponse {
        tags: registry.by_arn(region, &arn)?.tags.as_slice().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::EmulatorConfig;
    use axum::http::HeaderValue;
    use chrono::TimeDelta;
    use serde_json::Value;
    use std::time::Duration;

    fn call(emulator: &Emulator, operation: &str, body: &str) -> Value {
        let mut headers = HeaderMap::new();
        headers.insert(
            TARGET,
            HeaderValue::from_str(&format!("HealthLake.{operation}")).unwrap(),
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/healthlake/aws4_request, \
                 SignedHeaders=host, Signature=00",
            ),
        );
        let response = dispatch(emulator, &headers, body.as_bytes()).expect("the call succeeds");
        let bytes = body_bytes(response);
        serde_json::from_slice(&bytes).unwrap()
    }

    fn body_bytes(response: Response) -> Vec<u8> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap()
            .to_vec()
    }

    fn status(emulator: &Emulator, id: &str) -> String {
        let described = call(
            emulator,
            "DescribeFHIRDatastore",
            &format!(r#"{{"DatastoreId": "{id}"}}"#),
        );
        described["DatastoreProperties"]["DatastoreStatus"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn statuses_and_creation_times_follow_the_emulators_clock() {
        let emulator = Emulator::new(&EmulatorConfig {
            transition_delay: Duration::from_secs(3600),
            ..EmulatorConfig::default()
        });
        let created = call(
            &emulator,
            "CreateFHIRDatastore",
            r#"{"DatastoreTypeVersion": "R4"}"#,
        );
        let id = created["DatastoreId"].as_str().unwrap().to_owned();
        assert_eq!(status(&emulator, &id), "CREATING");

        emulator
            .lock()
            .clock
            .advance(TimeDelta::seconds(3599))
            .unwrap();
        assert_eq!(status(&emulator, &id), "CREATING", "not yet an hour");
        emulator
            .lock()
            .clock
            .advance(TimeDelta::seconds(1))
            .unwrap();
        assert_eq!(status(&emulator, &id), "ACTIVE");
        let listed = call(&emulator, "ListFHIRDatastores", "{}");
        assert_eq!(
            listed["DatastorePropertiesList"][0]["DatastoreStatus"],
            "ACTIVE"
        );

        call(
            &emulator,
            "DeleteFHIRDatastore",
            &format!(r#"{{"DatastoreId": "{id}"}}"#),
        );
        assert_eq!(status(&emulator, &id), "DELETING");
        emulator
            .lock()
            .clock
            .advance(TimeDelta::seconds(3600))
            .unwrap();
        assert_eq!(status(&emulator, &id), "DELETED");

        // A store created once the clock has moved is created at its time.
        let later = call(
            &emulator,
            "CreateFHIRDatastore",
            r#"{"DatastoreTypeVersion": "R4"}"#,
        );
        let later = later["DatastoreId"].as_str().unwrap();
        let described = call(
            &emulator,
            "DescribeFHIRDatastore",
            &format!(r#"{{"DatastoreId": "{later}"}}"#),
        );
        let created_at = described["DatastoreProperties"]["CreatedAt"]
            .as_f64()
            .unwrap();
        let ahead = created_at - Utc::now().timestamp() as f64;
        assert!(
            (7199.0..=7201.0).contains(&ahead),
            "CreatedAt {created_at} is {ahead} s ahead of the wall clock"
        );
        assert_eq!(status(&emulator, later), "CREATING");
    }
}
