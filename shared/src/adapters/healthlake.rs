//! Lists data stores with aws-sdk-healthlake, one client per region.

use crate::domain::{
    DatastoreId, DatastoreStatus, ErrorCategory, ErrorCause, Observation, Region, Scope,
};
use crate::ports::{DatastoreReader, ReadError, ReadErrorKind};
use aws_sdk_healthlake::Client;
use aws_sdk_healthlake::error::SdkError;
use aws_sdk_healthlake::operation::list_fhir_datastores::ListFHIRDatastoresError;
use aws_sdk_healthlake::types::DatastoreProperties;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use tracing::instrument;

/// The largest page ListFHIRDatastores allows.
pub const PAGE_SIZE: i32 = 500;

pub struct HealthLakeReader {
    clients: BTreeMap<Region, Client>,
}

impl HealthLakeReader {
    pub fn new(clients: BTreeMap<Region, Client>) -> Self {
        Self { clients }
    }
}

impl DatastoreReader for HealthLakeReader {
    #[instrument(skip(self), fields(scope = %scope))]
    async fn list(&self, scope: &Scope) -> Result<Vec<Observation>, ReadError> {
        let client = self.clients.get(&scope.region).ok_or_else(|| ReadError {
            scope: scope.clone(),
            kind: ReadErrorKind::Other,
            message: format!(
                "no HealthLake client configured for region {}",
                scope.region
            ),
        })?;
        let mut observations = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = client
                .list_fhir_datastores()
                .max_results(PAGE_SIZE)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| read_error(scope, e))?;
            for properties in page.datastore_properties_list() {
                observations.push(observation(scope, properties)?);
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(observations)
    }
}

fn read_error(scope: &Scope, error: SdkError<ListFHIRDatastoresError>) -> ReadError {
    let kind = match &error {
        SdkError::ServiceError(e) => match e.err() {
            ListFHIRDatastoresError::ThrottlingException(_) => ReadErrorKind::Throttled,
            e if e.meta().code() == Some("AccessDeniedException") => ReadErrorKind::AccessDenied,
            e if e.meta().code() == Some("UnrecognizedClientException") => {
                ReadErrorKind::AccessDenied
            }
            _ => ReadErrorKind::Other,
        },
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => ReadErrorKind::Unreachable,
        SdkError::ResponseError(_) => ReadErrorKind::InvalidResponse,
        _ => ReadErrorKind::Other,
    };
    ReadError {
        scope: scope.clone(),
        kind,
        message: super::describe(&error),
    }
}

fn observation(scope: &Scope, p: &DatastoreProperties) -> Result<Observation, ReadError> {
    let id = DatastoreId::parse(p.datastore_id()).map_err(|e| ReadError {
        scope: scope.clone(),
        kind: ReadErrorKind::InvalidResponse,
        message: e.to_string(),
    })?;
    Ok(Observation {
        account: scope.account.clone(),
        region: scope.region.clone(),
        id,
        arn: p.datastore_arn().to_owned(),
        name: p.datastore_name().unwrap_or_default().to_owned(),
        status: DatastoreStatus::parse(p.datastore_status().as_str()),
        created_at: p
            .created_at()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())),
        type_version: p.datastore_type_version().as_str().to_owned(),
        endpoint: p.datastore_endpoint().to_owned(),
        error_cause: p.error_cause().map(|c| ErrorCause {
            message: c.error_message().unwrap_or("(no message given)").to_owned(),
            category: c
                .error_category()
                .map_or(ErrorCategory::Unrecognized("UNSPECIFIED".into()), |c| {
                    ErrorCategory::parse(c.as_str())
                }),
        }),
    })
}
