//! Request validation as the HealthLake service model describes it.
//!
//! [`SHAPES`] is the model's input shapes of the operations validated here
//! (every one the emulator serves but ListFHIRDatastores, whose filter and
//! page tokens `listing` checks), written down member by member: which
//! members are required, string lengths and patterns, enums, integer ranges
//! and list lengths. A unit test compares it with the botocore model the Rust
//! SDK is generated from, so the two cannot drift apart.
//!
//! A request is checked before it is parsed into its typed shape, and every
//! violation is reported at once, as AWS does: `2 validation errors detected:
//! Value 'x' at 'datastoreName' failed to satisfy constraint: ...; ...`. A
//! member whose JSON type is wrong is left to the parser, which refuses it
//! with its own error. Patterns match the whole value, as the service's
//! validation does (`DatastoreId` `[\p{L}...]*` refuses `a#b`).
//!
//! Beyond the model (the rules of AWS tagging, which the model does not
//! express): a tag key that starts with `aws:` (in any case) is refused in
//! Tags and TagKeys. The emulator's own `emulator:outcome` tag may hold any
//! character in its value (its message is an ErrorCause, which the model does
//! not restrict to the TagValue pattern); its length is still checked.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value;

use crate::outcome::OUTCOME_TAG;
use crate::protocol::{ApiError, Operation};

/// One shape of the model, as far as validation is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Structure(&'static [Member]),
    List {
        member: &'static str,
        min: Option<u64>,
        max: Option<u64>,
    },
    String {
        min: Option<u64>,
        max: Option<u64>,
        pattern: Option<&'static str>,
    },
    Enum(&'static [&'static str]),
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Boolean,
}

/// A member of a structure: its name on the wire, its shape, and whether the
/// model marks it required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub name: &'static str,
    pub shape: &'static str,
    pub required: bool,
}

const fn member(name: &'static str, shape: &'static str) -> Member {
    Member {
        name,
        shape,
        required: false,
    }
}

const fn required(name: &'static str, shape: &'static str) -> Member {
    Member {
        name,
        shape,
        required: true,
    }
}

const NAME_PATTERN: &str = r"([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)";
const TAG_PATTERN: &str = r"([\p{L}\p{Z}\p{N}_.:/=+\-@]*)";

/// The input shape of each operation validated here.
pub const OPERATIONS: [(Operation, &str); 7] = [
    (Operation::CreateFhirDatastore, "CreateFHIRDatastoreRequest"),
    (
        Operation::DescribeFhirDatastore,
        "DescribeFHIRDatastoreRequest",
    ),
    (Operation::DeleteFhirDatastore, "DeleteFHIRDatastoreRequest"),
    (Operation::UpdateFhirDatastore, "UpdateFHIRDatastoreRequest"),
    (Operation::TagResource, "TagResourceRequest"),
    (Operation::UntagResource, "UntagResourceRequest"),
    (Operation::ListTagsForResource, "ListTagsForResourceRequest"),
];

