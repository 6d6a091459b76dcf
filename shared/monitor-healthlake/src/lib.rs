//! Lists data stores with aws-sdk-healthlake, one client per account and region.

use aws_config::SdkConfig;
use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_healthlake::Client;
use aws_sdk_healthlake::error::ProvideErrorMetadata;
use aws_sdk_healthlake::error::SdkError;
use aws_sdk_healthlake::types::DatastoreProperties;
use chrono::{DateTime, Utc};
use monitor_core::domain::{
    Access, AccountId, AccountTarget, DatastoreId, DatastoreStatus, ErrorCategory, ErrorCause,
    ExternalId, Observation, Region, Scope, Tags, Unreadable,
};
use monitor_core::ports::{DatastoreDescriber, DatastoreReader, Listing, ReadError, ReadErrorKind};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};
use tracing::instrument;

/// The largest page ListFHIRDatastores allows.
const PAGE_SIZE: i32 = 500;
/// Pages followed at most: far more than the stores an account can hold, and a
/// bound on a service that keeps handing out new tokens.
const MAX_PAGES: usize = 1_000;

/// Reads data stores: with fixed clients per region, or with one client per
/// account, built when the account is first reached and kept for the life of
/// the process (across the ticks of a warm function).
pub struct HealthLakeReader {
    reach: Reach,
}

enum Reach {
    /// Clients given by the caller, per region, for whatever account a scope
    /// names (a single-account command or test).
    Fixed(BTreeMap<Region, Client>),
    /// Accounts registered through [`HealthLakeReader::reach`], each with its
    /// own credentials.
    Accounts {
        base: Box<SdkConfig>,
        roles: RoleSettings,
        accounts: RwLock<HashMap<AccountId, Arc<AccountClients>>>,
    },
}

/// How roles in other accounts are assumed.
#[derive(Debug, Clone)]
pub struct RoleSettings {
    /// Shown in the member account's CloudTrail as the session of each call.
    pub session_name: String,
    pub external_id: Option<ExternalId>,
}

impl Default for RoleSettings {
    fn default() -> Self {
        Self {
            session_name: SESSION_NAME.to_owned(),
            external_id: None,
        }
    }
}

/// Accounts whose clients a reader keeps at most, beyond those of the scan at hand.
pub const MAX_KNOWN_ACCOUNTS: usize = 20_000;

/// The session name of every role the monitor assumes.
pub const SESSION_NAME: &str = "healthlake-monitor";

/// One account's client, with the account's credentials provider and
/// identity cache, so that a role is assumed once per account, not per region,
/// and assumed again only as its credentials near their expiry. Each call
/// names its region (a per-operation override), so one client serves every
/// region: a client per account and region costs about 22 KB each (measured
/// in a debug build), 180 MB for 1,000 accounts in 8 regions.
struct AccountClients {
    access: Access,
    name: Option<String>,
    client: Client,
}

impl HealthLakeReader {
    /// A reader with fixed clients per region.
    pub fn new(clients: BTreeMap<Region, Client>) -> Self {
        Self {
            reach: Reach::Fixed(clients),
        }
    }

    /// A reader of many accounts: the monitor's own with `base`'s credentials,
    /// others through their roles, assumed with `base`'s credentials. Accounts
    /// are registered with [`Self::reach`].
    pub fn accounts(base: SdkConfig, roles: RoleSettings) -> Self {
        Self {
            reach: Reach::Accounts {
                base: Box::new(base),
                roles,
                accounts: RwLock::default(),
            },
        }
    }

    /// Registers the accounts of the next scan. An account already known with
    /// the same access keeps its clients and cached credentials, so a warm
    /// function assumes each role again only as its credentials near expiry.
    /// Accounts not named stay known (a worker scans a different batch each
    /// time) up to [`MAX_KNOWN_ACCOUNTS`], past which only the named ones are kept.
    pub async fn reach(&self, targets: &[AccountTarget]) {
        let Reach::Accounts {
            base,
            roles,
            accounts,
        } = &self.reach
        else {
            return;
        };
        let mut next: HashMap<AccountId, Arc<AccountClients>> = accounts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if next.len() + targets.len() > MAX_KNOWN_ACCOUNTS {
            next.retain(|account, _| targets.iter().any(|t| &t.account == account));
        }
        for target in targets {
            let clients = match next.get(&target.account) {
                Some(known) if known.access == target.access && known.name == target.name => {
                    continue;
                }
                // Renamed: the same client and credentials under the new name.
                Some(known) if known.access == target.access => AccountClients {
                    access: known.access.clone(),
                    name: target.name.clone(),
                    client: known.client.clone(),
                },
                _ => AccountClients {
                    access: target.access.clone(),
                    name: target.name.clone(),
                    client: Client::new(&account_config(base, roles, &target.access).await),
                },
            };
            next.insert(target.account.clone(), Arc::new(clients));
        }
        *accounts.write().unwrap_or_else(PoisonError::into_inner) = next;
    }

