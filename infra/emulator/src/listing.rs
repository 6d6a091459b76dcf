//! ListFHIRDatastores: filters, page sizes and opaque page tokens.
//!
//! Stores are listed by creation time, then id. A page token names the sort
//! key of the last store of the previous page, so a page continues after it
//! even when stores were created or deleted in between.
//!
//! A token is opaque, as the model calls it: the sort key, the account and
//! region, the filter and page size of the listing and the time it was issued
//! (on the emulator's clock), authenticated with an HMAC-SHA256 keyed by a
//! secret each emulator draws when it starts, in URL-safe base64. A token
//! that was altered, comes from another emulator, is used with another
//! filter, page size, account or region, or is older than its lifetime is a
//! ValidationException that says which.

use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::DatastoreStatus;
use crate::protocol::ApiError;
use crate::wire::DatastoreFilter;

pub const MAX_RESULTS: i64 = 500;
const DEFAULT_MAX_RESULTS: usize = 100;
/// The model's `NextToken`: `\p{ASCII}{0,8192}`.
const MAX_TOKEN_CHARS: usize = 8192;
const MAX_NAME_CHARS: usize = 256;
/// The instants a filter may name: years 1 to 9999, as epoch seconds.
const EARLIEST_SECONDS: f64 = -62_135_596_800.0;
const LATEST_SECONDS: f64 = 253_402_300_799.0;

type HmacSha256 = Hmac<Sha256>;
const MAC_BYTES: usize = 32;

/// The model's `DatastoreName` pattern, `[\p{L}\p{Z}\p{N}_.:/=+\-%@]*`, of
/// at least one character; its length, at most 256 characters, is counted
/// apart (a counted repetition of these classes is too large a regex).
static DATASTORE_NAME: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"\A[\p{L}\p{Z}\p{N}_.:/=+\-%@]+\z")
        .expect("the data store name pattern compiles")
});

/// The position of a store in the listing order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SortKey {
    pub created_ms: i64,
    pub id: String,
}

/// The page size a request asks for: 100 when absent, 1 to 500.
pub fn max_results(max_results: Option<i64>) -> Result<usize, ApiError> {
    match max_results {
        None => Ok(DEFAULT_MAX_RESULTS),
        Some(n) if (1..=MAX_RESULTS).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and {MAX_RESULTS}"
        ))),
    }
}

/// What a page token is bound to: the listing it continues.
#[derive(Debug, Clone, Copy)]
pub struct Listing<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub filter: &'a Filter,
    pub max_results: usize,
}

/// What a token holds, authenticated.
#[derive(Debug, Serialize, Deserialize)]
struct TokenBody {
    #[serde(rename = "c")]
    created_ms: i64,
    #[serde(rename = "i")]
    id: String,
    #[serde(rename = "a")]
    account: String,
    #[serde(rename = "r")]
    region: String,
    /// SHA-256 of the filter, hex.
    #[serde(rename = "f")]
    filter: String,
    #[serde(rename = "m")]
    max_results: usize,
    /// Emulator time, epoch milliseconds.
    #[serde(rename = "t")]
    issued_ms: i64,
}

/// Issues and opens the page tokens of one emulator.
#[derive(Debug, Clone)]
pub struct PageTokens {
    secret: [u8; 32],
    lifetime: TimeDelta,
}

impl PageTokens {
    /// Tokens valid for `lifetime`, under a fresh random secret.
    pub fn new(lifetime: std::time::Duration) -> PageTokens {
        let mut secret = [0u8; 32];
        secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        PageTokens {
            secret,
            lifetime: TimeDelta::from_std(lifetime).unwrap_or(TimeDelta::MAX),
        }
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("HMAC takes a key of any length");
        mac.update(payload);
        mac
    }

