//! STS on the emulator's port: AssumeRole and GetCallerIdentity in the
//! awsQuery protocol (`POST /` with a form body, XML answers), signed with
//! SigV4 for service `sts`.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{SecondsFormat, Utc};

use crate::auth::{self, AuthError, Service, SignedRequest};
use crate::control::Call;
use crate::iam::{AssumeRole, Caller, Refusal, RoleArn, Session};
use crate::state::Emulator;

const VERSION: &str = "2011-06-15";
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const CONTENT_TYPE: &str = "text/xml";
const REQUEST_ID: HeaderName = HeaderName::from_static("x-amzn-requestid");

const DEFAULT_DURATION_SECONDS: u32 = 3600;
const DURATION_SECONDS: std::ops::RangeInclusive<u32> = 900..=43_200;
const ROLE_ARN_CHARS: std::ops::RangeInclusive<usize> = 20..=2048;
const SESSION_NAME_CHARS: std::ops::RangeInclusive<usize> = 2..=64;
pub const EXTERNAL_ID_CHARS: std::ops::RangeInclusive<usize> = 2..=1224;

/// The STS actions the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    AssumeRole,
    GetCallerIdentity,
}

impl Action {
    pub const ALL: [Action; 2] = [Action::AssumeRole, Action::GetCallerIdentity];

    pub fn name(self) -> &'static str {
        match self {
            Action::AssumeRole => "AssumeRole",
            Action::GetCallerIdentity => "GetCallerIdentity",
        }
    }

    /// The `Action` and `Version` parameters of a request.
    fn parse(action: Option<&str>, version: Option<&str>) -> Result<Action, StsError> {
        let action =
            action.ok_or_else(|| StsError::new(StsCode::MissingAction, "Missing Action"))?;
        let known = Action::ALL.into_iter().find(|known| known.name() == action);
        match (known, version) {
            (Some(known), Some(VERSION)) => Ok(known),
            _ => Err(StsError::new(
                StsCode::InvalidAction,
                format!(
                    "Could not find operation {action} for version {}",
                    version.unwrap_or("NO_VERSION_SPECIFIED")
                ),
            )),
        }
    }
}

/// The error codes of STS's `<Error><Code>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsCode {
    AccessDenied,
    ValidationError,
    InvalidAction,
    MissingAction,
    MissingAuthenticationToken,
    IncompleteSignature,
    SignatureDoesNotMatch,
    InvalidClientTokenId,
    ExpiredToken,
}

impl StsCode {
    pub fn as_str(self) -> &'static str {
        match self {
            StsCode::AccessDenied => "AccessDenied",
            StsCode::ValidationError => "ValidationError",
            StsCode::InvalidAction => "InvalidAction",
            StsCode::MissingAction => "MissingAction",
            StsCode::MissingAuthenticationToken => "MissingAuthenticationToken",
            StsCode::IncompleteSignature => "IncompleteSignature",
            StsCode::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            StsCode::InvalidClientTokenId => "InvalidClientTokenId",
            StsCode::ExpiredToken => "ExpiredToken",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            StsCode::AccessDenied
            | StsCode::MissingAuthenticationToken
            | StsCode::SignatureDoesNotMatch
            | StsCode::InvalidClientTokenId => StatusCode::FORBIDDEN,
            StsCode::ValidationError
            | StsCode::InvalidAction
            | StsCode::MissingAction
            | StsCode::IncompleteSignature
            | StsCode::ExpiredToken => StatusCode::BAD_REQUEST,
        }
    }
}

/// An error as STS renders it; every one is the caller's (`Sender`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct StsError {
    code: StsCode,
    message: String,
}