    /// The client of a scope, the account's access, and its name.
    fn client(&self, scope: &Scope) -> Result<(Client, Access, Option<String>), ReadError> {
        let missing = |what: String| ReadError {
            scope: scope.clone(),
            kind: ReadErrorKind::Other,
            message: what,
        };
        match &self.reach {
            Reach::Fixed(clients) => clients
                .get(&scope.region)
                .map(|c| (c.clone(), Access::Own, None))
                .ok_or_else(|| {
                    missing(format!(
                        "no HealthLake client configured for region {}",
                        scope.region
                    ))
                }),
            Reach::Accounts { accounts, .. } => {
                let accounts = accounts.read().unwrap_or_else(PoisonError::into_inner);
                let account = accounts.get(&scope.account).ok_or_else(|| {
                    missing(format!(
                        "account {} is not among the accounts this tick reaches",
                        scope.account
                    ))
                })?;
                Ok((
                    account.client.clone(),
                    account.access.clone(),
                    account.name.clone(),
                ))
            }
        }
    }
}

/// The configuration of an account's clients: `base` itself for the own
/// account; for another, the SDK's AssumeRole provider with its own identity
/// cache, shared by the account's regional clients.
async fn account_config(base: &SdkConfig, roles: &RoleSettings, access: &Access) -> SdkConfig {
    match access {
        Access::Own => base.clone(),
        Access::Role(arn) => {
            let mut provider = AssumeRoleProvider::builder(arn.as_str())
                .configure(base)
                .session_name(&roles.session_name);
            if let Some(id) = &roles.external_id {
                provider = provider.external_id(id.as_str());
            }
            base.to_builder()
                .credentials_provider(SharedCredentialsProvider::new(provider.build().await))
                .identity_cache(IdentityCache::lazy().build())
                .build()
        }
    }
}

fn client_in(config: &SdkConfig, region: &Region) -> Client {
    let config = aws_sdk_healthlake::config::Builder::from(config)
        .region(aws_sdk_healthlake::config::Region::new(region.to_string()))
        .build();
    Client::from_conf(config)
}

impl DatastoreReader for HealthLakeReader {
    #[instrument(skip(self), fields(scope = %scope))]
    async fn list(&self, scope: &Scope) -> Result<Listing, ReadError> {
        let invalid = |message: String| ReadError {
            scope: scope.clone(),
            kind: ReadErrorKind::InvalidResponse,
            message,
        };
        let (client, access, account_name) = self.client(scope)?;
        let mut listing = Listing {
            account_name,
            ..Listing::default()
        };
        let mut token: Option<String> = None;
        let mut seen_tokens = HashSet::new();
        for _ in 0..MAX_PAGES {
            let page = client
                .list_fhir_datastores()
                .max_results(PAGE_SIZE)
                .set_next_token(token.take())
                .customize()
                .config_override(aws_sdk_healthlake::config::Builder::default().region(
                    aws_sdk_healthlake::config::Region::new(scope.region.to_string()),
                ))
                .send()
                .await
                .map_err(|e| read_error(scope, &access, e))?;
            for properties in page.datastore_properties_list() {
                match observation(scope, properties) {
                    Ok(o) => listing.observations.push(o),
                    Err(u) => listing.unreadable.push(u),
                }
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => {
                    if !seen_tokens.insert(next.to_owned()) {
                        return Err(invalid(
                            "ListFHIRDatastores returned a NextToken it had already returned: \
                             the listing would never end"
                                .into(),
                        ));
                    }
                    token = Some(next.to_owned());
                }
                _ => return Ok(listing),
            }
        }
        Err(invalid(format!(
            "ListFHIRDatastores was still paging after {MAX_PAGES} pages"
        )))
    }

    /// ListTagsForResource of one store, in the scope's account and region.
    #[instrument(skip(self), fields(scope = %scope))]
    async fn tags(&self, scope: &Scope, arn: &str) -> Result<Tags, ReadError> {
        let (client, access, _) = self.client(scope)?;
        let answer = client
            .list_tags_for_resource()
            .resource_arn(arn)
            .customize()
            .config_override(aws_sdk_healthlake::config::Builder::default().region(
                aws_sdk_healthlake::config::Region::new(scope.region.to_string()),
            ))
            .send()
            .await
            .map_err(|e| read_error(scope, &access, e))?;
        Ok(answer
            .tags()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect())
    }
}