    /// The token of the page after `key` in `listing`.
    pub fn issue(&self, key: &SortKey, listing: &Listing<'_>, now: DateTime<Utc>) -> String {
        let body = TokenBody {
            created_ms: key.created_ms,
            id: key.id.clone(),
            account: listing.account.to_owned(),
            region: listing.region.to_owned(),
            filter: listing.filter.fingerprint(),
            max_results: listing.max_results,
            issued_ms: now.timestamp_millis(),
        };
        let mut bytes = serde_json::to_vec(&body).expect("a token body serializes");
        let tag = self.mac(&bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        base64url_encode(&bytes)
    }

    /// The sort key a token continues after, if it was issued here for
    /// `listing` and has not expired.
    pub fn open(
        &self,
        token: &str,
        listing: &Listing<'_>,
        now: DateTime<Utc>,
    ) -> Result<SortKey, ApiError> {
        if !token.is_ascii() || token.len() > MAX_TOKEN_CHARS {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value at 'nextToken' failed to satisfy constraint: Member must satisfy regular expression pattern: \\p{{ASCII}}{{0,{MAX_TOKEN_CHARS}}}"
            )));
        }
        let not_issued = || {
            ApiError::validation(
                "Invalid NextToken: it is not a token this service issued, or it was altered",
            )
        };
        let bytes = base64url_decode(token).ok_or_else(not_issued)?;
        if bytes.len() <= MAC_BYTES {
            return Err(not_issued());
        }
        let (payload, tag) = bytes.split_at(bytes.len() - MAC_BYTES);
        self.mac(payload)
            .verify_slice(tag)
            .map_err(|_| not_issued())?;
        let body: TokenBody = serde_json::from_slice(payload).map_err(|_| not_issued())?;
        if body.account != listing.account || body.region != listing.region {
            return Err(ApiError::validation(
                "Invalid NextToken: it was issued to another account or region",
            ));
        }
        if body.filter != listing.filter.fingerprint() {
            return Err(ApiError::validation(
                "Invalid NextToken: it was issued for a listing with another Filter; send the same Filter on every page",
            ));
        }
        if body.max_results != listing.max_results {
            return Err(ApiError::validation(format!(
                "Invalid NextToken: it was issued for MaxResults {}, not {}; send the same MaxResults on every page",
                body.max_results, listing.max_results
            )));
        }
        let issued = DateTime::from_timestamp_millis(body.issued_ms).ok_or_else(not_issued)?;
        if now.signed_duration_since(issued) >= self.lifetime {
            return Err(ApiError::validation(format!(
                "Invalid NextToken: it expired {} seconds after it was issued; list again from the first page",
                self.lifetime.num_seconds()
            )));
        }
        Ok(SortKey {
            created_ms: body.created_ms,
            id: body.id,
        })
    }
}

const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// URL-safe base64 without padding.
fn base64url_encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, byte)| n | (u32::from(*byte) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            text.push(BASE64URL[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    text
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    if text.len() % 4 == 1 {
        return None;
    }
    let digits = text
        .bytes()
        .map(|c| BASE64URL.iter().position(|d| *d == c).map(|d| d as u32))
        .collect::<Option<Vec<u32>>>()?;
    let mut bytes = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, digit)| n | (digit << (18 - 6 * i)));
        let count = chunk.len() - 1;
        for i in 0..count {
            bytes.push((n >> (16 - 8 * i)) as u8);
        }
        // Bits past the last byte must be zero, so each byte string has
        // exactly one encoding.
        if n & ((1 << (24 - 8 * count)) - 1) != 0 {
            return None;
        }
    }
    Some(bytes)
}

/// Which page of the listing a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub max_results: usize,
    pub after: Option<SortKey>,
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
        if let Some(name) = &filter.datastore_name
            && (name.chars().count() > MAX_NAME_CHARS || !DATASTORE_NAME.is_match(name))
        {
            return Err(ApiError::validation(format!(
                "1 validation error detected: Value '{name}' at 'filter.datastoreName' failed to satisfy constraint: Member must have length between 1 and {MAX_NAME_CHARS} and satisfy regular expression pattern: [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-%@]*"
            )));
        }
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
            created_before_ms: instant(filter.created_before, "createdBefore")?,
            created_after_ms: instant(filter.created_after, "createdAfter")?,
        })
    }
}