impl StsError {
    pub fn new(code: StsCode, message: impl Into<String>) -> StsError {
        StsError {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> StsCode {
        self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    fn render(&self, request_id: &str) -> Response {
        let body = format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type>{}{}</Error>{}</ErrorResponse>",
            element("Code", self.code.as_str()),
            element("Message", &self.message),
            element("RequestId", request_id),
        );
        xml(self.code.status(), body, request_id)
    }
}

/// STS names the same failures as the JSON services differently.
impl From<AuthError> for StsError {
    fn from(err: AuthError) -> StsError {
        let code = match &err {
            AuthError::Missing => {
                return StsError::new(
                    StsCode::MissingAuthenticationToken,
                    "Request is missing Authentication Token",
                );
            }
            AuthError::Incomplete(_) => StsCode::IncompleteSignature,
            AuthError::WrongService { .. } | AuthError::SignatureMismatch(_) => {
                StsCode::SignatureDoesNotMatch
            }
            AuthError::UnrecognizedKey => StsCode::InvalidClientTokenId,
            AuthError::Expired => StsCode::ExpiredToken,
        };
        StsError::new(code, err.to_string())
    }
}

impl From<Refusal> for StsError {
    fn from(refusal: Refusal) -> StsError {
        let code = match refusal {
            Refusal::Denied { .. } => StsCode::AccessDenied,
            Refusal::Invalid(_) => StsCode::ValidationError,
        };
        StsError::new(code, refusal.to_string())
    }
}

/// Whether a request speaks awsQuery: a form body and no `X-Amz-Target`.
pub fn is_query(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    !headers.contains_key("x-amz-target")
        && content_type
            .split(';')
            .next()
            .is_some_and(|media| media.trim() == "application/x-www-form-urlencoded")
}

/// Answers one STS request.
pub fn handle(emulator: &Emulator, request: &SignedRequest<'_>) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    match dispatch(emulator, request, &request_id) {
        Ok(body) => xml(StatusCode::OK, body, &request_id),
        Err(err) => {
            tracing::debug!(
                code = err.code().as_str(),
                message = err.message(),
                "STS call refused"
            );
            err.render(&request_id)
        }
    }
}

fn dispatch(
    emulator: &Emulator,
    request: &SignedRequest<'_>,
    request_id: &str,
) -> Result<String, StsError> {
    let params = Params::parse(request.body);
    let action = Action::parse(params.get("Action"), params.get("Version"));

    let mut state = emulator.lock();
    let state = &mut *state;
    let scope = auth::authenticate(request, Service::Sts, |key| state.iam.key(key), Utc::now());
    // STS authenticates a request before it looks at what it asks.
    let scope = match scope {
        Ok(scope) => scope,
        Err(err) => {
            if let Ok(action) = action {
                state.calls.record(Call::Sts(action), None);
            }
            return Err(err.into());
        }
    };
    let action = action?;
    let caller = state.iam.caller(&scope.access_key_id);
    state
        .calls
        .record(Call::Sts(action), Some((&scope.region, &caller.account)));
    tracing::debug!(
        action = action.name(),
        region = scope.region,
        account = caller.account,
        "STS call"
    );

    match action {
        Action::AssumeRole => {
            let request = assume_role_request(&params)?;
            let session = state.iam.assume_role(&caller, &request, Utc::now())?;
            tracing::info!(
                role_arn = request.role.as_str(),
                session_name = request.session_name,
                access_key_id = session.access_key_id,
                "role assumed"
            );
            Ok(assume_role_response(session, request_id))
        }
        Action::GetCallerIdentity => Ok(caller_identity_response(&caller, request_id)),
    }
}

/// The form parameters of a request; the first of a repeated name counts.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(body: &[u8]) -> Params {
        Params(url::form_urlencoded::parse(body).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Checks every member as STS does, and reports all that fail at once.
fn assume_role_request(params: &Params) -> Result<AssumeRole, StsError> {
    let mut problems = Vec::new();
    let mut check = |member: &str, value: Option<&str>, rule: Option<String>| {
        if let Some(rule) = rule {
            let value = value.map_or("null".to_owned(), |value| format!("'{value}'"));
            problems.push(format!(
                "Value {value} at '{member}' failed to satisfy constraint: Member must {rule}"
            ));
        }
    };

    let role_arn = params.get("RoleArn");
    check(
        "roleArn",
        role_arn,
        required_length(role_arn, ROLE_ARN_CHARS),
    );

    let session_name = params.get("RoleSessionName");
    let session_rule = required_length(session_name, SESSION_NAME_CHARS).or_else(|| {
        session_name
            .filter(|name| !crate::iam::is_iam_name(name))
            .map(|_| r"satisfy regular expression pattern: [\w+=,.@-]*".to_owned())
    });
    check("roleSessionName", session_name, session_rule);

    let external_id = params.get("ExternalId");
    let external_id_rule = external_id.and_then(|id| {
        length_rule(id, EXTERNAL_ID_CHARS).or_else(|| {
            (!is_external_id(id))
                .then(|| r"satisfy regular expression pattern: [\w+=,.@:\/-]*".to_owned())
        })
    });
    check("externalId", external_id, external_id_rule);

    let duration = params.get("DurationSeconds");
    let duration_rule = duration.and_then(|text| match text.parse::<i64>() {
        Ok(seconds) if seconds < i64::from(*DURATION_SECONDS.start()) => Some(format!(
            "have value greater than or equal to {}",
            DURATION_SECONDS.start()
        )),
        Ok(seconds) if seconds > i64::from(*DURATION_SECONDS.end()) => Some(format!(
            "have value less than or equal to {}",
            DURATION_SECONDS.end()
        )),
        Ok(_) => None,
        Err(_) => Some("be an integer".to_owned()),
    });
    check("durationSeconds", duration, duration_rule);

    if !problems.is_empty() {
        let count = problems.len();
        let plural = if count == 1 { "" } else { "s" };
        return Err(StsError::new(
            StsCode::ValidationError,
            format!(
                "{count} validation error{plural} detected: {}",
                problems.join("; ")
            ),
        ));
    }
    // Both are present once the checks above passed.
    let (Some(role_arn), Some(session_name)) = (role_arn, session_name) else {
        return Err(StsError::new(
            StsCode::ValidationError,
            "RoleArn and RoleSessionName are required",
        ));
    };
    let role = RoleArn::parse(role_arn)
        .map_err(|_| StsError::new(StsCode::ValidationError, "Request ARN is invalid"))?;
    Ok(AssumeRole {
        role,
        session_name: session_name.to_owned(),
        external_id: external_id.map(str::to_owned),
        duration_seconds: duration
            .and_then(|text| text.parse().ok())
            .unwrap_or(DEFAULT_DURATION_SECONDS),
    })
}

fn required_length(value: Option<&str>, range: std::ops::RangeInclusive<usize>) -> Option<String> {
    match value {
        None => Some("not be null".to_owned()),
        Some(value) => length_rule(value, range),
    }
}

fn length_rule(value: &str, range: std::ops::RangeInclusive<usize>) -> Option<String> {
    let chars = value.chars().count();
    if chars < *range.start() {
        Some(format!(
            "have length greater than or equal to {}",
            range.start()
        ))
    } else if chars > *range.end() {
        Some(format!("have length less than or equal to {}", range.end()))
    } else {
        None
    }
}

/// `[\w+=,.@:\/-]*`
pub fn is_external_id(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b))
}