impl DatastoreDescriber for HealthLakeReader {
    /// DescribeFHIRDatastore of one store, in the scope's account and region.
    /// A store the service does not know (ResourceNotFoundException) is `None`.
    #[instrument(skip(self), fields(scope = %scope, datastore = %id))]
    async fn describe(
        &self,
        scope: &Scope,
        id: &DatastoreId,
    ) -> Result<Option<Observation>, ReadError> {
        let (client, access, _) = self.client(scope)?;
        let answer = client
            .describe_fhir_datastore()
            .datastore_id(id.as_str())
            .customize()
            .config_override(aws_sdk_healthlake::config::Builder::default().region(
                aws_sdk_healthlake::config::Region::new(scope.region.to_string()),
            ))
            .send()
            .await;
        let properties = match answer {
            Ok(answer) => answer.datastore_properties,
            Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => {
                return Ok(None);
            }
            Err(e) => return Err(read_error(scope, &access, e)),
        };
        let invalid = |message: String| ReadError {
            scope: scope.clone(),
            kind: ReadErrorKind::InvalidResponse,
            message,
        };
        let properties = properties.ok_or_else(|| {
            invalid(format!(
                "DescribeFHIRDatastore of {id:?} answered no DatastoreProperties"
            ))
        })?;
        if properties.datastore_id() != id.as_str() {
            return Err(invalid(format!(
                "DescribeFHIRDatastore of {id:?} answered store {:?}",
                properties.datastore_id()
            )));
        }
        observation(scope, &properties)
            .map(Some)
            .map_err(|u| invalid(format!("{}: {}", u.location, u.reason)))
    }
}

fn read_error<E>(scope: &Scope, access: &Access, error: SdkError<E>) -> ReadError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = monitor_aws::error_text(&error);
    if let (Access::Role(arn), true) = (access, is_credentials_failure(&error)) {
        return ReadError {
            scope: scope.clone(),
            kind: ReadErrorKind::RoleNotAssumed,
            message: format!("role {arn} could not be assumed: {message}"),
        };
    }
    if let Some(message) = not_an_aws_error(&error) {
        return ReadError {
            scope: scope.clone(),
            kind: ReadErrorKind::InvalidResponse,
            message,
        };
    }
    let kind = match &error {
        SdkError::ServiceError(e) => match e.err().meta().code() {
            Some("ThrottlingException") => ReadErrorKind::Throttled,
            Some("AccessDeniedException") => ReadErrorKind::AccessDenied,
            Some(
                "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "IncompleteSignatureException"
                | "MissingAuthenticationTokenException",
            ) => ReadErrorKind::InvalidCredentials,
            Some("ExpiredTokenException") => ReadErrorKind::ExpiredCredentials,
            _ => ReadErrorKind::Other,
        },
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => ReadErrorKind::Unreachable,
        SdkError::ResponseError(_) => ReadErrorKind::InvalidResponse,
        _ => ReadErrorKind::Other,
    };
    ReadError {
        scope: scope.clone(),
        kind,
        message,
    }
}

/// What an error answer without an AWS error code was (an HTML page from a
/// proxy or load balancer, an empty body): its status and content type, and
/// never its body.
fn not_an_aws_error<E: ProvideErrorMetadata>(error: &SdkError<E>) -> Option<String> {
    let SdkError::ServiceError(e) = error else {
        return None;
    };
    if e.err().meta().code().is_some() {
        return None;
    }
    let raw = e.raw();
    let content = match raw.headers().get("content-type") {
        Some(content_type) => format!("a {} body", monitor_core::text::cut(content_type, 100)),
        None => "a body without a content type".to_owned(),
    };
    Some(format!(
        "HealthLake answered HTTP {} with {content}, not an AWS error",
        raw.status().as_u16()
    ))
}

/// Whether the call failed because its credentials could not be resolved
/// (the SDK reports the provider's error as the cause of a request that
/// could not be made).
fn is_credentials_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<CredentialsError>().is_some() {
            return true;
        }
        cause = e.source();
    }
    false
}

