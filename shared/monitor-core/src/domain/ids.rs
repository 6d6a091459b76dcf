//! Identifiers, parsed once at the edge so the rest of the code can trust them.

use std::fmt;

/// A value that did not parse into one of the identifier types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {expected}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! string_id {
    ($(#[$meta:meta])* $name:ident, $kind:literal, $expected:literal, $valid:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                let valid: fn(&str) -> bool = $valid;
                if valid(&value) {
                    Ok(Self(value))
                } else {
                    Err(IdError { kind: $kind, value, expected: $expected })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A 12-digit AWS account id.
    AccountId,
    "account id",
    "expected 12 digits",
    |v| v.len() == 12 && v.bytes().all(|b| b.is_ascii_digit())
);

string_id!(
    /// An AWS region name such as `us-east-1`.
    Region,
    "region",
    "expected a region name such as us-east-1",
    |v| {
        (4..=32).contains(&v.len())
            && v.contains('-')
            && v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !v.starts_with('-')
            && !v.ends_with('-')
    }
);

string_id!(
    /// A HealthLake data store id (32 characters in practice; the API allows 1 to 32).
    DatastoreId,
    "data store id",
    "expected 1 to 32 letters or digits",
    |v| (1..=32).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric())
);

/// What one scan covers: one account in one region. Snapshots are kept per scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope {
    pub account: AccountId,
    pub region: Region,
}

impl Scope {
    pub fn new(account: AccountId, region: Region) -> Self {
        Self { account, region }
    }

    /// What one scan of `account` covers: a scope per region, in the order
    /// given, a region named twice scanned once.
    pub fn per_region(account: &AccountId, regions: &[Region]) -> Vec<Self> {
        Self::distinct(
            regions
                .iter()
                .map(|r| Self::new(account.clone(), r.clone())),
        )
    }

    /// `scopes` in their order, each once.
    pub(crate) fn distinct(scopes: impl IntoIterator<Item = Self>) -> Vec<Self> {
        let mut distinct = Vec::new();
        for scope in scopes {
            if !distinct.contains(&scope) {
                distinct.push(scope);
            }
        }
        distinct
    }

    /// The snapshot partition key: `<account>#<region>`.
    pub fn key(&self) -> String {
        format!("{}#{}", self.account, self.region)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_identifiers() {
        assert!(AccountId::parse("123456789012").is_ok());
        assert!(Region::parse("ap-southeast-2").is_ok());
        assert!(DatastoreId::parse("a1b2c3d4e5f60718293a4b5c6d7e8f90").is_ok());
    }

    #[test]
    fn rejections_name_the_value_and_what_was_expected() {
        let err = AccountId::parse("12345").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid account id \"12345\": expected 12 digits"
        );
        assert!(Region::parse("US_EAST_1").is_err());
        assert!(Region::parse("").is_err());
        assert!(DatastoreId::parse("").is_err());
        assert!(DatastoreId::parse("a#b").is_err());
        assert!(DatastoreId::parse("x".repeat(33)).is_err());
    }

    #[test]
    fn a_scope_key_is_the_account_and_the_region() {
        let scope = Scope::new(
            AccountId::parse("123456789012").unwrap(),
            Region::parse("eu-west-2").unwrap(),
        );
        assert_eq!(scope.key(), "123456789012#eu-west-2");
    }

    #[test]
    fn an_account_is_scanned_once_per_region_in_the_order_given() {
        let account = AccountId::parse("123456789012").unwrap();
        let region = |r| Region::parse(r).unwrap();
        let regions = [
            region("us-west-2"),
            region("us-east-1"),
            region("us-west-2"),
        ];
        let keys: Vec<String> = Scope::per_region(&account, &regions)
            .iter()
            .map(Scope::key)
            .collect();
        assert_eq!(keys, ["123456789012#us-west-2", "123456789012#us-east-1"]);
        assert!(Scope::per_region(&account, &[]).is_empty());
    }
}
