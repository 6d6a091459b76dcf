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

/// One character of HealthLake's model of `DatastoreId`, the class
/// `[\p{L}\p{Z}\p{N}_.:/=+\-%@]`: a letter, separator or number (by Unicode
/// general category) or one of `_.:/=+-%@`. `#` is not in the class, so
/// `<account>#<region>#<id>#<version>` and the other keys joined with `#`
/// split back in one way only.
fn datastore_id_char(c: char) -> bool {
    use unicode_general_category::GeneralCategory::*;
    matches!(c, '_' | '.' | ':' | '/' | '=' | '+' | '-' | '%' | '@')
        || matches!(
            unicode_general_category::get_general_category(c),
            UppercaseLetter
                | LowercaseLetter
                | TitlecaseLetter
                | ModifierLetter
                | OtherLetter
                | SpaceSeparator
                | LineSeparator
                | ParagraphSeparator
                | DecimalNumber
                | LetterNumber
                | OtherNumber
        )
}

string_id!(
    /// A HealthLake data store id: 32 hex characters when HealthLake makes one
    /// up, but the model allows 1 to 32 Unicode letters, numbers and
    /// separators (a space, say) and `_.:/=+-%@`, so `store one` and
    /// `é:ü/2=+%@` are ids too.
    DatastoreId,
    "data store id",
    "expected 1 to 32 letters, numbers, spaces or _.:/=+-%@",
    // The model's pattern matched in full (as AWS servers match Smithy
    // patterns), and a length of 1 to 32 counted as Smithy counts it, in
    // Unicode scalar values.
    |v| (1..=32).contains(&v.chars().count()) && v.chars().all(datastore_id_char)
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
    fn a_data_store_id_is_what_the_model_allows() {
        for id in [
            "a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "x",
            "store one",
            "é:ü/2=+%@",
            "data_store.v1",
            "a-b",
            "%41",
            "Ünïcödé ĳ ß",
            "日本語のストア",
            "٣٤",         // Arabic-Indic digits: \p{N}
            "Ⅻ",          // a letter-like number: \p{Nl}
            "a\u{3000}b", // an ideographic space: \p{Zs}
            "a\u{2028}b", // a line separator: \p{Zl}, allowed by the model
            "𝒜𝒷",         // letters beyond the Basic Multilingual Plane
            "   ",
        ] {
            assert_eq!(
                DatastoreId::parse(id).map(|id| id.to_string()),
                Ok(id.to_owned())
            );
        }
    }

    #[test]
    fn every_character_is_judged_as_the_models_pattern_judges_it() {
        let pattern = regex::Regex::new(r"\A[\p{L}\p{Z}\p{N}_.:/=+\-%@]\z").unwrap();
        let differ: Vec<String> = (0..=u32::from(char::MAX))
            .filter_map(char::from_u32)
            .filter(|c| datastore_id_char(*c) != pattern.is_match(c.encode_utf8(&mut [0; 4])))
            .map(|c| format!("U+{:04X}", u32::from(c)))
            .collect();
        assert!(
            differ.is_empty(),
            "judged unlike the model's pattern: {differ:?}"
        );
    }

    #[test]
    fn a_data_store_id_is_1_to_32_characters_not_bytes() {
        assert!(DatastoreId::parse("é".repeat(32)).is_ok());
        assert!(DatastoreId::parse("𝒜".repeat(32)).is_ok());
        assert!(DatastoreId::parse("é".repeat(33)).is_err());
        assert!(DatastoreId::parse("x".repeat(32)).is_ok());
        assert!(DatastoreId::parse("x".repeat(33)).is_err());
        assert!(DatastoreId::parse("").is_err());
    }

    #[test]
    fn a_data_store_id_refuses_what_the_model_does_not_allow() {
        for id in [
            "a#b",
            "a\nb",
            "a\tb",
            "\u{0}",
            "a\u{7f}",
            "a\u{85}b",
            "a!b",
            "a\"b",
            "a$b",
            "a&b",
            "a'b",
            "a(b)",
            "a*b",
            "a,b",
            "a;b",
            "a<b>",
            "a?b",
            "a[b]",
            "a\\b",
            "a^b",
            "a`b",
            "a{b}",
            "a|b",
            "a~b",
            "e\u{301}",
            "a\u{200b}b",
            "a\u{feff}",
            "a\u{202e}b",
            "a©b",
            "a🙂b",
            "a€b",
        ] {
            let err = DatastoreId::parse(id).unwrap_err();
            assert_eq!(err.value, id);
            assert_eq!(
                err.expected,
                "expected 1 to 32 letters, numbers, spaces or _.:/=+-%@"
            );
        }
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

    proptest::proptest! {
        #[test]
        fn every_id_of_the_model_parses_as_it_is(
            id in crate::domain::testing::datastore_id_strategy(),
        ) {
            let again = DatastoreId::parse(id.as_str()).unwrap();
            proptest::prop_assert_eq!(again.as_str(), id.as_str());
            proptest::prop_assert!((1..=32).contains(&id.as_str().chars().count()));
            proptest::prop_assert!(!id.as_str().contains('#'));
        }

        #[test]
        fn one_character_outside_the_model_is_refused(
            id in crate::domain::testing::datastore_id_strategy(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            bad in crate::domain::testing::not_in_datastore_id_strategy(),
        ) {
            let mut chars: Vec<char> = id.as_str().chars().collect();
            let at = at.index(chars.len());
            chars[at] = bad;
            let id: String = chars.into_iter().collect();
            proptest::prop_assert!(DatastoreId::parse(id).is_err());
        }

        #[test]
        fn an_id_of_more_than_32_characters_is_refused(
            id in crate::domain::testing::datastore_id_strategy(),
            more in crate::domain::testing::datastore_id_strategy(),
        ) {
            let long = format!("{id}{more}");
            proptest::prop_assume!(long.chars().count() > 32);
            proptest::prop_assert!(DatastoreId::parse(long).is_err());
        }
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
