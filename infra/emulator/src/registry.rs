//! The data stores of every account and region, and the operations on them.
//!
//! Lifecycle rules the service documents or that are settings here (see the
//! README's "Lifecycle and paging"): a DELETED store is listed, described and
//! found for [`EmulatorConfig::deleted_retention`] after its deletion
//! settled, then it is gone; a ClientToken is remembered for
//! [`EmulatorConfig::client_token_lifetime`] and, reused with other
//! parameters, refused; CreateFHIRDatastore keeps each account to
//! [`EmulatorConfig::max_datastores`] stores not DELETED in each region; a
//! store being deleted or deleted has no tags to read or change.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::listing::{self, Filter, Listing, Page, PageRequest, PageTokens, SortKey, paginate};
use crate::model::{Datastore, DatastoreStatus, NewDatastore, StatusNow, scripted_outcome};
use crate::outcome::Failing;
use crate::protocol::ApiError;
use crate::server::EmulatorConfig;
use crate::wire::UpdateFhirDatastoreRequest;

/// A store and what a client sees of it now.
pub type ListedStore<'a> = (&'a Datastore, StatusNow);

/// Where stores live: each account has its own in each region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    pub account: &'a str,
    pub region: &'a str,
}

/// A store found by id, with its scope.
pub struct Found<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub store: &'a mut Datastore,
}

/// A ClientToken's first create: what it asked for and the store it made.
#[derive(Debug)]
struct TokenUse {
    request: NewDatastore,
    id: String,
    used_at: DateTime<Utc>,
}

/// Account, region and ClientToken.
type TokenKey = (String, String, String);

#[derive(Debug)]
pub struct Registry {
    transition_delay: TimeDelta,
    deleted_retention: TimeDelta,
    client_token_lifetime: TimeDelta,
    max_datastores: usize,
    page_tokens: PageTokens,
    /// Account, then region.
    stores: BTreeMap<String, BTreeMap<String, Vec<Datastore>>>,
    client_tokens: BTreeMap<TokenKey, TokenUse>,
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

impl Registry {
    /// A registry with `transition_delay` and the other settings of the
    /// default [`EmulatorConfig`].
    pub fn new(transition_delay: Duration) -> Registry {
        Registry::with_config(&EmulatorConfig {
            transition_delay,
            ..EmulatorConfig::default()
        })
    }

    pub fn with_config(config: &EmulatorConfig) -> Registry {
        Registry {
            transition_delay: delta(config.transition_delay),
            deleted_retention: delta(config.deleted_retention),
            client_token_lifetime: delta(config.client_token_lifetime),
            max_datastores: config.max_datastores,
            page_tokens: PageTokens::new(config.page_token_lifetime),
            stores: BTreeMap::new(),
            client_tokens: BTreeMap::new(),
        }
    }

    fn status_now(&self, store: &Datastore, now: DateTime<Utc>) -> StatusNow {
        store.lifecycle.at(now, self.transition_delay)
    }

    /// Whether a store is still there: not DELETED for longer than the
    /// retention. A DELETED status forced through the admin route, without a
    /// deletion, stays.
    fn present(&self, store: &Datastore, now: DateTime<Utc>) -> bool {
        let deleted_since = store
            .lifecycle
            .deletion_started_at()
            .and_then(|started| started.checked_add_signed(self.transition_delay));
        match deleted_since {
            Some(since) if self.status_now(store, now).status == DatastoreStatus::Deleted => {
                now.signed_duration_since(since) < self.deleted_retention
            }
            _ => true,
        }
    }

    /// Forgets the stores past their retention and the client tokens past
    /// their lifetime or whose store is gone.
    pub fn purge(&mut self, now: DateTime<Utc>) {
        let mut stores = std::mem::take(&mut self.stores);
        for regions in stores.values_mut() {
            for region in regions.values_mut() {
                region.retain(|store| self.present(store, now));
            }
        }
        self.stores = stores;
        let lifetime = self.client_token_lifetime;
        let mut tokens = std::mem::take(&mut self.client_tokens);
        tokens.retain(|(account, region, _), used| {
            now.signed_duration_since(used.used_at) < lifetime
                && self
                    .stores(Scope { account, region })
                    .iter()
                    .any(|store| store.id == used.id)
        });
        self.client_tokens = tokens;
    }