fn observation(scope: &Scope, p: &DatastoreProperties) -> Result<Observation, Unreadable> {
    let id = DatastoreId::parse(p.datastore_id()).map_err(|e| Unreadable {
        id: Some(p.datastore_id().to_owned()),
        location: format!("ListFHIRDatastores entry {:?} in {scope}", p.datastore_id()),
        reason: e.to_string(),
    })?;
    Ok(Observation {
        account: scope.account.clone(),
        region: scope.region.clone(),
        id,
        arn: p.datastore_arn().to_owned(),
        name: p.datastore_name().unwrap_or_default().to_owned(),
        status: DatastoreStatus::parse(p.datastore_status().as_str()),
        created_at: p.created_at().and_then(to_millisecond),
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

/// A time HealthLake sent as epoch seconds in a double (awsJson), which the
/// SDK reads to the nanosecond with the double's error (`.441` arrives as
/// `.440999…`): rounded to the millisecond, the precision the service keeps.
fn to_millisecond(t: &aws_sdk_healthlake::primitives::DateTime) -> Option<DateTime<Utc>> {
    let millis = t
        .secs()
        .checked_mul(1000)?
        .checked_add(i64::from((t.subsec_nanos() + 500_000) / 1_000_000))?;
    DateTime::<Utc>::from_timestamp_millis(millis)
}

/// One HealthLake client per region, sharing credentials and settings.
pub fn clients_per_region(base: &SdkConfig, regions: &[Region]) -> BTreeMap<Region, Client> {
    regions
        .iter()
        .map(|region| (region.clone(), client_in(base, region)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_to_the_nearest_millisecond() {
        let read = |seconds: f64| {
            to_millisecond(&aws_sdk_healthlake::primitives::DateTime::from_secs_f64(
                seconds,
            ))
            .map(|t| t.timestamp_millis())
        };
        // 1795730676.441 is 1795730676.44099998... as a double.
        assert_eq!(read(1_795_730_676.441), Some(1_795_730_676_441));
        assert_eq!(read(1_795_730_676.999_6), Some(1_795_730_677_000));
        assert_eq!(read(0.0), Some(0));
    }
    use monitor_core::domain::AccountId;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A loopback server that answers every ListFHIRDatastores call with the
    /// same page, as a faulty service could; counts the calls.
    async fn serve_page(body: &'static str) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                // Headers, then as many body bytes as Content-Length says.
                loop {
                    let n = socket.read(&mut buffer).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request).to_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if request.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            }
        });
        (endpoint, calls)
    }

    async fn reader(endpoint: &str, scope: &Scope) -> HealthLakeReader {
        let config = aws_sdk_healthlake::Config::builder()
            .behavior_version(aws_sdk_healthlake::config::BehaviorVersion::latest())
            .region(aws_sdk_healthlake::config::Region::new(
                scope.region.to_string(),
            ))
            .endpoint_url(endpoint)
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            ))
            .build();
        HealthLakeReader::new(
            [(
                scope.region.clone(),
                aws_sdk_healthlake::Client::from_conf(config),
            )]
            .into(),
        )
    }

    fn scope() -> Scope {
        Scope::new(
            AccountId::parse("123456789012").unwrap(),
            Region::parse("us-east-1").unwrap(),
        )
    }

    #[tokio::test]
    async fn a_next_token_handed_out_twice_ends_the_listing_with_an_error() {
        let (endpoint, calls) =
            serve_page(r#"{"DatastorePropertiesList": [], "NextToken": "page-2"}"#).await;
        let err = reader(&endpoint, &scope())
            .await
            .list(&scope())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ReadErrorKind::InvalidResponse);
        assert!(err.message.contains("NextToken"), "{err}");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_entry_that_cannot_be_read_is_reported_and_the_rest_listed() {
        let (endpoint, _) = serve_page(
            r#"{"DatastorePropertiesList": [
                {"DatastoreId": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "DatastoreArn": "arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/a1b2c3d4e5f60718293a4b5c6d7e8f90",
                 "DatastoreName": "good", "DatastoreStatus": "ACTIVE", "DatastoreTypeVersion": "R4", "DatastoreEndpoint": "https://x/"},
                {"DatastoreId": "no#such/id", "DatastoreArn": "arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/x",
                 "DatastoreName": "odd", "DatastoreStatus": "CREATE_FAILED", "DatastoreTypeVersion": "R4", "DatastoreEndpoint": "https://x/"}
            ]}"#,
        )
        .await;
        let listing = reader(&endpoint, &scope())
            .await
            .list(&scope())
            .await
            .unwrap();
        assert_eq!(listing.observations.len(), 1);
        assert_eq!(listing.observations[0].name, "good");
        assert_eq!(listing.unreadable.len(), 1);
        let report = listing.unreadable[0].to_string();
        assert!(
            report.contains("no#such/id") && report.contains("us-east-1"),
            "{report}"
        );
        assert_eq!(listing.unreadable[0].id.as_deref(), Some("no#such/id"));
    }
}
