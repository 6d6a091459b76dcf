//! ListFHIRDatastores: filters, page sizes and opaque page tokens.
//!
//! Stores are listed by creation time, then id. A page token is the sort key
//! of the last store of the previous page (hex-encoded), so a page continues
//! after it even when stores were created or deleted in between.

use crate::model::DatastoreStatus;
use crate::protocol::ApiError;
use crate::wire::DatastoreFilter;

pub const MAX_RESULTS: i64 = 500;
const DEFAULT_MAX_RESULTS: usize = 100;

/// The position of a store in the listing order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortKey {
    pub created_ms: i64,
    pub id: String,
}

impl SortKey {
    pub fn encode(&self) -> String {
        format!("{}/{}", self.created_ms, self.id)
            .bytes()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    pub fn decode(token: &str) -> Result<SortKey, ApiError> {
        let invalid = || ApiError::validation(format!("Invalid NextToken {token:?}"));
        let bytes = hex_decode(token).ok_or_else(invalid)?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (created_ms, id) = text.split_once('/').ok_or_else(invalid)?;
        let created_ms = created_ms.parse().map_err(|_| invalid())?;
        if !crate::model::is_datastore_id(id) {
            return Err(invalid());
        }
        Ok(SortKey {
            created_ms,
            id: id.to_owned(),
        })
    }
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).ok())
        .collect()
}

/// Which page of the listing a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub max_results: usize,
    pub after: Option<SortKey>,
}

impl PageRequest {
    pub fn parse(
        max_results: Option<i64>,
        next_token: Option<&str>,
    ) -> Result<PageRequest, ApiError> {
        let max_results = match max_results {
            None => DEFAULT_MAX_RESULTS,
            Some(n) if (1..=MAX_RESULTS).contains(&n) => n as usize,
            Some(n) => {
                return Err(ApiError::validation(format!(
                    "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and {MAX_RESULTS}"
                )));
            }
        };
        let after = next_token.map(SortKey::decode).transpose()?;
        Ok(PageRequest { max_results, after })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<SortKey>,
}

/// One page of `items`, in sort-key order, after the requested position.
pub fn paginate<T>(mut items: Vec<(SortKey, T)>, request: &PageRequest) -> Page<T> {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let mut remaining = items
        .into_iter()
        .filter(|(key, _)| request.after.as_ref().is_none_or(|after| key > after))
        .peekable();
    let mut page = Vec::new();
    let mut last = None;
    while page.len() < request.max_results {
        let Some((key, item)) = remaining.next() else {
            break;
        };
        last = Some(key);
        page.push(item);
    }
    let next = if remaining.peek().is_some() {
        last
    } else {
        None
    };
    Page { items: page, next }
}

/// A validated `Filter`; every member given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    name: Option<String>,
    status: Option<DatastoreStatus>,
    created_before_ms: Option<i64>,
    created_after_ms: Option<i64>,
}

impl TryFrom<DatastoreFilter> for Filter {
    type Error = ApiError;

    fn try_from(filter: DatastoreFilter) -> Result<Filter, ApiError> {
        let status = filter
            .datastore_status
            .map(|status| {
                DatastoreStatus::known(&status).ok_or_else(|| {
                    ApiError::validation(format!(
                        "1 validation error detected: Value '{status}' at 'filter.datastoreStatus' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                        DatastoreStatus::known_names()
                    ))
                })
            })
            .transpose()?;
        Ok(Filter {
            name: filter.datastore_name,
            status,
            created_before_ms: filter.created_before.map(epoch_seconds_to_ms),
            created_after_ms: filter.created_after.map(epoch_seconds_to_ms),
        })
    }
}

fn epoch_seconds_to_ms(seconds: f64) -> i64 {
    // `as` saturates, which is the right answer for dates out of range.
    (seconds * 1000.0).round() as i64
}

