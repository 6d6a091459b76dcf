//! Adapters of the ports: in-memory (tests and the demo), a local file, and AWS.

pub mod dynamodb;
pub mod file;
pub mod healthlake;
pub mod memory;
pub mod sdk;
pub mod sns;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// One readable line for an SDK error: the service's code and message, or the
/// chain of causes of a transport failure. (`SdkError`'s own Display says only
/// "service error", and its debug form is not for people.)
pub(crate) fn describe<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    if let SdkError::ServiceError(e) = error {
        let e = e.err();
        return match (e.code(), e.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => e.to_string(),
        };
    }
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sns::operation::publish::PublishError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    #[test]
    fn service_errors_read_as_code_and_message() {
        let meta = ErrorMetadata::builder()
            .code("NotFound")
            .message("Topic does not exist")
            .build();
        let error: SdkError<PublishError, Response> = SdkError::service_error(
            PublishError::generic(meta),
            Response::new(StatusCode::try_from(404).unwrap(), SdkBody::empty()),
        );
        assert_eq!(describe(&error), "NotFound: Topic does not exist");
    }

    #[test]
    fn transport_errors_read_as_their_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error: SdkError<PublishError, Response> = SdkError::timeout_error(io);
        assert_eq!(
            describe(&error),
            "request has timed out: connection refused"
        );
    }
}