/// Epoch seconds of a filter member as milliseconds; an instant outside
/// years 1 to 9999 is refused.
fn instant(seconds: Option<f64>, member: &str) -> Result<Option<i64>, ApiError> {
    match seconds {
        None => Ok(None),
        Some(seconds) if (EARLIEST_SECONDS..=LATEST_SECONDS).contains(&seconds) => {
            Ok(Some((seconds * 1000.0).round() as i64))
        }
        Some(seconds) => Err(ApiError::validation(format!(
            "1 validation error detected: Value '{seconds}' at 'filter.{member}' failed to satisfy constraint: Member must be a timestamp between 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z"
        ))),
    }
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

    /// Equal for equal filters: what a page token is bound to.
    fn fingerprint(&self) -> String {
        let text = serde_json::json!([
            self.name,
            self.status.as_ref().map(DatastoreStatus::as_str),
            self.created_before_ms,
            self.created_after_ms,
        ])
        .to_string();
        hex::encode(Sha256::digest(text.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;
    use proptest::prelude::*;
    use std::time::Duration;

    fn key(created_ms: i64, id: &str) -> SortKey {
        SortKey {
            created_ms,
            id: id.into(),
        }
    }

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_700_000_000_000 + ms).unwrap()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn listing(filter: &Filter, max_results: usize) -> Listing<'_> {
        Listing {
            account: "123456789012",
            region: "us-east-1",
            filter,
            max_results,
        }
    }

    proptest! {
        #[test]
        fn tokens_round_trip(created_ms in any::<i64>(), id in "[0-9a-f]{32}|[\\p{L}\\p{Z}\\p{N}_.:/=+%@-]{1,32}") {
            let tokens = PageTokens::new(HOUR);
            let filter = Filter::default();
            let key = key(created_ms, &id);
            let token = tokens.issue(&key, &listing(&filter, 7), at(0));
            prop_assert!(token.bytes().all(|c| BASE64URL.contains(&c)));
            prop_assert_eq!(tokens.open(&token, &listing(&filter, 7), at(1)), Ok(key));
        }

        #[test]
        fn arbitrary_text_never_panics_the_decoder(token in ".*") {
            let tokens = PageTokens::new(HOUR);
            let filter = Filter::default();
            let _ = tokens.open(&token, &listing(&filter, 1), at(0));
        }

        #[test]
        fn base64_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            prop_assert_eq!(base64url_decode(&base64url_encode(&bytes)), Some(bytes));
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
            let tokens = PageTokens::new(HOUR);
            let filter = Filter::default();
            let listing = listing(&filter, size);
            let mut seen = Vec::new();
            let mut request = PageRequest { max_results: size, after: None };
            loop {
                let page = paginate(items.clone(), &request);
                prop_assert!(page.items.len() <= size);
                seen.extend(page.items);
                match page.next {
                    Some(next) => {
                        let token = tokens.issue(&next, &listing, at(0));
                        request.after = Some(tokens.open(&token, &listing, at(0)).unwrap());
                    }
                    None => break,
                }
            }
            prop_assert_eq!(seen, expected.into_iter().map(|(_, i)| i).collect::<Vec<_>>());
        }
    }

    fn refusal(result: Result<SortKey, ApiError>) -> String {
        let err = result.unwrap_err();
        assert_eq!(err.code(), ErrorCode::Validation, "{err}");
        err.message().to_owned()
    }

    #[test]
    fn a_token_opens_only_for_its_own_listing_until_it_expires() {
        let tokens = PageTokens::new(HOUR);
        let everything = Filter::default();
        let active = Filter::try_from(DatastoreFilter {
            datastore_status: Some("ACTIVE".into()),
            ..Default::default()
        })
        .unwrap();
        let token = tokens.issue(&key(5, "ab"), &listing(&everything, 2), at(0));
        assert_eq!(
            tokens.open(&token, &listing(&everything, 2), at(0)),
            Ok(key(5, "ab"))
        );
        assert!(
            refusal(tokens.open(&token, &listing(&everything, 3), at(0)))
                .contains("MaxResults 2, not 3")
        );
        assert!(refusal(tokens.open(&token, &listing(&active, 2), at(0))).contains("Filter"));
        let elsewhere = Listing {
            region: "eu-west-2",
            ..listing(&everything, 2)
        };
        assert!(refusal(tokens.open(&token, &elsewhere, at(0))).contains("region"));
        let other_account = Listing {
            account: "210987654321",
            ..listing(&everything, 2)
        };
        assert!(refusal(tokens.open(&token, &other_account, at(0))).contains("account"));
        assert!(
            tokens
                .open(&token, &listing(&everything, 2), at(3_599_999))
                .is_ok()
        );
        assert!(
            refusal(tokens.open(&token, &listing(&everything, 2), at(3_600_000)))
                .contains("expired")
        );
        let other_emulator = PageTokens::new(HOUR);
        assert!(
            refusal(other_emulator.open(&token, &listing(&everything, 2), at(0)))
                .contains("not a token this service issued")
        );
    }

    #[test]
    fn bad_tokens_are_validation_errors() {
        let tokens = PageTokens::new(HOUR);
        let filter = Filter::default();
        let good = tokens.issue(&key(1, "a"), &listing(&filter, 1), at(0));
        let mut altered = good.clone().into_bytes();
        altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(altered).unwrap();
        let forged = {
            let body = br#"{"c":1,"i":"a","a":"123456789012","r":"us-east-1","f":"","m":1,"t":0}"#;
            let mut bytes = body.to_vec();
            bytes.extend_from_slice(&[0; MAC_BYTES]);
            base64url_encode(&bytes)
        };
        for token in [
            "",
            "zz",
            "abc",
            "a",
            "====",
            "é1",
            &"A".repeat(MAX_TOKEN_CHARS + 1),
            "31322f61",
            &good[..good.len() - 1],
            &altered,
            &forged,
        ] {
            refusal(tokens.open(token, &listing(&filter, 1), at(0)));
        }
        assert!(refusal(tokens.open("é1", &listing(&filter, 1), at(0))).contains("nextToken"));
    }

    #[test]
    fn max_results_must_be_between_1_and_500() {
        assert_eq!(max_results(None), Ok(100));
        assert_eq!(max_results(Some(1)), Ok(1));
        assert_eq!(max_results(Some(500)), Ok(500));
        for bad in [0, -1, 501, i64::MAX, i64::MIN] {
            let err = max_results(Some(bad)).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Validation);
            assert!(err.message().contains("maxResults"), "{err}");
        }
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
        assert_ne!(window.fingerprint(), everything.fingerprint());
        assert_eq!(
            by_name.fingerprint(),
            filter(DatastoreFilter {
                datastore_name: Some("a".into()),
                ..Default::default()
            })
            .fingerprint()
        );
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

    #[test]
    fn filter_names_and_instants_are_what_the_model_allows() {
        let named = |name: &str| {
            Filter::try_from(DatastoreFilter {
                datastore_name: Some(name.into()),
                ..Default::default()
            })
        };
        for name in ["a", "store one", "é:ü/2=+%@", &"n".repeat(256)] {
            assert!(named(name).is_ok(), "{name:?}");
        }
        for name in ["", "a#b", "a\tb", &"n".repeat(257)] {
            let err = named(name).unwrap_err();
            assert_eq!(err.code(), ErrorCode::Validation);
            assert!(err.message().contains("filter.datastoreName"), "{err}");
        }
        for (before, after) in [(Some(1e300), None), (None, Some(-1e300))] {
            let err = Filter::try_from(DatastoreFilter {
                created_before: before,
                created_after: after,
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(err.code(), ErrorCode::Validation);
        }
        assert!(
            Filter::try_from(DatastoreFilter {
                created_before: Some(LATEST_SECONDS),
                created_after: Some(EARLIEST_SECONDS),
                ..Default::default()
            })
            .is_ok()
        );
    }
}