    /// Creates a store, as the admin route does: not held to the quota. A
    /// client token already used in the scope, within its lifetime, returns
    /// the store it created when the parameters are the same, so a retried
    /// request creates nothing new, and is a ValidationException when they
    /// differ. A chosen id that a store of any account or region has is a
    /// conflict: ids are unique.
    pub fn create(
        &mut self,
        scope: Scope<'_>,
        new: NewDatastore,
        now: DateTime<Utc>,
    ) -> Result<ListedStore<'_>, ApiError> {
        self.insert(scope, new, now, false)
    }

    /// Creates a store as CreateFHIRDatastore does: as [`Registry::create`],
    /// and refused with a ValidationException once the account holds
    /// `max_datastores` stores not DELETED in the region.
    pub fn create_within_quota(
        &mut self,
        scope: Scope<'_>,
        new: NewDatastore,
        now: DateTime<Utc>,
    ) -> Result<ListedStore<'_>, ApiError> {
        self.insert(scope, new, now, true)
    }

    fn insert(
        &mut self,
        scope: Scope<'_>,
        new: NewDatastore,
        now: DateTime<Utc>,
        quota: bool,
    ) -> Result<ListedStore<'_>, ApiError> {
        self.purge(now);
        let token_key = new.client_token.as_ref().map(|token| {
            (
                scope.account.to_owned(),
                scope.region.to_owned(),
                token.clone(),
            )
        });
        if let Some(used) = token_key
            .as_ref()
            .and_then(|key| self.client_tokens.get(key))
        {
            if used.request != new {
                return Err(ApiError::validation(format!(
                    "ClientToken {} was already used to create data store {} with other parameters; a ClientToken can be reused only with the same parameters",
                    token_key
                        .as_ref()
                        .map(|key| key.2.as_str())
                        .unwrap_or_default(),
                    used.id
                )));
            }
            let id = used.id.clone();
            return self.get(scope, &id, now);
        }
        if let Some(id) = &new.id
            && self.find_anywhere_mut(id).is_some()
        {
            return Err(ApiError::conflict(format!("Datastore {id} already exists")));
        }
        if quota {
            let held = self
                .stores(scope)
                .iter()
                .filter(|store| self.status_now(store, now).status != DatastoreStatus::Deleted)
                .count();
            if held >= self.max_datastores {
                return Err(ApiError::validation(format!(
                    "Service quota exceeded: account {} has {held} data stores that are not DELETED in {}, and the quota is {}; delete one or request a quota increase",
                    scope.account, scope.region, self.max_datastores
                )));
            }
        }
        let remembered = token_key.map(|key| (key, new.clone()));
        let delay = self.transition_delay;
        let stores = self
            .stores
            .entry(scope.account.to_owned())
            .or_default()
            .entry(scope.region.to_owned())
            .or_default();
        stores.push(Datastore::new(new, scope.region, scope.account, now));
        let store = &stores[stores.len() - 1];
        if let Some((key, request)) = remembered {
            self.client_tokens.insert(
                key,
                TokenUse {
                    request,
                    id: store.id.clone(),
                    used_at: now,
                },
            );
        }
        Ok((store, store.lifecycle.at(now, delay)))
    }

    pub fn get(
        &self,
        scope: Scope<'_>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<ListedStore<'_>, ApiError> {
        self.stores(scope)
            .iter()
            .find(|store| store.id == id && self.present(store, now))
            .map(|store| (store, self.status_now(store, now)))
            .ok_or_else(|| not_found(id))
    }

    pub fn delete(
        &mut self,
        scope: Scope<'_>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<ListedStore<'_>, ApiError> {
        self.purge(now);
        let delay = self.transition_delay;
        let store = self
            .stores_mut(scope)
            .and_then(|stores| stores.iter_mut().find(|store| store.id == id))
            .ok_or_else(|| not_found(id))?;
        store
            .lifecycle
            .begin_deletion(now, delay)
            .map_err(|status| {
                ApiError::conflict(format!(
                    "Datastore {id} is {} and can only be deleted when ACTIVE or failed",
                    status.as_str()
                ))
            })?;
        let status_now = store.lifecycle.at(now, delay);
        Ok((store, status_now))
    }

    /// Starts an update of store `id`: the outcome tag it holds now decides
    /// whether the update ends in ACTIVE or UPDATE_FAILED.
    pub fn update(
        &mut self,
        scope: Scope<'_>,
        id: &str,
        request: UpdateFhirDatastoreRequest,
        now: DateTime<Utc>,
    ) -> Result<ListedStore<'_>, ApiError> {
        let delay = self.transition_delay;
        let store = self
            .stores_mut(scope)
            .and_then(|stores| stores.iter_mut().find(|store| store.id == id))
            .ok_or_else(|| not_found(id))?;
        let failure =
            scripted_outcome(&store.tags)?.and_then(|outcome| outcome.cause_for(Failing::Update));
        store
            .lifecycle
            .begin_update(now, delay, failure)
            .map_err(|status| {
                ApiError::conflict(format!(
                    "Datastore {id} is {} and can only be updated when ACTIVE or UPDATE_FAILED",
                    status.as_str()
                ))
            })?;
        store.apply_update(request, now);
        let status_now = store.lifecycle.at(now, delay);
        Ok((store, status_now))
    }

    pub fn list(
        &self,
        scope: Scope<'_>,
        filter: &Filter,
        page: &PageRequest,
        now: DateTime<Utc>,
    ) -> Page<ListedStore<'_>> {
        let matching = self
            .stores(scope)
            .iter()
            .filter(|store| self.present(store, now))
            .map(|store| (store, self.status_now(store, now)))
            .filter(|(store, status_now)| {
                filter.matches(
                    store.name.as_deref(),
                    &status_now.status,
                    store.created_ms(),
                )
            })
            .map(|(store, status_now)| {
                let key = SortKey {
                    created_ms: store.created_ms(),
                    id: store.id.clone(),
                };
                (key, (store, status_now))
            })
            .collect();
        paginate(matching, page)
    }

    /// A page of ListFHIRDatastores: its stores, and the token of the next
    /// page, bound to this listing (see [`listing`]).
    pub fn list_page(
        &self,
        scope: Scope<'_>,
        filter: &Filter,
        max_results: Option<i64>,
        next_token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<ListedStore<'_>>, Option<String>), ApiError> {
        let listing = Listing {
            account: scope.account,
            region: scope.region,
            filter,
            max_results: listing::max_results(max_results)?,
        };
        let after = next_token
            .map(|token| self.page_tokens.open(token, &listing, now))
            .transpose()?;
        let request = PageRequest {
            max_results: listing.max_results,
            after,
        };
        let page = self.list(scope, filter, &request, now);
        let next = page
            .next
            .map(|key| self.page_tokens.issue(&key, &listing, now));
        Ok((page.items, next))
    }

    /// A store by ARN in the scope of the request, whose tags change: one
    /// being deleted or deleted is not found.
    pub fn by_arn_mut(
        &mut self,
        scope: Scope<'_>,
        arn: &str,
        now: DateTime<Utc>,
    ) -> Result<&mut Datastore, ApiError> {
        self.by_arn(scope, arn, now)?;
        self.stores_mut(scope)
            .and_then(|stores| stores.iter_mut().find(|store| store.arn == arn))
            .ok_or_else(|| ApiError::not_found(format!("Resource {arn} does not exist")))
    }

    /// A store by ARN in the scope of the request, whose tags are read: one
    /// being deleted or deleted is not found.
    pub fn by_arn(
        &self,
        scope: Scope<'_>,
        arn: &str,
        now: DateTime<Utc>,
    ) -> Result<&Datastore, ApiError> {
        validate_arn(arn)?;
        let store = self
            .stores(scope)
            .iter()
            .find(|store| store.arn == arn && self.present(store, now))
            .ok_or_else(|| ApiError::not_found(format!("Resource {arn} does not exist")))?;
        let status = self.status_now(store, now).status;
        if matches!(status, DatastoreStatus::Deleting | DatastoreStatus::Deleted) {
            return Err(ApiError::not_found(format!(
                "Resource {arn} is {}: a data store being deleted or deleted has no tags",
                status.as_str()
            )));
        }
        Ok(store)
    }

    /// A store by id in whichever account and region holds it: ids are
    /// unique across all of them.
    pub fn find_anywhere_mut(&mut self, id: &str) -> Option<Found<'_>> {
        self.stores.iter_mut().find_map(|(account, regions)| {
            regions.iter_mut().find_map(|(region, stores)| {
                stores
                    .iter_mut()
                    .find(|store| store.id == id)
                    .map(|store| Found {
                        account: account.as_str(),
                        region: region.as_str(),
                        store,
                    })
            })
        })
    }

    /// How many stores each account holds in each region.
    pub fn counts(&self) -> BTreeMap<&str, BTreeMap<&str, usize>> {
        self.stores
            .iter()
            .map(|(account, regions)| {
                let per_region = regions
                    .iter()
                    .map(|(region, stores)| (region.as_str(), stores.len()))
                    .collect();
                (account.as_str(), per_region)
            })
            .collect()
    }

    pub fn clear(&mut self) {
        self.stores.clear();
        self.client_tokens.clear();
    }

    /// Every store of every account and region, with its status at `now`.
    pub fn all(
        &self,
        now: DateTime<Utc>,
    ) -> impl Iterator<Item = (&str, &str, &Datastore, StatusNow)> + '_ {
        self.stores.iter().flat_map(move |(account, regions)| {
            regions.iter().flat_map(move |(region, stores)| {
                stores.iter().map(move |store| {
                    (
                        account.as_str(),
                        region.as_str(),
                        store,
                        self.status_now(store, now),
                    )
                })
            })
        })
    }

    fn stores(&self, scope: Scope<'_>) -> &[Datastore] {
        self.stores
            .get(scope.account)
            .and_then(|regions| regions.get(scope.region))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn stores_mut(&mut self, scope: Scope<'_>) -> Option<&mut Vec<Datastore>> {
        self.stores
            .get_mut(scope.account)
            .and_then(|regions| regions.get_mut(scope.region))
    }
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Datastore {id} does not exist"))
}