impl Filter {
    /// Created before and after are strict bounds.
    pub fn matches(&self, name: Option<&str>, status: &DatastoreStatus, created_ms: i64) -> bool {
        self.name
            .as_deref()
            .is_none_or(|wanted| name == Some(wanted))
            && self.status.as_ref().is_none_or(|wanted| wanted == status)
            && self
                .created_before_ms
                .is_none_or(|before| created_ms < before)
            && self.created_after_ms.is_none_or(|after| created_ms > after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;
    use proptest::prelude::*;

    fn key(created_ms: i64, id: &str) -> SortKey {
        SortKey {
            created_ms,
            id: id.into(),
        }
    }

    proptest! {
        #[test]
        fn tokens_round_trip(created_ms in any::<i64>(), id in "[0-9a-f]{32}|[\\p{L}\\p{Z}\\p{N}_.:/=+%@-]{1,32}") {
            let key = key(created_ms, &id);
            let token = key.encode();
            prop_assert!(token.chars().all(|c| c.is_ascii_hexdigit()));
            prop_assert_eq!(SortKey::decode(&token), Ok(key));
        }

        #[test]
        fn arbitrary_text_never_panics_the_decoder(token in ".*") {
            let _ = SortKey::decode(&token);
        }

        #[test]
        fn paging_visits_every_item_once_in_order(
            created in proptest::collection::vec(0i64..5, 0..30),
            size in 1usize..7,
        ) {
            let items: Vec<(SortKey, usize)> = created
                .iter()
                .enumerate()
                .map(|(i, ms)| (key(*ms, &format!("{i:032x}")), i))
                .collect();
            let mut expected = items.clone();
            expected.sort();
            let mut seen = Vec::new();
            let mut request = PageRequest { max_results: size, after: None };
            loop {
                let page = paginate(items.clone(), &request);
                prop_assert!(page.items.len() <= size);
                seen.extend(page.items);
                match page.next {
                    Some(next) => request.after = Some(SortKey::decode(&next.encode()).unwrap()),
                    None => break,
                }
            }
            prop_assert_eq!(seen, expected.into_iter().map(|(_, i)| i).collect::<Vec<_>>());
        }
    }

    #[test]
    fn bad_tokens_are_validation_errors() {
        for token in [
            "",
            "zz",
            "abc",
            "ffff",
            &hex("12/"),
            &hex("x/abcd"),
            &hex("12/not#an-id"),
            &hex("12/a\nb"),
            &hex("12"),
            "é1",
        ] {
            let err = SortKey::decode(token).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Validation, "{token:?}");
        }
    }

    fn hex(text: &str) -> String {
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn max_results_must_be_between_1_and_500() {
        assert_eq!(PageRequest::parse(None, None).unwrap().max_results, 100);
        assert_eq!(PageRequest::parse(Some(1), None).unwrap().max_results, 1);
        assert_eq!(
            PageRequest::parse(Some(500), None).unwrap().max_results,
            500
        );
        for bad in [0, -1, 501, i64::MAX, i64::MIN] {
            let err = PageRequest::parse(Some(bad), None).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Validation);
            assert!(err.message().contains("maxResults"), "{err}");
        }
        let token = key(5, "ab").encode();
        assert_eq!(
            PageRequest::parse(Some(2), Some(&token)).unwrap().after,
            Some(key(5, "ab"))
        );
    }

    #[test]
    fn the_last_page_has_no_token() {
        let items = vec![(key(1, "a"), 1), (key(2, "b"), 2)];
        let request = PageRequest {
            max_results: 2,
            after: None,
        };
        assert_eq!(
            paginate(items.clone(), &request),
            Page {
                items: vec![1, 2],
                next: None
            }
        );
        let request = PageRequest {
            max_results: 1,
            after: None,
        };
        assert_eq!(
            paginate(items, &request),
            Page {
                items: vec![1],
                next: Some(key(1, "a"))
            }
        );
    }

    #[test]
    fn filters_match_each_member() {
        let filter = |f: DatastoreFilter| Filter::try_from(f).unwrap();
        let active = DatastoreStatus::Active;
        let everything = filter(DatastoreFilter::default());
        assert!(everything.matches(None, &DatastoreStatus::Other("ARCHIVED".into()), 0));

        let by_name = filter(DatastoreFilter {
            datastore_name: Some("a".into()),
            ..Default::default()
        });
        assert!(by_name.matches(Some("a"), &active, 0));
        assert!(!by_name.matches(Some("ab"), &active, 0));
        assert!(!by_name.matches(None, &active, 0));

        let by_status = filter(DatastoreFilter {
            datastore_status: Some("CREATE_FAILED".into()),
            ..Default::default()
        });
        assert!(by_status.matches(None, &DatastoreStatus::CreateFailed, 0));
        assert!(!by_status.matches(None, &active, 0));

        let window = filter(DatastoreFilter {
            created_after: Some(1.0),
            created_before: Some(2.5),
            ..Default::default()
        });
        assert!(!window.matches(None, &active, 1000));
        assert!(window.matches(None, &active, 1001));
        assert!(window.matches(None, &active, 2499));
        assert!(!window.matches(None, &active, 2500));
    }

    #[test]
    fn filtering_on_a_status_aws_does_not_have_is_a_validation_error() {
        for status in ["ARCHIVED", "active", ""] {
            let err = Filter::try_from(DatastoreFilter {
                datastore_status: Some(status.into()),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(err.code(), ErrorCode::Validation);
            assert!(err.message().contains("datastoreStatus"), "{err}");
        }
    }
}
