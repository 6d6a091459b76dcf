use super::*;

use std::collections::BTreeSet;
use std::path::PathBuf;

/// The botocore model the Rust SDK is generated from, in the project's
/// Python environment.
const MODEL: &str = ".tools/venv/lib/python3.11/site-packages/botocore/data/healthlake/2017-07-01/service-2.json.gz";

fn model() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(MODEL);
    assert!(
        path.exists(),
        "the HealthLake service model is not at {}: the validation table is compared with it. \
         Create the Python environment with botocore (.tools/env.sh) to run this test.",
        path.display()
    );
    let output = std::process::Command::new("gzip")
        .arg("-dc")
        .arg(&path)
        .output()
        .unwrap_or_else(|err| panic!("cannot run gzip to read {}: {err}", path.display()));
    assert!(
        output.status.success(),
        "gzip cannot read {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the model is JSON")
}

fn bound(shape: &Value, key: &str) -> Option<u64> {
    shape.get(key).map(|v| v.as_u64().expect("a bound"))
}

/// The table's shape `name` as the model describes it.
fn from_model(model: &Value, name: &str) -> Shape {
    let shape = &model["shapes"][name];
    let leak = |text: &str| -> &'static str { Box::leak(text.to_owned().into_boxed_str()) };
    match shape["type"].as_str().expect("a type") {
        "structure" => {
            let required: Vec<&str> = shape["required"]
                .as_array()
                .map(|names| names.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let members: Vec<Member> = shape["members"]
                .as_object()
                .expect("members")
                .iter()
                .map(|(member, target)| Member {
                    name: leak(member),
                    shape: leak(target["shape"].as_str().expect("a member shape")),
                    required: required.contains(&member.as_str()),
                })
                .collect();
            Shape::Structure(Box::leak(members.into_boxed_slice()))
        }
        "list" => Shape::List {
            member: leak(shape["member"]["shape"].as_str().expect("a list member")),
            min: bound(shape, "min"),
            max: bound(shape, "max"),
        },
        "string" if shape.get("enum").is_some() => {
            let values: Vec<&'static str> = shape["enum"]
                .as_array()
                .expect("enum values")
                .iter()
                .map(|v| leak(v.as_str().expect("an enum value")))
                .collect();
            Shape::Enum(Box::leak(values.into_boxed_slice()))
        }
        "string" => Shape::String {
            min: bound(shape, "min"),
            max: bound(shape, "max"),
            pattern: shape
                .get("pattern")
                .map(|p| leak(p.as_str().expect("a pattern"))),
        },
        "integer" => Shape::Integer {
            min: shape.get("min").and_then(Value::as_i64),
            max: shape.get("max").and_then(Value::as_i64),
        },
        "boolean" => Shape::Boolean,
        other => panic!("shape {name} has type {other}, which the table cannot express"),
    }
}

fn reachable(model: &Value, name: &str, seen: &mut BTreeSet<String>) {
    if !seen.insert(name.to_owned()) {
        return;
    }
    match from_model(model, name) {
        Shape::Structure(members) => {
            for member in members {
                reachable(model, member.shape, seen);
            }
        }
        Shape::List { member, .. } => reachable(model, member, seen),
        _ => {}
    }
}

#[test]
fn the_table_is_the_service_model() {
    let model = model();
    let mut seen = BTreeSet::new();
    for (operation, input) in OPERATIONS {
        let modelled = model["operations"][operation.name()]["input"]["shape"].as_str();
        assert_eq!(modelled, Some(input), "input of {}", operation.name());
        reachable(&model, input, &mut seen);
    }
    let table: BTreeSet<String> = SHAPES.iter().map(|(name, _)| (*name).to_owned()).collect();
    assert_eq!(
        table, seen,
        "the table must hold exactly the shapes the validated operations reach"
    );
    for (name, shape) in SHAPES {
        let modelled = from_model(&model, name);
        match (shape, &modelled) {
            (Shape::Structure(ours), Shape::Structure(theirs)) => {
                let ours: BTreeSet<_> = ours.iter().collect();
                let theirs: BTreeSet<_> = theirs.iter().collect();
                assert_eq!(ours, theirs, "members of {name}");
            }
            _ => assert_eq!(shape, &modelled, "shape {name}"),
        }
    }
    // Every operation the emulator serves is validated, but the listing.
    for operation in Operation::ALL {
        let validated = OPERATIONS.iter().any(|(op, _)| *op == operation);
        assert_eq!(
            validated,
            operation != Operation::ListFhirDatastores,
            "{}",
            operation.name()
        );
    }
}

impl PartialOrd for Member {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Member {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.name, self.shape, self.required).cmp(&(other.name, other.shape, other.required))
    }
}

