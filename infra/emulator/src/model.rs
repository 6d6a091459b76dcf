//! Data stores and their lifecycle.
//!
//! Status is computed from timestamps when it is read, so a store is CREATING
//! until the transition delay has passed since its creation, then ACTIVE (or
//! CREATE_FAILED when its creation was scripted to fail); UPDATING until the
//! delay has passed since its latest update, then ACTIVE (or UPDATE_FAILED when
//! that update was scripted to fail); DELETING until the delay has passed since
//! the delete, then DELETED. A status forced through the admin API replaces all
//! of this and stays until the store is updated or deleted.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::outcome::{self, Failing, OUTCOME_TAG};
use crate::protocol::ApiError;
use crate::wire::{
    BackupConfiguration, CreateFhirDatastoreRequest, DatastoreBackupStatus, DatastoreProperties,
    DatastoreSummary, IdentityProviderConfiguration, KmsEncryptionConfig, Opaque,
    PreloadDataConfig, SseConfiguration, Tag, UpdateFhirDatastoreRequest,
};

/// The only FHIR version HealthLake offers.
pub const FHIR_R4: &str = "R4";
const MAX_NAME_CHARS: usize = 256;

/// The model's `DatastoreId`: `[\p{L}\p{Z}\p{N}_.:/=+\-%@]*`, matched in
/// full, 1 to 32 characters. Smithy counts a string's length in Unicode scalar
/// values, as `{1,32}` over `char`s does here. The monitor parses ids with its
/// own copy of this rule, so that a slip in one shows in the tests of the other.
static DATASTORE_ID: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"\A[\p{L}\p{Z}\p{N}_.:/=+\-%@]{1,32}\z")
        .expect("the data store id pattern compiles")
});

/// Whether the model allows `id` as a `DatastoreId`.
pub fn is_datastore_id(id: &str) -> bool {
    DATASTORE_ID.is_match(id)
}

/// `id` if the model allows it, or the ValidationException AWS would answer.
pub fn datastore_id(id: String) -> Result<String, ApiError> {
    if is_datastore_id(&id) {
        Ok(id)
    } else {
        Err(ApiError::validation(format!(
            "1 validation error detected: Value '{id}' at 'datastoreId' failed to satisfy constraint: Member must have length between 1 and 32 and satisfy regular expression pattern: [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-%@]*"
        )))
    }
}
const MAX_CLIENT_TOKEN_CHARS: usize = 64;
const MAX_TAG_KEY_CHARS: usize = 128;
const MAX_TAG_VALUE_CHARS: usize = 256;
/// The model's `TagList` holds up to 200 tags; a store keeps as many.
const MAX_TAGS: usize = 200;

/// A data store status: the seven of the AWS model, or any other string
/// forced through the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DatastoreStatus {
    Creating,
    Active,
    CreateFailed,
    Deleting,
    Deleted,
    Updating,
    UpdateFailed,
    Other(String),
}