/// Every shape reachable from the inputs in [`OPERATIONS`], by model name
/// (botocore `healthlake/2017-07-01/service-2.json`, aws-sdk-healthlake 1.127).
pub const SHAPES: &[(&str, Shape)] = &[
    (
        "CreateFHIRDatastoreRequest",
        Shape::Structure(&[
            member("DatastoreName", "DatastoreName"),
            required("DatastoreTypeVersion", "FHIRVersion"),
            member("SseConfiguration", "SseConfiguration"),
            member("PreloadDataConfig", "PreloadDataConfig"),
            member("ClientToken", "ClientTokenString"),
            member("Tags", "TagList"),
            member(
                "IdentityProviderConfiguration",
                "IdentityProviderConfiguration",
            ),
            member("AnalyticsConfiguration", "AnalyticsConfiguration"),
            member("NlpConfiguration", "NlpConfiguration"),
            member("ProfileConfiguration", "ProfileConfiguration"),
            member("BackupConfiguration", "BackupConfiguration"),
        ]),
    ),
    (
        "DescribeFHIRDatastoreRequest",
        Shape::Structure(&[required("DatastoreId", "DatastoreId")]),
    ),
    (
        "DeleteFHIRDatastoreRequest",
        Shape::Structure(&[required("DatastoreId", "DatastoreId")]),
    ),
    (
        "UpdateFHIRDatastoreRequest",
        Shape::Structure(&[
            required("DatastoreId", "DatastoreId"),
            member("DatastoreName", "DatastoreName"),
            member("AnalyticsConfiguration", "AnalyticsConfiguration"),
            member("NlpConfiguration", "NlpConfiguration"),
            member("ProfileConfiguration", "ProfileConfiguration"),
            member(
                "IdentityProviderConfiguration",
                "IdentityProviderConfiguration",
            ),
            member("BackupConfiguration", "BackupConfiguration"),
        ]),
    ),
    (
        "TagResourceRequest",
        Shape::Structure(&[
            required("ResourceARN", "AmazonResourceName"),
            required("Tags", "TagList"),
        ]),
    ),
    (
        "UntagResourceRequest",
        Shape::Structure(&[
            required("ResourceARN", "AmazonResourceName"),
            required("TagKeys", "TagKeyList"),
        ]),
    ),
    (
        "ListTagsForResourceRequest",
        Shape::Structure(&[required("ResourceARN", "AmazonResourceName")]),
    ),
    (
        "DatastoreId",
        Shape::String {
            min: Some(1),
            max: Some(32),
            pattern: Some(NAME_PATTERN),
        },
    ),
    (
        "DatastoreName",
        Shape::String {
            min: Some(1),
            max: Some(256),
            pattern: Some(NAME_PATTERN),
        },
    ),
    ("FHIRVersion", Shape::Enum(&["R4"])),
    (
        "SseConfiguration",
        Shape::Structure(&[required("KmsEncryptionConfig", "KmsEncryptionConfig")]),
    ),
    (
        "KmsEncryptionConfig",
        Shape::Structure(&[
            required("CmkType", "CmkType"),
            member("KmsKeyId", "EncryptionKeyID"),
        ]),
    ),
    (
        "CmkType",
        Shape::Enum(&["CUSTOMER_MANAGED_KMS_KEY", "AWS_OWNED_KMS_KEY"]),
    ),
    (
        "EncryptionKeyID",
        Shape::String {
            min: Some(1),
            max: Some(400),
            pattern: Some(
                r"(arn:aws((-us-gov)|(-iso)|(-iso-b)|(-cn))?:kms:)?([a-z]{2}-[a-z]+(-[a-z]+)?-\d:)?(\d{12}:)?(((key/)?[a-zA-Z0-9-_]+)|(alias/[a-zA-Z0-9:/_-]+))",
            ),
        },
    ),
    (
        "PreloadDataConfig",
        Shape::Structure(&[required("PreloadDataType", "PreloadDataType")]),
    ),
    ("PreloadDataType", Shape::Enum(&["SYNTHEA"])),
    (
        "ClientTokenString",
        Shape::String {
            min: Some(1),
            max: Some(64),
            pattern: Some("[a-zA-Z0-9-]+"),
        },
    ),
    (
        "TagList",
        Shape::List {
            member: "Tag",
            min: Some(0),
            max: Some(200),
        },
    ),
    (
        "Tag",
        Shape::Structure(&[required("Key", "TagKey"), required("Value", "TagValue")]),
    ),
    (
        "TagKey",
        Shape::String {
            min: Some(1),
            max: Some(128),
            pattern: Some(TAG_PATTERN),
        },
    ),
    (
        "TagValue",
        Shape::String {
            min: Some(0),
            max: Some(256),
            pattern: Some(TAG_PATTERN),
        },
    ),
    (
        "TagKeyList",
        Shape::List {
            member: "TagKey",
            min: Some(0),
            max: Some(200),
        },
    ),
    (
        "IdentityProviderConfiguration",
        Shape::Structure(&[
            required("AuthorizationStrategy", "AuthorizationStrategy"),
            member("FineGrainedAuthorizationEnabled", "HealthLakeBoolean"),
            member("Metadata", "ConfigurationMetadata"),
            member("IdpLambdaArn", "LambdaArn"),
        ]),
    ),
    (
        "AuthorizationStrategy",
        Shape::Enum(&["SMART_ON_FHIR_V1", "SMART_ON_FHIR", "AWS_AUTH"]),
    ),
    ("HealthLakeBoolean", Shape::Boolean),
    (
        "ConfigurationMetadata",
        Shape::String {
            min: None,
            max: None,
            pattern: None,
        },
    ),
    (
        "LambdaArn",
        Shape::String {
            min: Some(49),
            max: Some(256),
            pattern: Some(
                r"arn:aws:lambda:[a-z]{2}-[a-z]+-\d{1}:\d{12}:function:[a-zA-Z0-9\-_\.]+(:(\$LATEST|[a-zA-Z0-9\-_]+))?",
            ),
        },
    ),
    (
        "AnalyticsConfiguration",
        Shape::Structure(&[member("Status", "AnalyticsStatus")]),
    ),
    (
        "AnalyticsStatus",
        Shape::Enum(&[
            "ENABLED",
            "ENABLING",
            "DISABLED",
            "DISABLING",
            "PAUSING",
            "PAUSED",
        ]),
    ),
    (
        "NlpConfiguration",
        Shape::Structure(&[member("Status", "NlpStatus")]),
    ),
    (
        "NlpStatus",
        Shape::Enum(&["ENABLED", "ENABLING", "DISABLED", "DISABLING"]),
    ),
    (
        "ProfileConfiguration",
        Shape::Structure(&[member("DefaultProfiles", "DefaultProfiles")]),
    ),
    (
        "DefaultProfiles",
        Shape::List {
            member: "HealthLakeString",
            min: None,
            max: None,
        },
    ),
    (
        "HealthLakeString",
        Shape::String {
            min: Some(0),
            max: Some(10000),
            pattern: Some(r"[\P{M}\p{M}]{0,10000}"),
        },
    ),
    (
        "BackupConfiguration",
        Shape::Structure(&[
            member("Status", "BackupStatus"),
            member("BackupType", "BackupType"),
            member("RetentionPeriodInDays", "BackupRetentionPeriodInDays"),
            member("BackupTagsEnabled", "HealthLakeBoolean"),
        ]),
    ),
    ("BackupStatus", Shape::Enum(&["ENABLED", "DISABLED"])),
    ("BackupType", Shape::Enum(&["CONTINUOUS"])),
    (
        "BackupRetentionPeriodInDays",
        Shape::Integer {
            min: Some(1),
            max: Some(30),
        },
    ),
    (
        "AmazonResourceName",
        Shape::String {
            min: Some(1),
            max: Some(1011),
            pattern: Some(
                r"arn:aws((-us-gov)|(-iso)|(-iso-b)|(-cn))?:healthlake:[a-z0-9-]+:\d{12}:(datastore\/fhir\/.{32}|dataTransformationProfile\/[a-f0-9]{32})",
            ),
        },
    ),
];

