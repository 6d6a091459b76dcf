//! The awsJson1_0 protocol as HealthLake speaks it: operations named by
//! `X-Amz-Target`, JSON bodies, and errors as `{"__type", "message"}`.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::auth::AuthError;

/// Content type of every request and response body.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.0";
const TARGET_PREFIX: &str = "HealthLake.";
const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");

/// The control-plane operations the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    CreateFhirDatastore,
    DescribeFhirDatastore,
    ListFhirDatastores,
    DeleteFhirDatastore,
    TagResource,
    UntagResource,
    ListTagsForResource,
    UpdateFhirDatastore,
}

impl Operation {
    pub const ALL: [Operation; 8] = [
        Operation::CreateFhirDatastore,
        Operation::DescribeFhirDatastore,
        Operation::ListFhirDatastores,
        Operation::DeleteFhirDatastore,
        Operation::TagResource,
        Operation::UntagResource,
        Operation::ListTagsForResource,
        Operation::UpdateFhirDatastore,
    ];

    /// The name used in `X-Amz-Target` (after `HealthLake.`).
    pub fn name(self) -> &'static str {
        match self {
            Operation::CreateFhirDatastore => "CreateFHIRDatastore",
            Operation::DescribeFhirDatastore => "DescribeFHIRDatastore",
            Operation::ListFhirDatastores => "ListFHIRDatastores",
            Operation::DeleteFhirDatastore => "DeleteFHIRDatastore",
            Operation::TagResource => "TagResource",
            Operation::UntagResource => "UntagResource",
            Operation::ListTagsForResource => "ListTagsForResource",
            Operation::UpdateFhirDatastore => "UpdateFHIRDatastore",
        }
    }

    pub fn from_name(name: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Resolves the value of an `X-Amz-Target` header.
    pub fn from_target(target: Option<&str>) -> Result<Operation, ApiError> {
        let target = target.ok_or_else(|| {
            ApiError::new(ErrorCode::UnknownOperation, "Missing X-Amz-Target header")
        })?;
        target
            .strip_prefix(TARGET_PREFIX)
            .and_then(Operation::from_name)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::UnknownOperation,
                    format!("Unknown operation {target}"),
                )
            })
    }
}

/// The error codes a client can receive, as written in `__type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Validation,
    ResourceNotFound,
    Conflict,
    Throttling,
    InternalServer,
    AccessDenied,
    UnknownOperation,
    MissingAuthenticationToken,
    UnrecognizedClient,
    InvalidSignature,
    IncompleteSignature,
    ExpiredToken,
    Serialization,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::Validation,
        ErrorCode::ResourceNotFound,
        ErrorCode::Conflict,
        ErrorCode::Throttling,
        ErrorCode::InternalServer,
        ErrorCode::AccessDenied,
        ErrorCode::UnknownOperation,
        ErrorCode::MissingAuthenticationToken,
        ErrorCode::UnrecognizedClient,
        ErrorCode::InvalidSignature,
        ErrorCode::IncompleteSignature,
        ErrorCode::ExpiredToken,
        ErrorCode::Serialization,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Validation => "ValidationException",
            ErrorCode::ResourceNotFound => "ResourceNotFoundException",
            ErrorCode::Conflict => "ConflictException",
            ErrorCode::Throttling => "ThrottlingException",
            ErrorCode::InternalServer => "InternalServerException",
            ErrorCode::AccessDenied => "AccessDeniedException",
            ErrorCode::UnknownOperation => "UnknownOperationException",
            ErrorCode::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            ErrorCode::UnrecognizedClient => "UnrecognizedClientException",
            ErrorCode::InvalidSignature => "InvalidSignatureException",
            ErrorCode::IncompleteSignature => "IncompleteSignatureException",
            ErrorCode::ExpiredToken => "ExpiredTokenException",
            ErrorCode::Serialization => "SerializationException",
        }
    }

    pub fn from_name(name: &str) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == name)
    }

    /// Server faults are 500, an unsigned request 403; everything else,
    /// throttling included, is 400 as in the AWS JSON protocols.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::InternalServer => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::MissingAuthenticationToken => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The message a client sees when a scripted fault names none.
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorCode::Validation => "Request validation failed",
            ErrorCode::ResourceNotFound => "Requested resource not found",
            ErrorCode::Conflict => "The data store is in a transition state",
            ErrorCode::Throttling => "Rate exceeded",
            ErrorCode::InternalServer => "Internal server error",
            ErrorCode::AccessDenied => "Access denied",
            ErrorCode::UnknownOperation => "Unknown operation",
            ErrorCode::MissingAuthenticationToken => "Missing Authentication Token",
            ErrorCode::UnrecognizedClient => {
                "The security token included in the request is invalid."
            }
            ErrorCode::InvalidSignature => crate::auth::MISMATCH,
            ErrorCode::IncompleteSignature => "Authorization header is malformed",
            ErrorCode::ExpiredToken => "The security token included in the request is expired",
            ErrorCode::Serialization => "The request body could not be read",
        }
    }
}

/// The errors every AWS JSON service answers a request it cannot
/// authenticate with.
impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> ApiError {
        let code = match &err {
            AuthError::Missing => ErrorCode::MissingAuthenticationToken,
            AuthError::Incomplete(_) => ErrorCode::IncompleteSignature,
            AuthError::WrongService { .. } | AuthError::SignatureMismatch(_) => {
                ErrorCode::InvalidSignature
            }
            AuthError::UnrecognizedKey => ErrorCode::UnrecognizedClient,
            AuthError::Expired => ErrorCode::ExpiredToken,
        };
        ApiError::new(code, err.to_string())
    }
}