impl DatastoreStatus {
    const KNOWN: [DatastoreStatus; 7] = [
        DatastoreStatus::Creating,
        DatastoreStatus::Active,
        DatastoreStatus::CreateFailed,
        DatastoreStatus::Deleting,
        DatastoreStatus::Deleted,
        DatastoreStatus::Updating,
        DatastoreStatus::UpdateFailed,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            DatastoreStatus::Creating => "CREATING",
            DatastoreStatus::Active => "ACTIVE",
            DatastoreStatus::CreateFailed => "CREATE_FAILED",
            DatastoreStatus::Deleting => "DELETING",
            DatastoreStatus::Deleted => "DELETED",
            DatastoreStatus::Updating => "UPDATING",
            DatastoreStatus::UpdateFailed => "UPDATE_FAILED",
            DatastoreStatus::Other(other) => other,
        }
    }

    /// One of the statuses of the AWS model, or `None`.
    pub fn known(value: &str) -> Option<DatastoreStatus> {
        DatastoreStatus::KNOWN
            .into_iter()
            .find(|status| status.as_str() == value)
    }

    /// Any status string: the known ones map to their variant.
    pub fn from_wire(value: String) -> DatastoreStatus {
        DatastoreStatus::known(&value).unwrap_or(DatastoreStatus::Other(value))
    }

    pub fn known_names() -> String {
        DatastoreStatus::KNOWN
            .iter()
            .map(DatastoreStatus::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorCause {
    pub error_message: String,
    pub error_category: String,
}

/// What a client sees of a store's state at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusNow {
    pub status: DatastoreStatus,
    pub error_cause: Option<ErrorCause>,
}

impl StatusNow {
    fn plain(status: DatastoreStatus) -> StatusNow {
        StatusNow {
            status,
            error_cause: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    created_at: DateTime<Utc>,
    create_failure: Option<ErrorCause>,
    deletion_started_at: Option<DateTime<Utc>>,
    update: Option<Update>,
    forced: Option<StatusNow>,
}

/// The latest UpdateFHIRDatastore a store accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Update {
    started_at: DateTime<Utc>,
    failure: Option<ErrorCause>,
}

impl Lifecycle {
    pub fn new(created_at: DateTime<Utc>, create_failure: Option<ErrorCause>) -> Lifecycle {
        Lifecycle {
            created_at,
            create_failure,
            deletion_started_at: None,
            update: None,
            forced: None,
        }
    }

    pub fn at(&self, now: DateTime<Utc>, delay: TimeDelta) -> StatusNow {
        if let Some(forced) = &self.forced {
            return forced.clone();
        }
        let settled = |since: DateTime<Utc>| now.signed_duration_since(since) >= delay;
        if let Some(started) = self.deletion_started_at {
            return StatusNow::plain(if settled(started) {
                DatastoreStatus::Deleted
            } else {
                DatastoreStatus::Deleting
            });
        }
        if !settled(self.created_at) {
            return StatusNow::plain(DatastoreStatus::Creating);
        }
        if let Some(cause) = &self.create_failure {
            return StatusNow {
                status: DatastoreStatus::CreateFailed,
                error_cause: Some(cause.clone()),
            };
        }
        match &self.update {
            Some(update) if !settled(update.started_at) => {
                StatusNow::plain(DatastoreStatus::Updating)
            }
            Some(Update {
                failure: Some(cause),
                ..
            }) => StatusNow {
                status: DatastoreStatus::UpdateFailed,
                error_cause: Some(cause.clone()),
            },
            _ => StatusNow::plain(DatastoreStatus::Active),
        }
    }

    /// Starts an update that ends, once the delay has passed, in ACTIVE, or in
    /// UPDATE_FAILED with `failure`. Only an ACTIVE store, or one whose last
    /// update failed (the update is retried), can be updated: the service
    /// refuses an update while the store is in a transition state, and a store
    /// whose creation failed or that is deleted has nothing to update. On
    /// refusal, returns the status that prevented it.
    pub fn begin_update(
        &mut self,
        now: DateTime<Utc>,
        delay: TimeDelta,
        failure: Option<ErrorCause>,
    ) -> Result<(), DatastoreStatus> {
        let current = self.at(now, delay).status;
        if !is_updatable(&current) {
            return Err(current);
        }
        if self.forced.take().is_some() {
            // A store forced ACTIVE or UPDATE_FAILED has its creation behind it.
            self.create_failure = None;
            self.created_at = self.created_at.min(now - delay);
        }
        self.update = Some(Update {
            started_at: now,
            failure,
        });
        Ok(())
    }

    /// Starts a deletion; only an ACTIVE store can be deleted. On refusal,
    /// returns the status that prevented it.
    pub fn begin_deletion(
        &mut self,
        now: DateTime<Utc>,
        delay: TimeDelta,
    ) -> Result<(), DatastoreStatus> {
        let current = self.at(now, delay).status;
        // A failed store can be deleted too: that is how a failure is cleaned up.
        if !matches!(
            current,
            DatastoreStatus::Active | DatastoreStatus::CreateFailed | DatastoreStatus::UpdateFailed
        ) {
            return Err(current);
        }
        self.forced = None;
        self.deletion_started_at = Some(now);
        Ok(())
    }

    pub fn force(&mut self, status_now: StatusNow) {
        self.forced = Some(status_now);
    }
}

/// Whether UpdateFHIRDatastore accepts a store in `status`.
pub fn is_updatable(status: &DatastoreStatus) -> bool {
    matches!(
        status,
        DatastoreStatus::Active | DatastoreStatus::UpdateFailed
    )
}

/// Tags in the order they were first set; setting a key again replaces its value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(Vec<Tag>);

impl Tags {
    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|tag| tag.key == key)
            .map(|tag| tag.value.as_str())
    }

    /// Adds or replaces tags, all or none.
    pub fn merge(&mut self, tags: Vec<Tag>) -> Result<(), ApiError> {
        let mut merged = self.0.clone();
        for tag in tags {
            validate_tag(&tag)?;
            match merged.iter_mut().find(|existing| existing.key == tag.key) {
                Some(existing) => existing.value = tag.value,
                None => merged.push(tag),
            }
        }
        if merged.len() > MAX_TAGS {
            return Err(ApiError::validation(format!(
                "A resource can have at most {MAX_TAGS} tags"
            )));
        }
        self.0 = merged;
        Ok(())
    }

    pub fn remove(&mut self, keys: &[String]) {
        self.0.retain(|tag| !keys.contains(&tag.key));
    }
}

