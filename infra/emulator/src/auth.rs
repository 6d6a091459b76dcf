//! The SigV4 `Authorization` header: the emulator does not check signatures,
//! but it takes the access key and the region of each request from the
//! credential scope, whose service must be the one called.

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const TERMINATOR: &str = "aws4_request";

/// The signing names the emulator answers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    HealthLake,
    Sts,
}

impl Service {
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::HealthLake => "healthlake",
            Service::Sts => "sts",
        }
    }
}

/// `Credential=<access key>/<date>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
}

/// Anything a signing client would not send; each protocol answers it with
/// its own error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Missing Authentication Token: the request is not signed with SigV4")]
    Missing,
    #[error("{0}")]
    Malformed(String),
    #[error("Credential should be scoped to service '{expected}', not '{found}'")]
    WrongService {
        expected: &'static str,
        found: String,
    },
}

/// Reads the credential scope of a SigV4 `Authorization` header signed for
/// `service`.
pub fn credential_scope(
    authorization: Option<&str>,
    service: Service,
) -> Result<CredentialScope, AuthError> {
    let expected = service.signing_name();
    let header = authorization.ok_or(AuthError::Missing)?;
    let parameters = header
        .trim()
        .strip_prefix(ALGORITHM)
        .filter(|rest| rest.starts_with(' '))
        .ok_or_else(|| {
            AuthError::Malformed(format!("Authorization header must use {ALGORITHM}"))
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
        .ok_or_else(|| AuthError::Malformed("Authorization header has no Credential".into()))?;
    if !signed_headers || !signature {
        return Err(AuthError::Malformed(
            "Authorization header must include SignedHeaders and Signature".into(),
        ));
    }

    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, found, terminator] = parts[..] else {
        return Err(AuthError::Malformed(format!(
            "Credential must be <key>/<date>/<region>/{expected}/{TERMINATOR}, got {credential}"
        )));
    };
    if access_key_id.is_empty() || date.is_empty() || terminator != TERMINATOR {
        return Err(AuthError::Malformed(format!(
            "Malformed Credential {credential}"
        )));
    }
    if !is_region_name(region) {
        return Err(AuthError::Malformed(format!(
            "Credential scope names an invalid region {region:?}"
        )));
    }
    if found != expected {
        return Err(AuthError::WrongService {
            expected,
            found: found.to_owned(),
        });
    }
    Ok(CredentialScope {
        access_key_id: access_key_id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
    })
}

pub fn is_region_name(region: &str) -> bool {
    !region.is_empty()
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &str = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-2/healthlake/aws4_request, \
                          SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc123";

    #[test]
    fn reads_the_region_from_the_credential_scope() {
        let scope = credential_scope(Some(SIGNED), Service::HealthLake).unwrap();
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
        assert_eq!(
            credential_scope(Some(header), Service::HealthLake)
                .unwrap()
                .region,
            "eu-west-1"
        );
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
            assert!(
                credential_scope(header, Service::HealthLake).is_err(),
                "{header:?}"
            );
        }
    }

    #[test]
    fn each_service_accepts_only_its_own_signing_name() {
        let sts = SIGNED.replace("/healthlake/", "/sts/");
        assert_eq!(
            credential_scope(Some(&sts), Service::Sts).unwrap().region,
            "us-east-2"
        );
        assert_eq!(
            credential_scope(Some(&sts), Service::HealthLake),
            Err(AuthError::WrongService {
                expected: "healthlake",
                found: "sts".into()
            })
        );
        assert!(matches!(
            credential_scope(Some(SIGNED), Service::Sts),
            Err(AuthError::WrongService { .. })
        ));
        assert_eq!(
            credential_scope(None, Service::Sts),
            Err(AuthError::Missing)
        );
    }
}