fn validate_arn(arn: &str) -> Result<(), ApiError> {
    if arn.starts_with("arn:") && arn.split(':').count() >= 6 {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "1 validation error detected: Value '{arn}' at 'resourceARN' failed to satisfy constraint: Member must be an ARN"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DatastoreStatus;
    use crate::protocol::ErrorCode;
    use crate::wire::CreateFhirDatastoreRequest;

    const DELAY: Duration = Duration::from_secs(2);

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap()
    }

    fn new(name: &str, token: Option<&str>) -> NewDatastore {
        NewDatastore::try_from(CreateFhirDatastoreRequest {
            datastore_name: Some(name.into()),
            datastore_type_version: Some("R4".into()),
            client_token: token.map(Into::into),
            ..Default::default()
        })
        .unwrap()
    }

    fn registry() -> Registry {
        Registry::new(DELAY)
    }

    const EAST_1: Scope<'static> = Scope {
        account: "123456789012",
        region: "us-east-1",
    };

    fn scope(region: &'static str) -> Scope<'static> {
        Scope { region, ..EAST_1 }
    }

    #[test]
    fn regions_hold_their_own_stores() {
        let mut registry = registry();
        let id = registry
            .create(EAST_1, new("a", None), at(0))
            .unwrap()
            .0
            .id
            .clone();
        assert!(registry.get(EAST_1, &id, at(0)).is_ok());
        assert_eq!(
            registry
                .get(scope("us-east-2"), &id, at(0))
                .unwrap_err()
                .code(),
            ErrorCode::ResourceNotFound
        );
        let everything = PageRequest {
            max_results: 100,
            after: None,
        };
        let listed = registry.list(scope("us-east-2"), &Filter::default(), &everything, at(0));
        assert!(listed.items.is_empty());
        let found = registry.find_anywhere_mut(&id).unwrap();
        assert_eq!((found.account, found.region), ("123456789012", "us-east-1"));
    }

    #[test]
    fn a_chosen_id_is_listed_as_it_is_and_cannot_be_taken_twice() {
        let mut registry = registry();
        let chosen = |id: &str| NewDatastore {
            id: Some(id.into()),
            ..new("a", None)
        };
        let (store, _) = registry.create(EAST_1, chosen("store one"), at(0)).unwrap();
        assert_eq!(store.id, "store one");
        let elsewhere = Scope {
            account: "210987654321",
            region: "eu-west-2",
        };
        let err = registry
            .create(elsewhere, chosen("store one"), at(1))
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Conflict);
        assert!(registry.get(EAST_1, "store one", at(1)).is_ok());
        assert!(registry.create(EAST_1, new("b", None), at(1)).is_ok());
    }

    #[test]
    fn accounts_hold_their_own_stores_in_each_region() {
        let mut registry = registry();
        let other = Scope {
            account: "210987654321",
            ..EAST_1
        };
        let (store, _) = registry.create(other, new("a", Some("t1")), at(0)).unwrap();
        let (id, arn) = (store.id.clone(), store.arn.clone());
        assert_eq!(
            arn,
            format!("arn:aws:healthlake:us-east-1:210987654321:datastore/fhir/{id}")
        );
        assert!(registry.get(other, &id, at(0)).is_ok());
        assert_eq!(
            registry.get(EAST_1, &id, at(0)).unwrap_err().code(),
            ErrorCode::ResourceNotFound
        );
        assert!(registry.by_arn(EAST_1, &arn, at(0)).is_err());
        let everything = PageRequest {
            max_results: 100,
            after: None,
        };
        assert!(
            registry
                .list(EAST_1, &Filter::default(), &everything, at(0))
                .items
                .is_empty()
        );
        // The same client token in another account is another request.
        let mine = registry
            .create(EAST_1, new("a", Some("t1")), at(0))
            .unwrap()
            .0
            .id
            .clone();
        assert_ne!(mine, id);
        let found = registry.find_anywhere_mut(&id).unwrap();
        assert_eq!(found.account, "210987654321");
        assert_eq!(
            registry.counts(),
            BTreeMap::from([
                ("123456789012", BTreeMap::from([("us-east-1", 1)])),
                ("210987654321", BTreeMap::from([("us-east-1", 1)])),
            ])
        );
    }

    #[test]
    fn a_client_token_makes_create_idempotent() {
        let mut registry = registry();
        let first = registry
            .create(EAST_1, new("a", Some("t1")), at(0))
            .unwrap()
            .0
            .id
            .clone();
        let again = registry
            .create(EAST_1, new("a", Some("t1")), at(5))
            .unwrap()
            .0
            .id
            .clone();
        let other = registry
            .create(EAST_1, new("a", Some("t2")), at(5))
            .unwrap()
            .0
            .id
            .clone();
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn a_failed_store_can_be_deleted() {
        let mut registry = registry();
        let mut failing = new("f", None);
        failing.create_failure = Some(crate::model::ErrorCause {
            error_message: "key disabled".into(),
            error_category: "NON_RETRYABLE_ERROR".into(),
        });
        let id = registry
            .create(EAST_1, failing, at(0))
            .unwrap()
            .0
            .id
            .clone();
        let (_, failed) = registry.get(EAST_1, &id, at(2000)).unwrap();
        assert_eq!(failed.status, DatastoreStatus::CreateFailed);
        let (_, deleting) = registry.delete(EAST_1, &id, at(2100)).unwrap();
        assert_eq!(deleting.status, DatastoreStatus::Deleting);
        let (_, deleted) = registry.get(EAST_1, &id, at(4200)).unwrap();
        assert_eq!(deleted.status, DatastoreStatus::Deleted);
    }

    #[test]
    fn delete_needs_a_settled_store_that_exists() {
        let mut registry = registry();
        let id = registry
            .create(EAST_1, new("a", None), at(0))
            .unwrap()
            .0
            .id
            .clone();
        let err = registry.delete(EAST_1, &id, at(1000)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Conflict);
        assert!(err.message().contains("CREATING"), "{err}");
        let (_, status_now) = registry.delete(EAST_1, &id, at(2000)).unwrap();
        assert_eq!(status_now.status, DatastoreStatus::Deleting);
        assert_eq!(
            registry.delete(EAST_1, &id, at(2500)).unwrap_err().code(),
            ErrorCode::Conflict
        );
        assert_eq!(
            registry
                .delete(EAST_1, "0".repeat(32).as_str(), at(2500))
                .unwrap_err()
                .code(),
            ErrorCode::ResourceNotFound
        );
    }

    #[test]
    fn list_orders_by_creation_and_filters_on_the_current_status() {
        let mut registry = registry();
        let late = registry
            .create(EAST_1, new("late", None), at(10))
            .unwrap()
            .0
            .id
            .clone();
        let early = registry
            .create(EAST_1, new("early", None), at(0))
            .unwrap()
            .0
            .id
            .clone();
        let everything = PageRequest {
            max_results: 100,
            after: None,
        };
        let ids = |page: Page<ListedStore<'_>>| {
            page.items
                .iter()
                .map(|(store, _)| store.id.clone())
                .collect::<Vec<_>>()
        };
        let all = registry.list(EAST_1, &Filter::default(), &everything, at(2005));
        assert_eq!(ids(all), vec![early.clone(), late.clone()]);

        let active = Filter::try_from(crate::wire::DatastoreFilter {
            datastore_status: Some("ACTIVE".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            ids(registry.list(EAST_1, &active, &everything, at(2005))),
            vec![early]
        );
    }

    #[test]
    fn arns_are_looked_up_in_the_region_of_the_request() {
        let mut registry = registry();
        let arn = registry
            .create(EAST_1, new("a", None), at(0))
            .unwrap()
            .0
            .arn
            .clone();
        assert!(registry.by_arn(EAST_1, &arn, at(0)).is_ok());
        assert!(registry.by_arn_mut(EAST_1, &arn, at(0)).is_ok());
        assert_eq!(
            registry
                .by_arn(scope("us-west-2"), &arn, at(0))
                .unwrap_err()
                .code(),
            ErrorCode::ResourceNotFound
        );
        assert_eq!(
            registry
                .by_arn(EAST_1, "not-an-arn", at(0))
                .unwrap_err()
                .code(),
            ErrorCode::Validation
        );
    }

    fn registry_with(config: EmulatorConfig) -> Registry {
        Registry::with_config(&EmulatorConfig {
            transition_delay: DELAY,
            ..config
        })
    }

    #[test]
    fn a_deleted_store_is_gone_once_deleted_for_the_retention() {
        let mut registry = registry_with(EmulatorConfig {
            deleted_retention: Duration::from_secs(10),
            ..EmulatorConfig::default()
        });
        let (store, _) = registry
            .create(EAST_1, new("a", Some("t1")), at(0))
            .unwrap();
        let (id, arn) = (store.id.clone(), store.arn.clone());
        registry.delete(EAST_1, &id, at(2000)).unwrap();
        // DELETED at 4 s; gone 10 s later.
        let everything = PageRequest {
            max_results: 100,
            after: None,
        };
        let (_, deleted) = registry.get(EAST_1, &id, at(13_999)).unwrap();
        assert_eq!(deleted.status, DatastoreStatus::Deleted);
        assert_eq!(
            registry
                .list(EAST_1, &Filter::default(), &everything, at(13_999))
                .items
                .len(),
            1
        );
        assert_eq!(
            registry.get(EAST_1, &id, at(14_000)).unwrap_err().code(),
            ErrorCode::ResourceNotFound
        );
        assert!(
            registry
                .list(EAST_1, &Filter::default(), &everything, at(14_000))
                .items
                .is_empty()
        );
        assert_eq!(
            registry
                .by_arn(EAST_1, &arn, at(14_000))
                .unwrap_err()
                .code(),
            ErrorCode::ResourceNotFound
        );
        registry.purge(at(14_000));
        assert!(registry.find_anywhere_mut(&id).is_none(), "forgotten");
        // Its client token went with it.
        let again = registry
            .create(EAST_1, new("other", Some("t1")), at(14_000))
            .unwrap()
            .0
            .id
            .clone();
        assert_ne!(again, id);
    }

    #[test]
    fn a_forced_deleted_status_without_a_deletion_stays() {
        let mut registry = registry();
        let id = registry
            .create(EAST_1, new("a", None), at(0))
            .unwrap()
            .0
            .id
            .clone();
        let found = registry.find_anywhere_mut(&id).unwrap();
        found.store.lifecycle.force(StatusNow {
            status: DatastoreStatus::Deleted,
            error_cause: None,
        });
        let years = at(1_000_000_000_000);
        registry.purge(years);
        assert!(registry.get(EAST_1, &id, years).is_ok());
    }

    #[test]
    fn a_client_token_with_other_parameters_is_refused_until_it_expires() {
        let mut registry = registry_with(EmulatorConfig {
            client_token_lifetime: Duration::from_secs(60),
            ..EmulatorConfig::default()
        });
        let first = registry
            .create(EAST_1, new("a", Some("t1")), at(0))
            .unwrap()
            .0
            .id
            .clone();
        let err = registry
            .create(EAST_1, new("b", Some("t1")), at(59_999))
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Validation);
        assert!(
            err.message().contains("t1") && err.message().contains(&first),
            "{err}"
        );
        let later = registry
            .create(EAST_1, new("b", Some("t1")), at(60_000))
            .unwrap()
            .0
            .id
            .clone();
        assert_ne!(later, first);
        // The token now names the later store.
        let again = registry
            .create(EAST_1, new("b", Some("t1")), at(60_001))
            .unwrap()
            .0
            .id
            .clone();
        assert_eq!(again, later);
    }

    #[test]
    fn the_quota_counts_stores_not_deleted_of_one_account_and_region() {
        let mut registry = registry_with(EmulatorConfig {
            max_datastores: 2,
            ..EmulatorConfig::default()
        });
        let first = registry
            .create_within_quota(EAST_1, new("a", Some("t1")), at(0))
            .unwrap()
            .0
            .id
            .clone();
        registry
            .create_within_quota(EAST_1, new("b", None), at(0))
            .unwrap();
        let err = registry
            .create_within_quota(EAST_1, new("c", None), at(0))
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::Validation);
        assert!(err.message().contains("quota is 2"), "{err}");
        // A retry of a create that succeeded is answered, quota or not.
        let retried = registry
            .create_within_quota(EAST_1, new("a", Some("t1")), at(0))
            .unwrap()
            .0
            .id
            .clone();
        assert_eq!(retried, first);
        assert!(
            registry
                .create_within_quota(scope("us-west-2"), new("c", None), at(0))
                .is_ok()
        );
        assert!(
            registry.create(EAST_1, new("admin", None), at(0)).is_ok(),
            "the admin route"
        );
        registry.delete(EAST_1, &first, at(2000)).unwrap();
        assert!(
            registry
                .create_within_quota(EAST_1, new("c", None), at(3999))
                .is_err(),
            "DELETING counts"
        );
        let err = registry
            .create_within_quota(EAST_1, new("c", None), at(4000))
            .unwrap_err();
        assert!(
            err.message().contains("has 2"),
            "the admin store counts: {err}"
        );
    }

    #[test]
    fn tags_of_a_store_being_deleted_are_not_found() {
        let mut registry = registry();
        let (store, _) = registry.create(EAST_1, new("a", None), at(0)).unwrap();
        let (id, arn) = (store.id.clone(), store.arn.clone());
        registry.delete(EAST_1, &id, at(2000)).unwrap();
        for now in [at(2000), at(4000)] {
            let err = registry.by_arn_mut(EAST_1, &arn, now).unwrap_err();
            assert_eq!(err.code(), ErrorCode::ResourceNotFound);
            assert!(err.message().contains("DELET"), "{err}");
            assert!(registry.by_arn(EAST_1, &arn, now).is_err());
        }
    }
}