/// The failure the tags script, or a ValidationException naming the tag when
/// its value is malformed.
pub fn scripted_outcome(tags: &Tags) -> Result<Option<outcome::Outcome>, ApiError> {
    tags.get(OUTCOME_TAG)
        .map(outcome::parse)
        .transpose()
        .map_err(|err| ApiError::validation(format!("Tag {OUTCOME_TAG}: {err}")))
}

fn validate_tag(tag: &Tag) -> Result<(), ApiError> {
    let key_chars = tag.key.chars().count();
    if key_chars == 0 || key_chars > MAX_TAG_KEY_CHARS {
        return Err(ApiError::validation(format!(
            "Tag key {:?} must be 1 to {MAX_TAG_KEY_CHARS} characters",
            tag.key
        )));
    }
    if tag.value.chars().count() > MAX_TAG_VALUE_CHARS {
        return Err(ApiError::validation(format!(
            "The value of tag {:?} must be at most {MAX_TAG_VALUE_CHARS} characters",
            tag.key
        )));
    }
    Ok(())
}

/// Configuration a store keeps from its creation and reports on Describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSettings {
    pub sse: SseConfiguration,
    pub preload: Option<PreloadDataConfig>,
    pub identity_provider: IdentityProviderConfiguration,
    pub analytics: Option<Opaque>,
    pub nlp: Option<Opaque>,
    pub profile: Option<Opaque>,
    pub backup: Option<BackupConfiguration>,
}

/// A validated CreateFHIRDatastore request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDatastore {
    /// The id a test chose through the admin route; HealthLake's own, 32 hex
    /// characters, when absent (the API lets no client choose).
    pub id: Option<String>,
    pub name: Option<String>,
    pub type_version: String,
    pub client_token: Option<String>,
    pub settings: StoreSettings,
    pub tags: Tags,
    pub create_failure: Option<ErrorCause>,
}

impl TryFrom<CreateFhirDatastoreRequest> for NewDatastore {
    type Error = ApiError;

