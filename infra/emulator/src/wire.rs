//! Request and response bodies, with the member names of the AWS model
//! (aws-sdk-healthlake `protocol_serde`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::ErrorCause;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SseConfiguration {
    pub kms_encryption_config: KmsEncryptionConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KmsEncryptionConfig {
    pub cmk_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PreloadDataConfig {
    pub preload_data_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IdentityProviderConfiguration {
    pub authorization_strategy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fine_grained_authorization_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_lambda_arn: Option<String>,
}

/// Members the emulator stores and returns as sent, without interpreting them.
pub type Opaque = Map<String, Value>;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateFhirDatastoreRequest {
    pub datastore_name: Option<String>,
    pub datastore_type_version: Option<String>,
    pub sse_configuration: Option<SseConfiguration>,
    pub preload_data_config: Option<PreloadDataConfig>,
    pub client_token: Option<String>,
    pub tags: Option<Vec<Tag>>,
    pub identity_provider_configuration: Option<IdentityProviderConfiguration>,
    pub analytics_configuration: Option<Opaque>,
    pub nlp_configuration: Option<Opaque>,
    pub profile_configuration: Option<Opaque>,
    pub backup_configuration: Option<BackupConfiguration>,
}

/// The answer to CreateFHIRDatastore and DeleteFHIRDatastore.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatastoreSummary {
    pub datastore_id: String,
    pub datastore_arn: String,
    pub datastore_status: String,
    pub datastore_endpoint: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatastoreIdRequest {
    pub datastore_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DescribeFhirDatastoreResponse {
    pub datastore_properties: DatastoreProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatastoreProperties {
    pub datastore_id: String,
    pub datastore_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datastore_name: Option<String>,
    pub datastore_status: String,
    /// Epoch seconds, as the model's timestamp format asks.
    pub created_at: f64,
    pub datastore_type_version: String,
    pub datastore_endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sse_configuration: Option<SseConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preload_data_config: Option<PreloadDataConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_provider_configuration: Option<IdentityProviderConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_cause: Option<ErrorCause>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analytics_configuration: Option<Opaque>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nlp_configuration: Option<Opaque>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_configuration: Option<Opaque>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_status_info: Option<DatastoreBackupStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFhirDatastoresRequest {
    pub filter: Option<DatastoreFilter>,
    pub next_token: Option<String>,
    pub max_results: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatastoreFilter {
    pub datastore_name: Option<String>,
    pub datastore_status: Option<String>,
    /// Epoch seconds, possibly fractional.
    pub created_before: Option<f64>,
    pub created_after: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListFhirDatastoresResponse {
    pub datastore_properties_list: Vec<DatastoreProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceRequest {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: Option<String>,
    pub tags: Option<Vec<Tag>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceRequest {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: Option<String>,
    pub tag_keys: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceRequest {
    #[serde(rename = "ResourceARN")]
    pub resource_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListTagsForResourceResponse {
    pub tags: Vec<Tag>,
}

/// TagResource and UntagResource answer with an empty object.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Empty {}

/// The model's `BackupConfiguration`, on CreateFHIRDatastore and
/// UpdateFHIRDatastore, and inside `BackupStatusInfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackupConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_period_in_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_tags_enabled: Option<bool>,
}

/// The model's `DatastoreBackupStatus`, shown as `BackupStatusInfo`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DatastoreBackupStatus {
    pub configuration: BackupConfiguration,
    /// Epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_enabled_at: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateFhirDatastoreRequest {
    pub datastore_id: Option<String>,
    pub datastore_name: Option<String>,
    pub analytics_configuration: Option<Opaque>,
    pub nlp_configuration: Option<Opaque>,
    pub profile_configuration: Option<Opaque>,
    pub identity_provider_configuration: Option<IdentityProviderConfiguration>,
    pub backup_configuration: Option<BackupConfiguration>,
}
