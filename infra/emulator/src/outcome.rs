//! Scripting a failure from any AWS client, through the tag
//! `emulator:outcome`:
//!
//! - `CREATE_FAILED:<ErrorCategory>:<message>` on a store's creation (in the
//!   request's tags) makes it end in CREATE_FAILED with that error cause
//!   instead of ACTIVE;
//! - `UPDATE_FAILED:<ErrorCategory>:<message>` makes every
//!   UpdateFHIRDatastore end in UPDATE_FAILED with that error cause instead of
//!   ACTIVE. The tag is read when the update is accepted, from the store's
//!   tags at that moment: a test tags an ACTIVE store with TagResource, then
//!   updates it, as a store that fails in production would have been updated.
//!   Removing the tag (UntagResource) lets the next update succeed.
//!
//! Each outcome applies only to its own operation: an `UPDATE_FAILED` tag
//! does not fail a creation, and a `CREATE_FAILED` one does not fail an update.

use crate::model::ErrorCause;

pub const OUTCOME_TAG: &str = "emulator:outcome";
const CREATE_FAILED: &str = "CREATE_FAILED";
const UPDATE_FAILED: &str = "UPDATE_FAILED";
const CATEGORIES: [&str; 2] = ["RETRYABLE_ERROR", "NON_RETRYABLE_ERROR"];
const MAX_MESSAGE_CHARS: usize = 4096;

/// The operation a scripted failure applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failing {
    Creation,
    Update,
}

/// A parsed outcome tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub failing: Failing,
    pub cause: ErrorCause,
}

impl Outcome {
    /// The cause when this outcome fails `operation`.
    pub fn cause_for(self, operation: Failing) -> Option<ErrorCause> {
        (self.failing == operation).then_some(self.cause)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutcomeError {
    #[error(
        "expected {CREATE_FAILED}:<ErrorCategory>:<message> or {UPDATE_FAILED}:<ErrorCategory>:<message>, got {0:?}"
    )]
    Shape(String),
    #[error(
        "unknown outcome {0:?}: the scriptable outcomes are {CREATE_FAILED} and {UPDATE_FAILED}"
    )]
    Outcome(String),
    #[error("ErrorCategory must be RETRYABLE_ERROR or NON_RETRYABLE_ERROR, got {0:?}")]
    Category(String),
    #[error("the error message must be 1 to {MAX_MESSAGE_CHARS} characters")]
    Message,
}

/// Parses the value of the outcome tag. The message is everything after the
/// second colon, so it may contain colons itself.
pub fn parse(value: &str) -> Result<Outcome, OutcomeError> {
    let mut parts = value.splitn(3, ':');
    let (Some(outcome), Some(category), Some(message)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(OutcomeError::Shape(value.to_owned()));
    };
    let failing = match outcome {
        CREATE_FAILED => Failing::Creation,
        UPDATE_FAILED => Failing::Update,
        other => return Err(OutcomeError::Outcome(other.to_owned())),
    };
    if !CATEGORIES.contains(&category) {
        return Err(OutcomeError::Category(category.to_owned()));
    }
    let chars = message.chars().count();
    if chars == 0 || chars > MAX_MESSAGE_CHARS {
        return Err(OutcomeError::Message);
    }
    Ok(Outcome {
        failing,
        cause: ErrorCause {
            error_message: message.to_owned(),
            error_category: category.to_owned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_category_and_a_message_with_colons() {
        assert_eq!(
            parse(
                "CREATE_FAILED:NON_RETRYABLE_ERROR:KMS key arn:aws:kms:us-east-1:1:key/x is disabled"
            ),
            Ok(Outcome {
                failing: Failing::Creation,
                cause: ErrorCause {
                    error_message: "KMS key arn:aws:kms:us-east-1:1:key/x is disabled".into(),
                    error_category: "NON_RETRYABLE_ERROR".into(),
                }
            })
        );
        assert_eq!(
            parse("CREATE_FAILED:RETRYABLE_ERROR:x").map(|outcome| outcome.cause.error_category),
            Ok("RETRYABLE_ERROR".into())
        );
    }

    #[test]
    fn an_update_failure_applies_to_updates_only() {
        let outcome = parse("UPDATE_FAILED:RETRYABLE_ERROR:index rebuild: try again").unwrap();
        assert_eq!(outcome.failing, Failing::Update);
        assert_eq!(outcome.cause.error_message, "index rebuild: try again");
        assert_eq!(outcome.clone().cause_for(Failing::Creation), None);
        assert_eq!(
            outcome
                .cause_for(Failing::Update)
                .map(|cause| cause.error_category),
            Some("RETRYABLE_ERROR".into())
        );
        assert_eq!(
            parse("CREATE_FAILED:RETRYABLE_ERROR:x")
                .unwrap()
                .cause_for(Failing::Update),
            None
        );
        assert!(matches!(
            parse("update_failed:RETRYABLE_ERROR:x"),
            Err(OutcomeError::Outcome(_))
        ));
    }

    #[test]
    fn refuses_malformed_values() {
        assert!(matches!(parse(""), Err(OutcomeError::Shape(_))));
        assert!(matches!(
            parse("CREATE_FAILED"),
            Err(OutcomeError::Shape(_))
        ));
        assert!(matches!(
            parse("CREATE_FAILED:RETRYABLE_ERROR"),
            Err(OutcomeError::Shape(_))
        ));
        assert!(matches!(
            parse("ACTIVE:RETRYABLE_ERROR:x"),
            Err(OutcomeError::Outcome(_))
        ));
        assert!(matches!(
            parse("create_failed:RETRYABLE_ERROR:x"),
            Err(OutcomeError::Outcome(_))
        ));
        assert!(matches!(
            parse("CREATE_FAILED:FATAL:x"),
            Err(OutcomeError::Category(_))
        ));
        assert!(matches!(
            parse("CREATE_FAILED::x"),
            Err(OutcomeError::Category(_))
        ));
        assert_eq!(
            parse("CREATE_FAILED:RETRYABLE_ERROR:"),
            Err(OutcomeError::Message)
        );
    }
}