    fn try_from(request: CreateFhirDatastoreRequest) -> Result<NewDatastore, ApiError> {
        let type_version = match request.datastore_type_version {
            None => {
                return Err(ApiError::validation(
                    "1 validation error detected: Value null at 'datastoreTypeVersion' failed to satisfy constraint: Member must not be null",
                ));
            }
            Some(version) if version != FHIR_R4 => {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{version}' at 'datastoreTypeVersion' failed to satisfy constraint: Member must satisfy enum value set: [{FHIR_R4}]"
                )));
            }
            Some(version) => version,
        };
        if let Some(name) = &request.datastore_name {
            let chars = name.chars().count();
            if chars == 0 || chars > MAX_NAME_CHARS {
                return Err(ApiError::validation(format!(
                    "DatastoreName must be 1 to {MAX_NAME_CHARS} characters"
                )));
            }
        }
        if let Some(token) = &request.client_token {
            let chars = token.chars().count();
            if chars == 0 || chars > MAX_CLIENT_TOKEN_CHARS {
                return Err(ApiError::validation(format!(
                    "ClientToken must be 1 to {MAX_CLIENT_TOKEN_CHARS} characters"
                )));
            }
        }
        let mut tags = Tags::default();
        tags.merge(request.tags.unwrap_or_default())?;
        let create_failure =
            scripted_outcome(&tags)?.and_then(|outcome| outcome.cause_for(Failing::Creation));

        Ok(NewDatastore {
            id: None,
            name: request.datastore_name,
            type_version,
            client_token: request.client_token,
            settings: StoreSettings {
                sse: request
                    .sse_configuration
                    .unwrap_or_else(|| SseConfiguration {
                        kms_encryption_config: KmsEncryptionConfig {
                            cmk_type: "AWS_OWNED_KMS_KEY".to_owned(),
                            kms_key_id: None,
                        },
                    }),
                preload: request.preload_data_config,
                identity_provider: request.identity_provider_configuration.unwrap_or_else(|| {
                    IdentityProviderConfiguration {
                        authorization_strategy: "AWS_AUTH".to_owned(),
                        fine_grained_authorization_enabled: Some(false),
                        metadata: None,
                        idp_lambda_arn: None,
                    }
                }),
                analytics: request.analytics_configuration,
                nlp: request.nlp_configuration,
                profile: request.profile_configuration,
                backup: request.backup_configuration,
            },
            tags,
            create_failure,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datastore {
    pub id: String,
    pub arn: String,
    pub name: Option<String>,
    pub type_version: String,
    pub endpoint: String,
    pub created_at: DateTime<Utc>,
    pub client_token: Option<String>,
    pub settings: StoreSettings,
    pub tags: Tags,
    pub lifecycle: Lifecycle,
    /// When backups were last enabled, for `BackupStatusInfo`.
    pub backup_enabled_at: Option<DateTime<Utc>>,
}

impl Datastore {
    pub fn new(new: NewDatastore, region: &str, account_id: &str, now: DateTime<Utc>) -> Datastore {
        let id = new
            .id
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        // Whole milliseconds, so the CreatedAt a client reads back and sends in a
        // filter compares equal to the stored value.
        let created_at = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let new_backup = new.settings.backup.clone();
        Datastore {
            arn: format!("arn:aws:healthlake:{region}:{account_id}:datastore/fhir/{id}"),
            endpoint: format!("https://healthlake.{region}.amazonaws.com/datastore/{id}/r4/"),
            name: new.name,
            type_version: new.type_version,
            created_at,
            client_token: new.client_token,
            settings: new.settings,
            tags: new.tags,
            lifecycle: Lifecycle::new(created_at, new.create_failure),
            backup_enabled_at: backup_enabled(new_backup.as_ref()).then_some(created_at),
            id,
        }
    }

    pub fn created_ms(&self) -> i64 {
        self.created_at.timestamp_millis()
    }

    pub fn summary(&self, status_now: &StatusNow) -> DatastoreSummary {
        DatastoreSummary {
            datastore_id: self.id.clone(),
            datastore_arn: self.arn.clone(),
            datastore_status: status_now.status.as_str().to_owned(),
            datastore_endpoint: self.endpoint.clone(),
        }
    }

    pub fn properties(&self, status_now: StatusNow) -> DatastoreProperties {
        DatastoreProperties {
            datastore_id: self.id.clone(),
            datastore_arn: self.arn.clone(),
            datastore_name: self.name.clone(),
            datastore_status: status_now.status.as_str().to_owned(),
            created_at: self.created_ms() as f64 / 1000.0,
            datastore_type_version: self.type_version.clone(),
            datastore_endpoint: self.endpoint.clone(),
            sse_configuration: Some(self.settings.sse.clone()),
            preload_data_config: self.settings.preload.clone(),
            identity_provider_configuration: Some(self.settings.identity_provider.clone()),
            error_cause: status_now.error_cause,
            analytics_configuration: self.settings.analytics.clone(),
            nlp_configuration: self.settings.nlp.clone(),
            profile_configuration: self.settings.profile.clone(),
            backup_status_info: self.settings.backup.clone().map(|configuration| {
                DatastoreBackupStatus {
                    configuration,
                    backup_enabled_at: self
                        .backup_enabled_at
                        .map(|at| at.timestamp_millis() as f64 / 1000.0),
                }
            }),
        }
    }

    /// Applies what an accepted UpdateFHIRDatastore changes: each member sent
    /// replaces the store's, the others stay. The changes show from the
    /// moment the update is accepted, and stay when it fails.
    pub fn apply_update(&mut self, request: UpdateFhirDatastoreRequest, now: DateTime<Utc>) {
        if let Some(name) = request.datastore_name {
            self.name = Some(name);
        }
        if let Some(analytics) = request.analytics_configuration {
            self.settings.analytics = Some(analytics);
        }
        if let Some(nlp) = request.nlp_configuration {
            self.settings.nlp = Some(nlp);
        }
        if let Some(profile) = request.profile_configuration {
            self.settings.profile = Some(profile);
        }
        if let Some(identity_provider) = request.identity_provider_configuration {
            self.settings.identity_provider = identity_provider;
        }
        if let Some(backup) = request.backup_configuration {
            let was_enabled = backup_enabled(self.settings.backup.as_ref());
            if !backup_enabled(Some(&backup)) {
                self.backup_enabled_at = None;
            } else if !was_enabled {
                self.backup_enabled_at =
                    Some(DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now));
            }
            self.settings.backup = Some(backup);
        }
    }
}

/// Whether a backup configuration turns backups on.
fn backup_enabled(backup: Option<&BackupConfiguration>) -> bool {
    backup.and_then(|backup| backup.status.as_deref()) == Some("ENABLED")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    const DELAY: TimeDelta = TimeDelta::seconds(2);

    fn cause() -> ErrorCause {
        ErrorCause {
            error_message: "KMS key is disabled".into(),
            error_category: "NON_RETRYABLE_ERROR".into(),
        }
    }

    #[test]
    fn a_store_is_creating_until_the_delay_has_passed_then_active() {
        let lifecycle = Lifecycle::new(at(0), None);
        assert_eq!(lifecycle.at(at(0), DELAY).status, DatastoreStatus::Creating);
        assert_eq!(lifecycle.at(at(1), DELAY).status, DatastoreStatus::Creating);
        assert_eq!(
            lifecycle.at(at(2), DELAY),
            StatusNow::plain(DatastoreStatus::Active)
        );
        assert_eq!(
            lifecycle.at(at(-5), DELAY).status,
            DatastoreStatus::Creating
        );
    }

    #[test]
    fn without_delay_a_store_is_active_at_once() {
        let lifecycle = Lifecycle::new(at(0), None);
        assert_eq!(
            lifecycle.at(at(0), TimeDelta::zero()).status,
            DatastoreStatus::Active
        );
    }

    #[test]
    fn a_scripted_failure_ends_in_create_failed_with_its_cause() {
        let lifecycle = Lifecycle::new(at(0), Some(cause()));
        assert_eq!(
            lifecycle.at(at(1), DELAY),
            StatusNow::plain(DatastoreStatus::Creating)
        );
        assert_eq!(
            lifecycle.at(at(2), DELAY),
            StatusNow {
                status: DatastoreStatus::CreateFailed,
                error_cause: Some(cause()),
            }
        );
    }

    #[test]
    fn only_settled_stores_can_be_deleted_and_deletion_settles_in_deleted() {
        let mut lifecycle = Lifecycle::new(at(0), None);
        assert_eq!(
            lifecycle.begin_deletion(at(1), DELAY),
            Err(DatastoreStatus::Creating)
        );
        assert_eq!(lifecycle.begin_deletion(at(2), DELAY), Ok(()));
        assert_eq!(lifecycle.at(at(3), DELAY).status, DatastoreStatus::Deleting);
        assert_eq!(
            lifecycle.begin_deletion(at(3), DELAY),
            Err(DatastoreStatus::Deleting)
        );
        assert_eq!(lifecycle.at(at(4), DELAY).status, DatastoreStatus::Deleted);
        assert_eq!(
            lifecycle.begin_deletion(at(9), DELAY),
            Err(DatastoreStatus::Deleted)
        );

        let mut failed = Lifecycle::new(at(0), Some(cause()));
        assert_eq!(
            failed.at(at(5), DELAY).status,
            DatastoreStatus::CreateFailed
        );
        assert_eq!(failed.begin_deletion(at(5), DELAY), Ok(()));
        assert_eq!(failed.at(at(6), DELAY).status, DatastoreStatus::Deleting);
    }

    #[test]
    fn an_update_is_updating_for_the_delay_then_active_or_failed_with_its_cause() {
        let mut lifecycle = Lifecycle::new(at(0), None);
        assert_eq!(
            lifecycle.begin_update(at(1), DELAY, None),
            Err(DatastoreStatus::Creating)
        );
        assert_eq!(lifecycle.begin_update(at(2), DELAY, None), Ok(()));
        assert_eq!(lifecycle.at(at(3), DELAY).status, DatastoreStatus::Updating);
        assert_eq!(
            lifecycle.begin_update(at(3), DELAY, None),
            Err(DatastoreStatus::Updating)
        );
        assert_eq!(
            lifecycle.begin_deletion(at(3), DELAY),
            Err(DatastoreStatus::Updating)
        );
        assert_eq!(
            lifecycle.at(at(4), DELAY),
            StatusNow::plain(DatastoreStatus::Active)
        );

        assert_eq!(lifecycle.begin_update(at(4), DELAY, Some(cause())), Ok(()));
        assert_eq!(lifecycle.at(at(5), DELAY).status, DatastoreStatus::Updating);
        let failed = StatusNow {
            status: DatastoreStatus::UpdateFailed,
            error_cause: Some(cause()),
        };
        assert_eq!(lifecycle.at(at(6), DELAY), failed);
        assert_eq!(lifecycle.at(at(600), DELAY), failed);
        // A failed update is retried.
        assert_eq!(lifecycle.begin_update(at(7), DELAY, None), Ok(()));
        assert_eq!(
            lifecycle.at(at(9), DELAY),
            StatusNow::plain(DatastoreStatus::Active)
        );

        let mut doomed = Lifecycle::new(at(0), Some(cause()));
        assert_eq!(
            doomed.begin_update(at(5), DELAY, None),
            Err(DatastoreStatus::CreateFailed)
        );
        assert_eq!(doomed.begin_deletion(at(5), DELAY), Ok(()));
        assert_eq!(
            doomed.begin_update(at(9), DELAY, None),
            Err(DatastoreStatus::Deleted)
        );
    }

    #[test]
    fn a_store_forced_active_can_be_updated_and_leaves_the_forced_status() {
        let mut lifecycle = Lifecycle::new(at(0), Some(cause()));
        lifecycle.force(StatusNow::plain(DatastoreStatus::Active));
        assert_eq!(lifecycle.begin_update(at(0), DELAY, None), Ok(()));
        assert_eq!(lifecycle.at(at(1), DELAY).status, DatastoreStatus::Updating);
        assert_eq!(lifecycle.at(at(2), DELAY).status, DatastoreStatus::Active);
    }

    #[test]
    fn a_forced_status_stays_until_the_store_is_deleted() {
        let mut lifecycle = Lifecycle::new(at(0), None);
        let archived = StatusNow {
            status: DatastoreStatus::from_wire("ARCHIVED".into()),
            error_cause: Some(cause()),
        };
        lifecycle.force(archived.clone());
        assert_eq!(lifecycle.at(at(0), DELAY), archived);
        assert_eq!(lifecycle.at(at(100), DELAY), archived);
        assert_eq!(
            lifecycle.begin_deletion(at(100), DELAY),
            Err(DatastoreStatus::Other("ARCHIVED".into()))
        );

        lifecycle.force(StatusNow::plain(DatastoreStatus::Active));
        assert_eq!(lifecycle.begin_deletion(at(100), DELAY), Ok(()));
        assert_eq!(
            lifecycle.at(at(101), DELAY).status,
            DatastoreStatus::Deleting
        );
        assert_eq!(
            lifecycle.at(at(102), DELAY).status,
            DatastoreStatus::Deleted
        );
    }

    #[test]
    fn statuses_parse_known_names_and_keep_others() {
        assert_eq!(
            DatastoreStatus::known("ACTIVE"),
            Some(DatastoreStatus::Active)
        );
        assert_eq!(DatastoreStatus::known("active"), None);
        assert_eq!(
            DatastoreStatus::from_wire("UPDATE_FAILED".into()),
            DatastoreStatus::UpdateFailed
        );
        let archived = DatastoreStatus::from_wire("ARCHIVED".into());
        assert_eq!(archived.as_str(), "ARCHIVED");
    }

    fn request() -> CreateFhirDatastoreRequest {
        CreateFhirDatastoreRequest {
            datastore_name: Some("patients".into()),
            datastore_type_version: Some("R4".into()),
            ..Default::default()
        }
    }

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn create_requests_need_an_r4_type_version() {
        let missing = CreateFhirDatastoreRequest {
            datastore_type_version: None,
            ..request()
        };
        let err = NewDatastore::try_from(missing).unwrap_err();
        assert!(err.message().contains("datastoreTypeVersion"), "{err}");
        let r5 = CreateFhirDatastoreRequest {
            datastore_type_version: Some("R5".into()),
            ..request()
        };
        assert!(NewDatastore::try_from(r5).is_err());
        let new = NewDatastore::try_from(request()).unwrap();
        assert_eq!(new.type_version, "R4");
        assert_eq!(
            new.settings.sse.kms_encryption_config.cmk_type,
            "AWS_OWNED_KMS_KEY"
        );
        assert_eq!(new.create_failure, None);
    }

    #[test]
    fn the_outcome_tag_scripts_a_failure_and_a_malformed_one_is_refused() {
        let scripted = CreateFhirDatastoreRequest {
            tags: Some(vec![
                tag("team", "data"),
                tag(
                    OUTCOME_TAG,
                    "CREATE_FAILED:RETRYABLE_ERROR:quota: try later",
                ),
            ]),
            ..request()
        };
        let new = NewDatastore::try_from(scripted).unwrap();
        assert_eq!(
            new.create_failure,
            Some(ErrorCause {
                error_message: "quota: try later".into(),
                error_category: "RETRYABLE_ERROR".into(),
            })
        );
        assert_eq!(new.tags.as_slice().len(), 2);

        let malformed = CreateFhirDatastoreRequest {
            tags: Some(vec![tag(OUTCOME_TAG, "FAIL")]),
            ..request()
        };
        let err = NewDatastore::try_from(malformed).unwrap_err();
        assert!(err.message().contains(OUTCOME_TAG), "{err}");
    }

    #[test]
    fn tags_merge_by_key_validate_and_remove() {
        let mut tags = Tags::default();
        tags.merge(vec![tag("a", "1"), tag("b", "2")]).unwrap();
        tags.merge(vec![tag("a", "3")]).unwrap();
        assert_eq!(tags.as_slice(), &[tag("a", "3"), tag("b", "2")]);
        assert!(tags.merge(vec![tag("c", "4"), tag("", "x")]).is_err());
        assert_eq!(tags.as_slice().len(), 2, "a refused merge changes nothing");
        assert!(tags.merge(vec![tag("v", &"x".repeat(257))]).is_err());
        let many = (0..MAX_TAGS).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert!(tags.merge(many).is_err());
        tags.remove(&["a".into(), "missing".into()]);
        assert_eq!(tags.as_slice(), &[tag("b", "2")]);
    }

    #[test]
    fn a_chosen_id_is_kept_in_the_arn_and_the_endpoint() {
        let mut new = NewDatastore::try_from(request()).unwrap();
        new.id = Some("é:ü/2=+%@".into());
        let store = Datastore::new(new, "eu-west-2", "123456789012", at(0));
        assert_eq!(store.id, "é:ü/2=+%@");
        assert_eq!(
            store.arn,
            "arn:aws:healthlake:eu-west-2:123456789012:datastore/fhir/é:ü/2=+%@"
        );
    }

    #[test]
    fn ids_are_what_the_model_allows() {
        for id in [
            "store one",
            "é:ü/2=+%@",
            "data_store.v1",
            "ж".repeat(32).as_str(),
            "x",
        ] {
            assert_eq!(datastore_id(id.to_owned()), Ok(id.to_owned()));
        }
        for id in [
            "",
            "a#b",
            "a\nb",
            "a!b",
            "e\u{301}",
            "ж".repeat(33).as_str(),
        ] {
            let err = datastore_id(id.to_owned()).unwrap_err();
            assert_eq!(err.code(), crate::protocol::ErrorCode::Validation, "{id:?}");
        }
    }

    #[test]
    fn new_stores_get_hex_ids_and_regional_arns_and_endpoints() {
        let new = NewDatastore::try_from(request()).unwrap();
        let store = Datastore::new(new, "eu-west-2", "123456789012", at(0));
        assert_eq!(store.id.len(), 32);
        assert!(
            store
                .id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(
            store.arn,
            format!(
                "arn:aws:healthlake:eu-west-2:123456789012:datastore/fhir/{}",
                store.id
            )
        );
        assert_eq!(
            store.endpoint,
            format!(
                "https://healthlake.eu-west-2.amazonaws.com/datastore/{}/r4/",
                store.id
            )
        );
        let properties = store.properties(StatusNow::plain(DatastoreStatus::Active));
        assert_eq!(properties.created_at, 1_700_000_000.0);
        assert_eq!(properties.datastore_status, "ACTIVE");
    }
}