/// The tag-key prefix AWS reserves for its own tags.
const RESERVED_PREFIX: &str = "aws:";

fn shape(name: &str) -> Shape {
    SHAPES
        .iter()
        .find(|(shape_name, _)| *shape_name == name)
        .map(|(_, shape)| *shape)
        .unwrap_or_else(|| panic!("shape {name} is missing from the validation table"))
}

/// A model pattern as a Rust regex matching whole values. Java's `\d` is
/// ASCII only; a pattern that allows every character up to a length the
/// member's length limit already checks is any text.
fn compile(pattern: &str) -> regex::Regex {
    let translated = pattern
        .replace(r"[\P{M}\p{M}]{0,10000}", r"(?s:.)*")
        .replace(r"\d", "[0-9]")
        .replace("0-9-_", r"0-9\-_");
    regex::Regex::new(&format!(r"\A(?:{translated})\z"))
        .unwrap_or_else(|err| panic!("model pattern {pattern} does not compile: {err}"))
}

static PATTERNS: LazyLock<HashMap<&'static str, regex::Regex>> = LazyLock::new(|| {
    SHAPES
        .iter()
        .filter_map(|(_, shape)| match shape {
            Shape::String {
                pattern: Some(pattern),
                ..
            } => Some((*pattern, compile(pattern))),
            _ => None,
        })
        .collect()
});

/// Checks the body of a request to `operation` against the model. A body
/// that is not a JSON object, or a member of the wrong JSON type, passes: the
/// typed parse refuses it with its own error.
pub fn check(operation: Operation, body: &[u8]) -> Result<(), ApiError> {
    let Some((_, input)) = OPERATIONS.iter().find(|(op, _)| *op == operation) else {
        return Ok(());
    };
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(_) => return Ok(()),
        }
    };
    let mut errors = Errors::default();
    visit(input, &value, "", &mut errors);
    if errors.wrong_type {
        return Ok(());
    }
    match errors.found.len() {
        0 => Ok(()),
        1 => Err(ApiError::validation(format!(
            "1 validation error detected: {}",
            errors.found[0]
        ))),
        n => Err(ApiError::validation(format!(
            "{n} validation errors detected: {}",
            errors.found.join("; ")
        ))),
    }
}

#[derive(Default)]
struct Errors {
    found: Vec<String>,
    wrong_type: bool,
}

impl Errors {
    fn add(&mut self, value: &str, path: &str, constraint: impl std::fmt::Display) {
        self.found.push(format!(
            "Value {value} at '{path}' failed to satisfy constraint: {constraint}"
        ));
    }
}

/// The path of a member as AWS names it: `sseConfiguration.kmsEncryptionConfig`.
fn member_path(parent: &str, name: &str) -> String {
    let mut chars = name.chars();
    let camel: String = chars
        .next()
        .map(|first| first.to_ascii_lowercase())
        .into_iter()
        .chain(chars)
        .collect();
    if parent.is_empty() {
        camel
    } else {
        format!("{parent}.{camel}")
    }
}

