//! Data store statuses and error causes, as HealthLake reports them.
//!
//! AWS adds statuses over time (UPDATING and UPDATE_FAILED came after the
//! first release), so any string is kept verbatim as `Unrecognized` and
//! reported, never rejected.

use std::fmt;

macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($variant,)+
            /// A value this version of the monitor does not know, kept as AWS sent it.
            Unrecognized(String),
        }

        impl $name {
            /// Every value this version knows.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            pub fn parse(value: &str) -> Self {
                match value {
                    $($text => Self::$variant,)+
                    other => Self::Unrecognized(other.to_owned()),
                }
            }

            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Unrecognized(other) => other,
                }
            }

            pub fn is_known(&self) -> bool {
                !matches!(self, Self::Unrecognized(_))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

open_enum!(
    /// The lifecycle status of a data store.
    DatastoreStatus {
        Creating => "CREATING",
        Active => "ACTIVE",
        Deleting => "DELETING",
        Deleted => "DELETED",
        CreateFailed => "CREATE_FAILED",
        Updating => "UPDATING",
        UpdateFailed => "UPDATE_FAILED",
    }
);

open_enum!(
    /// Whether retrying the failed operation can help.
    ErrorCategory {
        Retryable => "RETRYABLE_ERROR",
        NonRetryable => "NON_RETRYABLE_ERROR",
    }
);

impl DatastoreStatus {
    /// A failure status: the known `*_FAILED` ones, and any new status AWS names that way.
    pub fn is_failed(&self) -> bool {
        match self {
            Self::CreateFailed | Self::UpdateFailed => true,
            Self::Unrecognized(other) => other.ends_with("_FAILED"),
            _ => false,
        }
    }
}

/// Why an operation on a data store failed (`ErrorCause` in the HealthLake API).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorCause {
    pub message: String,
    pub category: ErrorCategory,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_statuses_round_trip() {
        for status in DatastoreStatus::KNOWN {
            assert_eq!(&DatastoreStatus::parse(status.as_str()), status);
            assert!(status.is_known());
        }
    }

    #[test]
    fn unknown_statuses_are_kept_verbatim() {
        let status = DatastoreStatus::parse("ARCHIVED");
        assert_eq!(status, DatastoreStatus::Unrecognized("ARCHIVED".into()));
        assert_eq!(status.to_string(), "ARCHIVED");
        assert!(!status.is_known());
        assert!(!status.is_failed());
        assert!(DatastoreStatus::parse("IMPORT_FAILED").is_failed());
    }

    #[test]
    fn failure_statuses() {
        assert!(DatastoreStatus::CreateFailed.is_failed());
        assert!(DatastoreStatus::UpdateFailed.is_failed());
        assert!(!DatastoreStatus::Active.is_failed());
        assert!(!DatastoreStatus::Deleted.is_failed());
    }
}
