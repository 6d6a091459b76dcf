//! The HealthLake control-plane operations, in the account of the caller's
//! credentials and the region of their scope.

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use crate::auth::{self, Service, SignedRequest};
use crate::control::Call;
use crate::listing::Filter;
use crate::model::{NewDatastore, scripted_outcome};
use crate::protocol::{self, ApiError, Operation, parse_body};
use crate::registry::{Registry, Scope};
use crate::state::Emulator;
use crate::validation;
use crate::wire::{
    CreateFhirDatastoreRequest, DatastoreIdRequest, DatastoreSummary,
    DescribeFhirDatastoreResponse, Empty, ListFhirDatastoresRequest, ListFhirDatastoresResponse,
    ListTagsForResourceRequest, ListTagsForResourceResponse, TagResourceRequest,
    UntagResourceRequest, UpdateFhirDatastoreRequest,
};

const TARGET: &str = "x-amz-target";

/// Answers one awsJson1_0 request.
pub fn handle(emulator: &Emulator, request: &SignedRequest<'_>) -> Response {
    match dispatch(emulator, request) {
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

fn dispatch(emulator: &Emulator, request: &SignedRequest<'_>) -> Result<Response, ApiError> {
    let body = request.body;
    let operation = Operation::from_target(header_str(request.headers, TARGET));

    let mut state = emulator.lock();
    let state = &mut *state;
    let now = state.clock.now();
    let scope = auth::authenticate(
        request,
        Service::HealthLake,
        |key| state.iam.key(key),
        Utc::now(),
    );
    // AWS authenticates a request before it looks at what it asks.
    let scope = match scope {
        Ok(scope) => scope,
        Err(err) => {
            if let Ok(operation) = operation {
                state.calls.record(Call::HealthLake(operation), None);
            }
            return Err(err.into());
        }
    };
    let operation = operation?;
    let caller = state.iam.caller(&scope.access_key_id);
    let at = Scope {
        account: &caller.account,
        region: &scope.region,
    };
    state
        .calls
        .record(Call::HealthLake(operation), Some((at.region, at.account)));
    tracing::debug!(
        operation = operation.name(),
        region = at.region,
        account = at.account,
        "call"
    );
    if state.iam.is_suspended(at.account) {
        return Err(ApiError::access_denied(format!(
            "Account {} is suspended",
            at.account
        )));
    }
    if let Some(injected) = state.faults.take(operation, at.region, at.account) {
        tracing::debug!(?injected, "fault injected");
        return Ok(injected.into_response());
    }
    validation::check(operation, body)?;

    let registry = &mut state.registry;
    let response = match operation {
        Operation::CreateFhirDatastore => {
            protocol::ok(&create(registry, at, parse_body(body)?, now)?)
        }
        Operation::DescribeFhirDatastore => {
            protocol::ok(&describe_datastore(registry, at, parse_body(body)?, now)?)
        }
        Operation::ListFhirDatastores => protocol::ok(&list(registry, at, parse_body(body)?, now)?),
        Operation::DeleteFhirDatastore => {
            protocol::ok(&delete(registry, at, parse_body(body)?, now)?)
        }
        Operation::TagResource => protocol::ok(&tag(registry, at, parse_body(body)?, now)?),
        Operation::UntagResource => protocol::ok(&untag(registry, at, parse_body(body)?, now)?),
        Operation::ListTagsForResource => {
            protocol::ok(&list_tags(registry, at, parse_body(body)?, now)?)
        }
        Operation::UpdateFhirDatastore => {
            protocol::ok(&update(registry, at, parse_body(body)?, now)?)
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
    at: Scope<'_>,
    request: CreateFhirDatastoreRequest,
    now: DateTime<Utc>,
) -> Result<DatastoreSummary, ApiError> {
    let (store, status_now) =
        registry.create_within_quota(at, NewDatastore::try_from(request)?, now)?;
    tracing::info!(
        region = at.region,
        account = at.account,
        datastore_id = store.id,
        "data store created"
    );
    Ok(store.summary(&status_now))
}

fn describe_datastore(
    registry: &Registry,
    at: Scope<'_>,
    request: DatastoreIdRequest,
    now: DateTime<Utc>,
) -> Result<DescribeFhirDatastoreResponse, ApiError> {
    let id = required(request.datastore_id, "datastoreId")?;
    let (store, status_now) = registry.get(at, &id, now)?;
    Ok(DescribeFhirDatastoreResponse {
        datastore_properties: store.properties(status_now),
    })
}

fn list(
    registry: &Registry,
    at: Scope<'_>,
    request: ListFhirDatastoresRequest,
    now: DateTime<Utc>,
) -> Result<ListFhirDatastoresResponse, ApiError> {
    let filter = request
        .filter
        .map(Filter::try_from)
        .transpose()?
        .unwrap_or_default();
    let (stores, next_token) = registry.list_page(
        at,
        &filter,
        request.max_results,
        request.next_token.as_deref(),
        now,
    )?;
    Ok(ListFhirDatastoresResponse {
        datastore_properties_list: stores
            .into_iter()
            .map(|(store, status_now)| store.properties(status_now))
            .collect(),
        next_token,
    })
}

fn delete(
    registry: &mut Registry,
    at: Scope<'_>,
    request: DatastoreIdRequest,
    now: DateTime<Utc>,
) -> Result<DatastoreSummary, ApiError> {
    let id = required(request.datastore_id, "datastoreId")?;
    let (store, status_now) = registry.delete(at, &id, now)?;
    tracing::info!(
        region = at.region,
        account = at.account,
        datastore_id = store.id,
        "data store deletion started"
    );
    Ok(store.summary(&status_now))
}

fn tag(
    registry: &mut Registry,
    at: Scope<'_>,
    request: TagResourceRequest,
    now: DateTime<Utc>,
) -> Result<Empty, ApiError> {
    let arn = required(request.resource_arn, "resourceARN")?;
    let tags = required(request.tags, "tags")?;
    let store = registry.by_arn_mut(at, &arn, now)?;
    let mut merged = store.tags.clone();
    merged.merge(tags)?;
    scripted_outcome(&merged)?;
    store.tags = merged;
    Ok(Empty {})
}

fn untag(
    registry: &mut Registry,
    at: Scope<'_>,
    request: UntagResourceRequest,
    now: DateTime<Utc>,
) -> Result<Empty, ApiError> {
    let arn = required(request.resource_arn, "resourceARN")?;
    let keys = required(request.tag_keys, "tagKeys")?;
    registry.by_arn_mut(at, &arn, now)?.tags.remove(&keys);
    Ok(Empty {})
}

fn list_tags(
    registry: &Registry,
    at: Scope<'_>,
    request: ListTagsForResourceRequest,
    now: DateTime<Utc>,
) -> Result<ListTagsForResourceResponse, ApiError> {
    let arn = required(request.resource_arn, "resourceARN")?;
    Ok(ListTagsForResourceResponse {
        tags: registry.by_arn(at, &arn, now)?.tags.as_slice().to_vec(),
    })
}

/// UpdateFHIRDatastore answers with the properties the store shows now:
/// UPDATING, with the changes applied.
fn update(
    registry: &mut Registry,
    at: Scope<'_>,
    mut request: UpdateFhirDatastoreRequest,
    now: DateTime<Utc>,
) -> Result<DescribeFhirDatastoreResponse, ApiError> {
    let id = required(request.datastore_id.take(), "datastoreId")?;
    let (store, status_now) = registry.update(at, &id, request, now)?;
    tracing::info!(
        region = at.region,
        account = at.account,
        datastore_id = store.id,
        "data store update started"
    );
    Ok(DescribeFhirDatastoreResponse {
        datastore_properties: store.properties(status_now),
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

    /// A static key of the default config, or credentials from AssumeRole.
    #[derive(Clone)]
    struct Key {
        id: String,
        secret: String,
        token: Option<String>,
    }

    fn static_key() -> Key {
        Key {
            id: "AKID".into(),
            secret: "SECRET".into(),
            token: None,
        }
    }

    fn call(emulator: &Emulator, operation: &str, body: &str) -> Value {
        call_as(emulator, &static_key(), operation, body).expect("the call succeeds")
    }

    /// A call signed with `key`.
    fn call_as(
        emulator: &Emulator,
        key: &Key,
        operation: &str,
        body: &str,
    ) -> Result<Value, ApiError> {
        let mut headers = HeaderMap::new();
        headers.insert(
            TARGET,
            HeaderValue::from_str(&format!("HealthLake.{operation}")).unwrap(),
        );
        auth::sign_post(
            &mut headers,
            body.as_bytes(),
            (&key.id, &key.secret, key.token.as_deref()),
            "us-east-1",
            Service::HealthLake,
        );
        let request = SignedRequest {
            method: "POST",
            path: "/",
            query: None,
            headers: &headers,
            body: body.as_bytes(),
        };
        let response = dispatch(emulator, &request)?;
        let bytes = body_bytes(response);
        Ok(serde_json::from_slice(&bytes).unwrap())
    }

    fn assume(emulator: &Emulator, role: &str) -> Key {
        let mut state = emulator.lock();
        let caller = state.iam.caller("AKID");
        let request = crate::iam::AssumeRole {
            role: crate::iam::RoleArn::parse(role).unwrap(),
            session_name: "test".into(),
            external_id: None,
            duration_seconds: 3600,
        };
        let session = state
            .iam
            .assume_role(&caller, &request, Utc::now())
            .unwrap();
        Key {
            id: session.access_key_id.clone(),
            secret: session.secret_access_key.clone(),
            token: Some(session.session_token.clone()),
        }
    }

    #[test]
    fn the_access_key_decides_the_account() {
        let emulator = Emulator::new(&EmulatorConfig::default());
        let other = assume(&emulator, "arn:aws:iam::210987654321:role/Reader");
        let created = call_as(
            &emulator,
            &other,
            "CreateFHIRDatastore",
            r#"{"DatastoreTypeVersion": "R4"}"#,
        )
        .unwrap();
        let arn = created["DatastoreArn"].as_str().unwrap();
        assert!(
            arn.starts_with("arn:aws:healthlake:us-east-1:210987654321:datastore/fhir/"),
            "{arn}"
        );
        let listed = |key: &Key| {
            call_as(&emulator, key, "ListFHIRDatastores", "{}").unwrap()["DatastorePropertiesList"]
                .as_array()
                .unwrap()
                .len()
        };
        assert_eq!(listed(&other), 1);
        assert_eq!(listed(&static_key()), 0, "the default account has none");
        let third = assume(&emulator, "arn:aws:iam::333333333333:role/Reader");
        assert_eq!(listed(&third), 0);
        let again = assume(&emulator, "arn:aws:iam::210987654321:role/Other");
        assert_eq!(listed(&again), 1, "another role of the same account");
        let tags = format!(r#"{{"ResourceARN": "{arn}"}}"#);
        assert!(call_as(&emulator, &other, "ListTagsForResource", &tags).is_ok());
        assert_eq!(
            call_as(&emulator, &static_key(), "ListTagsForResource", &tags)
                .unwrap_err()
                .code(),
            crate::protocol::ErrorCode::ResourceNotFound
        );

        emulator
            .lock()
            .iam
            .suspend(&crate::iam::AccountId::parse("210987654321").unwrap(), true);
        let err = call_as(&emulator, &other, "ListFHIRDatastores", "{}").unwrap_err();
        assert_eq!(err.code(), crate::protocol::ErrorCode::AccessDenied);
        assert_eq!(listed(&static_key()), 0);

        let calls = serde_json::to_value(emulator.lock().calls.report()).unwrap();
        assert_eq!(calls["ByAccount"]["210987654321"]["ListFHIRDatastores"], 3);
        assert_eq!(calls["ByAccount"]["123456789012"]["ListFHIRDatastores"], 2);
        assert_eq!(calls["ByAccount"]["333333333333"]["ListFHIRDatastores"], 1);
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