/// An error in the shape every AWS JSON client parses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct ApiError {
    code: ErrorCode,
    message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn validation(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Validation, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::ResourceNotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Conflict, message)
    }

    pub fn access_denied(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::AccessDenied, message)
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "__type")]
    kind: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            kind: self.code.as_str(),
            message: &self.message,
        };
        encode(self.code.status(), &body)
    }
}

/// A 200 response with a JSON body.
pub fn ok<T: Serialize>(body: &T) -> Response {
    encode(StatusCode::OK, body)
}

fn encode<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let request_id = uuid::Uuid::new_v4().to_string();
            let mut response = (status, bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            if let Ok(value) = HeaderValue::from_str(&request_id) {
                headers.insert(REQUEST_ID, value);
            }
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot encode a response body");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, CONTENT_TYPE)],
                r#"{"__type":"InternalServerException","message":"Cannot encode the response"}"#,
            )
                .into_response()
        }
    }
}

/// Parses a request body; an empty body is an empty object, as clients send
/// for operations whose members are all optional. A body that is not JSON,
/// or a member of the wrong type, is a SerializationException, as awsJson1_0
/// services answer; a required member missing is a ValidationException.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|err| {
        let missing = err.is_data() && err.to_string().starts_with("missing field");
        let code = if missing {
            ErrorCode::Validation
        } else {
            ErrorCode::Serialization
        };
        ApiError::new(code, format!("Invalid request body: {err}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_to_operations() {
        assert_eq!(
            Operation::from_target(Some("HealthLake.ListFHIRDatastores")),
            Ok(Operation::ListFhirDatastores)
        );
        for op in Operation::ALL {
            let target = format!("HealthLake.{}", op.name());
            assert_eq!(Operation::from_target(Some(&target)), Ok(op));
        }
    }

    #[test]
    fn unknown_or_missing_targets_are_unknown_operations() {
        for target in [
            None,
            Some("HealthLake.StartFHIRImportJob"),
            Some("DynamoDB_20120810.ListTables"),
            Some("ListFHIRDatastores"),
            Some(""),
        ] {
            let err = Operation::from_target(target).unwrap_err();
            assert_eq!(err.code(), ErrorCode::UnknownOperation, "{target:?}");
        }
    }

    #[test]
    fn error_codes_round_trip_and_map_to_statuses() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_name(code.as_str()), Some(code));
        }
        assert_eq!(ErrorCode::Throttling.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ErrorCode::InternalServer.status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(ErrorCode::from_name("Throttling"), None);
        assert_eq!(
            ErrorCode::MissingAuthenticationToken.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(ErrorCode::ExpiredToken.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn authentication_failures_have_the_codes_of_every_aws_json_service() {
        for (err, code, message) in [
            (
                AuthError::Missing,
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
            (
                AuthError::UnrecognizedKey,
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ),
            (
                AuthError::SignatureMismatch(crate::auth::MISMATCH.to_owned()),
                "InvalidSignatureException",
                crate::auth::MISMATCH,
            ),
            (
                AuthError::WrongService {
                    expected: "healthlake",
                    found: "sts".into(),
                },
                "InvalidSignatureException",
                "Credential should be scoped to correct service: 'healthlake'. ",
            ),
            (
                AuthError::Expired,
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ),
            (
                AuthError::Incomplete("Authorization header has no Credential".into()),
                "IncompleteSignatureException",
                "Authorization header has no Credential",
            ),
        ] {
            let api = ApiError::from(err);
            assert_eq!((api.code().as_str(), api.message()), (code, message));
        }
    }

    #[tokio::test]
    async fn errors_are_rendered_in_the_aws_json_shape() {
        let response = ApiError::validation("MaxResults must be between 1 and 500").into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some(CONTENT_TYPE)
        );
        assert!(response.headers().contains_key(REQUEST_ID));
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "__type": "ValidationException",
                "message": "MaxResults must be between 1 and 500"
            })
        );
    }

    #[test]
    fn empty_bodies_parse_as_empty_objects_and_bad_json_is_a_serialization_error() {
        #[derive(Debug, serde::Deserialize)]
        struct Anything {
            #[serde(rename = "X")]
            _x: Option<u8>,
        }
        #[derive(Debug, serde::Deserialize)]
        struct Required {
            #[serde(rename = "Key")]
            _key: String,
        }
        assert!(parse_body::<Anything>(b"").is_ok());
        assert!(parse_body::<Anything>(b" \n").is_ok());
        for body in [
            b"{not json".as_slice(),
            b"{\"X\": ",
            br#"{"X": "text"}"#,
            br#"{"X": 1.5}"#,
            br#"{"X": 300}"#,
            b"[]",
            b"<html></html>",
        ] {
            let err = parse_body::<Anything>(body).unwrap_err();
            assert_eq!(
                err.code(),
                ErrorCode::Serialization,
                "{}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(err.code().status(), StatusCode::BAD_REQUEST);
        }
        let err = parse_body::<Required>(b"{}").unwrap_err();
        assert_eq!(err.code(), ErrorCode::Validation, "{err}");
        assert!(err.message().contains("Key"), "{err}");
    }
}