fn assume_role_response(session: &Session, request_id: &str) -> String {
    let expiration = session
        .expiration
        .to_rfc3339_opts(SecondsFormat::Secs, true);
    format!(
        "<AssumeRoleResponse xmlns=\"{NAMESPACE}\"><AssumeRoleResult>\
         <Credentials>{}{}{}{}</Credentials>\
         <AssumedRoleUser>{}{}</AssumedRoleUser>\
         </AssumeRoleResult><ResponseMetadata>{}</ResponseMetadata></AssumeRoleResponse>",
        element("AccessKeyId", &session.access_key_id),
        element("SecretAccessKey", &session.secret_access_key),
        element("SessionToken", &session.session_token),
        element("Expiration", &expiration),
        element("AssumedRoleId", &session.assumed_role_id),
        element("Arn", &session.arn),
        element("RequestId", request_id),
    )
}

fn caller_identity_response(caller: &Caller, request_id: &str) -> String {
    format!(
        "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\"><GetCallerIdentityResult>{}{}{}\
         </GetCallerIdentityResult><ResponseMetadata>{}</ResponseMetadata></GetCallerIdentityResponse>",
        element("Arn", &caller.arn),
        element("UserId", &caller.user_id),
        element("Account", &caller.account),
        element("RequestId", request_id),
    )
}

