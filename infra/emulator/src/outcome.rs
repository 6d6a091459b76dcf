//! Scripting a creation failure from any AWS client: a store created with the
//! tag `emulator:outcome` = `CREATE_FAILED:<ErrorCategory>:<message>` ends in
//! CREATE_FAILED with that error cause instead of ACTIVE.

use crate::model::ErrorCause;

pub const OUTCOME_TAG: &str = "emulator:outcome";
const CREATE_FAILED: &str = "CREATE_FAILED";
const CATEGORIES: [&str; 2] = ["RETRYABLE_ERROR", "NON_RETRYABLE_ERROR"];
const MAX_MESSAGE_CHARS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutcomeError {
    #[error("expected {CREATE_FAILED}:<ErrorCategory>:<message>, got {0:?}")]
    Shape(String),
    #[error("unknown outcome {0:?}: the only scriptable outcome is {CREATE_FAILED}")]
    Outcome(String),
    #[error("ErrorCategory must be RETRYABLE_ERROR or NON_RETRYABLE_ERROR, got {0:?}")]
    Category(String),
    #[error("the error message must be 1 to {MAX_MESSAGE_CHARS} characters")]
    Message,
}

/// Parses the value of the outcome tag. The message is everything after the
/// second colon, so it may contain colons itself.
pub fn parse(value: &str) -> Result<ErrorCause, OutcomeError> {
    let mut parts = value.splitn(3, ':');
    let (Some(outcome), Some(category), Some(message)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(OutcomeError::Shape(value.to_owned()));
    };
    if outcome != CREATE_FAILED {
        return Err(OutcomeError::Outcome(outcome.to_owned()));
    }
    if !CATEGORIES.contains(&category) {
        return Err(OutcomeError::Category(category.to_owned()));
    }
    let chars = message.chars().count();
    if chars == 0 || chars > MAX_MESSAGE_CHARS {
        return Err(OutcomeError::Message);
    }
    Ok(ErrorCause {
        error_message: message.to_owned(),
        error_category: category.to_owned(),
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
            Ok(ErrorCause {
                error_message: "KMS key arn:aws:kms:us-east-1:1:key/x is disabled".into(),
                error_category: "NON_RETRYABLE_ERROR".into(),
            })
        );
        assert_eq!(
            parse("CREATE_FAILED:RETRYABLE_ERROR:x").map(|cause| cause.error_category),
            Ok("RETRYABLE_ERROR".into())
        );
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
