//! The SigV4 `Authorization` header: the emulator does not check signatures,
//! but it takes the region of each request from the credential scope.

use crate::protocol::ApiError;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const SERVICE: &str = "healthlake";
const TERMINATOR: &str = "aws4_request";

/// `Credential=<access key>/<date>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
}

/// Reads the credential scope of a SigV4 `Authorization` header. Anything a
/// signing client would not send is an `AccessDeniedException`.
pub fn credential_scope(authorization: Option<&str>) -> Result<CredentialScope, ApiError> {
    let header = authorization.ok_or_else(|| {
        ApiError::access_denied(
            "Missing Authentication Token: the request is not signed with SigV4",
        )
    })?;
    let parameters = header
        .trim()
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with(' '))
        .ok_or_else(|| {
            ApiError::access_denied(format!("Authorization header must use {ALGORITHM}"))
        })?;

    let mut credential = None;
    let mut signed_headers = false;
    let mut signature = false;
    for parameter in parameters.split(',').map(str::trim) {
        if let Some(value) = parameter.strip_prefix("Credential=") {
            credential = Some(value);
        } else if parameter.starts_with("SignedHeaders=") {
            signed_headers = true;
        } else if parameter.starts_with("Signature=") {
            signature = true;
        }
    }
    let credential = credential
        .ok_or_else(|| ApiError::access_denied("Authorization header has no Credential"))?;
    if !signed_headers || !signature {
        return Err(ApiError::access_denied(
            "Authorization header must include SignedHeaders and Signature",
        ));
    }

    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = parts[..] else {
        return Err(ApiError::access_denied(format!(
            "Credential must be <key>/<date>/<region>/{SERVICE}/{TERMINATOR}, got {credential}"
        )));
    };
    if access_key_id.is_empty() || date.is_empty() || terminator != TERMINATOR {
        return Err(ApiError::access_denied(format!(
            "Malformed Credential {credential}"
        )));
    }
    if !is_region_name(region) {
        return Err(ApiError::access_denied(format!(
            "Credential scope names an invalid region {region:?}"
        )));
    }
    if service != SERVICE {
        return Err(ApiError::access_denied(format!(
            "Credential should be scoped to service '{SERVICE}', not '{service}'"
        )));
    }
    Ok(CredentialScope {
        access_key_id: access_key_id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
    })
}

fn is_region_name(region: &str) -> bool {
    !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ErrorCode;

    const SIGNED: &str = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-2/healthlake/aws4_request, \
                          SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc123";

    #[test]
    fn reads_the_region_from_the_credential_scope() {
        let scope = credential_scope(Some(SIGNED)).unwrap();
        assert_eq!(
            scope,
            CredentialScope {
                access_key_id: "AKID".into(),
                date: "20240101".into(),
                region: "us-east-2".into(),
            }
        );
    }

    #[test]
    fn accepts_parameters_without_spaces_after_commas() {
        let header = "AWS4-HMAC-SHA256 Credential=K/20240101/eu-west-1/healthlake/aws4_request,SignedHeaders=host,Signature=00";
        assert_eq!(credential_scope(Some(header)).unwrap().region, "eu-west-1");
    }

    #[test]
    fn rejects_what_a_signing_client_would_not_send() {
        for header in [
            None,
            Some(""),
            Some("Bearer token"),
            Some("AWS4-HMAC-SHA256"),
            Some("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00"),
            Some("AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/healthlake/aws4_request"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/aws4_request, SignedHeaders=host, Signature=00",
            ),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKID/20240101//healthlake/aws4_request, SignedHeaders=host, Signature=00",
            ),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKID/20240101/US_EAST/healthlake/aws4_request, SignedHeaders=host, Signature=00",
            ),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00",
            ),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/healthlake/aws4, SignedHeaders=host, Signature=00",
            ),
        ] {
            let err = credential_scope(header).unwrap_err();
            assert_eq!(err.code(), ErrorCode::AccessDenied, "{header:?}");
        }
    }
}