fn quoted(text: &str) -> String {
    format!("'{text}'")
}

fn visit(shape_name: &str, value: &Value, path: &str, errors: &mut Errors) {
    match (shape(shape_name), value) {
        (_, Value::Null) => {}
        (Shape::Structure(members), Value::Object(object)) => {
            for member in members {
                let member_path = member_path(path, member.name);
                match object.get(member.name) {
                    None | Some(Value::Null) if member.required => {
                        errors.add("null", &member_path, "Member must not be null");
                    }
                    None => {}
                    Some(value) => visit(member.shape, value, &member_path, errors),
                }
            }
            if shape_name == "Tag" {
                check_tag(object, path, errors);
            }
        }
        (Shape::List { member, min, max }, Value::Array(items)) => {
            let len = items.len() as u64;
            let shown = format!("with {len} elements");
            if let Some(min) = min
                && len < min
            {
                errors.add(
                    &shown,
                    path,
                    format!("Member must have length greater than or equal to {min}"),
                );
            }
            if let Some(max) = max
                && len > max
            {
                errors.add(
                    &shown,
                    path,
                    format!("Member must have length less than or equal to {max}"),
                );
            }
            for (index, item) in items.iter().enumerate() {
                let item_path = format!("{path}.{}.member", index + 1);
                visit(member, item, &item_path, errors);
                if member == "TagKey"
                    && let Value::String(key) = item
                {
                    check_reserved(key, &item_path, errors);
                }
            }
        }
        (Shape::String { min, max, pattern }, Value::String(text)) => {
            check_string(text, path, (min, max), pattern, errors);
        }
        (Shape::Enum(values), Value::String(text)) => {
            if !values.contains(&text.as_str()) {
                errors.add(
                    &quoted(text),
                    path,
                    format!(
                        "Member must satisfy enum value set: [{}]",
                        values.join(", ")
                    ),
                );
            }
        }
        (Shape::Integer { min, max }, Value::Number(number)) => match number.as_i64() {
            Some(n) => {
                if let Some(min) = min
                    && n < min
                {
                    errors.add(
                        &quoted(&n.to_string()),
                        path,
                        format!("Member must have value greater than or equal to {min}"),
                    );
                }
                if let Some(max) = max
                    && n > max
                {
                    errors.add(
                        &quoted(&n.to_string()),
                        path,
                        format!("Member must have value less than or equal to {max}"),
                    );
                }
            }
            None => errors.wrong_type = true,
        },
        (Shape::Boolean, Value::Bool(_)) => {}
        _ => errors.wrong_type = true,
    }
}

fn check_string(
    text: &str,
    path: &str,
    (min, max): (Option<u64>, Option<u64>),
    pattern: Option<&str>,
    errors: &mut Errors,
) {
    // Smithy counts a string's length in Unicode scalar values.
    let len = text.chars().count() as u64;
    if let Some(min) = min
        && len < min
    {
        errors.add(
            &quoted(text),
            path,
            format!("Member must have length greater than or equal to {min}"),
        );
    }
    if let Some(max) = max
        && len > max
    {
        errors.add(
            &quoted(text),
            path,
            format!("Member must have length less than or equal to {max}"),
        );
    }
    if let Some(pattern) = pattern
        && !PATTERNS[pattern].is_match(text)
    {
        errors.add(
            &quoted(text),
            path,
            format!("Member must satisfy regular expression pattern: {pattern}"),
        );
    }
}

/// What the model does not say of a tag: the reserved prefix, and the
/// emulator's outcome tag, whose value is an error message.
fn check_tag(object: &serde_json::Map<String, Value>, path: &str, errors: &mut Errors) {
    let Some(Value::String(key)) = object.get("Key") else {
        return;
    };
    check_reserved(key, &member_path(path, "Key"), errors);
    if key == OUTCOME_TAG
        && let Some(Value::String(value)) = object.get("Value")
    {
        // The pattern error on the value, if any, is not one: drop it.
        let value_path = member_path(path, "Value");
        let pattern_error = format!(
            "Value {} at '{value_path}' failed to satisfy constraint: Member must satisfy regular expression pattern: {TAG_PATTERN}",
            quoted(value)
        );
        errors.found.retain(|found| *found != pattern_error);
    }
}

fn check_reserved(key: &str, path: &str, errors: &mut Errors) {
    let reserved = key
        .get(..RESERVED_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(RESERVED_PREFIX));
    if reserved {
        errors.add(
            &quoted(key),
            path,
            format!("Member must not begin with the prefix {RESERVED_PREFIX}, which AWS reserves"),
        );
    }
}

#[cfg(test)]
mod tests;