/// `<name>text</name>`, the text escaped.
fn element(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape(text))
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn xml(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::EmulatorConfig;

    fn params(body: &str) -> Params {
        Params::parse(body.as_bytes())
    }

    /// Credentials: access key, secret, session token.
    type Key<'a> = (&'a str, &'a str, Option<&'a str>);
    const AKID: Key<'static> = ("AKID", "SECRET", None);

    fn form_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        headers
    }

    /// A request signed with `key` for `service`.
    fn send(emulator: &Emulator, service: Service, key: Key<'_>, body: &str) -> Response {
        let mut headers = form_headers();
        auth::sign_post(&mut headers, body.as_bytes(), key, "us-east-1", service);
        send_headers(emulator, &headers, body)
    }

    fn send_headers(emulator: &Emulator, headers: &HeaderMap, body: &str) -> Response {
        handle(
            emulator,
            &SignedRequest {
                method: "POST",
                path: "/",
                query: None,
                headers,
                body: body.as_bytes(),
            },
        )
    }

    fn call(emulator: &Emulator, key: Key<'_>, body: &str) -> (StatusCode, String) {
        let response = send(emulator, Service::Sts, key, body);
        let status = response.status();
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "text/xml"
        );
        assert!(response.headers().contains_key(REQUEST_ID));
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// The text of the first `<name>` element.
    fn text<'a>(xml: &'a str, name: &str) -> &'a str {
        let open = format!("<{name}>");
        let start = xml
            .find(&open)
            .unwrap_or_else(|| panic!("no {name} in {xml}"))
            + open.len();
        let end = start + xml[start..].find(&format!("</{name}>")).unwrap();
        &xml[start..end]
    }

    const ASSUME: &str = "Action=AssumeRole&Version=2011-06-15\
                          &RoleArn=arn%3Aaws%3Aiam%3A%3A210987654321%3Arole%2FReader\
                          &RoleSessionName=healthlake-monitor";

    #[test]
    fn assume_role_answers_credentials_of_the_roles_account() {
        let emulator = Emulator::new(&EmulatorConfig::default());
        let before = Utc::now();
        let (status, body) = call(&emulator, AKID, ASSUME);
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.starts_with(
            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>ASIA"
        ));
        let expiration = chrono::DateTime::parse_from_rfc3339(text(&body, "Expiration")).unwrap();
        let lifetime = expiration.with_timezone(&Utc) - before;
        assert!((3599..=3601).contains(&lifetime.num_seconds()), "{body}");
        assert!(text(&body, "Expiration").ends_with('Z'));
        assert_eq!(
            text(&body, "Arn"),
            "arn:aws:sts::210987654321:assumed-role/Reader/healthlake-monitor"
        );
        assert!(text(&body, "AssumedRoleId").ends_with(":healthlake-monitor"));
        assert!(!text(&body, "RequestId").is_empty());

        let key = (
            text(&body, "AccessKeyId"),
            text(&body, "SecretAccessKey"),
            Some(text(&body, "SessionToken")),
        );
        let (status, identity) = call(
            &emulator,
            key,
            "Action=GetCallerIdentity&Version=2011-06-15",
        );
        assert_eq!(status, StatusCode::OK, "{identity}");
        assert_eq!(text(&identity, "Account"), "210987654321");
        assert_eq!(text(&identity, "Arn"), text(&body, "Arn"));
        assert_eq!(text(&identity, "UserId"), text(&body, "AssumedRoleId"));

        let (_, own) = call(
            &emulator,
            AKID,
            "Action=GetCallerIdentity&Version=2011-06-15",
        );
        assert_eq!(text(&own, "Account"), "123456789012");
        assert_eq!(text(&own, "Arn"), "arn:aws:iam::123456789012:user/emulator");

        let calls = serde_json::to_value(emulator.lock().calls.report()).unwrap();
        assert_eq!(calls["AssumeRole"], 1);
        assert_eq!(calls["GetCallerIdentity"], 2);
        assert_eq!(calls["ByAccount"]["210987654321"]["GetCallerIdentity"], 1);
        assert_eq!(calls["ByAccount"]["123456789012"]["AssumeRole"], 1);
    }

    #[test]
    fn errors_have_the_sts_shape() {
        let emulator = Emulator::new(&EmulatorConfig::default());
        emulator.lock().iam.set_rule(
            RoleArn::parse("arn:aws:iam::210987654321:role/Reader").unwrap(),
            crate::iam::RoleRule {
                deny: true,
                ..Default::default()
            },
        );
        let (status, body) = call(&emulator, AKID, ASSUME);
        assert_eq!(status, StatusCode::FORBIDDEN);
        let request_id = text(&body, "RequestId").to_owned();
        assert_eq!(
            body,
            format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
                 <Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/emulator is not authorized \
                 to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role/Reader</Message></Error>\
                 <RequestId>{request_id}</RequestId></ErrorResponse>"
            )
        );

        let (status, body) = call(&emulator, AKID, "Action=AssumeRoles&Version=2011-06-15");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(text(&body, "Code"), "InvalidAction");
        let (_, body) = call(&emulator, AKID, "Action=AssumeRole");
        assert_eq!(
            text(&body, "Message"),
            "Could not find operation AssumeRole for version NO_VERSION_SPECIFIED"
        );
        let (_, body) = call(&emulator, AKID, "Version=2011-06-15");
        assert_eq!(text(&body, "Code"), "MissingAction");

        let unsigned = send_headers(&emulator, &form_headers(), ASSUME);
        assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
        let healthlake_scope = send(&emulator, Service::HealthLake, AKID, ASSUME);
        assert_eq!(healthlake_scope.status(), StatusCode::FORBIDDEN);
        let calls = serde_json::to_value(emulator.lock().calls.report()).unwrap();
        assert_eq!(calls["AssumeRole"], 3, "unknown actions are not counted");
    }

    #[test]
    fn authentication_failures_have_stss_codes() {
        let emulator = Emulator::new(&EmulatorConfig::default());
        let identity = "Action=GetCallerIdentity&Version=2011-06-15";
        let (status, body) = call(&emulator, ("AKIDUNKNOWN", "SECRET", None), identity);
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(text(&body, "Code"), "InvalidClientTokenId");
        assert_eq!(
            text(&body, "Message"),
            "The security token included in the request is invalid."
        );
        let (status, body) = call(&emulator, ("AKID", "WRONG", None), identity);
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(text(&body, "Code"), "SignatureDoesNotMatch");

        let (_, assumed) = call(&emulator, AKID, ASSUME);
        let key = (
            text(&assumed, "AccessKeyId"),
            text(&assumed, "SecretAccessKey"),
            Some(text(&assumed, "SessionToken")),
        );
        assert_eq!(call(&emulator, key, identity).0, StatusCode::OK);
        emulator
            .lock()
            .iam
            .expire(&crate::iam::Issued::Key(key.0.to_owned()), Utc::now());
        let (status, body) = call(&emulator, key, identity);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(text(&body, "Code"), "ExpiredToken");
        assert_eq!(
            text(&body, "Message"),
            "The security token included in the request is expired"
        );
    }

    #[test]
    fn parameters_are_validated_as_sts_does() {
        let ok = assume_role_request(&params(
            "RoleArn=arn:aws-cn:iam::210987654321:role/Reader&RoleSessionName=a.b@c\
             &ExternalId=tenant:42/x&DurationSeconds=900",
        ))
        .unwrap();
        assert_eq!(ok.role.as_str(), "arn:aws-cn:iam::210987654321:role/Reader");
        assert_eq!(ok.external_id.as_deref(), Some("tenant:42/x"));
        assert_eq!(ok.duration_seconds, 900);
        let default = assume_role_request(&params(
            "RoleArn=arn:aws:iam::210987654321:role/Reader&RoleSessionName=ab",
        ))
        .unwrap();
        assert_eq!(default.duration_seconds, 3600);
        assert_eq!(default.external_id, None);

        let message = |body: &str| {
            let err = assume_role_request(&params(body)).unwrap_err();
            assert_eq!(err.code(), StsCode::ValidationError, "{body}");
            err.message().to_owned()
        };
        assert_eq!(
            message(""),
            "2 validation errors detected: Value null at 'roleArn' failed to satisfy constraint: \
             Member must not be null; Value null at 'roleSessionName' failed to satisfy constraint: \
             Member must not be null"
        );
        let arn = "RoleArn=arn:aws:iam::210987654321:role/Reader";
        for (body, expected) in [
            (
                format!("{arn}&RoleSessionName=a"),
                "greater than or equal to 2",
            ),
            (
                format!("{arn}&RoleSessionName={}", "a".repeat(65)),
                "less than or equal to 64",
            ),
            (format!("{arn}&RoleSessionName=a%20b"), "regular expression"),
            (
                format!("{arn}&RoleSessionName=ab&ExternalId=x"),
                "'externalId'",
            ),
            (
                format!("{arn}&RoleSessionName=ab&ExternalId={}", "x".repeat(1225)),
                "less than or equal to 1224",
            ),
            (
                format!("{arn}&RoleSessionName=ab&DurationSeconds=899"),
                "greater than or equal to 900",
            ),
            (
                format!("{arn}&RoleSessionName=ab&DurationSeconds=43201"),
                "less than or equal to 43200",
            ),
            (
                format!("{arn}&RoleSessionName=ab&DurationSeconds=-5"),
                "greater than or equal to 900",
            ),
            (
                format!("{arn}&RoleSessionName=ab&DurationSeconds=1h"),
                "be an integer",
            ),
            (
                "RoleArn=arn:aws&RoleSessionName=ab".to_owned(),
                "length greater than or equal to 20",
            ),
        ] {
            let found = message(&body);
            assert!(
                found.starts_with("1 validation error detected: "),
                "{found}"
            );
            assert!(found.contains(expected), "{body}: {found}");
        }
        assert_eq!(
            message("RoleArn=arn:aws:iam::210987654321:user/Reader&RoleSessionName=ab"),
            "Request ARN is invalid"
        );
        assert_eq!(
            assume_role_request(&params(
                "RoleArn=arn:aws:iam::210987654321:role/Reader&RoleSessionName=ab&DurationSeconds=43200"
            ))
            .unwrap()
            .duration_seconds,
            43_200
        );
    }

    #[test]
    fn text_is_escaped_in_xml() {
        assert_eq!(
            element("Message", r#"a<b>&"c'"#),
            "<Message>a&lt;b&gt;&amp;&quot;c&apos;</Message>"
        );
    }

    #[test]
    fn only_form_bodies_without_a_target_are_sts() {
        let mut headers = form_headers();
        assert!(is_query(&headers));
        headers.insert(
            "x-amz-target",
            HeaderValue::from_static("HealthLake.ListFHIRDatastores"),
        );
        assert!(!is_query(&headers));
        let mut json = HeaderMap::new();
        json.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        assert!(!is_query(&json));
        assert!(!is_query(&HeaderMap::new()));
    }
}
