//! The data stores of every account and region, and the operations on them.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::listing::{Filter, Page, PageRequest, SortKey, paginate};
use crate::model::{Datastore, NewDatastore, StatusNow, scripted_outcome};
use crate::outcome::Failing;
use crate::protocol::ApiError;
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

#[derive(Debug)]
pub struct Registry {
    transition_delay: TimeDelta,
    /// Account, then region.
    stores: BTreeMap<String, BTreeMap<String, Vec<Datastore>>>,
}

impl Registry {
    pub fn new(transition_delay: Duration) -> Registry {
        Registry {
            transition_delay: TimeDelta::from_std(transition_delay).unwrap_or(TimeDelta::MAX),
            stores: BTreeMap::new(),
        }
    }

    fn status_now(&self, store: &Datastore, now: DateTime<Utc>) -> StatusNow {
        store.lifecycle.at(now, self.transition_delay)
    }

    /// Creates a store; a client token already used in the scope returns the
    /// store it created, so a retried request creates nothing new. A chosen id
    /// that a store of any account or region has is a conflict: ids are unique.
    pub fn create(
        &mut self,
        scope: Scope<'_>,
        new: NewDatastore,
        now: DateTime<Utc>,
    ) -> Result<ListedStore<'_>, ApiError> {
        if let Some(id) = &new.id
            && self.find_anywhere_mut(id).is_some()
        {
            return Err(ApiError::conflict(format!("Datastore {id} already exists")));
        }
        let delay = self.transition_delay;
        let stores = self
            .stores
            .entry(scope.account.to_owned())
            .or_default()
            .entry(scope.region.to_owned())
            .or_default();
        let existing = new.client_token.as_ref().and_then(|token| {
            stores
                .iter()
                .position(|store| store.client_token.as_ref() == Some(token))
        });
        let index = match existing {
            Some(index) => index,
            None => {
                stores.push(Datastore::new(new, scope.region, scope.account, now));
                stores.len() - 1
            }
        };
        let store = &stores[index];
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
            .find(|store| store.id == id)
            .map(|store| (store, self.status_now(store, now)))
            .ok_or_else(|| not_found(id))
    }

    pub fn delete(
        &mut self,
        scope: Scope<'_>,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<ListedStore<'_>, ApiError> {
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

    /// A store by ARN in the scope of the request.
    pub fn by_arn_mut(&mut self, scope: Scope<'_>, arn: &str) -> Result<&mut Datastore, ApiError> {
        validate_arn(arn)?;
        self.stores_mut(scope)
            .and_then(|stores| stores.iter_mut().find(|store| store.arn == arn))
            .ok_or_else(|| ApiError::not_found(format!("Resource {arn} does not exist")))
    }

    pub fn by_arn(&self, scope: Scope<'_>, arn: &str) -> Result<&Datastore, ApiError> {
        validate_arn(arn)?;
        self.stores(scope)
            .iter()
            .find(|store| store.arn == arn)
            .ok_or_else(|| ApiError::not_found(format!("Resource {arn} does not exist")))
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
        let everything = PageRequest::parse(None, None).unwrap();
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
        assert!(registry.by_arn(EAST_1, &arn).is_err());
        let everything = PageRequest::parse(None, None).unwrap();
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
        let everything = PageRequest::parse(None, None).unwrap();
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
        assert!(registry.by_arn(EAST_1, &arn).is_ok());
        assert!(registry.by_arn_mut(EAST_1, &arn).is_ok());
        assert_eq!(
            registry
                .by_arn(scope("us-west-2"), &arn)
                .unwrap_err()
                .code(),
            ErrorCode::ResourceNotFound
        );
        assert_eq!(
            registry.by_arn(EAST_1, "not-an-arn").unwrap_err().code(),
            ErrorCode::Validation
        );
    }
}