#[test]
fn every_pattern_compiles_and_matches_whole_values() {
    assert_eq!(PATTERNS.len(), 7, "seven distinct patterns");
    let id = &PATTERNS[NAME_PATTERN];
    assert!(id.is_match("é:ü/2=+%@ store"));
    assert!(!id.is_match("a#b"));
    let key = &PATTERNS[SHAPES
        .iter()
        .find_map(|(name, shape)| match (name, shape) {
            (&"EncryptionKeyID", Shape::String { pattern, .. }) => *pattern,
            _ => None,
        })
        .unwrap()];
    assert!(
        key.is_match("arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    );
    assert!(key.is_match("alias/healthlake"));
    assert!(key.is_match("key_with-dash"));
    assert!(!key.is_match("arn:aws:kms:us-east-1:123456789012:key/has space"));
    assert!(!key.is_match("١٢٣"), "\\d is ASCII digits only");
}

fn errors(operation: Operation, body: Value) -> Option<String> {
    check(operation, body.to_string().as_bytes())
        .err()
        .map(|err| err.message().to_owned())
}

#[test]
fn each_violation_names_the_member_and_the_constraint() {
    assert_eq!(
        errors(
            Operation::CreateFhirDatastore,
            serde_json::json!({"DatastoreTypeVersion": "R4", "DatastoreName": "a#b"})
        )
        .as_deref(),
        Some(
            r"1 validation error detected: Value 'a#b' at 'datastoreName' failed to satisfy constraint: Member must satisfy regular expression pattern: ([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)"
        )
    );
    let many = errors(
        Operation::CreateFhirDatastore,
        serde_json::json!({
            "DatastoreTypeVersion": "R5",
            "SseConfiguration": {"KmsEncryptionConfig": {"CmkType": "MINE"}},
            "Tags": [{"Key": "aws:team", "Value": "x"}],
            "BackupConfiguration": {"RetentionPeriodInDays": 31},
        }),
    )
    .unwrap();
    assert!(many.starts_with("4 validation errors detected: "), "{many}");
    for needle in [
        "Value 'R5' at 'datastoreTypeVersion' failed to satisfy constraint: Member must satisfy enum value set: [R4]",
        "at 'sseConfiguration.kmsEncryptionConfig.cmkType'",
        "Value 'aws:team' at 'tags.1.member.key'",
        "Value '31' at 'backupConfiguration.retentionPeriodInDays' failed to satisfy constraint: Member must have value less than or equal to 30",
    ] {
        assert!(many.contains(needle), "{needle:?} not in {many}");
    }
}

#[test]
fn wrong_types_and_bad_json_are_left_to_the_parser() {
    for body in [
        &b"{not json"[..],
        br#"{"DatastoreId": 7}"#,
        br#"{"DatastoreId": "a#b", "DatastoreName": 7}"#,
        b"[]",
    ] {
        assert_eq!(
            check(Operation::UpdateFhirDatastore, body),
            Ok(()),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    assert!(check(Operation::ListFhirDatastores, br#"{"MaxResults": 0}"#).is_ok());
}

#[test]
fn the_outcome_tag_value_may_hold_any_character_within_its_length() {
    let tag = |value: String| {
        errors(
            Operation::TagResource,
            serde_json::json!({
                "ResourceARN": format!("arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/{}", "0".repeat(32)),
                "Tags": [{"Key": OUTCOME_TAG, "Value": value}],
            }),
        )
    };
    assert_eq!(
        tag("UPDATE_FAILED:RETRYABLE_ERROR:Try again (later), please!".into()),
        None
    );
    let long = tag(format!("UPDATE_FAILED:RETRYABLE_ERROR:{}", "x".repeat(256)));
    assert!(long.unwrap().contains("less than or equal to 256"));
    let other = errors(
        Operation::TagResource,
        serde_json::json!({
            "ResourceARN": format!("arn:aws:healthlake:us-east-1:123456789012:datastore/fhir/{}", "0".repeat(32)),
            "Tags": [{"Key": "team", "Value": "a,b"}],
        }),
    );
    assert!(other.unwrap().contains("'tags.1.member.value'"));
}
